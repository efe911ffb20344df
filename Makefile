# Cocoon-Go. `make test` is the one command that runs every test; `make demo` runs the network locally.
GO      ?= go
GOFILES := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: all build test fmt-check vet go-test sandbox-test openai-client-test contracts contracts-check bench tolk-deps

all: build

build:
	$(GO) build -o bin/cocoon ./cmd/cocoon

# Every check CI runs, in the order that fails fastest.
test: fmt-check vet contracts-check go-test sandbox-test openai-client-test

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The nvml build (real GPU evidence through NVML, cgo) is vetted too, so it keeps compiling.
vet:
	$(GO) vet ./...
	$(GO) vet -tags nvml ./attest/...

go-test:
	$(GO) test -count=1 ./...

tolk-deps:
	@[ -d tolk/node_modules/@ton/tolk-js ] || (cd tolk && npm ci --no-audit --no-fund)

sandbox-test: tolk-deps
	cd tolk && node --test tests/

# The official OpenAI SDK (pinned npm package) against `cocoon model serve`.
openai-client-test:
	tests/openai-client/run.sh

# Recompile every contract into contracts/build (commit the result).
contracts: tolk-deps
	cd tolk && node scripts/compile.js

# Fails when the committed build output differs from a fresh compile.
contracts-check: tolk-deps
	cd tolk && node scripts/compile.js --check

# Benchmarks; numbers go to docs/BENCHMARKS.md by hand with the machine and command. The sandbox
# side of the devnet comparison (tolk/tests/parity/bench.js) runs the same scenarios as tests/parity.
bench: tolk-deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd tolk && node tests/parity/bench.js
