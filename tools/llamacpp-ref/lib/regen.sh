# regen.sh is sourced by the regen scripts (tools/llamacpp-ref/*regen.sh) and bpe-vocab-test.sh: strict
# mode, C collation (a fixed file order), $here (tools/llamacpp-ref) and $root (the repository), a scratch
# folder removed on exit, the pinned npm packages, write_models and extract_vocabs. POSIX sh, so that sh
# and bash scripts can source it.
set -eu
if (set -o pipefail) 2>/dev/null; then set -o pipefail; fi
export LC_ALL=C
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

# The pinned npm packages (package-lock.json); .npmrc skips install scripts and optional packages,
# so only the prebuilt linux-x64 CPU binary is installed and nothing is built or downloaded at run time.
[ -d "$here/node_modules/node-llama-cpp" ] || (cd "$here" && npm install --no-audit --no-fund)

# write_models PKG TEST FLAG [specs]: runs the Go test TEST of ./PKG with -FLAG=$scratch, which writes
# the test models there with the same code the tests rebuild them with, and sets model_args to
# "--model NAME=PATH" for each: in file name order, or with "specs" in the order the test wrote (and
# logged) them, its specs' order.
write_models() {
	log=$(cd "$root" && go test "./$1" -count=1 -v -run "^$2\$" "-$3=$scratch")
	if [ "${4:-}" = specs ]; then
		files=$(printf '%s\n' "$log" | grep -oE "$scratch/[^ :]+\.gguf")
	else
		files=$(for f in "$scratch"/*.gguf; do echo "$f"; done)
	fi
	model_args=""
	for f in $files; do
		model_args="$model_args --model $(basename "$f" .gguf)=$f"
	done
}

# extract_vocabs DIR: llama.cpp's own vocabulary-only GGUFs and their test strings
# (models/ggml-vocab-NAME.gguf and .gguf.inp for the BPE vocabularies the Go tests check) from the
# llama.cpp source bundle node-llama-cpp ships (the commit its binary was built from), into DIR; sets
# vocab_args to "--vocab NAME=PATH" for each.
extract_vocabs() {
	git clone -q --no-checkout "$here/node_modules/node-llama-cpp/llama/gitRelease.bundle" "$1/llama.cpp"
	vocab_args=""
	for name in llama-bpe qwen2 gpt-2 mpt; do
		for ext in "" .inp; do
			git -C "$1/llama.cpp" show "HEAD:models/ggml-vocab-$name.gguf$ext" > "$1/ggml-vocab-$name.gguf$ext"
		done
		vocab_args="$vocab_args --vocab $name=$1/ggml-vocab-$name.gguf"
	done
}
