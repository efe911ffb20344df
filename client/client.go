// Package client is the Cocoon client SDK: it finds a registry's providers (package discover),
// verifies each one in one call (package verify), chooses providers per request (package route),
// pays them through channels with cumulative vouchers and checks every receipt (package pay), and
// sends OpenAI requests to them over RA-TLS, failing over to the next provider before the first
// content byte.
//
//	c, _ := client.New(client.Config{Chain: ch, Registry: reg, Payer: payer})
//	_ = c.Refresh(ctx)                              // discover and verify
//	a, err := c.Do(ctx, client.Call{Path: "/v1/chat/completions", Body: body})
//	// a.Body (non-streamed) or a.Stream.Next() (streamed); a.Result() after the end: cost, receipt
//
// The gateway (package gateway) serves this over a local OpenAI-compatible HTTP API.
package client

import (
	"context"
	"crypto"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/client/verify"
	"github.com/cocoon-go/cocoon/payment"
)

// DefaultMaxTokens bounds a request's completion when it gives no limit, for its cap (the most the
// client will accept to owe for it without a receipt) and budget checks.
const DefaultMaxTokens = 4096

// Config configures a Client.
type Config struct {
	Chain    chain.Client
	Registry *address.Address
	// Source discovers providers (nil: discover.Chain on Chain and Registry).
	Source discover.Source
	// Verifier checks providers (nil: verify.New with the default vendor roots).
	Verifier *verify.Verifier
	// Payer pays (nil: the client only discovers and verifies).
	Payer *pay.Payer
	// Clock is the chain's clock for discovery (nil: the wall clock).
	Clock func(ctx context.Context) (time.Time, error)
	// MaxTokens is DefaultMaxTokens when zero.
	MaxTokens int
	// RefreshInterval is how old a snapshot may get before a request refreshes it (0: 1 minute).
	RefreshInterval time.Duration
	// DialTimeout bounds connecting to a provider (0: 10 s).
	DialTimeout time.Duration
	// ResyncWait bounds how long a request waits for a provider to finish metering an earlier
	// answer on the same channel (0: 3 s).
	ResyncWait time.Duration
	// BusyWait bounds how long a request waits, retrying, while every provider answers 429 (busy
	// or rate-limited) before the app gets the 429 (0: 30 s; negative: no wait).
	BusyWait time.Duration
	// Oracles are oracle API URLs whose uptime tables, checked against the roots the oracles
	// committed on-chain, stand in for the client's own uptime measurements.
	Oracles []string
	Log     *slog.Logger
}

// Client sends OpenAI requests to verified providers and pays them. Safe for concurrent use.
type Client struct {
	cfg     Config
	log     *slog.Logger
	source  discover.Source
	verify  *verify.Verifier
	tracker *route.Tracker

	refreshMu sync.Mutex // one refresh at a time

	mu sync.RWMutex
	// The latest snapshot and what was decided about each provider, by provider ID. REQUIRES mu.
	snap      *discover.Snapshot
	readAt    time.Time
	providers map[string]*Provider
	dropped   map[string]string

	// busy holds the lines of requests waiting for a busy provider, per model.
	busy busyLines
}

// Provider is a provider as the client sees it: the chain's view, the verification report, and
// the connection requests use.
type Provider struct {
	ID     string
	Chain  discover.Provider
	Report *verify.Report
	// Dropped says why the client stopped using it ("" when it did not).
	Dropped string

	http *http.Client
	pin  verify.Pin
	// names caches Names (routing reads them for every request).
	names []string
	// receiptKey is the attested key of its latest answer, prepared for receipts (shared by
	// copies; nil for a Provider not built by Refresh).
	receiptKey *atomic.Pointer[payment.ReceiptKey]
	// connAuth is set once the provider answered that its connections, which present the payer's
	// key as their TLS client certificate, authorize the channel's requests: they go unsigned
	// (docs/PROTOCOL.md, "Connection authorization"). Shared by copies, kept with the connections.
	connAuth *atomic.Bool
}

// receiptKeyFor is pub, the key of a connection's verified RA-TLS certificate, prepared for
// verifying receipts: prepared once while the provider keeps its key.
func (p *Provider) receiptKeyFor(pub crypto.PublicKey) *payment.ReceiptKey {
	if p.receiptKey == nil {
		return payment.NewReceiptKey(pub)
	}
	if k := p.receiptKey.Load(); k != nil && k.Is(pub) {
		return k
	}
	k := payment.NewReceiptKey(pub)
	p.receiptKey.Store(k)
	return k
}

// Verified reports whether requests may go to it.
func (p *Provider) Verified() bool { return p.Report != nil && p.Report.OK && p.Dropped == "" }

// Names are the names a routing object may use for it (shared: do not modify).
func (p *Provider) Names() []string {
	if p.names != nil {
		return p.names
	}
	return p.namesOf()
}

func (p *Provider) namesOf() []string {
	n := []string{p.ID, p.Chain.Address.StringRaw(), p.Chain.Endpoint}
	if p.Chain.Owner != nil {
		n = append(n, p.Chain.Owner.String(), p.Chain.Owner.StringRaw())
	}
	return n
}

// New returns a client; nothing is read until Refresh or the first request.
func New(cfg Config) (*Client, error) {
	if cfg.Source == nil {
		if cfg.Chain == nil || cfg.Registry == nil {
			return nil, errors.New("client: discovery needs the chain and the registry address, or a source")
		}
		cfg.Source = &discover.Chain{Client: cfg.Chain, Registry: cfg.Registry, Clock: cfg.Clock}
	}
	if cfg.Verifier == nil {
		v, err := verify.New(verify.Config{Chain: cfg.Chain})
		if err != nil {
			return nil, err
		}
		cfg.Verifier = v
	}
	if cfg.MaxTokens <= 0 {
		cfg.MaxTokens = DefaultMaxTokens
	}
	if cfg.RefreshInterval <= 0 {
		cfg.RefreshInterval = time.Minute
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 10 * time.Second
	}
	if cfg.BusyWait == 0 {
		cfg.BusyWait = 30 * time.Second
	}
	if cfg.ResyncWait <= 0 {
		cfg.ResyncWait = 3 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	c := &Client{cfg: cfg, log: cfg.Log, source: cfg.Source, verify: cfg.Verifier, tracker: route.NewTracker(),
		providers: map[string]*Provider{}, dropped: map[string]string{}}
	if cfg.Payer != nil {
		recs, err := cfg.Payer.Store().Channels()
		if err != nil {
			return nil, err
		}
		for _, r := range recs {
			if r.Dropped != "" {
				if a, err := address.ParseRawAddr(r.Provider); err == nil {
					c.dropped[a.String()] = r.Dropped
				}
			}
		}
	}
	return c, nil
}

// Tracker is the client's measurements of providers.
func (c *Client) Tracker() *route.Tracker { return c.tracker }

// Payer is the client's payer (nil: none).
func (c *Client) Payer() *pay.Payer { return c.cfg.Payer }

// Verifier is the client's verifier.
func (c *Client) Verifier() *verify.Verifier { return c.verify }

// Refresh discovers the providers and verifies every one of them (in parallel).
func (c *Client) Refresh(ctx context.Context) error {
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	snap, err := c.source.Discover(ctx)
	if err != nil {
		return fmt.Errorf("failed to discover providers: %w", err)
	}
	if len(c.cfg.Oracles) > 0 {
		ups, problems := discover.ReadUptime(ctx, &snap.Registry, c.cfg.Oracles, nil)
		for _, p := range problems {
			c.log.Warn("oracle uptime not used", "err", p)
		}
		for i := range snap.Providers {
			if u, ok := ups[snap.Providers[i].Address.StringRaw()]; ok {
				snap.Providers[i].Uptime = &u
			}
		}
	}
	reports := make([]*verify.Report, len(snap.Providers))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range snap.Providers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			reports[i] = c.verify.Verify(ctx, snap, &snap.Providers[i])
		}()
	}
	wg.Wait()
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.providers
	c.providers = make(map[string]*Provider, len(snap.Providers))
	for i, r := range reports {
		cp := snap.Providers[i]
		p := &Provider{ID: cp.Address.String(), Chain: cp, Report: r, Dropped: c.dropped[cp.Address.String()],
			receiptKey: new(atomic.Pointer[payment.ReceiptKey]), connAuth: new(atomic.Bool)}
		p.names = p.namesOf()
		if r.OK {
			c.tracker.Probe(p.ID, true)
			p.pin = verify.Pin{TLSKeyHash: cp.Attestation.TLSKeyHash, Measurement: cp.Attestation.MeasurementHash}
			if prev := old[p.ID]; prev != nil && prev.http != nil && string(prev.pin.TLSKeyHash) == string(p.pin.TLSKeyHash) &&
				string(prev.pin.Measurement) == string(p.pin.Measurement) && prev.Chain.Endpoint == cp.Endpoint {
				p.http, p.connAuth = prev.http, prev.connAuth // keep the warm connections
			} else if p.http, err = c.newHTTP(&snap.Registry, p.pin); err != nil {
				r.Refusals = append(r.Refusals, err.Error())
				r.OK = false
			}
		} else {
			if cp.Endpoint != "" {
				c.tracker.Probe(p.ID, false)
			}
			c.log.Info("provider refused", "provider", p.ID, "endpoint", cp.Endpoint, "reasons", strings.Join(r.Refusals, "; "))
		}
		c.providers[p.ID] = p
	}
	c.snap, c.readAt = snap, time.Now()
	return nil
}

// newHTTP is the pinned RA-TLS client for one provider.
func (c *Client) newHTTP(reg *discover.Registry, pin verify.Pin) (*http.Client, error) {
	tcfg, err := c.verify.PinnedTLS(reg, pin, nil)
	if err != nil {
		return nil, err
	}
	if c.cfg.Payer != nil {
		// Connection authorization: every connection presents the payer's key (the key of all
		// its channels), so a provider that takes it needs no signature on each request.
		cert, err := payment.ClientCertificate(c.cfg.Payer.PrivateKey())
		if err != nil {
			return nil, err
		}
		tcfg.Certificates = []tls.Certificate{cert}
	}
	d := &net.Dialer{Timeout: c.cfg.DialTimeout, KeepAlive: 30 * time.Second}
	tr := &http.Transport{DialContext: d.DialContext, TLSClientConfig: tcfg, TLSHandshakeTimeout: c.cfg.DialTimeout,
		MaxIdleConnsPerHost: 16, IdleConnTimeout: 90 * time.Second, ForceAttemptHTTP2: false, DisableCompression: true}
	return &http.Client{Transport: tr}, nil
}

// fresh refreshes when the snapshot is missing, or three refresh intervals old (a daemon refreshes
// in the background; a request only waits for a refresh nobody else did).
func (c *Client) fresh(ctx context.Context) error {
	c.mu.RLock()
	stale := c.snap == nil || time.Since(c.readAt) > 3*c.cfg.RefreshInterval
	c.mu.RUnlock()
	if !stale {
		return nil
	}
	return c.Refresh(ctx)
}

// Snapshot is the latest discovery (nil before the first Refresh).
func (c *Client) Snapshot() *discover.Snapshot {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.snap
}

// Providers lists every discovered provider with its report, in discovery order.
func (c *Client) Providers() []*Provider {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.snap == nil {
		return nil
	}
	out := make([]*Provider, 0, len(c.snap.Providers))
	for _, cp := range c.snap.Providers {
		if p := c.providers[cp.Address.String()]; p != nil {
			cp := *p
			cp.Dropped = c.dropped[p.ID]
			out = append(out, &cp)
		}
	}
	return out
}

// Drop stops using a provider and records why (in the store when the client pays).
func (c *Client) Drop(p *Provider, ledger *pay.Ledger, reason string) {
	c.mu.Lock()
	c.dropped[p.ID] = reason
	c.mu.Unlock()
	c.log.Warn("provider dropped", "provider", p.ID, "endpoint", p.Chain.Endpoint, "reason", reason)
	if ledger != nil {
		if err := ledger.Drop(reason); err != nil {
			c.log.Error("failed to record a dropped provider", "provider", p.ID, "err", err)
		}
	}
}

// Dropped lists the dropped providers and why.
func (c *Client) Dropped() map[string]string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make(map[string]string, len(c.dropped))
	for k, v := range c.dropped {
		out[k] = v
	}
	return out
}

// Model is a catalog model some verified provider serves.
type Model struct {
	Name string
	ID   uint32
	// Providers counts the verified providers serving it.
	Providers int
	// Lowest and highest prices among them, nanoTON per 1M tokens.
	MinPrompt, MaxPrompt, MinCompletion, MaxCompletion *big.Int
}

// ErrNoModel and ErrSeveralModels are DefaultModel finding no model served, or more than one.
var (
	ErrNoModel       = errors.New("no verified provider serves any model now")
	ErrSeveralModels = errors.New("several models are served")
)

// DefaultModel is the model verified providers serve, when they serve exactly one (a request
// that names none can only mean it).
func (c *Client) DefaultModel(ctx context.Context) (string, error) {
	ms, err := c.Models(ctx)
	if err != nil {
		return "", err
	}
	switch len(ms) {
	case 0:
		return "", ErrNoModel
	case 1:
		return ms[0].Name, nil
	}
	names := make([]string, len(ms))
	for i, m := range ms {
		names[i] = m.Name
	}
	return "", fmt.Errorf("%w (%s)", ErrSeveralModels, strings.Join(names, ", "))
}

// Models lists the catalog models that verified providers serve, by name.
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	if err := c.fresh(ctx); err != nil {
		return nil, err
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	byID := map[uint32]*Model{}
	for _, p := range c.providers {
		if !p.Verified() || c.dropped[p.ID] != "" {
			continue
		}
		for id, pr := range p.Chain.Prices {
			name := c.snap.Registry.ModelName(id)
			if name == "" {
				continue
			}
			if _, err := c.snap.Registry.Model(name); err != nil {
				continue // ambiguous names are served by nobody
			}
			m := byID[id]
			if m == nil {
				m = &Model{Name: name, ID: id, MinPrompt: pr.Prompt, MaxPrompt: pr.Prompt, MinCompletion: pr.Completion, MaxCompletion: pr.Completion}
				byID[id] = m
			}
			m.Providers++
			m.MinPrompt, m.MaxPrompt = minBig(m.MinPrompt, pr.Prompt), maxBig(m.MaxPrompt, pr.Prompt)
			m.MinCompletion, m.MaxCompletion = minBig(m.MinCompletion, pr.Completion), maxBig(m.MaxCompletion, pr.Completion)
		}
	}
	out := make([]Model, 0, len(byID))
	for _, m := range byID {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func minBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) <= 0 {
		return a
	}
	return b
}

func maxBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) >= 0 {
		return a
	}
	return b
}

// provider is a verified provider by ID (nil: none).
func (c *Client) provider(id string) *Provider {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.providers[id]
}
