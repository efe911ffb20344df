package provider

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// receiptLog is the operator's record of every receipt the provider signed: append-only text
// files of one hour each, <data dir>/receipts/<unix hour start>.log, a line per receipt:
//
//	<unix seconds issued> <channel raw> <receipt number on the channel> <receipt as sent>
//
// Written by one goroutine, in batches (at most receiptBatchDelay behind), unsynced: the money a
// receipt states is in the channel's record, committed before the receipt leaves; this is the
// history. Retention drops whole files. It replaced Pebble keys (rc/…): appended once and
// dropped whole, receipts cost a Pebble store its compactions (docs/DECISIONS.md, "Provider:
// receipts in an append-only log").
type receiptLog struct {
	dir string

	mu sync.Mutex
	// pending are the lines not yet taken by the writer; closed: no more are taken. REQUIRES mu.
	pending []receiptLine
	closed  bool
	// kick wakes the writer for a batch: sent (never blocking) by the line that starts one, so a
	// paid answer wakes no goroutine unless it is the first in receiptBatchDelay.
	kick    chan struct{}
	written chan struct{} // closed when the writer has written the last line
}

type receiptLine struct {
	at  time.Time
	ch  string
	seq uint64
	enc string
}

// receiptBatchDelay is the longest a receipt waits to be written with others.
const receiptBatchDelay = 20 * time.Millisecond

// openReceiptLog starts the writer of the log in dir (created if needed).
func openReceiptLog(dir string) (*receiptLog, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the receipts directory: %w", err)
	}
	l := &receiptLog{dir: dir, kick: make(chan struct{}, 1), written: make(chan struct{})}
	go l.write()
	return l, nil
}

// add queues a receipt (dropped after close).
func (l *receiptLog) add(at time.Time, ch string, seq uint64, enc string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	l.pending = append(l.pending, receiptLine{at, ch, seq, enc})
	if len(l.pending) == 1 {
		select {
		case l.kick <- struct{}{}:
		default:
		}
	}
}

// close writes what is queued and stops the writer.
func (l *receiptLog) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.kick)
	}
	l.mu.Unlock()
	<-l.written
}

func hourStart(t time.Time) int64 { return t.Unix() - t.Unix()%3600 }

func (l *receiptLog) write() {
	defer close(l.written)
	var f *os.File
	var w *bufio.Writer
	hour := int64(-1)
	defer func() {
		if f != nil {
			_ = w.Flush()
			_ = f.Close()
		}
	}()
	for {
		_, open := <-l.kick
		if open {
			time.Sleep(receiptBatchDelay) // the lines of the next moments join this batch
		}
		l.mu.Lock()
		batch := l.pending
		l.pending = nil
		l.mu.Unlock()
		for _, r := range batch {
			if h := hourStart(r.at); h != hour || f == nil {
				if f != nil {
					_ = w.Flush()
					_ = f.Close()
				}
				var err error
				f, err = os.OpenFile(filepath.Join(l.dir, strconv.FormatInt(h, 10)+".log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
				if err != nil {
					f = nil
					continue // the record is best effort; the money is in the channel records
				}
				w, hour = bufio.NewWriterSize(f, 64<<10), h
			}
			fmt.Fprintf(w, "%d %s %d %s\n", r.at.Unix(), r.ch, r.seq, r.enc)
		}
		if f != nil {
			_ = w.Flush()
		}
		if !open {
			return
		}
	}
}

// prune deletes the files whose whole hour is before t.
func (l *receiptLog) prune(before time.Time) error {
	hours, err := l.hours()
	if err != nil {
		return err
	}
	for _, h := range hours {
		if h+3600 <= before.Unix() {
			if err := os.Remove(filepath.Join(l.dir, strconv.FormatInt(h, 10)+".log")); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("failed to prune receipts: %w", err)
			}
		}
	}
	return nil
}

// hours lists the hours the log has a file for, oldest first.
func (l *receiptLog) hours() ([]int64, error) {
	names, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("failed to list the receipts: %w", err)
	}
	var out []int64
	for _, n := range names {
		if h, err := strconv.ParseInt(strings.TrimSuffix(n.Name(), ".log"), 10, 64); err == nil && strings.HasSuffix(n.Name(), ".log") {
			out = append(out, h)
		}
	}
	slices.Sort(out)
	return out, nil
}

// each calls fn for every receipt in the log, oldest file first, in the order written; a torn
// last line (a crash while writing) is skipped.
func (l *receiptLog) each(fn func(at time.Time, ch string, seq uint64, enc string) error) error {
	hours, err := l.hours()
	if err != nil {
		return err
	}
	for _, h := range hours {
		data, err := os.ReadFile(filepath.Join(l.dir, strconv.FormatInt(h, 10)+".log"))
		if err != nil {
			return fmt.Errorf("failed to read the receipts: %w", err)
		}
		for _, line := range strings.SplitAfter(string(data), "\n") {
			f := strings.Fields(line)
			if !strings.HasSuffix(line, "\n") || len(f) != 4 {
				continue
			}
			at, err1 := strconv.ParseInt(f[0], 10, 64)
			seq, err2 := strconv.ParseUint(f[2], 10, 64)
			if err1 != nil || err2 != nil {
				continue
			}
			if err := fn(time.Unix(at, 0), f[1], seq, f[3]); err != nil {
				return err
			}
		}
	}
	return nil
}
