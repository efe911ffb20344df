package client

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/tests/client/clientnet"
)

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// Discovery through a real indexer finds what the chain scan finds, and a gateway configured
// with --indexer serves paid answers.
func TestDiscoveryThroughTheIndexer(t *testing.T) {
	n := clienttest.NewNet(t)
	a := n.StartProvider(clienttest.ProviderOptions{Name: "a"})
	b := n.StartProvider(clienttest.ProviderOptions{Name: "b", NoVote: true})
	ixURL := (&clientnet.Net{Net: n}).Indexer(2)

	viaIndexer, err := (&discover.Indexer{URL: ixURL, Chain: n.Chain, Registry: n.Registry}).Discover(n.Ctx)
	require.NoError(t, err)
	viaChain, err := (&discover.Chain{Client: n.Chain, Registry: n.Registry}).Discover(n.Ctx)
	require.NoError(t, err)
	require.Equal(t, "indexer "+ixURL, viaIndexer.Source)
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
	cfg.Listen, cfg.Chain, cfg.Registry, cfg.Indexer = "127.0.0.1:0", n.Chain, n.Registry.String(), ixURL
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
