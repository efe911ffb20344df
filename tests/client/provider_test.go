package client

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/tests/client/clientnet"
)

func post(t *testing.T, url, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body))
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	resp.Body.Close()
	return resp, b
}

func fake(prompt string, extra string) string {
	return `{"model":"` + clientnet.FakeModel + `","messages":[{"role":"user","content":"` + prompt + `"}],"max_tokens":6` + extra + `}`
}

func record(t *testing.T, g *clientnet.Gateway, id string) gateway.Record {
	t.Helper()
	resp, err := http.Get(g.URL + gateway.RequestsPath + id)
	require.NoError(t, err)
	defer resp.Body.Close()
	var r gateway.Record
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&r))
	return r
}

// The gateway in front of the real provider daemon (embedded demo model, simulated TEE): paid
// answers streamed and not, receipts from the daemon verified, costs at the on-chain prices, a
// gateway restart between two requests continuing the voucher sequence.
func TestGatewayAndProviderDaemon(t *testing.T) {
	n := clientnet.New(t)
	d := n.Start(clientnet.Options{})
	g := n.Gateway(nil)

	body := `{"model":"` + models.DefaultModelName + `","messages":[{"role":"user","content":"Who created the heaven and the earth?"}],"max_tokens":8,"temperature":0}`
	resp, b := post(t, g.URL, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	require.Equal(t, d.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	require.Equal(t, "true", resp.Header.Get(gateway.HeaderVerified))
	require.Equal(t, "sim (SIMULATED, NOT A TEE)", resp.Header.Get(gateway.HeaderTEE))
	first := record(t, g, resp.Header.Get("X-Request-Id"))
	require.True(t, first.ReceiptVerified, first.Problem)
	require.Equal(t, uint64(8), first.CompletionTokens)

	sresp, sb := post(t, g.URL, strings.Replace(body, `"temperature":0`, `"temperature":0,"stream":true,"stream_options":{"include_usage":true}`, 1))
	require.Equal(t, http.StatusOK, sresp.StatusCode)
	events, err := clienttest.ReadSSE(bytes.NewReader(sb))
	require.NoError(t, err)
	require.Equal(t, "[DONE]", events[len(events)-1])
	require.Contains(t, events[len(events)-2], `"cocoon":{"cost":"`)
	second := record(t, g, sresp.Header.Get("X-Request-Id"))
	require.True(t, second.ReceiptVerified, second.Problem)

	g.Restart(n)
	resp, b = post(t, g.URL, body)
	require.Equal(t, http.StatusOK, resp.StatusCode, string(b))
	third := record(t, g, resp.Header.Get("X-Request-Id"))
	require.True(t, third.ReceiptVerified, third.Problem)
	require.Equal(t, third.ReceiptFields.Owed, third.Owed, "the client's total is the daemon's")

	// The daemon holds a voucher for exactly what the first two answers cost.
	sess := g.Session()
	sess.Payer.Wait()
	ch, err := address.ParseRawAddr(third.Channel)
	require.NoError(t, err)
	var ledger = sess.Payer.Ledgers()[0]
	require.True(t, ledger.Channel.Equals(ch))
	p := sess.Client.Providers()[0]
	view, err := sess.Client.View(n.Ctx, p, ledger)
	require.NoError(t, err)
	require.Equal(t, second.Owed, view.Voucher.Amount.String())
	require.Equal(t, third.Owed, view.Owed.String())
	stored, err := sess.Store.Vouchers(ch)
	require.NoError(t, err)
	require.Len(t, stored, 4, "0, after the first, second and third answers (the last signed ahead for the next request): one per amount")
	require.Equal(t, third.Owed, stored[3].Amount.String())
}

// Failover with real daemons: a provider whose backend fails before the first token, one that is
// down; after the first content, the app's stream ends with an error event and no [DONE].
func TestFailoverBetweenProviderDaemons(t *testing.T) {
	n := clientnet.New(t)
	cheap := &clientnet.Fake{}
	dear := &clientnet.Fake{}
	a := n.Start(clientnet.Options{Upstream: cheap, Prompt: "0.5", Completion: "1"})
	b := n.Start(clientnet.Options{Upstream: dear})
	g := n.Gateway(nil)

	resp, body := post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, a.Contract.String(), resp.Header.Get(gateway.HeaderProvider), "the cheaper one first")

	cheap.FailNext(1)
	resp, body = post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, b.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	require.Equal(t, "1", resp.Header.Get(gateway.HeaderAttempts))
	rec := record(t, g, resp.Header.Get("X-Request-Id"))
	require.Contains(t, rec.Attempts[0].Error, "502")

	cheap.FailNext(1)
	resp, body = post(t, g.URL, fake("hello", `,"stream":true`))
	require.Equal(t, b.Contract.String(), resp.Header.Get(gateway.HeaderProvider), "a stream fails over before its first token too")
	events, err := clienttest.ReadSSE(bytes.NewReader(body))
	require.NoError(t, err)
	require.Equal(t, "[DONE]", events[len(events)-1])

	// break-after: the provider's stream breaks after two tokens.
	resp, body = post(t, g.URL, fake("hello break-after:2", `,"stream":true`))
	require.Equal(t, a.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	events, err = clienttest.ReadSSE(bytes.NewReader(body))
	require.NoError(t, err)
	require.NotContains(t, events, "[DONE]")
	require.Contains(t, events[len(events)-1], `"error"`)
	require.Contains(t, strings.Join(events, ""), `"content":"t0 "`)

	a.Stop(n.Ctx)
	resp, body = post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	require.Equal(t, b.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	require.Contains(t, record(t, g, resp.Header.Get("X-Request-Id")).Attempts[0].Error, "failed to reach it")
}

// A provider whose measurement is no longer allowed, or whose certificate key is not the on-chain
// one, is refused with that reason, and the app is told why no provider serves.
func TestProviderDaemonsRefused(t *testing.T) {
	n := clientnet.New(t)
	other := [32]byte{9, 9, 9}
	wrongKey := n.Start(clientnet.Options{Upstream: &clientnet.Fake{}, KeyHash: &other})
	g := n.Gateway(nil)
	resp, body := post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, string(body), wrongKey.Contract.String()+" refused: the certificate's key hash")
	require.Contains(t, string(body), "differs from the on-chain attested TLS key hash 0909090000")

	good := n.Start(clientnet.Options{Upstream: &clientnet.Fake{}})
	sim := attest.SimMeasurement(attest.DevnetSimImage)
	n.Govern(contracts.RevokeMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: sim[:]})
	require.NoError(t, g.Session().Client.Refresh(n.Ctx))
	resp, body = post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
	require.Contains(t, string(body), good.Contract.String()+" refused: the confirmed measurement")
	require.Contains(t, string(body), "is not on the registry's allow-list now (revoked)")
}

// An app that leaves a stream: the daemon bills what it delivered, and the channel's next request
// settles it within the abandoned request's cap.
func TestAbandonedStreamWithProviderDaemon(t *testing.T) {
	n := clientnet.New(t)
	n.Start(clientnet.Options{Upstream: &clientnet.Fake{}})
	g := n.Gateway(nil)
	req, err := http.NewRequest(http.MethodPost, g.URL+"/v1/chat/completions", strings.NewReader(fake("hello pause-after:3", `,"stream":true`)))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	buf := make([]byte, 256)
	_, err = resp.Body.Read(buf)
	require.NoError(t, err)
	resp.Body.Close() // the app leaves
	id := resp.Header.Get("X-Request-Id")

	resp2, body := post(t, g.URL, fake("hello", ""))
	require.Equal(t, http.StatusOK, resp2.StatusCode, string(body))
	next := record(t, g, resp2.Header.Get("X-Request-Id"))
	require.True(t, next.ReceiptVerified, next.Problem)
	left := record(t, g, id)
	require.Contains(t, left.Problem, "the app left")
}

// A provider at its per-channel rate limit answers 429: the gateway waits for it and the app gets
// its answer (busy is not down: no failure is counted against it); with no wait allowed, the app
// gets OpenAI's 429 rate_limit_exceeded, never a 502, and nothing is charged.
func TestBusyProviderDaemon(t *testing.T) {
	n := clientnet.New(t)
	d := n.Start(clientnet.Options{Upstream: &clientnet.Fake{}, Edit: func(c *provider.Config) {
		c.Limits.ChannelRate, c.Limits.ChannelBurst = 2, 1
	}})
	g := n.Gateway(nil)
	for i := range 4 {
		resp, body := post(t, g.URL, fake("hello", ""))
		require.Equal(t, http.StatusOK, resp.StatusCode, "request %d: %s", i, body)
		require.Equal(t, d.Contract.String(), resp.Header.Get(gateway.HeaderProvider))
	}
	st, _ := g.Session().Client.Stats(g.Session().Client.Providers()[0])
	require.Zero(t, st.Failures, "a busy provider is not a failing one")

	impatient := n.Gateway(func(c *gateway.Config) { c.BusyWait = 0 })
	resp, body := post(t, impatient.URL, fake("hello", ""))
	require.Equal(t, http.StatusOK, resp.StatusCode, string(body))
	resp, body = post(t, impatient.URL, fake("hello", ""))
	require.Equal(t, http.StatusTooManyRequests, resp.StatusCode, string(body))
	require.Contains(t, string(body), `"code":"rate_limit_exceeded"`)
	require.Contains(t, string(body), "Every provider is busy")
	rec := record(t, impatient, resp.Header.Get("X-Request-Id"))
	require.Equal(t, http.StatusTooManyRequests, rec.Status)
	require.Empty(t, rec.Cost, "nothing charged for a refused request")
	require.Zero(t, rec.CompletionTokens)
}
