package provider

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/models"
)

// ConfigFileName and WalletFileName are what Init writes in its directory.
const (
	ConfigFileName = "provider.json"
	WalletFileName = "wallet.key"
)

// InitInput is what `cocoon provider init` asks for: where, which network and registry, whose
// provider, how to serve and what to charge. Zero values take DefaultConfig's.
type InitInput struct {
	// Dir receives provider.json, the settlement wallet's key (unless WalletKeyFile names one) and
	// the data directory.
	Dir      string
	Network  string
	RPC      string
	Registry string
	Owner    string
	// WalletKeyFile is an existing mnemonic file to settle with (the owner's, say); "" creates a
	// new wallet in Dir.
	WalletKeyFile string
	Listen        string
	MetricsListen string
	TEE           string
	Backend       BackendConfig
	Model         ModelConfig
	ThresholdTON  string
}

// InitResult is what Init wrote.
type InitResult struct {
	ConfigPath    string
	WalletKeyFile string
	// NewWallet: the settlement wallet was created (fund it for claim fees).
	NewWallet bool
	Wallet    *address.Address
	Testnet   bool
	Config    Config
}

// Init writes a provider's config file and, unless one is given, a new settlement wallet. It
// checks the configuration first and never overwrites a file.
func Init(in InitInput) (*InitResult, error) {
	if in.Dir == "" {
		return nil, errors.New("init needs a directory")
	}
	cfg := DefaultConfig()
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&cfg.Network, in.Network)
	cfg.RPC, cfg.Registry, cfg.Owner = in.RPC, in.Registry, in.Owner
	set(&cfg.Listen, in.Listen)
	cfg.MetricsListen = in.MetricsListen
	set(&cfg.TEE, in.TEE)
	set(&cfg.Settlement.ThresholdTON, in.ThresholdTON)
	if in.Backend.Kind != "" {
		cfg.Backend = in.Backend
	}
	m := in.Model
	if m.Name == "" && cfg.Backend.Kind == "embedded" && (cfg.Backend.Model == "" || cfg.Backend.Model == "default") {
		m.Name = models.DefaultModelName
	}
	cfg.Models = []ModelConfig{m}
	cfg.DataDir = "data"
	cfg.WalletKeyFile = WalletFileName
	res := &InitResult{ConfigPath: filepath.Join(in.Dir, ConfigFileName)}
	if in.WalletKeyFile != "" {
		abs, err := filepath.Abs(in.WalletKeyFile)
		if err != nil {
			return nil, err
		}
		cfg.WalletKeyFile = abs
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(res.ConfigPath); err == nil {
		return nil, fmt.Errorf("%s exists: init never overwrites a configuration", res.ConfigPath)
	}
	if err := os.MkdirAll(in.Dir, 0o700); err != nil {
		return nil, err
	}
	net, _ := dial.Config{Network: cfg.Network}.Net()
	res.Testnet = net.Testnet
	cfg.ConfigDir = in.Dir
	res.WalletKeyFile = cfg.Path(cfg.WalletKeyFile)
	var words []string
	if in.WalletKeyFile == "" {
		words = wallet.NewMnemonic()
		if err := keys.WriteMnemonic(res.WalletKeyFile, words); err != nil {
			return nil, err
		}
		res.NewWallet = true
	} else {
		var err error
		if words, err = keys.ReadMnemonic(res.WalletKeyFile); err != nil {
			return nil, err
		}
	}
	w, err := wallet.FromMnemonic(words, wallet.V5R1, net.GlobalID)
	if err != nil {
		return nil, err
	}
	res.Wallet = w.Address()
	cfg.ConfigDir = ""
	if err := WriteConfig(res.ConfigPath, cfg); err != nil {
		return nil, err
	}
	res.Config = cfg
	return res, nil
}
