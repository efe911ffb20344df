package provider

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// EnvPrefix: every flag of `cocoon-provider run` can also come from COCOON_PROVIDER_<FLAG>.
const EnvPrefix = "COCOON_PROVIDER"

// Defaults.
const (
	// DefaultClaimThresholdTON is the unclaimed amount above which a channel's voucher is claimed.
	// A claim cascade costs its relayer 0.0171 TON in fees on a channel's first claim and 0.0144
	// TON on later ones (measured on the devnet with the default config, TestClaimFees;
	// docs/DECISIONS.md), so claiming at 35 TON keeps fees at most 0.049% of what is settled.
	DefaultClaimThresholdTON = "35"
	// DefaultSettleInterval is how often the settlement looks at every channel (closing, top-ups,
	// thresholds, age).
	DefaultSettleInterval = 30 * time.Second
	// DefaultClaimMaxAge claims a voucher left unclaimed this long whatever its amount.
	DefaultClaimMaxAge = 7 * 24 * time.Hour
	// DefaultMaxConcurrent bounds the requests one model serves at once.
	DefaultMaxConcurrent = 64
	// DefaultChannelRate and DefaultChannelBurst bound one channel's paid requests (token bucket).
	DefaultChannelRate  = 20.0
	DefaultChannelBurst = 40
	// DefaultReceiptRetention is how long signed receipts are kept in the store.
	DefaultReceiptRetention = 30 * 24 * time.Hour
	// DefaultBusyPoll is how long an idle daemon's socket read polls before it parks; MaxBusyPoll
	// bounds the setting (a longer poll only burns CPU: the wake-up it spares costs tens of µs).
	DefaultBusyPoll = 200 * time.Microsecond
	MaxBusyPoll     = 10 * time.Millisecond
)

// Duration is a time.Duration written as "30s" in the config file.
type Duration time.Duration

func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON fails with a *json.UnmarshalTypeError, which the decoder completes with the field's
// path: LoadConfig's error then names the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: string(b), Type: durationType}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: strconv.Quote(s), Type: durationType}
	}
	*d = Duration(v)
	return nil
}

var durationType = reflect.TypeFor[Duration]()

// Config is the provider daemon's configuration: the config file (JSON, docs/PROTOCOL.md
// "Provider daemon") with the service flags on top.
type Config struct {
	service.Config `json:"-"`

	// Network is devnet, testnet or mainnet; RPC its toncenter v2 URL ("" the network's default);
	// APIKeyEnv names the environment variable holding a toncenter API key.
	Network   string `json:"network"`
	RPC       string `json:"rpc,omitempty"`
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// Registry is the registry's address; Owner the provider owner's (the wallet that registered
	// and staked: its Provider contract is this provider).
	Registry string `json:"registry"`
	Owner    string `json:"owner"`
	// WalletKeyFile is the settlement wallet's mnemonic file: it pays the claims' fees (the owner's
	// wallet or a small hot wallet of its own; the claimed money always goes to the owner).
	WalletKeyFile string `json:"wallet_key_file"`
	// DataDir holds the store (vouchers, owed, receipts, claims, the transaction journal).
	DataDir string `json:"data_dir"`
	// Listen is the RA-TLS API's host:port.
	Listen string `json:"listen"`
	// TEE is auto (TDX or SEV-SNP, detected), tdx, snp, or sim (SIMULATED: only on a devnet
	// registry).
	TEE string `json:"tee"`
	// SimImage is the simulated TEE's image, 48 bytes in hex ("": attest.DevnetSimImage, the one
	// every devnet allows by default). Its allow-list value is
	// `cocoon attest measure --kind sim --reg image=HEX`: two images are two measurements, which
	// governance allows and revokes separately.
	SimImage string `json:"sim_image,omitempty"`
	// GPU adds NVIDIA confidential-computing GPU evidence (a build with -tags nvml).
	GPU bool `json:"gpu,omitempty"`
	// CertValidity of each RA-TLS certificate (0: 1 h).
	CertValidity Duration `json:"cert_validity,omitempty"`
	// BusyPoll is how long a read of the API's sockets (a keep-alive client's next request) and of
	// the upstream's (an answer's head) polls before it parks, while the daemon has nothing else in
	// progress: it spares the wake-up of a sleeping vCPU on each hop (docs/DECISIONS.md). At most
	// one read polls at a time; 0 turns it off. Default 200µs.
	BusyPoll Duration `json:"busy_poll"`

	Backend    BackendConfig    `json:"backend"`
	Models     []ModelConfig    `json:"models"`
	Settlement SettlementConfig `json:"settlement"`
	Limits     LimitsConfig     `json:"limits"`

	// Set by tests, never by the file.

	// Chain replaces dialing Network/RPC (the in-process devnet).
	Chain chain.Client `json:"-"`
	// ChainClock is the chain's clock (nil: dial.Clock's); Clock the daemon's (nil: clock.System).
	ChainClock func() time.Time `json:"-"`
	Clock      clock.Clock      `json:"-"`
	// PollInterval of the transaction manager (0: dial.PollInterval(Network)).
	PollInterval time.Duration `json:"-"`
	// ConfigDir is where relative paths in the file are taken from (set by LoadConfig).
	ConfigDir string `json:"-"`
}

// BackendConfig says what runs the models.
type BackendConfig struct {
	// Kind is embedded (the pure-Go engine in this process) or upstream (an OpenAI-compatible
	// server in the VM: vLLM, SGLang, llama.cpp server, Ollama, TGI).
	Kind string `json:"kind"`
	// Model is the embedded engine's GGUF file, or "default" for the embedded demo model.
	Model        string `json:"model,omitempty"`
	Threads      int    `json:"threads,omitempty"`
	ChatTemplate string `json:"chat_template,omitempty"`
	// URL is the upstream's OpenAI API root (http://127.0.0.1:8000/v1); APIKeyEnv names the
	// variable holding its API key.
	URL       string `json:"url,omitempty"`
	APIKeyEnv string `json:"api_key_env,omitempty"`
	// NoContinuousUsage: the upstream refuses stream_options.continuous_usage_stats.
	NoContinuousUsage bool `json:"no_continuous_usage,omitempty"`
}

// ModelConfig is one model served.
type ModelConfig struct {
	// Name is the model's name in the registry's catalog (what clients request).
	Name string `json:"name"`
	// Upstream is the upstream server's name for it (upstream backend; default Name).
	Upstream string `json:"upstream,omitempty"`
	// ContextLength is the model's context window in tokens: the upstream backend needs it to
	// bound a request's maximum cost (the embedded engine reads it from the GGUF).
	ContextLength int `json:"context_length,omitempty"`
	// SHA256 pins embedded weights (default: the registry catalog's hash).
	SHA256 string `json:"sha256,omitempty"`
	// PromptPriceTON and CompletionPriceTON are what the owner means to charge, TON per 1M tokens.
	// The chain's prices (set-price) are the ones billed; at start the daemon says when they differ
	// and prints the command that sets these.
	PromptPriceTON     string `json:"prompt_price_ton"`
	CompletionPriceTON string `json:"completion_price_ton"`
	// MaxConcurrent requests at once (0: DefaultMaxConcurrent); more get 429.
	MaxConcurrent int `json:"max_concurrent,omitempty"`
}

// SettlementConfig says when vouchers are claimed.
type SettlementConfig struct {
	// ThresholdTON: a channel whose unclaimed voucher amount reaches it is claimed.
	ThresholdTON string `json:"threshold_ton"`
	// Interval between looks at every channel with something unclaimed.
	Interval Duration `json:"interval"`
	// MaxAge claims a voucher unclaimed for this long, whatever its amount.
	MaxAge Duration `json:"max_age"`
}

// LimitsConfig bounds what clients can ask.
type LimitsConfig struct {
	// MaxBodyBytes of a request (413 beyond).
	MaxBodyBytes int64 `json:"max_body_bytes"`
	// ChannelRate paid requests a second per channel, with bursts of ChannelBurst (429 beyond).
	ChannelRate  float64 `json:"channel_rate"`
	ChannelBurst int     `json:"channel_burst"`
	// ReceiptRetention: receipts older than this are deleted from the store.
	ReceiptRetention Duration `json:"receipt_retention"`
}

// DefaultConfig is a configuration with every default filled in; the file and flags set the rest.
func DefaultConfig() Config {
	return Config{
		Config:   service.DefaultConfig(),
		Network:  "devnet",
		DataDir:  "data",
		Listen:   ":8443",
		TEE:      "auto",
		BusyPoll: Duration(DefaultBusyPoll),
		Backend:  BackendConfig{Kind: "embedded", Model: "default"},
		Settlement: SettlementConfig{ThresholdTON: DefaultClaimThresholdTON, Interval: Duration(DefaultSettleInterval),
			MaxAge: Duration(DefaultClaimMaxAge)},
		Limits: LimitsConfig{MaxBodyBytes: httpapi.MaxBodyBytes, ChannelRate: DefaultChannelRate, ChannelBurst: DefaultChannelBurst,
			ReceiptRetention: Duration(DefaultReceiptRetention)},
	}
}

// fileConfig is the config file: the daemon's fields and the service's.
type fileConfig struct {
	*Config
	LogLevel      *string   `json:"log_level,omitempty"`
	LogFormat     *string   `json:"log_format,omitempty"`
	MetricsListen *string   `json:"metrics_listen,omitempty"`
	DrainTimeout  *Duration `json:"drain_timeout,omitempty"`
}

// LoadConfig reads a config file over DefaultConfig. Unknown fields and values of the wrong type
// are errors naming the field. Relative paths in it are relative to the file's directory.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("%w: failed to read the config file: %v", service.ErrConfig, err)
	}
	f := fileConfig{Config: &cfg}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		var typeErr *json.UnmarshalTypeError
		wrongType := errors.As(err, &typeErr)
		if wrongType {
			// The decoder names fields of the embedded Config after it.
			typeErr.Field = strings.TrimPrefix(typeErr.Field, "Config.")
		}
		switch {
		case wrongType && typeErr.Type == durationType:
			return cfg, service.Invalid(typeErr.Field, "", "in %s must be a duration such as \"30s\" or \"200µs\", not %s", path, typeErr.Value)
		case wrongType:
			return cfg, service.Invalid(typeErr.Field, "", "in %s has the wrong type: want %s", path, typeErr.Type)
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			return cfg, service.Invalid(strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`), "", "in %s is not a field of the provider's configuration", path)
		}
		return cfg, fmt.Errorf("%w: %s: %v", service.ErrConfig, path, err)
	}
	if f.LogLevel != nil {
		cfg.LogLevel = *f.LogLevel
	}
	if f.LogFormat != nil {
		cfg.LogFormat = *f.LogFormat
	}
	if f.MetricsListen != nil {
		cfg.MetricsListen = *f.MetricsListen
	}
	if f.DrainTimeout != nil {
		cfg.DrainTimeout = time.Duration(*f.DrainTimeout)
	}
	abs, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return cfg, err
	}
	cfg.ConfigDir = abs
	return cfg, nil
}

// WriteConfig writes c as a config file (0600, never over an existing file).
func WriteConfig(path string, c Config) error {
	dt := Duration(c.DrainTimeout)
	f := fileConfig{Config: &c, LogLevel: &c.LogLevel, LogFormat: &c.LogFormat, MetricsListen: &c.MetricsListen, DrainTimeout: &dt}
	data, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return err
	}
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("failed to write the config file: %w", err)
	}
	if _, err := file.Write(append(data, '\n')); err != nil {
		_ = file.Close()
		return err
	}
	return file.Close()
}

// AddFlags registers the service flags and the overrides of `cocoon-provider run`, with c's
// values as defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port of the RA-TLS API")
	fs.StringVar(&c.DataDir, "data-dir", c.DataDir, "directory of the store (vouchers, owed, receipts, claims, transaction journal)")
	fs.StringVar(&c.RPC, "rpc", c.RPC, "toncenter v2 URL of the network")
	fs.StringVar(&c.TEE, "tee", c.TEE, "auto (TDX or SEV-SNP), tdx, snp, or sim (SIMULATED: only under a devnet registry)")
}

// simImage is the simulated TEE's image (SimImage, or the devnet's default).
func (c *Config) simImage() ([48]byte, error) {
	var img [48]byte
	if c.SimImage == "" {
		return attest.DevnetSimImage, nil
	}
	b, err := hex.DecodeString(c.SimImage)
	if err != nil || len(b) != len(img) {
		return img, fmt.Errorf("must be %d bytes in hex (%d hex digits), got %q", len(img), 2*len(img), c.SimImage)
	}
	copy(img[:], b)
	return img, nil
}

// Path resolves a path of the config file (relative to its directory).
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.ConfigDir == "" {
		return p
	}
	return filepath.Join(c.ConfigDir, p)
}

// ClaimThreshold is Settlement.ThresholdTON in nanoTON.
func (c *Config) ClaimThreshold() *big.Int {
	v, err := wallet.ParseTON(c.Settlement.ThresholdTON)
	if err != nil {
		return nil
	}
	return v
}

// Check reports every problem at once, each naming its field (the config file's JSON path, and
// the flag where one sets it).
func (c Config) Check() error {
	errs := []error{c.Config.Check(), service.CheckListen("listen", "listen", c.Listen, false)}
	bad := func(field, flagName, format string, args ...any) {
		errs = append(errs, service.Invalid(field, flagName, format, args...))
	}
	if err := (dial.Config{Network: c.Network, RPC: c.RPC}).Check(); err != nil && c.Chain == nil {
		bad("network", "", "%v", err)
	}
	for _, a := range []struct{ field, v string }{{"registry", c.Registry}, {"owner", c.Owner}} {
		if a.v == "" {
			bad(a.field, "", "is required (an address)")
		} else if _, err := address.ParseAddr(a.v); err != nil {
			if _, err := address.ParseRawAddr(a.v); err != nil {
				bad(a.field, "", "is not a TON address: %q", a.v)
			}
		}
	}
	if c.WalletKeyFile == "" {
		bad("wallet_key_file", "", "is required: the settlement wallet's mnemonic file (cocoon provider init writes one)")
	}
	if c.DataDir == "" {
		bad("data_dir", "data-dir", "is required")
	}
	switch c.TEE {
	case "auto", "tdx", "snp", "sim":
	default:
		bad("tee", "tee", "must be auto, tdx, snp or sim (SIMULATED, devnet only), got %q", c.TEE)
	}
	if c.SimImage != "" {
		if c.TEE != "sim" {
			bad("sim_image", "", "is the simulated TEE's image: set it only with tee sim")
		} else if _, err := c.simImage(); err != nil {
			bad("sim_image", "", "%v", err)
		}
	}
	if c.BusyPoll < 0 || time.Duration(c.BusyPoll) > MaxBusyPoll {
		bad("busy_poll", "", "must be between 0 (off) and %v", MaxBusyPoll)
	}
	if c.CertValidity < 0 {
		bad("cert_validity", "", "must not be negative")
	}
	switch c.Backend.Kind {
	case "embedded":
		if c.Backend.Model == "" {
			bad("backend.model", "", `is required: a GGUF file or "default"`)
		}
		if c.Backend.URL != "" {
			bad("backend.url", "", "is for the upstream backend, not embedded")
		}
		if c.Backend.Threads < 0 {
			bad("backend.threads", "", "must not be negative")
		}
		if t := c.Backend.ChatTemplate; t != "" && !contains(embedded.Families, t) {
			bad("backend.chat_template", "", "must be one of %s, got %q", strings.Join(embedded.Families, ", "), t)
		}
		if len(c.Models) != 1 {
			bad("models", "", "must list exactly one model for the embedded backend, got %d", len(c.Models))
		}
	case "upstream":
		if !strings.HasPrefix(c.Backend.URL, "http://") && !strings.HasPrefix(c.Backend.URL, "https://") {
			bad("backend.url", "", "must be the upstream's http(s) API root, got %q", c.Backend.URL)
		}
		if len(c.Models) == 0 {
			bad("models", "", "must list at least one model")
		}
	default:
		bad("backend.kind", "", "must be embedded or upstream, got %q", c.Backend.Kind)
	}
	seen := map[string]bool{}
	for i, m := range c.Models {
		field := func(f string) string { return fmt.Sprintf("models[%d].%s", i, f) }
		if m.Name == "" {
			bad(field("name"), "", "is required (the model's registry name)")
		} else if seen[m.Name] {
			bad(field("name"), "", "%q is listed twice", m.Name)
		}
		seen[m.Name] = true
		if c.Backend.Kind == "upstream" && m.ContextLength <= 0 {
			bad(field("context_length"), "", "is required for an upstream model (its context window in tokens; it bounds a request's maximum cost)")
		}
		if m.ContextLength < 0 {
			bad(field("context_length"), "", "must not be negative")
		}
		for _, p := range []struct{ f, v string }{{"prompt_price_ton", m.PromptPriceTON}, {"completion_price_ton", m.CompletionPriceTON}} {
			if p.v == "" {
				continue
			}
			if v, err := wallet.ParseTON(p.v); err != nil || v.Sign() < 0 {
				bad(field(p.f), "", "must be an amount of TON per 1M tokens, got %q", p.v)
			}
		}
		if m.MaxConcurrent < 0 {
			bad(field("max_concurrent"), "", "must not be negative")
		}
	}
	if v, err := wallet.ParseTON(c.Settlement.ThresholdTON); err != nil || v.Sign() <= 0 {
		bad("settlement.threshold_ton", "", "must be a positive amount of TON, got %q", c.Settlement.ThresholdTON)
	}
	if c.Settlement.Interval <= 0 {
		bad("settlement.interval", "", "must be positive")
	}
	if c.Settlement.MaxAge <= 0 {
		bad("settlement.max_age", "", "must be positive")
	}
	if c.Limits.MaxBodyBytes <= 0 || c.Limits.MaxBodyBytes > httpapi.MaxBodyBytes {
		bad("limits.max_body_bytes", "", "must be in 1..%d, got %d", httpapi.MaxBodyBytes, c.Limits.MaxBodyBytes)
	}
	if c.Limits.ChannelRate <= 0 || c.Limits.ChannelBurst < 1 {
		bad("limits.channel_rate", "", "and limits.channel_burst must be positive")
	}
	if c.Limits.ReceiptRetention <= 0 {
		bad("limits.receipt_retention", "", "must be positive")
	}
	return errors.Join(errs...)
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseAddr reads a user-friendly or raw address.
func parseAddr(s string) (*address.Address, error) {
	if a, err := address.ParseAddr(s); err == nil {
		return a, nil
	}
	return address.ParseRawAddr(s)
}
