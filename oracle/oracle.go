// Package oracle is the oracle daemon: it verifies providers' TEE evidence and votes for their
// attestation on-chain, probes their availability and latency, and commits a Merkle root of each
// epoch's uptime table to the registry while serving the table and per-provider proofs over HTTP.
//
// What it does, per provider of the registry (found with package discover in the registry's own
// transactions):
//
//   - Evidence: over RA-TLS, it fetches fresh evidence for a nonce of its own
//     (attest.Verifier.FetchFreshEvidence) and verifies it, and the certificate of every connection
//     it made, against the registry's current allow-list and the pinned vendor roots; the
//     certificate's key, measurement and kind must equal the fresh evidence's. The claim it votes
//     for is the certificate's (measurement, evidence digest, TLS key hash): the same for every
//     oracle, so votes meet in one claim.
//   - Votes: one per claim per renewal window. A vote (validUntil = chain now + min(VoteLifetime,
//     the registry's maxAttestationLifetime)) is recorded in the store before it is sent, under the
//     transaction manager key the claim and validUntil derive (contracts/ops), so a restart (kill -9
//     included) asks for the same vote again and the journal sends it at most once. The oracle votes
//     again for the same claim only when its own vote has less than RenewBefore left; a provider
//     whose evidence stops verifying gets no more votes and lapses.
//   - Probes: the RA-TLS handshake and GET /v1/models, every ProbeInterval while up; while down
//     after ProbeRetryMin doubling to ProbeRetryMax, then daily; Concurrency at once.
//   - Epochs: at the end of each epoch, a table (package uptime) of every provider probed in it;
//     its root goes on-chain (SubmitUptimeRoot) and the table and proofs are served at
//     /api/v1/epochs.
//
// Chain writes go through one transaction manager with its journal in the oracle's store, at most
// TxPerMinute, retried with backoff when they fail for a transient reason. The wallet's balance is
// read with every registry refresh; below MinBalance /healthz fails and a metric says so.
package oracle

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// Oracle is the daemon. Build it with New, run it with Start/Stop (or service.Run).
type Oracle struct {
	*service.Lifecycle
	cfg    Config
	log    *slog.Logger
	m      Metricer
	clock  clock.Clock
	health service.Health

	registry   *address.Address
	minBalance *big.Int

	// Set by the init steps.
	st         *store
	chain      chain.Client
	chainClock func(ctx context.Context) (time.Time, error)
	wallet     *wallet.Wallet
	key        ed25519.PrivateKey
	tx         *txmgr.Manager
	ops        *ops.Ops
	roots      attest.Roots
	collateral attest.TDXCollateralGetter
	writes     chan *write
	api        *service.HTTPServer
	opsHTTP    *service.HTTPServer

	mu sync.Mutex
	// reg is the registry as last read. REQUIRES: mu held.
	reg registryView
	// providers by raw address. REQUIRES: mu held.
	providers map[string]*providerState
	// refreshed and refreshErr: the last registry refresh. REQUIRES: mu held.
	refreshed  time.Time
	refreshErr error
	// balance: the wallet's balance at the last refresh (nil before). REQUIRES: mu held.
	balance *big.Int
	// tables caches built trees by epoch. REQUIRES: mu held.
	tables map[uint32]*cachedTable
	// voting: providers (raw) whose vote is with the writer. REQUIRES: mu held.
	voting map[string]bool
	// runJob runs a scheduled job (nil: Oracle.run; tests replace it).
	runJob func(ctx context.Context, j job) time.Time
	// committing: an uptime root is with the writer (one at a time, in epoch order). REQUIRES: mu held.
	committing bool
}

// New checks cfg and builds the daemon; nothing starts until Start.
func New(ctx context.Context, cfg Config, log *slog.Logger, m Metricer) (*Oracle, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NoopMetrics{}
	}
	reg, err := cfg.registryAddress()
	if err != nil {
		return nil, err
	}
	minBalance, _ := wallet.ParseTON(cfg.MinBalance)
	o := &Oracle{Lifecycle: service.NewLifecycle(log), cfg: cfg, log: log, m: m, clock: cfg.Clock,
		registry: reg, minBalance: minBalance, providers: map[string]*providerState{}, voting: map[string]bool{}, tables: map[uint32]*cachedTable{}}
	if o.clock == nil {
		o.clock = clock.System
	}
	m.RecordInfo(buildinfo.Version)
	o.health.Add("lifecycle", o.Healthy)
	o.health.Add("registry", o.checkRegistryHealth)
	o.health.Add("wallet balance", o.checkBalanceHealth)
	o.health.Add("oracle set", o.checkMembershipHealth)
	o.Add("store", o.initStore)
	o.Add("chain", o.initChain)
	o.Add("registry", o.initRegistry)
	o.Add("writer", o.initWriter)
	o.AddLoop("follow", o.follow)
	o.AddLoop("scheduler", o.schedule)
	o.AddLoop("epochs", o.epochs)
	o.Add("api", o.initAPI)
	o.AddOps(o.cfg.MetricsListen, o.m, &o.health, &o.opsHTTP)
	o.AddUp(m)
	return o, nil
}

func (o *Oracle) initStore(ctx context.Context) (service.StopFunc, error) {
	if err := os.MkdirAll(o.cfg.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	st, err := openStore(o.cfg.DataDir)
	if err != nil {
		return nil, err
	}
	o.st = st
	return func(context.Context) error { return st.close() }, nil
}

func (o *Oracle) initChain(ctx context.Context) (service.StopFunc, error) {
	release := func() {}
	o.chain = o.cfg.Chain
	if o.chain == nil {
		c, rel, err := dial.Dial(ctx, dial.Config{Network: o.cfg.Network, RPC: o.cfg.RPC, APIKey: o.cfg.APIKey, LiteserverConfig: o.cfg.LiteserverConfig})
		if err != nil {
			return nil, err
		}
		o.chain, release = c, rel
	}
	o.chainClock = o.cfg.ChainClock
	if o.chainClock == nil {
		o.chainClock = txmgr.WallClock
		if dc, ok := o.chain.(txmgr.DevnetClocked); ok && (o.cfg.Network == "devnet" || o.cfg.Network == "") {
			o.chainClock = txmgr.DevnetClock(dc)
		}
	}
	o.wallet = o.cfg.Wallet
	if o.wallet == nil {
		v, _ := wallet.ParseVersion(o.cfg.WalletVersion)
		n, _ := dial.Config{Network: o.cfg.Network}.Net()
		w, err := keys.WalletSource{KeyFile: o.cfg.KeyFile, KeyFileSet: o.cfg.KeyFile != "", Version: v, GlobalID: n.GlobalID}.Wallet()
		if err != nil {
			release()
			return nil, err
		}
		o.wallet = w
	}
	key, err := keys.ReadOracleKey(o.cfg.OracleKeyFile)
	if err != nil {
		release()
		return nil, err
	}
	o.key = key
	poll := o.cfg.PollInterval
	if poll == 0 {
		poll = dial.PollInterval(o.cfg.Network)
	}
	tm, err := txmgr.New(txmgr.Config{Chain: o.chain, Signer: o.wallet, Journal: txmgr.NewJournalDB(o.st.db).For(o.wallet.Address()),
		Clock: txmgr.Clock(o.chainClock), PollInterval: poll, Log: o.log.With("part", "txmgr")})
	if err != nil {
		release()
		return nil, err
	}
	o.tx = tm
	o.ops = &ops.Ops{Chain: o.chain, Sender: tm, Registry: o.registry, Clock: o.chainClock, Testnet: o.cfg.Network == "testnet"}
	if o.roots, err = attest.DefaultRoots(); err != nil {
		release()
		return nil, fmt.Errorf("failed to load the pinned vendor roots: %w", err)
	}
	switch {
	case o.cfg.CollateralBundle != "":
		b, err := attest.LoadCollateralBundle(o.cfg.CollateralBundle)
		if err != nil {
			release()
			return nil, err
		}
		o.collateral = b
	case o.cfg.OnlineCollateral:
		o.collateral = attest.OnlineCollateral(o.cfg.CollateralTTL)
	}
	// What an earlier process left in flight is finished before anything new is signed.
	outs, err := tm.Recover(ctx)
	if err != nil {
		release()
		return nil, fmt.Errorf("failed to finish the transactions in flight: %w", err)
	}
	for _, out := range outs {
		o.log.Info("finished a transaction left in flight", "key", out.Key, "included", out.Transaction != nil, "err", out.Err)
	}
	o.log.Info("oracle wallet", "address", o.ops.Friendly(o.wallet.Address(), false), "oracle_key", fmt.Sprintf("%x", o.key.Public()))
	return func(context.Context) error { release(); return nil }, nil
}

func (o *Oracle) initRegistry(ctx context.Context) (service.StopFunc, error) {
	recs, err := o.st.providers()
	if err != nil {
		return nil, err
	}
	o.mu.Lock()
	for _, r := range recs {
		o.addProviderLocked(r)
	}
	o.mu.Unlock()
	if err := o.refresh(ctx); err != nil {
		return nil, err
	}
	return nil, nil
}

func (o *Oracle) initAPI(ctx context.Context) (service.StopFunc, error) {
	if o.cfg.Listen == "" {
		return nil, nil
	}
	s, err := service.StartHTTP(ctx, o.log, "api", o.cfg.Listen, o.apiHandler())
	if err != nil {
		return nil, err
	}
	o.api = s
	return s.Stop, nil
}

// APIAddr is the bound address of the uptime API ("" when off or not started).
func (o *Oracle) APIAddr() string { return o.api.Addr() }

// OpsAddr is the bound address of /metrics and /healthz ("" when off or not started).
func (o *Oracle) OpsAddr() string { return o.opsHTTP.Addr() }

// Health runs the health checks now (what /healthz serves).
func (o *Oracle) Health(ctx context.Context) service.HealthReport { return o.health.Check(ctx) }

// Wallet is the oracle's wallet address (after Start).
func (o *Oracle) Wallet() *address.Address { return o.wallet.Address() }

// ---------------------------------------------------------------- health

func (o *Oracle) checkRegistryHealth(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.refreshErr != nil {
		return fmt.Errorf("the last registry read failed: %w", o.refreshErr)
	}
	if o.refreshed.IsZero() {
		return errors.New("the registry has not been read yet")
	}
	if age := o.clock.Since(o.refreshed); age > 3*o.cfg.Refresh+o.cfg.ProbeTimeout {
		return fmt.Errorf("the registry was last read %v ago", age.Round(time.Second))
	}
	return nil
}

func (o *Oracle) checkBalanceHealth(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.balance == nil {
		return errors.New("the wallet's balance has not been read yet")
	}
	if o.balance.Cmp(o.minBalance) < 0 {
		return fmt.Errorf("the wallet holds %s, below --min-balance %s: votes and roots will start failing; top it up",
			ops.TON(o.balance), ops.TON(o.minBalance))
	}
	return nil
}

func (o *Oracle) checkMembershipHealth(context.Context) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reg.membershipErr()
}

// ---------------------------------------------------------------- helpers

func (o *Oracle) friendly(a *address.Address) string { return o.ops.Friendly(a, true) }

// contractsProvider is the provider's getters.
func (o *Oracle) contractsProvider(a *address.Address) contracts.ProviderClient {
	return contracts.ProviderClient{Chain: o.chain, Address: a}
}
