package service_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/service"
)

// recorder builds parts that record their starts and stops in one ordered log.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (r *recorder) note(e string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
}

func (r *recorder) take() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := strings.Join(r.events, " ")
	r.events = nil
	return s
}

// part starts (or fails with startErr) and stops (returning stopErr).
func (r *recorder) part(name string, startErr, stopErr error) service.StartFunc {
	return func(context.Context) (service.StopFunc, error) {
		r.note("start:" + name)
		if startErr != nil {
			return nil, startErr
		}
		return func(context.Context) error {
			r.note("stop:" + name)
			return stopErr
		}, nil
	}
}

func TestLifecycleOrderAndIdempotentStop(t *testing.T) {
	ctx := context.Background()
	var r recorder
	l := service.NewLifecycle(testLogger(t))
	l.Add("a", r.part("a", nil, nil))
	l.Add("nothing to stop", func(context.Context) (service.StopFunc, error) { r.note("start:nil"); return nil, nil })
	l.Add("b", r.part("b", nil, nil))
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); got != "start:a start:nil start:b" {
		t.Fatalf("start order %q", got)
	}
	if err := l.Start(ctx); !errors.Is(err, service.ErrStarted) {
		t.Fatalf("second Start: %v", err)
	}
	if l.Stopped() {
		t.Fatal("Stopped before Stop")
	}
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); got != "stop:b stop:a" {
		t.Fatalf("stop order %q", got)
	}
	if err := l.Stop(ctx); err != nil || r.take() != "" {
		t.Fatalf("second Stop: %v, or it stopped something again", err)
	}
	if !l.Stopped() {
		t.Fatal("not Stopped after Stop")
	}
	if err := l.Start(ctx); !errors.Is(err, service.ErrStopped) || r.take() != "" {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// Two parts started, the third fails: the two are stopped in reverse, the fourth is never
// started, and the start error is joined with the rollback's stop error.
func TestLifecycleFailedStartRollsBack(t *testing.T) {
	ctx := context.Background()
	errStart, errStop := errors.New("port in use"), errors.New("flush failed")
	var r recorder
	l := service.NewLifecycle(testLogger(t))
	l.Add("store", r.part("store", nil, nil))
	l.Add("cache", r.part("cache", nil, errStop))
	l.Add("api", r.part("api", errStart, nil))
	l.Add("ops", r.part("ops", nil, nil))
	err := l.Start(ctx)
	if !errors.Is(err, errStart) || !errors.Is(err, errStop) {
		t.Fatalf("Start error %v, want both the start and the stop failure", err)
	}
	for _, want := range []string{"failed to start api: port in use", "failed to stop cache: flush failed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if got := r.take(); got != "start:store start:cache start:api stop:cache stop:store" {
		t.Fatalf("events %q", got)
	}
	if err := l.Stop(ctx); err != nil || r.take() != "" {
		t.Fatalf("Stop after a failed Start: %v, or it stopped something again", err)
	}
	if err := l.Start(ctx); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("Start after a failed Start: %v", err)
	}
}

func TestLifecycleStopWithoutStart(t *testing.T) {
	ctx := context.Background()
	var r recorder
	l := service.NewLifecycle(testLogger(t))
	l.Add("a", r.part("a", nil, nil))
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got := r.take(); got != "" {
		t.Fatalf("Stop without Start ran %q", got)
	}
	if err := l.Start(ctx); !errors.Is(err, service.ErrStopped) {
		t.Fatalf("Start after Stop: %v", err)
	}
}

// Every closer runs even when some fail; their errors come back joined, each named.
func TestLifecycleStopJoinsErrors(t *testing.T) {
	ctx := context.Background()
	e1, e2 := errors.New("one"), errors.New("two")
	var r recorder
	l := service.NewLifecycle(testLogger(t))
	l.Add("a", r.part("a", nil, e1))
	l.Add("b", r.part("b", nil, nil))
	l.Add("c", r.part("c", nil, e2))
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	r.take()
	err := l.Stop(ctx)
	if !errors.Is(err, e1) || !errors.Is(err, e2) || !strings.Contains(err.Error(), "failed to stop a: one") || !strings.Contains(err.Error(), "failed to stop c: two") {
		t.Fatalf("Stop: %v", err)
	}
	if got := r.take(); got != "stop:c stop:b stop:a" {
		t.Fatalf("events %q", got)
	}
}

// A cancelled start context stops Start before the next step; what started is stopped.
func TestLifecycleCancelledStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var r recorder
	l := service.NewLifecycle(testLogger(t))
	l.Add("a", func(context.Context) (service.StopFunc, error) {
		r.note("start:a")
		cancel() // an interrupt during the first step
		return func(context.Context) error { r.note("stop:a"); return nil }, nil
	})
	l.Add("b", r.part("b", nil, nil))
	if err := l.Start(ctx); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "failed to start b") {
		t.Fatalf("Start: %v", err)
	}
	if got := r.take(); got != "start:a stop:a" {
		t.Fatalf("events %q", got)
	}
}

func TestLifecycleAddAfterStartPanics(t *testing.T) {
	l := service.NewLifecycle(testLogger(t))
	if err := l.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer func() {
		if recover() == nil {
			t.Fatal("Add after Start did not panic")
		}
	}()
	l.Add("late", nil)
}

func TestLifecycleLoops(t *testing.T) {
	ctx := context.Background()

	t.Run("StopCancelsAndWaits", func(t *testing.T) {
		type key struct{}
		l := service.NewLifecycle(testLogger(t))
		var sawValue, returned bool
		l.AddLoop("loop", func(ctx context.Context) error {
			sawValue = ctx.Value(key{}) == "v"
			<-ctx.Done()
			time.Sleep(10 * time.Millisecond) // some cleanup Stop must wait for
			returned = true
			return ctx.Err()
		})
		startCtx, cancel := context.WithCancel(context.WithValue(ctx, key{}, "v"))
		if err := l.Start(startCtx); err != nil {
			t.Fatal(err)
		}
		cancel() // the start context ending does not stop the loop
		select {
		case <-l.Failed():
			t.Fatalf("loop failed: %v", l.Failure())
		case <-time.After(20 * time.Millisecond):
		}
		if err := l.Healthy(ctx); err != nil {
			t.Fatalf("health while running: %v", err)
		}
		if err := l.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		if !returned || !sawValue {
			t.Fatalf("Stop returned before the loop (%v) or the loop lost the start context's values (%v)", returned, sawValue)
		}
		if l.Failure() != nil {
			t.Fatalf("a loop stopped by Stop counts as a failure: %v", l.Failure())
		}
	})

	t.Run("EndingEarlyFails", func(t *testing.T) {
		boom := errors.New("follower lost the chain")
		l := service.NewLifecycle(testLogger(t))
		l.AddLoop("follower", func(context.Context) error { return boom })
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		select {
		case <-l.Failed():
		case <-time.After(10 * time.Second):
			t.Fatal("Failed not closed")
		}
		if f := l.Failure(); f == nil || !strings.Contains(f.Error(), "follower ended before Stop: follower lost the chain") {
			t.Fatalf("Failure: %v", f)
		}
		if err := l.Healthy(ctx); err == nil || !strings.Contains(err.Error(), "follower") {
			t.Fatalf("health after a failure: %v", err)
		}
		if err := l.Stop(ctx); !errors.Is(err, boom) {
			t.Fatalf("Stop: %v", err)
		}
	})

	t.Run("StuckLoopTimesOut", func(t *testing.T) {
		release := make(chan struct{})
		defer close(release)
		l := service.NewLifecycle(testLogger(t))
		l.AddLoop("stuck", func(context.Context) error { <-release; return nil })
		if err := l.Start(ctx); err != nil {
			t.Fatal(err)
		}
		stopCtx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
		defer cancel()
		if err := l.Stop(stopCtx); !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "stuck did not return in time") {
			t.Fatalf("Stop: %v", err)
		}
	})
}

func TestLifecycleHealthy(t *testing.T) {
	ctx := context.Background()
	l := service.NewLifecycle(testLogger(t))
	if err := l.Healthy(ctx); !errors.Is(err, service.ErrNotRunning) {
		t.Fatalf("before Start: %v", err)
	}
	if err := l.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Healthy(ctx); err != nil {
		t.Fatalf("running: %v", err)
	}
	if err := l.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if err := l.Healthy(ctx); !errors.Is(err, service.ErrNotRunning) {
		t.Fatalf("after Stop: %v", err)
	}
}

// Run in-process: cancelling its context drains the service; a failing loop stops it too.
func TestRunStopsOnCancelAndOnFailure(t *testing.T) {
	t.Run("Cancel", func(t *testing.T) {
		var r recorder
		l := service.NewLifecycle(testLogger(t))
		l.Add("a", func(ctx context.Context) (service.StopFunc, error) {
			r.note("start:a")
			return func(stopCtx context.Context) error {
				if _, ok := stopCtx.Deadline(); !ok {
					return errors.New("Stop got no drain deadline")
				}
				r.note("stop:a")
				return nil
			}, nil
		})
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- service.Run(ctx, l, service.RunOptions{Log: testLogger(t), DrainTimeout: time.Second}) }()
		eventually(t, "Start", func() bool { return l.Healthy(ctx) == nil })
		cancel()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := r.take(); got != "start:a stop:a" {
			t.Fatalf("events %q", got)
		}
	})
	t.Run("Failure", func(t *testing.T) {
		boom := errors.New("boom")
		l := service.NewLifecycle(testLogger(t))
		l.AddLoop("loop", func(context.Context) error { return boom })
		err := service.Run(context.Background(), l, service.RunOptions{Log: testLogger(t)})
		if !errors.Is(err, boom) || !strings.Contains(err.Error(), "loop ended before Stop") {
			t.Fatalf("Run: %v", err)
		}
		if !l.Stopped() {
			t.Fatal("Run returned without stopping")
		}
	})
	t.Run("StartFails", func(t *testing.T) {
		boom := errors.New("boom")
		l := service.NewLifecycle(testLogger(t))
		l.Add("a", func(context.Context) (service.StopFunc, error) { return nil, boom })
		if err := service.Run(context.Background(), l, service.RunOptions{Log: testLogger(t)}); !errors.Is(err, boom) {
			t.Fatalf("Run: %v", err)
		}
	})
}
