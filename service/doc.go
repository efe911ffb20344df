// Package service is the one shape of every Cocoon daemon (provider, client gateway, oracle,
// indexer): the same configuration checks, flags, logs, metrics, health, start, stop and
// interrupt handling, so that a daemon only fills in its own parts.
//
// A daemon package has:
//
//   - a Config that embeds service.Config (log level and format, metrics listener, drain
//     timeout), an AddFlags(fs) that calls Config.AddFlags, and a Check() error that joins
//     service.Config.Check with its own problems, each built with Invalid (plain English,
//     naming the field and its flag, wrapping ErrConfig);
//   - a Metricer interface embedding service.Metricer, a Prometheus implementation embedding
//     *Metrics (NewMetrics(name) gives each daemon its own registry) and a no-op twin
//     embedding NoopMetrics;
//   - a constructor New(ctx, cfg, log, m) that checks cfg and adds named init steps to an
//     embedded *Lifecycle (one initX method per part, each returning the StopFunc for what it
//     started; AddLoop for background loops; StartHTTP for listeners, OpsHandler for
//     /metrics and /healthz, Health for the named checks). Start and Stop come from the
//     Lifecycle: in order, in reverse, idempotent, errors joined, parts never started skipped.
//
// Its main (in cmd/) only turns flags into the config and runs it:
//
//	cfg := provider.DefaultConfig()
//	fs := flag.NewFlagSet("cocoon-provider", flag.ContinueOnError)
//	cfg.AddFlags(fs)
//	if err := service.ParseFlags(fs, os.Args[1:], "COCOON_PROVIDER", os.LookupEnv); err != nil { … exit 2 }
//	if err := cfg.Check(); err != nil { … exit 2 }
//	log, _ := service.NewLogger(os.Stderr, "provider", cfg.Config)
//	p, err := provider.New(ctx, cfg, log, provider.NewMetrics())
//	…
//	err = service.Run(ctx, p, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log})
//
// Run starts the daemon and, on the first SIGINT or SIGTERM, cancels the run context and
// stops it within the drain timeout; a second interrupt exits at once (code 130). Times come
// from an injected clock.Clock (package service/clock). The package's example_test.go is a
// complete small daemon in this shape, tested end to end.
package service
