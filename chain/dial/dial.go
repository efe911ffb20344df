// Package dial connects to a TON network the way every Cocoon program does: a toncenter v2 HTTP
// API (the devnet serves one too) or the public liteservers of a global config, chosen by a
// network name (devnet, testnet, mainnet) with its defaults. It also gives the clock to sign
// messages against (the devnet's own clock, which tests move ahead) and how often to poll.
package dial

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/liteserver"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Network is a TON network a program can connect to.
type Network struct {
	Name string
	// GlobalID is the network id V5R1 wallets sign.
	GlobalID int32
	// RPC is the default toncenter v2 URL.
	RPC string
	// Testnet: user-friendly addresses carry the testnet-only flag.
	Testnet bool
}

// Networks are the networks by name.
var Networks = map[string]Network{
	"devnet":  {Name: "devnet", GlobalID: wallet.MainnetGlobalID, RPC: "http://127.0.0.1:8081"},
	"testnet": {Name: "testnet", GlobalID: wallet.TestnetGlobalID, RPC: "https://testnet.toncenter.com", Testnet: true},
	"mainnet": {Name: "mainnet", GlobalID: wallet.MainnetGlobalID, RPC: "https://toncenter.com"},
}

// Public liteserver configs, for LiteserverConfig "testnet" and "mainnet".
var liteserverConfigs = map[string]string{
	"testnet": "https://ton.org/testnet-global.config.json",
	"mainnet": "https://ton.org/global.config.json",
}

// ErrConfig is a connection configuration that cannot work.
var ErrConfig = errors.New("bad network configuration")

// ConfigError is a connection configuration that cannot work, e.g. a malformed URL; it matches
// ErrConfig and its Error is the underlying problem's.
type ConfigError struct{ Err error }

func (e *ConfigError) Error() string        { return e.Err.Error() }
func (e *ConfigError) Unwrap() error        { return e.Err }
func (e *ConfigError) Is(target error) bool { return target == ErrConfig }

// Config says how to connect.
type Config struct {
	// Network is devnet, testnet or mainnet ("" is devnet).
	Network string
	// RPC is the toncenter v2 URL ("": the network's default).
	RPC string
	// APIKey is sent to toncenter; without one toncenter allows one request a second, and the
	// client keeps to that on testnet and mainnet.
	APIKey string
	// LiteserverConfig connects to liteservers instead of toncenter: a global config's path or
	// URL, or "testnet" / "mainnet" for the public ones.
	LiteserverConfig string
}

// Net is the configured network ("" is devnet); false when the name is unknown.
func (c Config) Net() (Network, bool) {
	name := c.Network
	if name == "" {
		name = "devnet"
	}
	n, ok := Networks[name]
	return n, ok
}

// Check reports what cannot work, in plain words.
func (c Config) Check() error {
	n, ok := c.Net()
	switch {
	case !ok:
		return &ConfigError{fmt.Errorf("unknown network %q (want devnet, testnet or mainnet)", c.Network)}
	case c.RPC != "" && c.LiteserverConfig != "":
		return &ConfigError{errors.New("give either a toncenter URL or a liteserver config, not both")}
	case n.Name == "devnet" && c.LiteserverConfig != "":
		return &ConfigError{errors.New("the devnet has no liteservers; use its toncenter URL")}
	}
	return nil
}

// Dial opens the chain client the configuration selects. The returned function releases it.
func Dial(ctx context.Context, c Config) (chain.Client, func(), error) {
	if err := c.Check(); err != nil {
		return nil, nil, err
	}
	n, _ := c.Net()
	if c.LiteserverConfig != "" {
		cfg := c.LiteserverConfig
		if public, ok := liteserverConfigs[cfg]; ok {
			cfg = public
		}
		lc, err := liteserver.Dial(ctx, liteserver.Config{GlobalConfig: cfg})
		if err != nil {
			return nil, nil, err
		}
		return lc, lc.Close, nil
	}
	url := c.RPC
	if url == "" {
		url = n.RPC
	}
	cfg := toncenter.Config{URL: url, APIKey: c.APIKey}
	if n.Name != "devnet" && c.APIKey == "" {
		cfg.RequestsPerSecond = 1 // toncenter's limit without an API key
	}
	tc, err := toncenter.New(cfg)
	if err != nil {
		return nil, nil, &ConfigError{err}
	}
	return tc, func() {}, nil
}

// Clock returns the clock to sign valid_until against and judge deadlines by: on the devnet, the
// devnet's own clock when the client serves it (it can run ahead of the wall clock; read once,
// then followed with the wall clock), the wall clock otherwise.
func Clock(ctx context.Context, network string, c chain.Client) func() time.Time {
	type clocked interface {
		DevnetTime(ctx context.Context) (time.Time, error)
	}
	if cc, ok := c.(clocked); ok && (network == "devnet" || network == "") {
		if now, err := cc.DevnetTime(ctx); err == nil {
			offset := time.Until(now)
			return func() time.Time { return time.Now().Add(offset) }
		}
	}
	return time.Now
}

// PollInterval is how often to read the chain while waiting: often on a local devnet, once a
// second (toncenter's rate without a key) elsewhere.
func PollInterval(network string) time.Duration {
	if network == "devnet" || network == "" {
		return 20 * time.Millisecond
	}
	return time.Second
}

// Friendly renders an address the way wallets show it on network n.
func (n Network) Friendly(a *address.Address, bounceable bool) string {
	return chain.Friendly(a, bounceable, n.Testnet)
}
