package service_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// The example daemon (example_test.go) in-process: configuration from flags and environment,
// its API, its metrics scraped over HTTP, its health, a failing part and a double Stop.

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// tWriter sends log lines to t.Log, so they show with the failing test only.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func envMap(m map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// greeterFromFlags builds the example's config the way its main does.
func greeterFromFlags(t *testing.T, args []string, env map[string]string) greeterConfig {
	t.Helper()
	cfg := defaultGreeterConfig()
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	cfg.AddFlags(fs)
	if err := service.ParseFlags(fs, args, greeterEnvPrefix, envMap(env)); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// eventually polls cond every few milliseconds for up to 10 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestGreeterServesMetricsAndHealth(t *testing.T) {
	ctx := context.Background()
	cfg := greeterFromFlags(t,
		[]string{"--listen", "127.0.0.1:0", "--greeting", "salve"},
		map[string]string{
			"COCOON_GREETER_GREETING":       "ignored: the flag wins",
			"COCOON_GREETER_METRICS_LISTEN": "127.0.0.1:0",
			"COCOON_GREETER_BEAT":           "10s",
		})
	if cfg.Greeting != "salve" || cfg.MetricsListen != "127.0.0.1:0" || cfg.Beat != 10*time.Second {
		t.Fatalf("config from flags and environment: %+v", cfg)
	}
	clk := clock.NewManual(time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC))
	cfg.Clock = clk
	m := newGreeterMetrics()
	g, err := newGreeter(ctx, cfg, testLogger(t), m)
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer g.Stop(ctx)

	if code, body := get(t, g.api.URL()+"/hello?name=ann"); code != 200 || body != "salve, ann\n" {
		t.Fatalf("hello: %d %q", code, body)
	}
	// Three heartbeats on the manual clock, one at a time (a ticker keeps at most one tick).
	if err := clk.WaitForWaiters(ctx, 1); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		clk.Advance(cfg.Beat)
		eventually(t, "a heartbeat", func() bool { return testutil.ToFloat64(m.beats) == float64(i) })
	}

	code, body := get(t, g.ops.URL()+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"cocoon_greeter_greetings_total 1\n",
		"cocoon_greeter_heartbeats_total 3\n",
		"cocoon_greeter_up 1\n",
		`cocoon_greeter_info{version="example"} 1` + "\n",
		"go_goroutines ",
		"process_start_time_seconds ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	code, body = get(t, g.ops.URL()+"/healthz")
	var rep service.HealthReport
	if err := json.Unmarshal([]byte(body), &rep); err != nil || code != 200 || !rep.OK() ||
		rep.Checks["lifecycle"] != "ok" || rep.Checks["guest book"] != "ok" {
		t.Fatalf("/healthz: %d %s (%v)", code, body, err)
	}

	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if up := gathered(t, m.Registry(), "cocoon_greeter_up"); up != 0 {
		t.Fatalf("up is %v after Stop", up)
	}
	if _, err := http.Get(g.api.URL() + "/hello"); err == nil {
		t.Fatal("API still answers after Stop")
	}
	if err := g.Healthy(ctx); !errors.Is(err, service.ErrNotRunning) {
		t.Fatalf("health after Stop: %v", err)
	}
	if err := g.Start(ctx); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// gathered is the value of an unlabelled gauge or counter in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) == 1 {
			m := mf.GetMetric()[0]
			if m.GetGauge() != nil {
				return m.GetGauge().GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// A part that fails to start (the API's port is taken) stops the parts already started, in
// reverse, and leaves the ones after it alone; the error says which part and why.
func TestGreeterFailingPartStopsStartedOnes(t *testing.T) {
	ctx := context.Background()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := defaultGreeterConfig()
	cfg.Listen = taken.Addr().String()
	cfg.MetricsListen = "127.0.0.1:0"
	var logs bytes.Buffer
	m := newGreeterMetrics()
	g, err := newGreeter(ctx, cfg, slog.New(slog.NewTextHandler(&logs, nil)), m)
	if err != nil {
		t.Fatal(err)
	}
	err = g.Start(ctx)
	if !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "failed to start api") {
		t.Fatalf("Start: %v", err)
	}
	if g.book.check() == nil {
		t.Fatal("the guest book, started before the API, was left open")
	}
	if g.ops != nil {
		t.Fatal("the ops listener, after the API, was started")
	}
	out := logs.String()
	iLoop, iBook := strings.Index(out, "msg=stopped part=heartbeat"), strings.Index(out, `msg=stopped part="guest book"`)
	if iLoop < 0 || iBook < iLoop {
		t.Fatalf("want heartbeat then guest book stopped, logs:\n%s", out)
	}
	if gathered(t, m.Registry(), "cocoon_greeter_up") != 0 {
		t.Fatal("up after a failed start")
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatalf("Stop after a failed Start: %v", err)
	}
	if err := g.Start(ctx); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("Start after a failed Start: %v", err)
	}
}

// Stop without Start stops nothing and is no error; a later Start refuses.
func TestGreeterStopWithoutStart(t *testing.T) {
	ctx := context.Background()
	g, err := newGreeter(ctx, defaultGreeterConfig(), testLogger(t), noopGreeterMetrics{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if g.book != nil {
		t.Fatal("Stop opened the guest book")
	}
	if err := g.Start(ctx); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// The no-op twin serves no /metrics, but the health endpoint still works.
func TestGreeterNoopMetrics(t *testing.T) {
	ctx := context.Background()
	cfg := defaultGreeterConfig()
	cfg.Listen, cfg.MetricsListen = "127.0.0.1:0", "127.0.0.1:0"
	g, err := newGreeter(ctx, cfg, testLogger(t), noopGreeterMetrics{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Start(ctx); err != nil {
		t.Fatal(err)
	}
	defer g.Stop(ctx)
	if code, _ := get(t, g.ops.URL()+"/metrics"); code != http.StatusNotFound {
		t.Fatalf("/metrics with no-op metrics: %d", code)
	}
	if code, body := get(t, g.ops.URL()+"/healthz"); code != 200 {
		t.Fatalf("/healthz: %d %s", code, body)
	}
	// A closed guest book turns the health check red with its reason.
	if err := g.book.close(); err != nil {
		t.Fatal(err)
	}
	code, body := get(t, g.ops.URL()+"/healthz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, `"guest book":"guest book is closed"`) || !strings.Contains(body, `"lifecycle":"ok"`) {
		t.Fatalf("/healthz with a closed book: %d %s", code, body)
	}
	// Stopping the book part again reports its error, joined and named.
	if err := g.Stop(ctx); !errors.Is(err, errBookClosed) || !strings.Contains(err.Error(), "failed to stop guest book") {
		t.Fatalf("Stop: %v", err)
	}
}

// Bad configuration: every problem named by field and flag, exit code 2 from main.
func TestGreeterConfigProblems(t *testing.T) {
	var stderr bytes.Buffer
	code := runGreeter(context.Background(), []string{"--listen", "nowhere", "--log-format", "xml", "--beat", "0s"},
		envMap(map[string]string{"COCOON_GREETER_GREETING": " "}), &stderr)
	if code != 2 {
		t.Fatalf("exit code %d, want 2; stderr:\n%s", code, stderr.String())
	}
	for _, want := range []string{
		`API listen address (--listen) must be host:port, got "nowhere"`,
		`log format (--log-format) must be text or json, got "xml"`,
		`heartbeat period (--beat) must be positive, got 0s`,
		`greeting (--greeting) must not be empty`,
	} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
		}
	}
	cfg := defaultGreeterConfig()
	cfg.Beat = -time.Second
	if _, err := newGreeter(context.Background(), cfg, testLogger(t), noopGreeterMetrics{}); !errors.Is(err, service.ErrConfig) {
		t.Fatalf("newGreeter with a bad config: %v", err)
	}

	stderr.Reset()
	code = runGreeter(context.Background(), []string{"-h"}, envMap(nil), &stderr)
	if code != 0 || !strings.Contains(stderr.String(), "($COCOON_GREETER_METRICS_LISTEN)") {
		t.Fatalf("-h: exit %d, help:\n%s", code, stderr.String())
	}
	stderr.Reset()
	code = runGreeter(context.Background(), nil, envMap(map[string]string{"COCOON_GREETER_BEAT": "often"}), &stderr)
	if code != 2 || !strings.Contains(stderr.String(), "$COCOON_GREETER_BEAT (flag --beat)") {
		t.Fatalf("bad environment value: exit %d, stderr:\n%s", code, stderr.String())
	}
}
