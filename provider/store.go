package provider

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/internal/journal"
	"github.com/cocoon-go/cocoon/internal/pebblelog"
	"github.com/cocoon-go/cocoon/payment"
)

// store is the daemon's Pebble database (<data dir>/store). Key layout:
//
//	ch/<channel raw>                     → channelRecord (JSON): owed, newest voucher, metered tokens
//	rq/<channel raw>/<request id>        → inflightRecord (JSON): a request that delivered something
//	                                       and has not finished (its delivered-token checkpoint)
//	nn/<channel raw>/<nonce hex>         → unix seconds (8 bytes): request nonces, for replays
//	cl/<channel raw>/<unix nano 8>       → claimRecord (JSON): a claim and what became of it
//	txmgr/…                              → the settlement wallet's transaction journal (chain/txmgr)
//
// Durability rule: the channel, in-flight and nonce keys are written only through the journal
// (internal/journal; <data dir>/journal), never to Pebble directly once a paid request has been
// served: a commit pwrites the batch to the journal, so it survives a killed process the moment it
// returns, and survives a host crash once the journal's group fsync (within 5 ms, never waited for
// by an answer) has covered it; the journal's syncer applies it to Pebble before that fsync. So
// Pebble lags the journal by up to a sync round: its journaled keys are read only at start (after
// the replay, and recoverInflight waits for its own commit). A channel's records are
// committed under the lock that orders them (the channel's). What a client is told it owes (a
// receipt, delivered tokens) is committed before it is told. The receipts themselves go to the
// receipt log (receiptLog), unsynced. docs/DECISIONS.md, "Provider: the owed total is journaled".
type store struct {
	db *pebble.DB
	j  *journal.Journal
	// receipts is the log of the receipts signed (<data dir>/receipts).
	receipts *receiptLog
}

// openStore opens (or creates) the store in dataDir: Pebble in store/, the journal in journal/
// (replayed into Pebble here).
func openStore(dataDir string) (*store, error) {
	dir := filepath.Join(dataDir, "store")
	opts := &pebble.Options{Logger: pebblelog.Quiet{}}
	opts.EnsureDefaults()
	// Logs laid out at the size Pebble preallocates them to (110% of a memtable): see walFS.
	opts.FS = walFS{FS: opts.FS, size: int64(opts.MemTableSize) * 11 / 10}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("failed to open the provider's store in %q: %w", dir, err)
	}
	j, err := journal.Open(filepath.Join(dataDir, "journal"), db, journal.Options{})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("failed to open the provider's journal: %w", err)
	}
	rl, err := openReceiptLog(filepath.Join(dataDir, "receipts"))
	if err != nil {
		return nil, errors.Join(err, j.Close(), db.Close())
	}
	return &store{db: db, j: j, receipts: rl}, nil
}

// close writes the receipts still queued and closes the journal and the database.
func (s *store) close() error {
	s.receipts.close()
	return errors.Join(s.j.Close(), s.db.Close())
}

// channelRecord is what the provider knows of a channel across restarts.
//
// INVARIANT: Owed only grows; Voucher is the signed voucher with the largest amount the client
// ever gave (it only moves to a voucher voucher.CheckNewer accepts).
type channelRecord struct {
	// Owed is the sum of the costs of every answered request (nanoTON, decimal).
	Owed string `json:"owed"`
	// Voucher is the newest signed voucher, in header form ("" before the first).
	Voucher string `json:"voucher,omitempty"`
	// PromptTokens and CompletionTokens are the metered totals.
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	// Receipts counts the receipts issued on the channel.
	Receipts uint64 `json:"receipts"`
	// ClientKey is the channel's client key (hex), read from the chain when it was first seen.
	ClientKey string `json:"client_key"`
}

// appendJSON appends r as json.Marshal encodes it (without reflection: it is written under the
// channel's lock on every answer).
func (r *channelRecord) appendJSON(b []byte) []byte {
	b = appendJSONString(append(b, `{"owed":`...), r.Owed)
	if r.Voucher != "" {
		b = appendJSONString(append(b, `,"voucher":`...), r.Voucher)
	}
	b = strconv.AppendUint(append(b, `,"prompt_tokens":`...), r.PromptTokens, 10)
	b = strconv.AppendUint(append(b, `,"completion_tokens":`...), r.CompletionTokens, 10)
	b = strconv.AppendUint(append(b, `,"receipts":`...), r.Receipts, 10)
	b = appendJSONString(append(b, `,"client_key":`...), r.ClientKey)
	return append(b, '}')
}

// appendJSONString appends s as a JSON string the way json.Marshal writes it.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			q, _ := json.Marshal(s) // escapes needed: never for decimals, hex or base64url
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// inflightRecord is a request that delivered something and has not finished: after a crash its
// checkpoint is billed (what was delivered, never more: the checkpoint is durable before the
// tokens it counts are written to the client).
type inflightRecord struct {
	ModelID         uint32 `json:"model_id"`
	PromptPrice     string `json:"prompt_price"`
	CompletionPrice string `json:"completion_price"`
	// MaxCost caps the bill (the reservation the admission rule made).
	MaxCost          string `json:"max_cost"`
	PromptTokens     uint64 `json:"prompt_tokens"`
	CompletionTokens uint64 `json:"completion_tokens"`
	Started          int64  `json:"started"`
}

// cost is what the checkpoint bills: Cost(prompt, completion) at the request's prices, at most
// its maximum cost.
func (r *inflightRecord) cost() (*big.Int, error) {
	pp, ok1 := new(big.Int).SetString(r.PromptPrice, 10)
	cp, ok2 := new(big.Int).SetString(r.CompletionPrice, 10)
	maxCost, ok3 := new(big.Int).SetString(r.MaxCost, 10)
	if !ok1 || !ok2 || !ok3 {
		return nil, errors.New("corrupt in-flight record: amounts are not decimal")
	}
	c := payment.Prices{Prompt: pp, Completion: cp}.Cost(r.PromptTokens, r.CompletionTokens)
	if c.Cmp(maxCost) > 0 {
		c = maxCost
	}
	return c, nil
}

// claimRecord is one claim the settlement sent (or tried to).
type claimRecord struct {
	Kind    string `json:"kind"` // "claim" or "claim-remainder"
	Reason  string `json:"reason"`
	Amount  string `json:"voucher_amount,omitempty"`
	Key     string `json:"key,omitempty"`
	TxHash  string `json:"tx_hash,omitempty"`
	Paid    string `json:"paid,omitempty"`
	Earned  string `json:"earned,omitempty"`
	Fee     string `json:"fee,omitempty"`
	Prompt  uint64 `json:"prompt_tokens,omitempty"`
	Compl   uint64 `json:"completion_tokens,omitempty"`
	Error   string `json:"error,omitempty"`
	Created int64  `json:"created"`
}

func channelKey(ch string) []byte { return []byte("ch/" + ch) }
func inflightKey(ch, id string) []byte {
	return []byte("rq/" + ch + "/" + id)
}
func nonceKey(ch, nonce string) []byte { return []byte("nn/" + ch + "/" + nonce) }

func claimKey(ch string, at time.Time) []byte {
	return binary.BigEndian.AppendUint64([]byte("cl/"+ch+"/"), uint64(at.UnixNano()))
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := bytes.Clone(p)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// scan calls fn for every key under prefix, in order.
func (s *store) scan(prefix string, fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: prefixEnd([]byte(prefix))})
	if err != nil {
		return fmt.Errorf("failed to read the store: %w", err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}

func putJSON(b *pebble.Batch, key []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", key, err)
	}
	return b.Set(key, data, nil)
}

// loadChannels reads every channel record, keyed by raw address.
func (s *store) loadChannels() (map[string]*channelRecord, error) {
	out := map[string]*channelRecord{}
	err := s.scan("ch/", func(k, v []byte) error {
		var r channelRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("corrupt channel record %s: %w", k, err)
		}
		out[string(k[len("ch/"):])] = &r
		return nil
	})
	return out, err
}

// recovered is what a crash left in flight on one channel, now billed.
type recovered struct {
	Requests         int
	Cost             *big.Int
	PromptTokens     uint64
	CompletionTokens uint64
}

// recoverInflight bills every in-flight record (what those requests had delivered when the
// process stopped) into its channel's record and deletes it, in one synced batch. It runs before
// anything is served.
func (s *store) recoverInflight(channels map[string]*channelRecord) (map[string]*recovered, error) {
	out := map[string]*recovered{}
	b := s.db.NewBatch()
	defer b.Close()
	err := s.scan("rq/", func(k, v []byte) error {
		rest := string(k[len("rq/"):])
		i := bytes.LastIndexByte([]byte(rest), '/')
		if i < 0 {
			return fmt.Errorf("corrupt in-flight key %q", k)
		}
		ch := rest[:i]
		var r inflightRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("corrupt in-flight record %s: %w", k, err)
		}
		c, err := r.cost()
		if err != nil {
			return err
		}
		rec := channels[ch]
		if rec == nil {
			return fmt.Errorf("in-flight record %s has no channel record", k)
		}
		owed, ok := new(big.Int).SetString(rec.Owed, 10)
		if !ok {
			return fmt.Errorf("corrupt channel record %s: owed %q", ch, rec.Owed)
		}
		rec.Owed = owed.Add(owed, c).String()
		rec.PromptTokens += r.PromptTokens
		rec.CompletionTokens += r.CompletionTokens
		got := out[ch]
		if got == nil {
			got = &recovered{Cost: new(big.Int)}
			out[ch] = got
		}
		got.Requests++
		got.Cost.Add(got.Cost, c)
		got.PromptTokens += r.PromptTokens
		got.CompletionTokens += r.CompletionTokens
		return b.Delete(k, nil)
	})
	if err != nil || len(out) == 0 {
		return out, err
	}
	for ch := range out {
		if err := putJSON(b, channelKey(ch), channels[ch]); err != nil {
			return nil, err
		}
	}
	pos, err := s.j.Commit(b)
	if err == nil {
		err = s.j.WaitSynced(pos)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to record what was in flight: %w", err)
	}
	return out, nil
}

// nonces lists the request nonces recorded at or after since: channel raw → nonce → unix time.
func (s *store) nonces(since time.Time) (map[string]map[[payment.NonceSize]byte]int64, error) {
	out := map[string]map[[payment.NonceSize]byte]int64{}
	b := s.db.NewBatch()
	defer b.Close()
	err := s.scan("nn/", func(k, v []byte) error {
		if len(v) != 8 {
			return b.Delete(k, nil)
		}
		at := int64(binary.BigEndian.Uint64(v))
		rest := k[len("nn/"):]
		i := bytes.LastIndexByte(rest, '/')
		var nonce [payment.NonceSize]byte
		if i < 0 || len(rest)-i-1 != 2*payment.NonceSize || at < since.Unix() {
			return b.Delete(k, nil) // expired (or unreadable): no longer needed
		}
		if _, err := fmt.Sscanf(string(rest[i+1:]), "%x", &nonce); err != nil {
			return b.Delete(k, nil)
		}
		ch := string(rest[:i])
		if out[ch] == nil {
			out[ch] = map[[payment.NonceSize]byte]int64{}
		}
		out[ch][nonce] = at
		return nil
	})
	if err != nil {
		return nil, err
	}
	if b.Count() > 0 {
		if err := b.Commit(pebble.NoSync); err != nil {
			return nil, fmt.Errorf("failed to drop expired nonces: %w", err)
		}
	}
	return out, nil
}

// pruneReceipts deletes the receipts of the hours before t.
func (s *store) pruneReceipts(before time.Time) error { return s.receipts.prune(before) }

// addClaim records a claim (not synced: the chain and the transaction journal are the record of
// money; this is the operator's history).
func (s *store) addClaim(ch string, r *claimRecord) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := putJSON(b, claimKey(ch, time.Unix(0, r.Created)), r); err != nil {
		return err
	}
	return b.Commit(pebble.NoSync)
}

// claims lists a channel's claim records, oldest first.
func (s *store) claims(ch string) ([]claimRecord, error) {
	var out []claimRecord
	err := s.scan("cl/"+ch+"/", func(k, v []byte) error {
		var r claimRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return fmt.Errorf("corrupt claim record %s: %w", k, err)
		}
		out = append(out, r)
		return nil
	})
	return out, err
}
