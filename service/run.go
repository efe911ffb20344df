package service

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// Service is a daemon as Run drives it: the Start/Stop of a Lifecycle, or anything shaped so.
type Service interface {
	Start(ctx context.Context) error
	Stop(ctx context.Context) error
}

// failer is a Service whose parts can fail while it runs (a *Lifecycle, embedded or not).
type failer interface {
	Failed() <-chan struct{}
	Failure() error
}

// ExitInterrupted is the exit code after a second interrupt (128 + SIGINT, as shells report it).
const ExitInterrupted = 130

// DefaultDrainTimeout bounds Stop after the first interrupt when RunOptions leaves it zero.
const DefaultDrainTimeout = 30 * time.Second

// RunOptions tune Run. The zero value is what a daemon's main wants.
type RunOptions struct {
	// DrainTimeout bounds Stop after the first interrupt (0: DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Log receives the interrupt and drain messages (nil: slog.Default()).
	Log *slog.Logger
	// Exit ends the process on the second interrupt (nil: os.Exit). Tests replace it.
	Exit func(code int)
	// Signals are the interrupts (nil: SIGINT and SIGTERM).
	Signals []os.Signal
}

// Run starts svc, runs it until ctx ends, an interrupt arrives or a part of it fails, then
// drains it: the run context (the one Start got) is cancelled and Stop is called with
// DrainTimeout. A second interrupt, at any point after the first, ends the process at once
// with ExitInterrupted. Run returns Start's error, or the failure joined with Stop's error.
func Run(ctx context.Context, svc Service, o RunOptions) error {
	log := o.Log
	if log == nil {
		log = slog.Default()
	}
	drain := o.DrainTimeout
	if drain <= 0 {
		drain = DefaultDrainTimeout
	}
	ctx, stopSignals := InterruptContext(ctx, log, o.Exit, o.Signals...)
	defer stopSignals()

	if err := svc.Start(ctx); err != nil {
		return err
	}
	var failed <-chan struct{} // nil: never ready
	f, canFail := svc.(failer)
	if canFail {
		failed = f.Failed()
	}
	var failure error
	select {
	case <-ctx.Done():
		log.Info("draining; interrupt again to exit at once", "timeout", drain)
	case <-failed:
		failure = f.Failure()
		log.Error("stopping after a failure", "err", failure)
	}
	drainCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), drain)
	defer cancel()
	err := errors.Join(failure, svc.Stop(drainCtx))
	if err != nil {
		log.Error("stopped with errors", "err", err)
	} else {
		log.Info("stopped cleanly")
	}
	return err
}

// InterruptContext returns a context cancelled by the first of the given signals (nil:
// SIGINT and SIGTERM); the second calls exit(ExitInterrupted) (nil exit: os.Exit). The
// returned function stops listening and cancels the context.
func InterruptContext(parent context.Context, log *slog.Logger, exit func(int), signals ...os.Signal) (context.Context, func()) {
	if log == nil {
		log = slog.Default()
	}
	if exit == nil {
		exit = os.Exit
	}
	if len(signals) == 0 {
		signals = []os.Signal{os.Interrupt, syscall.SIGTERM}
	}
	ctx, cancel := context.WithCancel(parent)
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, signals...)
	done := make(chan struct{})
	go func() {
		select {
		case s := <-sigs:
			log.Info("interrupted", "signal", s.String())
			cancel()
		case <-done:
			return
		}
		select {
		case s := <-sigs:
			log.Warn("second interrupt, exiting now", "signal", s.String())
			exit(ExitInterrupted)
		case <-done:
		}
	}()
	return ctx, sync.OnceFunc(func() {
		signal.Stop(sigs)
		close(done)
		cancel()
	})
}
