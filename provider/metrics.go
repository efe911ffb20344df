package provider

import (
	"math/big"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-go/cocoon/service"
)

// Metricer is what the provider records (Prometheus: cocoon_provider_*, on the ops listener).
type Metricer interface {
	service.Metricer
	// RecordRequest counts an inference request by model and how it ended ("200", "402",
	// "402 voucher_too_low", "429", "502", "cut" …), with its duration.
	RecordRequest(model, outcome string, stream bool, d time.Duration)
	// RecordTTFT is the time from a request's arrival to its first delivered token.
	RecordTTFT(model string, d time.Duration)
	// RecordTokens counts billed tokens.
	RecordTokens(model string, prompt, completion uint64)
	// RecordBilled adds nanoTON billed.
	RecordBilled(nano *big.Int)
	// RecordUnpaid sets the credit outstanding: what is owed or reserved beyond the vouchers held,
	// and what the vouchers hold beyond what the chain accepted (unclaimed).
	RecordUnpaid(credit, unclaimed *big.Int)
	// RecordClaim counts a claim by result ("ok", "failed", "refused") and the nanoTON it paid.
	RecordClaim(result string, paid *big.Int)
	// RecordAttestation sets when the RA-TLS certificate and the on-chain attestation expire
	// (zero: none).
	RecordAttestation(certNotAfter, chainValidUntil time.Time)
	// RecordInflight sets the requests running.
	RecordInflight(n int)
}

// Metrics is the Prometheus Metricer.
type Metrics struct {
	*service.Metrics
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	ttft      *prometheus.HistogramVec
	tokens    *prometheus.CounterVec
	billed    prometheus.Counter
	credit    prometheus.Gauge
	unclaimed prometheus.Gauge
	claims    *prometheus.CounterVec
	claimed   prometheus.Counter
	certExp   prometheus.Gauge
	chainExp  prometheus.Gauge
	inflight  prometheus.Gauge
}

// latencyBuckets suit both a loopback answer (sub-millisecond) and a long generation.
var latencyBuckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120}

// NewMetrics registers the provider's metrics in a registry of its own.
func NewMetrics() *Metrics {
	m := service.NewMetrics("provider")
	return &Metrics{
		Metrics:   m,
		requests:  m.NewCounterVec("requests_total", "Inference requests by model and outcome (HTTP status, 402 code, cut).", "model", "outcome"),
		duration:  m.NewHistogramVec("request_duration_seconds", "Inference request duration.", latencyBuckets, "model", "stream"),
		ttft:      m.NewHistogramVec("time_to_first_token_seconds", "Time from a request's arrival to its first delivered token.", latencyBuckets, "model"),
		tokens:    m.NewCounterVec("tokens_total", "Billed tokens by model and kind (prompt, completion).", "model", "kind"),
		billed:    m.NewCounter("billed_nanoton_total", "NanoTON billed to clients (owed)."),
		credit:    m.NewGauge("unpaid_credit_nanoton", "Owed and reserved nanoTON not covered by the vouchers held (the credit extended)."),
		unclaimed: m.NewGauge("unclaimed_nanoton", "Voucher amounts held beyond what the channels accepted on-chain."),
		claims:    m.NewCounterVec("claims_total", "Claims sent by result.", "result"),
		claimed:   m.NewCounter("claimed_nanoton_total", "NanoTON the claims paid out of channels."),
		certExp:   m.NewGauge("attestation_certificate_expiry_timestamp_seconds", "When the current RA-TLS certificate expires (unix)."),
		chainExp:  m.NewGauge("attestation_valid_until_timestamp_seconds", "When the on-chain confirmed attestation expires (unix; 0: none)."),
		inflight:  m.NewGauge("inflight_requests", "Inference requests running."),
	}
}

func (m *Metrics) RecordRequest(model, outcome string, stream bool, d time.Duration) {
	m.requests.WithLabelValues(model, outcome).Inc()
	s := "false"
	if stream {
		s = "true"
	}
	m.duration.WithLabelValues(model, s).Observe(d.Seconds())
}

func (m *Metrics) RecordTTFT(model string, d time.Duration) {
	m.ttft.WithLabelValues(model).Observe(d.Seconds())
}

func (m *Metrics) RecordTokens(model string, prompt, completion uint64) {
	m.tokens.WithLabelValues(model, "prompt").Add(float64(prompt))
	m.tokens.WithLabelValues(model, "completion").Add(float64(completion))
}

func (m *Metrics) RecordBilled(nano *big.Int) { m.billed.Add(toFloat(nano)) }

func (m *Metrics) RecordUnpaid(credit, unclaimed *big.Int) {
	m.credit.Set(toFloat(credit))
	m.unclaimed.Set(toFloat(unclaimed))
}

func (m *Metrics) RecordClaim(result string, paid *big.Int) {
	m.claims.WithLabelValues(result).Inc()
	if paid != nil {
		m.claimed.Add(toFloat(paid))
	}
}

func (m *Metrics) RecordAttestation(cert, chain time.Time) {
	m.certExp.Set(unixOrZero(cert))
	m.chainExp.Set(unixOrZero(chain))
}

func (m *Metrics) RecordInflight(n int) { m.inflight.Set(float64(n)) }

func toFloat(x *big.Int) float64 {
	f, _ := new(big.Float).SetInt(x).Float64()
	return f
}

func unixOrZero(t time.Time) float64 {
	if t.IsZero() {
		return 0
	}
	return float64(t.Unix())
}

// NoopMetrics is the no-op twin.
type NoopMetrics struct{ service.NoopMetrics }

func (NoopMetrics) RecordRequest(string, string, bool, time.Duration) {}
func (NoopMetrics) RecordTTFT(string, time.Duration)                  {}
func (NoopMetrics) RecordTokens(string, uint64, uint64)               {}
func (NoopMetrics) RecordBilled(*big.Int)                             {}
func (NoopMetrics) RecordUnpaid(*big.Int, *big.Int)                   {}
func (NoopMetrics) RecordClaim(string, *big.Int)                      {}
func (NoopMetrics) RecordAttestation(time.Time, time.Time)            {}
func (NoopMetrics) RecordInflight(int)                                {}

var (
	_ Metricer = (*Metrics)(nil)
	_ Metricer = NoopMetrics{}
)
