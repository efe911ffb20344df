package store

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/cockroachdb/pebble/v2"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/indexer/decode"
	"github.com/cocoon-go/cocoon/indexer/state"
)

// Batch is what one Ingest writes: transactions of one account, oldest first, and optionally the
// account as the chain showed it when they were listed.
type Batch struct {
	Account Account
	Txs     []*tlb.Transaction
	// Snapshot is the account read before its transactions were listed. When its last transaction
	// is the newest ingested, the replayed state is reconciled with its storage (package state) and
	// its balance recorded.
	Snapshot *chain.Account
}

// Result says what an Ingest did.
type Result struct {
	Ingested, Skipped int
	// Discovered are the contracts this batch's transactions deployed that were not followed yet.
	Discovered []Account
	// Unknown counts the message bodies no Cocoon message matched.
	Unknown int
	Cursor  Cursor
	// LastTime is the time of the newest transaction ingested (0: none).
	LastTime uint32
	// Reconciled: the state was checked against the snapshot; Mismatch: it differed and was
	// replaced (Replayed and Real are the two storages as JSON, for the log).
	Reconciled, Mismatch bool
	Replayed, Real       string
}

// Ingest writes b atomically (see the package doc). Transactions at or below the account's cursor
// are skipped.
func (s *Store) Ingest(in Batch) (Result, error) {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	var res Result
	at, err := address.ParseRawAddr(in.Account.Address)
	if err != nil {
		return res, fmt.Errorf("bad account %q: %w", in.Account.Address, err)
	}
	ak, _ := addrKey(in.Account.Address)
	b := s.db.NewIndexedBatch()
	defer b.Close()

	var cur Cursor
	if _, err := getJSON(b, key(pCursor, ak), &cur); err != nil {
		return res, err
	}
	st := state.New(in.Account.Kind, in.Account.Address)
	if _, err := getJSON(b, key(pState, ak), st); err != nil {
		return res, err
	}
	var counters Counters
	if _, err := getJSON(b, []byte{pCounter}, &counters); err != nil {
		return res, err
	}
	w := &writer{b: b, buckets: map[uint32]*Bucket{}}
	for _, tx := range in.Txs {
		if tx.LT <= cur.LT {
			res.Skipped++
			continue
		}
		// INVARIANT: an account's stored transactions all have LT <= its cursor (they are
		// written in one batch with the cursor), so a transaction above it is not stored yet.
		tk := key(pTx, ak, be64(tx.LT))
		rec, err := decode.Transaction(at, tx)
		if err != nil {
			return res, fmt.Errorf("failed to decode transaction %d of %s: %w", tx.LT, in.Account.Address, err)
		}
		events := st.Apply(rec)
		if err := w.tx(ak, tk, rec, events); err != nil {
			return res, err
		}
		if in.Account.Kind == state.KindRegistry {
			found, err := w.discover(rec)
			if err != nil {
				return res, err
			}
			res.Discovered = append(res.Discovered, found...)
		}
		if st.Channel != nil && st.Channel.Provider != "" {
			if err := w.linkChannel(st.Channel.Provider, in.Account.Address); err != nil {
				return res, err
			}
		}
		unknown := countUnknown(rec)
		res.Unknown += unknown
		counters.Transactions++
		counters.Unknown += unknown
		if !rec.Success {
			counters.Failed++
		}
		if rec.In != nil && rec.In.Bounced {
			counters.Bounced++
		}
		counters.LastTime = max(counters.LastTime, rec.Now)
		res.Ingested++
		res.LastTime = rec.Now
		cur = Cursor{LT: tx.LT, Hash: rec.Hash}
	}
	if snap := in.Snapshot; snap != nil && cur.LT != 0 && snap.LastTxLT == cur.LT && st.Checked != cur.LT {
		res.Reconciled = true
		st.Checked = cur.LT
		st.Balance = new(big.Int).Set(snap.Balance)
		if snap.State == chain.StateActive && snap.Data != nil {
			real, err := state.FromData(in.Account.Kind, snap.Data)
			if err != nil {
				return res, fmt.Errorf("failed to decode the storage of %s %s: %w", in.Account.Kind, in.Account.Address, err)
			}
			before := st.Clone()
			if st.Reconcile(real) {
				res.Mismatch = true
				counters.Mismatches++
				res.Replayed, res.Real = storageJSON(before), storageJSON(st)
			}
		}
	}
	res.Cursor = cur
	if res.Ingested == 0 && !res.Reconciled {
		return res, nil
	}
	for _, kv := range []struct {
		k []byte
		v any
	}{{key(pCursor, ak), cur}, {key(pState, ak), st}, {[]byte{pCounter}, counters}} {
		if err := setJSON(b, kv.k, kv.v); err != nil {
			return res, err
		}
	}
	if err := w.flushBuckets(); err != nil {
		return res, err
	}
	if err := s.commit(b); err != nil {
		return res, err
	}
	s.counters.Store(&counters)
	return res, nil
}

func storageJSON(s *state.State) string {
	var v any = s.Registry
	switch {
	case s.Provider != nil:
		v = s.Provider
	case s.Channel != nil:
		v = s.Channel
	}
	b, _ := json.Marshal(v)
	return string(b)
}

func countUnknown(rec *decode.Tx) int {
	n := 0
	if rec.In != nil && rec.In.Unknown {
		n++
	}
	for _, m := range rec.Out {
		if m.Unknown {
			n++
		}
	}
	return n
}

func setJSON(b *pebble.Batch, k []byte, v any) error {
	enc, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Set(k, enc, nil)
}

// writer writes one batch's rows.
type writer struct {
	b       *pebble.Batch
	buckets map[uint32]*Bucket
}

// tx writes a transaction, its indexes, events and hourly totals.
func (w *writer) tx(ak, tk []byte, rec *decode.Tx, events []state.Event) error {
	if err := setJSON(w.b, tk, rec); err != nil {
		return err
	}
	hash, err := hex.DecodeString(rec.Hash)
	if err != nil {
		return err
	}
	ref := append(append([]byte{}, ak...), be64(rec.LT)...)
	if err := w.b.Set(key(pHash, hash), ref, nil); err != nil {
		return err
	}
	if in := rec.In; in != nil && in.Type == decode.Internal && in.Src != "" {
		src, err := addrKey(in.Src)
		if err != nil {
			return err
		}
		if err := w.b.Set(key(pRecv, src, be64(in.CreatedLT)), ref, nil); err != nil {
			return err
		}
	}
	for _, m := range rec.Out {
		if m.Type != decode.Internal {
			continue
		}
		if err := w.b.Set(key(pSent, ak, be64(m.CreatedLT)), hash, nil); err != nil {
			return err
		}
	}
	bucket, err := w.bucket(rec.Now / 3600)
	if err != nil {
		return err
	}
	bucket.Transactions++
	for i := range events {
		ev := &events[i]
		if err := setJSON(w.b, key(pEvent, ak, be64(ev.LT), be16(uint16(ev.Seq))), ev); err != nil {
			return err
		}
		switch ev.Type {
		case state.EvClaim:
			bucket.Claims++
			bucket.PromptTokens += ev.PromptTokens
			bucket.CompletionTokens += ev.CompletionTokens
			bucket.Paid.Add(bucket.Paid, ev.Amount)
			bucket.Fees.Add(bucket.Fees, ev.Fee)
			bucket.Earned.Add(bucket.Earned, ev.Earned)
		case state.EvOpened, state.EvDeposit:
			bucket.Deposits.Add(bucket.Deposits, ev.Amount)
		case state.EvClosed:
			bucket.Refunds.Add(bucket.Refunds, ev.Amount)
		case state.EvUptimeRoot:
			if err := w.commitment(ev); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *writer) bucket(hour uint32) (*Bucket, error) {
	if b, ok := w.buckets[hour]; ok {
		return b, nil
	}
	b := &Bucket{Hour: hour}
	if _, err := getJSON(w.b, key(pBucket, be32(hour)), b); err != nil {
		return nil, err
	}
	for _, n := range []**big.Int{&b.Paid, &b.Fees, &b.Earned, &b.Deposits, &b.Refunds} {
		if *n == nil {
			*n = new(big.Int)
		}
	}
	w.buckets[hour] = b
	return b, nil
}

func (w *writer) flushBuckets() error {
	for h, b := range w.buckets {
		if err := setJSON(w.b, key(pBucket, be32(h)), b); err != nil {
			return err
		}
	}
	return nil
}

// discover follows the contracts a registry transaction deployed: Provider contracts (a
// ProviderRegistration with a StateInit) and channels (a ChannelInit with a StateInit).
func (w *writer) discover(rec *decode.Tx) ([]Account, error) {
	var out []Account
	for _, m := range rec.Out {
		if m.Init == nil || m.Dst == "" {
			continue
		}
		var kind state.Kind
		switch m.Name {
		case "ProviderRegistration":
			kind = state.KindProvider
		case "ChannelInit":
			kind = state.KindChannel
		default:
			continue
		}
		a := Account{Address: m.Dst, Kind: kind, DiscoveredBy: rec.Hash, DiscoveredAt: rec.Now}
		added, err := addAccount(w.b, a)
		if err != nil {
			return nil, err
		}
		if added {
			out = append(out, a)
		}
		if kind == state.KindChannel && m.Init.DataCell != nil {
			if init, err := state.FromData(state.KindChannel, m.Init.DataCell); err == nil {
				if err := w.linkChannel(init.Channel.Provider, m.Dst); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}

func (w *writer) linkChannel(provider, channel string) error {
	pk, err := addrKey(provider)
	if err != nil {
		return err
	}
	ck, err := addrKey(channel)
	if err != nil {
		return err
	}
	return w.b.Set(key(pChannel, pk, ck), nil, nil)
}
