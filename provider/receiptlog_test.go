package provider

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Receipts come back in the order written, across hours and a reopening; a torn last line is
// skipped; retention drops the hours wholly before it and keeps the rest.
func TestReceiptLog(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "receipts")
	l, err := openReceiptLog(dir)
	require.NoError(t, err)
	base := time.Unix(1_800_000_000-1_800_000_000%3600, 0) // an hour's start
	var want []string
	add := func(l *receiptLog, at time.Time, i int) {
		enc := fmt.Sprintf("te5cc%d.sig%d", i, i)
		l.add(at, "0:ab", uint64(i), enc)
		want = append(want, fmt.Sprintf("%d 0:ab %d %s", at.Unix(), i, enc))
	}
	for i := range 1000 { // spans three hours
		add(l, base.Add(time.Duration(i)*10*time.Second), i)
	}
	l.close()
	l, err = openReceiptLog(dir) // appends after a restart
	require.NoError(t, err)
	add(l, base.Add(2*time.Hour+50*time.Minute), 1000)
	l.close()
	last := filepath.Join(dir, fmt.Sprintf("%d.log", base.Unix()+2*3600))
	f, err := os.OpenFile(last, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, _ = f.WriteString("1800007200 0:ab 1001 torn-by-a-cra") // no newline: cut by a crash
	_ = f.Close()

	read := func() []string {
		var got []string
		require.NoError(t, l.each(func(at time.Time, ch string, seq uint64, enc string) error {
			got = append(got, fmt.Sprintf("%d %s %d %s", at.Unix(), ch, seq, enc))
			return nil
		}))
		return got
	}
	require.Equal(t, want, read())
	hours, err := l.hours()
	require.NoError(t, err)
	require.Equal(t, []int64{base.Unix(), base.Unix() + 3600, base.Unix() + 7200}, hours)

	require.NoError(t, l.prune(base.Add(time.Hour+30*time.Minute))) // only the first hour is wholly before
	hours, err = l.hours()
	require.NoError(t, err)
	require.Equal(t, []int64{base.Unix() + 3600, base.Unix() + 7200}, hours)
	require.Equal(t, want[360:], read(), "the first hour's 360 receipts are gone, the rest kept")
}
