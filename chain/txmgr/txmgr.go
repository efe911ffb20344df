// Package txmgr is the one way off-chain code writes to TON: a transaction manager per wallet,
// after op-service's txmgr. A Manager owns its wallet's seqno and sends one message at a time
// (Send calls from many goroutines queue), each valid for a window on the chain's clock; it waits
// for the wallet transaction that carries the message (found by the signed body's hash), re-signs
// when the message expired unincluded or another sender took its seqno, and follows the cascade the
// message caused (Follow). Requests carry a key: the journal records every signed message before it
// is submitted, so a request survives a crash of its process without a duplicate transfer, and a
// request sent again with a key that completed returns the recorded outcome.
//
// Safety rests on one rule. All messages of a request are signed either at the same seqno (at most
// one of them can ever be included) or at a higher seqno observed together with every wallet
// transaction up to it, none of which carried a message of the request (so none of the earlier
// messages can still be included). Nothing else is needed for "exactly once": not the wall clock,
// not the block time, not the node's mempool.
package txmgr

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Errors of the manager.
var (
	// ErrBadRequest is a request or configuration the manager refuses before signing anything.
	ErrBadRequest = errors.New("invalid transaction request")
	// ErrKeyConflict is a key already used for a request with other transfers.
	ErrKeyConflict = errors.New("request key already used for other transfers")
	// ErrGaveUp is a request whose messages expired unincluded more than MaxExpired times.
	ErrGaveUp = errors.New("gave up re-signing the message")
	// ErrNotSent is a wallet transaction that succeeded but sent fewer messages than the request
	// has transfers (wallets send with "ignore errors": an unaffordable transfer is skipped).
	ErrNotSent = fmt.Errorf("%w: the wallet's transaction did not send every transfer", wallet.ErrFailed)
)

// Clock tells the chain's current time. valid_until is set from it and expiry judged by it; the
// devnet's clock can run ahead of the wall clock.
type Clock func(ctx context.Context) (time.Time, error)

// WallClock is the host's clock, right for public networks.
func WallClock(context.Context) (time.Time, error) { return time.Now(), nil }

// DevnetClocked is a chain client that serves the devnet's clock (chain/toncenter's client and the
// in-process devnet's).
type DevnetClocked interface {
	DevnetTime(ctx context.Context) (time.Time, error)
}

// DevnetClock reads the devnet's clock at every call, so AdvanceTime is seen at once.
func DevnetClock(c DevnetClocked) Clock { return c.DevnetTime }

// Config configures a Manager.
type Config struct {
	Chain  chain.Client
	Signer Signer
	// Journal records requests; nil keeps them in memory (NewMemJournal): idempotent within the
	// process, nothing recovered after it.
	Journal Journal
	// Clock is the chain's clock (default WallClock).
	Clock Clock
	// TTL is how long a signed message stays valid (default 1 minute).
	TTL time.Duration
	// MaxExpired is how many of a request's messages may expire unincluded before the manager
	// gives up (default 4): the chain is not including the wallet's messages. Messages re-signed
	// because another sender took the seqno do not count: they mean the wallet is moving.
	MaxExpired int
	// PollInterval is how often the chain is read while waiting (default 1 s; on a local devnet
	// a few tens of milliseconds).
	PollInterval time.Duration
	// ResubmitInterval is how often a message not yet included is submitted again, byte for byte
	// (default 10 s): a node that lost it (restart, full mempool) gets it back.
	ResubmitInterval time.Duration
	// Retention is how long finished requests stay in the journal, answering a repeated key
	// (default 7 days).
	Retention time.Duration
	Log       *slog.Logger
	Metrics   Metricer
}

// Check reports what is wrong with the configuration, in plain words.
func (c *Config) Check() error {
	switch {
	case c.Chain == nil:
		return fmt.Errorf("%w: the transaction manager needs a chain client", ErrBadRequest)
	case c.Signer == nil || c.Signer.Address() == nil:
		return fmt.Errorf("%w: the transaction manager needs a signer with an address", ErrBadRequest)
	case c.TTL < 0 || c.PollInterval < 0 || c.ResubmitInterval < 0 || c.Retention < 0 || c.MaxExpired < 0:
		return fmt.Errorf("%w: durations and MaxExpired must not be negative", ErrBadRequest)
	case c.TTL > 0 && c.TTL < time.Second:
		return fmt.Errorf("%w: TTL %v is below one second (valid_until has whole seconds)", ErrBadRequest, c.TTL)
	}
	return nil
}

func (c Config) withDefaults() Config {
	if c.Journal == nil {
		c.Journal = NewMemJournal()
	}
	if c.Clock == nil {
		c.Clock = WallClock
	}
	if c.TTL == 0 {
		c.TTL = time.Minute
	}
	if c.MaxExpired == 0 {
		c.MaxExpired = 4
	}
	if c.PollInterval == 0 {
		c.PollInterval = time.Second
	}
	if c.ResubmitInterval == 0 {
		c.ResubmitInterval = 10 * time.Second
	}
	if c.Retention == 0 {
		c.Retention = 7 * 24 * time.Hour
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NoopMetrics{}
	}
	return c
}

// Request is one wallet message to send.
type Request struct {
	// Key names the request for idempotency: derive it from what the request asks (a query id, a
	// voucher, an epoch), so that asking twice is recognised. A second Send with a key that
	// completed returns the recorded outcome without sending; a key whose request failed may be
	// sent again. Empty: a random key (no idempotency).
	Key string
	// Transfers go out in one wallet message (at most Signer.MaxTransfers; none just bumps the
	// seqno, or deploys the wallet).
	Transfers []wallet.Transfer
	// Follow says how much of the cascade to wait for (zero: the wallet's transaction only).
	Follow Follow
	// NoWait returns once the first message is submitted; the request stays in the journal and the
	// next Send (or Recover) finishes it before anything else is signed.
	NoWait bool
}

// Outcome is what became of a request.
type Outcome struct {
	Key    string
	Wallet *address.Address
	// Attempts lists every message signed for the request, oldest first: more than one means the
	// request was re-signed (Attempt.Reason says why).
	Attempts []Attempt
	// Included is the index in Attempts of the message that was included; -1 while none is.
	Included int
	// Accepted: a node accepted a message of the request (it may have been included or not);
	// false when every submission was refused.
	Accepted bool
	// Transaction is the wallet's transaction (nil with NoWait, or when the request failed).
	Transaction *tlb.Transaction
	// Cascade holds the transactions the message caused, as far as Request.Follow asked.
	Cascade *Cascade
	// Duplicate: an earlier Send with this key completed the request; nothing was sent now.
	Duplicate bool
	// Recovered: the request was left unfinished by an earlier Send or process and finished now.
	Recovered bool
	// Err is what Send returns with this outcome; Recover reports it here.
	Err error
}

// Sent is the attempt that was included, or else the last one signed.
func (o *Outcome) Sent() Attempt {
	if o.Included >= 0 && o.Included < len(o.Attempts) {
		return o.Attempts[o.Included]
	}
	if len(o.Attempts) == 0 {
		return Attempt{}
	}
	return o.Attempts[len(o.Attempts)-1]
}

// Resent counts the messages signed after the first (expired, or seqno taken).
func (o *Outcome) Resent() int { return max(len(o.Attempts)-1, 0) }

// Manager sends the messages of one wallet. Its methods are safe for concurrent use; run one
// Manager per wallet per process (two processes may share a wallet: they each re-sign when the
// other takes a seqno, and nothing is lost, but they slow each other down).
type Manager struct {
	cfg  Config
	addr *address.Address
	// slot holds one token: whoever holds it owns the wallet's seqno. Waiting senders queue on it.
	slot chan struct{}
	// pruned is set once finished entries past retention were removed (the first time the slot is
	// taken). REQUIRES slot.
	pruned bool
}

// New builds a manager; it makes no request.
func New(cfg Config) (*Manager, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	m := &Manager{cfg: cfg.withDefaults(), addr: cfg.Signer.Address(), slot: make(chan struct{}, 1)}
	m.slot <- struct{}{}
	return m, nil
}

// Address is the wallet's address.
func (m *Manager) Address() *address.Address { return m.addr }

func (m *Manager) acquire(ctx context.Context) error {
	select {
	case <-m.slot:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (m *Manager) release() { m.slot <- struct{}{} }

// Send sends req and returns its outcome: once the wallet's transaction is found and the cascade
// followed as req.Follow asks. It re-signs a message that expired unincluded or whose seqno another
// sender took (Outcome.Attempts records each). A wallet transaction that failed returns the outcome
// with an error wrapping wallet.ErrFailed; ErrNotSent when it skipped a transfer. When ctx ends
// first, the request stays pending and the next Send or Recover finishes it.
func (m *Manager) Send(ctx context.Context, req Request) (*Outcome, error) {
	if n := len(req.Transfers); n > m.cfg.Signer.MaxTransfers() {
		return nil, fmt.Errorf("%w: %d transfers, the wallet sends at most %d in one message", ErrBadRequest, n, m.cfg.Signer.MaxTransfers())
	}
	transfers, err := journalTransfers(req.Transfers)
	if err != nil {
		return nil, err
	}
	key := req.Key
	if key == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		key = "anon-" + hex.EncodeToString(b[:])
	}
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	out, err := m.sendLocked(ctx, key, transfers, req.NoWait)
	m.release()
	if out == nil || out.Transaction == nil || !req.Follow.enabled() {
		return out, err
	}
	out.Cascade = FollowCascade(ctx, m.cfg.Chain, m.addr, out.Transaction, req.Follow, m.cfg.PollInterval)
	return out, err
}

// Recover finishes every request an earlier process (or an abandoned Send) left pending and returns
// their outcomes. Send does the same before it signs anything; a daemon calls Recover at start to
// learn what became of its requests.
func (m *Manager) Recover(ctx context.Context) ([]*Outcome, error) {
	if err := m.acquire(ctx); err != nil {
		return nil, err
	}
	defer m.release()
	return m.resolvePendingLocked(ctx)
}

func (m *Manager) sendLocked(ctx context.Context, key string, transfers []JournalTransfer, noWait bool) (*Outcome, error) {
	finished, err := m.resolvePendingLocked(ctx)
	if err != nil {
		return nil, err
	}
	for _, out := range finished {
		if out.Key == key {
			// This very request, left pending by an earlier Send or process: finished now.
			return out, out.Err
		}
	}
	j := m.cfg.Journal
	e, ok, err := j.Get(key)
	if err != nil {
		return nil, err
	}
	if ok {
		if !sameTransfers(e.Transfers, transfers) {
			return nil, fmt.Errorf("%w: %q", ErrKeyConflict, key)
		}
		switch e.State {
		case StateDone:
			out, err := m.doneOutcome(ctx, e)
			if out != nil {
				out.Duplicate = true
			}
			return out, err
		case StateFailed:
			if err := j.Delete(key); err != nil {
				return nil, err
			}
		}
	}
	e = &Entry{Key: key, Wallet: m.addr.StringRaw(), Created: time.Now(), Transfers: transfers, State: StatePending}
	st, err := wallet.ReadState(ctx, m.cfg.Chain, m.addr)
	if err != nil {
		return nil, err
	}
	e.AfterLT = st.Account.LastTxLT
	if err := m.signLocked(ctx, e, st.Seqno, !st.Deployed, ReasonFirst); err != nil {
		return nil, err
	}
	if noWait {
		a := e.Attempts[0]
		msg, err := cell.FromBOC(a.Message)
		if err != nil {
			return nil, err
		}
		if _, err := m.cfg.Chain.SendExternal(ctx, msg); err != nil {
			// Resolved (found, re-signed or given up) before the next request is signed.
			return m.outcome(e, nil), fmt.Errorf("failed to submit the wallet message: %w", err)
		}
		e.Accepted = true
		m.cfg.Metrics.RecordSubmitted(a.Seqno)
		return m.outcome(e, nil), nil
	}
	return m.driveLocked(ctx, e)
}

func sameTransfers(a, b []JournalTransfer) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		x, y := a[i], b[i]
		if x.To != y.To || x.Amount != y.Amount || x.Bounce != y.Bounce || x.Mode != y.Mode ||
			!bytes.Equal(x.Body, y.Body) || !bytes.Equal(x.StateInit, y.StateInit) {
			return false
		}
	}
	return true
}

// resolvePendingLocked drives every pending entry to an end, oldest first, and prunes finished
// entries past retention once. REQUIRES slot.
func (m *Manager) resolvePendingLocked(ctx context.Context) ([]*Outcome, error) {
	if !m.pruned {
		if err := m.cfg.Journal.Prune(time.Now().Add(-m.cfg.Retention)); err != nil {
			return nil, err
		}
		m.pruned = true
	}
	entries, err := m.cfg.Journal.Pending()
	if err != nil {
		return nil, err
	}
	var outs []*Outcome
	for _, e := range entries {
		m.cfg.Log.Info("finishing a pending wallet request", "key", e.Key, "attempts", len(e.Attempts))
		out, err := m.driveLocked(ctx, e)
		if out == nil {
			// A journal entry this manager cannot read; it must not block every later request.
			m.cfg.Log.Error("giving up a pending wallet request", "key", e.Key, "err", err)
			if out, err = m.failLocked(e, err); out == nil {
				return outs, err
			}
		}
		out.Recovered, out.Err = true, err
		outs = append(outs, out)
		if err != nil && ctx.Err() != nil {
			return outs, err
		}
		if err != nil {
			m.cfg.Log.Warn("pending wallet request ended with an error", "key", e.Key, "err", err)
		}
	}
	return outs, nil
}

// signLocked signs the next message of e at seqno and journals it (durably) before anyone can
// submit it. REQUIRES slot.
func (m *Manager) signLocked(ctx context.Context, e *Entry, seqno uint32, deploy bool, why Reason) error {
	transfers, err := e.transfers()
	if err != nil {
		return err
	}
	now, err := m.cfg.Clock(ctx)
	if err != nil {
		return fmt.Errorf("failed to read the chain's clock: %w", err)
	}
	vu := now.Add(m.cfg.TTL).Truncate(time.Second)
	signed, err := m.cfg.Signer.SignMessage(ctx, wallet.Message{Seqno: seqno, ValidUntil: vu, Deploy: deploy, Transfers: transfers})
	if err != nil {
		return fmt.Errorf("failed to sign the wallet message: %w", err)
	}
	e.Attempts = append(e.Attempts, Attempt{Seqno: seqno, ValidUntil: vu, Deploy: deploy, Reason: why,
		Message: signed.Message.ToBOC(), BodyHash: signed.Body.Hash(), Hash: signed.Message.Hash()})
	if err := m.cfg.Journal.Put(e); err != nil {
		e.Attempts = e.Attempts[:len(e.Attempts)-1]
		return err
	}
	m.cfg.Metrics.RecordSigned(why)
	m.cfg.Log.Debug("signed wallet message", "key", e.Key, "seqno", seqno, "valid_until", vu.Unix(), "reason", string(why))
	return nil
}

// observation is the wallet as one consistent read shows it.
type observation struct {
	// tx is the wallet transaction that carried a message of the entry (attempt index), or nil.
	tx      *tlb.Transaction
	attempt int
	// seqno and deployed are the wallet's; every transaction counted in seqno was searched.
	seqno    uint32
	deployed bool
	now      time.Time
}

// observe reads the wallet's seqno, then its account, then every transaction above scanned, and
// looks for a message of e among them. Reading the seqno first makes the transactions listed at
// least as new as the seqno. scanned moves up to what was searched.
func (m *Manager) observe(ctx context.Context, e *Entry, scanned *uint64) (*observation, error) {
	st, err := wallet.ReadState(ctx, m.cfg.Chain, m.addr)
	if err != nil {
		return nil, err
	}
	obs := &observation{attempt: -1, seqno: st.Seqno, deployed: st.Deployed}
	if last := st.Account.LastTxLT; last > *scanned {
		txs, err := txwait.Above(ctx, m.cfg.Chain, m.addr, *scanned, last, st.Account.LastTxHash, 16)
		if err != nil {
			return nil, fmt.Errorf("failed to list wallet transactions: %w", err)
		}
		for i := len(txs) - 1; i >= 0 && obs.tx == nil; i-- {
			for k, a := range e.Attempts {
				if txwait.ExternalBody(a.BodyHash)(txs[i]) {
					obs.tx, obs.attempt = txs[i], k
					break
				}
			}
		}
		*scanned = last
	}
	if obs.now, err = m.cfg.Clock(ctx); err != nil {
		return nil, fmt.Errorf("failed to read the chain's clock: %w", err)
	}
	return obs, nil
}

// driveLocked submits e's last message and waits until one of e's messages is included, re-signing
// as the safety rule allows, or until none can be and it gives up, or ctx ends. REQUIRES slot.
func (m *Manager) driveLocked(ctx context.Context, e *Entry) (*Outcome, error) {
	scanned := e.AfterLT
	var lastSubmit time.Time
	rejected := 0 // consecutive refusals of the current message by the node
	var rejectErr error
	for {
		a := e.Attempts[len(e.Attempts)-1]
		if lastSubmit.IsZero() || time.Since(lastSubmit) >= m.cfg.ResubmitInterval || rejected == 1 {
			msg, err := cell.FromBOC(a.Message)
			if err != nil {
				return nil, fmt.Errorf("journal entry %q holds a bad message: %w", e.Key, err)
			}
			_, err = m.cfg.Chain.SendExternal(ctx, msg)
			lastSubmit = time.Now()
			switch {
			case err == nil:
				rejected, e.Accepted = 0, true
				m.cfg.Metrics.RecordSubmitted(a.Seqno)
			case errors.Is(err, chain.ErrRejected):
				// Already included, seqno taken, expired, or refused for good: observe tells.
				rejected++
				rejectErr = err
			case ctx.Err() != nil:
				return m.outcome(e, nil), ctx.Err()
			default:
				m.cfg.Log.Warn("failed to submit wallet message; will retry", "key", e.Key, "err", err)
			}
		}
		obs, err := m.observe(ctx, e, &scanned)
		if err != nil {
			if ctx.Err() != nil {
				return m.outcome(e, nil), ctx.Err()
			}
			m.cfg.Log.Warn("failed to read the wallet; will retry", "key", e.Key, "err", err)
		}
		switch {
		case err != nil:
		case obs.tx != nil:
			return m.includedLocked(ctx, e, obs)
		case obs.seqno > a.Seqno || (a.Deploy && obs.deployed):
			// Every transaction up to obs.seqno was searched and none is ours: no message of e can
			// be included any more.
			if err := m.resignLocked(ctx, e, obs, ReasonSeqnoTaken); err != nil {
				return m.outcome(e, nil), err
			}
			lastSubmit, rejected = time.Time{}, 0
			continue
		case obs.seqno == a.Seqno && !obs.now.Before(a.ValidUntil):
			// Expired unincluded; the next message reuses the seqno, so at most one is included.
			if err := m.resignLocked(ctx, e, obs, ReasonExpired); err != nil {
				return m.outcome(e, nil), err
			}
			lastSubmit, rejected = time.Time{}, 0
			continue
		case rejected >= 2:
			// Refused twice with nothing changed: a bad signature, a wallet that cannot pay, a
			// message valid on no state. It was never accepted, and earlier messages were dead
			// before it was signed.
			return m.failLocked(e, fmt.Errorf("the node refused the wallet message: %w", rejectErr))
		}
		if rejected == 1 {
			continue // resubmit once at once
		}
		t := time.NewTimer(m.cfg.PollInterval)
		select {
		case <-ctx.Done():
			t.Stop()
			return m.outcome(e, nil), ctx.Err()
		case <-t.C:
		}
	}
}

func (m *Manager) resignLocked(ctx context.Context, e *Entry, obs *observation, why Reason) error {
	if why == ReasonExpired && e.expired() >= m.cfg.MaxExpired {
		_, err := m.failLocked(e, fmt.Errorf("%w: %d messages expired unincluded", ErrGaveUp, e.expired()+1))
		return err
	}
	m.cfg.Log.Info("re-signing wallet message", "key", e.Key, "reason", string(why), "seqno", obs.seqno)
	return m.signLocked(ctx, e, obs.seqno, !obs.deployed, why)
}

func (m *Manager) failLocked(e *Entry, cause error) (*Outcome, error) {
	e.State, e.Err = StateFailed, cause.Error()
	m.cfg.Metrics.RecordFailed()
	if err := m.cfg.Journal.Put(e); err != nil {
		return m.outcome(e, nil), errors.Join(cause, err)
	}
	return m.outcome(e, nil), cause
}

func (m *Manager) includedLocked(ctx context.Context, e *Entry, obs *observation) (*Outcome, error) {
	e.State, e.Included, e.TxLT, e.TxHash = StateDone, obs.attempt, obs.tx.LT, obs.tx.Hash
	if err := m.cfg.Journal.Put(e); err != nil {
		return m.outcome(e, obs.tx), err
	}
	m.cfg.Metrics.RecordIncluded(time.Since(e.Created))
	return m.outcome(e, obs.tx), txOutcome(obs.tx, len(e.Transfers))
}

// txOutcome is the error a wallet transaction means for its request (nil tx: none yet, or failed).
func txOutcome(tx *tlb.Transaction, transfers int) error {
	if tx == nil {
		return nil
	}
	if err := wallet.CheckSuccess(tx); err != nil {
		return err
	}
	if int(tx.OutMsgCount) < transfers {
		return fmt.Errorf("%w (lt %d: %d of %d)", ErrNotSent, tx.LT, tx.OutMsgCount, transfers)
	}
	return nil
}

// doneOutcome rebuilds the outcome of a finished entry from the chain.
func (m *Manager) doneOutcome(ctx context.Context, e *Entry) (*Outcome, error) {
	txs, err := m.cfg.Chain.GetTransactions(ctx, m.addr, 1, e.TxLT, e.TxHash)
	if err != nil {
		return nil, fmt.Errorf("failed to read the recorded transaction of request %q: %w", e.Key, err)
	}
	if len(txs) == 0 {
		return nil, fmt.Errorf("failed to read the recorded transaction of request %q: %w", e.Key, chain.ErrNotFound)
	}
	return m.outcome(e, txs[0]), txOutcome(txs[0], len(e.Transfers))
}

func (m *Manager) outcome(e *Entry, tx *tlb.Transaction) *Outcome {
	out := &Outcome{Key: e.Key, Wallet: m.addr, Attempts: append([]Attempt(nil), e.Attempts...), Included: -1, Transaction: tx, Accepted: e.Accepted}
	if e.State == StateDone {
		out.Included, out.Accepted = e.Included, true
	}
	return out
}
