# Cocoon-Go. `make test` is the one command that runs every test; `make demo` runs the network locally.
GO      ?= go
GOFILES := $(shell git ls-files '*.go' 2>/dev/null)

.PHONY: all build demo demo-check test-load test fmt-check vet go-test go-test-race go-test-purego bpe-vocab-test sandbox-test openai-client-test openai-client-provider-test openai-client-gateway-test contracts contracts-check bench bench-provider bench-client tolk-deps

all: build

# cocoon: the CLI with every verb; cocoon-provider: the small binary for the attested VM.
build:
	$(GO) build -o bin/cocoon ./cmd/cocoon
	$(GO) build -o bin/cocoon-provider ./cmd/cocoon-provider

# The whole network on this machine, each part its own process (cocoon demo): run it again to
# resume it, DEMO_FLAGS=--fresh for a new one; Ctrl-C stops everything.
DEMO_FLAGS ?=
demo: build
	bin/cocoon demo $(DEMO_FLAGS)

# The same on a new network in a temporary folder, every step checked: one line, exit 0 or the
# failed step (under 2 minutes on the 2-core CI machine; docs/BENCHMARKS.md says where it goes).
demo-check: build
	bin/cocoon demo --check $(DEMO_FLAGS)

# Not in `make test`: 100 concurrent streaming clients for 60 s through the demo's gateway, every
# request answered, every delivered token paid exactly once (tests/load; numbers in docs/BENCHMARKS.md).
test-load:
	COCOON_LOAD=1 $(GO) test -count=1 -v -timeout 20m -run TestLoadE2E ./tests/load/

# Every check CI runs, in the order that fails fastest.
test: fmt-check vet contracts-check go-test go-test-race go-test-purego bpe-vocab-test sandbox-test openai-client-test openai-client-provider-test openai-client-gateway-test

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

# The nvml build (real GPU evidence through NVML, cgo) is vetted too, so it keeps compiling.
vet:
	$(GO) vet ./...
	$(GO) vet -tags nvml ./attest/...

go-test:
	$(GO) test -count=1 ./...

# The daemons and what they share run many goroutines against one devnet, store and chain client:
# their tests run again under the race detector (the devnet's own test of concurrent VM runs too).
RACE_PACKAGES := ./chain/txmgr ./service/... ./internal/journal ./internal/h1server ./internal/h1transport ./internal/busypoll ./payment ./provider/... ./client/... ./oracle/... ./indexer/...
go-test-race:
	$(GO) test -race -count=1 -run 'TestConcurrent' ./chain/devnet
	$(GO) test -race -count=1 $(RACE_PACKAGES)

# The portable kernels (-tags purego: what CPUs without AVX2/FMA run) compile, agree with float64 sums
# and give the float64 reference forward pass and the default model's greedy answers (~2 s; the full
# package under purego takes ~30 s and adds nothing the kernels are not already held to).
PUREGO_TESTS := ^(TestKernels|TestQuantDot|TestQuantizeActivations|TestQuantDotKernelsAgree|TestScaleMinsK4|TestForwardMatchesReference|TestKVCacheMatchesFullRecompute|TestDefaultModelGreedyMatchesReference)$$
go-test-purego:
	$(GO) vet -tags purego ./inference/...
	$(GO) test -count=1 -tags purego -run '$(PUREGO_TESTS)' ./inference/llama

# llama.cpp's real BPE vocabularies (not in git; extracted from the pinned node-llama-cpp package, which
# is installed on first use) against the Go tokenizer: TestLlamaCppBPEVocabs.
bpe-vocab-test:
	tools/llamacpp-ref/bpe-vocab-test.sh

tolk-deps:
	@[ -d tolk/node_modules/@ton/tolk-js ] || (cd tolk && npm ci --no-audit --no-fund)

sandbox-test: tolk-deps
	cd tolk && node --test tests/

# The official OpenAI SDK (pinned npm package) against `cocoon model serve`.
openai-client-test:
	tests/openai-client/run.sh

# The same suite against the paid provider daemon (devnet, RA-TLS, a proxy adding the payment headers).
openai-client-provider-test:
	tests/openai-client/run-provider.sh

# The same suite, unchanged, against the client gateway in front of the provider daemon (devnet, an
# oracle's attestation, channels and vouchers), discovering from the chain and from an indexer.
openai-client-gateway-test:
	tests/openai-client/run-gateway.sh

# Recompile every contract into contracts/build (commit the result).
contracts: tolk-deps
	cd tolk && node scripts/compile.js

# Fails when the committed build output differs from a fresh compile.
contracts-check: tolk-deps
	cd tolk && node scripts/compile.js --check

# Benchmarks; numbers go to docs/BENCHMARKS.md by hand with the machine and command. The sandbox
# side of the devnet comparison (tolk/tests/parity/bench.js) runs the same scenarios as tests/parity.
# The indexer's (ingest rate from a prepared devnet history, API latency at 1,000 req/s) print the
# machine's load average beside their figures.
bench: tolk-deps bench-provider bench-client
	$(GO) test -run '^$$' -bench . -benchmem ./...
	cd tolk && node tests/parity/bench.js

# The provider daemon (paid, RA-TLS) against nginx with TLS 1.3 and the bare backend, one fake backend
# for all three; installs nginx-light and wrk when missing; writes docs/BENCHMARKS.md's provider section.
bench-provider:
	tools/bench/provider.sh

# The client gateway in front of the provider daemon against the provider alone and the bare backend,
# one fake backend for all; writes docs/BENCHMARKS.md's client section.
bench-client:
	tools/bench/client.sh
