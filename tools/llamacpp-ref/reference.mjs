// reference.mjs runs GGUF models through llama.cpp (the prebuilt CPU build that node-llama-cpp ships on
// npm) and records what the Go engine must reproduce: tokenizations, greedy continuations and the
// logits of the first generated positions. See README.md for how to run it and what is compared.
//
//   node reference.mjs --out FILE --reference ../../models/testdata/reference.json \
//       --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp (lib/llama.mjs uses the prebuilt binary or fails).
import { cli, greedyCases, MATCHED_CONTEXT, namedPaths, referenceTexts, writeReference } from "./lib/llama.mjs";

// Generated tokens per prompt, positions whose top logits are recorded, and how many logits each.
const N_GENERATE = 32;
const N_LOGIT_STEPS = 8;
const TOP_K = 5;

// Runs of llama.cpp. "matched" is llama.cpp set up the way the Go engine computes (float32 K/V cache,
// the plain attention path); the engine must match it exactly. "defaults" is llama.cpp as its own tools
// run by default (F16 K/V cache, flash attention "auto", which llama.cpp enables on the CPU), what an
// outside reviewer is likely to run.
// One thread for both (see MATCHED_CONTEXT).
const RUNS = [
    { name: "matched", context: MATCHED_CONTEXT },
    { name: "defaults", context: { threads: 1, flashAttention: "auto", experimentalKvCacheKeyType: "F16", experimentalKvCacheValueType: "F16" } },
];

// Prompts beyond models/testdata/reference.json: the embedded backend's chat template, and edge cases.
const chat = (msgs) => msgs.map(([role, content]) => `${role}: ${content}\n`).join("") + "Assistant:"; // inference/backend/embedded RenderChat
const EXTRA = [
    chat([["User", "Hello"]]),
    chat([["System", "Be brief."], ["User", "Hi"], ["Assistant", "Hello."], ["User", "Bye"]]),
    chat([["User", "  spaced   out  "]]),
    "a",
    "\n",
    "\n\nAnd",
    " And God said",
    "  two leading spaces",
    "ends with a newline\n",
    "CRLF line\r\nnext\r\n",
    "Zyzzyva xylophone quizzaciously Kwyjibo qwfpgj",
    "naïve café über straße Ελληνικά русский עברית العربية हिन्दी",
    "emoji 👨‍👩‍👧 family, 🏳️‍🌈 flag, 🇺🇦 and 1️⃣",
    "control text <s> and </s> and <unk> in a prompt",
    "<0x41> looks like a byte token",
    "\u2581 already a marker \u2581\u2581x",
    "nul\u0000byte",
    "the the the the the the the the the the the the the the the the",
    // Long prompt (Genesis 1:1-5 and more); kept under 460 characters so that even a byte-fallback
    // vocabulary fits it plus the generated tokens in a 512-token context.
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
        "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. " +
        "And God said, Let there be light: and there was light. And God saw the light, that it was good: and " +
        "God divided the light from the darkness. And God called the light Day, and the darkness he called " +
        "Night. And the evening and the morning were the first day.",
];

const { args, usage } = cli("reference.mjs", "--out FILE [--reference reference.json] --model NAME=PATH ...", { reference: { type: "string" } });
const models = namedPaths(args.model, "model", usage);

// The prompt list: reference.json's tokenizer texts and greedy prompts first, then EXTRA, deduplicated.
const cases = referenceTexts(args.reference, EXTRA, true);

// record is one model's entry in the fixture.
async function record(model, name, facts) {
    const m = {
        name,
        ...facts,
        n_ctx: model.trainContextSize,
        bos_id: model.tokens.bos,
        eos_id: model.tokens.eos,
        add_bos: model.tokens.shouldPrependBosToken,
        tokenizer: [],
        greedy: {},
    };
    for (const text of cases) {
        const ids = model.tokenize(text, false);
        m.tokenizer.push({
            text,
            ids, // llama_tokenize(add_special=false, parse_special=false)
            ids_parse_special: model.tokenize(text, true), // parse_special=true: "<s>" in the text is BOS
            detokenized: model.detokenize(ids, false),
        });
    }
    for (const run of RUNS) {
        m.greedy[run.name] = await greedyCases(model, name, cases, run.context, { nGenerate: N_GENERATE, nLogitSteps: N_LOGIT_STEPS, topK: TOP_K });
    }
    console.error(`${name}: ${m.tokenizer.length} tokenizations, ${RUNS.length}×${m.greedy[RUNS[0].name].length} greedy runs`);
    return m;
}

const fields = { n_generate: N_GENERATE, n_logit_steps: N_LOGIT_STEPS, top_k: TOP_K, runs: RUNS };
await writeReference({ args, script: "reference.mjs", fields, models, record });
