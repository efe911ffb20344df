// Package clientnet is the end-to-end network of the client's tests, the OpenAI SDK runner against
// the gateway and the gateway benchmark: clienttest's devnet and registry (an oracle that attests,
// the simulated TEE allowed), with the real provider daemon (package provider, in-process,
// simulated TEE) as the providers, registered, priced, published and attested, and the client
// gateway in front of them.
package clientnet

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/models"
)

// Catalog entries the network adds beside clienttest's: the embedded demo model, and the model the
// fake upstream serves.
const (
	DemoModelID = 2
	FakeModel   = "fake-model"
	FakeModelID = 3
)

// Net is the network.
type Net struct {
	*clienttest.Net
	seq atomic.Int64
}

// New builds the network.
func New(t testing.TB) *Net {
	t.Helper()
	n := &Net{Net: clienttest.NewNet(t)}
	demo, err := hex.DecodeString(models.DefaultSHA256)
	must(t, err)
	n.AddModel(DemoModelID, models.DefaultModelName, [32]byte(demo))
	n.AddModel(FakeModelID, FakeModel, sha256.Sum256([]byte(FakeModel)))
	return n
}

// Indexer runs the indexer daemon in-process on the network until its API lists want providers,
// and returns its URL.
func (n *Net) Indexer(want int) string {
	n.T.Helper()
	cfg := indexer.DefaultConfig()
	cfg.Chain, cfg.Registry, cfg.DataDir, cfg.Listen, cfg.Poll, cfg.Now = n.Chain, n.Registry.String(), n.T.TempDir(), "127.0.0.1:0", 20*time.Millisecond, n.Devnet.Now
	ix, err := indexer.New(n.Ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	must(n.T, err)
	must(n.T, ix.Start(n.Ctx))
	n.T.Cleanup(func() { _ = ix.Stop(context.Background()) })
	src := &discover.Indexer{URL: ix.URL(), Chain: n.Chain, Registry: n.Registry}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := src.Discover(n.Ctx)
		if err == nil && len(s.Providers) == want {
			return ix.URL()
		}
		if time.Now().After(deadline) {
			n.T.Fatalf("the indexer never listed %d providers (last: %v)", want, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Gateway is a client gateway started in-process with a funded wallet of its own.
type Gateway struct {
	*gateway.Gateway
	URL string
	Cfg gateway.Config
}

// Gateway starts a gateway (50 TON in its wallet, 5 TON channel deposits); edit changes the
// configuration first.
func (n *Net) Gateway(edit func(*gateway.Config)) *Gateway {
	n.T.Helper()
	dir := filepath.Join(n.T.TempDir(), "gateway")
	must(n.T, os.MkdirAll(dir, 0o700))
	keyFile, _ := n.MnemonicWallet(dir, 50)
	cfg := gateway.DefaultConfig()
	cfg.Listen, cfg.Chain, cfg.Registry, cfg.DataDir, cfg.WalletKeyFile = "127.0.0.1:0", n.Chain, n.Registry.String(), filepath.Join(dir, "data"), keyFile
	cfg.TDXCollateral, cfg.Deposit = "none", "5"
	if edit != nil {
		edit(&cfg)
	}
	g := &Gateway{Cfg: cfg}
	g.start(n)
	return g
}

func (g *Gateway) start(n *Net) {
	n.T.Helper()
	gw, err := gateway.New(n.Ctx, g.Cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	must(n.T, err)
	must(n.T, gw.Start(n.Ctx))
	n.T.Cleanup(func() { _ = gw.Stop(context.Background()) })
	g.Gateway, g.URL = gw, "http://"+gw.Addr()
}

// Restart stops the gateway and starts it again on the same store.
func (g *Gateway) Restart(n *Net) {
	n.T.Helper()
	must(n.T, g.Stop(n.Ctx))
	g.start(n)
}

func ton(s string) *big.Int {
	n, err := wallet.ParseTON(s)
	if err != nil {
		panic(err)
	}
	return n
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
