// qwen2-reference.mjs runs the random qwen2-architecture test models (qwen2.* metadata, Q/K/V biases,
// NEOX RoPE, tied or untied output, an output bias, linear RoPE scaling) through llama.cpp, the prebuilt
// CPU build that node-llama-cpp ships on npm, and records what the Go engine must reproduce: prompt ids,
// greedy continuations and the top logits of every generated position, at short and long (to ~1000
// positions) prompts. See qwen2-README.md; TestLlamaCppQwen2 reads the output. The same recording as
// rope-reference.mjs, with its own prompts.
//
//   node qwen2-reference.mjs --out FILE --model NAME=PATH [--model NAME=PATH ...]
//
// It never builds or downloads llama.cpp (lib/llama.mjs uses the prebuilt binary or fails).
import { GENESIS, LONG, promptListReference } from "./lib/llama.mjs";

const N_GENERATE = 32;
const TOP_K = 5;

// Prompts: the text (BOS first) cut to max_prompt_tokens (0: whole): short ones, a chat-like one, long ones.
const PROMPTS = [
    { text: "And God said", max: 0 },
    { text: "a", max: 0 },
    { text: "System: Be brief.\nUser: Hello\nAssistant:", max: 0 },
    { text: GENESIS, max: 0 },
    { text: LONG.slice(200), max: 500 },
    { text: LONG, max: 990 },
];

// llama.cpp set up as the Go engine computes (float32 K/V cache, no flash attention, one thread); the
// top logits of every generated position.
await promptListReference({ script: "qwen2-reference.mjs", prompts: PROMPTS, nGenerate: N_GENERATE, topK: TOP_K });
