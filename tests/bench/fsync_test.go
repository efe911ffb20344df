package bench

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/internal/pebblelog"
)

// The durability floor: what one synced write costs on this disk by itself, with nothing else
// running in the process. The provider makes the owed total of every answer durable before the
// answer completes, so a paid request's added latency can never be below one of these.

// fdatasyncTimes writes 128 bytes at the next offset of a preallocated file and fdatasyncs it, n
// times (what a WAL that reuses its files costs: no metadata to update).
func fdatasyncTimes(tb testing.TB, dir string, n int) []time.Duration {
	tb.Helper()
	f, err := os.OpenFile(filepath.Join(dir, "fdatasync"), os.O_CREATE|os.O_RDWR|os.O_TRUNC, 0o600)
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	rec := make([]byte, 128)
	if _, err := f.Write(make([]byte, (n+1)*len(rec))); err != nil {
		tb.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatal(err)
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if _, err := f.WriteAt(rec, int64(i*len(rec))); err != nil {
			tb.Fatal(err)
		}
		if err := fdatasync(f); err != nil {
			tb.Fatal(err)
		}
		out = append(out, time.Since(t0))
	}
	return out
}

// pebbleSyncTimes commits n one-key batches with pebble.Sync to a fresh store, one at a time.
func pebbleSyncTimes(tb testing.TB, dir string, n int) []time.Duration {
	tb.Helper()
	db, err := pebble.Open(filepath.Join(dir, "pebble"), &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	val := make([]byte, 300) // about a channel record
	out := make([]time.Duration, 0, n)
	for i := 0; i < n+50; i++ {
		t0 := time.Now()
		if err := db.Set([]byte("ch/0:0000"), val, pebble.Sync); err != nil {
			tb.Fatal(err)
		}
		if i >= 50 { // the first WAL writes extend a new file
			out = append(out, time.Since(t0))
		}
	}
	return out
}

func BenchmarkFdatasync(b *testing.B) {
	for b.Loop() {
		fdatasyncTimes(b, b.TempDir(), 1)
	}
}

func BenchmarkPebbleSync(b *testing.B) {
	ts := pebbleSyncTimes(b, b.TempDir(), b.N)
	b.ReportMetric(float64(percentile(ts, 0.5).Microseconds()), "p50-µs")
}

func TestSyncFloor(t *testing.T) {
	if testing.Short() {
		t.Skip("touches the disk for a few seconds")
	}
	dir := t.TempDir()
	fd := fdatasyncTimes(t, dir, 2000)
	pb := pebbleSyncTimes(t, dir, 2000)
	t.Logf("fdatasync of 128 bytes in a preallocated file: p50 %v p90 %v p99 %v", percentile(fd, 0.5), percentile(fd, 0.9), percentile(fd, 0.99))
	t.Logf("Pebble Set with Sync: p50 %v p90 %v p99 %v", percentile(pb, 0.5), percentile(pb, 0.9), percentile(pb, 0.99))
}
