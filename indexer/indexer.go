// Package indexer is the indexer daemon: it follows every transaction of a Cocoon registry and of
// every Provider and Channel contract the registry deploys (follow), decodes and stores them with
// the contracts' replayed state and history (decode, state, store: Pebble), and serves the REST API
// (api, docs/PROTOCOL.md "Indexer API") and the web explorer (web) from one listener, in the
// service shape every daemon has (service.Lifecycle, COCOON_INDEXER_* flags, /metrics, /healthz).
//
// It reads the chain only through chain.Client's read methods, connected by chain/dial: toncenter v2
// (--rpc), a liteserver (--liteserver-config) or the devnet, which serves toncenter v2.
package indexer

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
	"unicode"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/store"
	"github.com/cocoon-go/cocoon/indexer/tables"
	"github.com/cocoon-go/cocoon/indexer/web"
	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// EnvPrefix prefixes the environment variable of every flag: COCOON_INDEXER_<FLAG>.
const EnvPrefix = "COCOON_INDEXER"

// Config configures the indexer.
type Config struct {
	service.Config
	// Network is devnet, testnet or mainnet; RPC a toncenter v2 URL ("": the network's default; the
	// devnet serves one), Liteserver a liteserver global config instead (path, URL, testnet or
	// mainnet). See chain/dial.
	Network    string
	RPC        string
	APIKey     string
	Liteserver string
	// Registry is the registry's address, raw or user-friendly.
	Registry string
	// DataDir holds the Pebble store.
	DataDir string
	// Listen serves the API (/api/…) and the explorer (/).
	Listen string
	// Poll is the pause between follower rounds once caught up; Workers how many accounts are
	// read at once; PageSize how many transactions one request lists.
	Poll     time.Duration
	Workers  int
	PageSize int
	// OracleAPIs are oracles' HTTP API roots (--oracle-api, repeatable): the uptime tables behind
	// their on-chain roots are fetched from them, checked against the roots and shown (package
	// tables). Oracle URLs are not on-chain: without any, uptime stays null. OraclePoll is the pause
	// between passes over the commitments still without a verified table.
	OracleAPIs []string
	OraclePoll time.Duration

	// Not flags. Chain replaces RPC/Liteserver (tests: the in-process devnet). Now is the chain's
	// clock for the views (default: the system clock). Clock drives the follower's waits.
	Chain chain.Client
	Now   func() time.Time
	Clock clock.Clock
	// NoSync skips Pebble's fsyncs (benchmarks only).
	NoSync bool
}

// DefaultConfig is the indexer's defaults.
func DefaultConfig() Config {
	return Config{Config: service.DefaultConfig(), Network: "devnet", Listen: "127.0.0.1:8090", Poll: time.Second, Workers: 4, PageSize: 64,
		OraclePoll: 30 * time.Second}
}

// AddFlags registers the indexer's flags.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	c.Config.AddFlags(fs)
	fs.StringVar(&c.Network, "network", c.Network, "devnet, testnet or mainnet")
	fs.StringVar(&c.RPC, "rpc", c.RPC, "toncenter v2 URL (default: the network's; the devnet serves one at http://127.0.0.1:8081)")
	fs.StringVar(&c.APIKey, "api-key", c.APIKey, "toncenter API key (without one, one request a second off the devnet)")
	fs.StringVar(&c.Liteserver, "liteserver-config", c.Liteserver, "liteserver global config: path, URL, testnet or mainnet (instead of --rpc)")
	fs.StringVar(&c.Registry, "registry", c.Registry, "the registry's address")
	fs.StringVar(&c.DataDir, "data", c.DataDir, "directory of the indexer's Pebble store")
	fs.StringVar(&c.Listen, "listen", c.Listen, "host:port serving the API (/api/v1/…) and the explorer (/)")
	fs.DurationVar(&c.Poll, "poll", c.Poll, "pause between passes over the followed accounts once caught up")
	fs.IntVar(&c.Workers, "workers", c.Workers, "accounts read at once")
	fs.IntVar(&c.PageSize, "page-size", c.PageSize, "transactions listed per request")
	fs.Func("oracle-api", "an oracle's HTTP API root (e.g. http://oracle.example:8091) to fetch its uptime tables from; repeatable, or several separated by commas", func(v string) error {
		for _, u := range strings.FieldsFunc(v, func(r rune) bool { return r == ',' || unicode.IsSpace(r) }) {
			c.OracleAPIs = append(c.OracleAPIs, u)
		}
		return nil
	})
	fs.DurationVar(&c.OraclePoll, "oracle-poll", c.OraclePoll, "pause between passes fetching the uptime tables still missing (a table that could not be had waits longer each time, up to an hour)")
}

// Check reports every problem of the configuration.
func (c Config) Check() error {
	errs := []error{c.Config.Check(), service.CheckListen("API listen address", "listen", c.Listen, false)}
	if c.Chain == nil {
		if err := c.dial().Check(); err != nil {
			errs = append(errs, service.Invalid("chain connection", "rpc", "%v", err))
		} else if c.RPC != "" {
			if err := (toncenter.Config{URL: c.RPC}).Check(); err != nil {
				errs = append(errs, service.Invalid("toncenter URL", "rpc", "%v", err))
			}
		}
	}
	if c.Registry == "" {
		errs = append(errs, service.Invalid("registry address", "registry", "is required"))
	} else if _, err := chain.ParseAddress(c.Registry); err != nil {
		errs = append(errs, service.Invalid("registry address", "registry", "%v", err))
	}
	if c.DataDir == "" {
		errs = append(errs, service.Invalid("data directory", "data", "is required"))
	}
	if c.Poll <= 0 {
		errs = append(errs, service.Invalid("poll interval", "poll", "must be positive, got %v", c.Poll))
	}
	if c.Workers < 1 || c.Workers > 64 {
		errs = append(errs, service.Invalid("workers", "workers", "must be from 1 to 64, got %d", c.Workers))
	}
	if c.PageSize < 1 || c.PageSize > 1000 {
		errs = append(errs, service.Invalid("page size", "page-size", "must be from 1 to 1000, got %d", c.PageSize))
	}
	for _, u := range c.OracleAPIs {
		if p, err := url.Parse(u); err != nil || (p.Scheme != "http" && p.Scheme != "https") || p.Host == "" {
			errs = append(errs, service.Invalid("oracle API", "oracle-api", "must be an http:// or https:// URL, got %q", u))
		}
	}
	if c.OraclePoll <= 0 {
		errs = append(errs, service.Invalid("oracle poll interval", "oracle-poll", "must be positive, got %v", c.OraclePoll))
	}
	return errors.Join(errs...)
}

func (c Config) dial() dial.Config {
	return dial.Config{Network: c.Network, RPC: c.RPC, APIKey: c.APIKey, LiteserverConfig: c.Liteserver}
}

// Indexer is the daemon: chain client, store, follower, API and explorer listener, ops listener.
type Indexer struct {
	*service.Lifecycle
	cfg      Config
	log      *slog.Logger
	m        Metricer
	health   service.Health
	registry *address.Address

	// Set by the init steps.
	chain    chain.Client
	store    *store.Store
	follower *follow.Follower
	tables   *tables.Fetcher // nil without oracle APIs
	api      *api.API
	server   *service.HTTPServer
	ops      *service.HTTPServer
}

// New checks cfg and builds the indexer; Start runs it.
func New(ctx context.Context, cfg Config, log *slog.Logger, m Metricer) (*Indexer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NoopMetrics{}
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System
	}
	reg, _ := chain.ParseAddress(cfg.Registry)
	ix := &Indexer{Lifecycle: service.NewLifecycle(log), cfg: cfg, log: log, m: m, registry: reg}
	m.RecordInfo(buildinfo.Version)
	ix.health.Add("lifecycle", ix.Healthy)
	ix.health.Add("follower", ix.followerHealthy)
	ix.Add("chain", ix.initChain)
	ix.Add("store", ix.initStore)
	ix.Add("follower", ix.initFollower)
	ix.AddLoop("follow", func(ctx context.Context) error { return ix.follower.Run(ctx) })
	if len(cfg.OracleAPIs) > 0 {
		ix.Add("tables", ix.initTables)
		ix.AddLoop("tables", func(ctx context.Context) error { return ix.tables.Run(ctx) })
	}
	ix.Add("http", ix.initHTTP)
	ix.AddOps(ix.cfg.MetricsListen, ix.m, &ix.health, &ix.ops)
	ix.AddUp(m)
	return ix, nil
}

// initChain connects (chain/dial) unless a client was given, and picks the views' clock: the
// devnet's own on a devnet (it can run ahead of the wall clock), the wall clock elsewhere.
func (ix *Indexer) initChain(ctx context.Context) (service.StopFunc, error) {
	var stop service.StopFunc
	if ix.cfg.Chain != nil {
		ix.chain = ix.cfg.Chain
	} else {
		c, closeChain, err := dial.Dial(ctx, ix.cfg.dial())
		if err != nil {
			return nil, err
		}
		ix.chain, stop = c, func(context.Context) error { closeChain(); return nil }
	}
	if ix.cfg.Now == nil {
		ix.cfg.Now = dial.Clock(ctx, ix.cfg.Network, ix.chain)
	}
	return stop, nil
}

func (ix *Indexer) initStore(context.Context) (service.StopFunc, error) {
	if err := os.MkdirAll(ix.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	st, err := store.Open(ix.cfg.DataDir, store.Options{NoSync: ix.cfg.NoSync})
	if err != nil {
		return nil, err
	}
	ix.store = st
	return func(context.Context) error { return st.Close() }, nil
}

func (ix *Indexer) initFollower(context.Context) (service.StopFunc, error) {
	f, err := follow.New(follow.Config{Chain: ix.chain, Store: ix.store, Registry: ix.registry, PageSize: ix.cfg.PageSize,
		Workers: ix.cfg.Workers, Poll: ix.cfg.Poll, Clock: ix.cfg.Clock, Log: ix.log.With("part", "follower"), Metrics: ix.m})
	if err != nil {
		return nil, err
	}
	ix.follower = f
	return nil, nil
}

func (ix *Indexer) initTables(context.Context) (service.StopFunc, error) {
	f, err := tables.New(tables.Config{Store: ix.store, Registry: ix.registry, APIs: ix.cfg.OracleAPIs, Poll: ix.cfg.OraclePoll,
		Now: ix.cfg.Now, Clock: ix.cfg.Clock, Log: ix.log.With("part", "tables"), Metrics: ix.m})
	if err != nil {
		return nil, err
	}
	ix.tables = f
	return nil, nil
}

func (ix *Indexer) initHTTP(ctx context.Context) (service.StopFunc, error) {
	ix.api = api.New(api.Config{Store: ix.store, Registry: ix.registry, Now: ix.cfg.Now, Log: ix.log.With("part", "api"), Metrics: ix.m,
		Status: func() api.Status { return api.Status{Synced: ix.follower.Synced(), LastRound: ix.follower.LastRound()} }})
	s, err := service.StartHTTP(ctx, ix.log, "api", ix.cfg.Listen, Handler(ix.api, ix.m))
	if err != nil {
		return nil, err
	}
	ix.server = s
	return s.Stop, nil
}

// Handler serves the API under /api/ and the explorer everywhere else.
func Handler(a *api.API, m api.Metricer) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/", a.Handler())
	mux.Handle("/", web.New(a, m).Handler())
	return mux
}

// followerHealthy fails when the follower neither finished a pass over the accounts nor committed
// a batch for a while.
func (ix *Indexer) followerHealthy(context.Context) error {
	if ix.follower == nil {
		return errors.New("not started")
	}
	last := ix.follower.LastProgress()
	limit := max(30*time.Second, 10*ix.cfg.Poll)
	if last.IsZero() || ix.cfg.Clock.Since(last) > limit {
		return fmt.Errorf("no pass over the followed accounts finished, and no batch was committed, in the last %v", limit)
	}
	return nil
}

// URL is the API and explorer's base URL ("" before Start).
func (ix *Indexer) URL() string { return ix.server.URL() }

// OpsURL is the ops listener's base URL ("" when off or before Start).
func (ix *Indexer) OpsURL() string { return ix.ops.URL() }

// Tables is the uptime tables' fetcher (nil without --oracle-api).
func (ix *Indexer) Tables() *tables.Fetcher { return ix.tables }

// Synced reports whether the follower's last round found nothing new.
func (ix *Indexer) Synced() bool { return ix.follower != nil && ix.follower.Synced() }
