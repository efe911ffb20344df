#!/usr/bin/env bash
# The provider benchmark (make bench-provider; make bench runs it too): in one run, against one
# fast fake backend on loopback (tools/fakeupstream), the backend directly, nginx with TLS 1.3 in
# front of it, and the provider daemon in front of it serving paid requests (RA-TLS, connection
# authorization or a signature on each request, voucher, admission, metering, receipt signed by the
# attested key, journal).
# Installs Debian's nginx-light and wrk when missing (apt-get; needs root). Writes the results
# between the markers of docs/BENCHMARKS.md's provider section and prints them.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
if ! command -v nginx >/dev/null || ! command -v wrk >/dev/null; then
  if [ "$(id -u)" = 0 ]; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light wrk >/dev/null
  else
    echo "provider benchmark: needs nginx and wrk (apt-get install nginx-light wrk)" >&2; exit 1
  fi
fi
out="$(mktemp)"
trap 'rm -f "$out"' EXIT
cd "$root"
COCOON_BENCH=1 COCOON_BENCH_OUT="$out" go test -count=1 -timeout 20m -run '^TestProviderBenchmark$' -v ./tests/bench | grep -v '^=== ' | tail -n 30
doc=docs/BENCHMARKS.md
start='<!-- provider-bench:start -->'
end='<!-- provider-bench:end -->'
if grep -q "$start" "$doc"; then
  awk -v s="$start" -v e="$end" -v f="$out" '
    $0 == s { print; while ((getline line < f) > 0) print line; skip = 1; next }
    $0 == e { skip = 0 }
    !skip { print }' "$doc" > "$doc.new" && mv "$doc.new" "$doc"
  echo "wrote the results into $doc"
fi
