// Package store is the indexer's Pebble database: every transaction of the followed contracts,
// decoded, with the replayed state of each contract, its history events, hourly totals and the
// indexes that link a message to the transactions that sent and received it.
//
// Schema (keys are binary; an address is its workchain byte and 32-byte hash, lt and times are
// big-endian, so keys sort by them; values are JSON):
//
//	A addr               Account: kind, discovered by which transaction
//	K kind addr          (empty) accounts of one kind
//	C addr               Cursor: the newest transaction ingested (lt, hash)
//	S addr               state.State after the cursor
//	T addr lt            decode.Tx
//	H hash               addr lt of the transaction with this hash
//	O src created_lt     hash of the transaction that sent the message (src, created_lt)
//	I src created_lt     addr lt of the transaction that received it
//	E addr lt seq        state.Event
//	P provider channel   (empty) the channels of a provider
//	B hour               Bucket: claims, money and tokens of one hour (unix time / 3600)
//	G                    Counters
//	U Q V W              uptime commitments, their tables and verified entries (see uptime.go)
//
// Ingest writes one account's transactions, everything derived from them and the account's cursor
// in one synced batch: a crash leaves either all of it or none, and a restart continues from the
// cursor with no gap and no duplicate. A transaction at or below the cursor is skipped (every
// stored transaction is, since it was written with the cursor), so ingesting it twice is a no-op. One writer at a time (Ingest holds a lock); readers
// never block it.
package store

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/internal/pebblelog"
)

// Key prefixes (see the package doc).
const (
	pAccount = 'A'
	pKind    = 'K'
	pCursor  = 'C'
	pState   = 'S'
	pTx      = 'T'
	pHash    = 'H'
	pSent    = 'O'
	pRecv    = 'I'
	pEvent   = 'E'
	pChannel = 'P'
	pBucket  = 'B'
	pCounter = 'G'
)

// ErrNotFound is a key the store does not hold.
var ErrNotFound = errors.New("not found")

// Store is the indexer's database.
type Store struct {
	db *pebble.DB
	// wmu serialises Ingest (it reads what it updates: states, buckets, counters).
	wmu sync.Mutex
	// gen counts committed ingests; readers cache what they computed per generation.
	gen    atomic.Uint64
	noSync bool
	// counters mirrors the G key: every reader of a view asks for it. Written after each commit
	// under wmu.
	counters atomic.Pointer[Counters]
}

// Options tune Open.
type Options struct {
	// NoSync skips the fsync of each batch (benchmarks only: a crash may lose the last batches,
	// never half of one).
	NoSync bool
}

// Open opens (or creates) the store in dir.
func Open(dir string, o Options) (*Store, error) {
	opts := &pebble.Options{Logger: pebblelog.Quiet{}}
	db, err := pebble.Open(dir, opts)
	if err != nil {
		return nil, fmt.Errorf("failed to open the indexer store in %s: %w", dir, err)
	}
	s := &Store{db: db, noSync: o.NoSync}
	var c Counters
	if _, err := getJSON(db, []byte{pCounter}, &c); err != nil {
		_ = db.Close()
		return nil, err
	}
	s.counters.Store(&c)
	return s, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Generation changes with every committed ingest.
func (s *Store) Generation() uint64 { return s.gen.Load() }

// Account is one followed contract.
type Account struct {
	Address string     `json:"address"`
	Kind    state.Kind `json:"kind"`
	// DiscoveredBy is the transaction (hash) whose message deployed it; "" for the registry.
	DiscoveredBy string `json:"discovered_by,omitempty"`
	DiscoveredAt uint32 `json:"discovered_at,omitempty"`
}

// Cursor is the newest transaction of an account that was ingested.
type Cursor struct {
	LT   uint64 `json:"lt"`
	Hash string `json:"hash"`
}

// Counters are store-wide totals.
type Counters struct {
	Transactions int `json:"transactions"`
	Failed       int `json:"failed"`
	// Unknown counts message bodies no Cocoon message matched (kept raw).
	Unknown int `json:"unknown"`
	Bounced int `json:"bounced"`
	// Mismatches counts reconciliations where the replayed state differed from the contract's
	// storage (see package state).
	Mismatches int `json:"mismatches"`
	// LastTime is the newest transaction time ingested.
	LastTime uint32 `json:"last_time"`
	// Tables are the oracles' uptime tables by oracle wallet (raw): verified and refused.
	Tables map[string]TableCounts `json:"tables,omitempty"`
}

// Bucket sums one hour.
type Bucket struct {
	Hour             uint32   `json:"hour"`
	Claims           int      `json:"claims"`
	PromptTokens     uint64   `json:"prompt_tokens"`
	CompletionTokens uint64   `json:"completion_tokens"`
	Paid             *big.Int `json:"paid"`
	Fees             *big.Int `json:"fees"`
	Earned           *big.Int `json:"earned"`
	Deposits         *big.Int `json:"deposits"`
	Refunds          *big.Int `json:"refunds"`
	Transactions     int      `json:"transactions"`
}

// ---------------------------------------------------------------- keys

// addrKey is an address's 33 key bytes.
func addrKey(raw string) ([]byte, error) {
	a, err := address.ParseRawAddr(raw)
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %w", raw, err)
	}
	return append([]byte{byte(int8(a.Workchain()))}, a.Data()...), nil
}

func addrFromKey(k []byte) string {
	return fmt.Sprintf("%d:%s", int8(k[0]), hex.EncodeToString(k[1:33]))
}

func key(prefix byte, parts ...[]byte) []byte {
	n := 1
	for _, p := range parts {
		n += len(p)
	}
	k := make([]byte, 0, n)
	k = append(k, prefix)
	for _, p := range parts {
		k = append(k, p...)
	}
	return k
}

func be64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
func be32(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func be16(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

// upper is the smallest key above every key starting with prefix.
func upper(prefix []byte) []byte {
	u := bytes.Clone(prefix)
	for i := len(u) - 1; i >= 0; i-- {
		if u[i] != 0xff {
			u[i]++
			return u[:i+1]
		}
	}
	return nil
}

var kindByte = map[state.Kind]byte{state.KindRegistry: 'r', state.KindProvider: 'p', state.KindChannel: 'c'}

// ---------------------------------------------------------------- reads

// getJSON reads key into v; false when absent.
func getJSON(r pebble.Reader, k []byte, v any) (bool, error) {
	b, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer closer.Close()
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("corrupt value under %x: %w", k, err)
	}
	return true, nil
}

func has(r pebble.Reader, k []byte) (bool, error) {
	_, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return true, closer.Close()
}

// scan calls fn for every key with prefix, in key order (reverse: descending), until fn returns false.
func scan(r pebble.Reader, prefix []byte, reverse bool, fn func(k, v []byte) (bool, error)) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: upper(prefix)})
	if err != nil {
		return err
	}
	defer it.Close()
	ok := it.First()
	if reverse {
		ok = it.Last()
	}
	for ; ok; ok = step(it, reverse) {
		more, err := fn(it.Key(), it.Value())
		if err != nil {
			return err
		}
		if !more {
			break
		}
	}
	return it.Error()
}

func step(it *pebble.Iterator, reverse bool) bool {
	if reverse {
		return it.Prev()
	}
	return it.Next()
}

// Account reads one followed account.
func (s *Store) Account(raw string) (*Account, error) {
	k, err := addrKey(raw)
	if err != nil {
		return nil, err
	}
	var a Account
	ok, err := getJSON(s.db, key(pAccount, k), &a)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return &a, nil
}

// Accounts lists the followed accounts of kind ("" for all), in address order.
func (s *Store) Accounts(kind state.Kind) ([]Account, error) {
	var out []Account
	prefix := []byte{pAccount}
	if kind != "" {
		prefix = []byte{pKind, kindByte[kind]}
	}
	err := scan(s.db, prefix, false, func(k, v []byte) (bool, error) {
		if kind == "" {
			var a Account
			if err := json.Unmarshal(v, &a); err != nil {
				return false, err
			}
			out = append(out, a)
			return true, nil
		}
		out = append(out, Account{Address: addrFromKey(k[2:]), Kind: kind})
		return true, nil
	})
	return out, err
}

// AddAccount starts following an account (a no-op when it is followed already).
func (s *Store) AddAccount(a Account) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	b := s.db.NewIndexedBatch()
	defer b.Close()
	if _, err := addAccount(b, a); err != nil {
		return err
	}
	return s.commit(b)
}

func addAccount(b *pebble.Batch, a Account) (bool, error) {
	k, err := addrKey(a.Address)
	if err != nil {
		return false, err
	}
	if ok, err := has(b, key(pAccount, k)); err != nil || ok {
		return false, err
	}
	v, err := json.Marshal(a)
	if err != nil {
		return false, err
	}
	if err := b.Set(key(pAccount, k), v, nil); err != nil {
		return false, err
	}
	return true, b.Set(key(pKind, []byte{kindByte[a.Kind]}, k), nil, nil)
}

// Cursor reads an account's cursor (zero when nothing was ingested).
func (s *Store) Cursor(raw string) (Cursor, error) {
	k, err := addrKey(raw)
	if err != nil {
		return Cursor{}, err
	}
	var c Cursor
	_, err = getJSON(s.db, key(pCursor, k), &c)
	return c, err
}

// State reads an account's replayed state (ErrNotFound when not followed).
func (s *Store) State(raw string) (*state.State, error) {
	k, err := addrKey(raw)
	if err != nil {
		return nil, err
	}
	var st state.State
	ok, err := getJSON(s.db, key(pState, k), &st)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, ErrNotFound
	}
	return &st, nil
}

// States reads the states of every account of kind, in address order (accounts with no
// transaction yet are left out).
func (s *Store) States(kind state.Kind) ([]*state.State, error) {
	accts, err := s.Accounts(kind)
	if err != nil {
		return nil, err
	}
	out := make([]*state.State, 0, len(accts))
	for _, a := range accts {
		st, err := s.State(a.Address)
		if errors.Is(err, ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// Counters reads the store-wide totals.
func (s *Store) Counters() (Counters, error) { return *s.counters.Load(), nil }

// Buckets reads the hours from..to (inclusive) that have something, in order.
func (s *Store) Buckets(from, to uint32) ([]Bucket, error) {
	var out []Bucket
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: key(pBucket, be32(from)), UpperBound: key(pBucket, be32(to+1))})
	if err != nil {
		return nil, err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		var b Bucket
		if err := json.Unmarshal(it.Value(), &b); err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, it.Error()
}

// ChannelsOf lists the channels of a provider contract, in address order.
func (s *Store) ChannelsOf(provider string) ([]string, error) {
	k, err := addrKey(provider)
	if err != nil {
		return nil, err
	}
	var out []string
	err = scan(s.db, key(pChannel, k), false, func(k, _ []byte) (bool, error) {
		out = append(out, addrFromKey(k[34:]))
		return true, nil
	})
	return out, err
}

// Events calls fn with the events of an account, oldest first (reverse: newest first), until fn
// returns false.
func (s *Store) Events(raw string, reverse bool, fn func(*state.Event) bool) error {
	k, err := addrKey(raw)
	if err != nil {
		return err
	}
	return scan(s.db, key(pEvent, k), reverse, func(_, v []byte) (bool, error) {
		var ev state.Event
		if err := json.Unmarshal(v, &ev); err != nil {
			return false, err
		}
		return fn(&ev), nil
	})
}

// commit writes b, synced unless the store was opened with NoSync.
func (s *Store) commit(b *pebble.Batch) error {
	opts := pebble.Sync
	if s.noSync {
		opts = pebble.NoSync
	}
	if err := b.Commit(opts); err != nil {
		return fmt.Errorf("failed to commit to the indexer store: %w", err)
	}
	s.gen.Add(1)
	return nil
}

// Each calls fn with every key and value of the store, in key order (tests compare stores with it;
// fn must not keep the slices).
func (s *Store) Each(fn func(key, value []byte) error) error {
	it, err := s.db.NewIter(nil)
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		if err := fn(it.Key(), it.Value()); err != nil {
			return err
		}
	}
	return it.Error()
}
