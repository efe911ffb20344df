//go:build cocoon_pprof

package provider

import (
	"net/http"
	_ "net/http/pprof" // the profiles, on http.DefaultServeMux
	"os"
	"runtime"
)

// A binary built with -tags cocoon_pprof (the provider benchmark's profiling run, never a release)
// serves net/http/pprof on COCOON_PROVIDER_PPROF (host:port) and samples blocking and contended
// locks, so that tests/bench can profile the daemon as it runs.
func init() {
	addr := os.Getenv("COCOON_PROVIDER_PPROF")
	if addr == "" {
		return
	}
	runtime.SetBlockProfileRate(10_000) // a sample per 10 µs blocked
	runtime.SetMutexProfileFraction(10)
	go func() { _ = http.ListenAndServe(addr, nil) }()
}
