// Package discover finds a registry's providers and reads what the chain says about them: the
// registry's rules (network kind, parameters, allowed measurements, model catalog, oracles) and,
// per provider, its endpoint, prices, status, stake and confirmed attestation.
//
// Two sources give the same Snapshot. Chain reads the registry's transactions (every
// RegisterProvider the registry accepted sent a ProviderRegistration to the owner's Provider
// contract, so its transactions name every Provider contract it deployed) and then the getters of
// the registry and of each provider. Indexer asks an indexer's explorer API, which follows the same
// contracts. Neither decides who may serve: package verify does, from a Snapshot and the provider's
// own RA-TLS evidence.
package discover

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
	regscan "github.com/cocoon-go/cocoon/discover"
	"github.com/cocoon-go/cocoon/payment"
)

// Registry is what the registry's getters say now.
type Registry struct {
	Address      *address.Address
	Network      contracts.NetworkKind
	Params       *contracts.RegistryParams
	OracleEpoch  uint32
	Models       []contracts.Model
	Measurements []contracts.Measurement
	Oracles      []contracts.Oracle
}

// MeasurementKind is the allow-list's kind for a measurement hash (0: not allowed).
func (r *Registry) MeasurementKind(hash []byte) contracts.MeasurementKind {
	for _, m := range r.Measurements {
		if bytes.Equal(m.Hash, hash) {
			return m.Kind
		}
	}
	return 0
}

// Model is the catalog's one entry named name (contracts.FindModel's errors).
func (r *Registry) Model(name string) (contracts.Model, error) {
	return contracts.FindModel(r.Models, name)
}

// ModelName is the catalog name of a model id ("" when the catalog does not list it).
func (r *Registry) ModelName(id uint32) string {
	for _, m := range r.Models {
		if m.ID == id {
			return m.Name
		}
	}
	return ""
}

// OracleBySlot is the oracle holding slot s (nil: none).
func (r *Registry) OracleBySlot(s uint8) *contracts.Oracle {
	for i := range r.Oracles {
		if r.Oracles[i].Slot == s {
			return &r.Oracles[i]
		}
	}
	return nil
}

// Provider is a Provider contract as its getters show it.
type Provider struct {
	Address *address.Address
	Owner   *address.Address
	// Endpoint is the RA-TLS URL ("" until the owner set one).
	Endpoint string
	// Status is the effective status (ProviderJailed while jailed).
	Status contracts.ProviderStatus
	Stake  *big.Int
	// Prices by model id (nanoTON per 1M tokens).
	Prices map[uint32]payment.Prices
	// Attestation is get_attestation (the confirmed claim, zeros when none).
	Attestation *contracts.AttestationView
	// Oracles are the wallets whose live votes, cast under the registry's current oracle epoch,
	// are for the confirmed claim.
	Oracles []*address.Address
	// Uptime is what the oracles' committed uptime tables say (nil: no table lists it, or the
	// client reads none: client.Config.Oracles).
	Uptime *Uptime
	// Err is why the provider could not be read (then only Address is set).
	Err error
}

// Serves reports the provider's prices for a model id.
func (p *Provider) Serves(modelID uint32) (payment.Prices, bool) {
	pr, ok := p.Prices[modelID]
	return pr, ok
}

// Snapshot is a registry and its providers at one moment of the chain's clock.
type Snapshot struct {
	Registry  Registry
	Providers []Provider
	// Now is the chain's clock when the snapshot was read (attestations are judged by it).
	Now time.Time
	// Source names where it came from ("chain" or the indexer's URL).
	Source string
}

// Provider finds a provider by contract address, owner address or endpoint (nil: none).
func (s *Snapshot) Provider(id string) *Provider {
	a, _ := address.ParseAddr(id)
	if a == nil {
		a, _ = address.ParseRawAddr(id)
	}
	for i := range s.Providers {
		p := &s.Providers[i]
		if (a != nil && (p.Address.Equals(a) || (p.Owner != nil && p.Owner.Equals(a)))) || (p.Endpoint != "" && p.Endpoint == id) {
			return p
		}
	}
	return nil
}

// Source discovers providers.
type Source interface {
	Discover(ctx context.Context) (*Snapshot, error)
}

// ErrNoRegistry is a registry address without an active account.
var ErrNoRegistry = regscan.ErrNoRegistry

// Chain discovers from the chain itself: the registry's transactions name every Provider
// contract it deployed (package discover at the module's root, shared with the oracle, scans them).
// It remembers the providers found and the newest registry transaction read, so each Discover scans
// only the new transactions (and reads every provider's getters again). Safe for concurrent use.
type Chain struct {
	Client   chain.Client
	Registry *address.Address
	// Clock is the chain's clock (nil: the wall clock).
	Clock func(ctx context.Context) (time.Time, error)
	// PageSize is how many transactions one request lists (0: regscan.DefaultPage).
	PageSize int
	// Parallel bounds the providers read at once (0: 8).
	Parallel int

	mu sync.Mutex
	// cursor is the newest registry transaction scanned; providers the contracts found, in the
	// order they registered. REQUIRES mu.
	cursor    regscan.Cursor
	providers []*address.Address
	known     map[string]bool
}

// Discover reads the registry, scans its new transactions for provider deployments and reads
// every provider found so far.
func (c *Chain) Discover(ctx context.Context) (*Snapshot, error) {
	reg, err := ReadRegistry(ctx, c.Client, c.Registry)
	if err != nil {
		return nil, err
	}
	addrs, err := c.scan(ctx)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if c.Clock != nil {
		if now, err = c.Clock(ctx); err != nil {
			return nil, err
		}
	}
	return readAll(ctx, c.Client, reg, addrs, now, c.Parallel, "chain"), ctx.Err()
}

// scan reads the registry's transactions newer than the last scan and returns every provider
// found so far.
func (c *Chain) scan(ctx context.Context) ([]*address.Address, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	regs, cursor, err := regscan.Scan(ctx, c.Client, c.Registry, c.cursor, c.PageSize)
	if err != nil {
		return nil, err
	}
	if c.known == nil {
		c.known = map[string]bool{}
	}
	for _, r := range regs {
		if k := r.Provider.StringRaw(); !c.known[k] {
			c.known[k] = true
			c.providers = append(c.providers, r.Provider)
		}
	}
	c.cursor = cursor
	return append([]*address.Address(nil), c.providers...), nil
}

// readAll reads every provider's getters, par at a time (0: 8).
func readAll(ctx context.Context, c chain.Client, reg *Registry, addrs []*address.Address, now time.Time, par int, source string) *Snapshot {
	snap := &Snapshot{Registry: *reg, Now: now, Source: source, Providers: make([]Provider, len(addrs))}
	if par <= 0 {
		par = 8
	}
	sem := make(chan struct{}, par)
	var wg sync.WaitGroup
	for i, a := range addrs {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			p, err := ReadProvider(ctx, c, reg, a, now)
			if err != nil {
				p = Provider{Address: a, Err: err}
			}
			snap.Providers[i] = p
		}()
	}
	wg.Wait()
	return snap
}

// ReadRegistry reads a registry's getters: its data, parameters, catalog, allow-list and oracles.
func ReadRegistry(ctx context.Context, c chain.Client, reg *address.Address) (*Registry, error) {
	acc, err := c.GetAccount(ctx, reg)
	if err != nil {
		return nil, fmt.Errorf("failed to read the registry: %w", err)
	}
	if acc.State != chain.StateActive {
		return nil, fmt.Errorf("%w at %s: the account is %s", ErrNoRegistry, reg.StringRaw(), acc.State)
	}
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	out := &Registry{Address: reg}
	data, err := rc.Data(ctx)
	if err != nil {
		return nil, err
	}
	out.Network, out.OracleEpoch = data.NetworkKind, data.OracleEpoch
	if out.Params, err = rc.Params(ctx); err != nil {
		return nil, err
	}
	if out.Models, err = rc.Models(ctx); err != nil {
		return nil, err
	}
	if out.Measurements, err = rc.Measurements(ctx); err != nil {
		return nil, err
	}
	if out.Oracles, err = rc.Oracles(ctx); err != nil {
		return nil, err
	}
	return out, nil
}

// ReadProvider reads a Provider contract's getters (data, profile, attestation) at the chain's
// time now.
func ReadProvider(ctx context.Context, c chain.Client, reg *Registry, addr *address.Address, now time.Time) (Provider, error) {
	pc := contracts.ProviderClient{Chain: c, Address: addr}
	p := Provider{Address: addr, Prices: map[uint32]payment.Prices{}}
	data, err := pc.Data(ctx)
	if err != nil {
		return p, fmt.Errorf("failed to read provider %s: %w", addr.StringRaw(), err)
	}
	p.Owner, p.Status, p.Stake = data.Owner, data.EffectiveStatus, data.Stake.Nano()
	prof, err := pc.Profile(ctx)
	if err != nil {
		return p, fmt.Errorf("failed to read provider %s: %w", addr.StringRaw(), err)
	}
	p.Endpoint = prof.Endpoint
	for _, e := range prof.Prices {
		p.Prices[e.ModelID] = payment.Prices{Prompt: e.PromptPricePerMillion.Nano(), Completion: e.CompletionPricePerMillion.Nano()}
	}
	if p.Attestation, err = pc.Attestation(ctx); err != nil {
		return p, fmt.Errorf("failed to read provider %s: %w", addr.StringRaw(), err)
	}
	p.Oracles = VotingOracles(reg, p.Attestation, now)
	return p, nil
}

// VotingOracles are the wallets of the live votes for the confirmed claim cast under the
// registry's current oracle epoch, in slot order.
func VotingOracles(reg *Registry, a *contracts.AttestationView, now time.Time) []*address.Address {
	if a == nil || a.OracleEpoch != reg.OracleEpoch {
		return nil
	}
	confirmed, err := contracts.ClaimHash(a.MeasurementHash, a.EvidenceDigest, a.TLSKeyHash)
	if err != nil {
		return nil
	}
	var slots []int
	for _, v := range a.Votes {
		if v.ValidUntil > uint32(now.Unix()) && bytes.Equal(v.ClaimHash, confirmed) {
			slots = append(slots, int(v.Slot))
		}
	}
	sort.Ints(slots)
	var out []*address.Address
	for _, s := range slots {
		if o := reg.OracleBySlot(uint8(s)); o != nil {
			out = append(out, o.Wallet)
		}
	}
	return out
}
