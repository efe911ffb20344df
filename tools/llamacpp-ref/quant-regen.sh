#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-quant-reference.json with llama.cpp (see README.md, "Quantized
# models"). Run from anywhere; needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the
# committed fixture.
. "$(dirname "$0")/lib/regen.sh"

# The models (llamacppQuantSpecs), in the specs' order, which is the fixture's.
write_models inference/llama TestWriteLlamaCppQuantModels llamacpp.quantwrite specs
# shellcheck disable=SC2086 # $model_args is a list of flags
(cd "$here" && node quant-reference.mjs --out "$root/models/testdata/llamacpp-quant-reference.json" \
	--reference "$root/models/testdata/reference.json" $model_args)

(cd "$root" && go test ./inference/llama -count=1 -run 'LlamaCppQuant$' -v | grep -E 'prompts x|^(ok|FAIL|---)')
