package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/oracle"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/uptime"
)

func init() {
	register("oracle", "oracle daemon: attestation votes, uptime probes and epoch roots; its key; uptime proofs", runOracle)
}

const oracleUsage = `usage: cocoon oracle <verb> [flags]

  run        run the oracle daemon (flags also from $COCOON_ORACLE_<FLAG>; 'cocoon oracle run -h')
  key new    --out FILE: create the oracle's ed25519 key; prints the public key for 'cocoon registry add-oracle --pubkey'
  key show   --key FILE: print the public key of an oracle key file
  proof      --api URL --provider ADDRESS [--epoch N]: fetch a provider's uptime entry from an oracle and check
             it against the oracle's root on-chain (--registry, --rpc)`

// oracleOut receives what the oracle verbs print (tests replace it).
var oracleOut io.Writer = os.Stdout

func runOracle(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, oracleUsage)
	}
	switch args[0] {
	case "run":
		return oracleRun(ctx, args[1:], os.LookupEnv, os.Stderr)
	case "key":
		if len(args) > 1 && (args[1] == "new" || args[1] == "show") {
			return oracleKey(args[1], args[2:])
		}
		return fmt.Errorf("%w: 'cocoon oracle key new --out FILE' or 'cocoon oracle key show --key FILE'", errUsage)
	case "proof":
		return oracleProof(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(oracleOut, oracleUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, args[0], oracleUsage)
}

// oracleRun turns flags (and COCOON_ORACLE_* variables) into an oracle.Config and runs the daemon
// until interrupted.
func oracleRun(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stderr io.Writer) error {
	cfg := oracle.DefaultConfig()
	fs := flag.NewFlagSet("oracle run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg.AddFlags(fs)
	if err := service.ParseFlags(fs, args, oracle.EnvPrefix, lookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log, err := service.NewLogger(stderr, "oracle", cfg.Config)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, name := range service.UnknownEnv(fs, oracle.EnvPrefix, os.Environ()) {
		log.Warn("ignoring an environment variable that names no flag", "var", name)
	}
	o, err := oracle.New(ctx, cfg, log, oracle.NewMetrics())
	if err != nil {
		return err
	}
	return service.Run(ctx, o, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log})
}

// oracleKey creates (new) or reads (show) an oracle key file and prints its public key.
func oracleKey(verb string, args []string) error {
	fs := flag.NewFlagSet("oracle key "+verb, flag.ContinueOnError)
	fs.SetOutput(oracleOut)
	name, help := "key", "oracle key file"
	if verb == "new" {
		name, help = "out", "key file to create (0600; never overwritten)"
	}
	path := fs.String(name, "", help)
	if err := fs.Parse(args); err != nil {
		return usageOf(err)
	}
	if *path == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: give the key file with --%s FILE", errUsage, name)
	}
	read := keys.ReadOracleKey
	if verb == "new" {
		read = keys.NewOracleKey
	}
	k, err := read(*path)
	if err != nil {
		return err
	}
	if verb == "new" {
		fmt.Fprintf(oracleOut, "oracle key: %s\n", *path)
	}
	fmt.Fprintf(oracleOut, "public key: %x\n", k.Public().(ed25519.PublicKey))
	return nil
}

// oracleProof checks one provider's uptime entry as a client does: the oracle's latest root on-chain
// (or the epoch asked for, which must be that root's), the entry and proof from the oracle's API,
// and the oracle's signature with the key the registry lists for it.
func oracleProof(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("oracle proof", flag.ContinueOnError)
	fs.SetOutput(oracleOut)
	api := fs.String("api", "", "the oracle's API root, e.g. http://oracle.example:8091")
	providerFlag := fs.String("provider", "", "the Provider contract's address")
	epoch := fs.Int64("epoch", -1, "epoch (default: the oracle's latest root on-chain)")
	registry := fs.String("registry", os.Getenv(envRegistry), "registry address (env "+envRegistry+")")
	network := fs.String("network", envOr(envNetwork, "devnet"), "devnet, testnet or mainnet")
	rpc := fs.String("rpc", os.Getenv(envRPC), "toncenter v2 URL (env "+envRPC+")")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit")
	if err := fs.Parse(args); err != nil {
		return usageOf(err)
	}
	if *api == "" || *providerFlag == "" || *registry == "" || fs.NArg() != 0 {
		return fmt.Errorf("%w: give --api, --provider and --registry (or $%s)", errUsage, envRegistry)
	}
	provider, err := parseAnyAddress(*providerFlag)
	if err != nil {
		return fmt.Errorf("%w: --provider: %v", errUsage, err)
	}
	reg, err := parseAnyAddress(*registry)
	if err != nil {
		return fmt.Errorf("%w: --registry: %v", errUsage, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	c, release, err := dial.Dial(ctx, dial.Config{Network: *network, RPC: *rpc})
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	defer release()
	client := uptime.Client{BaseURL: *api}
	list, err := client.Epochs(ctx)
	if err != nil {
		return err
	}
	oracleWallet, err := address.ParseRawAddr(list.Oracle)
	if err != nil {
		return fmt.Errorf("the oracle names its wallet %q: %w", list.Oracle, err)
	}
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	commit, err := rc.UptimeRoot(ctx, oracleWallet)
	if err != nil {
		return err
	}
	if !commit.Found {
		return fmt.Errorf("oracle %s has no uptime root at registry %s", list.Oracle, reg.StringRaw())
	}
	if *epoch >= 0 && uint32(*epoch) != commit.Epoch {
		return fmt.Errorf("the registry holds the oracle's root of epoch %d only (the latest); epoch %d cannot be checked on-chain", commit.Epoch, *epoch)
	}
	pr, err := client.Proof(ctx, commit.Epoch, provider)
	if err != nil {
		return err
	}
	e, err := pr.VerifyAgainst(commit.Epoch, commit.Root, commit.ProviderCount)
	if err != nil {
		return err
	}
	listed, err := rc.Oracle(ctx, oracleWallet)
	if err != nil {
		return err
	}
	if err := uptime.VerifySignature(listed.PublicKey, reg, oracleWallet, commit.Epoch, uptime.Hash(commit.Root), commit.ProviderCount, pr.Signature); err != nil {
		return err
	}
	start := uptime.EpochStart(commit.Epoch, time.Duration(list.EpochSeconds)*time.Second)
	fmt.Fprintf(oracleOut, "epoch %d (%s, %ds), root %s, %d providers: verified on-chain\n", commit.Epoch,
		start.Format(time.RFC3339), list.EpochSeconds, hex.EncodeToString(commit.Root), commit.ProviderCount)
	fmt.Fprintf(oracleOut, "provider %s: %d of %d probes ok, latency p50 %d ms, p90 %d ms\n",
		e.Provider.StringRaw(), e.ProbesOK, e.ProbesTotal, e.LatencyP50Ms, e.LatencyP90Ms)
	return nil
}

func parseAnyAddress(s string) (*address.Address, error) {
	if a, err := address.ParseAddr(s); err == nil {
		return a, nil
	}
	return address.ParseRawAddr(s)
}
