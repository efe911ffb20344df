#!/usr/bin/env bash
# The client gateway benchmark (make bench-client; make bench runs it too): in one run, against one
# fast fake backend on loopback (internal/fakeupstream), the backend directly, the provider daemon in
# front of it paid by the least a client can do (its share), and the client gateway in front of the
# same provider (RA-TLS, vouchers synced, request authorization, receipts checked), one request at a
# time, three rounds of 1,000 requests of each kind interleaved, then 1,000 of each back to back.
# Writes the results between the markers of docs/BENCHMARKS.md's client section and prints them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cd "$root"
COCOON_BENCH=1 COCOON_BENCH_OUT="$out" go test -count=1 -timeout 20m -run '^TestGatewayBenchmark$' ./tests/client >/dev/null
cat "$out"
doc=docs/BENCHMARKS.md
start='<!-- client-bench:start -->'
end='<!-- client-bench:end -->'
if grep -q "$start" "$doc"; then
  awk -v s="$start" -v e="$end" -v f="$out" '
    $0 == s { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" > "$doc.new" && mv "$doc.new" "$doc"
  echo "wrote the results into $doc"
fi
