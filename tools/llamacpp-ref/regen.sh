#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-reference.json with llama.cpp (see README.md). Run from anywhere;
# needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the committed fixture.
. "$(dirname "$0")/lib/regen.sh"

# The random models (llamacppSpecs), in file name order, after the default model.
write_models inference/llama TestWriteLlamaCppModels llamacpp.write
# shellcheck disable=SC2086 # $model_args is a list of flags
(cd "$here" && node reference.mjs --out "$root/models/testdata/llamacpp-reference.json" \
	--reference "$root/models/testdata/reference.json" \
	--model "cocoon-kjv-demo-1m=$root/models/cocoon-kjv-demo-1m.gguf" $model_args)

(cd "$root" && go test ./inference/llama -count=1 -run 'LlamaCpp' -v | grep -E 'prompts x|^(ok|FAIL|---)')
