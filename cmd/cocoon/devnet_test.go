package main

import (
	"bytes"
	"context"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/devnet"
)

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// TestDevnetServeFundRestart runs the real command: serve with a data dir, fund an address,
// advance the clock, stop, serve again and find the funds still there.
func TestDevnetServeFundRestart(t *testing.T) {
	dir := t.TempDir()
	listen := freePort(t)
	rpc := "http://" + listen
	var out bytes.Buffer
	devnetOut = &out
	t.Cleanup(func() { devnetOut = os.Stdout })

	serve := func() (stop func()) {
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- runDevnet(ctx, []string{"--listen", listen, "--data", dir}) }()
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := http.Get(rpc + "/api/v2/getMasterchainInfo")
			if err == nil {
				resp.Body.Close()
				break
			}
			if time.Now().After(deadline) {
				cancel()
				t.Fatalf("devnet did not come up: %v", err)
			}
			time.Sleep(20 * time.Millisecond)
		}
		return func() {
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("devnet exited with %v", err)
			}
		}
	}

	addr := devnet.FaucetAddress.String() // any address will do; this one is easy to name
	stop := serve()
	if err := runDevnet(context.Background(), []string{"fund", "--rpc", rpc, addr, "2.5"}); err != nil {
		t.Fatalf("fund: %v", err)
	}
	if !strings.Contains(out.String(), "balance 2.5 TON") {
		t.Fatalf("fund output %q", out.String())
	}
	if err := runDevnet(context.Background(), []string{"advance", "--rpc", rpc, "7200"}); err != nil {
		t.Fatalf("advance: %v", err)
	}
	if !strings.Contains(out.String(), "(offset 7200s)") {
		t.Fatalf("advance output %q", out.String())
	}
	stop()

	out.Reset()
	stop = serve()
	defer stop()
	if err := runDevnet(context.Background(), []string{"fund", "--rpc", rpc, addr, "1"}); err != nil {
		t.Fatalf("fund after restart: %v", err)
	}
	// 3.5 TON minus the storage fee of an uninitialized account over the two hours skipped.
	if !strings.Contains(out.String(), "balance 3.4999999") {
		t.Fatalf("state lost across restart: %q", out.String())
	}
	if err := runDevnet(context.Background(), []string{"time", "--rpc", rpc}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "(offset 7200s)") {
		t.Fatalf("clock offset lost across restart: %q", out.String())
	}
}

func TestDevnetUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"devnet", "bogus"},
		{"devnet", "extra-arg-after-flags", "x"},
		{"devnet", "--listen"},
		{"devnet", "--block-interval", "-1s"},
		{"devnet", "--block-interval", "soon"},
		{"devnet", "fund"},
		{"devnet", "fund", "--rpc", "http://127.0.0.1:1", "not-an-address", "1"},
		{"devnet", "fund", "--rpc", "http://127.0.0.1:1", devnet.FaucetAddress.String(), "-1"},
		{"devnet", "fund", "--rpc", "ftp://x", devnet.FaucetAddress.String(), "1"},
		{"devnet", "advance", "--rpc", "http://127.0.0.1:1", "soon"},
	} {
		var o, e bytes.Buffer
		if code := run(args, &o, &e); code != 2 {
			t.Errorf("%q: exit code %d, want 2 (stderr %q)", args, code, e.String())
		}
	}
	// A devnet that is not running is an error, not a usage error.
	var o, e bytes.Buffer
	if code := run([]string{"devnet", "time", "--rpc", "http://" + freePort(t)}, &o, &e); code != 1 {
		t.Errorf("unreachable devnet: exit code %d, want 1", code)
	}
}
