package provider

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// Chain view freshness: a channel's state is refreshed in the background every stateRefresh and
// read again on a request when older than stateMaxAge, or when a check would otherwise fail.
const (
	stateRefresh = 15 * time.Second
	stateMaxAge  = 30 * time.Second
	// unknownTTL remembers an address that is not this provider's channel, so that requests naming
	// it do not each read the chain.
	unknownTTL = 10 * time.Second
)

// errNotOurs is an address that is not a channel of this provider under its registry.
var errNotOurs = errors.New("not a channel of this provider")

// channel is one client's channel: what the chain says about it and the provider's ledger.
type channel struct {
	addr *address.Address
	raw  string
	key  ed25519.PublicKey
	// authKey is key prepared for verifying the channel's request authorizations; keyHex is key
	// in hex (its store record's form).
	authKey *payment.AuthKey
	keyHex  string

	// refreshMu serializes chain reads of the state.
	refreshMu sync.Mutex

	mu sync.Mutex
	// The chain's view. REQUIRES mu.
	state   *contracts.ChannelState
	stateAt time.Time
	// The ledger. REQUIRES mu.
	// INVARIANT: owed only grows and equals the sum of the costs billed on the channel (in the
	// store: channelRecord.Owed plus what in-flight records bill after a crash); reserved is the
	// sum of the maximum costs of the requests admitted and not ended; best is the voucher with the
	// largest amount the client gave (nil: none yet).
	owed       *big.Int
	reserved   *big.Int
	best       *voucher.Signed
	bestHeader string
	// verified is the last voucher whose signature verified that is not best (nil: none), with
	// its header: a request that repeats it is neither decoded nor verified again.
	verified       *voucher.Signed
	verifiedHeader string
	prompt         uint64
	completion     uint64
	receipts       uint64
	inflight       int
	// Rate limiting (token bucket). REQUIRES mu.
	bucket   float64
	bucketAt time.Time
	// Settlement. REQUIRES mu.
	claimBackoff   time.Duration
	nextClaim      time.Time
	unclaimedSince time.Time
	// lastUsed is when a request was last admitted. REQUIRES mu.
	lastUsed time.Time
}

// newChannel is the channel at addr with client key key, its ledger empty.
func newChannel(addr *address.Address, key ed25519.PublicKey) *channel {
	return &channel{addr: addr, raw: addr.StringRaw(), key: key, authKey: payment.NewAuthKey(key), keyHex: hex.EncodeToString(key),
		owed: new(big.Int), reserved: new(big.Int)}
}

// voucherAmount is the best voucher's amount (0 without one). REQUIRES c.mu.
func (c *channel) voucherAmountLocked() *big.Int {
	if c.best == nil {
		return new(big.Int)
	}
	return c.best.Amount
}

// capacityLocked is what the channel can pay in total: on-chain paid + available. REQUIRES c.mu.
func (c *channel) capacityLocked() *big.Int {
	return new(big.Int).Add(c.state.Paid.Nano(), c.state.Available.Nano())
}

// ledgerLocked is the admission rule's view. REQUIRES c.mu.
func (c *channel) ledgerLocked(voucherAmount *big.Int) payment.Ledger {
	return payment.Ledger{Owed: c.owed, Reserved: c.reserved, Voucher: voucherAmount, Capacity: c.capacityLocked()}
}

// record is the channel's store record. REQUIRES c.mu.
func (c *channel) recordLocked() *channelRecord {
	return &channelRecord{Owed: c.owed.String(), Voucher: c.bestHeader, PromptTokens: c.prompt, CompletionTokens: c.completion,
		Receipts: c.receipts, ClientKey: c.keyHex}
}

// takeToken applies the rate limit at now: false when the channel is over it. REQUIRES c.mu.
func (c *channel) takeTokenLocked(now time.Time, rate float64, burst int) bool {
	if c.bucketAt.IsZero() {
		c.bucket, c.bucketAt = float64(burst), now
	}
	c.bucket += now.Sub(c.bucketAt).Seconds() * rate
	c.bucketAt = now
	if c.bucket > float64(burst) {
		c.bucket = float64(burst)
	}
	if c.bucket < 1 {
		return false
	}
	c.bucket--
	return true
}

// channels is every channel the provider knows, with the chain reads that find new ones.
type channels struct {
	p *Provider

	mu sync.Mutex
	// byAddr holds every known channel (from the store at start, then from the chain). REQUIRES mu.
	byAddr map[string]*channel
	// unknown remembers addresses that are not this provider's channels, until a time. REQUIRES mu.
	unknown map[string]time.Time
	// loading holds the chain read in progress for an address. REQUIRES mu.
	loading map[string]*loadCall
}

type loadCall struct {
	done chan struct{}
	ch   *channel
	err  error
}

func newChannels(p *Provider) *channels {
	return &channels{p: p, byAddr: map[string]*channel{}, unknown: map[string]time.Time{}, loading: map[string]*loadCall{}}
}

// all lists the known channels.
func (cs *channels) all() []*channel {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	out := make([]*channel, 0, len(cs.byAddr))
	for _, c := range cs.byAddr {
		out = append(out, c)
	}
	return out
}

// lookup is the known channel at addr, without reading the chain (nil when unknown).
func (cs *channels) lookup(addr *address.Address) *channel {
	cs.mu.Lock()
	defer cs.mu.Unlock()
	return cs.byAddr[addr.StringRaw()]
}

// restore adds a channel from its store record (at start, before serving).
func (cs *channels) restore(raw string, r *channelRecord) error {
	addr, err := address.ParseRawAddr(raw)
	if err != nil {
		return fmt.Errorf("store: channel %q: %w", raw, err)
	}
	key, err := hex.DecodeString(r.ClientKey)
	if err != nil || len(key) != ed25519.PublicKeySize {
		return fmt.Errorf("store: channel %s: bad client key", raw)
	}
	owed, ok := new(big.Int).SetString(r.Owed, 10)
	if !ok {
		return fmt.Errorf("store: channel %s: bad owed %q", raw, r.Owed)
	}
	c := newChannel(addr, key)
	c.owed, c.prompt, c.completion, c.receipts = owed, r.PromptTokens, r.CompletionTokens, r.Receipts
	if r.Voucher != "" {
		v, err := voucher.DecodeHeader(r.Voucher)
		if err != nil {
			return fmt.Errorf("store: channel %s: %w", raw, err)
		}
		c.best, c.bestHeader = &v, r.Voucher
	}
	cs.mu.Lock()
	cs.byAddr[raw] = c
	cs.mu.Unlock()
	return nil
}

// get returns the channel at addr, reading it from the chain the first time: errNotOurs when it is
// not this provider's genuine channel (or not deployed), another error when the chain could not be
// read. The chain state is at most stateMaxAge old.
func (cs *channels) get(ctx context.Context, addr *address.Address) (*channel, error) {
	raw := addr.StringRaw()
	cs.mu.Lock()
	if c, ok := cs.byAddr[raw]; ok {
		cs.mu.Unlock()
		if err := cs.fresh(ctx, c, stateMaxAge); err != nil {
			return nil, err
		}
		return c, nil
	}
	if until, ok := cs.unknown[raw]; ok && cs.p.clock.Now().Before(until) {
		cs.mu.Unlock()
		return nil, errNotOurs
	}
	call, ok := cs.loading[raw]
	if !ok {
		call = &loadCall{done: make(chan struct{})}
		cs.loading[raw] = call
		go func() {
			// Not the request's context: other requests wait for the same read.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
			defer cancel()
			call.ch, call.err = cs.load(rctx, addr)
			cs.mu.Lock()
			delete(cs.loading, raw)
			switch {
			case call.err == nil:
				cs.byAddr[raw] = call.ch
			case errors.Is(call.err, errNotOurs):
				cs.unknown[raw] = cs.p.clock.Now().Add(unknownTTL)
			}
			cs.mu.Unlock()
			close(call.done)
		}()
	}
	cs.mu.Unlock()
	select {
	case <-call.done:
		return call.ch, call.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// load reads a channel the provider has not seen and checks that it is genuine: deployed, its
// registry is this provider's, its provider is this provider's contract, and its address is the
// one the registry's channel code gives for (registry, its client key, this provider).
func (cs *channels) load(ctx context.Context, addr *address.Address) (*channel, error) {
	p := cs.p
	acc, err := p.chain.GetAccount(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s: %w", addr.StringRaw(), err)
	}
	if acc.State != chain.StateActive {
		return nil, fmt.Errorf("%w: no channel is deployed at %s (the account is %s)", errNotOurs, addr.StringRaw(), acc.State)
	}
	if acc.Code == nil || !bytes.Equal(acc.Code.Hash(), p.channelCode.Hash()) {
		return nil, fmt.Errorf("%w: %s does not run the registry's channel code", errNotOurs, addr.StringRaw())
	}
	cc := contracts.ChannelClient{Chain: p.chain, Address: addr}
	data, err := cc.Data(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s: %w", addr.StringRaw(), err)
	}
	if !data.Registry.Equals(p.registry) || !data.Provider.Equals(p.providerAddr) {
		return nil, fmt.Errorf("%w: channel %s is under registry %s for provider %s", errNotOurs, addr.StringRaw(), data.Registry.StringRaw(), data.Provider.StringRaw())
	}
	want, err := contracts.ChannelAddress(p.channelCode, p.registry, data.ClientKey, p.providerAddr)
	if err != nil || !want.Equals(addr) {
		return nil, fmt.Errorf("%w: %s is not the address of the channel of its client key", errNotOurs, addr.StringRaw())
	}
	st, err := cc.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s: %w", addr.StringRaw(), err)
	}
	c := newChannel(addr, ed25519.PublicKey(data.ClientKey))
	c.state, c.stateAt = st, p.clock.Now()
	return c, nil
}

// fresh makes c's chain state at most maxAge old (0: read it now).
func (cs *channels) fresh(ctx context.Context, c *channel, maxAge time.Duration) error {
	c.mu.Lock()
	ok := c.state != nil && maxAge > 0 && cs.p.clock.Since(c.stateAt) <= maxAge
	c.mu.Unlock()
	if ok {
		return nil
	}
	return cs.refresh(ctx, c, maxAge)
}

// refresh reads c's state from the chain, unless another caller did within maxAge while this one
// waited.
func (cs *channels) refresh(ctx context.Context, c *channel, maxAge time.Duration) error {
	start := cs.p.clock.Now()
	c.refreshMu.Lock()
	defer c.refreshMu.Unlock()
	c.mu.Lock()
	done := c.state != nil && !c.stateAt.Before(start) && (maxAge == 0 || cs.p.clock.Since(c.stateAt) <= maxAge)
	c.mu.Unlock()
	if done {
		return nil
	}
	st, err := contracts.ChannelClient{Chain: cs.p.chain, Address: c.addr}.State(ctx)
	if err != nil {
		return fmt.Errorf("failed to read channel %s: %w", c.raw, err)
	}
	c.mu.Lock()
	c.state, c.stateAt = st, cs.p.clock.Now()
	c.mu.Unlock()
	return nil
}

// knownVoucher is the voucher whose header is h if the channel holds it or verified it last:
// well-formed, for this channel and signed by its client key (nil otherwise).
func (c *channel) knownVoucher(h string) *voucher.Signed {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.best != nil && h == c.bestHeader:
		return c.best
	case c.verified != nil && h == c.verifiedHeader:
		return c.verified
	}
	return nil
}

// verifyVoucher checks the signature of v (header h, decoded and for this channel) under the
// channel's client key with the chain's single-signature rule, and remembers it as verified.
func (c *channel) verifyVoucher(h string, v *voucher.Signed) error {
	if err := v.Verify(c.key); err != nil {
		return err
	}
	c.mu.Lock()
	c.verified, c.verifiedHeader = v, h
	c.mu.Unlock()
	return nil
}
