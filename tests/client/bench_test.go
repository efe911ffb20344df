package client

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
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

// rig is the gateway benchmark's world: one fast fake backend (internal/fakeupstream) reached
// directly over HTTP, through the provider daemon by a client that pays as little as a client can
// (rawPayer: the provider's share), and through the client gateway in front of the same provider
// (RA-TLS, payment: the next voucher signed and synced after each receipt, the request authorized,
// the receipt checked, the request recorded). One request at a time.
type rig struct {
	tb     testing.TB
	hc     *http.Client
	direct string
	gw     string
	raw    *rawPayer
}

// benchBody is a one-message chat of 16 completion tokens.
const benchBody = `{"model":"` + clientnet.FakeModel + `","messages":[{"role":"user","content":"hello"}],"max_tokens":16`

func newRig(tb testing.TB) *rig {
	tb.Helper()
	n := clientnet.New(tb)
	fake := &clientnet.Fake{}
	direct := httptest.NewServer(fake)
	tb.Cleanup(direct.Close)
	d := n.Start(clientnet.Options{Upstream: fake, Edit: func(c *provider.Config) { c.Limits.ChannelRate, c.Limits.ChannelBurst = 1e6, 1e6 }})
	g := n.Gateway(func(c *gateway.Config) { c.Deposit = "20" })
	r := &rig{tb: tb, hc: &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 4}}, direct: direct.URL, gw: g.URL, raw: newRawPayer(tb, n, d)}
	// Warm up: the channels open on the first request, connections are made.
	r.whole(r.gw)
	r.firstContent(r.gw)
	r.whole(r.direct)
	r.raw.do(benchBody + `}`)
	return r
}

// whole is a non-streamed request's time to its last byte.
func (r *rig) whole(url string) time.Duration {
	start := time.Now()
	resp, err := r.hc.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(benchBody+`}`))
	if err != nil {
		r.tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.tb.Fatalf("%s answered %d", url, resp.StatusCode)
	}
	return time.Since(start)
}

// firstContent is a streamed request's time to its first content.
func (r *rig) firstContent(url string) time.Duration {
	start := time.Now()
	resp, err := r.hc.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(benchBody+`,"stream":true}`))
	if err != nil {
		r.tb.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var ttft time.Duration
	for {
		line, err := br.ReadBytes('\n')
		if ttft == 0 && bytes.Contains(line, []byte(`"content":"t`)) {
			ttft = time.Since(start)
		}
		if err != nil {
			break
		}
	}
	if ttft == 0 {
		r.tb.Fatalf("%s streamed no content", url)
	}
	return ttft
}

// sample is one round of each kind of request.
type sample struct {
	direct, raw, gateway, ttftDirect, ttftGateway []time.Duration
}

func (r *rig) round(s *sample) {
	s.direct = append(s.direct, r.whole(r.direct))
	s.raw = append(s.raw, r.raw.do(benchBody+`}`))
	s.gateway = append(s.gateway, r.whole(r.gw))
	s.ttftDirect = append(s.ttftDirect, r.firstContent(r.direct))
	s.ttftGateway = append(s.ttftGateway, r.firstContent(r.gw))
}

// pct is the q-th percentile (nearest rank) in ms.
func pct(d []time.Duration, q int) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	return float64(s[(len(s)-1)*q/100].Microseconds()) / 1000
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// rawPayer pays the provider with the least a client can do: a voucher for the receipt's total
// signed in memory, the request's authorization, nothing stored and no receipt checked. What it
// measures is the provider's share of the gateway path.
type rawPayer struct {
	tb   testing.TB
	hc   *http.Client
	url  string
	key  ed25519.PrivateKey
	ch   *address.Address
	owed *big.Int
}

func newRawPayer(tb testing.TB, n *clientnet.Net, d *clientnet.Daemon) *rawPayer {
	tb.Helper()
	a := n.Actor("raw payer", 30)
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	plan, err := a.PlanOpen(n.Ctx, ops.OpenInput{ProviderOwner: d.Owner.Address(), ClientKey: key.Public().(ed25519.PublicKey), Deposit: big.NewInt(20_000_000_000)})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := a.SendOpen(n.Ctx, plan); err != nil {
		tb.Fatal(err)
	}
	v, err := attest.NewVerifier(attest.Policy{AllowSim: true, Allowed: map[[32]byte]attest.Kind{attest.SimMeasurement(attest.DevnetSimImage): attest.KindSim}})
	if err != nil {
		tb.Fatal(err)
	}
	return &rawPayer{tb: tb, hc: &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(nil)}}, url: d.URL, key: key, ch: plan.Channel, owed: new(big.Int)}
}

func (r *rawPayer) do(body string) time.Duration {
	start := time.Now()
	sv, err := voucher.Voucher{Channel: r.ch, Amount: r.owed}.Sign(r.key)
	if err != nil {
		r.tb.Fatal(err)
	}
	vh, _ := voucher.EncodeHeader(&sv)
	auth, err := payment.SignRequest(r.key, r.ch, http.MethodPost, "/v1/chat/completions", []byte(body), time.Now())
	if err != nil {
		r.tb.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, r.url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(payment.HeaderChannel, r.ch.StringRaw())
	req.Header.Set(voucher.HeaderVoucher, vh)
	req.Header.Set(payment.HeaderAuth, auth)
	resp, err := r.hc.Do(req)
	if err != nil {
		r.tb.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		r.tb.Fatalf("the provider answered %d", resp.StatusCode)
	}
	r.owed.SetString(resp.Header.Get(payment.HeaderOwed), 10)
	return took
}

// BenchmarkGatewayOverhead reports what the gateway and the provider add to the backend's p50 and
// p90, their shares, and the same for the time to a stream's first content.
func BenchmarkGatewayOverhead(b *testing.B) {
	r := newRig(b)
	var s sample
	for b.Loop() {
		r.round(&s)
	}
	b.ReportMetric(pct(s.direct, 50)*1000, "direct-p50-µs")
	b.ReportMetric((pct(s.gateway, 50)-pct(s.direct, 50))*1000, "added-p50-µs")
	b.ReportMetric((pct(s.gateway, 90)-pct(s.direct, 90))*1000, "added-p90-µs")
	b.ReportMetric((pct(s.raw, 50)-pct(s.direct, 50))*1000, "provider-added-p50-µs")
	b.ReportMetric((pct(s.gateway, 50)-pct(s.raw, 50))*1000, "gateway-added-p50-µs")
	b.ReportMetric((pct(s.ttftGateway, 50)-pct(s.ttftDirect, 50))*1000, "ttft-added-p50-µs")
	b.Logf("%d requests of each kind; load average %s", len(s.direct), loadavg())
}

// TestGatewayBenchmark is the documented run (tools/bench/client.sh, make bench-client): three
// rounds of 1,000 requests of each kind interleaved, then 1,000 of each kind back to back, the
// tables for docs/BENCHMARKS.md written to $COCOON_BENCH_OUT.
func TestGatewayBenchmark(t *testing.T) {
	if os.Getenv("COCOON_BENCH") == "" {
		t.Skip("run by tools/bench/client.sh")
	}
	r := newRig(t)
	var out strings.Builder
	fmt.Fprintf(&out, "Run %s, Go %s, %d cores; load average (1, 5, 15 min) %s before.\n\n", time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		runtime.Version(), runtime.NumCPU(), loadavg())
	fmt.Fprintln(&out, "| round | backend p50 | provider, paid p50 (added) | gateway + provider p50 (added) | gateway's share | added p90 | TTFT backend | TTFT gateway (added) | load after |")
	fmt.Fprintln(&out, "|---|---|---|---|---|---|---|---|---|")
	var ratios strings.Builder
	fmt.Fprintln(&ratios, "\n| round | gateway + provider ÷ backend (p50) | gateway + provider ÷ provider alone (p50) | gateway's share ÷ provider's added (p50) | TTFT gateway ÷ TTFT backend |")
	fmt.Fprintln(&ratios, "|---|---|---|---|---|")
	for round := 1; round <= 3; round++ {
		var s sample
		for range 1000 {
			r.round(&s)
		}
		d, p, g := pct(s.direct, 50), pct(s.raw, 50), pct(s.gateway, 50)
		td, tg := pct(s.ttftDirect, 50), pct(s.ttftGateway, 50)
		fmt.Fprintf(&ratios, "| %d | %.1f× | %.2f× | %.2f | %.1f× |\n", round, g/d, g/p, (g-p)/(p-d), tg/td)
		fmt.Fprintf(&out, "| %d | %.3f ms | %.3f ms (%.3f) | %.3f ms (**%.3f**) | %.3f ms | %.3f ms | %.3f ms | %.3f ms (**%.3f**) | %s |\n", round, d, p, p-d, g, g-d, g-p,
			pct(s.gateway, 90)-pct(s.direct, 90), pct(s.ttftDirect, 50), pct(s.ttftGateway, 50), pct(s.ttftGateway, 50)-pct(s.ttftDirect, 50), loadavg())
	}
	out.WriteString(ratios.String())
	// Back to back: each kind 1,000 times in a row, as an app's loop at concurrency 1 sends them.
	// Interleaved, a gateway request finds the previous one's voucher long synced; back to back it
	// may wait for the disk (Ledger.Voucher), and this table shows that wait.
	var b sample
	for range 1000 {
		b.direct = append(b.direct, r.whole(r.direct))
	}
	for range 1000 {
		b.raw = append(b.raw, r.raw.do(benchBody+`}`))
	}
	for range 1000 {
		b.gateway = append(b.gateway, r.whole(r.gw))
	}
	for range 1000 {
		b.ttftDirect = append(b.ttftDirect, r.firstContent(r.direct))
	}
	for range 1000 {
		b.ttftGateway = append(b.ttftGateway, r.firstContent(r.gw))
	}
	d, p, g := pct(b.direct, 50), pct(b.raw, 50), pct(b.gateway, 50)
	fmt.Fprintln(&out, "\nBack to back (1,000 requests of each kind in a row, not interleaved):")
	fmt.Fprintln(&out, "\n| backend p50 | provider, paid p50 (added) | gateway + provider p50 (added) | gateway's share | TTFT backend | TTFT gateway (added) | load after |")
	fmt.Fprintln(&out, "|---|---|---|---|---|---|---|")
	fmt.Fprintf(&out, "| %.3f ms | %.3f ms (%.3f) | %.3f ms (**%.3f**) | %.3f ms | %.3f ms | %.3f ms (**%.3f**) | %s |\n", d, p, p-d, g, g-d, g-p,
		pct(b.ttftDirect, 50), pct(b.ttftGateway, 50), pct(b.ttftGateway, 50)-pct(b.ttftDirect, 50), loadavg())
	t.Log("\n" + out.String())
	if path := os.Getenv("COCOON_BENCH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
