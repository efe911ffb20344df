package pay

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/internal/journal"
	"github.com/cocoon-go/cocoon/internal/pebblelog"
	"github.com/cocoon-go/cocoon/voucher"
)

// Store is the client's durable payment state in Pebble. Every write goes through a journal
// (internal/journal, in the directory beside the store's named <store>-journal): it survives a
// killed process when Write returns, and a host crash once synced — before Write returns when
// asked (a channel's record, a voucher adopted from the provider), within 5 ms otherwise. Key
// layout (raw channel address C):
//
//	"pay/v/" C "/" amount (32 hex digits, big-endian) → the signed voucher, header form
//	"pay/c/" C                                        → the channel's ledger (ChannelRecord, JSON)
//	"pay/u/" C "/" request id                         → an unsettled request's cap (decimal nanoTON)
//
// INVARIANT: at most one voucher per (channel, amount): a voucher is written here (in the journal)
// before it leaves the process, and an amount already stored is never signed again
// (Ledger.voucherLocked). A host crash can take what the journal had not synced (≤ 5 ms): the
// provider's copy of the newest voucher is then adopted before anything is signed on top of it
// (Ledger.Resync, after the provider's "voucher goes backwards").
//
// The journal applies its batches to Pebble in the background (before each sync), so every read
// first has it apply what it holds (fresh): a read sees every Write before it.
type Store struct {
	db     *pebble.DB
	j      *journal.Journal
	closed sync.Once
}

// OpenStore opens (or creates) a store in dir (and its journal beside it, replayed into it).
// Pebble locks the directory: one process at a time.
func OpenStore(dir string) (*Store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		return nil, fmt.Errorf("failed to open the client's store in %q (is a gateway or another client command using it?): %w", dir, err)
	}
	j, err := journal.Open(filepath.Join(filepath.Dir(dir), filepath.Base(dir)+"-journal"), db, journal.Options{Size: journalSize})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("failed to open the client's journal: %w", err)
	}
	return &Store{db: db, j: j}, nil
}

// journalSize: a client writes a few hundred bytes a request; 4 MiB is ~10,000 requests a file.
const journalSize = 4 << 20

// DB is the underlying database (the gateway keeps its request records and the transaction
// journal beside the payments). Its payment keys may lag the Writes: read those through Store.
func (s *Store) DB() *pebble.DB { return s.db }

// Close closes the journal and the database.
func (s *Store) Close() error {
	var err error
	s.closed.Do(func() { err = errors.Join(s.j.Close(), s.db.Close()) })
	return err
}

// ChannelRecord is what the client knows about one of its channels.
type ChannelRecord struct {
	Channel  string `json:"channel"`
	Provider string `json:"provider"`
	Owner    string `json:"owner"`
	// Owed is what the client accepts it owes the provider in total (nanoTON): the sum of the
	// verified receipts' costs, or a provider's view accepted within the bound of Ledger.Resync.
	Owed string `json:"owed"`
	// Prompt and Completion are the token totals of the same answers.
	Prompt     uint64 `json:"prompt_tokens"`
	Completion uint64 `json:"completion_tokens"`
	// Dropped names why the provider was dropped on this channel ("" when not).
	Dropped string `json:"dropped,omitempty"`
}

func amountKey(ch *address.Address, amount *big.Int) []byte {
	var b [16]byte
	amount.FillBytes(b[:])
	return []byte("pay/v/" + ch.StringRaw() + "/" + hex.EncodeToString(b[:]))
}

func prefixRange(prefix string) *pebble.IterOptions {
	upper := []byte(prefix)
	upper[len(upper)-1]++
	return &pebble.IterOptions{LowerBound: []byte(prefix), UpperBound: upper}
}

// fresh applies every Write so far to Pebble, for a read to see it (journal.Flush).
func (s *Store) fresh() error {
	if err := s.j.Flush(); err != nil {
		return fmt.Errorf("failed to read the payment state: %w", err)
	}
	return nil
}

// Voucher is the voucher stored for exactly this amount (nil: none).
func (s *Store) Voucher(ch *address.Address, amount *big.Int) (*voucher.Signed, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	v, closer, err := s.db.Get(amountKey(ch, amount))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read a voucher: %w", err)
	}
	defer closer.Close()
	sv, err := voucher.DecodeHeader(string(v))
	if err != nil {
		return nil, fmt.Errorf("corrupt stored voucher: %w", err)
	}
	return &sv, nil
}

// PutVoucher stores a signed voucher durably. It refuses a second, different voucher for an
// amount already stored.
func (s *Store) PutVoucher(sv *voucher.Signed) error {
	return s.Write(true, func(w *Writes) error { return w.Voucher(sv) })
}

// Writes collects writes that are committed together (Store.Write).
type Writes struct {
	s *Store
	b *pebble.Batch
}

// Voucher adds a signed voucher, refusing a second, different one for a stored amount.
func (w *Writes) Voucher(sv *voucher.Signed) error {
	if old, err := w.s.Voucher(sv.Channel, sv.Amount); err != nil {
		return err
	} else if old != nil {
		if old.Signature != sv.Signature {
			return fmt.Errorf("%w: a different voucher for %s nanoTON on channel %s is already signed", ErrSecondVoucher, sv.Amount, sv.Channel.StringRaw())
		}
		return nil
	}
	h, err := voucher.EncodeHeader(sv)
	if err != nil {
		return err
	}
	return w.b.Set(amountKey(sv.Channel, sv.Amount), []byte(h), nil)
}

// Channel adds a channel's record.
func (w *Writes) Channel(r *ChannelRecord) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	return w.b.Set([]byte("pay/c/"+r.Channel), b, nil)
}

// Unsettled adds a request about to be sent, with its cap.
func (w *Writes) Unsettled(ch *address.Address, id string, cap *big.Int) error {
	return w.b.Set(unsettledKey(ch, id), []byte(cap.String()), nil)
}

// Settled removes a request's record.
func (w *Writes) Settled(ch *address.Address, id string) error {
	return w.b.Delete(unsettledKey(ch, id), nil)
}

// Write commits what fn adds as one batch through the journal; sync waits for it to be on stable
// storage, without it the journal syncs it within 5 ms. Writes to one key are ordered by the
// caller (the ledger's lock).
func (s *Store) Write(sync bool, fn func(w *Writes) error) error {
	b := s.db.NewBatch()
	defer b.Close()
	if err := fn(&Writes{s: s, b: b}); err != nil {
		return err
	}
	if b.Empty() {
		return nil
	}
	pos, err := s.j.Commit(b)
	if err == nil && sync {
		err = s.j.WaitSynced(pos)
	}
	if err != nil {
		return fmt.Errorf("failed to write the payment state: %w", err)
	}
	return nil
}

// Latest is the channel's voucher with the largest amount (nil: none signed).
func (s *Store) Latest(ch *address.Address) (*voucher.Signed, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(prefixRange("pay/v/" + ch.StringRaw() + "/"))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	if !it.Last() {
		return nil, it.Error()
	}
	sv, err := voucher.DecodeHeader(string(it.Value()))
	if err != nil {
		return nil, fmt.Errorf("corrupt stored voucher: %w", err)
	}
	return &sv, nil
}

// Vouchers lists every voucher signed for a channel, smallest amount first.
func (s *Store) Vouchers(ch *address.Address) ([]voucher.Signed, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(prefixRange("pay/v/" + ch.StringRaw() + "/"))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []voucher.Signed
	for ok := it.First(); ok; ok = it.Next() {
		sv, err := voucher.DecodeHeader(string(it.Value()))
		if err != nil {
			return nil, fmt.Errorf("corrupt stored voucher: %w", err)
		}
		out = append(out, sv)
	}
	return out, it.Error()
}

// Channel reads a channel's record (nil: none).
func (s *Store) Channel(ch *address.Address) (*ChannelRecord, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	v, closer, err := s.db.Get([]byte("pay/c/" + ch.StringRaw()))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read a channel record: %w", err)
	}
	defer closer.Close()
	var r ChannelRecord
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, fmt.Errorf("corrupt channel record: %w", err)
	}
	return &r, nil
}

// PutChannel writes a channel's record durably.
func (s *Store) PutChannel(r *ChannelRecord) error {
	return s.Write(true, func(w *Writes) error { return w.Channel(r) })
}

// Channels lists every channel record.
func (s *Store) Channels() ([]ChannelRecord, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	it, err := s.db.NewIter(prefixRange("pay/c/"))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	var out []ChannelRecord
	for ok := it.First(); ok; ok = it.Next() {
		var r ChannelRecord
		if err := json.Unmarshal(it.Value(), &r); err != nil {
			return nil, fmt.Errorf("corrupt channel record: %w", err)
		}
		out = append(out, r)
	}
	return out, it.Error()
}

func unsettledKey(ch *address.Address, id string) []byte {
	return []byte("pay/u/" + ch.StringRaw() + "/" + id)
}

// Unsettled lists a channel's unsettled requests: id → cap.
func (s *Store) Unsettled(ch *address.Address) (map[string]*big.Int, error) {
	if err := s.fresh(); err != nil {
		return nil, err
	}
	prefix := "pay/u/" + ch.StringRaw() + "/"
	it, err := s.db.NewIter(prefixRange(prefix))
	if err != nil {
		return nil, err
	}
	defer it.Close()
	out := map[string]*big.Int{}
	for ok := it.First(); ok; ok = it.Next() {
		v, ok := new(big.Int).SetString(string(it.Value()), 10)
		if !ok {
			return nil, fmt.Errorf("corrupt unsettled request %s", it.Key())
		}
		out[string(it.Key()[len(prefix):])] = v
	}
	return out, it.Error()
}
