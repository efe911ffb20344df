package route_test

import (
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/payment"
)

func TestParseRequestRemovesOnlyTheRoutingObject(t *testing.T) {
	body := []byte(`{"model":"m","provider":{"order":["b"],"sort":"price","max_price":{"prompt":0.5,"completion":1},"allow_fallbacks":false},` +
		`"messages":[{"role":"user","content":"hi \u00e9"}],"seed":18446744073709551615,"temperature":0.10000000000000001,"stream":true,` +
		`"stream_options":{"include_usage":true},"n":2,"max_tokens":8,"max_completion_tokens":5,"tools":[{"type":"function"}],"logprobs":false}`)
	r, err := route.ParseRequest(body)
	require.NoError(t, err)
	require.Equal(t, `{"model":"m","messages":[{"role":"user","content":"hi \u00e9"}],"seed":18446744073709551615,"temperature":0.10000000000000001,"stream":true,`+
		`"stream_options":{"include_usage":true},"n":2,"max_tokens":8,"max_completion_tokens":5,"tools":[{"type":"function"}],"logprobs":false}`, string(r.Body),
		"every other value keeps its bytes")
	require.Equal(t, "m", r.Model)
	require.True(t, r.Stream && r.IncludeUsage)
	require.Equal(t, 2, r.N)
	require.Equal(t, 5, *r.MaxTokens, "max_completion_tokens wins")
	require.Contains(t, r.Features, "tools")
	require.NotContains(t, r.Features, "logprobs", "false is a no-op")
	require.Equal(t, []string{"b"}, r.Prefs.Order)
	require.False(t, r.Prefs.Fallbacks())

	plain := []byte(`{"model":"m","max_tokens":"ten"}`)
	r, err = route.ParseRequest(plain)
	require.NoError(t, err, "a bad max_tokens is the provider's to refuse")
	require.Same(t, &plain[0], &r.Body[0], "a body without a routing object is sent as it came")
	require.Nil(t, r.MaxTokens)

	for _, bad := range []string{`{"model":`, `[1]`, `{"a":1} x`, ``} {
		_, err := route.ParseRequest([]byte(bad))
		require.ErrorIs(t, err, route.ErrBody, bad)
	}
	var pe *route.ParamError
	_, err = route.ParseRequest([]byte(`{"provider":{"sort":"fastest"}}`))
	require.True(t, errors.As(err, &pe))
	require.Equal(t, "provider.sort", pe.Param)
	_, err = route.ParseRequest([]byte(`{"provider":{"colour":"red"}}`))
	require.True(t, errors.As(err, &pe))
	_, err = route.ParseRequest([]byte(`{"provider":{"max_price":{"prompt":-1}}}`))
	require.True(t, errors.As(err, &pe))
}

func cand(id string, prompt, completion int64, ttft time.Duration, tps, uptime float64) route.Candidate {
	s := route.Stats{TTFT: ttft, TokensPerSecond: tps, Uptime: uptime}
	if ttft > 0 || uptime > 0 {
		s.Requests = 1
	}
	return route.Candidate{ID: id, Names: []string{id, id + "-owner"}, Prices: payment.Prices{Prompt: big.NewInt(prompt), Completion: big.NewInt(completion)}, Stats: s}
}

func ids(cs []route.Candidate) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func TestPlan(t *testing.T) {
	cs := []route.Candidate{
		cand("cheap-slow", 100, 100, 2*time.Second, 10, 1),
		cand("dear-fast", 300, 300, 10*time.Millisecond, 100, 1),
		cand("mid-flaky", 150, 150, 50*time.Millisecond, 50, 0.3),
		cand("new", 120, 120, 0, 0, 0),
	}
	ordered, _ := route.Plan(cs, nil, nil)
	// Scores: cheap-slow 1×3 = 3; dear-fast 3×1.01 = 3.03; mid-flaky 1.5×1.05/0.3 = 5.25;
	// new 1.2×(1+median 0.05) = 1.26.
	require.Equal(t, []string{"new", "cheap-slow", "dear-fast", "mid-flaky"}, ids(ordered))

	by := func(sort string) []string {
		o, _ := route.Plan(cs, &route.Preferences{Sort: sort}, nil)
		return ids(o)
	}
	require.Equal(t, []string{"cheap-slow", "new", "mid-flaky", "dear-fast"}, by(route.SortPrice))
	require.Equal(t, []string{"dear-fast", "mid-flaky", "cheap-slow", "new"}, by(route.SortLatency))
	require.Equal(t, []string{"dear-fast", "mid-flaky", "cheap-slow", "new"}, by(route.SortThroughput))

	no := false
	ordered, excluded := route.Plan(cs, &route.Preferences{Order: []string{"mid-flaky-owner", "dear-fast"}, Ignore: []string{"new"}}, nil)
	require.Equal(t, []string{"mid-flaky", "dear-fast", "cheap-slow"}, ids(ordered))
	require.Contains(t, excluded["new"], "ignore")
	ordered, excluded = route.Plan(cs, &route.Preferences{Order: []string{"dear-fast"}, AllowFallbacks: &no}, nil)
	require.Equal(t, []string{"dear-fast"}, ids(ordered))
	require.Contains(t, excluded["cheap-slow"], "allow_fallbacks")
	ordered, _ = route.Plan(cs, &route.Preferences{AllowFallbacks: &no}, nil)
	require.Equal(t, []string{"new"}, ids(ordered))

	ordered, excluded = route.Plan(cs, &route.Preferences{Only: []string{"cheap-slow", "dear-fast"}}, nil)
	require.Equal(t, []string{"cheap-slow", "dear-fast"}, ids(ordered))
	require.Contains(t, excluded["new"], "only")

	// max_price is TON per 1M tokens: 0.00000012 TON = 120 nanoTON.
	mp := "0.00000012"
	n := jsonNumber(mp)
	ordered, excluded = route.Plan(cs, &route.Preferences{MaxPrice: &route.MaxPrice{Prompt: &n}}, nil)
	require.Equal(t, []string{"cheap-slow", "new"}, ids(ordered), "new is scored with the median latency of the kept ones")
	require.Contains(t, excluded["mid-flaky"], "max_price.prompt")

	refusing := cs[1]
	refusing.Refuses = map[string]bool{"tools": true}
	cheaper := refusing
	cheaper.Prices = payment.Prices{Prompt: big.NewInt(1), Completion: big.NewInt(1)}
	ordered, _ = route.Plan([]route.Candidate{cheaper, cs[0]}, nil, []string{"model", "tools"})
	require.Equal(t, []string{"dear-fast", "cheap-slow"}[1:], ids(ordered)[:1], "a backend that refused tools goes last")
	require.Equal(t, "dear-fast", ids(ordered)[1])
	ordered, _ = route.Plan([]route.Candidate{cheaper, cs[0]}, nil, []string{"model"})
	require.Equal(t, "dear-fast", ids(ordered)[0], "without tools it is the cheapest again")
}

func TestTracker(t *testing.T) {
	tr := route.NewTracker()
	tr.Success("p", 100*time.Millisecond, 1100*time.Millisecond, 11)
	s, _ := tr.Get("p")
	require.Equal(t, 100*time.Millisecond, s.TTFT)
	require.InDelta(t, 10.0, s.TokensPerSecond, 1e-9)
	require.Equal(t, 1.0, s.Uptime)
	tr.Failure("p", errors.New("down"))
	s, _ = tr.Get("p")
	require.InDelta(t, 0.8, s.Uptime, 1e-9)
	require.Equal(t, "down", s.LastError)
	tr.Refuse("p", "tools")
	_, r := tr.Get("p")
	require.True(t, r["tools"])
	require.Equal(t, "response_format", route.TopField("response_format.type"))
	require.Equal(t, "messages", route.TopField("messages[0].content"))
}

func jsonNumber(s string) (n json.Number) { return json.Number(s) }
