package oracle

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/uptime"
)

// cachedTable is a built table with its record.
type cachedTable struct {
	rec   *epochRecord
	table *uptime.Table
}

// epochGrace is how long after an epoch ends its table is built: probes that started in it finish.
func (o *Oracle) epochGrace() time.Duration { return min(o.cfg.ProbeTimeout+o.cfg.Tick, o.cfg.Epoch/2) }

// epochs builds each finished epoch's table once, signs it, stores it and commits its root on-chain;
// at start it first resends the commitments an earlier process left pending (same request key).
func (o *Oracle) epochs(ctx context.Context) error {
	return o.every(ctx, o.cfg.Tick, true, func(ctx context.Context) {
		if err := o.epochStep(ctx); err != nil && ctx.Err() == nil {
			o.log.Warn("epoch step failed", "err", err)
		}
	})
}

// epochStep builds the finished epochs' tables and hands the oldest pending root to the writer.
func (o *Oracle) epochStep(ctx context.Context) error {
	now := o.clock.Now()
	cur := uptime.Epoch(now, o.cfg.Epoch)
	if cur == 0 {
		return nil
	}
	last := cur - 1
	if now.Before(uptime.EpochStart(cur, o.cfg.Epoch).Add(o.epochGrace())) {
		if last == 0 {
			return nil
		}
		last--
	}
	recs, err := o.st.epochs()
	if err != nil {
		return err
	}
	var newest uint32
	if len(recs) > 0 {
		newest = recs[0].Epoch
	}
	// Build the finished epochs not built yet (a few back at most: older probes were pruned, or the
	// oracle was not running).
	for e := max(newest+1, last-min(last, 2)); e <= last && (len(recs) == 0 || e > newest); e++ {
		rec, err := o.buildEpoch(e)
		if err != nil {
			return err
		}
		if rec != nil {
			recs = append([]*epochRecord{rec}, recs...)
		}
	}
	if keep := uint32(o.cfg.KeepEpochs); cur > keep {
		if err := o.st.prune(cur - keep); err != nil {
			return err
		}
	}
	// Commit the oldest pending table first (epochs must grow on-chain); one at a time.
	slices.SortFunc(recs, func(a, b *epochRecord) int { return int(int64(a.Epoch) - int64(b.Epoch)) })
	for _, r := range recs {
		if r.Commit.State == "pending" {
			return o.commit(ctx, r)
		}
	}
	return nil
}

// buildEpoch builds, signs and stores the table of epoch e from its probes; nil when no provider was
// probed in it (nothing is stored or committed).
func (o *Oracle) buildEpoch(e uint32) (*epochRecord, error) {
	type acc struct {
		ok, total uint32
		lat       []uint32
	}
	by := map[string]*acc{}
	err := o.st.probesOf(e, func(provider string, r probeRecord) error {
		a := by[provider]
		if a == nil {
			a = &acc{}
			by[provider] = a
		}
		a.total++
		if r.OK {
			a.ok++
			a.lat = append(a.lat, r.LatencyMs)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("failed to read the probes of epoch %d: %w", e, err)
	}
	if len(by) == 0 {
		return nil, nil
	}
	entries := make([]uptime.Entry, 0, len(by))
	for provider, a := range by {
		addr, err := address.ParseRawAddr(provider)
		if err != nil {
			return nil, err
		}
		slices.Sort(a.lat)
		entries = append(entries, uptime.Entry{Provider: addr, ProbesOK: a.ok, ProbesTotal: a.total,
			LatencyP50Ms: uptime.Percentile(a.lat, 50), LatencyP90Ms: uptime.Percentile(a.lat, 90)})
	}
	t, err := uptime.Build(e, entries)
	if err != nil {
		return nil, err
	}
	root := t.Root()
	sig := ed25519.Sign(o.key, uptime.RootMessage(o.registry, o.wallet.Address(), e, root, t.Count()))
	rec := &epochRecord{Epoch: e, Root: hex.EncodeToString(root[:]), Count: t.Count(), Signature: hex.EncodeToString(sig),
		Commit: uptime.Commit{State: "pending"}}
	for _, en := range t.Entries {
		rec.Entries = append(rec.Entries, en.ToJSON(e))
	}
	// INVARIANT: the table is durable before its root can be sent, so a restart serves what was committed.
	if err := o.st.putEpoch(rec); err != nil {
		return nil, err
	}
	o.mu.Lock()
	o.tables[e] = &cachedTable{rec: rec, table: t}
	o.mu.Unlock()
	o.log.Info("uptime table built", "epoch", e, "providers", t.Count(), "root", rec.Root)
	return rec, nil
}

// commit hands the root of r to the writer unless it is there already.
func (o *Oracle) commit(ctx context.Context, r *epochRecord) error {
	o.mu.Lock()
	if o.committing {
		o.mu.Unlock()
		return nil
	}
	o.committing = true
	o.mu.Unlock()
	// Work on a copy: r may be the cached table the API serves while the commit goes on; the API
	// sees the commit's outcome once finish drops the cache and the table is read from the store.
	own := *r
	r = &own
	release := func() {
		o.mu.Lock()
		o.committing = false
		o.mu.Unlock()
	}
	root, _ := uptime.ParseHash(r.Root)
	finish := func(c uptime.Commit) {
		r.Commit = c
		if err := o.st.putEpoch(r); err != nil {
			o.log.Error("failed to record a commitment", "epoch", r.Epoch, "err", err)
		}
		o.mu.Lock()
		delete(o.tables, r.Epoch)
		o.mu.Unlock()
	}
	plan, err := o.ops.PlanUptimeRoot(ctx, ops.UptimeRootInput{Epoch: r.Epoch, Root: root[:], ProviderCount: r.Count})
	if err != nil {
		defer release()
		var refusal *ops.Refusal
		if !errors.As(err, &refusal) {
			return err // the chain could not be read: try again at the next step
		}
		if refusal.Code == contracts.ExitUptimeEpochNotNewer {
			// the registry may hold this very commitment (a restart after it went through)
			cur, rerr := contracts.RegistryClient{Chain: o.chain, Address: o.registry}.UptimeRoot(ctx, o.wallet.Address())
			if rerr != nil {
				return rerr
			}
			if cur.Found && cur.Epoch == r.Epoch && hex.EncodeToString(cur.Root) == r.Root && cur.ProviderCount == r.Count {
				// An attempt whose outcome was not seen (a timeout, a restart) went through: its
				// transaction is found in the wallet's recent history.
				c := uptime.Commit{State: "done"}
				if tx := o.findUptimeTx(ctx, r.Epoch, root[:]); tx != nil {
					c.TxLT, c.TxHash = tx.LT, hex.EncodeToString(tx.Hash)
				}
				finish(c)
				o.m.RecordEpoch(r.Epoch)
				return nil
			}
		}
		finish(uptime.Commit{State: "failed", Error: err.Error()})
		return nil
	}
	r.Key = plan.Key
	if err := o.st.putEpoch(r); err != nil {
		release()
		return err
	}
	queued := o.enqueue(&write{kind: "uptime", what: fmt.Sprintf("uptime root of epoch %d", r.Epoch),
		send: func(ctx context.Context) error {
			res, err := o.ops.SendUptimeRoot(ctx, plan)
			if err != nil {
				return err
			}
			var tx *tlb.Transaction
			if res.Outcome != nil {
				tx = res.Outcome.Transaction
			}
			if tx == nil {
				// A duplicate of an earlier Send with this key: it holds no transaction.
				tx = o.findUptimeTx(ctx, r.Epoch, root[:])
			}
			if tx != nil {
				r.Commit.TxLT, r.Commit.TxHash = tx.LT, hex.EncodeToString(tx.Hash)
			}
			return nil
		},
		done: func(err error) {
			defer release()
			if err != nil {
				finish(uptime.Commit{State: "failed", Error: err.Error()})
				return
			}
			finish(uptime.Commit{State: "done", TxLT: r.Commit.TxLT, TxHash: r.Commit.TxHash})
			o.m.RecordEpoch(r.Epoch)
			o.log.Info("uptime root committed", "epoch", r.Epoch, "providers", r.Count, "root", r.Root)
		}})
	if !queued {
		release()
	}
	return nil
}

// table is epoch e's record and tree (nil when the oracle has none).
func (o *Oracle) table(e uint32) (*cachedTable, error) {
	o.mu.Lock()
	c := o.tables[e]
	o.mu.Unlock()
	if c != nil {
		return c, nil
	}
	rec, err := o.st.epoch(e)
	if err != nil || rec == nil {
		return nil, err
	}
	entries := make([]uptime.Entry, 0, len(rec.Entries))
	for _, j := range rec.Entries {
		en, err := j.Entry()
		if err != nil {
			return nil, err
		}
		entries = append(entries, en)
	}
	t, err := uptime.Build(e, entries)
	if err != nil {
		return nil, err
	}
	c = &cachedTable{rec: rec, table: t}
	if rec.Commit.State != "pending" {
		o.mu.Lock()
		if len(o.tables) > 16 {
			clear(o.tables)
		}
		o.tables[e] = c
		o.mu.Unlock()
	}
	return c, nil
}

// uptimeTxSearch is how many of the oracle wallet's newest transactions findUptimeTx reads.
const uptimeTxSearch = 256

// findUptimeTx is the oracle wallet's transaction that sent its SubmitUptimeRoot for (epoch, root)
// to the registry (the transaction a commit records, as the transaction manager's outcome is),
// among the wallet's newest uptimeTxSearch transactions (nil when not found there). The caller
// knows the registry took it (it holds that commitment).
func (o *Oracle) findUptimeTx(ctx context.Context, epoch uint32, root []byte) *tlb.Transaction {
	var lt uint64
	var hash []byte
	for read := 0; read < uptimeTxSearch; {
		txs, err := o.chain.GetTransactions(ctx, o.wallet.Address(), 64, lt, hash)
		if err != nil || len(txs) == 0 {
			return nil
		}
		for _, tx := range txs {
			if tx.IO.Out == nil {
				continue
			}
			out, err := tx.IO.Out.ToSlice()
			if err != nil {
				continue
			}
			for _, m := range out {
				if m.MsgType != tlb.MsgTypeInternal {
					continue
				}
				in := m.AsInternal()
				if !in.DstAddr.Equals(o.registry) || in.Body == nil {
					continue
				}
				sub, err := contracts.DecodeAs[contracts.SubmitUptimeRoot](in.Body)
				if err == nil && sub.Epoch == epoch && bytes.Equal(sub.Root, root) {
					return tx
				}
			}
		}
		read += len(txs)
		last := txs[len(txs)-1]
		if last.PrevTxLT == 0 {
			return nil
		}
		lt, hash = last.PrevTxLT, last.PrevTxHash
	}
	return nil
}
