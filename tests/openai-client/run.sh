#!/usr/bin/env bash
# Runs the official-OpenAI-SDK suite against `cocoon model serve`, independent of the Makefile:
# installs the pinned SDK (npm ci) when node_modules is missing, builds cocoon once, runs node --test.
# Needs go and node >= 20 on PATH. Extra arguments go to `node --test` (e.g. --test-name-pattern).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
cd "$here"

if [ ! -d node_modules/openai ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$root" && go build -o "$tmp/cocoon" ./cmd/cocoon)

# One file at a time: each starts its own server, and the embedded model serves one request at a time.
COCOON_BIN="$tmp/cocoon" node --test --test-concurrency=1 "$@" test/*.test.mjs
