package main

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// forbiddenDeps must never be linked into the provider binary: its measurement, which the
// registry allow-lists, must not change when the devnet, the explorer, the client or the oracle
// does, and test-only code has no place in an attested image.
var forbiddenDeps = []string{
	"github.com/cocoon-go/cocoon/chain/devnet",
	"github.com/cocoon-go/cocoon/indexer",
	"github.com/cocoon-go/cocoon/client",
	"github.com/cocoon-go/cocoon/oracle",
	"github.com/cocoon-go/cocoon/cmd/cocoon",
	"github.com/cocoon-go/cocoon/chain/chaintest",
	"github.com/xssnick/tonutils-go/tvm/op", // the TVM emulator's instructions (tvm/cell, tvm/tuple are the contracts' data types)
	"github.com/stretchr/testify",
	"github.com/chromedp",
	"github.com/google/go-tdx-guest/testing",
	"github.com/google/go-sev-guest/testing",
	"testing",
	"net/http/httptest",
}

// forbiddenExact are forbidden themselves but not their sub-packages.
var forbiddenExact = []string{
	"github.com/xssnick/tonutils-go/tvm", // the emulator (EmulateTransaction), which only the devnet runs
}

// forbidden reports whether pkg is one of forbiddenDeps or inside one of them, or one of forbiddenExact.
func forbidden(pkg string) (string, bool) {
	for _, f := range forbiddenExact {
		if pkg == f {
			return f, true
		}
	}
	for _, f := range forbiddenDeps {
		if pkg == f || strings.HasPrefix(pkg, f+"/") {
			return f, true
		}
	}
	return "", false
}

func TestProviderBinaryDeps(t *testing.T) {
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	pkgs := strings.Fields(string(out))
	var bad []string
	for _, p := range pkgs {
		if f, ok := forbidden(p); ok {
			bad = append(bad, p+" (forbidden: "+f+")")
		}
	}
	if len(bad) > 0 {
		t.Fatalf("cocoon-provider links packages it must not:\n  %s\n(see `go list -deps ./cmd/cocoon-provider`)", strings.Join(bad, "\n  "))
	}
	// The list really is the binary's: the provider packages are in it.
	for _, want := range []string{"github.com/cocoon-go/cocoon/provider", "github.com/cocoon-go/cocoon/attest", "github.com/cocoon-go/cocoon/inference/llama"} {
		if !strings.Contains("\n"+string(out), "\n"+want+"\n") {
			t.Fatalf("%s is not among the binary's packages:\n%s", want, out)
		}
	}
}

func TestForbidden(t *testing.T) {
	for pkg, want := range map[string]bool{
		"github.com/cocoon-go/cocoon/chain/devnet":       true,
		"github.com/cocoon-go/cocoon/chain/devnet/store": true,
		"github.com/cocoon-go/cocoon/chain/devnetx":      false,
		"github.com/cocoon-go/cocoon/indexer/api":        true,
		"github.com/xssnick/tonutils-go/tvm":             true,
		"github.com/xssnick/tonutils-go/tvm/op/dict":     true,
		"github.com/xssnick/tonutils-go/tvm/cell":        false,
		"github.com/stretchr/testify/require":            true,
		"testing":                                        true,
		"testing/fstest":                                 true,
		"github.com/cocoon-go/cocoon/chain/toncenter":    false,
	} {
		if _, got := forbidden(pkg); got != want {
			t.Errorf("forbidden(%q) = %v, want %v", pkg, got, want)
		}
	}
}
