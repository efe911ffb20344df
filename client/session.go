package client

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/client/verify"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/service"
)

// Settings are what every client program is configured with: the gateway daemon and the
// `cocoon client` verbs share them (flags, and COCOON_CLIENT_* variables).
type Settings struct {
	// Network is devnet, testnet or mainnet; RPC, APIKey and LiteserverConfig say how to reach it.
	Network, RPC, APIKey, LiteserverConfig string
	// Registry is the registry's address.
	Registry string
	// Indexer discovers providers from an indexer's API instead of the chain ("": the chain).
	Indexer string
	// Oracles are oracle API URLs, comma-separated, whose uptime tables (checked against the roots
	// committed on-chain) rank providers the client has not measured yet.
	Oracles string
	// WalletKeyFile pays for channels (keys.WalletSource: $COCOON_WALLET_MNEMONIC, the file,
	// ~/.config/cocoon/wallet.key); WalletVersion is v5r1 or v4r2.
	WalletKeyFile string
	WalletVersion string
	// ChannelKeyFile signs vouchers and requests ("": DataDir/channel.key, created when missing).
	ChannelKeyFile string
	// DataDir holds the store: vouchers, channels, request records, the transaction journal.
	DataDir string
	// Amounts in TON: the deposit a channel opens with, what a top-up adds, the low-water mark,
	// the budgets per channel and in total ("" or "0": no budget).
	Deposit, TopUp, LowWater, ChannelBudget, TotalBudget string
	// MaxTokens bounds a request's completion for its cap when it gives no limit.
	MaxTokens int
	// TDXCollateral is "online" (Intel PCS, cached) or "none" (TCB status unchecked, reported so).
	TDXCollateral string
	// Refresh is how often providers are discovered and verified again.
	Refresh time.Duration
	// BusyWait is how long a request waits while every provider answers 429 (negative: no wait).
	BusyWait time.Duration

	// Chain, when set, is used instead of dialing (tests, the devnet in-process).
	Chain chain.Client `json:"-"`
}

// DefaultSettings are the defaults of the flags.
func DefaultSettings() Settings {
	dir := "cocoon-client"
	if cfg, err := os.UserConfigDir(); err == nil {
		dir = filepath.Join(cfg, "cocoon", "client")
	}
	return Settings{Network: envOr("COCOON_NETWORK", "devnet"), RPC: os.Getenv("COCOON_RPC"), APIKey: os.Getenv("COCOON_API_KEY"),
		Registry: os.Getenv("COCOON_REGISTRY"), WalletVersion: "v5r1", DataDir: dir, Deposit: "1", MaxTokens: DefaultMaxTokens,
		TDXCollateral: "online", Refresh: time.Minute, BusyWait: 30 * time.Second}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// AddFlags registers the settings' flags.
func (s *Settings) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&s.Network, "network", s.Network, "devnet, testnet or mainnet (default $COCOON_NETWORK or devnet)")
	fs.StringVar(&s.RPC, "rpc", s.RPC, "toncenter v2 URL (default $COCOON_RPC, else the network's)")
	fs.StringVar(&s.APIKey, "api-key", s.APIKey, "toncenter API key (default $COCOON_API_KEY)")
	fs.StringVar(&s.LiteserverConfig, "liteserver-config", s.LiteserverConfig, "use liteservers from this global config file or URL (or testnet/mainnet)")
	fs.StringVar(&s.Registry, "registry", s.Registry, "the registry's address (default $COCOON_REGISTRY)")
	fs.StringVar(&s.Indexer, "indexer", s.Indexer, "discover providers from this indexer URL instead of the chain")
	fs.StringVar(&s.Oracles, "oracles", s.Oracles, "oracle API URLs (comma-separated) whose committed uptime tables rank providers")
	fs.StringVar(&s.WalletKeyFile, "key-file", s.WalletKeyFile, "wallet mnemonic file paying for channels (default $COCOON_WALLET_KEY_FILE or ~/.config/cocoon/wallet.key; $COCOON_WALLET_MNEMONIC)")
	fs.StringVar(&s.WalletVersion, "wallet-version", s.WalletVersion, "wallet contract version: v5r1 or v4r2")
	fs.StringVar(&s.ChannelKeyFile, "channel-key-file", s.ChannelKeyFile, "channel key file (default $COCOON_CHANNEL_KEY_FILE, else DATA-DIR/channel.key, created when missing)")
	fs.StringVar(&s.DataDir, "data-dir", s.DataDir, "the client's store: vouchers, channels, request records, transaction journal")
	fs.StringVar(&s.Deposit, "deposit", s.Deposit, "TON a channel opens with")
	fs.StringVar(&s.TopUp, "top-up", s.TopUp, "TON a top-up adds (default: the deposit)")
	fs.StringVar(&s.LowWater, "low-water", s.LowWater, "top a channel up when its deposit can pay less than this many TON (default: a quarter of the deposit)")
	fs.StringVar(&s.ChannelBudget, "budget-channel", s.ChannelBudget, "most TON to owe on one channel (default: no bound)")
	fs.StringVar(&s.TotalBudget, "budget-total", s.TotalBudget, "most TON to owe on all channels together (default: no bound)")
	fs.IntVar(&s.MaxTokens, "cap-tokens", s.MaxTokens, "completion tokens assumed for a request's cap and budget when it sets no max_tokens")
	fs.StringVar(&s.TDXCollateral, "tdx-collateral", s.TDXCollateral, "TDX TCB check: online (Intel PCS) or none (reported as unchecked)")
	fs.DurationVar(&s.Refresh, "refresh", s.Refresh, "how often providers are discovered and verified again")
	fs.DurationVar(&s.BusyWait, "busy-wait", s.BusyWait, "how long a request waits, retrying, while every provider answers 429 (busy) before it gets the 429 (0s: no wait)")
}

// busyWait maps the flag (0: no wait) to Config.BusyWait (0: the default; negative: no wait).
func busyWait(d time.Duration) time.Duration {
	if d <= 0 {
		return -1
	}
	return d
}

// amounts are the parsed TON amounts (nil where unset).
type amounts struct {
	deposit, topUp, lowWater, channelBudget, totalBudget *big.Int
}

func (s Settings) amounts() (amounts, []error) {
	var a amounts
	var errs []error
	parse := func(field, flagName, v string, dst **big.Int, required bool) {
		if v == "" || v == "0" {
			if required {
				errs = append(errs, service.Invalid(field, flagName, "is required (TON)"))
			}
			return
		}
		n, err := wallet.ParseTON(v)
		switch {
		case err != nil:
			errs = append(errs, service.Invalid(field, flagName, "is not an amount of TON: %v", err))
		case n.Sign() <= 0:
			errs = append(errs, service.Invalid(field, flagName, "must be above 0 TON"))
		default:
			*dst = n
		}
	}
	parse("channel deposit", "deposit", s.Deposit, &a.deposit, true)
	parse("top-up amount", "top-up", s.TopUp, &a.topUp, false)
	parse("low-water mark", "low-water", s.LowWater, &a.lowWater, false)
	parse("channel budget", "budget-channel", s.ChannelBudget, &a.channelBudget, false)
	parse("total budget", "budget-total", s.TotalBudget, &a.totalBudget, false)
	return a, errs
}

// Check reports every problem, each naming its flag.
func (s Settings) Check() error {
	_, errs := s.amounts()
	if s.Chain == nil {
		if err := (dial.Config{Network: s.Network, RPC: s.RPC, APIKey: s.APIKey, LiteserverConfig: s.LiteserverConfig}).Check(); err != nil {
			errs = append(errs, service.Invalid("network", "network", "%v", err))
		}
	}
	if s.Registry == "" {
		errs = append(errs, service.Invalid("registry address", "registry", "is required (or $COCOON_REGISTRY)"))
	} else if _, err := chain.ParseAddress(s.Registry); err != nil {
		errs = append(errs, service.Invalid("registry address", "registry", "%v", err))
	}
	if _, err := wallet.ParseVersion(s.WalletVersion); err != nil {
		errs = append(errs, service.Invalid("wallet version", "wallet-version", "%v", err))
	}
	if s.DataDir == "" {
		errs = append(errs, service.Invalid("data directory", "data-dir", "is required"))
	}
	if s.MaxTokens <= 0 {
		errs = append(errs, service.Invalid("assumed completion tokens", "cap-tokens", "must be positive, got %d", s.MaxTokens))
	}
	if s.TDXCollateral != "online" && s.TDXCollateral != "none" {
		errs = append(errs, service.Invalid("TDX collateral", "tdx-collateral", "must be online or none, got %q", s.TDXCollateral))
	}
	if s.Refresh <= 0 {
		errs = append(errs, service.Invalid("refresh period", "refresh", "must be positive, got %v", s.Refresh))
	}
	return errors.Join(errs...)
}

// Session is an open client: chain, store, wallet, payer and SDK client.
type Session struct {
	Settings Settings
	Client   *Client
	// Payer is nil without a wallet (discovery and verification only).
	Payer *pay.Payer
	Store *pay.Store
	Ops   *ops.Ops
	// WalletErr says why there is no wallet (nil when there is one).
	WalletErr error
	// Net is the network.
	Net dial.Network

	release func()
}

// OpenSession connects and opens the store. Without a wallet (none configured or unreadable) the
// session discovers and verifies but does not pay; WalletErr says why. progress, when set,
// receives a line at every step of a chain operation.
func OpenSession(ctx context.Context, s Settings, log *slog.Logger, progress func(string)) (*Session, error) {
	if err := s.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	amt, _ := s.amounts()
	net, _ := dial.Config{Network: s.Network}.Net()
	sess := &Session{Settings: s, Net: net, release: func() {}}
	c := s.Chain
	if c == nil {
		var err error
		var release func()
		c, release, err = dial.Dial(ctx, dial.Config{Network: s.Network, RPC: s.RPC, APIKey: s.APIKey, LiteserverConfig: s.LiteserverConfig})
		if err != nil {
			return nil, err
		}
		sess.release = release
	}
	reg, _ := chain.ParseAddress(s.Registry)
	now := dial.Clock(ctx, s.Network, c)
	clock := func(context.Context) (time.Time, error) { return now(), nil }
	if dc, ok := c.(txmgr.DevnetClocked); ok && net.Name == "devnet" {
		clock = txmgr.DevnetClock(dc)
	}
	sess.Ops = &ops.Ops{Chain: c, Registry: reg, Clock: clock, Testnet: net.Testnet}
	if err := os.MkdirAll(s.DataDir, 0o700); err != nil {
		sess.Close()
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	store, err := pay.OpenStore(filepath.Join(s.DataDir, "store"))
	if err != nil {
		sess.Close()
		return nil, err
	}
	sess.Store = store
	key, err := channelKey(s)
	if err != nil {
		sess.Close()
		return nil, err
	}
	version, _ := wallet.ParseVersion(s.WalletVersion)
	w, werr := keys.WalletSource{KeyFile: s.WalletKeyFile, KeyFileSet: s.WalletKeyFile != "", Version: version, GlobalID: net.GlobalID}.Wallet()
	if werr != nil {
		sess.WalletErr = werr
	} else {
		mgr, err := txmgr.New(txmgr.Config{Chain: c, Signer: w, Journal: txmgr.NewJournalDB(store.DB()).For(w.Address()),
			PollInterval: dial.PollInterval(s.Network), Clock: clock, Log: log})
		if err != nil {
			sess.Close()
			return nil, err
		}
		sess.Ops.Sender = mgr
	}
	sess.Payer, err = pay.New(pay.Config{Ops: sess.Ops, Store: store, Key: key, Deposit: amt.deposit, TopUp: amt.topUp, LowWater: amt.lowWater,
		ChannelBudget: amt.channelBudget, TotalBudget: amt.totalBudget, Progress: progress})
	if err != nil {
		sess.Close()
		return nil, err
	}
	vcfg := verify.Config{Chain: c}
	if s.TDXCollateral == "online" {
		vcfg.TDXCollateral = attest.OnlineCollateral(time.Hour)
	}
	v, err := verify.New(vcfg)
	if err != nil {
		sess.Close()
		return nil, err
	}
	var source discover.Source = &discover.Chain{Client: c, Registry: reg, Clock: clock}
	if s.Indexer != "" {
		source = &discover.Indexer{URL: s.Indexer, Chain: c, Registry: reg, Clock: clock}
	}
	sess.Client, err = New(Config{Chain: c, Registry: reg, Source: source, Verifier: v, Payer: sess.Payer, Clock: clock, MaxTokens: s.MaxTokens,
		RefreshInterval: s.Refresh, Log: log, Oracles: splitList(s.Oracles), BusyWait: busyWait(s.BusyWait)})
	if err != nil {
		sess.Close()
		return nil, err
	}
	return sess, nil
}

// channelKey reads the channel key: the file named, $COCOON_CHANNEL_KEY_FILE, or DataDir/channel.key
// (created on first use).
func channelKey(s Settings) (ed25519.PrivateKey, error) {
	path := s.ChannelKeyFile
	if path == "" {
		path = os.Getenv(keys.EnvChannelKeyFile)
	}
	if path != "" {
		return keys.ReadChannelKey(path)
	}
	path = filepath.Join(s.DataDir, "channel.key")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return keys.NewChannelKey(path)
	}
	return keys.ReadChannelKey(path)
}

// Registry is the session's registry address.
func (s *Session) Registry() *address.Address { return s.Ops.Registry }

// Close releases the store and the chain.
func (s *Session) Close() error {
	var err error
	if s.Payer != nil {
		s.Payer.Wait()
	}
	if s.Store != nil {
		err = s.Store.Close()
	}
	s.release()
	return err
}

// splitList splits a comma-separated list, dropping empty items.
func splitList(s string) []string {
	var out []string
	for _, x := range strings.Split(s, ",") {
		if x = strings.TrimSpace(x); x != "" {
			out = append(out, x)
		}
	}
	return out
}
