package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/payment"
)

type gw struct {
	t   *testing.T
	n   *clienttest.Net
	cfg gateway.Config
	g   *gateway.Gateway
	url string
}

func startGateway(t *testing.T, n *clienttest.Net, edit func(*gateway.Config)) *gw {
	t.Helper()
	dir := t.TempDir()
	keyFile, _ := n.MnemonicWallet(dir, 50)
	cfg := gateway.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.Chain, cfg.Registry, cfg.DataDir, cfg.WalletKeyFile, cfg.TDXCollateral = n.Chain, n.Registry.String(), dir+"/data", keyFile, "none"
	if edit != nil {
		edit(&cfg)
	}
	x := &gw{t: t, n: n, cfg: cfg}
	x.start()
	return x
}

func (x *gw) start() {
	x.t.Helper()
	g, err := gateway.New(x.n.Ctx, x.cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
	require.NoError(x.t, err)
	require.NoError(x.t, g.Start(x.n.Ctx))
	x.t.Cleanup(func() { _ = g.Stop(context.Background()) })
	x.g, x.url = g, "http://"+g.Addr()
}

func (x *gw) restart() {
	x.t.Helper()
	require.NoError(x.t, x.g.Stop(x.n.Ctx))
	x.start()
}

func (x *gw) post(path, body string) (*http.Response, []byte) {
	x.t.Helper()
	resp, err := http.Post(x.url+path, "application/json", strings.NewReader(body))
	require.NoError(x.t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(x.t, err)
	return resp, b
}

func (x *gw) get(path string, v any) *http.Response {
	x.t.Helper()
	resp, err := http.Get(x.url + path)
	require.NoError(x.t, err)
	defer resp.Body.Close()
	if v != nil {
		require.NoError(x.t, json.NewDecoder(resp.Body).Decode(v))
	}
	return resp
}

func sse(t *testing.T, body []byte) []string {
	t.Helper()
	events, err := clienttest.ReadSSE(bytes.NewReader(body))
	require.NoError(t, err)
	return events
}

const chat = `{"model":"` + clienttest.ModelName + `","messages":[{"role":"user","content":"hello there"}],"max_tokens":5`

func TestGatewayPaidAnswers(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	x := startGateway(t, n, nil)

	var models struct {
		Data []gateway.ModelObject `json:"data"`
	}
	x.get("/v1/models", &models)
	require.Len(t, models.Data, 1)
	require.Equal(t, clienttest.ModelName, models.Data[0].ID)
	require.Equal(t, "0.1", models.Data[0].Cocoon.Prompt.Min)
	require.Equal(t, "0.2", models.Data[0].Cocoon.Completion.Max)
	require.Equal(t, 1, models.Data[0].Cocoon.Providers)

	resp, body := x.post("/v1/chat/completions", chat+`}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	h := resp.Header
	require.Equal(t, p.Contract.String(), h.Get(gateway.HeaderProvider))
	require.Equal(t, "sim (SIMULATED, NOT A TEE)", h.Get(gateway.HeaderTEE))
	require.Len(t, h.Get(gateway.HeaderMeasurement), 64)
	want := payment.Prices{Prompt: clienttest.PromptPrice, Completion: clienttest.CompletionPrice}.Cost(4, 5)
	require.Equal(t, want.String(), h.Get(payment.HeaderCost))
	require.Equal(t, "true", h.Get(gateway.HeaderVerified))
	require.NotEmpty(t, h.Get(payment.HeaderReceipt))
	id := h.Get("X-Request-Id")
	require.Regexp(t, `^req_[0-9a-f]{32}$`, id)
	var c struct {
		Usage map[string]json.RawMessage `json:"usage"`
	}
	require.NoError(t, json.Unmarshal(body, &c))
	require.JSONEq(t, `{"cost":"`+want.String()+`","cost_ton":"`+payment.FormatTON(want)+`"}`, string(c.Usage["cocoon"]))

	// The lookup endpoint: receipt, decoded, checked, and the provider's report.
	var rec gateway.Record
	require.Equal(t, http.StatusOK, x.get(gateway.RequestsPath+id, &rec).StatusCode)
	require.True(t, rec.ReceiptVerified)
	require.Equal(t, want.String(), rec.Cost)
	require.Equal(t, want.String(), rec.ReceiptFields.Cost)
	require.Equal(t, uint64(5), rec.ReceiptFields.CompletionTokens)
	rep, err := rec.Report()
	require.NoError(t, err)
	require.True(t, rep.OK)
	require.True(t, rep.Simulated)
	require.Equal(t, http.StatusNotFound, x.get(gateway.RequestsPath+"req_nope", nil).StatusCode)

	// Streamed with include_usage: the usage chunk comes last, with the gateway's cost, then
	// [DONE]; the cost and receipt are trailers too.
	sresp, err := http.Post(x.url+"/v1/chat/completions", "application/json", strings.NewReader(chat+`,"stream":true,"stream_options":{"include_usage":true}}`))
	require.NoError(t, err)
	sbody, err := io.ReadAll(sresp.Body)
	require.NoError(t, err)
	sresp.Body.Close()
	events := sse(t, sbody)
	require.Equal(t, "[DONE]", events[len(events)-1])
	var u struct {
		Choices []any                      `json:"choices"`
		Usage   map[string]json.RawMessage `json:"usage"`
	}
	require.NoError(t, json.Unmarshal([]byte(events[len(events)-2]), &u))
	require.Empty(t, u.Choices)
	require.JSONEq(t, `{"cost":"`+want.String()+`","cost_ton":"`+payment.FormatTON(want)+`"}`, string(u.Usage["cocoon"]))
	require.Equal(t, want.String(), sresp.Trailer.Get(payment.HeaderCost))
	require.NotEmpty(t, sresp.Trailer.Get(payment.HeaderReceipt))

	// Without include_usage the app gets no usage chunk (the provider always sends one).
	_, sbody = x.post("/v1/chat/completions", chat+`,"stream":true}`)
	events = sse(t, sbody)
	for _, e := range events {
		require.NotContains(t, e, `"usage":{`)
	}
	require.Equal(t, "[DONE]", events[len(events)-1])

	// Completions.
	resp, body = x.post("/v1/completions", `{"model":"`+clienttest.ModelName+`","prompt":"one two","max_tokens":2}`)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))

	// The status page names the channel.
	var st map[string]any
	x.get(gateway.StatusPath, &st)
	require.Len(t, st["channels"], 1)
}

func TestGatewayUsageCostOff(t *testing.T) {
	n := clienttest.NewNet(t)
	n.StartProvider(clienttest.ProviderOptions{})
	x := startGateway(t, n, func(c *gateway.Config) { c.UsageCost = false })
	resp, body := x.post("/v1/chat/completions", chat+`}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var c struct {
		Usage map[string]json.RawMessage `json:"usage"`
	}
	require.NoError(t, json.Unmarshal(body, &c))
	require.Len(t, c.Usage, 3, "OpenAI's usage fields only: %s", body)
	require.NotEmpty(t, resp.Header.Get(payment.HeaderCost), "the cost is still in the headers")
}

// The gateway's own errors, in OpenAI's shapes.
func TestGatewayErrors(t *testing.T) {
	n := clienttest.NewNet(t)
	n.StartProvider(clienttest.ProviderOptions{})
	unattested := n.StartProvider(clienttest.ProviderOptions{Name: "unattested", NoVote: true})
	x := startGateway(t, n, nil)
	check := func(resp *http.Response, body []byte, status int, code, param, contains string) {
		t.Helper()
		require.Equal(t, status, resp.StatusCode, string(body))
		require.Regexp(t, `^req_[0-9a-f]{32}$`, resp.Header.Get("X-Request-Id"))
		var e struct {
			Error struct {
				Message string  `json:"message"`
				Code    *string `json:"code"`
				Param   *string `json:"param"`
			} `json:"error"`
		}
		require.NoError(t, json.Unmarshal(body, &e), string(body))
		if code == "" {
			require.Nil(t, e.Error.Code)
		} else {
			require.Equal(t, code, *e.Error.Code)
		}
		if param != "" {
			require.Equal(t, param, *e.Error.Param)
		}
		require.Contains(t, e.Error.Message, contains)
	}
	resp, body := x.post("/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`)
	check(resp, body, 404, "model_not_found", "model", "available: "+clienttest.ModelName)
	resp, body = x.post("/v1/chat/completions", `{"model":`)
	check(resp, body, 400, "", "", "could not parse the JSON body")
	resp, body = x.post("/v1/chat/completions", `{"messages":[]}`)
	check(resp, body, 400, "missing_required_parameter", "model", "'model'")
	resp, body = x.post("/v1/chat/completions", chat+`,"provider":{"sort":"vibes"}}`)
	check(resp, body, 400, "invalid_value", "provider.sort", "vibes")
	resp, body = x.post("/v1/chat/completions", chat+`,"provider":{"only":["`+unattested.Contract.String()+`"]}}`)
	check(resp, body, 503, "no_verified_provider", "", "no quorum-confirmed attestation")
	resp, body = x.post("/v1/chat/completions", chat+`,"max_tokens":"ten"}`)
	check(resp, body, 400, "invalid_type", "max_tokens", "expected an integer")
	resp, body = x.post("/v1/embeddings", `{}`)
	check(resp, body, 404, "unknown_url", "", "Unknown request URL")
	r, err := http.Get(x.url + "/v1/chat/completions")
	require.NoError(t, err)
	body, _ = io.ReadAll(r.Body)
	r.Body.Close()
	check(r, body, 405, "method_not_allowed", "", "use POST")

	var ps struct {
		Providers []gateway.ProviderStatus `json:"providers"`
	}
	x.get(gateway.ProvidersPath, &ps)
	require.Len(t, ps.Providers, 2)
	for _, p := range ps.Providers {
		if p.ID == unattested.Contract.String() {
			require.False(t, p.Verified)
			require.Contains(t, p.Report.Refusals[0], "no quorum-confirmed attestation")
		} else {
			require.True(t, p.Verified)
		}
	}
}

// A provider failing after the first content: the app's stream ends with an error event and no
// [DONE], never a silent truncation.
func TestGatewayMidStreamFailure(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	n.StartProvider(clienttest.ProviderOptions{Name: "other", Prompt: big.NewInt(900_000_000), Completion: big.NewInt(900_000_000)})
	x := startGateway(t, n, nil)
	p.Script.BreakAfter(2)
	resp, body := x.post("/v1/chat/completions", chat+`,"stream":true}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, p.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	events := sse(t, body)
	require.NotContains(t, events, "[DONE]")
	require.Contains(t, events[len(events)-1], `"error"`)
	require.Contains(t, strings.Join(events, ""), `"content":"In"`, "the content reached the app first")
}

// A gateway restart between two requests keeps the voucher sequence: the next voucher is for
// exactly the total the receipts justify.
func TestGatewayRestart(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	x := startGateway(t, n, nil)
	resp, _ := x.post("/v1/chat/completions", chat+`}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var rec gateway.Record
	x.get(gateway.RequestsPath+resp.Header.Get("X-Request-Id"), &rec)
	x.restart()
	resp, _ = x.post("/v1/chat/completions", chat+`}`)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	ch, err := address.ParseRawAddr(rec.Channel)
	require.NoError(t, err)
	require.Equal(t, rec.Owed, p.Held(ch).Amount.String(), "the voucher after the restart covers exactly the first answer")
	var again gateway.Record
	x.get(gateway.RequestsPath+rec.ID, &again)
	require.Equal(t, rec.Cost, again.Cost, "records survive a restart")
}
