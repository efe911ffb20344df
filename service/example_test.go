package service_test

// A complete small daemon in the service shape, "greeter": what the provider, client gateway,
// oracle and indexer daemons look like, with their own parts in place of the guest book, the
// heartbeat and the greeting API. The tests below and in run_e2e_test.go drive it in-process
// and as a real child process.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// ---------------------------------------------------------------- configuration

// greeterConfig is the daemon's configuration: the service part and its own fields.
type greeterConfig struct {
	service.Config
	// Listen is the greeting API's host:port.
	Listen string
	// Greeting is what the API says before the name.
	Greeting string
	// Beat is the heartbeat period.
	Beat time.Duration
	// Clock is not a flag: nil means clock.System; tests inject a clock.Manual.
	Clock clock.Clock
}

// greeterEnvPrefix: every flag can also come from COCOON_GREETER_<FLAG>.
const greeterEnvPrefix = "COCOON_GREETER"

func defaultGreeterConfig() greeterConfig {
	return greeterConfig{Config: service.DefaultConfig(), Listen: "127.0.0.1:8090", Greeting: "hello", Beat: time.Minute}
}

func (c *greeterConfig) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port of the greeting API")
	fs.StringVar(&c.Greeting, "greeting", c.Greeting, "what the API says before the name")
	fs.DurationVar(&c.Beat, "beat", c.Beat, "heartbeat period")
}

// Check reports every problem at once, each naming its field and flag.
func (c greeterConfig) Check() error {
	errs := []error{c.Config.Check(), service.CheckListen("API listen address", "listen", c.Listen, false)}
	if strings.TrimSpace(c.Greeting) == "" {
		errs = append(errs, service.Invalid("greeting", "greeting", "must not be empty"))
	}
	if c.Beat <= 0 {
		errs = append(errs, service.Invalid("heartbeat period", "beat", "must be positive, got %v", c.Beat))
	}
	return errors.Join(errs...)
}

// ---------------------------------------------------------------- metrics

// greeterMetricer is the daemon's own Metricer: the common part and its own records.
type greeterMetricer interface {
	service.Metricer
	RecordGreeting()
	RecordBeat()
}

type greeterMetrics struct {
	*service.Metrics
	greetings prometheus.Counter
	beats     prometheus.Counter
}

func newGreeterMetrics() *greeterMetrics {
	m := service.NewMetrics("greeter")
	return &greeterMetrics{
		Metrics:   m,
		greetings: m.NewCounter("greetings_total", "Greetings answered."),
		beats:     m.NewCounter("heartbeats_total", "Heartbeats of the heartbeat loop."),
	}
}

func (m *greeterMetrics) RecordGreeting() { m.greetings.Inc() }
func (m *greeterMetrics) RecordBeat()     { m.beats.Inc() }

// noopGreeterMetrics is the no-op twin.
type noopGreeterMetrics struct{ service.NoopMetrics }

func (noopGreeterMetrics) RecordGreeting() {}
func (noopGreeterMetrics) RecordBeat()     {}

// ---------------------------------------------------------------- the daemon

// greeter has four parts, started in this order and stopped in reverse: the guest book (a
// store), the heartbeat loop, the greeting API and the ops listener (/metrics, /healthz).
type greeter struct {
	*service.Lifecycle
	cfg    greeterConfig
	log    *slog.Logger
	m      greeterMetricer
	clock  clock.Clock
	health service.Health

	// Set by the init steps.
	book *guestBook
	api  *service.HTTPServer
	ops  *service.HTTPServer
}

func newGreeter(ctx context.Context, cfg greeterConfig, log *slog.Logger, m greeterMetricer) (*greeter, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	g := &greeter{Lifecycle: service.NewLifecycle(log), cfg: cfg, log: log, m: m, clock: cfg.Clock}
	if g.clock == nil {
		g.clock = clock.System
	}
	m.RecordInfo("example")
	g.health.Add("lifecycle", g.Healthy)
	g.health.Add("guest book", func(context.Context) error { return g.book.check() })
	g.Add("guest book", g.initBook)
	g.AddLoop("heartbeat", g.heartbeat)
	g.Add("api", g.initAPI)
	g.AddOps(g.cfg.MetricsListen, g.m, &g.health, &g.ops)
	g.AddUp(m)
	return g, nil
}

func (g *greeter) initBook(ctx context.Context) (service.StopFunc, error) {
	g.book = &guestBook{}
	return func(context.Context) error { return g.book.close() }, nil
}

func (g *greeter) heartbeat(ctx context.Context) error {
	t := g.clock.NewTicker(g.cfg.Beat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			g.m.RecordBeat()
		}
	}
}

func (g *greeter) initAPI(ctx context.Context) (service.StopFunc, error) {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", g.hello)
	s, err := service.StartHTTP(ctx, g.log, "api", g.cfg.Listen, mux)
	if err != nil {
		return nil, err
	}
	g.api = s
	return s.Stop, nil
}

// hello answers "<greeting>, <name>". With ?delay=D it sends the headers at once and the body
// after D on the daemon's clock: an in-flight request for the drain tests.
func (g *greeter) hello(w http.ResponseWriter, r *http.Request) {
	name := r.URL.Query().Get("name")
	if err := g.book.sign(name); err != nil {
		http.Error(w, err.Error(), http.StatusServiceUnavailable)
		return
	}
	if d, err := time.ParseDuration(r.URL.Query().Get("delay")); err == nil {
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		if g.clock.Sleep(r.Context(), d) != nil {
			return
		}
	}
	g.m.RecordGreeting()
	fmt.Fprintf(w, "%s, %s\n", g.cfg.Greeting, name)
}

// guestBook stands for a daemon's store (Pebble in the real ones).
type guestBook struct {
	mu     sync.Mutex
	names  []string
	closed bool
}

var errBookClosed = errors.New("guest book is closed")

func (b *guestBook) sign(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBookClosed
	}
	b.names = append(b.names, name)
	return nil
}

func (b *guestBook) check() error {
	if b == nil {
		return errors.New("guest book not open")
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBookClosed
	}
	return nil
}

func (b *guestBook) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return errBookClosed
	}
	b.closed = true
	return nil
}

// ---------------------------------------------------------------- main

// runGreeter is the daemon's main as cmd/ would write it: flags (and COCOON_GREETER_*
// variables) into the config, check, logger, metrics, constructor, Run. It returns the exit
// code: 0 after a clean stop, 1 on failure, 2 on bad flags or configuration.
func runGreeter(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) int {
	cfg := defaultGreeterConfig()
	fs := flag.NewFlagSet("greeter", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := service.ParseFlags(fs, args, greeterEnvPrefix, lookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "greeter:", err)
		return 2
	}
	if err := cfg.Check(); err != nil {
		fmt.Fprintln(stderr, "greeter:", err)
		return 2
	}
	log, err := service.NewLogger(stderr, "greeter", cfg.Config)
	if err != nil {
		fmt.Fprintln(stderr, "greeter:", err)
		return 2
	}
	g, err := newGreeter(ctx, cfg, log, newGreeterMetrics())
	if err != nil {
		log.Error("failed to build the daemon", "err", err)
		return 1
	}
	if err := service.Run(ctx, g, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log}); err != nil {
		log.Error("greeter failed", "err", err)
		return 1
	}
	return 0
}

// ---------------------------------------------------------------- a Lifecycle on its own

func ExampleLifecycle() {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	l := service.NewLifecycle(log)
	part := func(name string, startErr error) service.StartFunc {
		return func(context.Context) (service.StopFunc, error) {
			fmt.Println("start", name)
			if startErr != nil {
				return nil, startErr
			}
			return func(context.Context) error { fmt.Println("stop", name); return nil }, nil
		}
	}
	l.Add("store", part("store", nil))
	l.Add("api", part("api", errors.New("port in use")))
	l.Add("never", part("never", nil))
	fmt.Println(l.Start(context.Background()))
	fmt.Println(l.Stop(context.Background()))
	// Output:
	// start store
	// start api
	// stop store
	// failed to start api: port in use
	// <nil>
}
