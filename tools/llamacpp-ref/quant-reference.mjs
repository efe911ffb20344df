// quant-reference.mjs runs the quantized random test models (Q4_0, Q4_1, Q5_0, Q5_1, Q4_K, Q5_K, Q6_K
// and a Q4_K_M mix) through llama.cpp, the prebuilt CPU build that node-llama-cpp ships on npm, and
// records what the Go engine must reproduce: tokenizations, greedy continuations and the logits of the
// first generated positions (models/testdata/llamacpp-quant-reference.json, checked by
// TestLlamaCppQuant in provider/llm/llama/llamacpp_quant_test.go). Same approach as reference.mjs; one
// run, set up as the Go engine computes (float32 K/V cache, no flash attention, one thread).
//
//   go test ./provider/llm/llama -count=1 -run '^TestWriteLlamaCppQuantModels$' -llamacpp.quantwrite=/tmp/qmodels
//   node quant-reference.mjs --out ../../models/testdata/llamacpp-quant-reference.json \
//       --reference ../../models/testdata/reference.json --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp: getLlama is told to use the prebuilt binary or fail.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const N_GENERATE = 32;
const N_LOGIT_STEPS = 8;
const TOP_K = 5;
const CONTEXT = { threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" };

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

function usage(msg) {
    console.error(`quant-reference.mjs: ${msg}\nusage: node quant-reference.mjs --out FILE [--reference reference.json] --model NAME=PATH ...`);
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

const texts = [];
if (args.reference) {
    const ref = JSON.parse(readFileSync(args.reference, "utf8"));
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
// logits, the top-2 margin and the argmax, computing in float64 over llama.cpp's float32 values.
function topOf(logits, k) {
    const entries = [...logits.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const max = entries[0][1];
    let sum = 0;
    for (const [, v] of entries) sum += Math.exp(v - max);
    return {
        top: entries.slice(0, k).map(([id, v]) => [id, sig(v, 9)]), // 9 digits print a float32 exactly
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
    const next = (id) => [id, { generateNext: { token: true, logits: true, options: { temperature: 0 } } }];
    let input = prompt.map((id, i) => (i === prompt.length - 1 ? next(id) : id));
    while (completion.length < N_GENERATE && prompt.length + completion.length < nCtx) {
        const res = await sequence.controlledEvaluate(input);
        const out = res[input.length - 1]?.next;
        if (out?.token == null || out.logits == null) throw new Error("llama.cpp returned no token");
        const t = topOf(out.logits, TOP_K);
        if (t.argmax !== out.token) throw new Error(`greedy sampler chose ${out.token}, argmax is ${t.argmax} (margin ${t.margin})`);
        if (steps.length < N_LOGIT_STEPS) steps.push({ top: t.top, logsumexp: t.logsumexp });
        margins.push(t.margin);
        if (out.token === eos) {
            stop = "eos";
            break;
        }
        completion.push(out.token);
        input = [next(out.token)];
    }
    return { completion_ids: completion, finish: stop, top2_margins: margins, steps };
}

const out = {
    generator: "tools/llamacpp-ref/quant-reference.mjs",
    node_llama_cpp: pkgVersion("node-llama-cpp"),
    node_llama_cpp_binary: `@node-llama-cpp/linux-x64@${pkgVersion("@node-llama-cpp/linux-x64")}`,
    llama_cpp: { ...llama.llamaCppRelease, build: llama.buildType },
    system_info: llama.systemInfo,
    n_generate: N_GENERATE,
    n_logit_steps: N_LOGIT_STEPS,
    top_k: TOP_K,
    context: CONTEXT,
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
        tokenizer: cases.map((text) => ({ text, ids: model.tokenize(text, false) })),
        greedy: [],
    };
    const context = await model.createContext({ contextSize: nCtx, sequences: 1, ...CONTEXT });
    const sequence = context.getSequence();
    for (const text of cases) {
        const prompt = [...(addBOS && bos != null ? [bos] : []), ...model.tokenize(text, false)];
        if (prompt.length === 0) continue;
        if (prompt.length + N_GENERATE > nCtx) throw new Error(`${name}: prompt ${JSON.stringify(text)} has ${prompt.length} tokens, too many for ${nCtx}`);
        m.greedy.push({ prompt: text, prompt_ids: prompt, ...(await greedy(sequence, prompt, eos, nCtx)) });
    }
    await context.dispose();
    await model.dispose();
    out.models.push(m);
    console.error(`${name}: ${m.tokenizer.length} tokenizations, ${m.greedy.length} greedy runs`);
}
await llama.dispose();
const json = JSON.stringify(out, null, 1)
    .replace(/\[[-0-9.e+,\s]*\]/g, (a) => a.replace(/\s+/g, ""))
    .replace(/\[(\s*\[[-0-9.e+,]*\],?)+\s*\]/g, (a) => a.replace(/\s+/g, ""));
writeFileSync(args.out, json + "\n");
console.error(`wrote ${args.out} in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
