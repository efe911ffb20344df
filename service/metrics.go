package service

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metricer is what every daemon records about itself. A daemon declares its own Metricer
// interface that embeds this one and adds its own Record methods; its Prometheus
// implementation embeds *Metrics, its no-op twin embeds NoopMetrics:
//
//	type Metricer interface {
//		service.Metricer
//		RecordClaim(amount uint64)
//	}
type Metricer interface {
	// RecordInfo publishes the daemon's version as <ns>_info{version="…"} 1.
	RecordInfo(version string)
	// RecordUp sets <ns>_up: 1 once the daemon has started, 0 once it stops.
	RecordUp(up bool)
}

// Registerer is a Metricer that can be served: a *Metrics, or a daemon's metrics embedding
// one. The no-op twin is not one, so a daemon without metrics serves no /metrics.
type Registerer interface {
	Registry() *prometheus.Registry
}

// Metrics is one daemon's Prometheus registry, with the Go runtime and process collectors,
// the metrics every daemon has (up, info), and constructors that name a daemon's own metrics
// cocoon_<daemon>_<name> and register them. Each daemon has its own registry, so two daemons
// in one process (tests) never collide.
type Metrics struct {
	reg       *prometheus.Registry
	subsystem string
	up        prometheus.Gauge
	info      *prometheus.GaugeVec
}

// Namespace prefixes every Cocoon metric.
const Namespace = "cocoon"

// NewMetrics returns a registry for the named daemon ("provider", "oracle", …).
func NewMetrics(daemon string) *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), subsystem: daemon}
	m.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.up = m.NewGauge("up", "1 while the daemon is started, 0 before and after.")
	m.info = m.NewGaugeVec("info", "Always 1; the labels describe the running daemon.", "version")
	return m
}

// Registry is the daemon's registry, for collectors of other libraries.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// RecordInfo implements Metricer.
func (m *Metrics) RecordInfo(version string) { m.info.WithLabelValues(version).Set(1) }

// RecordUp implements Metricer.
func (m *Metrics) RecordUp(up bool) {
	if up {
		m.up.Set(1)
	} else {
		m.up.Set(0)
	}
}

func (m *Metrics) opts(name, help string) prometheus.Opts {
	return prometheus.Opts{Namespace: Namespace, Subsystem: m.subsystem, Name: name, Help: help}
}

// register adds c to the daemon's registry; like all the constructors below it panics when
// the name is taken: two metrics with one name are a bug.
func register[C prometheus.Collector](m *Metrics, c C) C {
	m.reg.MustRegister(c)
	return c
}

// NewCounter registers cocoon_<daemon>_<name> (by convention name ends in _total).
func (m *Metrics) NewCounter(name, help string) prometheus.Counter {
	return register(m, prometheus.NewCounter(prometheus.CounterOpts(m.opts(name, help))))
}

// NewCounterVec registers a counter with labels.
func (m *Metrics) NewCounterVec(name, help string, labels ...string) *prometheus.CounterVec {
	return register(m, prometheus.NewCounterVec(prometheus.CounterOpts(m.opts(name, help)), labels))
}

// NewGauge registers a gauge.
func (m *Metrics) NewGauge(name, help string) prometheus.Gauge {
	return register(m, prometheus.NewGauge(prometheus.GaugeOpts(m.opts(name, help))))
}

// NewGaugeVec registers a gauge with labels.
func (m *Metrics) NewGaugeVec(name, help string, labels ...string) *prometheus.GaugeVec {
	return register(m, prometheus.NewGaugeVec(prometheus.GaugeOpts(m.opts(name, help)), labels))
}

// NewHistogramVec registers a histogram with labels (nil buckets: Prometheus' defaults,
// which suit seconds from 5 ms to 10 s).
func (m *Metrics) NewHistogramVec(name, help string, buckets []float64, labels ...string) *prometheus.HistogramVec {
	o := m.opts(name, help)
	return register(m, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: o.Namespace, Subsystem: o.Subsystem, Name: o.Name, Help: o.Help, Buckets: buckets,
	}, labels))
}

// NoopMetrics is the no-op twin of Metrics, for tests and for daemons run without metrics.
type NoopMetrics struct{}

// RecordInfo does nothing.
func (NoopMetrics) RecordInfo(string) {}

// RecordUp does nothing.
func (NoopMetrics) RecordUp(bool) {}

var (
	_ Metricer   = (*Metrics)(nil)
	_ Registerer = (*Metrics)(nil)
	_ Metricer   = NoopMetrics{}
)

// OpsHandler serves the daemon's operations endpoints: GET /metrics (Prometheus text format,
// when m is a Registerer; 404 otherwise) and GET /healthz (h; 404 when nil).
func OpsHandler(m Metricer, h *Health) http.Handler {
	mux := http.NewServeMux()
	if r, ok := m.(Registerer); ok {
		mux.Handle("GET /metrics", promhttp.HandlerFor(r.Registry(), promhttp.HandlerOpts{Registry: r.Registry()}))
	}
	if h != nil {
		mux.Handle("GET /healthz", h)
	}
	return mux
}
