package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/service"
)

func init() {
	register("indexer", "follow the contracts and serve the explorer API and web pages", runIndexer)
}

const indexerUsage = `usage:
  cocoon indexer run --rpc URL --registry ADDRESS --data DIR [--listen ADDR] [--metrics-listen ADDR]
                     [--oracle-api URL]...
      follow the registry and every Provider and Channel contract it deploys into DIR, and serve
      the API (/api/v1/…, /api/openapi.json) and the explorer (/) on ADDR; with --oracle-api (an
      oracle's HTTP API, repeatable), fetch the uptime tables behind that oracle's on-chain roots,
      keep those that verify against them and show the providers' uptime; every flag can also be
      set as COCOON_INDEXER_<FLAG> (COCOON_INDEXER_ORACLE_API: URLs separated by commas)`

func runIndexer(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "run" {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "--help") {
			fmt.Fprintln(os.Stdout, indexerUsage)
			return flag.ErrHelp
		}
		return fmt.Errorf("%w: want a verb\n%s", errUsage, indexerUsage)
	}
	cfg := indexer.DefaultConfig()
	fs := flag.NewFlagSet("indexer run", flag.ContinueOnError)
	cfg.AddFlags(fs)
	fs.Usage = func() { fmt.Fprintln(fs.Output(), indexerUsage); fs.PrintDefaults() }
	if err := service.ParseFlags(fs, args[1:], indexer.EnvPrefix, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q\n%s", errUsage, fs.Args(), indexerUsage)
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log, err := service.NewLogger(os.Stderr, "indexer", cfg.Config)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, name := range service.UnknownEnv(fs, indexer.EnvPrefix, os.Environ()) {
		log.Warn("environment variable matches no flag", "name", name)
	}
	ix, err := indexer.New(ctx, cfg, log, indexer.NewMetrics())
	if err != nil {
		return err
	}
	return service.Run(ctx, ix, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log})
}
