// Package load is `make test-load`: the demo's network under 100 concurrent streaming clients for
// 60 s through the client gateway. Not in `make test` (it takes two minutes of both cores); it runs
// only when COCOON_LOAD is set.
package load

import (
	"context"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
)

// TestLoadE2E: COCOON_LOAD_CLIENTS (100) apps stream chat answers through the gateway for
// COCOON_LOAD_DURATION (60 s), while the providers claim what they hold every second. Every
// request succeeds; on every channel the receipts' costs add up to what the gateway says it owes;
// once the providers stopped (claiming what they hold), each channel paid on-chain exactly that
// less the last answer's cost, the one answer whose voucher never left (a client pays for an
// answer with its next request): every delivered token paid exactly once.
func TestLoadE2E(t *testing.T) {
	if os.Getenv("COCOON_LOAD") == "" {
		t.Skip("the load test runs with make test-load (COCOON_LOAD=1)")
	}
	clients := envInt(t, "COCOON_LOAD_CLIENTS", 100)
	duration := 60 * time.Second
	if d := os.Getenv("COCOON_LOAD_DURATION"); d != "" {
		var err error
		duration, err = time.ParseDuration(d)
		require.NoError(t, err)
	}
	cocoon, provider := build(t)
	ctx, cancel := context.WithTimeout(context.Background(), duration+10*time.Minute)
	defer cancel()
	cfg := demo.Config{DataDir: filepath.Join(t.TempDir(), "net"), Cocoon: cocoon, CocoonProvider: provider, RandomPorts: true,
		GatewayListen: "127.0.0.1:0", ExplorerListen: "127.0.0.1:0", Out: logWriter{t}, GatewayArgs: []string{"--deposit", "20"}}
	n, err := demo.Start(ctx, cfg)
	require.NoError(t, err)
	stopped := false
	defer func() {
		if !stopped {
			_ = n.Stop(context.Background())
		}
	}()

	type result struct {
		rec     *demo.Record
		elapsed time.Duration
		err     error
	}
	var mu sync.Mutex
	var results []result
	deadline := time.Now().Add(duration)
	var wg sync.WaitGroup
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; time.Now().Before(deadline); j++ {
				began := time.Now()
				res, err := n.Chat(ctx, fmt.Sprintf("And God said %d %d", i, j), 16, nil)
				r := result{elapsed: time.Since(began), err: err}
				if err == nil {
					r.rec = res.Record
				}
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	elapsed := duration

	// Errors, throughput, latency.
	var errs []string
	var tokens uint64
	var lat []time.Duration
	perChannel := map[string][]*demo.Record{}
	for _, r := range results {
		if r.err != nil {
			e := r.err.Error()
			errs = append(errs, e[:min(len(e), 400)])
			continue
		}
		tokens += r.rec.CompletionTokens
		lat = append(lat, r.elapsed)
		perChannel[r.rec.Channel] = append(perChannel[r.rec.Channel], r.rec)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	require.NotEmpty(t, lat, "no request succeeded: %v", first(errs, 5))
	t.Logf("%d clients, %v: %d requests, %d errors, %.1f requests/s, %.0f completion tokens/s; latency p50 %v, p90 %v, p99 %v, max %v",
		clients, duration, len(results), len(errs), float64(len(lat))/elapsed.Seconds(), float64(tokens)/elapsed.Seconds(),
		pct(lat, 50), pct(lat, 90), pct(lat, 99), lat[len(lat)-1])
	require.Empty(t, errs, "every request succeeds; the first: %v", first(errs, 5))

	// Every receipt booked once: on each channel, the costs add up to the last owed.
	last := map[string]*demo.Record{}
	for ch, recs := range perChannel {
		sum := new(big.Int)
		for _, r := range recs {
			require.True(t, r.ReceiptVerified, "request %s: %s", r.ID, r.Problem)
			sum.Add(sum, num(t, r.Cost))
			if last[ch] == nil || num(t, r.Owed).Cmp(num(t, last[ch].Owed)) > 0 {
				last[ch] = r
			}
		}
		require.Equal(t, sum.String(), last[ch].Owed, "channel %s: the receipts' costs add up to what is owed", ch)
	}

	// The providers stop, claiming what they hold; the chain holds every answer but each channel's last.
	require.NoError(t, n.Gateway.Stop(20*time.Second))
	for _, p := range n.Providers {
		require.NoError(t, p.Stop(30*time.Second))
	}
	for ch, l := range last {
		a, err := address.ParseRawAddr(ch)
		require.NoError(t, err)
		want := new(big.Int).Sub(num(t, l.Owed), num(t, l.Cost))
		cc := contracts.ChannelClient{Chain: n.Chain, Address: a}
		var st *contracts.ChannelState
		for end := time.Now().Add(30 * time.Second); ; {
			st, err = cc.State(ctx)
			require.NoError(t, err)
			if st.Paid.Nano().Cmp(want) >= 0 || time.Now().After(end) {
				break
			}
			time.Sleep(200 * time.Millisecond)
		}
		require.Equal(t, want.String(), st.Paid.Nano().String(), "channel %s (%s): paid on-chain = owed - the last answer (%s still owed)", ch, l.Endpoint, l.Cost)
		require.Equal(t, want.String(), st.AcceptedAmount.Nano().String())
		t.Logf("channel %s (%s): %d answers, %s nanoTON owed, %s paid on-chain, %s still owed", ch, l.Endpoint, len(perChannel[ch]), l.Owed, st.Paid.Nano(), l.Cost)
	}
	stopped = true
	require.NoError(t, n.Stop(context.Background()))
}

func pct(d []time.Duration, p int) time.Duration { return d[(len(d)-1)*p/100] }

func first(s []string, n int) []string { return s[:min(n, len(s))] }

func num(t *testing.T, s string) *big.Int {
	t.Helper()
	v, ok := new(big.Int).SetString(s, 10)
	require.True(t, ok, "%q is not an amount", s)
	return v
}

func envInt(t *testing.T, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	i, err := strconv.Atoi(v)
	require.NoError(t, err, name)
	return i
}

// build compiles cocoon and cocoon-provider for the test.
func build(t *testing.T) (string, string) {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	require.NoError(t, err)
	dir := t.TempDir()
	for _, b := range []struct{ out, pkg string }{{"cocoon", "./cmd/cocoon"}, {"cocoon-provider", "./cmd/cocoon-provider"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = strings.TrimSpace(string(root))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", b.pkg, out)
	}
	return filepath.Join(dir, "cocoon"), filepath.Join(dir, "cocoon-provider")
}

// logWriter logs the demo's progress lines.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
