// Package clock is the injectable clock of the daemons: code that waits, schedules or compares
// times takes a Clock, the daemon passes System, and tests pass a Manual clock that moves only
// when the test says so.
//
// It is its own package (not part of service) because protocol code deep inside a daemon
// (voucher deadlines, attestation lifetimes, retry backoff) needs a clock without the rest of
// the service shape and its metrics library.
package clock

import (
	"context"
	"sort"
	"sync"
	"time"
)

// Clock is the subset of package time that daemons use.
type Clock interface {
	Now() time.Time
	Since(t time.Time) time.Duration
	// After is time.After: the channel receives the time once d has passed.
	After(d time.Duration) <-chan time.Time
	NewTimer(d time.Duration) Timer
	NewTicker(d time.Duration) Ticker
	// Sleep waits d or until ctx ends, whichever is first, and returns ctx's error then.
	Sleep(ctx context.Context, d time.Duration) error
}

// Timer is time.Timer behind an interface.
type Timer interface {
	C() <-chan time.Time
	// Stop prevents the timer from firing; false if it had fired or been stopped already.
	Stop() bool
	// Reset makes the timer fire d from now; false if it had fired or been stopped already.
	Reset(d time.Duration) bool
}

// Ticker is time.Ticker behind an interface.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// System is the real clock.
var System Clock = systemClock{}

type systemClock struct{}

func (systemClock) Now() time.Time                         { return time.Now() }
func (systemClock) Since(t time.Time) time.Duration        { return time.Since(t) }
func (systemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (systemClock) NewTimer(d time.Duration) Timer         { return systemTimer{time.NewTimer(d)} }
func (systemClock) NewTicker(d time.Duration) Ticker       { return systemTicker{time.NewTicker(d)} }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time        { return t.t.C }
func (t systemTimer) Stop() bool                 { return t.t.Stop() }
func (t systemTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }

type systemTicker struct{ t *time.Ticker }

func (t systemTicker) C() <-chan time.Time { return t.t.C }
func (t systemTicker) Stop()               { t.t.Stop() }

// Manual is a clock for tests: time stands still until Advance or Set moves it, and then every
// timer, ticker, After and Sleep that came due fires, in time order, with its due time. Like
// time.Ticker, a ticker whose channel is full drops ticks. Use WaitForWaiters to advance only
// once the code under test has started waiting.
type Manual struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter     // REQUIRES: mu held; the pending timers, tickers and sleeps
	changed chan struct{} // REQUIRES: mu held; closed and replaced when waiters grows
}

// waiter is one pending timer or ticker (period > 0).
type waiter struct {
	when   time.Time
	period time.Duration
	ch     chan time.Time
}

// NewManual returns a manual clock standing at start.
func NewManual(start time.Time) *Manual {
	return &Manual{now: start, changed: make(chan struct{})}
}

var _ Clock = (*Manual)(nil)

// Now returns the clock's time.
func (m *Manual) Now() time.Time {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.now
}

// Since is Now().Sub(t).
func (m *Manual) Since(t time.Time) time.Duration { return m.Now().Sub(t) }

// After fires once d has passed on this clock.
func (m *Manual) After(d time.Duration) <-chan time.Time { return m.NewTimer(d).C() }

// NewTimer returns a timer of this clock.
func (m *Manual) NewTimer(d time.Duration) Timer {
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &waiter{ch: make(chan time.Time, 1)}
	m.scheduleLocked(w, d)
	return &manualTimer{m: m, w: w}
}

// NewTicker returns a ticker of this clock; d must be positive, as for time.NewTicker.
func (m *Manual) NewTicker(d time.Duration) Ticker {
	if d <= 0 {
		panic("clock: non-positive interval for NewTicker")
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := &waiter{ch: make(chan time.Time, 1), period: d}
	m.scheduleLocked(w, d)
	return &manualTicker{m: m, w: w}
}

// Sleep waits until the clock has moved d forward, or ctx ends.
func (m *Manual) Sleep(ctx context.Context, d time.Duration) error {
	t := m.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Advance moves the clock forward by d and fires what came due.
func (m *Manual) Advance(d time.Duration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.setLocked(m.now.Add(d))
}

// Set moves the clock to t (never backwards: an earlier t panics) and fires what came due.
func (m *Manual) Set(t time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if t.Before(m.now) {
		panic("clock: Manual.Set would move time backwards")
	}
	m.setLocked(t)
}

// Waiters is the number of pending timers, tickers, Afters and Sleeps.
func (m *Manual) Waiters() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.waiters)
}

// WaitForWaiters blocks until at least n timers, tickers, Afters or Sleeps are pending, or ctx
// ends.
func (m *Manual) WaitForWaiters(ctx context.Context, n int) error {
	for {
		m.mu.Lock()
		have, changed := len(m.waiters), m.changed
		m.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// scheduleLocked (re)arms w to fire d from now. A non-positive d fires at once, as in time.
// REQUIRES: mu held.
func (m *Manual) scheduleLocked(w *waiter, d time.Duration) {
	w.when = m.now.Add(d)
	if d <= 0 {
		fire(w, w.when)
		return
	}
	m.waiters = append(m.waiters, w)
	close(m.changed)
	m.changed = make(chan struct{})
}

// setLocked moves time to t, firing due waiters in time order (tickers may fire more than
// once; their buffer of one drops the extra ticks). REQUIRES: mu held.
func (m *Manual) setLocked(t time.Time) {
	for {
		sort.SliceStable(m.waiters, func(i, j int) bool { return m.waiters[i].when.Before(m.waiters[j].when) })
		if len(m.waiters) == 0 || m.waiters[0].when.After(t) {
			break
		}
		w := m.waiters[0]
		m.now = w.when
		fire(w, w.when)
		if w.period > 0 {
			w.when = w.when.Add(w.period)
		} else {
			m.waiters = m.waiters[1:]
		}
	}
	m.now = t
}

func fire(w *waiter, at time.Time) {
	select {
	case w.ch <- at:
	default: // a full ticker channel drops the tick, as time.Ticker does
	}
}

// removeLocked unschedules w and reports whether it was pending. REQUIRES: mu held.
func (m *Manual) removeLocked(w *waiter) bool {
	for i, x := range m.waiters {
		if x == w {
			m.waiters = append(m.waiters[:i], m.waiters[i+1:]...)
			return true
		}
	}
	return false
}

type manualTimer struct {
	m *Manual
	w *waiter
}

func (t *manualTimer) C() <-chan time.Time { return t.w.ch }

// Stop unschedules the timer; as with time.Timer since Go 1.23, no value fired before Stop is
// received after it.
func (t *manualTimer) Stop() bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	return t.stopLocked()
}

func (t *manualTimer) Reset(d time.Duration) bool {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	pending := t.stopLocked()
	t.m.scheduleLocked(t.w, d)
	return pending
}

// stopLocked unschedules the timer and drops a value it fired. REQUIRES: m.mu held.
func (t *manualTimer) stopLocked() bool {
	pending := t.m.removeLocked(t.w)
	select {
	case <-t.w.ch:
	default:
	}
	return pending
}

type manualTicker struct {
	m *Manual
	w *waiter
}

func (t *manualTicker) C() <-chan time.Time { return t.w.ch }

func (t *manualTicker) Stop() {
	t.m.mu.Lock()
	defer t.m.mu.Unlock()
	t.m.removeLocked(t.w)
}
