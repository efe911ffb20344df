package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/attest"
)

// attestOut receives the command's output; tests swap it.
var attestOut io.Writer = os.Stdout

func init() {
	register("attest", "compute measurement hashes and check a provider's RA-TLS attestation", runAttest)
}

const attestUsage = `usage:
  cocoon attest measure --kind tdx|snp|sim --reg NAME=HEX [--reg NAME=HEX ...]
  cocoon attest measure --devnet-sim
      print the measurement hash (the registry allow-list value) of an image's registers
  cocoon attest check URL --allow KIND:HASH [--allow ...] [--allow-sim] [--devnet-sim] [--nonce HEX]
      connect to a provider over RA-TLS, verify its certificate and fresh evidence for a nonce,
      and print the verified claims as JSON`

func runAttest(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, attestUsage)
	}
	switch args[0] {
	case "measure":
		return runAttestMeasure(args[1:])
	case "check":
		return runAttestCheck(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprintln(attestOut, attestUsage)
		return nil
	default:
		return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, args[0], attestUsage)
	}
}

// multiFlag collects a repeated flag.
type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func runAttestMeasure(args []string) error {
	fs := flag.NewFlagSet("attest measure", flag.ContinueOnError)
	kindName := fs.String("kind", "", "evidence kind: tdx, snp or sim")
	devnetSim := fs.Bool("devnet-sim", false, "the devnet's default simulated image (kind sim)")
	var regs multiFlag
	fs.Var(&regs, "reg", "register value NAME=HEX (repeat for each register the kind's hash covers)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if *devnetSim {
		if *kindName != "" || len(regs) != 0 {
			return fmt.Errorf("%w: --devnet-sim takes no --kind or --reg", errUsage)
		}
		m := attest.SimMeasurement(attest.DevnetSimImage)
		fmt.Fprintf(attestOut, "sim %s\n", hex.EncodeToString(m[:]))
		return nil
	}
	if *kindName == "" {
		return fmt.Errorf("%w: --kind is required (tdx, snp or sim), or use --devnet-sim", errUsage)
	}
	kind, err := attest.ParseKind(*kindName)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	values := make(map[string]string, len(regs))
	for _, r := range regs {
		name, val, ok := strings.Cut(r, "=")
		if !ok || name == "" {
			return fmt.Errorf("%w: --reg %q is not NAME=HEX", errUsage, r)
		}
		name = strings.ToLower(name)
		if _, dup := values[name]; dup {
			return fmt.Errorf("%w: register %s given twice", errUsage, name)
		}
		values[name] = strings.ToLower(strings.TrimPrefix(val, "0x"))
	}
	m, err := attest.MeasurementFromRegisters(kind, values)
	if err != nil {
		return err
	}
	fmt.Fprintf(attestOut, "%s %s\n", kind.Name(), hex.EncodeToString(m[:]))
	return nil
}

func runAttestCheck(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("attest check", flag.ContinueOnError)
	var allows multiFlag
	fs.Var(&allows, "allow", "allowed measurement KIND:HASH (repeat; e.g. from 'cocoon registry show')")
	allowSim := fs.Bool("allow-sim", false, "accept simulated evidence (devnet only)")
	devnetSim := fs.Bool("devnet-sim", false, "allow the devnet's default simulated measurement (implies --allow-sim)")
	nonceHex := fs.String("nonce", "", "freshness nonce in hex (default: 32 random bytes)")
	timeout := fs.Duration("timeout", 30*time.Second, "overall time limit")
	// Flags may follow the URL: parse, take the URL, parse the rest.
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return fmt.Errorf("%w: missing provider URL\n%s", errUsage, attestUsage)
	}
	target := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if !strings.HasPrefix(target, "https://") {
		return fmt.Errorf("%w: provider URL %q must start with https:// (RA-TLS)", errUsage, target)
	}

	policy := attest.Policy{Allowed: map[[32]byte]attest.Kind{}, AllowSim: *allowSim || *devnetSim}
	if *devnetSim {
		policy.Allowed[attest.SimMeasurement(attest.DevnetSimImage)] = attest.KindSim
	}
	for _, a := range allows {
		kindName, hashHex, ok := strings.Cut(a, ":")
		if !ok {
			return fmt.Errorf("%w: --allow %q is not KIND:HASH", errUsage, a)
		}
		kind, err := attest.ParseKind(kindName)
		if err != nil {
			return fmt.Errorf("%w: --allow %q: %v", errUsage, a, err)
		}
		h, err := hex.DecodeString(strings.TrimPrefix(hashHex, "0x"))
		if err != nil || len(h) != 32 {
			return fmt.Errorf("%w: --allow %q: hash must be 64 hex digits", errUsage, a)
		}
		policy.Allowed[[32]byte(h)] = kind
	}
	roots, err := attest.DefaultRoots()
	if err != nil {
		return fmt.Errorf("failed to load the pinned vendor roots: %w", err)
	}
	policy.Roots = roots

	nonce := make([]byte, 32)
	if *nonceHex != "" {
		if nonce, err = hex.DecodeString(*nonceHex); err != nil {
			return fmt.Errorf("%w: --nonce is not hex: %v", errUsage, err)
		}
	} else if _, err := rand.Read(nonce); err != nil {
		return fmt.Errorf("failed to draw a nonce: %w", err)
	}

	v, err := attest.NewVerifier(policy)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	var handshake *attest.Claims
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(func(c *attest.Claims) { handshake = c })}}
	defer client.CloseIdleConnections()
	fresh, err := v.FetchFreshEvidence(ctx, client, target, nonce)
	if err != nil {
		return fmt.Errorf("attestation of %s failed: %w", target, err)
	}
	out := struct {
		Provider    string         `json:"provider"`
		Nonce       string         `json:"nonce"`
		Certificate *attest.Claims `json:"certificate"`
		Fresh       *attest.Claims `json:"fresh"`
	}{target, hex.EncodeToString(nonce), handshake, fresh}
	enc := json.NewEncoder(attestOut)
	enc.SetIndent("", "  ")
	if fresh.Simulated {
		fmt.Fprintln(os.Stderr, "WARNING: this provider runs SIMULATED attestation: it is not a TEE (devnet only)")
	}
	return enc.Encode(out)
}
