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
// with the models in llamacppQuantSpecs order (the fixture's order); quant-regen.sh does all of it.
//
// It never builds or downloads llama.cpp (lib/llama.mjs uses the prebuilt binary or fails).
import { readFileSync } from "node:fs";
import { cli, compactNumbers, fileFacts, greedy, MATCHED_CONTEXT, namedPaths, openLlama, promptIds, provenance, timer, writeFixture } from "./lib/llama.mjs";

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

const texts = [];
if (args.reference) {
    const ref = JSON.parse(readFileSync(args.reference, "utf8"));
    for (const g of ref.greedy ?? []) texts.push(g.prompt);
}
texts.push(...EXTRA);
const cases = [...new Set(texts)];

const elapsed = timer();
const llama = await openLlama();
const out = {
    ...provenance(llama, "tools/llamacpp-ref/quant-reference.mjs"),
    n_generate: N_GENERATE,
    n_logit_steps: N_LOGIT_STEPS,
    top_k: TOP_K,
    context: CONTEXT,
    models: [],
};

for (const { name, path } of models) {
    const facts = fileFacts(path);
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const nCtx = model.trainContextSize;
    const m = {
        name,
        ...facts,
        n_ctx: nCtx,
        tokenizer: cases.map((text) => ({ text, ids: model.tokenize(text, false) })),
        greedy: [],
    };
    const context = await model.createContext({ contextSize: nCtx, sequences: 1, ...CONTEXT });
    const sequence = context.getSequence();
    for (const text of cases) {
        const prompt = promptIds(model, text);
        if (prompt.length === 0) continue;
        if (prompt.length + N_GENERATE > nCtx) throw new Error(`${name}: prompt ${JSON.stringify(text)} has ${prompt.length} tokens, too many for ${nCtx}`);
        const g = await greedy(sequence, prompt, { eos: model.tokens.eos, nGenerate: N_GENERATE, topK: TOP_K, nLogitSteps: N_LOGIT_STEPS, nCtx, withFinish: true });
        m.greedy.push({ prompt: text, prompt_ids: prompt, ...g });
    }
    await context.dispose();
    await model.dispose();
    out.models.push(m);
    console.error(`${name}: ${m.tokenizer.length} tokenizations, ${m.greedy.length} greedy runs`);
}
await llama.dispose();
writeFixture(args.out, out, compactNumbers);
console.error(`wrote ${args.out} in ${elapsed()} s`);
