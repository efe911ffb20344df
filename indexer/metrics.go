package indexer

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/tables"
	"github.com/cocoon-go/cocoon/service"
)

// Metricer is what the indexer records: the service's own metrics, the follower's and the API's.
type Metricer interface {
	service.Metricer
	follow.Metricer
	api.Metricer
	tables.Metricer
}

// Metrics is the Prometheus Metricer (cocoon_indexer_*).
type Metrics struct {
	*service.Metrics
	ingested   prometheus.Counter
	unknown    prometheus.Counter
	lag        prometheus.Gauge
	accounts   prometheus.Gauge
	rounds     *prometheus.CounterVec
	roundTime  *prometheus.HistogramVec
	mismatches prometheus.Counter
	requests   *prometheus.HistogramVec
	tables     *prometheus.CounterVec
}

// NewMetrics registers the indexer's metrics in a registry of its own.
func NewMetrics() *Metrics {
	m := service.NewMetrics("indexer")
	return &Metrics{
		Metrics:    m,
		ingested:   m.NewCounter("ingested_transactions_total", "Transactions written to the store (rate() is the ingest rate in tx/s)."),
		unknown:    m.NewCounter("unknown_bodies_total", "Message bodies no Cocoon message matches, kept raw."),
		lag:        m.NewGauge("ingest_lag_seconds", "Seconds between the newest transaction of the last batch and its ingestion (0 once caught up)."),
		accounts:   m.NewGauge("followed_accounts", "Contracts followed: the registry and every provider and channel it deployed."),
		rounds:     m.NewCounterVec("rounds_total", "Passes over every followed account, by result (ok, error).", "result"),
		roundTime:  m.NewHistogramVec("round_duration_seconds", "Time of one pass over every followed account.", nil),
		mismatches: m.NewCounter("state_mismatches_total", "Replayed states that differed from the contract's storage (replaced by it)."),
		requests: m.NewHistogramVec("api_request_duration_seconds", "API and explorer requests by route and status code.",
			[]float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}, "route", "code"),
		tables: m.NewCounterVec("uptime_tables_total", "Oracles' uptime tables fetched, by result: verified, refused (does not match the root on-chain), missing, unreachable, expired.", "result"),
	}
}

func (m *Metrics) RecordIngested(txs, unknown int) {
	m.ingested.Add(float64(txs))
	m.unknown.Add(float64(unknown))
}

func (m *Metrics) RecordLag(seconds float64) { m.lag.Set(seconds) }
func (m *Metrics) RecordAccounts(n int)      { m.accounts.Set(float64(n)) }
func (m *Metrics) RecordMismatch()           { m.mismatches.Inc() }

func (m *Metrics) RecordRound(d time.Duration, err error) {
	result := "ok"
	if err != nil {
		result = "error"
	} else {
		m.lag.Set(0)
	}
	m.rounds.WithLabelValues(result).Inc()
	m.roundTime.WithLabelValues().Observe(d.Seconds())
}

func (m *Metrics) RecordTable(result string) { m.tables.WithLabelValues(result).Inc() }

func (m *Metrics) RecordRequest(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Observe(d.Seconds())
}

// NoopMetrics is the no-op twin.
type NoopMetrics struct{ service.NoopMetrics }

func (NoopMetrics) RecordIngested(int, int)                  {}
func (NoopMetrics) RecordLag(float64)                        {}
func (NoopMetrics) RecordAccounts(int)                       {}
func (NoopMetrics) RecordRound(time.Duration, error)         {}
func (NoopMetrics) RecordMismatch()                          {}
func (NoopMetrics) RecordRequest(string, int, time.Duration) {}
func (NoopMetrics) RecordTable(string)                       {}

var (
	_ Metricer = (*Metrics)(nil)
	_ Metricer = NoopMetrics{}
)
