package txmgr

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/internal/pebblelog"
)

// Journal keeps one wallet's requests so that a request survives its process: every signed
// message is recorded before it is submitted, and what became of it after. Implementations:
// NewMemJournal (one process's lifetime) and JournalDB.For (Pebble, fsynced).
type Journal interface {
	// Get returns the entry of key, or false.
	Get(key string) (*Entry, bool, error)
	// Put stores e (replacing the entry of its key); it is durable when Put returns.
	Put(e *Entry) error
	// Delete removes the entry of key (no error when there is none).
	Delete(key string) error
	// Pending returns the entries in StatePending, oldest first (without reading the others).
	Pending() ([]*Entry, error)
	// Prune removes the finished (done or failed) entries created before the time.
	Prune(before time.Time) error
}

// EntryState is where a request is.
type EntryState string

const (
	// StatePending: a message was signed and may still be included.
	StatePending EntryState = "pending"
	// StateDone: the wallet transaction of one of its messages was found (Entry.TxLT, TxHash).
	StateDone EntryState = "done"
	// StateFailed: none of its messages can be included any more, and the manager gave up.
	StateFailed EntryState = "failed"
)

// Reason says why a message was signed.
type Reason string

const (
	// ReasonFirst is the request's first message.
	ReasonFirst Reason = "first"
	// ReasonExpired: the previous message's valid_until passed before it was included; the new
	// one has the same seqno (at most one of them can be included).
	ReasonExpired Reason = "expired"
	// ReasonSeqnoTaken: another message (another process, or another signer of the same key) took
	// the previous message's seqno; the new one has the next free seqno.
	ReasonSeqnoTaken Reason = "seqno taken"
)

// Attempt is one signed message of a request.
type Attempt struct {
	Seqno      uint32    `json:"seqno"`
	ValidUntil time.Time `json:"valid_until"`
	Deploy     bool      `json:"deploy,omitempty"`
	Reason     Reason    `json:"reason"`
	// Message is the signed external message (BOC); BodyHash identifies the wallet transaction it
	// causes; Hash is the message cell's hash (what sendBoc returns).
	Message  []byte `json:"message"`
	BodyHash []byte `json:"body_hash"`
	Hash     []byte `json:"hash"`
}

// Entry is one request as the journal keeps it.
type Entry struct {
	Key     string    `json:"key"`
	Wallet  string    `json:"wallet"`  // raw address
	Created time.Time `json:"created"` // wall clock, for retention
	// AfterLT is the wallet's last transaction LT read before the first message was signed: every
	// transaction a message of this request can cause is above it.
	AfterLT   uint64            `json:"after_lt"`
	Transfers []JournalTransfer `json:"transfers"`
	Attempts  []Attempt         `json:"attempts"`
	State     EntryState        `json:"state"`
	// Accepted: a node accepted one of the messages (recorded with the next write).
	Accepted bool `json:"accepted,omitempty"`
	// Included is the index in Attempts of the message that was included (StateDone).
	Included int    `json:"included,omitempty"`
	TxLT     uint64 `json:"tx_lt,omitempty"`
	TxHash   []byte `json:"tx_hash,omitempty"`
	Err      string `json:"error,omitempty"` // StateFailed
}

// JournalTransfer is a wallet.Transfer in a form that survives a restart.
type JournalTransfer struct {
	To        string `json:"to"` // raw address
	Amount    string `json:"amount"`
	Bounce    bool   `json:"bounce,omitempty"`
	Mode      uint8  `json:"mode,omitempty"`
	Body      []byte `json:"body,omitempty"`       // BOC
	StateInit []byte `json:"state_init,omitempty"` // BOC of the StateInit cell
}

func journalTransfers(ts []wallet.Transfer) ([]JournalTransfer, error) {
	out := make([]JournalTransfer, len(ts))
	for i, t := range ts {
		if t.To == nil || t.Amount == nil || t.Amount.Sign() < 0 {
			return nil, fmt.Errorf("%w: transfer %d needs a destination and a non-negative amount", ErrBadRequest, i)
		}
		j := JournalTransfer{To: t.To.StringRaw(), Amount: t.Amount.String(), Bounce: t.Bounce, Mode: t.Mode}
		if t.Body != nil {
			j.Body = t.Body.ToBOC()
		}
		if t.StateInit != nil {
			c, err := tlb.ToCell(t.StateInit)
			if err != nil {
				return nil, fmt.Errorf("%w: transfer %d: bad StateInit: %v", ErrBadRequest, i, err)
			}
			j.StateInit = c.ToBOC()
		}
		out[i] = j
	}
	return out, nil
}

func (e *Entry) transfers() ([]wallet.Transfer, error) {
	out := make([]wallet.Transfer, len(e.Transfers))
	for i, j := range e.Transfers {
		to, err := address.ParseRawAddr(j.To)
		if err != nil {
			return nil, fmt.Errorf("journal entry %q: transfer %d: %w", e.Key, i, err)
		}
		amount, ok := new(big.Int).SetString(j.Amount, 10)
		if !ok {
			return nil, fmt.Errorf("journal entry %q: transfer %d: bad amount %q", e.Key, i, j.Amount)
		}
		t := wallet.Transfer{To: to, Amount: amount, Bounce: j.Bounce, Mode: j.Mode}
		if j.Body != nil {
			if t.Body, err = cell.FromBOC(j.Body); err != nil {
				return nil, fmt.Errorf("journal entry %q: transfer %d body: %w", e.Key, i, err)
			}
		}
		if j.StateInit != nil {
			c, err := cell.FromBOC(j.StateInit)
			if err != nil {
				return nil, fmt.Errorf("journal entry %q: transfer %d state init: %w", e.Key, i, err)
			}
			var si tlb.StateInit
			if err := tlb.LoadFromCell(&si, c.MustBeginParse()); err != nil {
				return nil, fmt.Errorf("journal entry %q: transfer %d state init: %w", e.Key, i, err)
			}
			t.StateInit = &si
		}
		out[i] = t
	}
	return out, nil
}

// expired counts the messages re-signed because the one before expired.
func (e *Entry) expired() int {
	n := 0
	for _, a := range e.Attempts {
		if a.Reason == ReasonExpired {
			n++
		}
	}
	return n
}

func (e *Entry) clone() *Entry {
	c := *e
	c.Transfers = append([]JournalTransfer(nil), e.Transfers...)
	c.Attempts = append([]Attempt(nil), e.Attempts...)
	return &c
}

func sortEntries(es []*Entry) {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Created.Before(es[j].Created) })
}

// memJournal is a Journal that lives as long as its process.
type memJournal struct {
	mu sync.Mutex
	m  map[string]*Entry
}

// NewMemJournal is a Journal in memory: requests are idempotent within the process, and nothing
// survives it.
func NewMemJournal() Journal { return &memJournal{m: map[string]*Entry{}} }

func (j *memJournal) Get(key string) (*Entry, bool, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	e, ok := j.m[key]
	if !ok {
		return nil, false, nil
	}
	return e.clone(), true, nil
}

func (j *memJournal) Put(e *Entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.m[e.Key] = e.clone()
	return nil
}

func (j *memJournal) Delete(key string) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.m, key)
	return nil
}

func (j *memJournal) Pending() ([]*Entry, error) {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []*Entry
	for _, e := range j.m {
		if e.State == StatePending {
			out = append(out, e.clone())
		}
	}
	sortEntries(out)
	return out, nil
}

func (j *memJournal) Prune(before time.Time) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for k, e := range j.m {
		if e.State != StatePending && e.Created.Before(before) {
			delete(j.m, k)
		}
	}
	return nil
}

// JournalDB is a Pebble database of journals, one per wallet (For). Every Put is one fsynced
// batch. Key layout, per wallet (raw address W):
//
//	"txmgr/" W "/e/" key → the entry as JSON
//	"txmgr/" W "/p/" key → "" while the entry is pending (the index Pending reads)
//
// INVARIANT: a "p" key exists exactly when its entry is in StatePending.
type JournalDB struct {
	db  *pebble.DB
	own bool
}

// OpenJournal opens (or creates) a journal database in dir. Pebble locks the directory: one process
// at a time.
func OpenJournal(dir string) (*JournalDB, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		return nil, fmt.Errorf("failed to open the transaction journal in %q: %w", dir, err)
	}
	return &JournalDB{db: db, own: true}, nil
}

// NewJournalDB keeps journals in a Pebble database the caller already has open (a daemon's own
// store); the keys all start with "txmgr/". Close does not close db.
func NewJournalDB(db *pebble.DB) *JournalDB { return &JournalDB{db: db} }

// Close closes the database when OpenJournal opened it.
func (j *JournalDB) Close() error {
	if !j.own {
		return nil
	}
	return j.db.Close()
}

// For is the journal of one wallet.
func (j *JournalDB) For(walletAddr *address.Address) Journal {
	return &pebbleJournal{db: j.db, prefix: "txmgr/" + walletAddr.StringRaw() + "/"}
}

type pebbleJournal struct {
	db     *pebble.DB
	prefix string
}

func (j *pebbleJournal) entryKey(key string) []byte   { return []byte(j.prefix + "e/" + key) }
func (j *pebbleJournal) pendingKey(key string) []byte { return []byte(j.prefix + "p/" + key) }

func (j *pebbleJournal) Get(key string) (*Entry, bool, error) {
	v, closer, err := j.db.Get(j.entryKey(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("failed to read journal entry %q: %w", key, err)
	}
	defer closer.Close()
	var e Entry
	if err := json.Unmarshal(v, &e); err != nil {
		return nil, false, fmt.Errorf("corrupt journal entry %q: %w", key, err)
	}
	return &e, true, nil
}

func (j *pebbleJournal) Put(e *Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("failed to encode journal entry %q: %w", e.Key, err)
	}
	b := j.db.NewBatch()
	defer b.Close()
	err = b.Set(j.entryKey(e.Key), v, nil)
	if err == nil && e.State == StatePending {
		err = b.Set(j.pendingKey(e.Key), nil, nil)
	} else if err == nil {
		err = b.Delete(j.pendingKey(e.Key), nil)
	}
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("failed to write journal entry %q: %w", e.Key, err)
	}
	return nil
}

func (j *pebbleJournal) Delete(key string) error {
	b := j.db.NewBatch()
	defer b.Close()
	err := errors.Join(b.Delete(j.entryKey(key), nil), b.Delete(j.pendingKey(key), nil))
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("failed to delete journal entry %q: %w", key, err)
	}
	return nil
}

// scan calls fn with every key (without the prefix) stored under sub ("e/" or "p/") and its value.
func (j *pebbleJournal) scan(sub string, fn func(key string, v []byte) error) error {
	lower := []byte(j.prefix + sub)
	upper := append([]byte(j.prefix+sub[:len(sub)-1]), '/'+1)
	it, err := j.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && err == nil; ok = it.Next() {
		err = fn(string(it.Key()[len(lower):]), it.Value())
	}
	return errors.Join(err, it.Error(), it.Close())
}

func (j *pebbleJournal) Pending() ([]*Entry, error) {
	var keys []string
	if err := j.scan("p/", func(key string, _ []byte) error { keys = append(keys, key); return nil }); err != nil {
		return nil, fmt.Errorf("failed to list pending journal entries: %w", err)
	}
	out := make([]*Entry, 0, len(keys))
	for _, k := range keys {
		e, ok, err := j.Get(k)
		if err != nil {
			return nil, err
		}
		if ok {
			out = append(out, e)
		}
	}
	sortEntries(out)
	return out, nil
}

func (j *pebbleJournal) Prune(before time.Time) error {
	var old []string
	err := j.scan("e/", func(key string, v []byte) error {
		var e Entry
		if err := json.Unmarshal(v, &e); err != nil {
			return fmt.Errorf("corrupt journal entry %q: %w", key, err)
		}
		if e.State != StatePending && e.Created.Before(before) {
			old = append(old, key)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("failed to prune the journal: %w", err)
	}
	for _, k := range old {
		if err := j.Delete(k); err != nil {
			return err
		}
	}
	return nil
}
