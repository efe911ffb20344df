// ggmlq-reference.mjs records what ggml's own reference quantizers (quantize_row_<type>_ref) and
// decoders (dequantize_row_<type>) make of the vectors TestQuantizeMatchesGGML quantizes
// (inference/gguf/quant_test.go), and writes models/testdata/ggml-quant-reference.json: per type the
// sha256 of the quantized bytes and of the decoded float32 values over all vectors in order. ggml runs
// from the libggml-base.so of the prebuilt llama.cpp through inference/gguf/testdata/ggmlq.c.
//
//   node ggmlq-reference.mjs --out FILE --ggmlq BIN --inputs DIR
//
// BIN is ggmlq.c compiled; DIR holds the vectors and manifest.json, written by
//   go test ./inference/gguf -run '^TestWriteGGMLQuantInputs$' -ggmlq.write=DIR
// ggmlq-regen.sh does all of it.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { openLlama, provenance, fileFacts, writeFixture, timer } from "./lib/llama.mjs";

const script = "ggmlq-reference.mjs";
const { values: args } = parseArgs({ options: { out: { type: "string" }, ggmlq: { type: "string" }, inputs: { type: "string" } } });
if (!args.out || !args.ggmlq || !args.inputs) {
    console.error(`${script}: --out, --ggmlq and --inputs are required`);
    process.exit(2);
}
const elapsed = timer();
const lib = fileURLToPath(new URL("./node_modules/@node-llama-cpp/linux-x64/bins/linux-x64/libggml-base.so", import.meta.url));
const manifest = JSON.parse(readFileSync(join(args.inputs, "manifest.json"), "utf8"));
const sha256 = (bytes) => createHash("sha256").update(bytes).digest("hex");

const llama = await openLlama();
const out = { ...provenance(llama, `tools/llamacpp-ref/${script}`, false), library: fileFacts(lib), inputs_sha256: "", types: [] };
await llama.dispose();

const all = createHash("sha256");
for (const file of manifest.inputs) all.update(readFileSync(join(args.inputs, file)));
out.inputs_sha256 = all.digest("hex");
if (out.inputs_sha256 !== manifest.inputs_sha256) throw new Error("the inputs do not match their manifest");

for (const { type, block_size, block_bytes } of manifest.types) {
    const quantized = createHash("sha256");
    const decoded = createHash("sha256");
    for (const file of manifest.inputs) {
        const q = join(args.inputs, `${file}.${type}.bin`);
        const d = join(args.inputs, `${file}.${type}.f32`);
        execFileSync(args.ggmlq, [lib, type, String(block_size), String(block_bytes), join(args.inputs, file), q, d]);
        quantized.update(readFileSync(q));
        decoded.update(readFileSync(d));
    }
    out.types.push({ type, quantized_sha256: quantized.digest("hex"), decoded_sha256: decoded.digest("hex") });
}
writeFixture(args.out, out);
console.error(`wrote ${args.out} in ${elapsed()} s`);
