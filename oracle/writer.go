package oracle

import (
	"context"
	"errors"
	"time"

	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/service"
)

// write is one chain write (a vote or a root) for the writer.
type write struct {
	kind string // "vote" or "uptime", for logs and metrics
	what string // what is asked, for logs
	// send performs the write once; its error decides whether to try again (transient).
	send func(ctx context.Context) error
	// done receives the final result (nil: it went through). It is not called when the daemon stops
	// first: what was asked stays as recorded (pending) for the next start.
	done func(err error)
}

// initWriter starts the one goroutine that writes to the chain: at most TxPerMinute writes a minute,
// each retried with exponential backoff (from 2 s) while it fails for a transient reason.
func (o *Oracle) initWriter(ctx context.Context) (service.StopFunc, error) {
	o.writes = make(chan *write, 4*o.cfg.Concurrency+16)
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		o.writeLoop(loopCtx)
	}()
	return func(stopCtx context.Context) error {
		cancel()
		select {
		case <-done:
			return nil
		case <-stopCtx.Done():
			return stopCtx.Err()
		}
	}, nil
}

// enqueue hands w to the writer; false when the daemon is stopping or the queue is full (the
// caller's state says to try again later).
func (o *Oracle) enqueue(w *write) bool {
	select {
	case o.writes <- w:
		return true
	default:
		o.log.Warn("chain write queue full, trying later", "kind", w.kind, "what", w.what)
		return false
	}
}

func (o *Oracle) writeLoop(ctx context.Context) {
	gap := time.Minute / time.Duration(o.cfg.TxPerMinute)
	var last time.Time
	for {
		var w *write
		select {
		case <-ctx.Done():
			return
		case w = <-o.writes:
		}
		err := o.writeOne(ctx, w, gap, &last)
		if ctx.Err() != nil {
			return
		}
		w.done(err)
	}
}

func (o *Oracle) writeOne(ctx context.Context, w *write, gap time.Duration, last *time.Time) error {
	backoff := 2 * time.Second
	for attempt := 0; ; attempt++ {
		if !last.IsZero() {
			if wait := gap - o.clock.Since(*last); wait > 0 {
				if err := o.clock.Sleep(ctx, wait); err != nil {
					return err
				}
			}
		}
		*last = o.clock.Now()
		err := w.send(ctx)
		if err == nil {
			o.m.RecordWrite(w.kind, "ok")
			return nil
		}
		if ctx.Err() != nil || !transient(err) || attempt >= o.cfg.WriteRetries {
			o.m.RecordWrite(w.kind, "failed")
			o.log.Warn("chain write failed", "kind", w.kind, "what", w.what, "attempts", attempt+1, "err", err)
			return err
		}
		o.m.RecordWrite(w.kind, "retry")
		o.log.Info("chain write failed, retrying", "kind", w.kind, "what", w.what, "in", backoff, "err", err)
		if err := o.clock.Sleep(ctx, backoff); err != nil {
			return err
		}
		backoff = min(2*backoff, 5*time.Minute)
	}
}

// transient: worth trying again. A local refusal, a contract's refusal, a wallet that cannot pay and
// bad input are not (the state that caused them has to change first).
func transient(err error) bool {
	var ce *ops.ContractError
	var fe *ops.FundsError
	switch {
	case errors.Is(err, ops.ErrRefused), errors.Is(err, ops.ErrBadInput), errors.As(err, &fe):
		return false
	case errors.As(err, &ce) && ce.Tx != nil:
		return false
	}
	return true
}
