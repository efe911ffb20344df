#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-qwen2-reference.json with llama.cpp (see qwen2-README.md). Run from
# anywhere; needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the committed fixture.
set -euo pipefail
export LC_ALL=C
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
models="$(mktemp -d)"
trap 'rm -rf "$models"' EXIT

[ -d "$here/node_modules/node-llama-cpp" ] || (cd "$here" && npm install --no-audit --no-fund)

# The models, written by the same Go code that the test rebuilds them with (llamacppQwen2Specs).
(cd "$root" && go test ./provider/llm/llama -count=1 -run '^TestWriteLlamaCppQwen2Models$' -llamacpp.qwen2.write="$models" >/dev/null)

args=()
for f in "$models"/*.gguf; do
	args+=(--model "$(basename "$f" .gguf)=$f")
done
(cd "$here" && node qwen2-reference.mjs --out "$root/models/testdata/llamacpp-qwen2-reference.json" "${args[@]}")

(cd "$root" && go test ./provider/llm/llama -count=1 -run 'LlamaCppQwen2$' -v | grep -E 'prompts to|^(ok|FAIL|---)')
