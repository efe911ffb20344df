// chat-reference.mjs renders fixed conversations with the real Jinja chat templates of public model
// families (inference/backend/embedded/testdata/chat-templates/) through @huggingface/jinja, the Jinja
// implementation node-llama-cpp uses, and through llama.cpp's own built-in renderer
// (llama_chat_apply_template, via chat-apply.c linked against node-llama-cpp's libllama), and writes
// models/testdata/chat-template-reference.json. The Go test TestChatTemplateReference compares.
// With --model PATH (the GGUF written by
//   go test ./inference/backend/embedded -run '^TestWriteChatModel$' -chat.write=PATH
// a random llama model with a Llama 3 BPE vocabulary and Llama-3.2-Instruct's template) it also records
// the prompt token ids llama.cpp's server builds for each conversation: the model's own template
// rendered by Jinja, the leading BOS text dropped (the tokenizer adds BOS), llama_tokenize with
// add_special and parse_special.
// Usage: node chat-reference.mjs [--model PATH]   (needs npm install and, for llama.cpp's renderer, gcc)
import { Template } from "@huggingface/jinja";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { parseArgs } from "node:util";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { fileFacts, openLlama, pkgVersion, writeFixture } from "./lib/llama.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "..", "..");
const tmplDir = path.join(root, "provider", "backend", "embedded", "testdata", "chat-templates");
const out = path.join(root, "models", "testdata", "chat-template-reference.json");

// Conversations: every family sees the same ones. Leading/trailing spaces in an assistant reply and a
// padded user message expose each template's trimming; the unicode one exposes escaping.
const conversations = {
  "user": [{ role: "user", content: "What is 2+2?" }],
  "system-user": [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello! Who are you?" },
  ],
  "multi-turn": [
    { role: "system", content: "You are a helpful assistant." },
    { role: "user", content: "Hello" },
    { role: "assistant", content: "Hi there" },
    { role: "user", content: "Who are you" },
    { role: "assistant", content: "   I am an assistant   " },
    { role: "user", content: "Another question" },
  ],
  "multi-turn-no-system": [
    { role: "user", content: "Name a colour." },
    { role: "assistant", content: "Blue." },
    { role: "user", content: "Another one." },
  ],
  "unicode": [
    { role: "system", content: "Réponds en français. 日本語も OK 🙂" },
    { role: "user", content: "Ünïcödé ✓ — «guillemets», \"double\" and 'single' quotes, a \\ backslash,\ta tab and {{ braces }} {% percent %}" },
  ],
  "empty-system": [
    { role: "system", content: "" },
    { role: "user", content: "Hi" },
  ],
  "padded-user": [{ role: "user", content: "  padded question \n" }],
};

// llama.cpp's built-in renderer, when gcc and the prebuilt libllama are there.
const libDir = path.join(here, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64");
let applyBin = null;
if (existsSync(path.join(libDir, "libllama.v0.5.0.so"))) {
  const dir = mkdtempSync(path.join(tmpdir(), "chat-apply-"));
  applyBin = path.join(dir, "chat-apply");
  try {
    execFileSync("gcc", ["-O1", "-o", applyBin, path.join(here, "chat-apply.c"), "-L" + libDir,
      "-l:libllama.v0.5.0.so", "-Wl,-rpath," + libDir], { stdio: "inherit" });
  } catch (e) {
    console.error("chat-reference: cannot build chat-apply (llama.cpp's renderer is skipped):", e.message);
    applyBin = null;
  }
}
const llamaCppVersion = pkgVersion("node-llama-cpp");

function rec(s) {
  const b = Buffer.from(s, "utf8");
  return Buffer.concat([Buffer.from(`${b.length}\n`), b]);
}

function llamaCppRender(src, msgs) {
  const parts = [rec(src), rec(String(msgs.length))];
  for (const m of msgs) parts.push(rec(m.role), rec(m.content));
  const r = spawnSync(applyBin, [], { input: Buffer.concat(parts) });
  if (r.status !== 0) throw new Error(`chat-apply failed: ${r.stderr}`);
  const buf = r.stdout;
  const nl = buf.indexOf(10);
  const head = buf.subarray(0, nl).toString();
  if (head.startsWith("ERR")) return { error: "llama_chat_apply_template: " + head };
  return { text: buf.subarray(nl + 1).toString("utf8") };
}

const index = JSON.parse(readFileSync(path.join(tmplDir, "index.json"), "utf8"));
const families = [];
for (const fam of index) {
  // The .jinja files end with one newline that is not part of the template.
  let src = readFileSync(path.join(tmplDir, fam.file), "utf8");
  if (src.endsWith("\n")) src = src.slice(0, -1);
  const tmpl = new Template(src);
  const cases = [];
  for (const [name, messages] of Object.entries(conversations)) {
    const c = { conversation: name };
    try {
      c.jinja = tmpl.render({ messages, bos_token: fam.bos_token, eos_token: fam.eos_token, add_generation_prompt: true, ...(fam.context ?? {}) });
    } catch (e) {
      c.jinja_error = String(e.message ?? e);
    }
    if (applyBin) {
      const r = llamaCppRender(src, messages);
      if (r.error) c.llamacpp_error = r.error;
      else c.llamacpp = r.text;
    }
    cases.push(c);
  }
  families.push({ ...fam, template: src, cases });
}

const { values: args } = parseArgs({ options: { model: { type: "string" } } });
let promptTokens = null;
if (args.model) {
  const llama = await openLlama();
  const model = await llama.loadModel({ modelPath: args.model, gpuLayers: 0 });
  const meta = model.fileInfo.metadata;
  const src = meta.tokenizer.chat_template;
  // The BOS/EOS texts as llama.cpp hands them to the template (common_token_to_piece with special).
  const bos = model.detokenize([model.tokens.bos], true), eos = model.detokenize([model.tokens.eos], true);
  const addBOS = meta.tokenizer.ggml.add_bos_token !== false;
  const tmpl = new Template(src);
  const convs = {};
  for (const [name, messages] of Object.entries(conversations)) {
    let text = tmpl.render({ messages, bos_token: bos, eos_token: eos, add_generation_prompt: true, date_string: "26 Jul 2024" });
    if (addBOS && text.startsWith(bos)) text = text.slice(bos.length); // common_chat_template_direct_apply
    const ids = [...(addBOS ? [model.tokens.bos] : []), ...model.tokenize(text, true)];
    convs[name] = { text, ids: Array.from(ids, Number) };
  }
  promptTokens = {
    model_sha256: fileFacts(args.model).sha256,
    bos_token: bos, eos_token: eos, add_bos: addBOS,
    conversations: convs,
  };
  await model.dispose();
}

const doc = {
  generator: "tools/llamacpp-ref/chat-reference.mjs",
  jinja: "@huggingface/jinja " + pkgVersion("@huggingface/jinja"),
  llamacpp: applyBin ? `llama_chat_apply_template from node-llama-cpp ${llamaCppVersion}` : null,
  conversations,
  families,
  llamacpp_prompt_tokens: promptTokens,
};
writeFixture(out, doc);
console.log(`wrote ${out}: ${families.length} templates x ${Object.keys(conversations).length} conversations`);
