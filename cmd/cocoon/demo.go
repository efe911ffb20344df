package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"time"

	"github.com/cocoon-go/cocoon/demo"
)

func init() {
	register("demo", "run a whole local network (devnet, oracles, providers, indexer, gateway); --check verifies it", runDemo)
}

const demoHelp = `usage: cocoon demo [--data DIR] [--fresh] [--gateway-listen ADDR] [--explorer-listen ADDR] [--check]

Runs a whole Cocoon network on this machine, each part its own process as its operator would run
it: a devnet (local TON, a block every 400 ms), a registry (devnet kind, the simulated TEE allowed,
the demo model listed), 3 oracles (quorum 2), 2 providers (simulated TEE, the embedded demo model,
different prices) that register and stake from their own wallets, the indexer with its explorer, and
the client gateway. It waits until the providers are attested, sends one chat request through the
gateway and shows the answer, the provider chosen, the cost, the receipt, the verification report and
the provider's claim once it lands, then keeps running until Ctrl-C (a second Ctrl-C kills at once).

State lives in --data: run again to resume that network, or add --fresh to start a new one.
--check runs the same on a new network in a temporary folder (unless --data is given), checks every
step, prints one line and exits 0, or exits 1 naming the step that failed (the folder, with every
log, is kept then).

flags:
`

// demoOut receives the demo's progress (tests replace it).
var demoOut io.Writer = os.Stdout

func runDemo(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(demoOut)
	fs.Usage = func() { fmt.Fprint(fs.Output(), demoHelp); fs.PrintDefaults() }
	data := fs.String("data", "", "the network's data folder (default "+demo.DefaultDataDir()+"; with --check a temporary one)")
	fresh := fs.Bool("fresh", false, "wipe --data and start a new network (default: resume the one there)")
	gateway := fs.String("gateway-listen", "", "the client gateway's address (default "+demo.DefaultGatewayListen+"; with --check a free port)")
	explorer := fs.String("explorer-listen", "", "the explorer's address (default "+demo.DefaultExplorerListen+"; with --check a free port)")
	check := fs.Bool("check", false, "verify every step (attested, paid, claimed, indexed, in the explorer), print one line and exit")
	blocks := fs.Duration("block-interval", demo.DefaultBlockInterval, "the devnet's block time")
	prompt := fs.String("prompt", demo.DefaultPrompt, "what the demo asks")
	maxTokens := fs.Int("max-tokens", 48, "completion tokens of the demo's answer at most")
	providerBin := fs.String("provider-bin", "", "the cocoon-provider binary (default: beside this one, else on $PATH)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if *providerBin == "" {
		*providerBin = filepath.Join(filepath.Dir(self), "cocoon-provider")
		if _, err := os.Stat(*providerBin); err != nil {
			if p, err := exec.LookPath("cocoon-provider"); err == nil {
				*providerBin = p
			}
		}
	}
	cfg := demo.Config{DataDir: *data, Fresh: *fresh, Cocoon: self, CocoonProvider: *providerBin, GatewayListen: *gateway,
		ExplorerListen: *explorer, BlockInterval: *blocks, Out: demoOut}
	if _, ok := commands["client"]; !ok {
		cfg.NoGateway = true
		fmt.Fprintln(demoOut, "note: this build has no client gateway yet ('cocoon client'): the demo stops at the attested providers")
	}
	tmp := ""
	if *check {
		if cfg.DataDir == "" {
			if tmp, err = os.MkdirTemp("", "cocoon-demo-check-"); err != nil {
				return err
			}
			cfg.DataDir = tmp
		}
		cfg.RandomPorts = true
		if cfg.GatewayListen == "" {
			cfg.GatewayListen = "127.0.0.1:0"
		}
		if cfg.ExplorerListen == "" {
			cfg.ExplorerListen = "127.0.0.1:0"
		}
	} else if cfg.DataDir == "" {
		cfg.DataDir = demo.DefaultDataDir()
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	began := time.Now()
	sum, err := demo.Run(ctx, cfg, demo.RunOptions{Check: *check, Prompt: *prompt, MaxTokens: *maxTokens})
	if !*check {
		if err != nil && ctx.Err() == nil {
			return err
		}
		return nil
	}
	if err != nil {
		var se *demo.StepError
		step := "start"
		if errors.As(err, &se) {
			step = se.Step
		}
		where := ""
		if cfg.DataDir != "" {
			where = fmt.Sprintf(" (data and logs kept in %s)", cfg.DataDir)
		}
		return fmt.Errorf("--check FAILED at step %q after %.1fs%s: %w", step, time.Since(began).Seconds(), where, err)
	}
	if tmp != "" {
		_ = os.RemoveAll(tmp)
	}
	fmt.Fprintf(demoOut, "where the time went: %s\n", demo.FormatTimings(sum.Timings))
	fmt.Fprintln(demoOut, "cocoon demo --check:", sum.Line())
	return nil
}
