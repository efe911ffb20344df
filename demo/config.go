package demo

import (
	"crypto/sha512"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Defaults of the demo network.
const (
	// DefaultBlockInterval is TON's block time: the demo and its check run the devnet at it, so
	// every hop of every cascade waits for a block as it would on TON.
	DefaultBlockInterval = 400 * time.Millisecond
	// DefaultGatewayListen and DefaultExplorerListen are where the user looks.
	DefaultGatewayListen  = "127.0.0.1:8080"
	DefaultExplorerListen = "127.0.0.1:8090"
	// DefaultOracles and DefaultQuorum: three oracles, two of which attest a provider.
	DefaultOracles = 3
	DefaultQuorum  = 2
	// ModelID is the demo model's id in the registry's catalog.
	ModelID = 1
	// DefaultPrompt is what the demo asks (the demo model continues King James text).
	DefaultPrompt = "In the beginning"
)

// Config is a demo network: where its state lives, the binaries it runs, what it is made of.
type Config struct {
	// DataDir holds everything: the state file, keys, each daemon's data and log.
	DataDir string
	// Fresh wipes DataDir first; otherwise a network found there is resumed.
	Fresh bool
	// Cocoon and CocoonProvider are the binaries (`cocoon`, `cocoon-provider`).
	Cocoon, CocoonProvider string
	// GatewayListen and ExplorerListen are the client gateway's and the explorer's addresses
	// ("127.0.0.1:0" picks a free port).
	GatewayListen, ExplorerListen string
	// RandomPorts picks free ports for the devnet, oracles and providers; otherwise a new network
	// takes the usual ones when they are free (devnet 8081, oracles 8091…, providers 8443…).
	RandomPorts bool
	// BlockInterval is the devnet's block time (0: DefaultBlockInterval).
	BlockInterval time.Duration
	// Oracles and Quorum (0: the defaults).
	Oracles, Quorum int
	// Providers are the providers (nil: DefaultProviders).
	Providers []ProviderSpec
	// NoGateway leaves the client gateway out (a test that talks to the providers itself).
	NoGateway bool
	// OracleArgs are added to every oracle's command line (a test's own intervals).
	OracleArgs []string
	// GatewayArgs are added to the gateway's command line.
	GatewayArgs []string
	// StopTimeout is how long a process may take to stop after SIGTERM before it is killed
	// (0: 20 s).
	StopTimeout time.Duration
	// Out receives the progress lines (nil: nothing).
	Out io.Writer
}

// ProviderSpec is one provider: its prices, stake, when it claims, and what serves its model.
type ProviderSpec struct {
	// Name names its folder, log and progress lines (provider-1, …).
	Name string
	// PromptPrice and CompletionPrice are TON per 1M tokens.
	PromptPrice, CompletionPrice string
	// Stake in TON (default the registry's minimum, MinStakeTON).
	Stake string
	// ThresholdTON: claim once this much is unclaimed (the demo claims at once: 1 nanoTON).
	ThresholdTON string
	// SettleInterval between looks at the channels (0: 1 s).
	SettleInterval time.Duration
	// Upstream, when set, serves the model from an OpenAI-compatible server (a test's fake
	// vLLM) instead of the embedded engine.
	Upstream *UpstreamSpec
	// SimImage names the simulated TEE's image ("": the devnet's default image, which every
	// provider of the demo runs): two images are two measurements, which governance allows and
	// revokes separately.
	SimImage string
}

// Image is the provider's simulated TEE image (48 bytes).
func (s ProviderSpec) Image() [48]byte {
	if s.SimImage == "" {
		return attest.DevnetSimImage
	}
	return sha512.Sum384([]byte("cocoon demo sim image " + s.SimImage))
}

// Measurement is the allow-list value of the provider's image.
func (s ProviderSpec) Measurement() [32]byte { return attest.SimMeasurement(s.Image()) }

// UpstreamSpec is an upstream inference server.
type UpstreamSpec struct {
	URL           string // the OpenAI API root, e.g. http://127.0.0.1:8000/v1
	Model         string // the server's name for the model
	ContextLength int
}

// Registry parameters of the demo network.
const (
	MinStakeTON       = "10"
	ProtocolFeeBps    = 250
	ChallengePeriod   = 600 // seconds: a client's close waits 10 minutes (tests advance the clock)
	UnbondingPeriod   = 600 // seconds
	AttestationMaxAge = 6 * 3600
)

// DefaultProviders are the demo's two providers: the embedded demo model at two prices (TON per
// 1M prompt / completion tokens), each claiming what it earns at once so the claim shows.
func DefaultProviders() []ProviderSpec {
	return []ProviderSpec{
		{Name: "provider-1", PromptPrice: "0.1", CompletionPrice: "0.2"},
		{Name: "provider-2", PromptPrice: "0.15", CompletionPrice: "0.3"},
	}
}

// DefaultDataDir is $XDG_DATA_HOME/cocoon/demo (~/.local/share/cocoon/demo).
func DefaultDataDir() string {
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "cocoon", "demo")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "cocoon", "demo")
	}
	return "cocoon-demo"
}

// withDefaults fills in the zero values.
func (c Config) withDefaults() Config {
	if c.BlockInterval == 0 {
		c.BlockInterval = DefaultBlockInterval
	}
	if c.Oracles == 0 {
		c.Oracles = DefaultOracles
	}
	if c.Quorum == 0 {
		c.Quorum = DefaultQuorum
	}
	if c.Providers == nil {
		c.Providers = DefaultProviders()
	}
	ps := make([]ProviderSpec, len(c.Providers))
	for i, p := range c.Providers {
		if p.Name == "" {
			p.Name = fmt.Sprintf("provider-%d", i+1)
		}
		if p.Stake == "" {
			p.Stake = MinStakeTON
		}
		if p.ThresholdTON == "" {
			p.ThresholdTON = "0.000000001"
		}
		if p.SettleInterval == 0 {
			p.SettleInterval = time.Second
		}
		ps[i] = p
	}
	c.Providers = ps
	if c.StopTimeout == 0 {
		c.StopTimeout = 20 * time.Second
	}
	if c.GatewayListen == "" {
		c.GatewayListen = DefaultGatewayListen
	}
	if c.ExplorerListen == "" {
		c.ExplorerListen = DefaultExplorerListen
	}
	return c
}

// Check reports every problem of c.
func (c Config) Check() error {
	c = c.withDefaults()
	var errs []error
	if c.DataDir == "" {
		errs = append(errs, errors.New("--data: a data directory is required"))
	}
	for _, b := range []struct{ flag, path string }{{"cocoon", c.Cocoon}, {"cocoon-provider", c.CocoonProvider}} {
		if b.path == "" {
			errs = append(errs, fmt.Errorf("the %s binary is not known (build it with 'make build')", b.flag))
		} else if st, err := os.Stat(b.path); err != nil || st.IsDir() {
			errs = append(errs, fmt.Errorf("the %s binary %s is missing (build it with 'make build')", b.flag, b.path))
		}
	}
	for _, l := range []struct{ flag, addr string }{{"--gateway-listen", c.GatewayListen}, {"--explorer-listen", c.ExplorerListen}} {
		if _, _, err := net.SplitHostPort(l.addr); err != nil {
			errs = append(errs, fmt.Errorf("%s: want host:port, got %q", l.flag, l.addr))
		}
	}
	if c.BlockInterval < 0 {
		errs = append(errs, errors.New("the block interval must not be negative"))
	}
	if c.Quorum < 1 || c.Quorum > c.Oracles {
		errs = append(errs, fmt.Errorf("quorum %d of %d oracles cannot work", c.Quorum, c.Oracles))
	}
	if len(c.Providers) == 0 {
		errs = append(errs, errors.New("a network needs a provider"))
	}
	names := map[string]bool{}
	for _, p := range c.Providers {
		if names[p.Name] {
			errs = append(errs, fmt.Errorf("two providers are named %s", p.Name))
		}
		names[p.Name] = true
		for _, a := range []struct{ what, v string }{{"prompt price", p.PromptPrice}, {"completion price", p.CompletionPrice}, {"stake", p.Stake}, {"threshold", p.ThresholdTON}} {
			if _, err := wallet.ParseTON(a.v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s %q: %v", p.Name, a.what, a.v, err))
			}
		}
	}
	return errors.Join(errs...)
}
