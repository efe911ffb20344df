// Package pay is the client's side of paying providers: its channels (opened on first use with a
// configured deposit, topped up when low, listed, closed and finalized through contracts/ops), the
// vouchers it signs (cumulative, for exactly what is owed, stored in Pebble before they leave the
// process, never two for one amount), the ledger that says what is owed (receipts verified against
// the attested key and the on-chain prices; a provider's view accepted only within a bound after
// a crash or an abandoned stream) and the budgets, per channel and in total.
package pay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/payment"
)

// FeeMargin is kept in the wallet beyond what a message attaches: the wallet's own fees.
var FeeMargin = big.NewInt(50_000_000)

// Config configures a Payer.
type Config struct {
	// Ops reads the chain and sends from the client's wallet (Ops.Sender: its transaction
	// manager). Without a Sender the payer can only use channels that exist.
	Ops   *ops.Ops
	Store *Store
	// Key is the client's channel key: it signs vouchers, requests and close requests.
	Key ed25519.PrivateKey
	// Deposit opens a channel (nanoTON).
	Deposit *big.Int
	// TopUp is added when a channel runs low (nil: Deposit).
	TopUp *big.Int
	// LowWater: a channel whose deposit can pay less than this beyond what is committed is topped
	// up before the next request (nil: a quarter of Deposit).
	LowWater *big.Int
	// ChannelBudget and TotalBudget bound what the client may owe on one channel and on all of
	// them together (nil: no bound).
	ChannelBudget, TotalBudget *big.Int
	// FreshCredit bounds what a provider may claim on a channel the store has no record of (a
	// lost store): one request's credit (nil: Deposit).
	FreshCredit *big.Int
	// Progress receives a line at each step of a chain operation (nil: none).
	Progress func(string)
}

// Payer holds a client's channels. Safe for concurrent use.
type Payer struct {
	cfg Config
	// preparing counts the vouchers being signed ahead of the next request (Prepare).
	preparing sync.WaitGroup
	// sending is held from a balance check to the chain's answer, so the balance checked is still
	// there when the wallet's message executes (concurrent first requests to several providers
	// would otherwise each pass the check and the later opens fail on-chain, fees lost).
	sending sync.Mutex

	mu sync.Mutex
	// ledgers by channel raw address; addrs caches channel addresses by provider owner; capacity
	// is what each channel can pay in total (on-chain paid + available) as last read. REQUIRES mu.
	ledgers  map[string]*Ledger
	addrs    map[string]*address.Address
	capacity map[string]*big.Int
	status   map[string]contracts.ChannelStatus
	// preparingChannel holds one lock per channel, taken while Ensure decides whether to open or
	// top up: concurrent first requests to one provider open its channel once, not once each.
	preparingChannel map[string]*sync.Mutex
}

// New returns a Payer.
func New(cfg Config) (*Payer, error) {
	if cfg.Ops == nil || cfg.Store == nil || len(cfg.Key) != ed25519.PrivateKeySize {
		return nil, errors.New("pay: a payer needs the chain operations, a store and the channel key")
	}
	if cfg.Deposit == nil || cfg.Deposit.Sign() <= 0 {
		return nil, errors.New("pay: the channel deposit must be above 0 TON")
	}
	if cfg.TopUp == nil {
		cfg.TopUp = cfg.Deposit
	}
	if cfg.LowWater == nil {
		cfg.LowWater = new(big.Int).Quo(cfg.Deposit, big.NewInt(4))
	}
	if cfg.FreshCredit == nil {
		cfg.FreshCredit = cfg.Deposit
	}
	return &Payer{cfg: cfg, ledgers: map[string]*Ledger{}, addrs: map[string]*address.Address{},
		capacity: map[string]*big.Int{}, status: map[string]contracts.ChannelStatus{}, preparingChannel: map[string]*sync.Mutex{}}, nil
}

// Prepare signs and syncs the voucher for what a ledger owes now, in the background: the next
// request on its channel finds it ready (pay.Ledger.Prepare).
func (p *Payer) Prepare(l *Ledger) {
	p.preparing.Go(l.Prepare)
}

// Wait returns once every Prepare has finished: call it before closing the store.
func (p *Payer) Wait() { p.preparing.Wait() }

// Key is the channel key's public half.
func (p *Payer) Key() ed25519.PublicKey { return p.cfg.Key.Public().(ed25519.PublicKey) }

// PrivateKey signs requests on the payer's channels.
func (p *Payer) PrivateKey() ed25519.PrivateKey { return p.cfg.Key }

// Store is the payer's store.
func (p *Payer) Store() *Store { return p.cfg.Store }

func (p *Payer) progress(format string, args ...any) {
	if p.cfg.Progress != nil {
		p.cfg.Progress(fmt.Sprintf(format, args...))
	}
}

// ChannelAddress is the channel between the client's key and the provider of owner.
func (p *Payer) ChannelAddress(ctx context.Context, owner *address.Address) (*address.Address, error) {
	p.mu.Lock()
	a := p.addrs[owner.StringRaw()]
	p.mu.Unlock()
	if a != nil {
		return a, nil
	}
	a, err := p.cfg.Ops.ChannelAddress(ctx, p.Key(), owner)
	if err != nil {
		return nil, err
	}
	if a == nil {
		return nil, fmt.Errorf("the registry has no channel code: payment channels are disabled")
	}
	p.mu.Lock()
	p.addrs[owner.StringRaw()] = a
	p.mu.Unlock()
	return a, nil
}

// ledger loads (once) the ledger of a channel.
func (p *Payer) ledger(ch, provider, owner *address.Address) (*Ledger, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.ledgers[ch.StringRaw()]; l != nil {
		return l, nil
	}
	l, err := LoadLedger(p.cfg.Store, ch, provider, owner, p.cfg.Key, p.cfg.FreshCredit)
	if err != nil {
		return nil, err
	}
	p.ledgers[ch.StringRaw()] = l
	return l, nil
}

// Track records the channel to a provider in the store (as its first request would), so that a
// channel opened, topped up or closed by hand is listed with the others.
func (p *Payer) Track(ch, provider, owner *address.Address) error {
	_, err := p.ledger(ch, provider, owner)
	return err
}

// Ledgers are the channels loaded so far.
func (p *Payer) Ledgers() []*Ledger {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]*Ledger, 0, len(p.ledgers))
	for _, l := range p.ledgers {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Channel.StringRaw() < out[j].Channel.StringRaw() })
	return out
}

// readChannel refreshes what the chain says about a channel (ops.ErrNoChannel when it is not
// deployed).
func (p *Payer) readChannel(ctx context.Context, ch *address.Address) (*ops.ChannelView, error) {
	v, err := p.cfg.Ops.ReadChannel(ctx, ch)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	p.capacity[ch.StringRaw()] = new(big.Int).Add(v.State.Paid.Nano(), v.State.Available.Nano())
	p.status[ch.StringRaw()] = v.State.Status
	p.mu.Unlock()
	return v, nil
}

// FundsError is a wallet too poor for a channel operation: nothing was sent.
type FundsError struct {
	What            string
	Wallet          *address.Address
	Balance, Needed *big.Int
}

func (e *FundsError) Error() string {
	return fmt.Sprintf("wallet %s holds %s TON; %s needs %s TON (with %s TON for the wallet's fees): fund the wallet first",
		e.Wallet.String(), payment.FormatTON(e.Balance), e.What, payment.FormatTON(e.Needed), payment.FormatTON(FeeMargin))
}

// ErrNoWallet is a channel operation without a wallet to send from.
var ErrNoWallet = errors.New("no wallet configured to pay from")

// checkFunds refuses an operation the wallet cannot pay for, fees included.
func (p *Payer) checkFunds(ctx context.Context, what string, value *big.Int) error {
	if p.cfg.Ops.Sender == nil {
		return fmt.Errorf("%w: %s needs one", ErrNoWallet, what)
	}
	acc, err := p.cfg.Ops.Chain.GetAccount(ctx, p.cfg.Ops.Sender.Address())
	if err != nil {
		return err
	}
	need := new(big.Int).Add(value, FeeMargin)
	if acc.Balance.Cmp(need) < 0 {
		return &FundsError{What: what, Wallet: p.cfg.Ops.Sender.Address(), Balance: acc.Balance, Needed: need}
	}
	return nil
}

// waiting reports progress while a chain operation runs.
func (p *Payer) waiting(what string) func() {
	if p.cfg.Progress == nil {
		return func() {}
	}
	done := make(chan struct{})
	start := time.Now()
	go func() {
		t := time.NewTicker(3 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.progress("%s: still waiting for the chain (%s)", what, time.Since(start).Round(time.Second))
			}
		}
	}()
	return func() { close(done) }
}

// send runs one channel operation: the wallet checked for value, progress while the chain
// works, the channel's state read again after it.
func (p *Payer) send(ctx context.Context, ch *address.Address, what, failed string, value *big.Int, send func() error) error {
	p.sending.Lock()
	defer p.sending.Unlock()
	if err := p.checkFunds(ctx, what, value); err != nil {
		return err
	}
	p.progress("%s: sending", what)
	stop := p.waiting(what)
	err := send()
	stop()
	if err != nil {
		return fmt.Errorf("failed to %s: %w", failed, err)
	}
	_, err = p.readChannel(ctx, ch)
	p.progress("%s: done", what)
	return err
}

// OpenResult is a channel opened (or added to).
type OpenResult struct {
	Channel *address.Address
	Deposit *big.Int
	Fee     *big.Int
	State   *contracts.ChannelState
}

// Open opens the channel to owner's provider with a deposit (or adds the deposit to it when it
// exists), after checking that the wallet can pay deposit and fee.
func (p *Payer) Open(ctx context.Context, owner *address.Address, deposit *big.Int) (*OpenResult, error) {
	plan, err := p.cfg.Ops.PlanOpen(ctx, ops.OpenInput{ProviderOwner: owner, ClientKey: p.Key(), Deposit: deposit})
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("opening a channel to %s with a deposit of %s TON (fee %s TON)", owner.String(), payment.FormatTON(deposit), payment.FormatTON(plan.Fee))
	var res *ops.ChannelResult
	if err := p.send(ctx, plan.Channel, what, "open a channel", plan.Value, func() (err error) { res, err = p.cfg.Ops.SendOpen(ctx, plan); return err }); err != nil {
		return nil, err
	}
	return &OpenResult{Channel: plan.Channel, Deposit: deposit, Fee: plan.Fee, State: res.After}, nil
}

// TopUp adds amount to a channel's deposit.
func (p *Payer) TopUp(ctx context.Context, ch *address.Address, amount *big.Int) (*contracts.ChannelState, error) {
	plan, err := p.cfg.Ops.PlanTopUp(ctx, ops.TopUpInput{Channel: ch, Amount: amount})
	if err != nil {
		return nil, err
	}
	what := fmt.Sprintf("topping up channel %s by %s TON", ch.String(), payment.FormatTON(amount))
	var res *ops.ChannelResult
	if err := p.send(ctx, ch, what, "top up", amount, func() (err error) { res, err = p.cfg.Ops.SendTopUp(ctx, plan); return err }); err != nil {
		return nil, err
	}
	return res.After, nil
}

// Close starts closing a channel (the deposit left returns after the challenge period, with
// Finalize); refundTo nil is the wallet.
func (p *Payer) Close(ctx context.Context, ch, refundTo *address.Address) (*contracts.ChannelState, error) {
	plan, err := p.cfg.Ops.PlanClose(ctx, ops.CloseInput{Channel: ch, ClientKey: p.cfg.Key, RefundTo: refundTo, KeyName: "the client's channel key"})
	if err != nil {
		return nil, err
	}
	var res *ops.ChannelResult
	if err := p.send(ctx, ch, "closing channel "+ch.String(), "close", plan.Value, func() (err error) { res, err = p.cfg.Ops.SendClose(ctx, plan); return err }); err != nil {
		return nil, err
	}
	return res.After, nil
}

// Finalize ends a close after its challenge period: the deposit left goes to the refund address.
func (p *Payer) Finalize(ctx context.Context, ch *address.Address) (*ops.EndCloseResult, error) {
	plan, err := p.cfg.Ops.PlanFinalize(ctx, ops.FinalizeInput{Channel: ch})
	if err != nil {
		return nil, err
	}
	var res *ops.EndCloseResult
	if err := p.send(ctx, ch, "finalizing channel "+ch.String(), "finalize", plan.Value, func() (err error) { res, err = p.cfg.Ops.SendEndClose(ctx, plan); return err }); err != nil {
		return nil, err
	}
	return res, nil
}

// ErrChannelClosing is a channel that is closing: it pays no new requests.
var ErrChannelClosing = errors.New("channel is closing")

// Ensure returns the ledger of the channel to a provider, ready for a request whose largest cost
// is need: the channel opened when missing (with the configured deposit, or need if larger) and
// topped up when the deposit cannot pay what is committed plus need, or is below the low-water
// mark. It refuses a request the budgets do not allow (ErrBudget) and a wallet too poor
// (*FundsError) before anything is sent.
func (p *Payer) Ensure(ctx context.Context, provider, owner *address.Address, need *big.Int) (*Ledger, error) {
	ch, err := p.ChannelAddress(ctx, owner)
	if err != nil {
		return nil, err
	}
	l, err := p.ledger(ch, provider, owner)
	if err != nil {
		return nil, err
	}
	if err := p.checkTotal(need); err != nil {
		return nil, err
	}
	prep := p.channelLock(ch)
	prep.Lock()
	defer prep.Unlock()
	p.mu.Lock()
	capacity, status := p.capacity[ch.StringRaw()], p.status[ch.StringRaw()]
	p.mu.Unlock()
	if capacity == nil {
		switch _, err := p.readChannel(ctx, ch); {
		case errors.Is(err, ops.ErrNoChannel):
			deposit := new(big.Int).Set(p.cfg.Deposit)
			if need.Cmp(deposit) > 0 {
				deposit.Set(need)
			}
			if _, err := p.Open(ctx, owner, deposit); err != nil {
				return nil, err
			}
		case err != nil:
			return nil, err
		}
		p.mu.Lock()
		capacity, status = p.capacity[ch.StringRaw()], p.status[ch.StringRaw()]
		p.mu.Unlock()
	}
	if status != contracts.ChannelOpen {
		return nil, fmt.Errorf("%w: channel %s is %s", ErrChannelClosing, ch.String(), status)
	}
	left := new(big.Int).Sub(capacity, l.Committed())
	if left.Cmp(need) < 0 || left.Cmp(p.cfg.LowWater) < 0 {
		amount := new(big.Int).Set(p.cfg.TopUp)
		if short := new(big.Int).Sub(need, left); short.Cmp(amount) > 0 {
			amount = short
		}
		if _, err := p.TopUp(ctx, ch, amount); err != nil {
			if left.Cmp(need) < 0 {
				return nil, err
			}
			p.progress("top-up failed, the deposit still covers this request: %v", err)
		}
	}
	return l, nil
}

// channelLock is the lock Ensure holds on ch while it opens or tops it up.
func (p *Payer) channelLock(ch *address.Address) *sync.Mutex {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.preparingChannel[ch.StringRaw()]
	if m == nil {
		m = &sync.Mutex{}
		p.preparingChannel[ch.StringRaw()] = m
	}
	return m
}

// Refresh re-reads a channel's on-chain state (after the provider said the deposit is short).
func (p *Payer) Refresh(ctx context.Context, ch *address.Address) error {
	_, err := p.readChannel(ctx, ch)
	return err
}

// checkTotal refuses a request the total budget does not allow.
func (p *Payer) checkTotal(need *big.Int) error {
	if p.cfg.TotalBudget == nil {
		return nil
	}
	total := new(big.Int).Set(need)
	for _, other := range p.Ledgers() { // l among them: Ensure loaded it
		total.Add(total, other.Committed())
	}
	if total.Cmp(p.cfg.TotalBudget) > 0 {
		return fmt.Errorf("%w: this request may cost up to %s TON, and the total budget of %s TON is committed up to %s TON", ErrBudget,
			payment.FormatTON(need), payment.FormatTON(p.cfg.TotalBudget), payment.FormatTON(new(big.Int).Sub(total, need)))
	}
	return nil
}

// ChannelBudget is the per-channel budget (nil: none).
func (p *Payer) ChannelBudget() *big.Int { return p.cfg.ChannelBudget }

// ChannelInfo is a channel as the store and the chain show it.
type ChannelInfo struct {
	Record ChannelRecord
	// Latest is the newest voucher's amount (0: none).
	Latest *big.Int
	// State is the on-chain state (nil when it could not be read: Err).
	State *contracts.ChannelState
	Err   error
}

// Channels lists the channels in the store with their on-chain state.
func (p *Payer) Channels(ctx context.Context) ([]ChannelInfo, error) {
	recs, err := p.cfg.Store.Channels()
	if err != nil {
		return nil, err
	}
	out := make([]ChannelInfo, 0, len(recs))
	for _, r := range recs {
		ci := ChannelInfo{Record: r, Latest: new(big.Int)}
		ch, err := address.ParseRawAddr(r.Channel)
		if err != nil {
			ci.Err = err
			out = append(out, ci)
			continue
		}
		if l, err := p.cfg.Store.Latest(ch); err == nil && l != nil {
			ci.Latest = l.Amount
		}
		v, err := p.readChannel(ctx, ch)
		if err != nil {
			ci.Err = err
		} else {
			ci.State = v.State
		}
		out = append(out, ci)
	}
	return out, nil
}

// Balance is the wallet's balance.
func (p *Payer) Balance(ctx context.Context) (*chain.Account, error) {
	if p.cfg.Ops.Sender == nil {
		return nil, ErrNoWallet
	}
	return p.cfg.Ops.Chain.GetAccount(ctx, p.cfg.Ops.Sender.Address())
}

// Wallet is the paying wallet's address (nil: none).
func (p *Payer) Wallet() *address.Address {
	if p.cfg.Ops.Sender == nil {
		return nil
	}
	return p.cfg.Ops.Sender.Address()
}
