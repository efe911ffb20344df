package clock_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/service/clock"
)

var t0 = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

func recv(t *testing.T, c <-chan time.Time) (time.Time, bool) {
	t.Helper()
	select {
	case v := <-c:
		return v, true
	default:
		return time.Time{}, false
	}
}

func TestManualTimers(t *testing.T) {
	m := clock.NewManual(t0)
	late := m.NewTimer(3 * time.Second)
	early := m.After(time.Second)
	if m.Waiters() != 2 {
		t.Fatalf("waiters %d", m.Waiters())
	}
	m.Advance(999 * time.Millisecond)
	if _, ok := recv(t, early); ok {
		t.Fatal("fired early")
	}
	m.Advance(time.Millisecond)
	if v, ok := recv(t, early); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("After fired %v %v", v, ok)
	}
	if !m.Now().Equal(t0.Add(time.Second)) || m.Since(t0) != time.Second {
		t.Fatalf("Now %v", m.Now())
	}
	// Stop before it fires: never fires; Reset re-arms from now.
	if !late.Stop() || late.Stop() {
		t.Fatal("Stop results")
	}
	m.Advance(10 * time.Second)
	if _, ok := recv(t, late.C()); ok {
		t.Fatal("a stopped timer fired")
	}
	if late.Reset(time.Second) {
		t.Fatal("Reset of a stopped timer reported it pending")
	}
	m.Set(t0.Add(12 * time.Second))
	if v, ok := recv(t, late.C()); !ok || !v.Equal(t0.Add(12*time.Second)) {
		t.Fatalf("reset timer fired %v %v", v, ok)
	}
	// A fired but unreceived value is dropped by Reset, as with time.Timer.
	late.Reset(time.Second)
	m.Advance(time.Second)
	late.Reset(time.Second)
	if _, ok := recv(t, late.C()); ok {
		t.Fatal("stale value after Reset")
	}
	// Zero and negative durations fire at once.
	if _, ok := recv(t, m.After(0)); !ok {
		t.Fatal("After(0) did not fire")
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Set backwards did not panic")
		}
	}()
	m.Set(t0)
}

// Due waiters fire in time order, each at its own time, even in one big Advance.
func TestManualOrder(t *testing.T) {
	m := clock.NewManual(t0)
	c3, c1, c2 := m.After(3*time.Second), m.After(time.Second), m.After(2*time.Second)
	m.Advance(time.Minute)
	for i, c := range []<-chan time.Time{c1, c2, c3} {
		if v, ok := recv(t, c); !ok || !v.Equal(t0.Add(time.Duration(i+1)*time.Second)) {
			t.Fatalf("timer %d: %v %v", i+1, v, ok)
		}
	}
	if m.Waiters() != 0 {
		t.Fatalf("waiters left %d", m.Waiters())
	}
}

func TestManualTicker(t *testing.T) {
	m := clock.NewManual(t0)
	tk := m.NewTicker(time.Second)
	m.Advance(time.Second)
	if v, ok := recv(t, tk.C()); !ok || !v.Equal(t0.Add(time.Second)) {
		t.Fatalf("tick %v %v", v, ok)
	}
	// Five periods at once: one tick is kept (the first), the rest dropped, as time.Ticker does.
	m.Advance(5 * time.Second)
	if v, ok := recv(t, tk.C()); !ok || !v.Equal(t0.Add(2*time.Second)) {
		t.Fatalf("tick %v %v", v, ok)
	}
	if _, ok := recv(t, tk.C()); ok {
		t.Fatal("more than one tick buffered")
	}
	m.Advance(time.Second)
	if v, ok := recv(t, tk.C()); !ok || !v.Equal(t0.Add(7*time.Second)) {
		t.Fatalf("tick after catch-up %v %v", v, ok)
	}
	tk.Stop()
	m.Advance(time.Hour)
	if _, ok := recv(t, tk.C()); ok || m.Waiters() != 0 {
		t.Fatal("a stopped ticker ticked")
	}
}

func TestManualSleepAndWaitForWaiters(t *testing.T) {
	ctx := context.Background()
	m := clock.NewManual(t0)
	done := make(chan error, 1)
	go func() { done <- m.Sleep(ctx, time.Minute) }()
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.WaitForWaiters(wctx, 1); err != nil {
		t.Fatal(err)
	}
	m.Advance(59 * time.Second)
	select {
	case <-done:
		t.Fatal("Sleep returned early")
	case <-time.After(10 * time.Millisecond):
	}
	m.Advance(time.Second)
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	cctx, ccancel := context.WithCancel(ctx)
	go func() { done <- m.Sleep(cctx, time.Minute) }()
	if err := m.WaitForWaiters(wctx, 1); err != nil {
		t.Fatal(err)
	}
	ccancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sleep: %v", err)
	}
	if m.Waiters() != 0 {
		t.Fatal("a cancelled Sleep left its timer")
	}
	short, scancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer scancel()
	if err := m.WaitForWaiters(short, 1); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitForWaiters with none coming: %v", err)
	}
}

func TestSystem(t *testing.T) {
	c := clock.System
	start := c.Now()
	if err := c.Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if c.Since(start) < time.Millisecond {
		t.Fatal("Sleep returned early")
	}
	<-c.After(time.Millisecond)
	tm := c.NewTimer(time.Hour)
	if !tm.Stop() {
		t.Fatal("Stop of a pending timer")
	}
	tm.Reset(time.Millisecond)
	<-tm.C()
	tk := c.NewTicker(time.Millisecond)
	<-tk.C()
	tk.Stop()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.Sleep(ctx, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled Sleep: %v", err)
	}
}
