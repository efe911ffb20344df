// Package follow is the indexer's chain follower: it keeps a cursor per account (the newest
// transaction ingested, in the store), lists each followed account's newer transactions through the
// chain interface (GetAccount, then GetTransactions newest first back to the cursor) and hands them
// to the store oldest first, in batches that commit the cursor with everything derived from them.
// It follows the registry from configuration and every Provider and Channel contract the
// registry's transactions deploy (store.Batch discovery).
//
// Only chain.Client's read methods are used, so it runs unchanged on the devnet, toncenter v2 and a
// liteserver.
package follow

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
	"github.com/cocoon-go/cocoon/service/clock"
)

// Chain is the part of chain.Client the follower reads: an account's last transaction and its
// transactions from one back, the same two calls waiting for a transaction needs.
type Chain = txwait.Client

// Metricer is what the follower records.
type Metricer interface {
	// RecordIngested counts transactions written and unknown message bodies among them.
	RecordIngested(txs, unknown int)
	// RecordLag is the seconds between a transaction's time and its ingestion.
	RecordLag(seconds float64)
	// RecordAccounts is the number of accounts followed.
	RecordAccounts(n int)
	// RecordRound records one pass over every account.
	RecordRound(d time.Duration, err error)
	// RecordMismatch counts a replayed state that differed from the contract's storage.
	RecordMismatch()
}

// NoopMetrics records nothing.
type NoopMetrics struct{}

func (NoopMetrics) RecordIngested(int, int)          {}
func (NoopMetrics) RecordLag(float64)                {}
func (NoopMetrics) RecordAccounts(int)               {}
func (NoopMetrics) RecordRound(time.Duration, error) {}
func (NoopMetrics) RecordMismatch()                  {}

// Config configures a Follower.
type Config struct {
	Chain    Chain
	Store    *store.Store
	Registry *address.Address
	// PageSize is how many transactions one GetTransactions asks for (default 64; toncenter
	// answers at most 100 or 1000 depending on the server).
	PageSize int
	// BatchSize is how many transactions one store commit holds at most (default 256).
	BatchSize int
	// MaxBacklog bounds the transactions held in memory while walking an account's history back
	// to its cursor (default 4096); pages beyond it are read again when their turn comes.
	MaxBacklog int
	// Workers is how many accounts are read at once (default 4).
	Workers int
	// Poll is the pause between rounds once caught up (default 1 s).
	Poll    time.Duration
	Clock   clock.Clock
	Log     *slog.Logger
	Metrics Metricer
}

func (c Config) withDefaults() Config {
	if c.PageSize <= 0 {
		c.PageSize = 64
	}
	if c.BatchSize <= 0 {
		c.BatchSize = 256
	}
	if c.MaxBacklog <= 0 {
		c.MaxBacklog = 4096
	}
	if c.Workers <= 0 {
		c.Workers = 4
	}
	if c.Poll <= 0 {
		c.Poll = time.Second
	}
	if c.Clock == nil {
		c.Clock = clock.System
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NoopMetrics{}
	}
	return c
}

// Errors of the follower.
var (
	// ErrBadConfig is a configuration the follower cannot run with.
	ErrBadConfig = errors.New("invalid follower configuration")
	// ErrHistory is an account whose chain history does not continue from its cursor.
	ErrHistory = errors.New("account history does not continue from the cursor")
)

// Follower follows the registry and every contract it deploys.
type Follower struct {
	cfg Config
	// synced is set after a round that found nothing new, cleared when one finds something.
	synced    atomic.Bool
	lastRound atomic.Int64 // unix nanoseconds of the last finished round
	lastBatch atomic.Int64 // unix nanoseconds of the last committed batch
}

// New builds a follower; it reads nothing yet.
func New(cfg Config) (*Follower, error) {
	if cfg.Chain == nil || cfg.Store == nil || cfg.Registry == nil {
		return nil, fmt.Errorf("%w: chain, store and registry are required", ErrBadConfig)
	}
	return &Follower{cfg: cfg.withDefaults()}, nil
}

// Synced reports whether the last round found nothing new to ingest.
func (f *Follower) Synced() bool { return f.synced.Load() }

// LastRound is when the last round finished (zero before the first).
func (f *Follower) LastRound() time.Time {
	n := f.lastRound.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// LastProgress is when the follower last finished a round or committed a batch (a long catch-up
// commits batches long before its first round ends).
func (f *Follower) LastProgress() time.Time {
	n := max(f.lastRound.Load(), f.lastBatch.Load())
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// Run follows the chain until ctx ends: rounds back to back while they find something, then one
// every Poll. A failing round is logged and retried; Run returns ctx's error.
func (f *Follower) Run(ctx context.Context) error {
	for {
		n, err := f.Sync(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if err != nil {
			f.cfg.Log.Warn("follow round failed, retrying", "err", err)
		} else if n > 0 {
			f.cfg.Log.Debug("caught up", "ingested", n)
		}
		if err := f.cfg.Clock.Sleep(ctx, f.cfg.Poll); err != nil {
			return err
		}
	}
}

// Sync runs rounds until one finds nothing new (every followed account caught up with the chain,
// discovered ones included) and returns the transactions ingested.
func (f *Follower) Sync(ctx context.Context) (int, error) {
	if err := f.cfg.Store.AddAccount(store.Account{Address: f.cfg.Registry.StringRaw(), Kind: state.KindRegistry}); err != nil {
		return 0, err
	}
	total := 0
	for {
		n, discovered, err := f.round(ctx)
		total += n
		if err != nil {
			f.synced.Store(false)
			return total, err
		}
		if n == 0 && discovered == 0 {
			f.synced.Store(true)
			return total, nil
		}
		f.synced.Store(false)
	}
}

// round reads every followed account once.
func (f *Follower) round(ctx context.Context) (ingested, discovered int, err error) {
	t0 := f.cfg.Clock.Now()
	accts, err := f.cfg.Store.Accounts("")
	if err != nil {
		return 0, 0, err
	}
	f.cfg.Metrics.RecordAccounts(len(accts))
	// The registry first: what it deploys is followed in this same round's later rounds.
	slices.SortStableFunc(accts, func(a, b store.Account) int {
		return boolInt(b.Kind == state.KindRegistry) - boolInt(a.Kind == state.KindRegistry)
	})
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
		work = make(chan store.Account)
	)
	for range min(f.cfg.Workers, len(accts)) {
		wg.Go(func() {
			for a := range work {
				n, d, err := f.account(ctx, a)
				mu.Lock()
				ingested += n
				discovered += d
				if err != nil {
					errs = append(errs, err)
				}
				mu.Unlock()
			}
		})
	}
	for _, a := range accts {
		if ctx.Err() != nil {
			break
		}
		work <- a
	}
	close(work)
	wg.Wait()
	err = errors.Join(errs...)
	if err == nil {
		err = ctx.Err()
	}
	f.cfg.Metrics.RecordRound(f.cfg.Clock.Since(t0), err)
	f.lastRound.Store(f.cfg.Clock.Now().UnixNano())
	return ingested, discovered, err
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// page is one GetTransactions answer: its anchor (the newest transaction, where the listing
// started) and its transactions newer than the cursor, newest first (nil once dropped to bound
// memory; n remembers how many).
type page struct {
	lt   uint64
	hash []byte
	txs  []*tlb.Transaction
	n    int
}

// account ingests one account's transactions newer than its cursor.
func (f *Follower) account(ctx context.Context, a store.Account) (ingested, discovered int, err error) {
	addr, err := address.ParseRawAddr(a.Address)
	if err != nil {
		return 0, 0, err
	}
	cur, err := f.cfg.Store.Cursor(a.Address)
	if err != nil {
		return 0, 0, err
	}
	acc, err := f.cfg.Chain.GetAccount(ctx, addr)
	if err != nil {
		return 0, 0, fmt.Errorf("failed to read %s %s: %w", a.Kind, a.Address, err)
	}
	switch {
	case acc.LastTxLT == 0:
		return 0, 0, nil
	case acc.LastTxLT < cur.LT:
		return 0, 0, fmt.Errorf("%w: %s %s: the chain's last transaction %d is below the cursor %d (a node behind?)", ErrHistory, a.Kind, a.Address, acc.LastTxLT, cur.LT)
	case acc.LastTxLT == cur.LT:
		// Caught up: check the state against the storage once per cursor.
		res, err := f.cfg.Store.Ingest(store.Batch{Account: a, Snapshot: acc})
		f.noteMismatch(a, res)
		return 0, 0, err
	}
	pages, err := f.walkBack(ctx, addr, a, acc, cur)
	if err != nil {
		return 0, 0, err
	}
	for i := len(pages) - 1; i >= 0; i-- {
		p := pages[i]
		txs := p.txs
		if txs == nil {
			if txs, err = f.cfg.Chain.GetTransactions(ctx, addr, p.n, p.lt, p.hash); err != nil {
				return ingested, discovered, fmt.Errorf("failed to list transactions of %s: %w", a.Address, err)
			}
			if len(txs) < p.n {
				return ingested, discovered, fmt.Errorf("%w: %s: a page of %d transactions came back with %d", ErrHistory, a.Address, p.n, len(txs))
			}
			txs = txs[:p.n]
		}
		oldestFirst := slices.Clone(txs)
		slices.Reverse(oldestFirst)
		for start := 0; start < len(oldestFirst); start += f.cfg.BatchSize {
			end := min(start+f.cfg.BatchSize, len(oldestFirst))
			b := store.Batch{Account: a, Txs: oldestFirst[start:end]}
			if i == 0 && end == len(oldestFirst) {
				b.Snapshot = acc
			}
			res, err := f.cfg.Store.Ingest(b)
			if err != nil {
				return ingested, discovered, err
			}
			f.lastBatch.Store(f.cfg.Clock.Now().UnixNano())
			ingested += res.Ingested
			discovered += len(res.Discovered)
			f.cfg.Metrics.RecordIngested(res.Ingested, res.Unknown)
			if res.LastTime != 0 {
				f.cfg.Metrics.RecordLag(max(0, float64(f.cfg.Clock.Now().Unix())-float64(res.LastTime)))
			}
			for _, d := range res.Discovered {
				f.cfg.Log.Info("following", "kind", d.Kind, "address", d.Address, "deployed_by", d.DiscoveredBy)
			}
			f.noteMismatch(a, res)
			f.cfg.Log.Debug("ingested", "kind", a.Kind, "address", a.Address, "txs", res.Ingested, "cursor_lt", res.Cursor.LT)
		}
	}
	return ingested, discovered, nil
}

// walkBack lists acc's transactions from its last one back to the cursor, newest first, in pages;
// it keeps at most MaxBacklog transactions (the oldest pages), remembering the anchors of the rest.
func (f *Follower) walkBack(ctx context.Context, addr *address.Address, a store.Account, acc *chain.Account, cur store.Cursor) ([]page, error) {
	var pages []page
	kept := 0
	lt, hash := acc.LastTxLT, acc.LastTxHash
	for {
		txs, err := f.cfg.Chain.GetTransactions(ctx, addr, f.cfg.PageSize, lt, hash)
		if err != nil {
			return nil, fmt.Errorf("failed to list transactions of %s: %w", a.Address, err)
		}
		if len(txs) == 0 {
			if cur.LT != 0 {
				return nil, fmt.Errorf("%w: %s: history ends at lt %d before the cursor %d", ErrHistory, a.Address, lt, cur.LT)
			}
			break
		}
		p := page{lt: lt, hash: hash}
		reached := false
		for _, tx := range txs {
			if tx.LT <= cur.LT {
				if tx.LT != cur.LT || fmt.Sprintf("%x", tx.Hash) != cur.Hash {
					return nil, fmt.Errorf("%w: %s: found lt %d where the cursor is lt %d hash %s", ErrHistory, a.Address, tx.LT, cur.LT, cur.Hash)
				}
				reached = true
				break
			}
			p.txs = append(p.txs, tx)
		}
		p.n = len(p.txs)
		if p.n > 0 {
			pages = append(pages, p)
			kept += p.n
		}
		for j := 0; kept > f.cfg.MaxBacklog && j < len(pages)-1; j++ {
			if pages[j].txs != nil {
				kept -= pages[j].n
				pages[j].txs = nil
			}
		}
		last := txs[len(txs)-1]
		if reached || last.PrevTxLT == 0 {
			if !reached && cur.LT != 0 {
				return nil, fmt.Errorf("%w: %s: history starts after the cursor %d", ErrHistory, a.Address, cur.LT)
			}
			break
		}
		lt, hash = last.PrevTxLT, last.PrevTxHash
	}
	return pages, nil
}

func (f *Follower) noteMismatch(a store.Account, res store.Result) {
	if !res.Mismatch {
		return
	}
	f.cfg.Metrics.RecordMismatch()
	f.cfg.Log.Warn("replayed state differed from the contract's storage; replaced by the storage",
		"kind", a.Kind, "address", a.Address, "lt", res.Cursor.LT, "replayed", res.Replayed, "storage", res.Real)
}
