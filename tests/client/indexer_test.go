package client

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/indexer"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// startIndexer runs the indexer daemon in-process on the test network until it has seen want
// providers.
func startIndexer(t *testing.T, n *clienttest.Net, want int) *indexer.Indexer {
	t.Helper()
	cfg := indexer.DefaultConfig()
	cfg.Chain, cfg.Registry, cfg.DataDir, cfg.Listen, cfg.Poll, cfg.Now = n.Chain, n.Registry.String(), t.TempDir(), "127.0.0.1:0", 20*time.Millisecond, n.Devnet.Now
	ix, err := indexer.New(n.Ctx, cfg, quiet(), nil)
	require.NoError(t, err)
	require.NoError(t, ix.Start(n.Ctx))
	t.Cleanup(func() { _ = ix.Stop(context.Background()) })
	src := &discover.Indexer{URL: ix.URL(), Chain: n.Chain, Registry: n.Registry}
	require.Eventually(t, func() bool {
		s, err := src.Discover(n.Ctx)
		return err == nil && len(s.Providers) == want
	}, 30*time.Second, 50*time.Millisecond, "the indexer never listed %d providers", want)
	return ix
}

// Discovery through a real indexer finds what the chain scan finds, and a gateway configured
// with --indexer serves paid answers.
func TestDiscoveryThroughTheIndexer(t *testing.T) {
	n := clienttest.NewNet(t)
	a := n.StartProvider(clienttest.ProviderOptions{Name: "a"})
	b := n.StartProvider(clienttest.ProviderOptions{Name: "b", NoVote: true})
	ix := startIndexer(t, n, 2)

	viaIndexer, err := (&discover.Indexer{URL: ix.URL(), Chain: n.Chain, Registry: n.Registry}).Discover(n.Ctx)
	require.NoError(t, err)
	viaChain, err := (&discover.Chain{Client: n.Chain, Registry: n.Registry}).Discover(n.Ctx)
	require.NoError(t, err)
	require.Equal(t, "indexer "+ix.URL(), viaIndexer.Source)
	for _, p := range []*clienttest.TestProvider{a, b} {
		pi, pc := viaIndexer.Provider(p.Contract.String()), viaChain.Provider(p.Contract.String())
		require.NotNil(t, pi)
		require.Equal(t, pc.Endpoint, pi.Endpoint)
		require.Equal(t, pc.Attestation.Attested, pi.Attestation.Attested)
		require.Equal(t, pc.Prices, pi.Prices)
	}

	dir := t.TempDir()
	keyFile, _ := n.MnemonicWallet(dir, 20)
	cfg := gateway.DefaultConfig()
	cfg.Listen, cfg.Chain, cfg.Registry, cfg.Indexer = "127.0.0.1:0", n.Chain, n.Registry.String(), ix.URL()
	cfg.DataDir, cfg.WalletKeyFile, cfg.TDXCollateral = dir+"/client", keyFile, "none"
	g, err := gateway.New(n.Ctx, cfg, quiet(), nil)
	require.NoError(t, err)
	require.NoError(t, g.Start(n.Ctx))
	t.Cleanup(func() { _ = g.Stop(context.Background()) })
	resp, err := http.Post("http://"+g.Addr()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+clienttest.ModelName+`","messages":[{"role":"user","content":"hi"}],"max_tokens":3}`))
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, a.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	require.Equal(t, "true", resp.Header.Get(gateway.HeaderVerified))
}
