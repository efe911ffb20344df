package oracle

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-go/cocoon/service"
)

// Metricer is what the oracle records about itself.
type Metricer interface {
	service.Metricer
	// RecordProviders is the number of Provider contracts known and of those the oracle's last
	// check found verifying.
	RecordProviders(known, verified int)
	// RecordCheck counts an evidence check by result: "ok", "ineligible", "unreachable", "refused"
	// (the evidence did not verify).
	RecordCheck(result string)
	// RecordVote counts votes by result: "sent", "duplicate", "skipped" (a live vote for the claim
	// exists), "refused", "failed".
	RecordVote(result string)
	// RecordProbe counts a probe and, when it succeeded, its duration.
	RecordProbe(ok bool, d time.Duration)
	// RecordEpoch is the last epoch whose root the registry stored.
	RecordEpoch(epoch uint32)
	// RecordWrite counts chain writes by kind ("vote", "uptime") and result ("ok", "retry", "failed").
	RecordWrite(kind, result string)
	// RecordBalance is the wallet's balance in nanoTON and whether it is below the minimum.
	RecordBalance(nano float64, low bool)
}

// Metrics is the Prometheus Metricer (cocoon_oracle_*).
type Metrics struct {
	*service.Metrics
	known, verified prometheus.Gauge
	checks          *prometheus.CounterVec
	votes           *prometheus.CounterVec
	probes          *prometheus.CounterVec
	probeLatency    prometheus.Observer
	epoch           prometheus.Gauge
	writes          *prometheus.CounterVec
	balance, low    prometheus.Gauge
}

// NewMetrics registers the oracle's metrics in a registry of its own.
func NewMetrics() *Metrics {
	m := service.NewMetrics("oracle")
	return &Metrics{
		Metrics:  m,
		known:    m.NewGauge("providers_known", "Provider contracts found in the registry's transactions."),
		verified: m.NewGauge("providers_verified", "Providers whose evidence verified at the oracle's last check."),
		checks:   m.NewCounterVec("evidence_checks_total", "Evidence checks by result.", "result"),
		votes:    m.NewCounterVec("votes_total", "Attestation votes by result.", "result"),
		probes:   m.NewCounterVec("probes_total", "Availability probes by result.", "result"),
		probeLatency: m.NewHistogramVec("probe_duration_seconds", "Duration of successful probes (RA-TLS handshake and /v1/models).",
			nil).WithLabelValues(),
		epoch:   m.NewGauge("uptime_epoch_committed", "Last epoch whose uptime root the registry stored."),
		writes:  m.NewCounterVec("chain_writes_total", "Chain writes by kind and result.", "kind", "result"),
		balance: m.NewGauge("wallet_balance_nanoton", "The oracle wallet's balance."),
		low:     m.NewGauge("wallet_balance_low", "1 when the wallet's balance is below --min-balance."),
	}
}

func (m *Metrics) RecordProviders(known, verified int) {
	m.known.Set(float64(known))
	m.verified.Set(float64(verified))
}
func (m *Metrics) RecordCheck(result string) { m.checks.WithLabelValues(result).Inc() }
func (m *Metrics) RecordVote(result string)  { m.votes.WithLabelValues(result).Inc() }
func (m *Metrics) RecordProbe(ok bool, d time.Duration) {
	if ok {
		m.probes.WithLabelValues("up").Inc()
		m.probeLatency.Observe(d.Seconds())
		return
	}
	m.probes.WithLabelValues("down").Inc()
}
func (m *Metrics) RecordEpoch(epoch uint32)        { m.epoch.Set(float64(epoch)) }
func (m *Metrics) RecordWrite(kind, result string) { m.writes.WithLabelValues(kind, result).Inc() }
func (m *Metrics) RecordBalance(nano float64, low bool) {
	m.balance.Set(nano)
	if low {
		m.low.Set(1)
	} else {
		m.low.Set(0)
	}
}

// NoopMetrics records nothing.
type NoopMetrics struct{ service.NoopMetrics }

func (NoopMetrics) RecordProviders(int, int)        {}
func (NoopMetrics) RecordCheck(string)              {}
func (NoopMetrics) RecordVote(string)               {}
func (NoopMetrics) RecordProbe(bool, time.Duration) {}
func (NoopMetrics) RecordEpoch(uint32)              {}
func (NoopMetrics) RecordWrite(string, string)      {}
func (NoopMetrics) RecordBalance(float64, bool)     {}

var (
	_ Metricer = (*Metrics)(nil)
	_ Metricer = NoopMetrics{}
)
