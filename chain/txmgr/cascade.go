package txmgr

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/txwait"
)

// Follow says how far to follow the transactions a wallet message causes. The zero value follows
// nothing (the outcome holds the wallet's transaction only).
type Follow struct {
	// Until stops following once each of these accounts has a transaction in the cascade (or
	// nothing is left to follow).
	Until []*address.Address
	// All follows every message until the cascade ends.
	All bool
	// MaxDepth bounds the hops below the wallet's transaction (default 16); MaxTxs the
	// transactions (default 256); Timeout the time spent waiting for them (default 2 minutes).
	MaxDepth int
	MaxTxs   int
	Timeout  time.Duration
}

// FollowUntil follows the cascade until each of addrs has a transaction in it.
func FollowUntil(addrs ...*address.Address) Follow { return Follow{Until: addrs} }

// FollowAll follows the whole cascade, within the default bounds.
func FollowAll() Follow { return Follow{All: true} }

func (f Follow) enabled() bool { return f.All || len(f.Until) > 0 }

func (f Follow) withDefaults() Follow {
	if f.MaxDepth <= 0 {
		f.MaxDepth = 16
	}
	if f.MaxTxs <= 0 {
		f.MaxTxs = 256
	}
	if f.Timeout <= 0 {
		f.Timeout = 2 * time.Minute
	}
	return f
}

// ErrNotReached is a transaction the cascade did not (yet) contain.
var ErrNotReached = errors.New("not reached by the cascade")

// Cascade is a wallet transaction and the transactions its messages caused, recursively.
type Cascade struct {
	// Hops lists the transactions, the wallet's first; a hop's parent comes before it.
	Hops []*Hop
	// Complete is true when every message of every hop was followed to its transaction.
	Complete bool
	// Unfollowed counts the messages not followed: still in flight when following stopped (Until
	// reached, timeout), or beyond MaxDepth / MaxTxs.
	Unfollowed int
	// Hidden counts transactions known only by the bounce they sent back: an account that stays
	// nonexistent keeps no history a liteserver or toncenter can list. The bounce's hop then hangs
	// from the hop that sent the bounced message (its Parent), one level deeper than the hidden one.
	Hidden int
	// Err is why following stopped before the cascade ended or Until was reached (the timeout,
	// a chain error), nil otherwise.
	Err error
}

// Hop is one transaction of a cascade.
type Hop struct {
	Account *address.Address
	Tx      *tlb.Transaction
	// Parent is the index in Cascade.Hops of the hop whose message caused this one; -1 for the
	// wallet's transaction. Depth is the number of messages between the wallet and this hop.
	Parent, Depth int
	// In is the internal message that caused the transaction (nil for the wallet's, which an
	// external message caused). Value is what it carried (zero for the wallet's); Bounced says it
	// is a bounce of a message this account sent.
	In      *tlb.InternalMessage
	Value   *big.Int
	Bounced bool
	// Compute and action phase results; Aborted is set when the transaction failed and changed
	// nothing but the balance (fees, a bounce).
	ComputeSkipped bool
	ExitCode       int // compute phase exit code (0 when skipped)
	ActionCode     int // action phase result code (0 when there was none or it succeeded)
	Aborted        bool
	Fees           *big.Int
	// Out are the internal messages the transaction sent: where the money went.
	Out []Payment
}

// Payment is one internal message a hop sent.
type Payment struct {
	To      *address.Address
	Value   *big.Int
	Bounce  bool
	Bounced bool
	Body    *cell.Cell
	// CreatedLT with the sender's address identifies the message: the receiving transaction's
	// inbound message has the same pair.
	CreatedLT uint64
}

// HopError is a hop whose transaction failed.
type HopError struct {
	Account        *address.Address
	LT             uint64
	ComputeSkipped bool
	ExitCode       int
	ActionCode     int
}

func (e *HopError) Error() string {
	switch {
	case e.ComputeSkipped:
		return fmt.Sprintf("transaction lt %d on %s: compute phase skipped", e.LT, e.Account.StringRaw())
	case e.ExitCode != 0 && e.ExitCode != 1:
		return fmt.Sprintf("transaction lt %d on %s: exit code %d", e.LT, e.Account.StringRaw(), e.ExitCode)
	default:
		return fmt.Sprintf("transaction lt %d on %s: action phase result code %d", e.LT, e.Account.StringRaw(), e.ActionCode)
	}
}

// Err is nil when the hop's transaction succeeded, else a *HopError.
func (h *Hop) Err() error {
	if !h.Aborted && !h.ComputeSkipped && (h.ExitCode == 0 || h.ExitCode == 1) && h.ActionCode == 0 {
		return nil
	}
	return &HopError{Account: h.Account, LT: h.Tx.LT, ComputeSkipped: h.ComputeSkipped, ExitCode: h.ExitCode, ActionCode: h.ActionCode}
}

func newHop(acc *address.Address, tx *tlb.Transaction, parent, depth int) *Hop {
	h := &Hop{Account: acc, Tx: tx, Parent: parent, Depth: depth, Value: new(big.Int), Fees: tx.TotalFees.Coins.Nano()}
	if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
		h.In = tx.IO.In.AsInternal()
		h.Value = h.In.Amount.Nano()
		h.Bounced = h.In.Bounced
	}
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if ok {
		h.Aborted = d.Aborted
		switch ph := d.ComputePhase.Phase.(type) {
		case tlb.ComputePhaseVM:
			h.ExitCode = int(ph.Details.ExitCode)
		case tlb.ComputePhaseSkipped:
			h.ComputeSkipped = true
		}
		if d.ActionPhase != nil && !d.ActionPhase.Success {
			h.ActionCode = int(d.ActionPhase.ResultCode)
			if h.ActionCode == 0 {
				h.ActionCode = -1 // failed without a result code
			}
		}
	}
	if tx.IO.Out != nil {
		if msgs, err := tx.IO.Out.ToSlice(); err == nil {
			for i := range msgs {
				if msgs[i].MsgType != tlb.MsgTypeInternal {
					continue
				}
				m := msgs[i].AsInternal()
				h.Out = append(h.Out, Payment{To: m.DstAddr, Value: m.Amount.Nano(), Bounce: m.Bounce, Bounced: m.Bounced, Body: m.Body, CreatedLT: m.CreatedLT})
			}
		}
	}
	return h
}

// Find returns the first hop on addr, or nil.
func (c *Cascade) Find(addr *address.Address) *Hop {
	if c == nil {
		return nil
	}
	for _, h := range c.Hops {
		if h.Account.Equals(addr) {
			return h
		}
	}
	return nil
}

// Path walks the cascade from the wallet's transaction: the hop on addrs[0] caused by the wallet,
// then the hop on addrs[1] caused by that one, and so on. It returns the hops reached, a prefix of
// addrs' length (fewer when a hop is missing).
func (c *Cascade) Path(addrs ...*address.Address) []*Hop {
	if c == nil || len(c.Hops) == 0 {
		return nil
	}
	var out []*Hop
	parent := 0
	for _, a := range addrs {
		next := -1
		for i, h := range c.Hops {
			if h.Parent == parent && h.Account.Equals(a) {
				next = i
				break
			}
		}
		if next < 0 {
			return out
		}
		out = append(out, c.Hops[next])
		parent = next
	}
	return out
}

// Received sums the value the cascade's messages brought to addr (bounced value included).
func (c *Cascade) Received(addr *address.Address) *big.Int {
	sum := new(big.Int)
	if c == nil {
		return sum
	}
	for _, h := range c.Hops {
		if h.In != nil && h.Account.Equals(addr) {
			sum.Add(sum, h.Value)
		}
	}
	return sum
}

// inFlight is a message of the cascade not yet matched to its transaction.
type inFlight struct {
	parent, depth int
	src, dst      *address.Address
	createdLT     uint64
	bounce        bool
	// scanned is the destination's last transaction LT when it was last searched for this message.
	scanned uint64
}

// FollowCascade follows the messages root (a transaction of account at) sent, recursively, as f
// says, polling every poll. A message's transaction is the destination's transaction whose inbound
// internal message has the message's source and created LT: exactly one per message, and found
// through GetAccount and GetTransactions alone (toncenter v2, a liteserver, the devnet). Following
// never fails: what was not found is counted in Unfollowed, and why it stopped is in Err.
func FollowCascade(ctx context.Context, c txwait.Client, at *address.Address, root *tlb.Transaction, f Follow, poll time.Duration) *Cascade {
	f = f.withDefaults()
	if poll <= 0 {
		poll = time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, f.Timeout)
	defer cancel()
	cas := &Cascade{Hops: []*Hop{newHop(at, root, -1, 0)}}
	pending := outgoing(cas.Hops[0], 0)
	for {
		var keep []inFlight
		for _, p := range pending {
			if p.depth > f.MaxDepth {
				cas.Unfollowed++
				continue
			}
			keep = append(keep, p)
		}
		pending = keep
		if len(pending) == 0 {
			cas.Complete = cas.Unfollowed == 0
			return cas
		}
		if !f.All && reachedAll(cas, f.Until) {
			cas.Unfollowed += len(pending)
			return cas
		}
		if len(cas.Hops) >= f.MaxTxs {
			cas.Unfollowed += len(pending)
			return cas
		}
		found, err := matchInFlight(ctx, c, pending, cas)
		if err != nil && ctx.Err() == nil {
			// A chain error: try again next round.
			cas.Err = err
		}
		var rest []inFlight
		progressed := false
		for i, p := range pending {
			f := found[i]
			switch {
			case f.tx != nil:
				cas.Hops = append(cas.Hops, newHop(p.dst, f.tx, p.parent, p.depth))
			case f.bounce != nil:
				cas.Hidden++
				cas.Hops = append(cas.Hops, newHop(p.src, f.bounce, p.parent, p.depth+1))
			default:
				rest = append(rest, p)
				continue
			}
			progressed = true
			rest = append(rest, outgoing(cas.Hops[len(cas.Hops)-1], len(cas.Hops)-1)...)
		}
		pending = rest
		if progressed {
			cas.Err = nil
			continue
		}
		t := time.NewTimer(poll)
		select {
		case <-ctx.Done():
			t.Stop()
			cas.Unfollowed += len(pending)
			cas.Err = fmt.Errorf("stopped following the cascade with %d messages in flight: %w", len(pending), ctx.Err())
			return cas
		case <-t.C:
		}
	}
}

func reachedAll(cas *Cascade, until []*address.Address) bool {
	for _, a := range until {
		if cas.Find(a) == nil {
			return false
		}
	}
	return true
}

// outgoing lists hop's internal messages as messages to follow.
func outgoing(h *Hop, index int) []inFlight {
	out := make([]inFlight, 0, len(h.Out))
	for _, p := range h.Out {
		if p.To == nil || p.To.Type() != address.StdAddress {
			continue
		}
		out = append(out, inFlight{parent: index, depth: h.Depth + 1, src: h.Account, dst: p.To, createdLT: p.CreatedLT, bounce: p.Bounce})
	}
	return out
}

// match is what one look found for a message: its transaction, or (hidden destination) the
// transaction of its bounce back at the source.
type match struct {
	tx, bounce *tlb.Transaction
}

// matchInFlight looks once for each message's transaction (found[i] is empty when pending[i] has
// none yet). Each destination is read once per call, and listed only when it has transactions a
// message of it has not been searched against (pending[i].scanned records that). A bounceable
// message to an account that shows no transaction at all may have bounced off a nonexistent account
// whose history no liteserver keeps: the source is searched for that bounce instead.
func matchInFlight(ctx context.Context, c txwait.Client, pending []inFlight, cas *Cascade) ([]match, error) {
	found := make([]match, len(pending))
	byDst := map[string][]int{}
	var order []string
	for i, p := range pending {
		k := p.dst.StringRaw()
		if _, ok := byDst[k]; !ok {
			order = append(order, k)
		}
		byDst[k] = append(byDst[k], i)
	}
	var errs []error
	for _, k := range order {
		idx := byDst[k]
		dst := pending[idx[0]].dst
		acc, err := c.GetAccount(ctx, dst)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if acc.LastTxLT == 0 {
			for _, i := range idx {
				if pending[i].bounce {
					b, err := findBounce(ctx, c, pending[i], cas)
					if err != nil {
						errs = append(errs, err)
					}
					found[i].bounce = b
				}
			}
			continue
		}
		// Each message's transaction has an LT above the message's created LT; a message already
		// searched up to the account's last transaction needs no new listing.
		low, fresh := uint64(0), false
		for n, i := range idx {
			if n == 0 || pending[i].createdLT < low {
				low = pending[i].createdLT
			}
			fresh = fresh || pending[i].scanned != acc.LastTxLT
		}
		if acc.LastTxLT <= low || !fresh {
			continue
		}
		txs, err := txwait.Above(ctx, c, dst, low, acc.LastTxLT, acc.LastTxHash, 16)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, i := range idx {
			pending[i].scanned = acc.LastTxLT
			p := pending[i]
			for _, tx := range txs {
				if in := internalIn(tx); in != nil && in.CreatedLT == p.createdLT && in.SrcAddr != nil && in.SrcAddr.Equals(p.src) {
					found[i].tx = tx
					break
				}
			}
		}
	}
	return found, errors.Join(errs...)
}

// findBounce looks at p's source for the oldest bounce from p's destination created after p that no
// hop of cas holds yet.
func findBounce(ctx context.Context, c txwait.Client, p inFlight, cas *Cascade) (*tlb.Transaction, error) {
	acc, err := c.GetAccount(ctx, p.src)
	if err != nil || acc.LastTxLT <= p.createdLT {
		return nil, err
	}
	txs, err := txwait.Above(ctx, c, p.src, p.createdLT, acc.LastTxLT, acc.LastTxHash, 16)
	if err != nil {
		return nil, err
	}
	for i := len(txs) - 1; i >= 0; i-- {
		in := internalIn(txs[i])
		if in == nil || !in.Bounced || in.SrcAddr == nil || !in.SrcAddr.Equals(p.dst) || in.CreatedLT <= p.createdLT || cas.has(txs[i]) {
			continue
		}
		return txs[i], nil
	}
	return nil, nil
}

func internalIn(tx *tlb.Transaction) *tlb.InternalMessage {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return nil
	}
	return tx.IO.In.AsInternal()
}

func (c *Cascade) has(tx *tlb.Transaction) bool {
	for _, h := range c.Hops {
		if string(h.Tx.Hash) == string(tx.Hash) {
			return true
		}
	}
	return false
}
