// Package e2e runs the demo's network (package demo: a devnet, oracles, providers, the indexer,
// the client gateway, each its own process on loopback) and breaks it: processes killed with
// SIGKILL mid-stream and mid-ingestion, oracles down, forged and replayed payments, a revoked
// measurement, a channel closed with a voucher unclaimed. Every test checks what the network
// promises still holds, from the chain and the daemons' own APIs.
package e2e

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

// bins are the binaries the networks run, built once by TestMain.
var bins struct {
	cocoon, provider string
}

func TestMain(m *testing.M) {
	if !testingShort() {
		dir, err := os.MkdirTemp("", "cocoon-e2e-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		if err := build(dir); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
		bins.cocoon, bins.provider = filepath.Join(dir, "cocoon"), filepath.Join(dir, "cocoon-provider")
		code := m.Run()
		os.RemoveAll(dir)
		os.Exit(code)
	}
	os.Exit(m.Run())
}

func testingShort() bool {
	for _, a := range os.Args {
		if a == "-test.short" || a == "-test.short=true" {
			return true
		}
	}
	return false
}

// build compiles cocoon and cocoon-provider into dir.
func build(dir string) error {
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		return fmt.Errorf("go list -m: %w", err)
	}
	for _, b := range []struct{ out, pkg string }{{"cocoon", "./cmd/cocoon"}, {"cocoon-provider", "./cmd/cocoon-provider"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = strings.TrimSpace(string(root))
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go build %s: %v\n%s", b.pkg, err, out)
		}
	}
	return nil
}

// blockInterval is the tests' devnet block time: every hop of a cascade still waits for a later
// block, only faster than TON's 400 ms.
const blockInterval = 100 * time.Millisecond

// testPrices are provider-1's prices: providertest's, so that its paying client checks receipts.
var testPrices = demo.ProviderSpec{PromptPrice: "100", CompletionPrice: "200"}

// startNet starts a network for t and stops it when t ends; change edits its configuration (the
// gateway is left out unless change sets NoGateway false).
func startNet(t *testing.T, change func(*demo.Config)) (*demo.Network, context.Context) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the demo network's processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	t.Cleanup(cancel)
	cfg := demo.Config{DataDir: filepath.Join(t.TempDir(), "net"), Cocoon: bins.cocoon, CocoonProvider: bins.provider,
		RandomPorts: true, GatewayListen: "127.0.0.1:0", ExplorerListen: "127.0.0.1:0", BlockInterval: blockInterval,
		Out: &testWriter{t: t}, StopTimeout: 20 * time.Second, NoGateway: true,
		Providers: []demo.ProviderSpec{
			{Name: "provider-1", PromptPrice: testPrices.PromptPrice, CompletionPrice: testPrices.CompletionPrice},
			{Name: "provider-2", PromptPrice: "150", CompletionPrice: "300"},
		}}
	if change != nil {
		change(&cfg)
	}
	n, err := demo.Start(ctx, cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := n.Stop(stopCtx); err != nil {
			t.Errorf("stopping the network: %v", err)
		}
		if t.Failed() {
			for _, p := range n.Procs() {
				t.Logf("---- the end of %s's log:\n%s", p.Name, p.Tail(40))
			}
		}
	})
	return n, ctx
}

// testWriter logs each line of the demo's progress.
type testWriter struct {
	t   *testing.T
	mu  sync.Mutex
	buf []byte
}

func (w *testWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, b...)
	for {
		i := strings.IndexByte(string(w.buf), '\n')
		if i < 0 {
			break
		}
		w.t.Log(string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	return len(b), nil
}

// payingClient opens a channel to p with deposit TON from a new wallet and returns providertest's
// client for it: it speaks the paid protocol to the provider directly and checks every receipt
// against providertest.Prices (provider-1's prices here).
func payingClient(t *testing.T, ctx context.Context, n *demo.Network, p *demo.Provider, seed, deposit string) *providertest.Client {
	t.Helper()
	w := providertest.SeededWallet(t, "e2e client "+seed, -239)
	require.NoError(t, n.Fund(ctx, w.Address(), 20))
	o, err := n.WalletOps(w)
	require.NoError(t, err)
	s := sha256.Sum256([]byte("e2e channel key " + seed))
	key := ed25519.NewKeyFromSeed(s[:])
	plan, err := o.PlanOpen(ctx, ops.OpenInput{ProviderOwner: p.Owner, ClientKey: key.Public().(ed25519.PublicKey), Deposit: ton(deposit)})
	require.NoError(t, err)
	_, err = o.SendOpen(ctx, plan)
	require.NoError(t, err)
	c := &providertest.Client{T: t, N: &providertest.Net{T: t, Ctx: ctx, ModelID: demo.ModelID}, O: o, Key: key, Ch: plan.Channel, Owed: new(big.Int)}
	return c.ConnectAddr(p.Addr)
}

func ton(s string) *big.Int {
	n, err := wallet.ParseTON(s)
	if err != nil {
		panic(err)
	}
	return n
}

// eventually polls cond every 100 ms until it holds or timeout passes.
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func chatBody(prompt string, maxTokens int, stream bool) string {
	return fmt.Sprintf(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":%q}],"max_tokens":%d,"temperature":0,"stream":%v}`,
		prompt, maxTokens, stream)
}
