#!/bin/sh
# Regenerates models/testdata/chat-template-reference.json (Jinja and llama.cpp chat renderings, and
# llama.cpp's prompt tokens on a test model) and runs the Go tests against it. Needs Node >= 20, npm
# and gcc (see chat-README.md).
. "$(dirname "$0")/lib/regen.sh"
dir=$scratch
cd "$root"
go test ./inference/backend/embedded -count=1 -run '^TestWriteChatModel$' -chat.write="$dir/chat-llama3.gguf"
(cd tools/llamacpp-ref && node chat-reference.mjs --model "$dir/chat-llama3.gguf")
go test ./inference/backend/embedded -count=1 -run 'Chat' -v | grep -E '^(\s*---|ok|FAIL)|renderings'
