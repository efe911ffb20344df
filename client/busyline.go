package client

import (
	"context"
	"sync"
	"time"
)

// busyLine orders the requests for one model that found every provider busy (HTTP 429: at its
// concurrency or per-channel rate limit): the first in line retries, the others wait for their
// turn, and a request that arrives while the line is not empty joins it before trying anyone. So
// the providers' capacity goes to the waiting requests in the order they came, and none waits its
// whole BusyWait while later ones are served.
//
// INVARIANT: line[0]'s channel is closed (it is first); every other channel is open.
type busyLine struct {
	mu   sync.Mutex
	line []chan struct{}
}

// busyRetry is how often the first in line tries again: below the time a provider's per-channel
// rate limit takes to admit one more request at its default rate (20 a second).
const busyRetry = 20 * time.Millisecond

// join adds a request at the end of the line; its channel is closed when it is first.
func (b *busyLine) join() chan struct{} {
	ch := make(chan struct{})
	b.mu.Lock()
	defer b.mu.Unlock()
	b.line = append(b.line, ch)
	if len(b.line) == 1 {
		close(ch)
	}
	return ch
}

// leave takes a request out of the line (served, given up or gone); the next becomes first.
func (b *busyLine) leave(ch chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for i, c := range b.line {
		if c != ch {
			continue
		}
		b.line = append(b.line[:i], b.line[i+1:]...)
		if i == 0 && len(b.line) > 0 {
			close(b.line[0])
		}
		return
	}
}

// waiting is how many requests are in line.
func (b *busyLine) waiting() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.line)
}

// wait blocks until ch is first in line (nil), the deadline passes (false) or ctx ends.
func (b *busyLine) wait(ctx context.Context, ch chan struct{}, deadline time.Time) (bool, error) {
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-ch:
		return true, nil
	case <-t.C:
		return false, nil
	case <-ctx.Done():
		return false, ctx.Err()
	}
}

// busyLines holds a line per model id.
type busyLines struct {
	mu    sync.Mutex
	lines map[uint32]*busyLine
}

func (bl *busyLines) of(model uint32) *busyLine {
	bl.mu.Lock()
	defer bl.mu.Unlock()
	if bl.lines == nil {
		bl.lines = map[uint32]*busyLine{}
	}
	l := bl.lines[model]
	if l == nil {
		l = &busyLine{}
		bl.lines[model] = l
	}
	return l
}
