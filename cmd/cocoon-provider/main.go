// Command cocoon-provider is the binary that runs inside a provider's attested confidential VM.
//
// It links only what a provider needs (no devnet, indexer, client or oracle: deps_test.go enforces
// it), so its measurement, which the registry allow-lists, changes only when the provider's own code
// does. `run` turns the config file and flags into a provider.Config and runs the daemon
// (package provider); `cocoon provider init` writes the config file. There is no unpaid mode: a
// free OpenAI-compatible server is `cocoon model serve`, outside any TEE and any network.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"sort"

	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/service"
)

const usage = `usage: cocoon-provider <command> [flags]

commands:
  run       serve paid inference over RA-TLS: cocoon-provider run --config provider.json
            (write the file with 'cocoon provider init')
  version   print the version of this binary

Run 'cocoon-provider run -h' for its flags.`

// gcPercent is the daemon's GOGC when the environment sets none.
const gcPercent = 400

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	switch args[0] {
	case "run":
		return runDaemon(ctx, args[1:], lookupEnv, stdout, stderr)
	case "version":
		if len(args) > 1 {
			fmt.Fprintln(stderr, "cocoon-provider: version takes no arguments")
			return 2
		}
		fmt.Fprintln(stdout, buildinfo.String("cocoon-provider"))
		return 0
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
		return 0
	case "serve":
		fmt.Fprintln(stderr, "cocoon-provider: serve is gone: a provider serves only for pay (cocoon-provider run --config FILE; "+
			"'cocoon provider init' writes the file). For a free local server use 'cocoon model serve'.")
		return 2
	}
	fmt.Fprintf(stderr, "cocoon-provider: unknown command %q\n\n%s\n", args[0], usage)
	return 2
}

// runDaemon is `run`: the config file, then the environment (COCOON_PROVIDER_*) and flags over it.
// Exit codes: 0 after a clean stop, 1 on failure, 2 on bad flags or configuration.
func runDaemon(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) int {
	// The config file's path first: its values are the defaults the flags override.
	path := ""
	pre := flag.NewFlagSet("run", flag.ContinueOnError)
	pre.SetOutput(io.Discard)
	pre.StringVar(&path, "config", "", "")
	cfg := provider.DefaultConfig()
	cfg.AddFlags(pre)
	_ = pre.Parse(args)
	if path == "" {
		path, _ = lookupEnv(service.EnvName(provider.EnvPrefix, "config"))
	}
	if path != "" {
		var err error
		if cfg, err = provider.LoadConfig(path); err != nil {
			fmt.Fprintln(stderr, "cocoon-provider:", err)
			return 2
		}
	}
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&path, "config", path, "the provider's config file (JSON; 'cocoon provider init' writes one)")
	cfg.AddFlags(fs)
	if err := service.ParseFlags(fs, args, provider.EnvPrefix, lookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(stderr, "cocoon-provider:", err)
		return 2
	}
	if fs.NArg() != 0 {
		fmt.Fprintf(stderr, "cocoon-provider: unexpected arguments %q\n", fs.Args())
		return 2
	}
	if path == "" {
		fmt.Fprintln(stderr, "cocoon-provider: run needs --config FILE ('cocoon provider init' writes one)")
		return 2
	}
	if err := cfg.Check(); err != nil {
		fmt.Fprintf(stderr, "cocoon-provider: %s:\n  %v\n", path, indent(err))
		return 2
	}
	log, err := service.NewLogger(stderr, "provider", cfg.Config)
	if err != nil {
		fmt.Fprintln(stderr, "cocoon-provider:", err)
		return 2
	}
	if unknown := service.UnknownEnv(fs, provider.EnvPrefix, os.Environ()); len(unknown) > 0 {
		log.Warn("environment variables with the provider's prefix that match no flag", "vars", unknown)
	}
	var m provider.Metricer = provider.NoopMetrics{}
	if cfg.MetricsListen != "" {
		m = provider.NewMetrics()
	}
	// The collector at a quarter of Go's default pace unless GOGC says otherwise: a paid request
	// allocates many short-lived objects (HTTP, TLS, JSON, a Pebble batch) over a small live heap,
	// and at the default the collector took ~5% of the daemon's CPU under load (docs/DECISIONS.md,
	// 2026-12-07).
	if _, ok := lookupEnv("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	p, err := provider.New(ctx, cfg, log, m)
	if err != nil {
		fmt.Fprintln(stderr, "cocoon-provider:", err)
		return 2
	}
	started := make(chan struct{})
	go func() {
		select {
		case <-started:
		case <-ctx.Done():
			return
		}
		printInfo(stdout, p.Info())
	}()
	err = service.Run(ctx, startNotifier{p, started}, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log})
	if err != nil {
		fmt.Fprintln(stderr, "cocoon-provider:", err)
		return 1
	}
	return 0
}

// startNotifier closes started once the daemon started.
type startNotifier struct {
	*provider.Provider
	started chan struct{}
}

func (s startNotifier) Start(ctx context.Context) error {
	if err := s.Provider.Start(ctx); err != nil {
		return err
	}
	close(s.started)
	return nil
}

func indent(err error) string {
	s := err.Error()
	out := ""
	for i, r := range s {
		if r == '\n' && i < len(s)-1 {
			out += "\n  "
			continue
		}
		out += string(r)
	}
	return out
}

func printInfo(w io.Writer, in provider.Info) {
	fmt.Fprintf(w, "serving on https://%s/v1 (RA-TLS, %s)\n", in.Addr, in.Kind)
	fmt.Fprintf(w, "tls key hash: %x\n", in.TLSKeyHash)
	if in.Measurement != ([32]byte{}) {
		fmt.Fprintf(w, "WARNING: SIMULATED TEE (devnet only); measurement to allow-list: sim %x\n", in.Measurement)
	}
	fmt.Fprintf(w, "provider contract: %s\n", in.Provider.StringRaw())
	fmt.Fprintf(w, "settlement wallet: %s\n", in.Wallet.StringRaw())
	sort.Slice(in.Models, func(i, j int) bool { return in.Models[i].ID < in.Models[j].ID })
	for _, m := range in.Models {
		fmt.Fprintf(w, "model: %s registry id %d, prices %s / %s nanoTON per 1M prompt / completion tokens, context %d\n",
			m.ID, m.Cocoon.ModelID, m.Cocoon.PromptPrice, m.Cocoon.CompletionPrice, m.Cocoon.ContextLength)
	}
}
