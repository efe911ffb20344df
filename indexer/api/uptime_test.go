package api

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/indexer/store"
)

// row is oracle's entry for an hour-long epoch that ended ago seconds before t0.
func row(oracle string, ago uint32, ok, total, p50, p90 uint32) store.UptimeRow {
	end := t0 - ago
	return store.UptimeRow{Provider: "0:aa", Oracle: oracle, Start: end - 3600, End: end, ProbesOK: ok, ProbesTotal: total, LatencyP50: p50, LatencyP90: p90}
}

const t0 = 100 * day

func f(v float64) *float64 { return &v }
func ms(v uint32) *uint32  { return &v }

// TestAggregate: the uptime of each window is the median over oracles of probes ok / probes of the
// epochs that ended in it; one oracle cannot move it past the others; the latency is the median
// over oracles of the probe-weighted mean of the epochs' percentiles.
func TestAggregate(t *testing.T) {
	cases := []struct {
		name string
		rows []store.UptimeRow
		want Uptime
	}{
		{name: "no entry", want: Uptime{}},
		{name: "one oracle, windows by the epoch's end", rows: []store.UptimeRow{
			row("A", 0, 4, 4, 10, 20),          // ended now: in every window
			row("A", day-1, 2, 4, 30, 40),      // in the last day
			row("A", day, 0, 4, 0, 0),          // ended exactly a day ago: not in the last day
			row("A", 8*day, 1, 4, 50, 60),      // only in 30 days
			row("A", 30*day, 4, 4, 1000, 1000), // ended 30 days ago: in no window
		}, want: Uptime{Day: f(6.0 / 8), Week: f(6.0 / 12), Month: f(7.0 / 16), LatencyP50: ms(17), LatencyP90: ms(27), Oracles: 1, MeasuredUntil: timePtr(t0)}},
		{name: "the median of three oracles ignores the lying one", rows: []store.UptimeRow{
			row("A", 100, 9, 10, 10, 20), row("B", 200, 8, 10, 12, 22), row("C", 300, 10, 10, 1, 1),
		}, want: Uptime{Day: f(0.9), Week: f(0.9), Month: f(0.9), LatencyP50: ms(10), LatencyP90: ms(20), Oracles: 3, MeasuredUntil: timePtr(t0 - 100)}},
		{name: "two oracles: the mean of the two", rows: []store.UptimeRow{
			row("A", 100, 1, 2, 10, 10), row("B", 100, 2, 2, 20, 30),
		}, want: Uptime{Day: f(0.75), Week: f(0.75), Month: f(0.75), LatencyP50: ms(15), LatencyP90: ms(20), Oracles: 2, MeasuredUntil: timePtr(t0 - 100)}},
		{name: "never up: zero, and no latency", rows: []store.UptimeRow{row("A", 100, 0, 3, 0, 0)},
			want: Uptime{Day: f(0), Week: f(0), Month: f(0), Oracles: 1, MeasuredUntil: timePtr(t0 - 100)}},
		{name: "an epoch that ends after now is not counted", rows: []store.UptimeRow{{Oracle: "A", End: t0 + 1, ProbesOK: 1, ProbesTotal: 1}},
			want: Uptime{}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := aggregate(tc.rows, t0)
			require.Equal(t, tc.want, got)
		})
	}
}

// TestDailyUptime: one point per day, an epoch in the day its last second is in, zeros where no
// oracle probed.
func TestDailyUptime(t *testing.T) {
	rows := []store.UptimeRow{row("A", 10, 1, 2, 0, 0), row("B", 10, 2, 2, 0, 0), row("A", day, 3, 4, 0, 0)}
	got := dailyUptime(rows, t0, 3)
	require.Len(t, got, 3)
	require.Equal(t, UptimeDay{Start: int64(t0 - 2*day), Uptime: f(0.75), ProbesOK: 3, Probes: 4, Oracles: 1}, got[0], "ended at midnight: the day before")
	require.Equal(t, UptimeDay{Start: int64(t0 - day), Uptime: f(0.75), ProbesOK: 3, Probes: 4, Oracles: 2}, got[1])
	require.Equal(t, UptimeDay{Start: int64(t0)}, got[2], "nothing ended today yet")
}
