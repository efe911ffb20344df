package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/discover"
)

// registryView is what the oracle last read from the registry.
type registryView struct {
	data   *contracts.RegistryData
	params *contracts.RegistryParams
	// allowed is the allow-list as the verifier takes it (sim entries only when sim is allowed).
	allowed  map[[32]byte]attest.Kind
	allowSim bool
	// verifier checks evidence against allowed; nil while the registry allows no measurement.
	verifier *attest.Verifier
	// me is the registry's entry for the oracle's wallet (Found false: not an oracle).
	me *contracts.OracleLookup
	// keyMatches: the registry lists the oracle's own ed25519 key.
	keyMatches bool
}

func (r registryView) membershipErr() error {
	switch {
	case r.me == nil:
		return errors.New("the registry has not been read yet")
	case !r.me.Found:
		return errors.New("the wallet is not in the registry's oracle set (governance adds it with 'cocoon registry add-oracle'): no votes, no roots")
	case !r.keyMatches:
		return fmt.Errorf("the registry lists key %x for this oracle, not this oracle's key: clients will refuse its signed tables", r.me.PublicKey)
	}
	return nil
}

// providerState is the oracle's view of one Provider contract. REQUIRES: Oracle.mu held for every
// field except rec and addr, which never change.
type providerState struct {
	rec  providerRecord
	addr *address.Address

	// busy: a check or probe of it is running (at most one at a time).
	busy bool

	// From the last check.
	nextCheck   time.Time
	lastCheck   time.Time
	checkResult string // "ok", "ineligible", "unreachable", "refused", "" before the first
	checkErr    string
	endpoint    string
	eligible    bool
	claim       *claimInfo // the claim the last successful check verified

	// Probes.
	nextProbe time.Time
	failures  int       // consecutive failed probes
	downSince time.Time // when the current run of failures began (zero while up)
	lastProbe time.Time
	probeErr  string
}

// claimInfo is a verified claim.
type claimInfo struct {
	Kind           attest.Kind
	Measurement    [32]byte
	EvidenceDigest [32]byte
	TLSKeyHash     [32]byte
}

// addProviderLocked adds a provider found in the registry's transactions (once).
// REQUIRES: o.mu held.
func (o *Oracle) addProviderLocked(r providerRecord) {
	if _, ok := o.providers[r.Provider]; ok {
		return
	}
	a, err := address.ParseRawAddr(r.Provider)
	if err != nil {
		o.log.Warn("ignoring a stored provider with a bad address", "provider", r.Provider, "err", err)
		return
	}
	now := o.clock.Now()
	o.providers[r.Provider] = &providerState{rec: r, addr: a, nextCheck: now, nextProbe: now}
}

// follow reads the registry every Refresh: new providers, the allow-list, the parameters, the
// oracle's own entry and the wallet's balance.
func (o *Oracle) follow(ctx context.Context) error {
	return o.every(ctx, o.cfg.Refresh, false, func(ctx context.Context) {
		if err := o.refresh(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("registry refresh failed", "err", err)
		}
	})
}

// every runs fn every d on the daemon's clock (first at once when now) until ctx ends.
func (o *Oracle) every(ctx context.Context, d time.Duration, now bool, fn func(ctx context.Context)) error {
	t := o.clock.NewTicker(d)
	defer t.Stop()
	if now {
		fn(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			fn(ctx)
		}
	}
}

// refresh reads everything follow reads once.
func (o *Oracle) refresh(ctx context.Context) error {
	err := o.refreshOnce(ctx)
	o.mu.Lock()
	o.refreshErr = err
	if err == nil {
		o.refreshed = o.clock.Now()
	}
	o.mu.Unlock()
	return err
}

func (o *Oracle) refreshOnce(ctx context.Context) error {
	cur, err := o.st.cursor()
	if err != nil {
		return err
	}
	regs, next, err := discover.Scan(ctx, o.chain, o.registry, cur, 0)
	if err != nil {
		return fmt.Errorf("failed to scan the registry's transactions: %w", err)
	}
	var recs []providerRecord
	seen := map[string]bool{}
	for _, r := range regs {
		raw := r.Provider.StringRaw()
		if seen[raw] {
			continue
		}
		seen[raw] = true
		recs = append(recs, providerRecord{Provider: raw, Owner: r.Owner.StringRaw(), FoundLT: r.LT})
	}
	if next.LT != cur.LT || !bytes.Equal(next.Hash, cur.Hash) {
		if err := o.st.addProviders(recs, next); err != nil {
			return err
		}
	}

	rc := contracts.RegistryClient{Chain: o.chain, Address: o.registry}
	var v registryView
	if v.data, err = rc.Data(ctx); err != nil {
		return err
	}
	if v.params, err = rc.Params(ctx); err != nil {
		return err
	}
	ms, err := rc.Measurements(ctx)
	if err != nil {
		return err
	}
	if v.me, err = rc.Oracle(ctx, o.wallet.Address()); err != nil {
		return err
	}
	v.keyMatches = v.me.Found && bytes.Equal(v.me.PublicKey, o.key.Public().(ed25519.PublicKey))
	v.allowSim = o.cfg.AllowSim && v.data.NetworkKind == contracts.NetworkDevnet
	v.allowed = map[[32]byte]attest.Kind{}
	for _, m := range ms {
		if m.Kind == contracts.MeasurementSim && !v.allowSim {
			continue
		}
		v.allowed[[32]byte(m.Hash)] = attest.Kind(m.Kind)
	}
	acc, err := o.chain.GetAccount(ctx, o.wallet.Address())
	if err != nil {
		return fmt.Errorf("failed to read the wallet's balance: %w", err)
	}
	low := acc.Balance.Cmp(o.minBalance) < 0
	bal, _ := acc.Balance.Float64()
	o.m.RecordBalance(bal, low)

	o.mu.Lock()
	defer o.mu.Unlock()
	if low && (o.balance == nil || o.balance.Cmp(o.minBalance) >= 0) {
		o.log.Warn("the oracle wallet's balance is low: votes and roots will start failing", "balance", fmt.Sprint(acc.Balance), "min", fmt.Sprint(o.minBalance))
	}
	o.balance = acc.Balance
	// One verifier for the daemon's life: its allow-list is swapped in place (its certificate cache
	// drops what the old list accepted).
	v.verifier = o.reg.verifier
	switch {
	case len(v.allowed) == 0:
		v.verifier = nil
	case v.verifier == nil || o.reg.allowSim != v.allowSim:
		pol := attest.Policy{Allowed: v.allowed, AllowSim: v.allowSim, Roots: o.roots, TDXCollateral: o.collateral}
		if v.verifier, err = attest.NewVerifier(pol); err != nil {
			return err
		}
	default:
		v.verifier.SetAllowed(v.allowed)
	}
	if err := v.membershipErr(); err != nil && fmt.Sprint(err) != fmt.Sprint(o.reg.membershipErr()) {
		o.log.Warn("the oracle cannot vote or commit", "problem", err)
	}
	o.reg = v
	for _, r := range recs {
		o.addProviderLocked(r)
	}
	if len(recs) > 0 {
		o.log.Info("found providers", "new", len(recs), "known", len(o.providers))
	}
	verified := 0
	for _, p := range o.providers {
		if p.checkResult == "ok" {
			verified++
		}
	}
	o.m.RecordProviders(len(o.providers), verified)
	return nil
}

// registry is a snapshot of the registry view.
func (o *Oracle) registryView() registryView {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.reg
}
