// Package provider is the provider daemon: what a GPU owner runs inside the attested
// confidential VM to earn money serving inference (docs/PROTOCOL.md "Provider daemon").
//
// It serves the OpenAI-compatible API (inference/httpapi) of one backend (the embedded engine or
// an upstream server) over RA-TLS (attest.Issuer: the TLS key is generated in the VM and every
// certificate carries evidence binding it), and only for pay: every inference request names its
// payment channel, carries the client's newest voucher and is signed with the channel key
// (package payment). Before serving, the daemon checks the channel on-chain and applies the
// admission rule (at most one request's maximum cost of credit); it meters what it delivered,
// answers with the cost, the total owed and a receipt signed by the attested key, and records
// vouchers, owed and receipts in Pebble so that nothing owed is forgotten, not even after kill -9.
// Claims go through the transaction manager when a channel's unclaimed amount passes a threshold,
// when it starts closing, after a top-up, and on shutdown.
//
// At start it checks the chain (registered, active, staked, endpoint set, every model priced)
// and refuses what cannot be served. The simulated TEE is served only under a devnet registry.
package provider

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/internal/busypoll"
	"github.com/cocoon-go/cocoon/internal/h1server"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/service/clock"
)

// Provider is the daemon. Build it with New; Start and Stop come from its Lifecycle.
type Provider struct {
	*service.Lifecycle
	cfg    Config
	log    *slog.Logger
	m      Metricer
	clock  clock.Clock
	health service.Health

	// The chain (set by initChain).
	chain        chain.Client
	chainNow     func() time.Time
	ops          *ops.Ops
	tx           *txmgr.Manager
	registry     *address.Address
	owner        *address.Address
	providerAddr *address.Address
	channelCode  *cell.Cell
	network      contracts.NetworkKind
	catalog      []contracts.Model

	store    *store
	channels *channels
	replay   payment.ReplayGuard
	// models are the models served and priced on-chain, by registry name (set by initChainCheck,
	// completed by initBackend; read-only afterwards).
	models  map[string]*servedModel
	backend backend.Backend
	kind    attest.Kind
	issuer  *attest.Issuer
	// nonces signs receipts with the issuer's key when it is Ed25519, through nonces prepared after
	// each answer went out (nil: another key, signed as it is; receiptKey).
	nonces  *payment.ReceiptSigner
	api     *httpapi.Handler
	apiAddr string
	// poll is the busy-polling gate of the API's sockets and the upstream's (Config.BusyPoll): it
	// counts the requests in progress.
	poll *busypoll.Gate

	inflight atomic.Int64
	// claimMu serializes claims (one wallet, one sender).
	claimMu sync.Mutex
	// validUntil is the on-chain attestation's expiry, read by the watch loop.
	validUntil atomic.Int64
}

var _ httpapi.Meter = (*Provider)(nil)

// receiptNoncesAhead is how many receipt nonces the provider keeps prepared: each answer takes
// one and its connection makes the next after the answer went out (~12 µs), so with one request
// at a time none is ever made on an answer's path; more cover the answers of a burst.
const receiptNoncesAhead = 4

// receiptKey signs receipts: the prepared-nonce signer, or the issuer's own key.
func (p *Provider) receiptKey() crypto.Signer {
	if p.nonces != nil {
		return p.nonces
	}
	return p.issuer.Signer()
}

// prepareReceipts tops up the prepared receipt nonces (h1server's AfterResponse: between answers).
func (p *Provider) prepareReceipts() {
	if p.nonces == nil {
		return
	}
	if err := p.nonces.Prepare(receiptNoncesAhead); err != nil {
		// Signing makes its nonce itself then, and fails the same way if the source stays broken.
		p.log.Warn("failed to prepare receipt nonces", "err", err)
	}
}

// New checks cfg and lays out the daemon's parts; nothing starts until Start.
func New(ctx context.Context, cfg Config, log *slog.Logger, m Metricer) (*Provider, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.Default()
	}
	if m == nil {
		m = NoopMetrics{}
	}
	p := &Provider{Lifecycle: service.NewLifecycle(log), cfg: cfg, log: log, m: m, clock: cfg.Clock, models: map[string]*servedModel{},
		poll: &busypoll.Gate{Window: time.Duration(cfg.BusyPoll)}}
	if p.clock == nil {
		p.clock = clock.System
	}
	p.channels = newChannels(p)
	m.RecordInfo(buildinfo.Version)
	p.health.Add("lifecycle", p.Healthy)
	p.health.Add("backend", func(ctx context.Context) error {
		if p.backend == nil {
			return errors.New("not started")
		}
		return p.backend.Health(ctx)
	})
	p.Add("store", p.initStore)
	p.Add("chain", p.initChain)
	p.Add("chain check", p.initChainCheck)
	p.Add("backend", p.initBackend)
	p.Add("attestation", p.initAttestation)
	p.Add("settlement", p.initSettlement)
	p.AddLoop("chain watch", p.watch)
	p.Add("api", p.initAPI)
	p.AddOps(p.cfg.MetricsListen, p.m, &p.health, nil)
	p.AddUp(m)
	return p, nil
}

func (p *Provider) initStore(context.Context) (service.StopFunc, error) {
	dir := p.cfg.Path(p.cfg.DataDir)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("failed to create the data directory: %w", err)
	}
	s, err := openStore(dir)
	if err != nil {
		return nil, err
	}
	stop := func(context.Context) error { return s.close() }
	recs, err := s.loadChannels()
	if err == nil {
		var rec map[string]*recovered
		if rec, err = s.recoverInflight(recs); err == nil {
			for ch, r := range rec {
				p.log.Warn("billed what requests in flight at the last stop had delivered", "channel", ch, "requests", r.Requests,
					"cost", r.Cost, "prompt_tokens", r.PromptTokens, "completion_tokens", r.CompletionTokens)
			}
		}
	}
	for raw, r := range recs {
		if err == nil {
			err = p.channels.restore(raw, r)
		}
	}
	if err == nil {
		var nonces map[string]map[[payment.NonceSize]byte]int64
		nonces, err = s.nonces(p.clock.Now().Add(-2 * payment.AuthWindow))
		for raw, ns := range nonces {
			addr, aerr := address.ParseRawAddr(raw)
			if aerr != nil {
				continue
			}
			for n, at := range ns {
				_ = p.replay.Use(addr, payment.Auth{Unix: at, Nonce: n}, p.clock.Now())
			}
		}
	}
	if err != nil {
		return nil, errors.Join(err, s.close())
	}
	p.store = s
	p.log.Info("store open", "dir", dir, "channels", len(recs))
	return stop, nil
}

func (p *Provider) initChain(ctx context.Context) (service.StopFunc, error) {
	var stop service.StopFunc
	p.chain = p.cfg.Chain
	if p.chain == nil {
		key := ""
		if p.cfg.APIKeyEnv != "" {
			key = os.Getenv(p.cfg.APIKeyEnv)
		}
		c, release, err := dial.Dial(ctx, dial.Config{Network: p.cfg.Network, RPC: p.cfg.RPC, APIKey: key})
		if err != nil {
			return nil, err
		}
		p.chain = c
		stop = func(context.Context) error { release(); return nil }
	}
	p.chainNow = p.cfg.ChainClock
	if p.chainNow == nil {
		p.chainNow = dial.Clock(ctx, p.cfg.Network, p.chain)
	}
	var err error
	if p.registry, err = parseAddr(p.cfg.Registry); err != nil {
		return stop, fmt.Errorf("registry: %w", err)
	}
	if p.owner, err = parseAddr(p.cfg.Owner); err != nil {
		return stop, fmt.Errorf("owner: %w", err)
	}
	net, _ := dial.Config{Network: p.cfg.Network}.Net()
	w, err := keys.WalletSource{KeyFile: p.cfg.Path(p.cfg.WalletKeyFile), KeyFileSet: true, Version: wallet.V5R1, GlobalID: net.GlobalID}.Wallet()
	if err != nil {
		return stop, fmt.Errorf("settlement wallet (wallet_key_file): %w", err)
	}
	poll := p.cfg.PollInterval
	if poll == 0 {
		poll = dial.PollInterval(p.cfg.Network)
	}
	chainClock := func(context.Context) (time.Time, error) { return p.chainNow(), nil }
	p.tx, err = txmgr.New(txmgr.Config{Chain: p.chain, Signer: w, Journal: txmgr.NewJournalDB(p.store.db).For(w.Address()),
		Clock: chainClock, PollInterval: poll, Log: p.log.With("part", "txmgr")})
	if err != nil {
		return stop, err
	}
	p.ops = &ops.Ops{Chain: p.chain, Sender: p.tx, Registry: p.registry, Clock: chainClock, Testnet: net.Testnet}
	reg, err := p.ops.ReadRegistry(ctx)
	if err != nil {
		return stop, fmt.Errorf("failed to read the registry %s: %w", p.cfg.Registry, err)
	}
	if !reg.ChannelsEnabled() {
		return stop, fmt.Errorf("registry %s has no channel code: no client can pay (governance enables channels with `cocoon registry set-channel-code`)", p.cfg.Registry)
	}
	p.network, p.channelCode, p.catalog = reg.Data.NetworkKind, reg.Codes.ChannelCode, reg.Models
	if p.providerAddr, err = contracts.ProviderAddress(reg.Codes.ProviderCode, p.registry, p.owner); err != nil {
		return stop, err
	}
	p.log.Info("chain", "network", p.cfg.Network, "registry", p.registry.StringRaw(), "registry_kind", p.network.String(),
		"provider", p.providerAddr.StringRaw(), "settlement_wallet", w.Address().StringRaw())
	return stop, nil
}

func (p *Provider) initAttestation(ctx context.Context) (service.StopFunc, error) {
	var a attest.Attester
	image, err := p.cfg.simImage()
	if err != nil {
		return nil, err
	}
	switch p.cfg.TEE {
	case "sim":
		if p.network != contracts.NetworkDevnet {
			return nil, fmt.Errorf("tee: the simulated TEE is for a devnet registry only; registry %s is a %s registry", p.registry.StringRaw(), p.network)
		}
		a = attest.NewSimAttester(image)
	default:
		if a, err = attest.DetectAttester(); err != nil {
			return nil, fmt.Errorf("tee: no TEE to attest with (the simulated TEE is for the devnet only and must be asked for): %w", err)
		}
		if p.cfg.TEE != "auto" && a.Kind().Name() != p.cfg.TEE {
			return nil, fmt.Errorf("tee: configured %s but this VM is %s", p.cfg.TEE, a.Kind().Name())
		}
	}
	p.kind = a.Kind()
	p.log = p.log.With("tee", p.kind.String())
	if p.kind == attest.KindSim {
		p.log.Warn("SIMULATED TEE: this provider runs in no TEE and its attestation proves nothing; devnet only",
			"measurement", fmt.Sprintf("%x", attest.SimMeasurement(image)))
	}
	ic := attest.IssuerConfig{Attester: a, Validity: time.Duration(p.cfg.CertValidity), Logger: p.log}
	if p.cfg.GPU {
		gpu, err := attest.NewNVMLAttester()
		if err != nil {
			return nil, fmt.Errorf("GPU evidence: %w", err)
		}
		ic.GPU = gpu
	}
	is, err := attest.NewIssuer(ctx, ic)
	if err != nil {
		return nil, fmt.Errorf("failed to set up RA-TLS: %w", err)
	}
	p.issuer = is
	if k, ok := is.Signer().(ed25519.PrivateKey); ok {
		if p.nonces, err = payment.NewReceiptSigner(k); err != nil {
			return nil, err
		}
		p.prepareReceipts()
	}
	return nil, nil
}

func (p *Provider) initAPI(ctx context.Context) (service.StopFunc, error) {
	opts := []httpapi.Option{httpapi.WithLogger(p.log), httpapi.WithMeter(p)}
	if ms, err := p.backend.Models(ctx); err == nil && len(ms) == 1 && ms[0].WeightsSHA256 != "" {
		opts = append(opts, httpapi.WithSystemFingerprint(httpapi.Fingerprint(ms[0].WeightsSHA256)))
	}
	p.api = httpapi.NewHandler(p.backend, opts...)
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, p.issuer.EvidenceHandler())
	mux.HandleFunc("GET /v1/models", p.serveModels)
	mux.HandleFunc("GET /v1/models/", p.serveModels)
	mux.HandleFunc("POST /v1/chat/completions", p.servePaid)
	mux.HandleFunc("POST /v1/completions", p.servePaid)
	mux.HandleFunc("GET "+payment.ChannelPathPrefix, p.serveChannel)
	mux.Handle("GET /healthz", &p.health)
	mux.Handle("/", p.api) // OpenAI's 404 / 405 for everything else
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", p.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s: %w", p.cfg.Listen, err)
	}
	p.apiAddr = ln.Addr().String()
	// Our own HTTP/1.1 server, not net/http's: it costs the paid path far less (docs/DECISIONS.md).
	srv := &h1server.Server{Handler: p.counted(withRequestID(mux)), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		AfterResponse: p.prepareReceipts, Log: p.log}
	tcfg := p.issuer.TLSConfig()
	// Connection authorization: a client may present its channel key as its certificate (optional;
	// any key is taken, its possession proved by the handshake; pay.go's authorize reads it).
	tcfg.ClientAuth = tls.RequestClientCert
	done := make(chan error, 1)
	go func() {
		err := srv.Serve(tls.NewListener(p.poll.Listener(ln), tcfg))
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	names := make([]string, 0, len(p.models))
	for n := range p.models {
		names = append(names, n)
	}
	p.log.Info("serving the paid OpenAI-compatible API over RA-TLS", "addr", p.apiAddr,
		"tls_key_hash", fmt.Sprintf("%x", p.issuer.KeyHash()), "models", strings.Join(names, ","))
	return func(ctx context.Context) error {
		// Streams in flight finish (within half the time left: the claims that follow need the rest).
		if dl, ok := ctx.Deadline(); ok {
			var cancel context.CancelFunc
			ctx, cancel = context.WithDeadline(ctx, time.Now().Add(time.Until(dl)/2))
			defer cancel()
		}
		err := srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(fmt.Errorf("api did not drain: %w", err), srv.Close())
		}
		return errors.Join(err, <-done)
	}, nil
}

// counted counts each request in progress for the busy-polling gate: sockets are polled only
// while the daemon is otherwise idle.
func (p *Provider) counted(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.poll.Begin()
		defer p.poll.End()
		h.ServeHTTP(w, r)
	})
}

// withRequestID gives every answer an X-Request-Id (req_ and 32 hex digits), as OpenAI's do (the
// SDKs surface it); the OpenAI handler sets its own on the answers it writes.
func withRequestID(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var id [16]byte
		_, _ = rand.Read(id[:])
		w.Header().Set("X-Request-Id", "req_"+hex.EncodeToString(id[:]))
		h.ServeHTTP(w, r)
	})
}

// Info describes a started provider.
type Info struct {
	// Addr is the RA-TLS API's host:port.
	Addr       string
	Kind       attest.Kind
	TLSKeyHash [32]byte
	// Measurement is the simulated TEE's allow-list value (zero for hardware kinds).
	Measurement [32]byte
	Provider    *address.Address
	Wallet      *address.Address
	Models      []PricedModel
}

// Info describes the provider; call it after Start.
func (p *Provider) Info() Info {
	in := Info{Addr: p.apiAddr, Kind: p.kind, TLSKeyHash: p.issuer.KeyHash(), Provider: p.providerAddr, Wallet: p.tx.Address()}
	if p.kind == attest.KindSim {
		image, _ := p.cfg.simImage()
		in.Measurement = attest.SimMeasurement(image)
	}
	for _, m := range p.models {
		in.Models = append(in.Models, m.object())
	}
	return in
}
