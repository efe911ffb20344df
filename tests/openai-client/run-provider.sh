#!/usr/bin/env bash
# Runs the official-OpenAI-SDK suite against the provider daemon: a block-mode devnet with a
# registry, a registered and priced provider serving the demo model over RA-TLS (simulated TEE),
# a channel, and a thin local proxy that adds the payment headers (the channel, a voucher for what
# is owed, the request signed with the channel key) and takes the payment out of the answers, as a
# client gateway does. The Go side is tests/openai-client/provider; it runs `node --test` on the
# suite (instruct.test.mjs serves other GGUF files, which no registry lists, and is left out).
# Extra arguments go to `go test`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
[ -d node_modules/openai ] || npm ci --no-audit --no-fund --loglevel=error
COCOON_SDK_PROVIDER=1 go test -count=1 -run 'TestOpenAISDKAgainstProviderE2E' ./provider "$@"
