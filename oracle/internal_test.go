package oracle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// TestProbeBackoff: up every ProbeInterval; down 1 min, 2, 4, … up to 1 h; daily once down a day
// (Akash's schedule, the defaults).
func TestProbeBackoff(t *testing.T) {
	cfg := DefaultConfig()
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 16 * time.Minute, 32 * time.Minute, time.Hour, time.Hour}
	down := time.Duration(0)
	for i, w := range want {
		d := probeBackoff(i+1, down, cfg)
		require.Equal(t, w, d, "failure %d", i+1)
		down += d
	}
	require.Equal(t, time.Hour, probeBackoff(30, 23*time.Hour, cfg))
	require.Equal(t, 24*time.Hour, probeBackoff(31, 24*time.Hour, cfg))
	require.Equal(t, 24*time.Hour, probeBackoff(1000, 1000*time.Hour, cfg))
}

// TestScheduleBounded: with a manual clock, the scheduler starts at most Concurrency jobs at once and
// one per provider, and runs each provider's first check before any probe.
func TestScheduleBounded(t *testing.T) {
	mc := clock.NewManual(time.Unix(1_800_000_000, 0))
	cfg := DefaultConfig()
	cfg.Concurrency = 3
	o := &Oracle{cfg: cfg, clock: mc, log: slog.New(slog.DiscardHandler), providers: map[string]*providerState{}}
	for i := range 10 {
		o.addProviderLocked(providerRecord{Provider: fmt.Sprintf("0:%064x", i+1)})
	}
	release := make(chan struct{})
	var mu sync.Mutex
	running, peak := 0, 0
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	slots := make(chan struct{}, cfg.Concurrency)
	var wg sync.WaitGroup
	o.runJob = func(ctx context.Context, j job) time.Time {
		mu.Lock()
		running++
		peak = max(peak, running)
		mu.Unlock()
		require.True(t, j.check, "first a check")
		<-release
		mu.Lock()
		running--
		mu.Unlock()
		return mc.Now().Add(time.Hour)
	}
	o.launchDue(ctx, slots, &wg)
	o.launchDue(ctx, slots, &wg)
	require.Eventually(t, func() bool { mu.Lock(); defer mu.Unlock(); return running == 3 }, time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	for range 4 {
		o.launchDue(ctx, slots, &wg)
		wg.Wait()
	}
	require.Equal(t, 3, peak)
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.providers {
		require.False(t, p.busy)
		require.Equal(t, mc.Now().Add(time.Hour), p.nextCheck, "every provider checked once")
	}
}

func TestBaseURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://p.example:8443":       "https://p.example:8443",
		"https://p.example:8443/":      "https://p.example:8443",
		"https://p.example:8443/v1":    "https://p.example:8443",
		"https://p.example/api/v1/":    "https://p.example/api",
		"https://p.example/x?y=1#frag": "https://p.example/x",
		"http://p.example:8443":        "",
		"https:///no-host":             "",
		"p.example:8443":               "",
	} {
		got, err := baseURL(in)
		if want == "" {
			require.Error(t, err, in)
			continue
		}
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
}

func TestTransient(t *testing.T) {
	require.True(t, transient(errors.New("connection refused")))
	require.True(t, transient(&ops.ContractError{Op: "vote", Contract: "provider", Err: errors.New("not reached")}))
	require.False(t, transient(&ops.Refusal{Contract: "registry", Code: contracts.ExitNotOracle}))
	require.False(t, transient(&ops.ContractError{Op: "vote", Contract: "registry", Err: contracts.ExitMeasurementNotAllowed, Tx: &tlbTx}))
	require.False(t, transient(&ops.FundsError{}))
	require.False(t, transient(fmt.Errorf("%w: x", ops.ErrBadInput)))
}

// TestWriterRateAndRetries: writes are spaced by 60 s / TxPerMinute on the daemon's clock; a
// transient failure is retried with backoff, a refusal is not.
func TestWriterRateAndRetries(t *testing.T) {
	mc := clock.NewManual(time.Unix(1_800_000_000, 0))
	cfg := DefaultConfig()
	cfg.TxPerMinute = 2
	cfg.WriteRetries = 2
	o := &Oracle{cfg: cfg, clock: mc, log: slog.New(slog.DiscardHandler), m: NoopMetrics{}}
	stop, err := o.initWriter(context.Background())
	require.NoError(t, err)
	defer stop(context.Background())

	var mu sync.Mutex
	var sent []time.Time
	results := make(chan error, 10)
	send := func(fail ...error) *write {
		n := 0
		return &write{kind: "test", send: func(context.Context) error {
			mu.Lock()
			defer mu.Unlock()
			sent = append(sent, mc.Now())
			n++
			if n <= len(fail) {
				return fail[n-1]
			}
			return nil
		}, done: func(err error) { results <- err }}
	}
	advanceUntil := func(cond func() bool) {
		t.Helper()
		for range 1000 {
			if cond() {
				return
			}
			if mc.Waiters() > 0 {
				mc.Advance(time.Second)
			} else {
				time.Sleep(time.Millisecond)
			}
		}
		t.Fatal("condition not reached")
	}
	require.True(t, o.enqueue(send()))
	require.True(t, o.enqueue(send(errors.New("node down"), errors.New("node down"))))
	require.True(t, o.enqueue(send(&ops.Refusal{Code: contracts.ExitNotOracle}, nil)))
	var errs []error
	advanceUntil(func() bool {
		select {
		case err := <-results:
			errs = append(errs, err)
		default:
		}
		return len(errs) == 3
	})
	require.NoError(t, errs[0])
	require.NoError(t, errs[1], "retried twice, then through")
	require.ErrorIs(t, errs[2], ops.ErrRefused, "a refusal is not retried")
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, sent, 5)
	for i := 1; i < len(sent); i++ {
		require.GreaterOrEqual(t, sent[i].Sub(sent[i-1]), 2*time.Second, "retry backoff or rate gap")
	}
	require.GreaterOrEqual(t, sent[1].Sub(sent[0]), 30*time.Second, "2 writes a minute")
}

func TestConfigCheck(t *testing.T) {
	c := DefaultConfig()
	err := c.Check()
	require.ErrorIs(t, err, service.ErrConfig)
	for _, flag := range []string{"--registry", "--oracle-key-file"} {
		require.Contains(t, err.Error(), flag)
	}
	c.Registry = "0:" + strings.Repeat("ab", 32)
	c.OracleKeyFile = "k"
	require.NoError(t, c.Check())
	c.Epoch = 1500 * time.Millisecond
	c.RenewBefore = c.VoteLifetime
	c.ProbeRetryMin = 2 * time.Hour
	c.MinBalance = "lots"
	c.Concurrency = 0
	err = c.Check()
	for _, flag := range []string{"--epoch", "--renew-before", "--probe-retry-min", "--min-balance", "--concurrency"} {
		require.Contains(t, err.Error(), flag)
	}
}

var tlbTx tlb.Transaction
