package pay

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"sync"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// Errors of the payment state.
var (
	// ErrSecondVoucher is an attempt to sign a second, different voucher for an amount already
	// signed: it never happens by design, and the store refuses it.
	ErrSecondVoucher = errors.New("a second voucher for one amount")
	// ErrOverclaim is a provider asking more than its receipts and the client's bound justify.
	ErrOverclaim = errors.New("provider claims more than its receipts justify")
	// ErrBudget is a request the configured budgets do not allow.
	ErrBudget = errors.New("budget exceeded")
)

// Ledger is the client's account of one channel: what it owes (justified by verified receipts),
// the newest voucher it signed, and the requests sent without a receipt yet.
//
// The rule it keeps: the client signs vouchers for exactly what it owes, and owes only what
// receipts justify, plus — for requests that ended without a receipt (a stream the app left, a
// crash) — at most each such request's cap (Cap: its largest possible cost). Requests on one
// channel are serialized (Acquire), so no voucher is signed ahead for concurrent requests: the
// admission rule (payment.Admit: owed + reserved <= voucher) then only ever needs owed.
//
// The voucher for what a receipt brings the total to is signed and written to the store's journal
// as soon as the receipt is booked (Prepare), off the next request's path; no voucher leaves before
// it is in the journal (a killed process keeps it; the journal's fsync follows within 5 ms, and
// after a host crash that lost it the provider's copy is adopted: Resync). The request's own record (its cap) is written unsynced, so
// after a restart the ledger allows, once, one request of credit (the admission rule's bound on
// what a provider can have served beyond the newest voucher) for a record the crash may have lost.
type Ledger struct {
	Channel *address.Address
	// Provider and Owner name whom the channel pays.
	Provider, Owner *address.Address

	key   ed25519.PrivateKey
	store *Store
	// turn serializes requests on the channel (a one-token semaphore).
	turn chan struct{}
	// freshCredit bounds a provider's view of a channel the store has no record of.
	freshCredit *big.Int

	mu sync.Mutex
	// The state below is written to the store before it changes here. REQUIRES mu.
	rec       ChannelRecord
	owed      *big.Int
	latest    *voucher.Signed
	unsettled map[string]*big.Int
	// pending are unsettled requests not written yet: they go to the store with the request's
	// voucher when it is signed then (synced), else unsynced.
	pending []string
	// credit: the store may lack what a crash (or a lost store) took, so one request of credit
	// (freshCredit) is allowed until the provider's total is next accepted.
	credit bool
	// preparing is closed when the voucher Prepare is writing is in the store (nil: none in
	// flight). Prepare writes without holding mu, so reading the ledger (Ensure, Committed, the
	// status) never waits for it; what signs or stores a voucher (Voucher, Resync) waits for it
	// first, so one amount is still never signed twice.
	preparing chan struct{}
}

// LoadLedger loads (or starts) a channel's ledger from the store. freshCredit bounds what a
// provider may claim beyond what the store justifies after a restart or on a channel the store knows
// nothing about (one request's credit).
func LoadLedger(s *Store, ch, provider, owner *address.Address, key ed25519.PrivateKey, freshCredit *big.Int) (*Ledger, error) {
	l := &Ledger{Channel: ch, Provider: provider, Owner: owner, key: key, store: s, turn: make(chan struct{}, 1), freshCredit: freshCredit, credit: true}
	rec, err := s.Channel(ch)
	if err != nil {
		return nil, err
	}
	if rec == nil {
		rec = &ChannelRecord{Channel: ch.StringRaw(), Provider: provider.StringRaw(), Owed: "0"}
		if owner != nil {
			rec.Owner = owner.StringRaw()
		}
		if err := s.PutChannel(rec); err != nil {
			return nil, err
		}
	}
	l.rec = *rec
	var ok bool
	if l.owed, ok = new(big.Int).SetString(rec.Owed, 10); !ok {
		return nil, fmt.Errorf("corrupt channel record %s: owed %q", ch.StringRaw(), rec.Owed)
	}
	if l.latest, err = s.Latest(ch); err != nil {
		return nil, err
	}
	if l.unsettled, err = s.Unsettled(ch); err != nil {
		return nil, err
	}
	return l, nil
}

// Acquire takes the channel's turn: one request at a time.
func (l *Ledger) Acquire(ctx context.Context) error {
	select {
	case l.turn <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Release gives the turn back.
func (l *Ledger) Release() { <-l.turn }

// Busy reports whether a request holds the turn.
func (l *Ledger) Busy() bool { return len(l.turn) > 0 }

// Owed is what the client accepts it owes.
func (l *Ledger) Owed() *big.Int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return new(big.Int).Set(l.owed)
}

// Latest is the newest voucher signed (nil: none).
func (l *Ledger) Latest() *voucher.Signed {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.latest
}

// Committed is the most the channel can come to owe by what the client signed or may accept: the
// larger of the newest voucher and what is owed, plus the caps of unsettled requests.
func (l *Ledger) Committed() *big.Int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.committedLocked()
}

// REQUIRES: l.mu held.
func (l *Ledger) committedLocked() *big.Int {
	c := new(big.Int).Set(l.owed)
	if l.latest != nil && l.latest.Amount.Cmp(c) > 0 {
		c.Set(l.latest.Amount)
	}
	for _, v := range l.unsettled {
		c.Add(c, v)
	}
	return c
}

// Record is the channel's record as stored.
func (l *Ledger) Record() ChannelRecord {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.rec
}

// Voucher returns the voucher to send with the next request: one for exactly what is owed,
// signed now unless the newest voucher already covers it (Prepare usually signed it). A voucher
// signed here is stored with the requests begun since the last write in one write before it is
// returned (in the journal: a killed process keeps it). An amount is never signed twice.
// REQUIRES the turn.
func (l *Ledger) Voucher() (*voucher.Signed, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitPreparedLocked()
	sv, fresh, err := l.voucherLocked()
	if err != nil {
		return nil, err
	}
	if fresh || len(l.pending) > 0 {
		err := l.store.Write(false, func(w *Writes) error {
			for _, id := range l.pending {
				if c := l.unsettled[id]; c != nil {
					if err := w.Unsettled(l.Channel, id, c); err != nil {
						return err
					}
				}
			}
			if fresh {
				return w.Voucher(sv)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		l.pending = nil
	}
	l.latest = sv
	return sv, nil
}

// voucherLocked is the voucher for what is owed: the newest when it covers it, one already stored
// for the amount, or a new one (fresh: not stored yet). REQUIRES l.mu.
func (l *Ledger) voucherLocked() (sv *voucher.Signed, fresh bool, err error) {
	if l.latest != nil && l.latest.Amount.Cmp(l.owed) >= 0 {
		return l.latest, false, nil
	}
	// One amount, one voucher: a voucher already stored for it is sent again as it is.
	old, err := l.store.Voucher(l.Channel, l.owed)
	if err != nil || old != nil {
		return old, false, err
	}
	v := voucher.Voucher{Channel: l.Channel, Amount: new(big.Int).Set(l.owed), PromptTokens: l.rec.Prompt, CompletionTokens: l.rec.Completion}
	s, err := v.Sign(l.key)
	if err != nil {
		return nil, false, err
	}
	return &s, true, nil
}

// waitPreparedLocked waits until no voucher Prepare signed is being written. REQUIRES l.mu
// (released while waiting).
func (l *Ledger) waitPreparedLocked() {
	for l.preparing != nil {
		done := l.preparing
		l.mu.Unlock()
		<-done
		l.mu.Lock()
	}
}

// Prepare signs and stores the voucher for what is owed now, so the next request finds it ready.
// The write runs without the ledger's lock (see preparing). Errors are left for Voucher to meet
// again.
func (l *Ledger) Prepare() {
	l.mu.Lock()
	l.waitPreparedLocked()
	sv, fresh, err := l.voucherLocked()
	if err != nil || !fresh {
		l.mu.Unlock()
		return
	}
	done := make(chan struct{})
	l.preparing = done
	l.mu.Unlock()
	err = l.store.Write(false, func(w *Writes) error { return w.Voucher(sv) })
	l.mu.Lock()
	if err == nil && (l.latest == nil || sv.Amount.Cmp(l.latest.Amount) > 0) {
		l.latest = sv
	}
	l.preparing = nil
	close(done)
	l.mu.Unlock()
}

// Begin records a request about to be sent, with its cap: the bound for a crash before its
// receipt. It is written with the request's voucher (Voucher), before the request leaves.
// REQUIRES the turn.
func (l *Ledger) Begin(id string, cap *big.Int, budget *big.Int) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if budget != nil {
		if need := new(big.Int).Add(l.committedLocked(), cap); need.Cmp(budget) > 0 {
			return fmt.Errorf("%w: this request may cost up to %s TON, and the channel's budget of %s TON allows %s TON more", ErrBudget,
				payment.FormatTON(cap), payment.FormatTON(budget), payment.FormatTON(new(big.Int).Sub(budget, l.committedLocked())))
		}
	}
	l.unsettled[id] = new(big.Int).Set(cap)
	l.pending = append(l.pending, id)
	return nil
}

// settledLocked removes requests from the store's unsettled ones (in w). REQUIRES l.mu.
func (l *Ledger) settledLocked(w *Writes, ids ...string) error {
	for _, id := range ids {
		if err := w.Settled(l.Channel, id); err != nil {
			return err
		}
	}
	return nil
}

// forgetLocked removes requests from the unsettled ones in memory. REQUIRES l.mu.
func (l *Ledger) forgetLocked(ids ...string) {
	for _, id := range ids {
		delete(l.unsettled, id)
		for i, p := range l.pending {
			if p == id {
				l.pending = append(l.pending[:i], l.pending[i+1:]...)
				break
			}
		}
	}
}

// Cancel settles a request the provider refused or failed before its first token: nothing is owed
// for it.
func (l *Ledger) Cancel(id string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.store.Write(false, func(w *Writes) error { return l.settledLocked(w, id) }); err != nil {
		return err
	}
	l.forgetLocked(id)
	return nil
}

// Settle books a verified receipt for request id: what is owed becomes the receipt's total when
// it is at most what the client owed, plus this answer's cost, plus the caps of the channel's
// earlier unsettled requests (their answers are then in the provider's total); a larger total is
// ErrOverclaim, and then only the receipt's own cost is booked.
func (l *Ledger) Settle(id string, r *payment.Receipt) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	base := new(big.Int).Add(l.owed, r.Cost)
	bound := new(big.Int).Set(base)
	for other, c := range l.unsettled {
		if other != id {
			bound.Add(bound, c)
		}
	}
	if l.credit && l.freshCredit != nil {
		bound.Add(bound, l.freshCredit)
	}
	rec := l.rec
	rec.Prompt += r.PromptTokens
	rec.Completion += r.CompletionTokens
	var over error
	owed := new(big.Int).Set(r.Owed)
	clearAll := false
	switch {
	case owed.Cmp(bound) > 0:
		over = fmt.Errorf("%w: the receipt says %s nanoTON are owed in total, but the receipts so far and this answer come to %s (at most %s with the unsettled requests)",
			ErrOverclaim, r.Owed, base, bound)
		owed = base
	case owed.Cmp(base) > 0:
		clearAll = true
	}
	rec.Owed = owed.String()
	done := []string{id}
	if clearAll {
		done = done[:0]
		for other := range l.unsettled {
			done = append(done, other)
		}
	}
	// Not synced: a crash that loses it leaves the request unsettled, within its cap.
	err := l.store.Write(false, func(w *Writes) error {
		if err := w.Channel(&rec); err != nil {
			return err
		}
		return l.settledLocked(w, done...)
	})
	if err != nil {
		return err
	}
	l.forgetLocked(done...)
	l.rec, l.owed = rec, owed
	if over == nil {
		l.credit = false
	}
	return over
}

// View is a provider's view of the channel (GET /cocoon/v1/channels/<addr>).
type View struct {
	Owed, Reserved *big.Int
	// Voucher is the newest voucher the provider holds (nil: none).
	Voucher                  *voucher.Signed
	PromptTokens, Completion uint64
}

// Resync accepts a provider's view of what the channel owes, within the client's bound: the
// larger of what it owes and its newest voucher (the provider's copy of it included: a voucher
// the provider holds that verifies under the channel key is one the client signed, and is adopted
// when the store lost it), plus the caps of the unsettled requests, plus one request's credit
// after a restart (what the store may have lost). Beyond that it is ErrOverclaim and nothing
// changes.
func (l *Ledger) Resync(v View) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.waitPreparedLocked()
	if v.Voucher != nil {
		if !v.Voucher.Channel.Equals(l.Channel) || v.Voucher.Verify(l.key.Public().(ed25519.PublicKey)) != nil {
			return fmt.Errorf("%w: the provider's voucher is not one this client signed for the channel", ErrOverclaim)
		}
		if l.latest == nil || v.Voucher.Amount.Cmp(l.latest.Amount) > 0 {
			cp := *v.Voucher
			cp.Voucher = v.Voucher.Voucher.Copy()
			if err := l.store.PutVoucher(&cp); err != nil {
				return err
			}
			l.latest = &cp
		}
	}
	bound := l.committedLocked()
	if l.credit && l.freshCredit != nil {
		bound.Add(bound, l.freshCredit)
	}
	if v.Owed.Cmp(bound) > 0 {
		return fmt.Errorf("%w: the provider says %s nanoTON are owed; the client's receipts and unsettled requests allow at most %s", ErrOverclaim, v.Owed, bound)
	}
	rec := l.rec
	if v.Owed.Cmp(l.owed) > 0 {
		rec.Owed = v.Owed.String()
	}
	rec.Prompt, rec.Completion = max(rec.Prompt, v.PromptTokens), max(rec.Completion, v.Completion)
	var all []string
	for id := range l.unsettled {
		all = append(all, id)
	}
	err := l.store.Write(true, func(w *Writes) error {
		if err := w.Channel(&rec); err != nil {
			return err
		}
		return l.settledLocked(w, all...)
	})
	if err != nil {
		return err
	}
	l.forgetLocked(all...)
	owed, _ := new(big.Int).SetString(rec.Owed, 10)
	l.rec, l.owed, l.credit = rec, owed, false
	return nil
}

// Drop records that the provider was dropped on this channel, and why.
func (l *Ledger) Drop(reason string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	rec := l.rec
	rec.Dropped = reason
	if err := l.store.PutChannel(&rec); err != nil {
		return err
	}
	l.rec = rec
	return nil
}
