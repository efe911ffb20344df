#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-reference.json with llama.cpp (see README.md). Run from anywhere;
# needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the committed fixture.
set -euo pipefail
export LC_ALL=C # a fixed model order
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
models="$(mktemp -d)"
trap 'rm -rf "$models"' EXIT

# The pinned npm packages (package-lock.json); .npmrc skips install scripts and optional packages,
# so only the prebuilt linux-x64 CPU binary is installed and nothing is built or downloaded at run time.
[ -d "$here/node_modules/node-llama-cpp" ] || (cd "$here" && npm install --no-audit --no-fund)

# The random models, written by the same Go code that the test rebuilds them with.
(cd "$root" && go test ./provider/llm/llama -count=1 -run '^TestWriteLlamaCppModels$' -llamacpp.write="$models" >/dev/null)

args=(--model "cocoon-kjv-demo-1m=$root/models/cocoon-kjv-demo-1m.gguf")
for f in "$models"/*.gguf; do
	args+=(--model "$(basename "$f" .gguf)=$f")
done
(cd "$here" && node reference.mjs --out "$root/models/testdata/llamacpp-reference.json" \
	--reference "$root/models/testdata/reference.json" "${args[@]}")

(cd "$root" && go test ./provider/llm/llama -count=1 -run 'LlamaCpp' -v | grep -E 'prompts x|^(ok|FAIL|---)')
