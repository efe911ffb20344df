#!/usr/bin/env bash
# Regenerates models/testdata/ggml-quant-reference.json, the hashes of ggml's own quantizers and decoders
# that TestQuantizeMatchesGGML (inference/gguf/quant_test.go) compares Quantize and DecodeInto with (see
# README.md, "ggml quantizers"). Run from anywhere; needs Go, a C compiler, Node.js >= 20 and npm. Not
# part of `make test` or CI: they use the committed fixture.
. "$(dirname "$0")/lib/regen.sh"

cc -O2 -o "$scratch/ggmlq" "$root/inference/gguf/testdata/ggmlq.c" -ldl
(cd "$root" && go test ./inference/gguf -count=1 -run '^TestWriteGGMLQuantInputs$' -ggmlq.write="$scratch" >/dev/null)
(cd "$here" && node ggmlq-reference.mjs --out "$root/models/testdata/ggml-quant-reference.json" --ggmlq "$scratch/ggmlq" --inputs "$scratch")

(cd "$root" && go test ./inference/gguf -count=1 -run '^TestQuantizeMatchesGGML$' -v | grep -E '^(ok|FAIL|---)')
