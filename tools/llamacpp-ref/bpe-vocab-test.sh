#!/bin/sh
# Checks the Go BPE tokenizer on llama.cpp's own real vocabularies (TestLlamaCppBPEVocabs: Llama 3, Qwen2,
# GPT-2, MPT; 2-8 MB each, so not in this repository) against the committed fixture: installs the pinned
# node-llama-cpp when missing, extracts the vocabularies from the llama.cpp source bundle it ships, and
# runs the test. Part of `make test` (`make bpe-vocab-test`); writes nothing. ~10 s with a cold npm cache.
. "$(dirname "$0")/lib/regen.sh"
extract_vocabs "$scratch"
cd "$root"
out=$(go test ./inference/tokenizer -count=1 -run '^TestLlamaCppBPEVocabs$' -v -bpe.vocabs="$scratch") || {
	printf '%s\n' "$out"
	exit 1
}
printf '%s\n' "$out" | grep -E '^(\s*---|ok)'
# A skipped or missing test must not pass as checked.
printf '%s\n' "$out" | grep -q -- '^--- PASS: TestLlamaCppBPEVocabs ' || {
	echo "bpe-vocab-test: TestLlamaCppBPEVocabs did not run" >&2
	exit 1
}
