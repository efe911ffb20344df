package provider_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

// startErr starts cfg, which must fail, and returns the error (the daemon stops cleanly).
func startErr(t *testing.T, n *providertest.Net, cfg provider.Config) error {
	t.Helper()
	p, err := provider.New(n.Ctx, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(t, err)
	err = p.Start(n.Ctx)
	require.Error(t, err)
	require.NoError(t, p.Stop(context.Background()))
	return err
}

// At start the daemon checks the chain and says what is missing and how to fix it.
func TestChainCheck(t *testing.T) {
	for _, c := range []struct {
		name string
		o    providertest.Options
		want []string
	}{
		{"not registered", providertest.Options{NoRegister: true}, []string{"has no registered provider", "fix: cocoon provider register"}},
		{"no endpoint", providertest.Options{NoEndpoint: true}, []string{"no endpoint on-chain", "fix: cocoon provider set-endpoint"}},
		{"not priced", providertest.Options{NoPrice: true}, []string{"has no price on the provider's contract",
			"fix: cocoon provider set-price --registry", "--model-id 7 --prompt 100 --completion 200"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			n := providertest.NewNet(t, c.o)
			err := startErr(t, n, n.Config(t.TempDir()))
			var ce *provider.ChainCheckError
			require.ErrorAs(t, err, &ce)
			for _, w := range c.want {
				require.Contains(t, err.Error(), w)
			}
		})
	}
	t.Run("weights the catalog does not list", func(t *testing.T) {
		n := providertest.NewNet(t, providertest.Options{OtherWeights: true})
		require.ErrorIs(t, startErr(t, n, n.Config(t.TempDir())), backend.ErrHashMismatch)
	})
	t.Run("simulated TEE under a testnet registry", func(t *testing.T) {
		n := providertest.NewNet(t, providertest.Options{Kind: contracts.NetworkTestnet})
		err := startErr(t, n, n.Config(t.TempDir()))
		require.ErrorContains(t, err, "the simulated TEE is for a devnet registry only")
	})
	t.Run("no TEE, no fallback", func(t *testing.T) {
		n := providertest.NewNet(t, providertest.Options{})
		cfg := n.Config(t.TempDir())
		cfg.TEE = "auto"
		err := startErr(t, n, cfg)
		require.ErrorContains(t, err, "the simulated TEE is for the devnet only and must be asked for")
	})
}

// A model the provider does not price on-chain is not served (it would be served for free).
func TestUnpricedModelNotServed(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	name, err := contracts.TextCell("unpriced", contracts.MaxModelNameBytes)
	require.NoError(t, err)
	n.Govern(contracts.AddModel{ModelID: 8, WeightsHash: make([]byte, 32), Name: name})
	cfg := n.UpstreamConfig(t.TempDir(), &fakeupstream.Server{})
	cfg.Models = append(cfg.Models, provider.ModelConfig{Name: "unpriced", ContextLength: 1024})
	p, logs := n.StartProvider(cfg)
	require.Contains(t, providertest.ReadFile(logs), `msg="not serving a model that is not priced on-chain" model=unpriced`)
	require.Len(t, p.Info().Models, 1)
	c := n.OpenClient("a", "1").Connect(p)
	resp, b := c.Do(c.Request("POST", "/v1/chat/completions", strings.Replace(chatBody("x", 2, false), models.DefaultModelName, "unpriced", 1), ""))
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), "model_not_found")
}

// The limits: request body size, per-channel rate, concurrent requests per model.
func TestLimits(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	fake := &fakeupstream.Server{}
	cfg := n.UpstreamConfig(t.TempDir(), fake)
	cfg.Limits.MaxBodyBytes = 2048
	cfg.Limits.ChannelRate, cfg.Limits.ChannelBurst = 0.01, 3
	cfg.Models[0].MaxConcurrent = 1
	p, _ := n.StartProvider(cfg)
	c := n.OpenClient("a", "1").Connect(p)

	resp, b := c.Do(c.Request("POST", "/v1/chat/completions", chatBody(strings.Repeat("x", 3000), 2, false), ""))
	require.Equal(t, http.StatusRequestEntityTooLarge, resp.StatusCode, "%s", b)

	// One request holds the model's only slot: another gets 429 at once.
	ev := c.OpenStream("/v1/chat/completions", chatBody("pause-after:1", 5, true))
	require.NotEmpty(t, ev.Next())
	d := n.OpenClient("d", "1").Connect(p)
	resp, b = d.Do(d.Request("POST", "/v1/chat/completions", chatBody("x", 2, false), ""))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), "rate_limit_exceeded")
	ev.Resp.Body.Close()
	require.Eventually(t, func() bool { return fake.Cancelled.Load() == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Eventually(t, func() bool {
		resp, _ := d.Do(d.Request("POST", "/v1/chat/completions", chatBody("x", 2, false), ""))
		return resp.StatusCode == http.StatusOK
	}, 10*time.Second, 10*time.Millisecond, "the slot is free again once the stream ended")

	// The channel's burst of 3: the stream was one (the 413 did not count: it was refused before the
	// payment checks), two more pass, the next is refused.
	c.Learn(c.View()) // the view is not rate limited
	c.Chat(chatBody("x", 2, false))
	c.Chat(chatBody("x", 2, false))
	resp, b = c.Do(c.Request("POST", "/v1/chat/completions", chatBody("x", 2, false), ""))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, "%s", b)
	require.Contains(t, string(b), "at most 0.01 a second")
}
