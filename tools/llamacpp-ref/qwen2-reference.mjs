// qwen2-reference.mjs runs the random qwen2-architecture test models (qwen2.* metadata, Q/K/V biases,
// NEOX RoPE, tied or untied output, an output bias, linear RoPE scaling) through llama.cpp, the prebuilt
// CPU build that node-llama-cpp ships on npm, and records what the Go engine must reproduce: prompt ids,
// greedy continuations and the top logits of every generated position, at short and long (to ~1000
// positions) prompts. See qwen2-README.md; TestLlamaCppQwen2 reads the output. The same recording as
// rope-reference.mjs, with its own prompts.
//
//   node qwen2-reference.mjs --out FILE --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp: getLlama is told to use the prebuilt binary or fail.
process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";

import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";
import { getLlama, LlamaLogLevel } from "node-llama-cpp";

const N_GENERATE = 32;
const TOP_K = 5;

// llama.cpp set up the way the Go engine computes: float32 K/V cache, no flash attention, one thread
// (see reference.mjs: the thread pool spin-waits on a shared machine; the sums are the same).
const CONTEXT = { threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" };

const GENESIS =
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
    "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. " +
    "And God said, Let there be light: and there was light. And God saw the light, that it was good: and " +
    "God divided the light from the darkness. And God called the light Day, and the darkness he called " +
    "Night. And the evening and the morning were the first day. ";
const FIRMAMENT =
    "And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from " +
    "the waters. And God made the firmament, and divided the waters which were under the firmament from " +
    "the waters which were above the firmament: and it was so. And God called the firmament Heaven. ";
// A long text: numbered repetitions, so that it tokenizes to well over 2000 tokens in every test vocabulary.
const LONG = Array.from({ length: 8 }, (_, i) => `Chapter ${i + 1}. ${i % 2 ? FIRMAMENT : GENESIS}${i % 2 ? GENESIS : FIRMAMENT}`).join("\n");

// Prompts: the text (BOS first) cut to max_prompt_tokens (0: whole): short ones, a chat-like one, long ones.
const PROMPTS = [
    { text: "And God said", max: 0 },
    { text: "a", max: 0 },
    { text: "System: Be brief.\nUser: Hello\nAssistant:", max: 0 },
    { text: GENESIS, max: 0 },
    { text: LONG.slice(200), max: 500 },
    { text: LONG, max: 990 },
];

function usage(msg) {
    console.error(`qwen2-reference.mjs: ${msg}\nusage: node qwen2-reference.mjs --out FILE --model NAME=PATH ...`);
    process.exit(2);
}

const { values: args } = parseArgs({ options: { out: { type: "string" }, model: { type: "string", multiple: true } } });
if (!args.out) usage("--out is required");
if (!args.model?.length) usage("at least one --model NAME=PATH is required");

const started = process.hrtime.bigint();
const llama = await getLlama({ gpu: false, build: "never", usePrebuiltBinaries: true, skipDownload: true, progressLogs: false, logLevel: LlamaLogLevel.error });
if (llama.buildType !== "prebuilt") throw new Error(`llama.cpp build is ${llama.buildType}, want the prebuilt binary`);
const pkgVersion = (name) => JSON.parse(readFileSync(new URL(`./node_modules/${name}/package.json`, import.meta.url), "utf8")).version;
const sig = (v, digits) => Number(v.toPrecision(digits));

// topOf: the k largest logits as [id, logit] (ties: lower id first), the log-sum-exp (float64 over
// llama.cpp's float32 logits), the top-2 margin and the argmax.
function topOf(logits, k) {
    const entries = [...logits.entries()].sort((a, b) => b[1] - a[1] || a[0] - b[0]);
    const max = entries[0][1];
    let sum = 0;
    for (const [, v] of entries) sum += Math.exp(v - max);
    return {
        top: entries.slice(0, k).map(([id, v]) => [id, sig(v, 9)]),
        logsumexp: sig(max + Math.log(sum), 9),
        margin: sig(entries[0][1] - entries[1][1], 4),
        argmax: entries[0][0],
    };
}

// greedy evaluates prompt and continues it greedily for N_GENERATE tokens or to EOS, recording every step.
async function greedy(sequence, prompt, eos) {
    await sequence.clearHistory();
    const completion = [];
    const steps = [];
    const margins = [];
    const gen = { generateNext: { token: true, logits: true, options: { temperature: 0 } } };
    let input = prompt.map((id, i) => (i === prompt.length - 1 ? [id, gen] : id));
    while (completion.length < N_GENERATE) {
        const res = await sequence.controlledEvaluate(input);
        const next = res[input.length - 1]?.next;
        if (next?.token == null || next.logits == null) throw new Error("llama.cpp returned no token");
        const t = topOf(next.logits, TOP_K);
        if (t.argmax !== next.token) throw new Error(`greedy sampler chose ${next.token}, argmax is ${t.argmax} (margin ${t.margin})`);
        steps.push({ top: t.top, logsumexp: t.logsumexp });
        margins.push(t.margin);
        if (next.token === eos) break;
        completion.push(next.token);
        input = [[next.token, gen]];
    }
    return { completion_ids: completion, top2_margins: margins, steps };
}

const out = {
    generator: "tools/llamacpp-ref/qwen2-reference.mjs",
    node_llama_cpp: pkgVersion("node-llama-cpp"),
    node_llama_cpp_binary: `@node-llama-cpp/linux-x64@${pkgVersion("@node-llama-cpp/linux-x64")}`,
    llama_cpp: { ...llama.llamaCppRelease, build: llama.buildType },
    system_info: llama.systemInfo,
    n_generate: N_GENERATE,
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
    const m = { name, file: basename(path), sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length, n_ctx: nCtx, greedy: [] };
    const context = await model.createContext({ contextSize: nCtx, sequences: 1, ...CONTEXT });
    const sequence = context.getSequence();
    for (const p of PROMPTS) {
        let prompt = [...(model.tokens.shouldPrependBosToken && bos != null ? [bos] : []), ...model.tokenize(p.text, false)];
        if (p.max > 0) {
            if (prompt.length < p.max) throw new Error(`${name}: prompt has ${prompt.length} tokens, fewer than the ${p.max} asked for`);
            prompt = prompt.slice(0, p.max);
        }
        if (prompt.length + N_GENERATE > nCtx) throw new Error(`${name}: prompt of ${prompt.length} tokens is too long for ${nCtx}`);
        m.greedy.push({ prompt: p.text, max_prompt_tokens: p.max, prompt_ids: prompt, ...(await greedy(sequence, prompt, eos)) });
    }
    await context.dispose();
    await model.dispose();
    out.models.push(m);
    console.error(`${name}: ${m.greedy.length} prompts, longest ${Math.max(...m.greedy.map((g) => g.prompt_ids.length))} tokens`);
}
await llama.dispose();
const json = JSON.stringify(out, null, 1)
    .replace(/\[[-0-9.e+,\s]*\]/g, (a) => a.replace(/\s+/g, ""))
    .replace(/\[(\s*\[[-0-9.e+,]*\],?)+\s*\]/g, (a) => a.replace(/\s+/g, ""));
writeFileSync(args.out, json + "\n");
console.error(`wrote ${args.out} in ${(Number(process.hrtime.bigint() - started) / 1e9).toFixed(1)} s`);
