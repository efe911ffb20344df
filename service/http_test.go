package service_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/service"
)

func TestStartHTTP(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
		io.WriteString(w, "done")
	})
	s, err := service.StartHTTP(ctx, testLogger(t), "api", "127.0.0.1:0", h)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := service.StartHTTP(ctx, testLogger(t), "api2", s.Addr(), h); !errors.Is(err, syscall.EADDRINUSE) || !strings.Contains(err.Error(), "for api2") {
		t.Fatalf("second listener on one port: %v", err)
	}

	// Stop waits for the request in flight, then returns; the client gets the whole answer.
	got := make(chan string, 1)
	go func() {
		resp, err := http.Get(s.URL())
		if err != nil {
			got <- err.Error()
			return
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got <- string(b)
	}()
	<-entered
	stopped := make(chan error, 1)
	go func() { stopped <- s.Stop(ctx) }()
	select {
	case err := <-stopped:
		t.Fatalf("Stop returned (%v) with a request in flight", err)
	case <-time.After(50 * time.Millisecond):
	}
	close(release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if b := <-got; b != "done" {
		t.Fatalf("in-flight answer %q", b)
	}
	if err := s.Stop(ctx); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := net.Dial("tcp", s.Addr()); err == nil {
		t.Fatal("still listening after Stop")
	}
}

// When the drain time runs out, Stop closes the connections and says so.
func TestStartHTTPStopTimeout(t *testing.T) {
	ctx := context.Background()
	entered := make(chan struct{}, 1)
	s, err := service.StartHTTP(ctx, testLogger(t), "api", "127.0.0.1:0", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-r.Context().Done() // released when Stop closes the connection
	}))
	if err != nil {
		t.Fatal(err)
	}
	go http.Get(s.URL())
	<-entered
	stopCtx, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if err := s.Stop(stopCtx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "api did not drain") {
		t.Fatalf("Stop: %v", err)
	}
}

func TestHealth(t *testing.T) {
	ctx := context.Background()
	h := &service.Health{Timeout: 50 * time.Millisecond}
	if rep := h.Check(ctx); !rep.OK() || len(rep.Checks) != 0 {
		t.Fatalf("no checks: %+v", rep)
	}
	var chainErr error
	h.Add("chain", func(context.Context) error { return chainErr })
	h.Add("slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() })
	rep := h.Check(ctx)
	if rep.OK() || rep.Checks["chain"] != "ok" || rep.Checks["slow"] != "context deadline exceeded" {
		t.Fatalf("report %+v", rep)
	}

	s, err := service.StartHTTP(ctx, testLogger(t), "ops", "127.0.0.1:0", service.OpsHandler(service.NoopMetrics{}, h))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	chainErr = errors.New("toncenter unreachable")
	code, body := get(t, s.URL()+"/healthz")
	var got service.HealthReport
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatal(err)
	}
	if code != http.StatusServiceUnavailable || got.Status != "failing" || got.Checks["chain"] != "toncenter unreachable" {
		t.Fatalf("/healthz: %d %s", code, body)
	}

	defer func() {
		if recover() == nil {
			t.Fatal("a check added twice did not panic")
		}
	}()
	h.Add("chain", nil)
}

func TestHealthAllPassing(t *testing.T) {
	var h service.Health
	h.Add("a", func(context.Context) error { return nil })
	h.Add("b", func(context.Context) error { return nil })
	if rep := h.Check(context.Background()); !rep.OK() || rep.Checks["a"] != "ok" || rep.Checks["b"] != "ok" {
		t.Fatalf("report %+v", rep)
	}
}

// A nil server (a part that is off or not started) has no address: accessors pass it through.
func TestNilHTTPServerAddr(t *testing.T) {
	var s *service.HTTPServer
	if s.Addr() != "" || s.URL() != "" {
		t.Fatalf("a nil server has address %q, URL %q", s.Addr(), s.URL())
	}
}
