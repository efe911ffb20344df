package oracle

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// EnvPrefix: every flag of `cocoon oracle run` can also come from COCOON_ORACLE_<FLAG>.
const EnvPrefix = "COCOON_ORACLE"

// Config is the oracle daemon's configuration. The zero values of the fields marked "not a flag"
// are filled in by New from the flags' fields (tests inject them).
type Config struct {
	service.Config

	// Network, RPC, APIKey and LiteserverConfig say how to reach the chain (package chain/dial).
	Network          string
	RPC              string
	APIKey           string
	LiteserverConfig string
	// Registry is the registry's address.
	Registry string
	// KeyFile is the wallet's mnemonic file (keys.WalletSource: "" is $COCOON_WALLET_KEY_FILE or the
	// per-user default; $COCOON_WALLET_MNEMONIC wins when no file is named).
	KeyFile string
	// WalletVersion is v5r1 or v4r2.
	WalletVersion string
	// OracleKeyFile holds the oracle's ed25519 key (a 32-byte seed in hex, `cocoon oracle key new`):
	// the key the registry lists for the oracle (AddOracle), which signs its uptime tables.
	OracleKeyFile string
	// DataDir holds the oracle's Pebble store (its state and the transaction journal).
	DataDir string
	// Listen serves the uptime tables and proofs (/api/v1/…); "" turns the API off.
	Listen string

	// Refresh is how often the registry is read: new providers, allow-list, parameters, own slot,
	// and the wallet's balance.
	Refresh time.Duration
	// AttestInterval is how often each provider's evidence is fetched and verified again.
	AttestInterval time.Duration
	// VoteLifetime bounds a vote's validUntil (it is also bounded by the registry's
	// maxAttestationLifetime); RenewBefore is how long before its own vote runs out the oracle votes
	// again for the same claim.
	VoteLifetime time.Duration
	RenewBefore  time.Duration
	// AllowSim accepts simulated TEEs, and only when the registry is a devnet registry.
	AllowSim bool
	// CollateralBundle is a recorded Intel PCS bundle (attest.CollateralBundle) to verify TDX
	// collateral offline; OnlineCollateral fetches it from Intel with a cache of CollateralTTL.
	CollateralBundle string
	OnlineCollateral bool
	CollateralTTL    time.Duration

	// ProbeInterval is the probe period of a provider that is up; a provider that is down is probed
	// again after ProbeRetryMin, doubling up to ProbeRetryMax, and once a day (ProbeDaily) after it
	// has been down for a day.
	ProbeInterval time.Duration
	ProbeRetryMin time.Duration
	ProbeRetryMax time.Duration
	ProbeDaily    time.Duration
	// Concurrency bounds the probes and evidence checks running at once.
	Concurrency int
	// ProbeTimeout bounds one probe or one evidence check.
	ProbeTimeout time.Duration
	// Tick is how often the scheduler looks for due work.
	Tick time.Duration

	// Epoch is the length of an uptime epoch: epoch n covers unix time [n·Epoch, (n+1)·Epoch).
	Epoch time.Duration
	// KeepEpochs is how many past epochs of probes and tables are kept.
	KeepEpochs int

	// TxPerMinute bounds the oracle's chain writes (votes and roots).
	TxPerMinute int
	// WriteRetries is how often a chain write that failed for a transient reason is tried again.
	WriteRetries int
	// MinBalance (TON) is the wallet balance under which /healthz fails and the metric says low.
	MinBalance string

	// Chain is the chain client (not a flag: nil dials Network/RPC).
	Chain chain.Client
	// ChainClock is the chain's clock (not a flag: nil is the devnet's own clock on a devnet, the
	// wall clock elsewhere): validUntil and renewals are judged by it.
	ChainClock func(ctx context.Context) (time.Time, error)
	// Wallet is the oracle's wallet (not a flag: nil reads KeyFile).
	Wallet *wallet.Wallet
	// Clock schedules probes, checks and epochs (not a flag: nil is clock.System).
	Clock clock.Clock
	// HTTPTransport is the base of the probes' transport (not a flag: nil builds one per probe);
	// its TLS configuration is always replaced by the RA-TLS verifier's.
	HTTPTransport *http.Transport
	// PollInterval is how often the transaction manager reads the chain while waiting (not a flag:
	// 0 is dial.PollInterval(Network)).
	PollInterval time.Duration
}

// DefaultConfig is what `cocoon oracle run` starts with.
func DefaultConfig() Config {
	return Config{
		Config:         service.DefaultConfig(),
		Network:        "devnet",
		WalletVersion:  "v5r1",
		DataDir:        "oracle-data",
		Listen:         "127.0.0.1:8091",
		Refresh:        time.Minute,
		AttestInterval: 10 * time.Minute,
		VoteLifetime:   6 * time.Hour,
		RenewBefore:    time.Hour,
		CollateralTTL:  6 * time.Hour,
		ProbeInterval:  15 * time.Minute,
		ProbeRetryMin:  time.Minute,
		ProbeRetryMax:  time.Hour,
		ProbeDaily:     24 * time.Hour,
		Concurrency:    10,
		ProbeTimeout:   15 * time.Second,
		Tick:           time.Second,
		Epoch:          time.Hour,
		KeepEpochs:     24 * 7,
		TxPerMinute:    30,
		WriteRetries:   5,
		MinBalance:     "1",
	}
}

// AddFlags registers the oracle's flags with c's values as defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.StringVar(&c.Network, "network", c.Network, "devnet, testnet or mainnet")
	fs.StringVar(&c.RPC, "rpc", c.RPC, "toncenter v2 URL (default per network)")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "toncenter API key")
	fs.StringVar(&c.LiteserverConfig, "liteserver-config", c.LiteserverConfig, "use liteservers from this global config (path, URL, testnet or mainnet) instead of toncenter")
	fs.StringVar(&c.Registry, "registry", c.Registry, "registry address")
	fs.StringVar(&c.KeyFile, "key-file", c.KeyFile, "the oracle wallet's mnemonic file (default $COCOON_WALLET_KEY_FILE or ~/.config/cocoon/wallet.key)")
	fs.StringVar(&c.WalletVersion, "wallet-version", c.WalletVersion, "wallet contract version: v5r1 or v4r2")
	fs.StringVar(&c.OracleKeyFile, "oracle-key-file", c.OracleKeyFile, "the oracle's ed25519 key file ('cocoon oracle key new'); its public key is the one given to 'cocoon registry add-oracle --pubkey'")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "directory of the oracle's store (state and transaction journal)")
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port serving the uptime tables and proofs (empty: off)")
	fs.DurationVar(&c.Refresh, "refresh", c.Refresh, "how often the registry (providers, allow-list, parameters) and the wallet balance are read")
	fs.DurationVar(&c.AttestInterval, "attest-interval", c.AttestInterval, "how often each provider's fresh evidence is verified again")
	fs.DurationVar(&c.VoteLifetime, "vote-lifetime", c.VoteLifetime, "longest validity of a vote (the registry's maxAttestationLifetime bounds it too)")
	fs.DurationVar(&c.RenewBefore, "renew-before", c.RenewBefore, "vote again for the same claim this long before the oracle's own vote runs out")
	fs.BoolVar(&c.AllowSim, "allow-sim", c.AllowSim, "accept SIMULATED TEEs (only when the registry is a devnet registry)")
	fs.StringVar(&c.CollateralBundle, "collateral-bundle", c.CollateralBundle, "recorded Intel PCS collateral (JSON) to verify TDX quotes offline")
	fs.BoolVar(&c.OnlineCollateral, "online-collateral", c.OnlineCollateral, "fetch TDX collateral from Intel PCS (cached)")
	fs.DurationVar(&c.CollateralTTL, "collateral-ttl", c.CollateralTTL, "how long fetched collateral is cached")
	fs.DurationVar(&c.ProbeInterval, "probe-interval", c.ProbeInterval, "probe period of a provider that is up")
	fs.DurationVar(&c.ProbeRetryMin, "probe-retry-min", c.ProbeRetryMin, "first retry after a failed probe (doubles each time)")
	fs.DurationVar(&c.ProbeRetryMax, "probe-retry-max", c.ProbeRetryMax, "longest retry while a provider is down")
	fs.DurationVar(&c.ProbeDaily, "probe-daily", c.ProbeDaily, "after a provider has been down this long, probe it once per this period")
	fs.IntVar(&c.Concurrency, "concurrency", c.Concurrency, "probes and evidence checks at once")
	fs.DurationVar(&c.ProbeTimeout, "probe-timeout", c.ProbeTimeout, "time limit of one probe or evidence check")
	fs.DurationVar(&c.Tick, "tick", c.Tick, "how often the scheduler looks for due work")
	fs.DurationVar(&c.Epoch, "epoch", c.Epoch, "uptime epoch length (whole seconds): one table and one on-chain root per epoch")
	fs.IntVar(&c.KeepEpochs, "keep-epochs", c.KeepEpochs, "past epochs of probes and tables kept")
	fs.IntVar(&c.TxPerMinute, "tx-per-minute", c.TxPerMinute, "most chain writes (votes and roots) a minute")
	fs.IntVar(&c.WriteRetries, "write-retries", c.WriteRetries, "retries of a chain write that failed for a transient reason")
	fs.StringVar(&c.MinBalance, "min-balance", c.MinBalance, "wallet balance (TON) below which /healthz fails")
}

// Check reports every problem at once, each naming its field and flag.
func (c Config) Check() error {
	errs := []error{c.Config.Check(), service.CheckListen("API listen address", "listen", c.Listen, true)}
	if c.Chain == nil {
		if err := (dial.Config{Network: c.Network, RPC: c.RPC, APIKey: c.APIKey, LiteserverConfig: c.LiteserverConfig}).Check(); err != nil {
			errs = append(errs, service.Invalid("network", "network", "cannot work: %v", err))
		}
	}
	if c.Registry == "" {
		errs = append(errs, service.Invalid("registry address", "registry", "is required"))
	} else if _, err := address.ParseAddr(c.Registry); err != nil {
		if _, err2 := address.ParseRawAddr(c.Registry); err2 != nil {
			errs = append(errs, service.Invalid("registry address", "registry", "is not an address: %v", err))
		}
	}
	if c.Wallet == nil {
		if _, err := wallet.ParseVersion(c.WalletVersion); err != nil {
			errs = append(errs, service.Invalid("wallet version", "wallet-version", "%v", err))
		}
	}
	if c.OracleKeyFile == "" {
		errs = append(errs, service.Invalid("oracle key file", "oracle-key-file", "is required (create one with 'cocoon oracle key new --out FILE')"))
	}
	if c.DataDir == "" {
		errs = append(errs, service.Invalid("data directory", "data", "is required"))
	}
	positive := []struct {
		name, flag string
		d          time.Duration
	}{
		{"registry refresh period", "refresh", c.Refresh},
		{"attestation interval", "attest-interval", c.AttestInterval},
		{"vote lifetime", "vote-lifetime", c.VoteLifetime},
		{"probe interval", "probe-interval", c.ProbeInterval},
		{"first probe retry", "probe-retry-min", c.ProbeRetryMin},
		{"longest probe retry", "probe-retry-max", c.ProbeRetryMax},
		{"daily probe period", "probe-daily", c.ProbeDaily},
		{"probe timeout", "probe-timeout", c.ProbeTimeout},
		{"scheduler tick", "tick", c.Tick},
	}
	for _, p := range positive {
		if p.d <= 0 {
			errs = append(errs, service.Invalid(p.name, p.flag, "must be positive, got %v", p.d))
		}
	}
	if c.RenewBefore < 0 || (c.VoteLifetime > 0 && c.RenewBefore >= c.VoteLifetime) {
		errs = append(errs, service.Invalid("renewal margin", "renew-before", "must be at least 0 and below the vote lifetime (%v), got %v", c.VoteLifetime, c.RenewBefore))
	}
	if c.ProbeRetryMin > c.ProbeRetryMax {
		errs = append(errs, service.Invalid("first probe retry", "probe-retry-min", "must not exceed the longest retry (%v), got %v", c.ProbeRetryMax, c.ProbeRetryMin))
	}
	if c.Epoch < time.Second || c.Epoch%time.Second != 0 {
		errs = append(errs, service.Invalid("epoch length", "epoch", "must be whole seconds, at least 1s, got %v", c.Epoch))
	}
	if c.KeepEpochs < 1 {
		errs = append(errs, service.Invalid("epochs kept", "keep-epochs", "must be at least 1, got %d", c.KeepEpochs))
	}
	if c.Concurrency < 1 {
		errs = append(errs, service.Invalid("concurrency", "concurrency", "must be at least 1, got %d", c.Concurrency))
	}
	if c.TxPerMinute < 1 {
		errs = append(errs, service.Invalid("chain writes a minute", "tx-per-minute", "must be at least 1, got %d", c.TxPerMinute))
	}
	if c.WriteRetries < 0 {
		errs = append(errs, service.Invalid("write retries", "write-retries", "must not be negative, got %d", c.WriteRetries))
	}
	if _, err := wallet.ParseTON(c.MinBalance); err != nil {
		errs = append(errs, service.Invalid("minimum balance", "min-balance", "is not a TON amount: %v", err))
	}
	if c.CollateralBundle != "" && c.OnlineCollateral {
		errs = append(errs, service.Invalid("collateral", "online-collateral", "give either a collateral bundle or online collateral, not both"))
	}
	return errors.Join(errs...)
}

// registryAddress parses Registry (user-friendly or raw).
func (c Config) registryAddress() (*address.Address, error) {
	if a, err := address.ParseAddr(c.Registry); err == nil {
		return a, nil
	}
	a, err := address.ParseRawAddr(c.Registry)
	if err != nil {
		return nil, fmt.Errorf("registry address %q: %w", c.Registry, err)
	}
	return a, nil
}
