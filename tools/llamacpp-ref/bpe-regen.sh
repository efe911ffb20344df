#!/bin/sh
# Regenerates models/testdata/llamacpp-bpe-reference.json (llama.cpp's BPE tokenizations) and checks the
# Go BPE tokenizer against it. Run from anywhere; needs Node >= 20 and npm (see README.md).
. "$(dirname "$0")/lib/regen.sh"
dir=$scratch
cd "$root"
go test ./inference/tokenizer -count=1 -run '^TestWriteBPEModels$' -bpe.write="$dir"
models=""
for name in bpe-llama3 bpe-qwen2 bpe-gpt2 bpe-default; do
    models="$models --model $name=$dir/$name.gguf"
done
# Real vocabularies: llama.cpp's own vocab-only GGUFs and test strings (see extract_vocabs).
extract_vocabs "$dir"
models="$models$vocab_args"
# shellcheck disable=SC2086 # $models is a list of flags
(cd tools/llamacpp-ref && node bpe-reference.mjs --out ../../models/testdata/llamacpp-bpe-reference.json $models)
go test ./inference/tokenizer -count=1 -run 'BPE' -v -bpe.vocabs="$dir" | grep -E '^(\s*---|ok|FAIL)'
