package oracle

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/uptime"
)

// probe asks a provider what every client asks first, for free: the RA-TLS handshake (its
// certificate verified against the allow-list) and GET /v1/models, which must answer 200 with a
// model list. It returns how long that took. No completion is requested: one would need a funded
// channel per provider and oracle, and a provider could answer the oracle's channel differently
// (docs/DECISIONS.md).
func (o *Oracle) probeOnce(ctx context.Context, v *attest.Verifier, base string) (time.Duration, error) {
	client, _ := o.raTLSClient(v)
	defer client.CloseIdleConnections()
	start := time.Now()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/models", nil)
	if err != nil {
		return 0, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return 0, fmt.Errorf("reading /v1/models: %w", err)
	}
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/v1/models answered %s", resp.Status)
	}
	var list struct {
		Object string            `json:"object"`
		Data   []json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil || list.Object != "list" {
		return 0, fmt.Errorf("/v1/models did not answer a model list")
	}
	return took, nil
}

// probe runs one probe of p, records it under the epoch it started in and returns when the next
// probe is due: ProbeInterval while up; while down ProbeRetryMin doubling to ProbeRetryMax, and
// ProbeDaily once the provider has been down for ProbeDaily.
func (o *Oracle) probe(ctx context.Context, p *providerState, endpoint string) time.Time {
	start := o.clock.Now()
	reg := o.registryView()
	var took time.Duration
	err := fmt.Errorf("the registry allows no measurement this oracle accepts")
	if reg.verifier != nil {
		var base string
		if base, err = baseURL(endpoint); err == nil {
			pctx, cancel := context.WithTimeout(ctx, o.cfg.ProbeTimeout)
			took, err = o.probeOnce(pctx, reg.verifier, base)
			cancel()
		}
	}
	if ctx.Err() != nil {
		return start // stopping: the probe does not count
	}
	rec := probeRecord{OK: err == nil, LatencyMs: uint32(min(took.Milliseconds(), 1<<31))}
	if err != nil {
		rec.Error = err.Error()
	}
	o.m.RecordProbe(rec.OK, took)
	if err := o.st.putProbe(uptime.Epoch(start, o.cfg.Epoch), p.addr.StringRaw(), start, rec); err != nil {
		o.log.Error("failed to record a probe", "err", err)
	}
	o.mu.Lock()
	defer o.mu.Unlock()
	p.lastProbe = start
	if rec.OK {
		if p.failures > 0 {
			o.log.Info("provider is up again", "provider", o.friendly(p.addr), "down_for", start.Sub(p.downSince).Round(time.Second))
		}
		p.failures, p.downSince, p.probeErr = 0, time.Time{}, ""
		return start.Add(o.cfg.ProbeInterval)
	}
	if p.failures == 0 {
		p.downSince = start
		o.log.Info("provider is down", "provider", o.friendly(p.addr), "err", err)
	}
	p.failures++
	p.probeErr = rec.Error
	return start.Add(probeBackoff(p.failures, start.Sub(p.downSince), o.cfg))
}

// probeBackoff is the delay after the n-th failed probe in a row of a provider down for downFor.
func probeBackoff(n int, downFor time.Duration, cfg Config) time.Duration {
	if downFor >= cfg.ProbeDaily {
		return cfg.ProbeDaily
	}
	d := cfg.ProbeRetryMin
	for i := 1; i < n && d < cfg.ProbeRetryMax; i++ {
		d *= 2
	}
	return min(d, cfg.ProbeRetryMax)
}
