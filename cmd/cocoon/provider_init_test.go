package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/provider"
)

// provider init writes a configuration cocoon-provider accepts and a 0600 settlement wallet, prints
// the on-chain steps, refuses a bad field by name and never overwrites.
func TestProviderInit(t *testing.T) {
	t.Setenv(envRegistry, "")
	dir := filepath.Join(t.TempDir(), "p")
	owner := "0:" + strings.Repeat("ab", 32)
	registry := "0:" + strings.Repeat("cd", 32)
	var out bytes.Buffer
	walletOut = &out
	t.Cleanup(func() { walletOut = os.Stdout })
	var errb bytes.Buffer
	args := []string{"provider", "init", "--dir", dir, "--owner", owner, "--registry", registry, "--tee", "sim",
		"--backend", "upstream", "--upstream-url", "http://127.0.0.1:8000/v1", "--model-name", "llama", "--context-length", "8192",
		"--prompt-price", "0.1", "--completion-price", "0.3"}
	if code := run(args, &out, &errb); code != 0 {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	cfg, err := provider.LoadConfig(filepath.Join(dir, provider.ConfigFileName))
	if err != nil {
		t.Fatal(err)
	}
	if err := cfg.Check(); err != nil {
		t.Fatalf("the written configuration does not check: %v", err)
	}
	if cfg.Models[0].Name != "llama" || cfg.Models[0].ContextLength != 8192 || cfg.Backend.URL != "http://127.0.0.1:8000/v1" || cfg.Owner != owner {
		t.Fatalf("config %+v", cfg)
	}
	st, err := os.Stat(filepath.Join(dir, provider.WalletFileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("wallet file: %v %v", st, err)
	}
	for _, want := range []string{"wrote " + filepath.Join(dir, "provider.json"), "settlement wallet ", "cocoon provider register --registry " + registry,
		"--prompt 0.1 --completion 0.3", "cocoon-provider run --config "} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
	errb.Reset()
	if code := run(args, &out, &errb); code != 1 || !strings.Contains(errb.String(), "never overwrites") {
		t.Fatalf("second init: exit %d %s", code, errb.String())
	}
	errb.Reset()
	bad := []string{"provider", "init", "--dir", t.TempDir(), "--owner", owner, "--registry", registry, "--backend", "upstream"}
	if code := run(bad, &out, &errb); code != 2 || !strings.Contains(errb.String(), "backend.url") || !strings.Contains(errb.String(), "models[0].name is required") {
		t.Fatalf("bad init: exit %d %s", code, errb.String())
	}
}
