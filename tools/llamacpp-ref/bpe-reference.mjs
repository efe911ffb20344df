// bpe-reference.mjs tokenizes a broad prompt list with llama.cpp's byte-level BPE tokenizer (the
// prebuilt CPU build node-llama-cpp ships) for each BPE reference model and writes
// models/testdata/llamacpp-bpe-reference.json, which TestLlamaCppBPE (inference/tokenizer) compares
// the Go tokenizer against. The models come from
//   go test ./inference/tokenizer -run '^TestWriteBPEModels$' -bpe.write=DIR
// which also writes DIR/NAME.gguf.tokenizer-sha256, copied here so the test knows what it compares.
// Like reference.mjs, it never builds or downloads llama.cpp.
import { readFileSync, existsSync } from "node:fs";
import { basename } from "node:path";
import { cli, compactIds, fileFacts, namedPaths, openLlama, provenance, writeFixture } from "./lib/llama.mjs";

// The prompts: every pre-tokenizer branch (contractions in both cases, letters with a leading
// non-letter, digit runs of 1–9, punctuation runs with trailing newlines, whitespace runs before text,
// at the end and before newlines), non-ASCII letters, numbers and spaces, emoji and CJK (multi-byte
// merges and bytes that fall back), and special tokens inside text (control ones only with parse_special,
// the user-defined <tool_call> always).
const PROMPTS = [
    "Hello world",
    "In the beginning God created the heaven and the earth.",
    "And God said, Let there be light: and there was light.",
    "hello",
    " hello",
    "  hello",
    "hello ",
    "hello  ",
    "hello\n",
    "\nhello",
    "\n\n\nhello\n\n",
    "a  b   c    d",
    "a \n b \n\n c",
    "   \n   \n",
    "\t\tindented\ttext\t",
    "line one\r\nline two\r\n",
    " ",
    "  ",
    "\n",
    "\t",
    "I'm here; it's fine; they're late; we've gone; you'll see; I'd go; don't.",
    "I'M HERE; IT'S FINE; THEY'RE LATE; WE'VE GONE; YOU'LL SEE; I'D GO; DON'T.",
    "I'M, It'S, tHey'Re, We'Ve, yoU'Ll, I'D, dOn'T",
    "'s 't 're 've 'm 'll 'd",
    "'S 'T 'RE 'VE 'M 'LL 'D",
    "'x 'sa 'll' ''s ' s",
    "rock'n'roll o'clock ma'am",
    "1",
    "12",
    "123",
    "1234",
    "12345",
    "123456789",
    "3.14159 and 2.71828",
    "1,234,567.89",
    "Call 555-0123 at 12:30 on 2024-06-01.",
    "x1 y22 z333 w4444",
    "$100 + $20 = $120",
    "٣٤٥ ۱۲۳ ½ ¾ ① Ⅻ x²",
    "hello, world! how are you?",
    "Hello , world ! How are you ?",
    "a ' b",
    "(nested [brackets] {and} <angles>)",
    "...!!!???---",
    "foo.bar(baz)\n\n",
    "x = y + 1;\n",
    "if (a <= b && c != d) { return e->f; }",
    "def f(x):\n    return x ** 2\n",
    "    four spaces then text",
    "`code` ~tilde~ ^caret^ |pipe|",
    "Café naïve résumé façade Zürich",
    "Ελληνικά Русский язык Україна",
    "日本語のテキストです。",
    "中文文本：你好，世界！",
    "한국어 문장입니다.",
    "Emoji: 😀 😃 🎉 👍🏽 ❤️ 🇺🇦",
    "😀😀😀",
    "— dashes – and “quotes” ‘single’ … ellipsis",
    "non\u00a0breaking\u3000ideographic\u2028separator",
    "zero\u200bwidth and soft\u00adhyphen",
    "e\u0301 combining acute",
    "A wonderful day, unbelievable! Bethlehem in 2024.",
    "a zebra quietly zigzags; q z",
    "Zebra Quiz zz qq",
    "wonderful unbelievable Bethlehem 2024",
    "<|begin_of_text|>Hello<|eot_id|>",
    "<|start_header_id|>user<|end_header_id|>\n\nHi there!<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n",
    "text <|end_of_text|> more",
    "<|begin_of_text|><|begin_of_text|>",
    "a<tool_call>b",
    " <tool_call> x <tool_call>",
    "<|not_special|> <|eot_id",
    "<s> </s> <unk>",
    "<|im_start|>user\nHi<|im_end|>\n<|endoftext|>",
    "The LORD God formed man of the dust of the ground, and breathed into his nostrils the breath of life.",
    "And Adam knew Eve his wife; and she conceived, and bare Cain, and said, I have gotten a man from the LORD.",
];

// RANDOM_PROMPTS are deterministic random mixes of the atoms the pre-tokenizers care about (mulberry32,
// fixed seed), to reach branch combinations no hand-written prompt thought of.
const ATOMS = [
    "a", "b", "Z", "the", "The", "LORD", "é", "ß", "ж", "λ", "中", "日本", "한", "ا", "\u0301",
    "0", "1", "7", "42", "365", "2024", "٣", "½", "²", "Ⅻ",
    " ", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "\u00a0", "\u3000", "\u2028", "\v", "\f",
    "'", "'s", "'S", "'t", "'re", "'VE", "'m", "'ll", "'D", "'x",
    ".", ",", "!", "?", ";", ":", "-", "_", "(", ")", "[", "]", "{", "}", "\"", "#", "%", "&", "*", "/", "\\", "@",
    "$", "+", "<", "=", ">", "^", "`", "|", "~", "—", "…", "“", "’", "€", "©",
    "😀", "👍🏽", "❤️", "🇺🇦", "\u200b", "\u00ad",
    "<|eot_id|>", "<|begin_of_text|>", "<tool_call>", "<|", "|>",
];
function mulberry32(seed) {
    return () => {
        seed = (seed + 0x6d2b79f5) | 0;
        let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
        t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
}
const rand = mulberry32(20261126);
const RANDOM_PROMPTS = [];
for (let i = 0; i < 200; i++) {
    const n = 1 + Math.floor(rand() * 24);
    let s = "";
    for (let j = 0; j < n; j++) s += ATOMS[Math.floor(rand() * ATOMS.length)];
    RANDOM_PROMPTS.push(s);
}

const { args, usage } = cli("bpe-reference.mjs", "--out FILE --model NAME=PATH ...", { vocab: { type: "string", multiple: true } });
const models = namedPaths(args.model, "model", usage);
const vocabs = namedPaths(args.vocab, "vocab", usage);

const llama = await openLlama();
const out = {
    ...provenance(llama, "tools/llamacpp-ref/bpe-reference.mjs", false),
    models: [],
    vocabs: [],
};

// caseOf tokenizes text both ways and detokenizes the results.
function caseOf(model, text) {
    const ids = model.tokenize(text, false); // llama_tokenize(add_special=false, parse_special=false)
    const idsSpecial = model.tokenize(text, true); // parse_special=true
    return {
        text,
        ids,
        ids_parse_special: idsSpecial,
        // llama_detokenize(remove_special=false, unparse_special=false)
        detokenized: model.detokenize(ids, false),
        detokenized_parse_special: model.detokenize(idsSpecial, false),
    };
}

// tokenInfo is what llama.cpp decided about the special tokens.
function tokenInfo(model) {
    return {
        // node-llama-cpp reports BOS/EOS only when they are control tokens (null otherwise).
        bos_id: model.tokens.bos,
        eos_id: model.tokens.eos,
        add_bos: model.tokens.shouldPrependBosToken,
        // llama_vocab_is_eog, and the tokens whose attributes have LLAMA_TOKEN_ATTR_CONTROL (1 << 3).
        eog_ids: [...model.iterateAllTokens()].filter((id) => model._model.isEogToken(id)),
        control_ids: [...model.iterateAllTokens()].filter((id) => (model._model.getTokenAttributes(id) & 8) !== 0),
    };
}

for (const { name, path } of models) {
    const hashFile = `${path}.tokenizer-sha256`;
    if (!existsSync(hashFile)) usage(`${hashFile} is missing: write the models with TestWriteBPEModels`);
    const model = await llama.loadModel({ modelPath: path, gpuLayers: 0 });
    const m = {
        name,
        file: basename(path),
        tokenizer_sha256: readFileSync(hashFile, "utf8").trim(),
        vocabulary_type: model.vocabularyType,
        ...tokenInfo(model),
        cases: [...new Set([...PROMPTS, ...RANDOM_PROMPTS])].map((text) => caseOf(model, text)),
    };
    await model.dispose();
    out.models.push(m);
    console.error(`${name}: ${m.cases.length} prompts`);
}

// Real vocabularies (llama.cpp's models/ggml-vocab-*.gguf, vocabulary only): the same prompts plus
// llama.cpp's own tokenizer test strings (NAME.gguf.inp next to the file, when present).
for (const { name, path } of vocabs) {
    const { file, sha256 } = fileFacts(path);
    const model = await llama.loadModel({ modelPath: path, vocabOnly: true });
    const texts = [...PROMPTS, ...RANDOM_PROMPTS];
    if (existsSync(`${path}.inp`)) texts.push(...readFileSync(`${path}.inp`, "utf8").split("\n__ggml_vocab_test__\n"));
    out.vocabs.push({
        name,
        file,
        sha256,
        vocabulary_type: model.vocabularyType,
        ...tokenInfo(model),
        cases: [...new Set(texts)].map((text) => caseOf(model, text)),
    });
    await model.dispose();
    console.error(`${name}: ${out.vocabs.at(-1).cases.length} prompts`);
}

// One line per id list keeps the file short and diffs readable.
writeFixture(args.out, out, compactIds);
