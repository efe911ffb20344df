// quant-reference.mjs runs the quantized random test models (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
// and a Q4_K_M mix) through llama.cpp, the prebuilt CPU build that node-llama-cpp ships on npm, and
// records what the Go engine must reproduce: tokenizations, greedy continuations and the logits of the
// first generated positions (models/testdata/llamacpp-quant-reference.json, checked by
// TestLlamaCppQuant in inference/llama/llamacpp_quant_test.go). Same approach as reference.mjs; one
// run, set up as the Go engine computes (float32 K/V cache, no flash attention, one thread).
//
//   go test ./inference/llama -count=1 -run '^TestWriteLlamaCppQuantModels$' -llamacpp.quantwrite=/tmp/qmodels
//   node quant-reference.mjs --out ../../models/testdata/llamacpp-quant-reference.json \
//       --reference ../../models/testdata/reference.json --model NAME=PATH [--model NAME=PATH ...]
//
// with the models in llamacppQuantSpecs order (the fixture's order); quant-regen.sh does all of it.
//
// It never builds or downloads llama.cpp (lib/llama.mjs uses the prebuilt binary or fails).
import { cli, greedyCases, MATCHED_CONTEXT, namedPaths, referenceTexts, writeReference } from "./lib/llama.mjs";

const N_GENERATE = 32;
const N_LOGIT_STEPS = 8;
const TOP_K = 5;
const CONTEXT = MATCHED_CONTEXT;

// Prompts beyond reference.json's greedy prompts: chat form and edge cases.
const chat = (msgs) => msgs.map(([role, content]) => `${role}: ${content}\n`).join("") + "Assistant:";
const EXTRA = [
    chat([["User", "Hello"]]),
    "a",
    "\n\nAnd",
    " And God said",
    "naïve café über straße Ελληνικά русский",
    "the the the the the the the the the the the the the the the the",
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
        "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters.",
];

const { args, usage } = cli("quant-reference.mjs", "--out FILE [--reference reference.json] --model NAME=PATH ...", { reference: { type: "string" } });
const models = namedPaths(args.model, "model", usage);

const cases = referenceTexts(args.reference, EXTRA, false); // reference.json's greedy prompts, then EXTRA

// record is one model's entry in the fixture.
async function record(model, name, facts) {
    const m = {
        name,
        ...facts,
        n_ctx: model.trainContextSize,
        tokenizer: cases.map((text) => ({ text, ids: model.tokenize(text, false) })),
        greedy: await greedyCases(model, name, cases, CONTEXT, { nGenerate: N_GENERATE, nLogitSteps: N_LOGIT_STEPS, topK: TOP_K }),
    };
    console.error(`${name}: ${m.tokenizer.length} tokenizations, ${m.greedy.length} greedy runs`);
    return m;
}

const fields = { n_generate: N_GENERATE, n_logit_steps: N_LOGIT_STEPS, top_k: TOP_K, context: CONTEXT };
await writeReference({ args, script: "quant-reference.mjs", fields, models, record });
