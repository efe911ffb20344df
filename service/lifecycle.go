package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

var (
	// ErrStarted is Start called on a lifecycle that is already running.
	ErrStarted = errors.New("already started")
	// ErrStopped is Start called after Stop (or after a failed Start): a lifecycle runs once.
	ErrStopped = errors.New("already stopped")
	// ErrNotRunning is the health of a lifecycle that is not between Start and Stop.
	ErrNotRunning = errors.New("not running")
)

// StopFunc undoes what one start step did. It is called at most once, by Stop or by the
// rollback of a failed Start. ctx bounds only the graceful part: a StopFunc releases its
// resources even when ctx is already done (an HTTP server closes its connections, a loop is
// abandoned), and then reports ctx's error.
type StopFunc func(ctx context.Context) error

// StartFunc is one named init step. It starts one part of a daemon and returns how to stop
// it (nil when there is nothing to stop). ctx is for starting only; it may be cancelled while
// the part runs, so a part that runs on uses a context of its own (see AddLoop).
type StartFunc func(ctx context.Context) (StopFunc, error)

// Lifecycle is the Start/Stop of a daemon built from named init steps. Start runs the steps
// in the order they were added; Stop runs the closers of the steps that succeeded, in reverse.
// A daemon embeds a *Lifecycle to get Start and Stop:
//
//   - Start fails at the first step that fails, stops the parts already started (in reverse)
//     and returns the step's error joined with theirs;
//   - Stop is idempotent (a second call does nothing and returns nil), skips parts never
//     started (Stop without Start is fine), tries every closer even when some fail, and
//     returns their errors joined;
//   - a lifecycle runs once: Start after Stop or after a failed Start returns ErrStopped.
//
// A part that runs by itself (a poll loop, a follower) is added with AddLoop; if it ends
// before Stop, the lifecycle has failed: Failed is closed and Failure says why, which Run
// turns into a stop of the whole daemon.
type Lifecycle struct {
	log *slog.Logger

	// mu is held for the whole of Start and of Stop, so they never interleave: a Stop that
	// arrives during Start waits for Start to finish (or fail on its cancelled context).
	mu    sync.Mutex
	steps []step // REQUIRES: mu held
	state state  // REQUIRES: mu held
	// INVARIANT: started holds, in start order, exactly the steps whose start succeeded and
	// whose closer has not run yet.
	started []step // REQUIRES: mu held

	failOnce sync.Once
	failed   chan struct{} // closed by the first failure of a loop
	failure  error         // written once, before failed is closed
}

type step struct {
	name  string
	start StartFunc
	stop  StopFunc
}

type state int

const (
	idle state = iota
	running
	stopped
)

// NewLifecycle returns an empty lifecycle that logs the start and stop of every part to log
// (nil: slog.Default()).
func NewLifecycle(log *slog.Logger) *Lifecycle {
	if log == nil {
		log = slog.Default()
	}
	return &Lifecycle{log: log, failed: make(chan struct{})}
}

// Add appends a named init step. Steps are added before Start, usually by the daemon's
// constructor (one initX method per part); adding one later panics, since a part added to a
// running daemon would never be started.
func (l *Lifecycle) Add(name string, start StartFunc) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != idle {
		panic("service: Lifecycle.Add(" + name + ") after Start")
	}
	l.steps = append(l.steps, step{name: name, start: start})
}

// AddLoop adds a part that runs fn in a goroutine from Start until Stop. fn's context keeps
// the values of Start's context but is cancelled only by Stop, which then waits for fn to
// return (until Stop's context ends). fn returning context.Canceled after Stop is a clean end;
// fn returning before Stop, with or without an error, is a failure of the daemon.
func (l *Lifecycle) AddLoop(name string, fn func(ctx context.Context) error) {
	l.Add(name, func(ctx context.Context) (StopFunc, error) {
		loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		done := make(chan struct{})
		var err error // written by the loop before done is closed
		go func() {
			defer close(done)
			err = fn(loopCtx)
			if loopCtx.Err() == nil {
				l.fail(fmt.Errorf("%s ended before Stop: %v", name, err))
			}
		}()
		return func(ctx context.Context) error {
			cancel()
			select {
			case <-done:
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			case <-ctx.Done():
				return fmt.Errorf("%s did not return in time: %w", name, ctx.Err())
			}
		}, nil
	})
}

// fail records the first failure of a running part; later ones are only logged.
func (l *Lifecycle) fail(err error) {
	first := false
	l.failOnce.Do(func() {
		l.failure = err
		close(l.failed)
		first = true
	})
	if first {
		l.log.Error("part failed", "err", err)
	} else {
		l.log.Warn("another part failed", "err", err)
	}
}

// Failed is closed when a loop added with AddLoop ended before Stop.
func (l *Lifecycle) Failed() <-chan struct{} { return l.failed }

// Failure is the first loop failure, or nil while there is none.
func (l *Lifecycle) Failure() error {
	select {
	case <-l.failed:
		return l.failure
	default:
		return nil
	}
}

// Start runs every init step in order. See Lifecycle for what happens when one fails.
func (l *Lifecycle) Start(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch l.state {
	case running:
		return ErrStarted
	case stopped:
		return ErrStopped
	}
	l.state = running
	for _, s := range l.steps {
		t0 := time.Now()
		err := ctx.Err()
		if err == nil {
			s.stop, err = s.start(ctx)
		}
		if err != nil {
			err = fmt.Errorf("failed to start %s: %w", s.name, err)
			l.log.Error("start failed, stopping what started", "part", s.name, "err", err)
			l.state = stopped
			return errors.Join(err, l.stopLocked(ctx))
		}
		l.started = append(l.started, s)
		l.log.Info("started", "part", s.name, "took", time.Since(t0).Round(time.Microsecond))
	}
	return nil
}

// Stop stops every started part in reverse order. See Lifecycle for its guarantees.
func (l *Lifecycle) Stop(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.state = stopped
	return l.stopLocked(ctx)
}

// stopLocked runs the closers of the started parts, last first, and forgets them.
// REQUIRES: mu held.
func (l *Lifecycle) stopLocked(ctx context.Context) error {
	var errs []error
	for i := len(l.started) - 1; i >= 0; i-- {
		s := l.started[i]
		l.started = l.started[:i]
		if s.stop == nil {
			continue
		}
		t0 := time.Now()
		if err := s.stop(ctx); err != nil {
			errs = append(errs, fmt.Errorf("failed to stop %s: %w", s.name, err))
			l.log.Error("stop failed", "part", s.name, "err", err)
			continue
		}
		l.log.Info("stopped", "part", s.name, "took", time.Since(t0).Round(time.Microsecond))
	}
	return errors.Join(errs...)
}

// Stopped reports whether Stop was called or Start failed.
func (l *Lifecycle) Stopped() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.state == stopped
}

// Healthy is a health check (see Health): nil while the lifecycle runs and no loop failed.
// It does not wait for a Start in progress.
func (l *Lifecycle) Healthy(ctx context.Context) error {
	if err := l.Failure(); err != nil {
		return err
	}
	if !l.mu.TryLock() {
		return fmt.Errorf("%w: starting or stopping", ErrNotRunning)
	}
	defer l.mu.Unlock()
	if l.state != running {
		return ErrNotRunning
	}
	return nil
}

// AddOps adds the "ops" part: /metrics (when m is served, see Registerer) and /healthz (h) on
// addr, or nothing when addr is "". Once started, *srv (when srv is not nil) is its listener.
func (l *Lifecycle) AddOps(addr string, m Metricer, h *Health, srv **HTTPServer) {
	l.Add("ops", func(ctx context.Context) (StopFunc, error) {
		if addr == "" {
			return nil, nil
		}
		s, err := StartHTTP(ctx, l.log, "ops", addr, OpsHandler(m, h))
		if err != nil {
			return nil, err
		}
		if srv != nil {
			*srv = s
		}
		return s.Stop, nil
	})
}

// AddUp adds the "up" part, last: m's up gauge is 1 from the moment every other part has started
// until Stop begins (the last part started is the first stopped).
func (l *Lifecycle) AddUp(m Metricer) {
	l.Add("up", func(context.Context) (StopFunc, error) {
		m.RecordUp(true)
		return func(context.Context) error { m.RecordUp(false); return nil }, nil
	})
}
