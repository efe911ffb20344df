package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/tests/client/clientnet"
	"github.com/cocoon-go/cocoon/voucher"
)

// rawPayer pays the provider with the least a client can do: a voucher for the receipt's total
// signed in memory, the request's authorization, nothing stored and no receipt checked. What it
// measures is the provider's share of the gateway path.
type rawPayer struct {
	b    *testing.B
	hc   *http.Client
	url  string
	key  ed25519.PrivateKey
	ch   *address.Address
	owed *big.Int
}

func newRawPayer(b *testing.B, n *clientnet.Net, d *clientnet.Daemon) *rawPayer {
	b.Helper()
	a := n.Actor("raw payer", 30)
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	plan, err := a.PlanOpen(n.Ctx, ops.OpenInput{ProviderOwner: d.Owner.Address(), ClientKey: key.Public().(ed25519.PublicKey), Deposit: big.NewInt(20_000_000_000)})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := a.SendOpen(n.Ctx, plan); err != nil {
		b.Fatal(err)
	}
	v, err := attest.NewVerifier(attest.Policy{AllowSim: true, Allowed: map[[32]byte]attest.Kind{attest.SimMeasurement(attest.DevnetSimImage): attest.KindSim}})
	if err != nil {
		b.Fatal(err)
	}
	return &rawPayer{b: b, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(nil)}}, url: d.URL, key: key, ch: plan.Channel, owed: new(big.Int)}
}

func (r *rawPayer) do(body string) time.Duration {
	start := time.Now()
	sv, err := voucher.Voucher{Channel: r.ch, Amount: r.owed}.Sign(r.key)
	if err != nil {
		r.b.Fatal(err)
	}
	vh, _ := voucher.EncodeHeader(&sv)
	auth, err := payment.SignRequest(r.key, r.ch, http.MethodPost, "/v1/chat/completions", []byte(body), time.Now())
	if err != nil {
		r.b.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(payment.HeaderChannel, r.ch.StringRaw())
	req.Header.Set(voucher.HeaderVoucher, vh)
	req.Header.Set(payment.HeaderAuth, auth)
	resp, err := r.hc.Do(req)
	if err != nil {
		r.b.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		r.b.Fatalf("the provider answered %d", resp.StatusCode)
	}
	r.owed.SetString(resp.Header.Get(payment.HeaderOwed), 10)
	return took
}

// BenchmarkGatewayOverhead measures what the client gateway and the provider daemon add in front of
// a fast backend (internal/fakeupstream), in the same run: each iteration sends the same request
// to the backend directly and through gateway → provider (RA-TLS, payment: a voucher signed and
// synced, the request authorized, the receipt checked), non-streamed and streamed, one request at
// a time. Reported: p50 and p90 of each path, the p50 the gateway and provider add, and the same
// for the time to the first content of a stream. The load average is logged beside the figures.
func BenchmarkGatewayOverhead(b *testing.B) {
	n := clientnet.New(b)
	fake := &clientnet.Fake{}
	direct := httptest.NewServer(fake)
	b.Cleanup(direct.Close)
	d := n.Start(clientnet.Options{Upstream: fake, Edit: func(c *provider.Config) { c.Limits.ChannelRate, c.Limits.ChannelBurst = 1e6, 1e6 }})
	g := n.Gateway(func(c *gateway.Config) { c.Deposit = "20" })
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	body := `{"model":"` + clientnet.FakeModel + `","messages":[{"role":"user","content":"hello"}],"max_tokens":16`
	whole := func(url string) time.Duration {
		start := time.Now()
		resp, err := hc.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body+`}`))
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("%s answered %d", url, resp.StatusCode)
		}
		return time.Since(start)
	}
	firstContent := func(url string) time.Duration {
		start := time.Now()
		resp, err := hc.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body+`,"stream":true}`))
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		r := bufio.NewReader(resp.Body)
		var ttft time.Duration
		for {
			line, err := r.ReadBytes('\n')
			if ttft == 0 && bytes.Contains(line, []byte(`"content":"t`)) {
				ttft = time.Since(start)
			}
			if err != nil {
				break
			}
		}
		if ttft == 0 {
			b.Fatalf("%s streamed no content", url)
		}
		return ttft
	}
	raw := newRawPayer(b, n, d)
	// Warm up: the channels open on the first request, connections are made.
	whole(g.URL)
	firstContent(g.URL)
	whole(direct.URL)
	raw.do(body + `}`)
	var dw, gw, ds, gs, pw []time.Duration
	b.ResetTimer()
	for b.Loop() {
		dw = append(dw, whole(direct.URL))
		pw = append(pw, raw.do(body+`}`))
		gw = append(gw, whole(g.URL))
		ds = append(ds, firstContent(direct.URL))
		gs = append(gs, firstContent(g.URL))
	}
	b.StopTimer()
	p := func(d []time.Duration, q int) float64 {
		s := slices.Clone(d)
		slices.Sort(s)
		return float64(s[(len(s)-1)*q/100].Microseconds())
	}
	b.ReportMetric(p(dw, 50), "direct-p50-µs")
	b.ReportMetric(p(gw, 50), "gateway-p50-µs")
	b.ReportMetric(p(gw, 50)-p(dw, 50), "added-p50-µs")
	b.ReportMetric(p(pw, 50)-p(dw, 50), "provider-added-p50-µs")
	b.ReportMetric(p(gw, 50)-p(pw, 50), "gateway-added-p50-µs")
	b.ReportMetric(p(gw, 90)-p(dw, 90), "added-p90-µs")
	b.ReportMetric(p(ds, 50), "ttft-direct-p50-µs")
	b.ReportMetric(p(gs, 50), "ttft-gateway-p50-µs")
	b.ReportMetric(p(gs, 50)-p(ds, 50), "ttft-added-p50-µs")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("%d requests of each kind; load average %s", len(dw), strings.TrimSpace(string(load)))
}
