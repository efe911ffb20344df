// reference.mjs runs GGUF models through llama.cpp (the prebuilt CPU build that node-llama-cpp ships on
// npm) and records what the Go engine must reproduce: tokenizations, greedy continuations and the
// logits of the first generated positions. See README.md for how to run it and what is compared.
//
//   node reference.mjs --out FILE --reference ../../models/testdata/reference.json \
//       --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp: getLlama is told to use the prebuilt binary or fail.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

// Generated tokens per prompt, positions whose top logits are recorded, and how many logits each.
const N_GENERATE = 32;
const N_LOGIT_STEPS = 8;
const TOP_K = 5;

// Runs of llama.cpp. "matched" is llama.cpp set up the way the Go engine computes (float32 K/V cache,
// the plain attention path); the engine must match it exactly. "defaults" is llama.cpp as its own tools
// run by default (F16 K/V cache, flash attention "auto", which llama.cpp enables on the CPU), what an
// outside reviewer is likely to run.
// One thread: ggml's thread pool spin-waits, which on a small shared machine costs ~0.5 s a token
// (1 ms with one thread); a dot product is summed by one thread either way, so results are the same.
const RUNS = [
    { name: "matched", context: { threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" } },
    { name: "defaults", context: { threads: 1, flashAttention: "auto", experimentalKvCacheKeyType: "F16", experimentalKvCacheValueType: "F16" } },
];

// Prompts beyond models/testdata/reference.json: the embedded backend's chat template, and edge cases.
const chat = (msgs) => msgs.map(([role, content]) => `${role}: ${content}\n`).join("") + "Assistant:"; // provider/backend/embedded RenderChat
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

function usage(msg) {
    console.error(`reference.mjs: ${msg}\nusage: node reference.mjs --out FILE [--reference reference.json] --model NAME=PATH ...`);
    process.exit(2);
}

const { values: args } = parseArgs({
    options: {
        out: { type: "string" },
        reference: { type: "string" },
        model: { type: "string", multiple: true },
    },
});
if (!args.out) usage("--out is required");
if (!args.model?.length) usage("at least one --model NAME=PATH is required");

// The prompt list: reference.json's tokenizer texts and greedy prompts first, then EXTRA, deduplicated.
const texts = [];
if (args.reference) {
    const ref = JSON.parse(readFileSync(args.reference, "utf8"));
    for (const c of ref.tokenizer ?? []) texts.push(c.text);
    for (const g of ref.greedy ?? []) texts.push(g.prompt);
}
texts.push(...EXTRA);
const cases = [...new Set(texts)];

const started = process.hrtime.bigint();
const llama = await getLlama({
    gpu: false,
    build: "never",
    usePrebuiltBinaries: true,
    skipDownload: true,
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
});
if (llama.buildType !== "prebuilt") {
    throw new Error(`llama.cpp build is ${llama.buildType}, want the prebuilt binary`);
}
const pkgVersion = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;

const sig = (v, digits) => Number(v.toPrecision(digits));

// topOf returns the k largest logits as [id, logit] (ties: lower id first), the log-sum-exp of all
// logits and the argmax, computing in float64 over llama.cpp's float32 values.
function topOf(logits, k) {
    const entries = [...logits.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const max = entries[0][1];
    let sum = 0;
    for (const [, v] of entries) sum += Math.exp(v - max);
    return {
        // 9 significant digits print a float32 exactly (a logit is one); the rest is float64 arithmetic.
        top: entries.slice(0, k).map(([id, v]) => [id, sig(v, 9)]),
        logsumexp: sig(max + Math.log(sum), 9),
        margin: sig(entries[0][1] - entries[1][1], 4),
        argmax: entries[0][0],
    };
}

// greedy evaluates prompt and continues it greedily, checking llama.cpp's greedy sampler against the
// argmax of the full logits at every step.
async function greedy(sequence, prompt, eos, nCtx) {
    await sequence.clearHistory();
    const completion = [];
    const steps = [];
    const margins = [];
    let stop = "length";
    let input = prompt.map((id, i) => (i === prompt.length - 1 ? [id, { generateNext: { token: true, logits: true, options: { temperature: 0 } } }] : id));
    while (completion.length < N_GENERATE && prompt.length + completion.length < nCtx) {
        const res = await sequence.controlledEvaluate(input);
        const next = res[input.length - 1]?.next;
        if (next?.token == null || next.logits == null) throw new Error("llama.cpp returned no token");
        const t = topOf(next.logits, TOP_K);
        if (t.argmax !== next.token) {
            throw new Error(`greedy sampler chose ${next.token}, argmax is ${t.argmax} (margin ${t.margin})`);
        }
        if (steps.length < N_LOGIT_STEPS) steps.push({ top: t.top, logsumexp: t.logsumexp });
        margins.push(t.margin);
        if (next.token === eos) {
            stop = "eos";
            break;
        }
        completion.push(next.token);
        input = [[next.token, { generateNext: { token: true, logits: true, options: { temperature: 0 } } }]];
    }
    return { completion_ids: completion, finish: stop, top2_margins: margins, steps };
}

const out = {
    generator: "tools/llamacpp-ref/reference.mjs",
    node_llama_cpp: pkgVersion("node-llama-cpp"),
    node_llama_cpp_binary: `@node-llama-cpp/linux-x64@${pkgVersion("@node-llama-cpp/linux-x64")}`,
    llama_cpp: { ...llama.llamaCppRelease, build: llama.buildType },
    // The CPU variant ggml picked here (it can change the last bits of a float32 sum on another CPU).
    system_info: llama.systemInfo,
    n_generate: N_GENERATE,
    n_logit_steps: N_LOGIT_STEPS,
    top_k: TOP_K,
    runs: RUNS,
    models: [],
};

for (const spec of args.model) {
    const eq = spec.indexOf("=");
    if (eq <= 0) usage(`--model ${spec}: want NAME=PATH`);
    const name = spec.slice(0, eq);
    const path = spec.slice(eq + 1);
    const bytes = readFileSync(path);
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const nCtx = model.trainContextSize;
    const bos = model.tokens.bos;
    const eos = model.tokens.eos;
    const addBOS = model.tokens.shouldPrependBosToken;
    const m = {
        name,
        file: basename(path),
        sha256: createHash("sha256").update(bytes).digest("hex"),
        bytes: bytes.length,
        n_ctx: nCtx,
        bos_id: bos,
        eos_id: eos,
        add_bos: addBOS,
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
        const context = await model.createContext({ contextSize: nCtx, sequences: 1, ...run.context });
        const sequence = context.getSequence();
        const results = [];
        for (const text of cases) {
            const prompt = [...(addBOS && bos != null ? [bos] : []), ...model.tokenize(text, false)];
            if (prompt.length === 0) continue; // nothing to evaluate
            if (prompt.length + N_GENERATE > nCtx) throw new Error(`${name}: prompt ${JSON.stringify(text)} has ${prompt.length} tokens, too many for ${nCtx}`);
            results.push({ prompt: text, prompt_ids: prompt, ...(await greedy(sequence, prompt, eos, nCtx)) });
        }
        m.greedy[run.name] = results;
        await context.dispose();
    }
    await model.dispose();
    out.models.push(m);
    console.error(`${name}: ${m.tokenizer.length} tokenizations, ${RUNS.length}×${m.greedy[RUNS[0].name].length} greedy runs`);
}
await llama.dispose();
// One line per number array (and per list of [id, logit] pairs) keeps the fixture short and diffable.
const json = JSON.stringify(out, null, 1)
    .replace(/\[[-0-9.e+,\s]*\]/g, (a) => a.replace(/\s+/g, ""))
    .replace(/\[(\s*\[[-0-9.e+,]*\],?)+\s*\]/g, (a) => a.replace(/\s+/g, ""));
writeFileSync(args.out, json + "\n");
console.error(`wrote ${args.out} in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
