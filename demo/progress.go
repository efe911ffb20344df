package demo

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"
)

// Progress prints each step of the orchestration with the time since the start, what it waits
// for, and, every HeartbeatEvery while a step waits, how long it has waited and what it has seen
// so far. It also keeps each step's duration for the time breakdown (Timings).
type Progress struct {
	w     io.Writer
	start time.Time
	// HeartbeatEvery is the period of the "still waiting" lines (0: 5 s).
	HeartbeatEvery time.Duration

	mu      sync.Mutex
	timings []Timing
}

// Timing is how long one step took.
type Timing struct {
	Step     string
	Duration time.Duration
}

// NewProgress prints to w (io.Discard: nothing).
func NewProgress(w io.Writer) *Progress {
	if w == nil {
		w = io.Discard
	}
	return &Progress{w: w, start: time.Now()}
}

// Printf prints a line stamped with the time since the start.
func (p *Progress) Printf(format string, args ...any) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintf(p.w, "[%6.1fs] %s\n", time.Since(p.start).Seconds(), fmt.Sprintf(format, args...))
}

// Raw prints text as it is (the streamed answer).
func (p *Progress) Raw(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprint(p.w, s)
}

// Elapsed is the time since the start.
func (p *Progress) Elapsed() time.Duration { return time.Since(p.start) }

// Timings are the steps' durations, in the order they ended.
func (p *Progress) Timings() []Timing {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Timing(nil), p.timings...)
}

// Record adds a step's duration measured elsewhere (the build, before the orchestrator ran).
func (p *Progress) Record(step string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.timings = append(p.timings, Timing{step, d})
}

// StepError is a step that failed.
type StepError struct {
	Step string
	Err  error
}

func (e *StepError) Error() string { return e.Step + ": " + e.Err.Error() }
func (e *StepError) Unwrap() error { return e.Err }

// Step is one step in progress: Status sets what its heartbeat says.
type Step struct {
	mu     sync.Mutex
	status string
}

// Status sets what the step has seen so far (printed by the heartbeat while it waits).
func (s *Step) Status(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status = fmt.Sprintf(format, args...)
}

func (s *Step) get() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status
}

// Run runs fn as the step name, saying first what it does (doing), then what came of it (the
// text fn returns) with the time it took; while it runs it says every heartbeat how long it has
// waited and its status. An error is returned as a *StepError naming the step.
func (p *Progress) Run(ctx context.Context, name, doing string, fn func(ctx context.Context, s *Step) (string, error)) error {
	p.Printf("%s: %s", name, doing)
	began := time.Now()
	s := &Step{}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		every := p.HeartbeatEvery
		if every <= 0 {
			every = 5 * time.Second
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				st := s.get()
				if st != "" {
					st = ": " + st
				}
				p.Printf("%s: still waiting after %.0fs%s", name, time.Since(began).Seconds(), st)
			}
		}
	}()
	res, err := fn(ctx, s)
	close(stop)
	wg.Wait()
	d := time.Since(began)
	if err != nil {
		p.Printf("%s: failed after %.1fs", name, d.Seconds())
		return &StepError{Step: name, Err: err}
	}
	p.Record(name, d)
	if res != "" {
		res = ": " + res
	}
	p.Printf("%s: done in %.1fs%s", name, d.Seconds(), res)
	return nil
}

// FormatTimings is "devnet 0.5s, wallets 0.4s, …".
func FormatTimings(ts []Timing) string {
	var out []string
	for _, t := range ts {
		out = append(out, fmt.Sprintf("%s %.1fs", t.Step, t.Duration.Seconds()))
	}
	return strings.Join(out, ", ")
}
