package oracle

import (
	"context"
	"sync"
	"time"
)

// schedule runs the due checks and probes, at most Concurrency at once and one at a time per
// provider, looking for due work every Tick. A check is due at providerState.nextCheck; a probe at
// nextProbe, for providers whose last check found them eligible (active, staked, with an endpoint).
func (o *Oracle) schedule(ctx context.Context) error {
	slots := make(chan struct{}, o.cfg.Concurrency)
	var wg sync.WaitGroup
	defer wg.Wait()
	return o.every(ctx, o.cfg.Tick, true, func(ctx context.Context) { o.launchDue(ctx, slots, &wg) })
}

// job is one check or probe to run.
type job struct {
	p        *providerState
	check    bool
	endpoint string
}

func (o *Oracle) launchDue(ctx context.Context, slots chan struct{}, wg *sync.WaitGroup) {
	now := o.clock.Now()
	var due []job
	o.mu.Lock()
	for _, p := range o.providers {
		if p.busy {
			continue
		}
		switch {
		case !now.Before(p.nextCheck):
			due = append(due, job{p: p, check: true})
		case p.eligible && !now.Before(p.nextProbe):
			due = append(due, job{p: p, endpoint: p.endpoint})
		default:
			continue
		}
	}
	o.mu.Unlock()
	for _, j := range due {
		select {
		case slots <- struct{}{}:
		default:
			return // all slots busy: the rest waits for a later tick
		}
		o.mu.Lock()
		j.p.busy = true
		o.mu.Unlock()
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			run := o.runJob
			if run == nil {
				run = o.run
			}
			next := run(ctx, j)
			o.mu.Lock()
			defer o.mu.Unlock()
			j.p.busy = false
			if j.check {
				j.p.nextCheck = next
			} else {
				j.p.nextProbe = next
			}
		}()
	}
}

// run is one job: a check or a probe; it returns when the next one of its kind is due.
func (o *Oracle) run(ctx context.Context, j job) time.Time {
	if j.check {
		return o.check(ctx, j.p)
	}
	return o.probe(ctx, j.p, j.endpoint)
}
