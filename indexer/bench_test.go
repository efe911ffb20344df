package indexer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
)

// A prepared devnet history for the benchmarks: the scenario of every operation, then 5,000
// claims on 20 channels of one provider (each claim is a channel transaction and a provider
// transaction), built once per test binary in instant mode.

const (
	benchChannels   = 20
	benchPerChannel = 250
)

var (
	historyOnce sync.Once
	history     *fixture
)

func preparedHistory(b *testing.B) *fixture {
	b.Helper()
	historyOnce.Do(func() {
		ft := &onceT{TB: b}
		t0 := time.Now()
		n := indexertest.New(ft, indexertest.Options{NoSync: true})
		w := indexertest.Scenario(n)
		n.ManyClaims(w.Alice, benchChannels, benchPerChannel)
		b.Logf("prepared history in %v", time.Since(t0).Round(time.Millisecond))
		history = &fixture{n: n, w: w}
	})
	if history == nil {
		b.Fatalf("preparing the history failed: %v", sharedErr)
	}
	return history
}

// loadavg is the machine's load (1, 5, 15 minutes), to print beside each figure: other jobs share
// this machine.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	return strings.Join(f[:3], " ")
}

// BenchmarkIngest times a full ingestion of the prepared history by the follower into a fresh
// store, through the in-process devnet's chain.Client (the same calls toncenter answers), with
// fsynced batches as the daemon commits them. tx/s is transactions written per second.
func BenchmarkIngest(b *testing.B) {
	h := preparedHistory(b)
	benchIngest(b, h, h.n.D.Client())
}

// BenchmarkIngestToncenter is BenchmarkIngest over the devnet's toncenter v2 HTTP API on loopback,
// as `cocoon indexer run --rpc` reads it.
func BenchmarkIngestToncenter(b *testing.B) {
	h := preparedHistory(b)
	srv := &devnet.Server{Devnet: h.n.D, Listen: "127.0.0.1:0", Log: slog.New(slog.DiscardHandler)}
	if err := srv.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	defer srv.Stop(context.Background())
	c, err := toncenter.New(toncenter.Config{URL: "http://" + srv.Addr()})
	if err != nil {
		b.Fatal(err)
	}
	benchIngest(b, h, c)
}

func benchIngest(b *testing.B, h *fixture, chain follow.Chain) {
	b.Logf("load average before: %s", loadavg())
	var txs int
	var elapsed time.Duration
	for b.Loop() {
		st, err := store.Open(b.TempDir(), store.Options{})
		if err != nil {
			b.Fatal(err)
		}
		f, err := follow.New(follow.Config{Chain: chain, Store: st, Registry: h.w.Registry, PageSize: 256})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		n, err := f.Sync(context.Background())
		elapsed += time.Since(t0)
		if err != nil {
			b.Fatal(err)
		}
		txs += n
		if err := st.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(txs)/elapsed.Seconds(), "tx/s")
	b.ReportMetric(float64(txs)/float64(b.N), "txs/op")
	b.Logf("load average after: %s", loadavg())
}

// BenchmarkIngestStore times the store alone: the same transactions, read from the devnet
// beforehand, decoded, replayed and written in batches of 256 per account.
func BenchmarkIngestStore(b *testing.B) {
	h := preparedHistory(b)
	type acct struct {
		a   store.Account
		txs []*tlb.Transaction
	}
	var accts []acct
	add := func(a *address.Address, kind state.Kind) {
		txs, err := h.n.D.Transactions(a, 1_000_000, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		slices.Reverse(txs)
		accts = append(accts, acct{a: store.Account{Address: a.StringRaw(), Kind: kind}, txs: txs})
	}
	add(h.w.Registry, state.KindRegistry)
	scratch, err := store.Open(b.TempDir(), store.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	f, _ := follow.New(follow.Config{Chain: h.n.D.Client(), Store: scratch, Registry: h.w.Registry})
	if _, err := f.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	for _, k := range []state.Kind{state.KindProvider, state.KindChannel} {
		list, _ := scratch.Accounts(k)
		for _, a := range list {
			add(address.MustParseRawAddr(a.Address), k)
		}
	}
	scratch.Close()
	b.Logf("load average before: %s", loadavg())
	var txs int
	var elapsed time.Duration
	for b.Loop() {
		st, err := store.Open(b.TempDir(), store.Options{NoSync: os.Getenv("NOSYNC") != ""})
		if err != nil {
			b.Fatal(err)
		}
		t0 := time.Now()
		for _, a := range accts {
			for i := 0; i < len(a.txs); i += 256 {
				res, err := st.Ingest(store.Batch{Account: a.a, Txs: a.txs[i:min(i+256, len(a.txs))]})
				if err != nil {
					b.Fatal(err)
				}
				txs += res.Ingested
			}
		}
		elapsed += time.Since(t0)
		st.Close()
	}
	b.ReportMetric(float64(txs)/elapsed.Seconds(), "tx/s")
	b.Logf("load average after: %s", loadavg())
}

// BenchmarkAPILatency sends requests at a fixed rate (open loop: each request leaves at its
// scheduled time whatever the earlier ones do, and its latency counts from that time) over a mix
// of endpoints against the API serving the prepared history, and reports p50, p99 and the
// largest latency. The rate is API_RATE (default 1000/s) for API_DURATION (default 5s).
func BenchmarkAPILatency(b *testing.B) {
	h := preparedHistory(b)
	dir := b.TempDir()
	st, err := store.Open(dir, store.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	f, _ := follow.New(follow.Config{Chain: h.n.D.Client(), Store: st, Registry: h.w.Registry, PageSize: 256})
	if _, err := f.Sync(context.Background()); err != nil {
		b.Fatal(err)
	}
	a := api.New(api.Config{Store: st, Registry: h.w.Registry, Now: h.n.D.Now})
	srv := httptest.NewServer(indexer.Handler(a, nil))
	defer srv.Close()

	provider := h.n.ProviderOf(h.w.Alice).StringRaw()
	chans, _ := st.ChannelsOf(provider)
	txs, _ := st.Txs(chans[0], 0, 50)
	paths := []string{"/api/v1/providers", "/api/v1/providers?model=1&sort=price", "/api/v1/providers/" + provider,
		"/api/v1/stats", "/api/v1/models", "/api/v1/oracles", "/api/v1/stats/series?interval=day"}
	for i := range 8 {
		paths = append(paths, "/api/v1/channels/"+chans[i%len(chans)], "/api/v1/tx/"+txs[i%len(txs)].Hash)
	}
	rate, dur := 1000.0, 5*time.Second
	if v := os.Getenv("API_RATE"); v != "" {
		fmt.Sscan(v, &rate)
	}
	if v, err := time.ParseDuration(os.Getenv("API_DURATION")); err == nil {
		dur = v
	}
	client := &http.Client{Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512}, Timeout: 10 * time.Second}
	// Warm the caches and connections.
	for _, p := range paths {
		resp, err := client.Get(srv.URL + p)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("%s: %v %v", p, err, resp)
		}
		resp.Body.Close()
	}
	b.Logf("load average before: %s", loadavg())
	for b.Loop() {
		n := int(rate * dur.Seconds())
		lat := make([]time.Duration, n)
		failed := 0
		var firstErr string
		var mu sync.Mutex
		var wg sync.WaitGroup
		start := time.Now()
		interval := time.Duration(float64(time.Second) / rate)
		for i := range n {
			at := start.Add(time.Duration(i) * interval)
			time.Sleep(time.Until(at))
			p := paths[rand.IntN(len(paths))]
			wg.Go(func() {
				resp, err := client.Get(srv.URL + p)
				if err == nil {
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				lat[i] = time.Since(at)
				if err != nil || resp.StatusCode != 200 {
					mu.Lock()
					failed++
					if firstErr == "" {
						firstErr = fmt.Sprintf("%s: %v %v", p, err, resp)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		slices.Sort(lat)
		pct := func(p float64) float64 { return float64(lat[int(p*float64(n-1))].Microseconds()) / 1000 }
		b.ReportMetric(pct(0.50), "p50-ms")
		b.ReportMetric(pct(0.99), "p99-ms")
		b.ReportMetric(float64(lat[n-1].Microseconds())/1000, "max-ms")
		b.ReportMetric(float64(n)/time.Since(start).Seconds(), "req/s")
		if failed > 0 {
			b.Fatalf("%d of %d requests failed, the first: %s", failed, n, firstErr)
		}
	}
	b.Logf("load average after: %s", loadavg())
}
