#!/usr/bin/env bash
# Runs the official-OpenAI-SDK suite, unchanged, against the client gateway: a block-mode devnet with a
# registry, the provider daemon (embedded demo model, simulated TEE) registered, priced, published and
# attested by an oracle, and the gateway (`cocoon client gateway`) in front of it with a wallet of its
# own, which opens a channel on the first request and pays per token. The suite runs twice: the gateway
# discovering providers from the chain, then from an indexer. The Go side is tests/openai-client/gateway;
# it runs `node --test` on the suite (instruct.test.mjs serves GGUF files of its own, which no registry
# lists, and is left out). Extra arguments go to `go test`.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"
if [ ! -d node_modules/openai ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
cd "$root"
COCOON_SDK_GATEWAY=1 go test -count=1 -run 'TestOpenAISDKAgainstGatewayE2E' ./tests/openai-client/gateway "$@"
