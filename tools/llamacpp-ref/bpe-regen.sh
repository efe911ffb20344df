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
# Real vocabularies: llama.cpp's own vocab-only GGUFs and test strings, from the source bundle that
# node-llama-cpp ships (the same commit as the binary).
git clone -q --no-checkout tools/llamacpp-ref/node_modules/node-llama-cpp/llama/gitRelease.bundle "$dir/llama.cpp"
for name in llama-bpe qwen2 gpt-2 mpt; do
    for ext in "" .inp; do
        git -C "$dir/llama.cpp" show "HEAD:models/ggml-vocab-$name.gguf$ext" > "$dir/ggml-vocab-$name.gguf$ext"
    done
    models="$models --vocab $name=$dir/ggml-vocab-$name.gguf"
done
# shellcheck disable=SC2086 # $models is a list of flags
(cd tools/llamacpp-ref && node bpe-reference.mjs --out ../../models/testdata/llamacpp-bpe-reference.json $models)
go test ./inference/tokenizer -count=1 -run 'BPE' -v -bpe.vocabs="$dir" | grep -E '^(\s*---|ok|FAIL)'
