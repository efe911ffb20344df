// Package gateway is the client's local OpenAI-compatible gateway: a daemon (service shape, flags
// and COCOON_CLIENT_* variables) that serves /v1/models, /v1/chat/completions and /v1/completions
// on a local address and sends each request to a verified provider, paying it per token
// (package client). Any program written for the OpenAI API works against it unchanged.
//
// Besides the OpenAI API it serves the client's own view: GET /cocoon/v1/requests/{id} (a past
// request's receipt and the verification report of the provider that answered), GET
// /cocoon/v1/providers (every provider, verified or refused and why, with what the gateway
// measured), GET /cocoon/v1/status (wallet, channels, dropped providers). See docs/PROTOCOL.md
// "Client gateway".
package gateway

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/service"
)

// EnvPrefix prefixes the gateway's environment variables (COCOON_CLIENT_LISTEN, …).
const EnvPrefix = "COCOON_CLIENT"

// Config is the gateway's configuration.
type Config struct {
	service.Config
	client.Settings
	// Listen serves the OpenAI-compatible API.
	Listen string
	// UsageCost adds the cost to every answer's usage (usage.cocoon: cost and cost_ton). Off, the
	// usage object has OpenAI's fields only (the cost is still in the headers, the stream's
	// trailers and the request record).
	UsageCost bool
}

// DefaultConfig is the gateway's default configuration.
func DefaultConfig() Config {
	return Config{Config: service.DefaultConfig(), Settings: client.DefaultSettings(), Listen: "127.0.0.1:8080", UsageCost: true}
}

// AddFlags registers the gateway's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	c.Settings.AddFlags(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port of the OpenAI-compatible API")
	fs.BoolVar(&c.UsageCost, "usage-cost", c.UsageCost, "add the cost to every answer's usage object (usage.cocoon)")
}

// Check reports every problem at once.
func (c Config) Check() error {
	return errors.Join(c.Config.Check(), c.Settings.Check(), service.CheckListen("API listen address", "listen", c.Listen, false))
}

// Metricer is what the gateway records.
type Metricer interface {
	service.Metricer
	RecordRequest(path string, status int)
	RecordFailover()
	RecordCost(nanoTON float64)
	RecordLatency(ttft, total time.Duration)
	RecordDropped()
}

// Metrics is the gateway's Prometheus implementation.
type Metrics struct {
	*service.Metrics
	requests  *prometheus.CounterVec
	failovers prometheus.Counter
	cost      prometheus.Counter
	ttft      *prometheus.HistogramVec
	dropped   prometheus.Counter
}

// NewMetrics registers the gateway's metrics (cocoon_client_…).
func NewMetrics() *Metrics {
	m := service.NewMetrics("client")
	return &Metrics{
		Metrics:   m,
		requests:  m.NewCounterVec("requests_total", "Inference requests answered, by path and HTTP status.", "path", "status"),
		failovers: m.NewCounter("failovers_total", "Providers given up before an answer started (the next one was tried)."),
		cost:      m.NewCounter("paid_nanoton_total", "nanoTON accepted as owed for answers."),
		ttft:      m.NewHistogramVec("latency_seconds", "Time to the first content and to the end of answers.", prometheus.ExponentialBuckets(0.001, 2, 16), "phase"),
		dropped:   m.NewCounter("providers_dropped_total", "Providers dropped for a receipt or a claim that did not check out."),
	}
}

func (m *Metrics) RecordRequest(path string, status int) {
	m.requests.WithLabelValues(path, http.StatusText(status)).Inc()
}
func (m *Metrics) RecordFailover()            { m.failovers.Inc() }
func (m *Metrics) RecordCost(nanoTON float64) { m.cost.Add(nanoTON) }
func (m *Metrics) RecordLatency(ttft, total time.Duration) {
	m.ttft.WithLabelValues("first_content").Observe(ttft.Seconds())
	m.ttft.WithLabelValues("total").Observe(total.Seconds())
}
func (m *Metrics) RecordDropped() { m.dropped.Inc() }

// NoopMetrics records nothing.
type NoopMetrics struct{ service.NoopMetrics }

func (NoopMetrics) RecordRequest(string, int)                  {}
func (NoopMetrics) RecordFailover()                            {}
func (NoopMetrics) RecordCost(float64)                         {}
func (NoopMetrics) RecordLatency(time.Duration, time.Duration) {}
func (NoopMetrics) RecordDropped()                             {}

// Gateway is the daemon.
type Gateway struct {
	*service.Lifecycle
	cfg    Config
	log    *slog.Logger
	m      Metricer
	health service.Health

	// reports caches each provider's report as JSON for the request records. REQUIRES reportsMu.
	reportsMu sync.Mutex
	reports   map[string]cachedReport

	// Set by the init steps.
	sess *client.Session
	api  *service.HTTPServer
	ops  *service.HTTPServer
}

// New checks cfg and prepares the daemon; Start starts it.
func New(ctx context.Context, cfg Config, log *slog.Logger, m Metricer) (*Gateway, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NoopMetrics{}
	}
	g := &Gateway{Lifecycle: service.NewLifecycle(log), cfg: cfg, log: log, m: m}
	m.RecordInfo(buildinfo.Version)
	g.health.Add("lifecycle", g.Healthy)
	g.health.Add("providers", g.providersHealthy)
	g.Add("session", g.initSession)
	g.Add("providers", g.initProviders)
	g.AddLoop("refresh", g.refreshLoop)
	g.Add("api", g.initAPI)
	g.AddOps(g.cfg.MetricsListen, g.m, &g.health, &g.ops)
	g.AddUp(m)
	return g, nil
}

func (g *Gateway) initSession(ctx context.Context) (service.StopFunc, error) {
	sess, err := client.OpenSession(ctx, g.cfg.Settings, g.log, func(line string) { g.log.Info(line) })
	if err != nil {
		return nil, err
	}
	g.sess = sess
	if sess.WalletErr != nil {
		g.log.Warn("no wallet: the gateway discovers and verifies providers but cannot open channels", "err", sess.WalletErr)
	} else {
		g.log.Info("paying from wallet", "wallet", sess.Payer.Wallet().String())
	}
	return func(context.Context) error { return sess.Close() }, nil
}

// initProviders discovers and verifies once before serving; a chain that cannot be read yet is
// logged, and the refresh loop and each request try again.
func (g *Gateway) initProviders(ctx context.Context) (service.StopFunc, error) {
	if err := g.sess.Client.Refresh(ctx); err != nil {
		g.log.Warn("failed to discover providers; will retry", "err", err)
		return nil, nil
	}
	g.logProviders()
	return nil, nil
}

func (g *Gateway) logProviders() {
	verified := 0
	for _, p := range g.sess.Client.Providers() {
		if p.Verified() {
			verified++
		}
	}
	g.log.Info("providers discovered", "total", len(g.sess.Client.Providers()), "verified", verified)
}

func (g *Gateway) refreshLoop(ctx context.Context) error {
	t := time.NewTicker(g.cfg.Refresh)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			if err := g.sess.Client.Refresh(ctx); err != nil && ctx.Err() == nil {
				g.log.Warn("failed to refresh providers", "err", err)
			}
		}
	}
}

func (g *Gateway) providersHealthy(context.Context) error {
	if g.sess == nil || g.sess.Client.Snapshot() == nil {
		return errors.New("providers not discovered yet")
	}
	return nil
}

func (g *Gateway) initAPI(ctx context.Context) (service.StopFunc, error) {
	s, err := service.StartHTTP(ctx, g.log, "api", g.cfg.Listen, g.Handler())
	if err != nil {
		return nil, err
	}
	g.api = s
	return s.Stop, nil
}

// Addr is the API's address once started.
func (g *Gateway) Addr() string { return g.api.Addr() }

// Session is the gateway's client session once started.
func (g *Gateway) Session() *client.Session { return g.sess }
