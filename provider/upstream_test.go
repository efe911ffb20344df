package provider_test

import (
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/models"
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
	n := newTestNet(t, netOptions{kind: contracts.NetworkDevnet})
	fake := &fakeupstream.Server{Models: []string{"fake-model"}}
	p, _ := n.startProvider(n.upstreamConfig(t.TempDir(), fake))
	c := n.openClient("a", "1").connect(p)

	cc, r := c.chat(chatBody("one two three", 5, false))
	require.Equal(t, 5, cc.Usage.CompletionTokens)
	require.Equal(t, uint64(4), r.PromptTokens, "the upstream's count")
	s := c.stream("/v1/chat/completions", chatBody("one two three", 5, true))
	require.True(t, s.done)
	require.Equal(t, r.ResponseHash, s.receipt.ResponseHash, "same content streamed or not")
	so := fake.Requests()[1]["stream_options"].(map[string]any)
	require.Equal(t, true, so["continuous_usage_stats"], "usage per chunk is asked for")

	t.Run("cut by the client", func(t *testing.T) {
		before := c.view()
		owed, _ := new(big.Int).SetString(before.Owed, 10)
		ev := c.openStream("/v1/chat/completions", chatBody("a b c pause-after:3", 50, true))
		delivered := 0
		for delivered < 3 {
			d := ev.next()
			require.NotEmpty(t, d)
			if strings.Contains(d, `"content":"t`) {
				delivered++
			}
		}
		ev.resp.Body.Close()
		c.http.CloseIdleConnections()
		want := new(big.Int).Add(owed, promptPrice.Cost(5, 3)) // the fake counts "a b c pause-after:3" as 4 words + 1
		require.Eventually(t, func() bool { return c.view().Owed == want.String() }, 10*time.Second, 20*time.Millisecond,
			"billed the prompt and the 3 tokens delivered: %s", c.view().Owed)
		require.Eventually(t, func() bool { return fake.Cancelled.Load() == 1 }, 10*time.Second, 20*time.Millisecond, "the upstream request was cancelled")
		v := c.view()
		require.Equal(t, before.CompletionTokens+3, v.CompletionTokens)
		require.Equal(t, "0", v.Reserved)
		c.owed = want
		c.prompt, c.completion = v.PromptTokens, v.CompletionTokens
	})

	t.Run("failure before the first token", func(t *testing.T) {
		before := c.view()
		resp, b := c.do(c.request("POST", "/v1/chat/completions", chatBody("fail-status:500", 5, true), ""))
		require.Equal(t, http.StatusBadGateway, resp.StatusCode, "%s", b)
		after := c.view()
		require.Equal(t, before.Owed, after.Owed, "no charge")
		require.Equal(t, before.CompletionTokens, after.CompletionTokens)
		require.Equal(t, "0", after.Reserved)
	})

	t.Run("upstream breaks mid-stream", func(t *testing.T) {
		before := c.view()
		owed, _ := new(big.Int).SetString(before.Owed, 10)
		s := c.stream("/v1/chat/completions", chatBody("x break-after:2", 10, true))
		require.False(t, s.done, "no [DONE] after a failure")
		require.Contains(t, s.events[len(s.events)-1], `"error"`)
		v := c.view()
		require.Equal(t, new(big.Int).Add(owed, promptPrice.Cost(3, 2)).String(), v.Owed, "billed the 2 tokens delivered")
	})
}
