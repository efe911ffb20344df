package service

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"time"
)

// DefaultHealthTimeout bounds each health check when Health.Timeout is zero.
const DefaultHealthTimeout = 5 * time.Second

// Health is a set of named checks served as GET /healthz: 200 when every check passes, 503
// otherwise, with a JSON body naming each check's result:
//
//	{"status":"failing","checks":{"chain":"ok","lifecycle":"not running"}}
//
// Checks run concurrently, each bounded by Timeout. The zero value is ready to use.
type Health struct {
	// Timeout bounds each check (0: DefaultHealthTimeout).
	Timeout time.Duration

	mu     sync.Mutex
	checks []healthCheck // REQUIRES: mu held
}

type healthCheck struct {
	name  string
	check func(ctx context.Context) error
}

// HealthReport is the result of all checks.
type HealthReport struct {
	// Status is "ok" when every check passed, "failing" otherwise.
	Status string `json:"status"`
	// Checks maps each check's name to "ok" or its error's text.
	Checks map[string]string `json:"checks"`
}

// OK reports whether every check passed.
func (r HealthReport) OK() bool { return r.Status == "ok" }

// Add registers a named check; a name added twice panics (two checks would hide each other).
func (h *Health) Add(name string, check func(ctx context.Context) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, c := range h.checks {
		if c.name == name {
			panic("service: health check added twice: " + name)
		}
	}
	h.checks = append(h.checks, healthCheck{name: name, check: check})
}

// Check runs every check now.
func (h *Health) Check(ctx context.Context) HealthReport {
	h.mu.Lock()
	checks := append([]healthCheck(nil), h.checks...)
	h.mu.Unlock()
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = DefaultHealthTimeout
	}
	results := make([]error, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			results[i] = c.check(ctx)
		})
	}
	wg.Wait()
	r := HealthReport{Status: "ok", Checks: make(map[string]string, len(checks))}
	for i, c := range checks {
		r.Checks[c.name] = "ok"
		if results[i] != nil {
			r.Checks[c.name] = results[i].Error()
			r.Status = "failing"
		}
	}
	return r
}

// ServeHTTP answers with the report: 200 when healthy, 503 otherwise.
func (h *Health) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := h.Check(r.Context())
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	if !rep.OK() {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	_ = json.NewEncoder(w).Encode(rep)
}
