package api

import (
	"math"
	"slices"

	"github.com/cocoon-go/cocoon/indexer/store"
)

// A provider's uptime comes from the oracles' uptime tables that the indexer fetched and verified
// against the roots on-chain (package indexer/tables); nothing else. docs/PROTOCOL.md "Uptime"
// defines the aggregation, aggregate implements it:
//
//   - An epoch of an oracle counts in a window of length W at time t when it ended in (t−W, t].
//   - Per oracle: the fraction is Σ probes ok / Σ probes of the provider's entries in the window
//     (an oracle with no probe of the provider there has no fraction).
//   - The uptime is the median of the oracles' fractions (the mean of the two middle ones for an
//     even count), so one oracle cannot move it past the others; null when no oracle has one.
//   - Latency (7 days): per oracle, the mean of the entries' p50 (and p90) weighted by their
//     successful probes, then the median over oracles, rounded to whole milliseconds.

// Uptime windows.
const (
	day         = 86400
	uptimeSpan  = 30 * day // the longest window, and the history shown
	latencySpan = 7 * day
)

// Uptime is a provider's availability as the oracles measured it.
type Uptime struct {
	Day   *float64 `json:"1d" desc:"fraction of probes that succeeded in the last day: the median over oracles of each oracle's probes ok / probes (verified tables only); null when no oracle probed it"`
	Week  *float64 `json:"7d" desc:"the same over the last 7 days"`
	Month *float64 `json:"30d" desc:"the same over the last 30 days"`
	// Latency over the last 7 days.
	LatencyP50 *uint32 `json:"latency_p50_ms" desc:"last 7 days: median over oracles of the probe-weighted mean of the epochs' p50 latency (ms); null without a successful probe"`
	LatencyP90 *uint32 `json:"latency_p90_ms" desc:"the same of the epochs' p90 latency"`
	Oracles    int     `json:"oracles" desc:"oracles whose verified tables probed it in the last 7 days"`
	// MeasuredUntil is the end of the newest verified epoch holding the provider (30 days).
	MeasuredUntil *int64 `json:"measured_until" desc:"end of the newest verified epoch that holds it (last 30 days); null when none"`
}

// probeSums adds up one oracle's entries.
type probeSums struct {
	ok, total    uint64
	p50w, p90w   float64 // latency × successful probes
	latencyProbe uint64  // successful probes with a latency
}

func (s *probeSums) add(r store.UptimeRow) {
	s.ok += uint64(r.ProbesOK)
	s.total += uint64(r.ProbesTotal)
	if r.ProbesOK > 0 {
		s.p50w += float64(r.LatencyP50) * float64(r.ProbesOK)
		s.p90w += float64(r.LatencyP90) * float64(r.ProbesOK)
		s.latencyProbe += uint64(r.ProbesOK)
	}
}

// byOracle sums rows per oracle.
type byOracle map[string]*probeSums

func (b byOracle) add(r store.UptimeRow) {
	s := b[r.Oracle]
	if s == nil {
		s = &probeSums{}
		b[r.Oracle] = s
	}
	s.add(r)
}

// fraction is the median over oracles of probes ok / probes (nil when no oracle probed).
func (b byOracle) fraction() *float64 {
	var fs []float64
	for _, s := range b {
		if s.total > 0 {
			fs = append(fs, float64(s.ok)/float64(s.total))
		}
	}
	return median(fs)
}

// latency is the median over oracles of their probe-weighted mean p50 and p90 (nil without a
// successful probe).
func (b byOracle) latency() (p50, p90 *uint32) {
	var l50, l90 []float64
	for _, s := range b {
		if s.latencyProbe > 0 {
			l50 = append(l50, s.p50w/float64(s.latencyProbe))
			l90 = append(l90, s.p90w/float64(s.latencyProbe))
		}
	}
	return roundMs(median(l50)), roundMs(median(l90))
}

func (b byOracle) oracles() int {
	n := 0
	for _, s := range b {
		if s.total > 0 {
			n++
		}
	}
	return n
}

func median(v []float64) *float64 {
	if len(v) == 0 {
		return nil
	}
	slices.Sort(v)
	m := v[len(v)/2]
	if len(v)%2 == 0 {
		m = (v[len(v)/2-1] + m) / 2
	}
	return &m
}

func roundMs(v *float64) *uint32 {
	if v == nil {
		return nil
	}
	r := uint32(math.Round(*v))
	return &r
}

// aggregate is a provider's uptime at t from its verified entries (any order; those of epochs that
// ended after t or more than 30 days before it are ignored).
func aggregate(rows []store.UptimeRow, t uint32) Uptime {
	windows := []struct {
		span uint32
		dst  **float64
		sums byOracle
	}{{day, nil, byOracle{}}, {latencySpan, nil, byOracle{}}, {uptimeSpan, nil, byOracle{}}}
	var u Uptime
	windows[0].dst, windows[1].dst, windows[2].dst = &u.Day, &u.Week, &u.Month
	var newest uint32
	for _, r := range rows {
		if r.End > t {
			continue
		}
		for _, w := range windows {
			if t-r.End < w.span {
				w.sums.add(r)
			}
		}
		if t-r.End < uptimeSpan {
			newest = max(newest, r.End)
		}
	}
	for _, w := range windows {
		*w.dst = w.sums.fraction()
	}
	u.LatencyP50, u.LatencyP90 = windows[1].sums.latency()
	u.Oracles = windows[1].sums.oracles()
	u.MeasuredUntil = timePtr(newest)
	return u
}

// UptimeDay is one day of a provider's uptime.
type UptimeDay struct {
	Start  int64    `json:"start" desc:"the day's start (unix seconds, UTC)"`
	Uptime *float64 `json:"uptime" desc:"median over oracles of probes ok / probes of the epochs that ended that day; null when none probed it"`
	// ProbesOK and Probes are summed over the oracles.
	ProbesOK uint64 `json:"probes_ok" desc:"successful probes, all oracles"`
	Probes   uint64 `json:"probes" desc:"probes, all oracles"`
	Oracles  int    `json:"oracles" desc:"oracles whose verified tables probed it that day"`
}

// dailyUptime is the last n days up to t's day, oldest first; an epoch belongs to the day its last
// second is in.
func dailyUptime(rows []store.UptimeRow, t uint32, n int) []UptimeDay {
	days := map[uint32]byOracle{}
	for _, r := range rows {
		if r.End == 0 || r.End > t {
			continue
		}
		d := (r.End - 1) / day
		if days[d] == nil {
			days[d] = byOracle{}
		}
		days[d].add(r)
	}
	out := make([]UptimeDay, 0, n)
	for i := n - 1; i >= 0; i-- {
		d := int64(t/day) - int64(i)
		if d < 0 {
			continue
		}
		p := UptimeDay{Start: d * day}
		if b := days[uint32(d)]; b != nil {
			p.Uptime, p.Oracles = b.fraction(), b.oracles()
			for _, s := range b {
				p.ProbesOK += s.ok
				p.Probes += s.total
			}
		}
		out = append(out, p)
	}
	return out
}

// uptimeRows reads provider's verified entries of the 30 days up to t.
func (a *API) uptimeRows(provider string, t uint32) ([]store.UptimeRow, error) {
	var rows []store.UptimeRow
	from := uint32(0)
	if t > uptimeSpan {
		from = t - uptimeSpan + 1
	}
	err := a.cfg.Store.UptimeRows(provider, from, t, func(r store.UptimeRow) bool {
		rows = append(rows, r)
		return true
	})
	return rows, err
}

// uptimeCache holds every provider's uptime for one store generation and minute: the windows move
// with the clock, but a minute's drift of their start is not worth a recomputation every second.
type uptimeCache struct {
	gen    uint64
	minute uint32
	by     map[string]Uptime
}

// minuteEnd is the last second of now's minute: the time uptime is computed at. No epoch ends after
// now (a table's epoch ended before its commitment), so only the windows' start moves by less than
// a minute.
func minuteEnd(now uint32) uint32 { return now - now%60 + 59 }

// uptimesLocked is the uptime of each provider at the end of now's minute. REQUIRES a.mu held.
func (a *API) uptimesLocked(gen uint64, now uint32, providers []string) (map[string]Uptime, error) {
	t := minuteEnd(now)
	if c := a.uptimes; c != nil && c.gen == gen && c.minute == t {
		return c.by, nil
	}
	by := make(map[string]Uptime, len(providers))
	for _, p := range providers {
		rows, err := a.uptimeRows(p, t)
		if err != nil {
			return nil, err
		}
		by[p] = aggregate(rows, t)
	}
	a.uptimes = &uptimeCache{gen: gen, minute: t, by: by}
	return by, nil
}

// UptimeEntry is a provider's entry in one oracle's verified table.
type UptimeEntry struct {
	Oracle      Addr   `json:"oracle"`
	Epoch       uint32 `json:"epoch" desc:"the oracle's epoch"`
	Start       int64  `json:"start" desc:"the epoch's first second"`
	End         int64  `json:"end" desc:"the epoch's end (exclusive)"`
	ProbesOK    uint32 `json:"probes_ok"`
	ProbesTotal uint32 `json:"probes_total"`
	LatencyP50  uint32 `json:"latency_p50_ms" desc:"nearest-rank p50 of the successful probes (0 when none)"`
	LatencyP90  uint32 `json:"latency_p90_ms"`
	Tx          string `json:"tx" desc:"the registry transaction that committed the table's root"`
}

// maxUptimeEntries is how many entries a provider's page lists.
const maxUptimeEntries = 50

// uptimeDetail is a provider's daily uptime and newest entries at the end of now's minute.
func (a *API) uptimeDetail(provider string, now uint32) ([]UptimeDay, []UptimeEntry, error) {
	t := minuteEnd(now)
	rows, err := a.uptimeRows(provider, t)
	if err != nil {
		return nil, nil, err
	}
	entries := []UptimeEntry{}
	for i := len(rows) - 1; i >= 0 && len(entries) < maxUptimeEntries; i-- {
		r := rows[i]
		c, err := a.cfg.Store.Commitment(r.Oracle, r.LT)
		if err != nil {
			return nil, nil, err
		}
		entries = append(entries, UptimeEntry{Oracle: *addr(r.Oracle), Epoch: r.Epoch, Start: int64(r.Start), End: int64(r.End),
			ProbesOK: r.ProbesOK, ProbesTotal: r.ProbesTotal, LatencyP50: r.LatencyP50, LatencyP90: r.LatencyP90, Tx: c.Tx})
	}
	return dailyUptime(rows, t, 30), entries, nil
}
