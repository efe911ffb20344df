#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-qwen2-reference.json with llama.cpp (see qwen2-README.md). Run from
# anywhere; needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the committed fixture.
. "$(dirname "$0")/lib/regen.sh"

write_models inference/llama TestWriteLlamaCppQwen2Models llamacpp.qwen2.write # llamacppQwen2Specs
# shellcheck disable=SC2086 # $model_args is a list of flags
(cd "$here" && node qwen2-reference.mjs --out "$root/models/testdata/llamacpp-qwen2-reference.json" $model_args)

(cd "$root" && go test ./inference/llama -count=1 -run 'LlamaCppQwen2$' -v | grep -E 'prompts to|^(ok|FAIL|---)')
