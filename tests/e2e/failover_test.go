package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/models"
)

// TestProviderKillNineMidStreamE2E: an app streams through the gateway from provider-1, which is
// killed with SIGKILL after a few pieces: the app's stream ends with an error event and no [DONE].
// The next request is answered by provider-2 (the gateway fails over). Restarted (a new RA-TLS key,
// attested again), provider-1 is owed exactly the delivered part of the broken stream: the
// gateway's next request to it carries a voucher for its first answer plus the stream's prompt and
// the completion tokens that reached the app, at its on-chain prices, nothing for the tokens never
// generated; at its stop it claims exactly that voucher.
func TestProviderKillNineMidStreamE2E(t *testing.T) {
	requireGateway(t)
	n, ctx := startNet(t, func(c *demo.Config) {
		c.NoGateway = false
		c.Providers[0].ThresholdTON = "1000" // provider-1 claims only at its stop
	})
	p1, p2 := n.Providers[0], n.Providers[1]
	const prompt = "And God said"

	// The same prompt, answered whole: its prompt tokens are the broken stream's.
	first, err := n.ChatVia(ctx, p1.Endpoint, prompt, 8, nil)
	require.NoError(t, err)
	require.Equal(t, p1.Endpoint, first.Record.Endpoint)

	// A long stream from provider-1, killed after five pieces of text.
	resp := openStream(t, ctx, n, p1.Endpoint, prompt, 200)
	sc := bufio.NewScanner(resp.Body)
	pieces, text := 0, ""
	for pieces < 5 && sc.Scan() {
		if c, ok := streamContent(t, sc.Text()); ok {
			pieces++
			text += c
		}
	}
	require.Equal(t, 5, pieces, "five pieces before the kill")
	p1.Kill()
	var errEvent string
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "data: [DONE]" {
			done = true
		}
		if strings.Contains(line, `"error"`) {
			errEvent = line
			continue
		}
		if c, ok := streamContent(t, line); ok {
			pieces++
			text += c
		}
	}
	resp.Body.Close()
	require.False(t, done, "a broken stream ends without [DONE]")
	require.NotEmpty(t, errEvent, "a broken stream ends with an error event")
	t.Logf("the app got %d pieces (%q), then %s", pieces, text, errEvent)

	// The next request goes to provider-2.
	next, err := n.Chat(ctx, "And the earth", 8, nil)
	require.NoError(t, err)
	require.Equal(t, p2.Endpoint, next.Record.Endpoint, "answered by provider-2")
	t.Logf("failovers of the next request: %s", next.Record.Failovers)

	// provider-1 restarts: the oracles attest its new key, the gateway verifies it again.
	require.NoError(t, p1.Start(ctx))
	eventually(t, "the gateway verifying the restarted provider-1", time.Minute, func() bool {
		ps, err := n.GatewayProviders(ctx)
		if err != nil {
			return false
		}
		for _, gp := range ps {
			if gp.Endpoint == p1.Endpoint && gp.Verified && gp.Verification != nil && gp.Verification.TLSKeyHash == p1.TLSKeyHash() {
				return true
			}
		}
		return false
	})

	// The gateway's next request to provider-1 pays for the delivered part of the stream.
	third, err := n.ChatVia(ctx, p1.Endpoint, "Let there be light", 4, nil)
	require.NoError(t, err)
	require.Equal(t, first.Record.Channel, third.Record.Channel)
	owedBefore := sub(num(t, third.Record.Owed), num(t, third.Record.Cost))
	delivered := sub(owedBefore, num(t, first.Record.Owed))
	// provider-1's prices per token: nanoTON per 1M tokens / 1M
	perToken := func(price string) *big.Int { return new(big.Int).Quo(ton(price), big.NewInt(1_000_000)) }
	promptCost := new(big.Int).Mul(perToken(testPrices.PromptPrice), new(big.Int).SetUint64(first.Record.PromptTokens))
	completion := sub(delivered, promptCost)
	q, r := new(big.Int).QuoRem(completion, perToken(testPrices.CompletionPrice), new(big.Int))
	require.Zero(t, r.Sign(), "the broken stream cost %s: its prompt (%s) and whole completion tokens", delivered, promptCost)
	tokens := q.Int64()
	t.Logf("the broken stream: billed %s nanoTON, %d prompt + %d completion tokens, %d pieces reached the app", delivered, first.Record.PromptTokens, tokens, pieces)
	require.GreaterOrEqual(t, tokens, int64(pieces), "every piece delivered carries a token")
	require.Less(t, tokens, int64(200), "billed less than the tokens the request allowed")
	require.LessOrEqual(t, tokens, int64(pieces)+2, "billed what reached the app (a piece holds one token, at most a held-back few more)")

	// At its stop provider-1 claims exactly the voucher it holds.
	require.NoError(t, p1.Stop(30*time.Second))
	ch, err := address.ParseRawAddr(first.Record.Channel)
	require.NoError(t, err)
	cc := contracts.ChannelClient{Chain: n.Chain, Address: ch}
	eventually(t, "provider-1's claim at its stop", 30*time.Second, func() bool {
		st, err := cc.State(ctx)
		return err == nil && st.AcceptedAmount.Nano().Sign() > 0
	})
	st, err := cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, owedBefore.String(), st.AcceptedAmount.Nano().String(), "claimed: the first answer and the delivered part of the stream")
	require.Equal(t, owedBefore.String(), st.Paid.Nano().String())
}

// requireGateway skips a test that runs the network's processes in -short mode.
func requireGateway(t *testing.T) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the demo network's processes")
	}
}

// openStream sends a streamed chat request through the gateway, answered only by the provider at
// endpoint, and returns the open answer.
func openStream(t *testing.T, ctx context.Context, n *demo.Network, endpoint, prompt string, maxTokens int) *http.Response {
	t.Helper()
	body, err := json.Marshal(map[string]any{"model": models.DefaultModelName, "stream": true, "max_tokens": maxTokens,
		"messages": []map[string]string{{"role": "user", "content": prompt}}, "provider": map[string]any{"only": []string{endpoint}}})
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.GatewayURL+"/v1/chat/completions", bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return resp
}

// streamContent is the text of an SSE line's chunk (ok: it carries text).
func streamContent(t *testing.T, line string) (string, bool) {
	data, ok := strings.CutPrefix(line, "data: ")
	if !ok || data == "[DONE]" {
		return "", false
	}
	var chunk struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal([]byte(data), &chunk) != nil || len(chunk.Choices) == 0 || chunk.Choices[0].Delta.Content == "" {
		return "", false
	}
	return chunk.Choices[0].Delta.Content, true
}

func num(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	require.True(t, ok, "%q is not an amount", s)
	return v
}

func sub(a, b *big.Int) *big.Int { return new(big.Int).Sub(a, b) }
