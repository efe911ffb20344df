#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-quant-reference.json with llama.cpp (see README.md, "Quantized
# models"). Run from anywhere; needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the
# committed fixture.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
models="$(mktemp -d)"
trap 'rm -rf "$models"' EXIT

[ -d "$here/node_modules/node-llama-cpp" ] || (cd "$here" && npm install --no-audit --no-fund)

# The models, written by the same Go code that the test rebuilds them with (llamacppQuantSpecs). The
# fixture lists them in the specs' order, which is the order the writer logs them in.
written="$(cd "$root" && go test ./provider/llm/llama -count=1 -v -run '^TestWriteLlamaCppQuantModels$' -llamacpp.quantwrite="$models")"
args=()
for f in $(printf '%s\n' "$written" | grep -oE "$models/[^ :]+\.gguf"); do
	args+=(--model "$(basename "$f" .gguf)=$f")
done
(cd "$here" && node quant-reference.mjs --out "$root/models/testdata/llamacpp-quant-reference.json" \
	--reference "$root/models/testdata/reference.json" "${args[@]}")

(cd "$root" && go test ./provider/llm/llama -count=1 -run 'LlamaCppQuant$' -v | grep -E 'prompts x|^(ok|FAIL|---)')
