// llama.mjs is the plumbing every reference script shares: opening the prebuilt llama.cpp that
// node-llama-cpp ships (never building or downloading it), the provenance fields of a fixture,
// command-line models, the greedy loop with llama.cpp's logits checked against its sampler, and the
// compact JSON the fixtures are written in. The scripts keep their own prompts, runs and record shapes.
import { createHash } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { parseArgs } from "node:util";

// openLlama loads llama.cpp's prebuilt CPU binary or fails: no GPU, no build, no download.
// node-llama-cpp is imported here, lazily, so a script that needs llama.cpp only sometimes
// (chat-reference.mjs) does not load it otherwise.
export async function openLlama() {
    process.env.NODE_LLAMA_CPP_SKIP_DOWNLOAD = "true";
    const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
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
    return llama;
}

// pkgVersion is the installed version of an npm package under tools/llamacpp-ref/node_modules.
export const pkgVersion = (name) => JSON.parse(readFileSync(new URL(`../node_modules/${name}/package.json`, import.meta.url), "utf8")).version;

// provenance is what a fixture records about the llama.cpp that wrote it. withSystemInfo adds the CPU
// variant ggml picked (it can change the last bits of a float32 sum on another CPU).
export function provenance(llama, generator, withSystemInfo = true) {
    return {
        generator,
        node_llama_cpp: pkgVersion("node-llama-cpp"),
        node_llama_cpp_binary: `@node-llama-cpp/linux-x64@${pkgVersion("@node-llama-cpp/linux-x64")}`,
        llama_cpp: { ...llama.llamaCppRelease, build: llama.buildType },
        ...(withSystemInfo ? { system_info: llama.systemInfo } : {}),
    };
}

// cli parses the arguments every script takes (--out, --model NAME=PATH ...) plus extra options, and
// returns them with usage(msg), which prints the message and the synopsis and exits with status 2.
export function cli(script, synopsis, extra = {}) {
    const usage = (msg) => {
        console.error(`${script}: ${msg}\nusage: node ${script} ${synopsis}`);
        process.exit(2);
    };
    const { values: args } = parseArgs({ options: { out: { type: "string" }, ...extra, model: { type: "string", multiple: true } } });
    if (!args.out) usage("--out is required");
    if (!args.model?.length) usage("at least one --model NAME=PATH is required");
    return { args, usage };
}

// namedPaths splits --FLAG NAME=PATH values.
export function namedPaths(specs, flag, usage) {
    return (specs ?? []).map((spec) => {
        const eq = spec.indexOf("=");
        if (eq <= 0) usage(`--${flag} ${spec}: want NAME=PATH`);
        return { name: spec.slice(0, eq), path: spec.slice(eq + 1) };
    });
}

// fileFacts identifies a model file: its name, sha256 and size (the Go tests rebuild and compare).
export function fileFacts(path) {
    const bytes = readFileSync(path);
    return { file: basename(path), sha256: createHash("sha256").update(bytes).digest("hex"), bytes: bytes.length };
}

// eachModel loads every model ({ name, path }) in turn, on the CPU, and returns what
// record(model, name, facts) makes of each (facts: fileFacts), disposing of the model after.
export async function eachModel(llama, models, record) {
    const out = [];
    for (const { name, path } of models) {
        const facts = fileFacts(path);
        const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
        out.push(await record(model, name, facts));
        await model.dispose();
    }
    return out;
}

// writeReference is the main part of a logits reference script: it opens llama.cpp, records every
// model with record (see eachModel), and writes the fixture to args.out: provenance, then fields
// (the script's settings), then the models, compacted with compactNumbers.
export async function writeReference({ args, script, fields, models, record }) {
    const elapsed = timer();
    const llama = await openLlama();
    const out = { ...provenance(llama, `tools/llamacpp-ref/${script}`), ...fields, models: [] };
    out.models = await eachModel(llama, models, record);
    await llama.dispose();
    writeFixture(args.out, out, compactNumbers);
    console.error(`wrote ${args.out} in ${elapsed()} s`);
}

// promptIds is text tokenized without special parsing, after BOS when the model adds one.
export function promptIds(model, text) {
    const bos = model.tokens.bos;
    return [...(model.tokens.shouldPrependBosToken && bos != null ? [bos] : []), ...model.tokenize(text, false)];
}

// One llama.cpp context per run, set up the way the Go engine computes: float32 K/V cache, the plain
// attention path. One thread: ggml's thread pool spin-waits, which on a small shared machine costs
// ~0.5 s a token (1 ms with one thread); a dot product is summed by one thread either way.
export const MATCHED_CONTEXT = { threads: 1, flashAttention: false, experimentalKvCacheKeyType: "F32", experimentalKvCacheValueType: "F32" };

export const sig = (v, digits) => Number(v.toPrecision(digits));

// topOf returns the k largest logits as [id, logit] (ties: lower id first), the log-sum-exp of all
// logits, the top-2 margin and the argmax, computing in float64 over llama.cpp's float32 values.
export function topOf(logits, k) {
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

// greedy evaluates prompt on sequence (history cleared) and continues it greedily for nGenerate tokens,
// to EOS or to nCtx positions, checking llama.cpp's greedy sampler against the argmax of the full logits
// at every step. It records the top-2 margin of every step and the top logits of the first nLogitSteps;
// withFinish adds why it stopped ("eos" or "length").
export async function greedy(sequence, prompt, { eos, nGenerate, topK, nLogitSteps = Infinity, nCtx = Infinity, withFinish = false }) {
    await sequence.clearHistory();
    const completion = [];
    const steps = [];
    const margins = [];
    let finish = "length";
    const gen = (id) => [id, { generateNext: { token: true, logits: true, options: { temperature: 0 } } }];
    let input = prompt.map((id, i) => (i === prompt.length - 1 ? gen(id) : id));
    while (completion.length < nGenerate && prompt.length + completion.length < nCtx) {
        const res = await sequence.controlledEvaluate(input);
        const next = res[input.length - 1]?.next;
        if (next?.token == null || next.logits == null) throw new Error("llama.cpp returned no token");
        const t = topOf(next.logits, topK);
        if (t.argmax !== next.token) throw new Error(`greedy sampler chose ${next.token}, argmax is ${t.argmax} (margin ${t.margin})`);
        if (steps.length < nLogitSteps) steps.push({ top: t.top, logsumexp: t.logsumexp });
        margins.push(t.margin);
        if (next.token === eos) {
            finish = "eos";
            break;
        }
        completion.push(next.token);
        input = [gen(next.token)];
    }
    return { completion_ids: completion, ...(withFinish ? { finish } : {}), top2_margins: margins, steps };
}

// referenceTexts is the prompt list of reference.mjs and quant-reference.mjs: models/testdata/reference.json's
// tokenizer texts (withTokenizer) and greedy prompts when path is given, then extra, deduplicated.
export function referenceTexts(path, extra, withTokenizer) {
    const texts = [];
    if (path) {
        const ref = JSON.parse(readFileSync(path, "utf8"));
        if (withTokenizer) for (const c of ref.tokenizer ?? []) texts.push(c.text);
        for (const g of ref.greedy ?? []) texts.push(g.prompt);
    }
    texts.push(...extra);
    return [...new Set(texts)];
}

// greedyCases runs every text (BOS first; empty prompts skipped) greedily in one context of model's
// training size set up by context, recording n_logit_steps logits and the finish reason, as
// reference.mjs and quant-reference.mjs do.
export async function greedyCases(model, name, texts, context, { nGenerate, nLogitSteps, topK }) {
    const nCtx = model.trainContextSize;
    const ctx = await model.createContext({ contextSize: nCtx, sequences: 1, ...context });
    const sequence = ctx.getSequence();
    const results = [];
    for (const text of texts) {
        const prompt = promptIds(model, text);
        if (prompt.length === 0) continue; // nothing to evaluate
        if (prompt.length + nGenerate > nCtx) throw new Error(`${name}: prompt ${JSON.stringify(text)} has ${prompt.length} tokens, too many for ${nCtx}`);
        const g = await greedy(sequence, prompt, { eos: model.tokens.eos, nGenerate, topK, nLogitSteps, nCtx, withFinish: true });
        results.push({ prompt: text, prompt_ids: prompt, ...g });
    }
    await ctx.dispose();
    return results;
}

// compactNumbers puts every number array (and every list of [id, logit] pairs) on one line, which keeps
// a logits fixture short and diffable.
export const compactNumbers = (json) =>
    json.replace(/\[[-0-9.e+,\s]*\]/g, (a) => a.replace(/\s+/g, "")).replace(/\[(\s*\[[-0-9.e+,]*\],?)+\s*\]/g, (a) => a.replace(/\s+/g, ""));

// compactIds puts every integer list on one line (for fixtures whose strings may look like number lists).
export const compactIds = (json) => json.replace(/\[\s*(-?\d+(?:,\s*-?\d+)*)\s*\]/g, (_, ids) => `[${ids.split(/,\s*/).join(",")}]`);

// writeFixture writes doc as one-space-indented JSON passed through compact, with a final newline.
export function writeFixture(path, doc, compact = (json) => json) {
    writeFileSync(path, compact(JSON.stringify(doc, null, 1)) + "\n");
}

// timer returns a function that reports the seconds since it was made, as the scripts log them.
export function timer() {
    const started = process.hrtime.bigint();
    return () => (Number(process.hrtime.bigint() - started) / 1e9).toFixed(1);
}

// Genesis 1:1-5 and 1:6-8 (KJV), and LONG, numbered repetitions of them that tokenize to well over 2000
// tokens in every test vocabulary: the long prompts of rope-reference.mjs and qwen2-reference.mjs.
export const GENESIS =
    "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
    "and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. " +
    "And God said, Let there be light: and there was light. And God saw the light, that it was good: and " +
    "God divided the light from the darkness. And God called the light Day, and the darkness he called " +
    "Night. And the evening and the morning were the first day. ";
export const FIRMAMENT =
    "And God said, Let there be a firmament in the midst of the waters, and let it divide the waters from " +
    "the waters. And God made the firmament, and divided the waters which were under the firmament from " +
    "the waters which were above the firmament: and it was so. And God called the firmament Heaven. ";
export const LONG = Array.from({ length: 8 }, (_, i) => `Chapter ${i + 1}. ${i % 2 ? FIRMAMENT : GENESIS}${i % 2 ? GENESIS : FIRMAMENT}`).join("\n");

// promptListReference is the whole of a script that records, per --model, greedy continuations of fixed
// prompts with the top logits of every generated position (rope-reference.mjs, qwen2-reference.mjs).
// prompts are { text, max }: the text tokenized (BOS first) and cut to max tokens (0: whole; a prompt
// shorter than max is an error, so a vocabulary change cannot quietly shorten the long ones).
export async function promptListReference({ script, prompts, nGenerate, topK }) {
    const { args, usage } = cli(script, "--out FILE --model NAME=PATH ...");
    const record = async (model, name, facts) => {
        const nCtx = model.trainContextSize;
        const m = { name, ...facts, n_ctx: nCtx, greedy: [] };
        const context = await model.createContext({ contextSize: nCtx, sequences: 1, ...MATCHED_CONTEXT });
        const sequence = context.getSequence();
        for (const p of prompts) {
            let prompt = promptIds(model, p.text);
            if (p.max > 0) {
                if (prompt.length < p.max) throw new Error(`${name}: prompt has ${prompt.length} tokens, fewer than the ${p.max} asked for`);
                prompt = prompt.slice(0, p.max);
            }
            if (prompt.length + nGenerate > nCtx) throw new Error(`${name}: prompt of ${prompt.length} tokens is too long for ${nCtx}`);
            const g = await greedy(sequence, prompt, { eos: model.tokens.eos, nGenerate, topK });
            m.greedy.push({ prompt: p.text, max_prompt_tokens: p.max, prompt_ids: prompt, ...g });
        }
        await context.dispose();
        console.error(`${name}: ${m.greedy.length} prompts, longest ${Math.max(...m.greedy.map((g) => g.prompt_ids.length))} tokens`);
        return m;
    };
    const fields = { n_generate: nGenerate, top_k: topK, context: MATCHED_CONTEXT };
    await writeReference({ args, script, fields, models: namedPaths(args.model, "model", usage), record });
}
