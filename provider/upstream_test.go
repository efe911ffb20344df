package provider_test

import (
	"context"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

func chatBody(content string, maxTokens int, stream bool) string {
	s := `{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"` + content + `"}],"max_tokens":` + itoa(maxTokens)
	if stream {
		s += `,"stream":true`
	}
	return s + "}"
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// Behind an upstream that reports usage per chunk (vLLM, SGLang): paid answers in both modes; a
// stream the client cuts is billed for the tokens delivered and the upstream request is cancelled;
// a failure before the first token is a 502 and costs nothing; a stream that breaks is billed for
// what it delivered.
func TestUpstreamMetering(t *testing.T) {
	n := providertest.NewNet(t, providertest.Options{})
	fake := &fakeupstream.Server{Models: []string{"fake-model"}}
	p, _ := n.StartProvider(n.UpstreamConfig(t.TempDir(), fake))
	c := n.OpenClient("a", "1").Connect(p)

	cc, r := c.Chat(chatBody("one two three", 5, false))
	require.Equal(t, 5, cc.Usage.CompletionTokens)
	require.Equal(t, uint64(4), r.PromptTokens, "the upstream's count")
	s := c.Stream("/v1/chat/completions", chatBody("one two three", 5, true))
	require.True(t, s.Done)
	require.Equal(t, r.ResponseHash, s.Receipt.ResponseHash, "same content streamed or not")
	so := fake.Requests()[1]["stream_options"].(map[string]any)
	require.Equal(t, true, so["continuous_usage_stats"], "usage per chunk is asked for")

	t.Run("cut by the client", func(t *testing.T) {
		before := c.View()
		owed, _ := new(big.Int).SetString(before.Owed, 10)
		ev := c.OpenStream("/v1/chat/completions", chatBody("a b c pause-after:3", 50, true))
		delivered := 0
		for delivered < 3 {
			d := ev.Next()
			require.NotEmpty(t, d)
			if strings.Contains(d, `"content":"t`) {
				delivered++
			}
		}
		ev.Resp.Body.Close()
		c.HTTP.CloseIdleConnections()
		want := new(big.Int).Add(owed, providertest.Prices.Cost(5, 3)) // the fake counts "a b c pause-after:3" as 4 words + 1
		require.Eventually(t, func() bool { return c.View().Owed == want.String() }, 10*time.Second, 20*time.Millisecond,
			"billed the prompt and the 3 tokens delivered: %s", c.View().Owed)
		require.Eventually(t, func() bool { return fake.Cancelled.Load() == 1 }, 10*time.Second, 20*time.Millisecond, "the upstream request was cancelled")
		v := c.View()
		require.Equal(t, before.CompletionTokens+3, v.CompletionTokens)
		require.Equal(t, "0", v.Reserved)
		c.Owed = want
		c.Prompt, c.Completion = v.PromptTokens, v.CompletionTokens
	})

	t.Run("client leaves a non-streamed answer", func(t *testing.T) {
		// The provider's server notices the client leaving while the answer is generated (a read of
		// its connection once the request has run 1 ms): the upstream request is cancelled and
		// nothing is billed, since nothing was delivered.
		before := c.View()
		cancelled := fake.Cancelled.Load()
		ctx, cancel := context.WithCancel(context.Background())
		req := c.Request("POST", "/v1/chat/completions", chatBody("a b c pause-after:0", 5, false), "")
		done := make(chan error, 1)
		go func() {
			resp, err := c.HTTP.Do(req.WithContext(ctx))
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		require.Eventually(t, func() bool { return c.View().Reserved != "0" }, 10*time.Second, 5*time.Millisecond, "the request was admitted")
		cancel() // closes its connection
		require.ErrorIs(t, <-done, context.Canceled)
		require.Eventually(t, func() bool { return fake.Cancelled.Load() == cancelled+1 }, 10*time.Second, 10*time.Millisecond, "the upstream request was cancelled")
		require.Eventually(t, func() bool { return c.View().Reserved == "0" }, 10*time.Second, 10*time.Millisecond)
		after := c.View()
		require.Equal(t, before.Owed, after.Owed, "no charge")
		require.Equal(t, before.CompletionTokens, after.CompletionTokens)
	})

	t.Run("failure before the first token", func(t *testing.T) {
		before := c.View()
		resp, b := c.Do(c.Request("POST", "/v1/chat/completions", chatBody("fail-status:500", 5, true), ""))
		require.Equal(t, http.StatusBadGateway, resp.StatusCode, "%s", b)
		after := c.View()
		require.Equal(t, before.Owed, after.Owed, "no charge")
		require.Equal(t, before.CompletionTokens, after.CompletionTokens)
		require.Equal(t, "0", after.Reserved)
	})

	t.Run("upstream breaks mid-stream", func(t *testing.T) {
		before := c.View()
		owed, _ := new(big.Int).SetString(before.Owed, 10)
		s := c.Stream("/v1/chat/completions", chatBody("x break-after:2", 10, true))
		require.False(t, s.Done, "no [DONE] after a failure")
		require.Contains(t, s.Events[len(s.Events)-1], `"error"`)
		v := c.View()
		require.Equal(t, new(big.Int).Add(owed, providertest.Prices.Cost(3, 2)).String(), v.Owed, "billed the 2 tokens delivered")
	})
}
