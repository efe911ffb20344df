package service_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/service"
)

// Each constructor names its metric cocoon_<daemon>_<name>; the scrape over HTTP shows them
// in Prometheus' text format.
func TestMetricsScrape(t *testing.T) {
	ctx := context.Background()
	m := service.NewMetrics("oracle")
	m.RecordInfo("v1.2.3")
	m.RecordUp(true)
	m.NewCounter("votes_total", "Votes sent.").Add(2)
	m.NewCounterVec("probes_total", "Probes by result.", "result").WithLabelValues("timeout").Inc()
	m.NewGauge("providers", "Providers followed.").Set(7)
	m.NewGaugeVec("epoch", "Current epoch by network.", "network").WithLabelValues("devnet").Set(3)
	m.NewHistogramVec("probe_seconds", "Probe latency.", []float64{0.1, 1}, "kind").WithLabelValues("tls").Observe(0.5)

	s, err := service.StartHTTP(ctx, testLogger(t), "metrics", "127.0.0.1:0", service.OpsHandler(m, nil))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop(ctx)
	code, body := get(t, s.URL()+"/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		"# HELP cocoon_oracle_votes_total Votes sent.\n# TYPE cocoon_oracle_votes_total counter\ncocoon_oracle_votes_total 2\n",
		`cocoon_oracle_info{version="v1.2.3"} 1`,
		"cocoon_oracle_up 1\n",
		`cocoon_oracle_probes_total{result="timeout"} 1`,
		"cocoon_oracle_providers 7\n",
		`cocoon_oracle_epoch{network="devnet"} 3`,
		`cocoon_oracle_probe_seconds_bucket{kind="tls",le="0.1"} 0`,
		`cocoon_oracle_probe_seconds_bucket{kind="tls",le="1"} 1`,
		"go_goroutines ",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if code, _ := get(t, s.URL()+"/healthz"); code != http.StatusNotFound {
		t.Fatalf("/healthz without a Health: %d", code)
	}

	// Two daemons in one process have separate registries.
	other := service.NewMetrics("oracle")
	other.NewCounter("votes_total", "Votes sent.")

	defer func() {
		if recover() == nil {
			t.Fatal("a metric registered twice did not panic")
		}
	}()
	m.NewGauge("providers", "again")
}
