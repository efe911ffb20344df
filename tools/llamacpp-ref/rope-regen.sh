#!/usr/bin/env bash
# Regenerates models/testdata/llamacpp-rope-reference.json with llama.cpp (see rope-README.md). Run from
# anywhere; needs Go, Node.js >= 20 and npm. Not part of `make test` or CI: they use the committed fixture.
. "$(dirname "$0")/lib/regen.sh"

write_models inference/llama TestWriteLlamaCppRopeModels llamacpp.rope.write # llamacppRopeSpecs
# shellcheck disable=SC2086 # $model_args is a list of flags
(cd "$here" && node rope-reference.mjs --out "$root/models/testdata/llamacpp-rope-reference.json" $model_args)

(cd "$root" && go test ./inference/llama -count=1 -run 'LlamaCppRopeScaling' -v | grep -E 'prompts to|^(ok|FAIL|---)')
