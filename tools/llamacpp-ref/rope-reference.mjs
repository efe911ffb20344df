// rope-reference.mjs runs the RoPE-scaling test models (Llama 3.1/3.2 rope_freqs frequency factors,
// linear rope.scaling.factor) through llama.cpp, the prebuilt CPU build that node-llama-cpp ships on npm,
// and records what the Go engine must reproduce: prompt ids, greedy continuations and the top logits of
// every generated position, at prompts long enough (up to ~1900 positions) that the scaled RoPE pairs
// turn far from their unscaled angles. See rope-README.md; TestLlamaCppRopeScaling reads the output.
//
//   node rope-reference.mjs --out FILE --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp (lib/llama.mjs uses the prebuilt binary or fails).
import { GENESIS, LONG, promptListReference } from "./lib/llama.mjs";

const N_GENERATE = 32;
const TOP_K = 5;

// Prompts: the text (BOS first) cut to max_prompt_tokens (0: whole). Short ones keep the positions where
// scaling barely matters covered; the long ones reach the positions where it decides.
const PROMPTS = [
    { text: "And God said", max: 0 },
    { text: GENESIS, max: 0 },
    { text: LONG, max: 700 },
    { text: LONG.slice(400), max: 1300 },
    { text: LONG, max: 1990 },
];

// llama.cpp set up as the Go engine computes (float32 K/V cache, no flash attention, one thread); the
// top logits of every generated position.
await promptListReference({ script: "rope-reference.mjs", prompts: PROMPTS, nGenerate: N_GENERATE, topK: TOP_K });
