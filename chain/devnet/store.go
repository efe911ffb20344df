package devnet

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/internal/pebblelog"
)

// Key layout of the devnet's Pebble store (all integers big-endian):
//
//	'a' wc:int32 id:[32]       → ShardAccount cell BOC (account root, last tx hash, last tx LT)
//	't' wc:int32 id:[32] lt:u64 → Transaction cell BOC
//	'h' hash:[32]               → wc:int32 id:[32] lt:u64 (transaction index by hash)
//	'm'                         → meta: next LT u64, block seqno u32, clock offset int64 (ns)
//	'b' seqno:u32               → the batch's transactions in execution order, 76 bytes each:
//	                              wc:int32 id:[32] lt:u64 hash:[32]
//	'q' lt:u64 wc:int32 id:[32] → block mode: an internal message created in a committed block and
//	                              not yet delivered (Message cell BOC); key = created LT, destination
//
// INVARIANT: every batch that changes accounts also writes their transactions, the meta record
// and the messages it created or delivered, so a reopened store is always the state after some
// whole committed batch, with every message in flight still queued. Created LTs are unique across
// the devnet (one LT counter for all accounts), so (created LT, destination) names one message.
const (
	prefixAccount = 'a'
	prefixTx      = 't'
	prefixHash    = 'h'
	prefixMeta    = 'm'
	prefixBatch   = 'b'
	prefixQueue   = 'q'
)

const batchEntrySize = 76

// addrKey identifies an account: workchain and 256-bit id.
type addrKey struct {
	wc int32
	id [32]byte
}

func (k addrKey) bytes() []byte {
	b := make([]byte, 36)
	binary.BigEndian.PutUint32(b, uint32(k.wc))
	copy(b[4:], k.id[:])
	return b
}

func addrKeyFrom(b []byte) addrKey {
	var k addrKey
	k.wc = int32(binary.BigEndian.Uint32(b))
	copy(k.id[:], b[4:36])
	return k
}

type meta struct {
	nextLT uint64
	seqno  uint32
	offset int64
}

func (m meta) bytes() []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint64(b, m.nextLT)
	binary.BigEndian.PutUint32(b[8:], m.seqno)
	binary.BigEndian.PutUint64(b[12:], uint64(m.offset))
	return b
}

type store struct {
	db   *pebble.DB
	sync bool
}

func openStore(dir string, noSync bool) (*store, error) {
	opts := &pebble.Options{Logger: pebblelog.Quiet{}}
	path := dir
	if dir == "" {
		opts.FS = vfs.NewMem()
		path = "devnet"
		noSync = true
	}
	db, err := pebble.Open(path, opts)
	if err != nil {
		return nil, fmt.Errorf("failed to open devnet store in %q: %w", dir, err)
	}
	return &store{db: db, sync: !noSync}, nil
}

func (s *store) close() error { return s.db.Close() }

func (s *store) get(key []byte) ([]byte, bool, error) {
	v, closer, err := s.db.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	out := append([]byte(nil), v...)
	return out, true, closer.Close()
}

func (s *store) meta() (meta, bool, error) {
	v, ok, err := s.get([]byte{prefixMeta})
	if err != nil || !ok {
		return meta{}, ok, err
	}
	if len(v) != 20 {
		return meta{}, false, fmt.Errorf("corrupt devnet meta record of %d bytes", len(v))
	}
	return meta{
		nextLT: binary.BigEndian.Uint64(v),
		seqno:  binary.BigEndian.Uint32(v[8:]),
		offset: int64(binary.BigEndian.Uint64(v[12:])),
	}, true, nil
}

func (s *store) account(k addrKey) ([]byte, bool, error) {
	return s.get(append([]byte{prefixAccount}, k.bytes()...))
}

func txKey(k addrKey, lt uint64) []byte {
	b := append([]byte{prefixTx}, k.bytes()...)
	return binary.BigEndian.AppendUint64(b, lt)
}

// txs returns up to limit transaction BOCs of one account with LT <= fromLT, newest first.
func (s *store) txs(k addrKey, fromLT uint64, limit int) ([][]byte, error) {
	lower := append([]byte{prefixTx}, k.bytes()...)
	upper := txKey(k, fromLT)
	upper = append(upper, 0) // inclusive of fromLT
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for ok := it.Last(); ok && len(out) < limit; ok = it.Prev() {
		out = append(out, append([]byte(nil), it.Value()...))
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, err
	}
	return out, it.Close()
}

// txByHash finds a transaction's account and LT by its hash.
func (s *store) txByHash(hash []byte) (addrKey, uint64, bool, error) {
	v, ok, err := s.get(append([]byte{prefixHash}, hash...))
	if err != nil || !ok {
		return addrKey{}, 0, ok, err
	}
	if len(v) != 44 {
		return addrKey{}, 0, false, fmt.Errorf("corrupt transaction index record of %d bytes", len(v))
	}
	return addrKeyFrom(v), binary.BigEndian.Uint64(v[36:]), true, nil
}

type txRecord struct {
	acc  addrKey
	lt   uint64
	hash []byte
	boc  []byte
}

// batch lists the transactions committed as batch seqno, in execution order.
func (s *store) batch(seqno uint32) ([]txRecord, bool, error) {
	v, ok, err := s.get(binary.BigEndian.AppendUint32([]byte{prefixBatch}, seqno))
	if err != nil || !ok {
		return nil, ok, err
	}
	if len(v)%batchEntrySize != 0 {
		return nil, false, fmt.Errorf("corrupt batch record of %d bytes", len(v))
	}
	out := make([]txRecord, 0, len(v)/batchEntrySize)
	for ; len(v) > 0; v = v[batchEntrySize:] {
		out = append(out, txRecord{acc: addrKeyFrom(v), lt: binary.BigEndian.Uint64(v[36:]), hash: append([]byte(nil), v[44:76]...)})
	}
	return out, true, nil
}

func queueKey(lt uint64, dst addrKey) []byte {
	b := binary.BigEndian.AppendUint64([]byte{prefixQueue}, lt)
	return append(b, dst.bytes()...)
}

// queued lists the internal messages in flight (block mode), in created-LT order.
func (s *store) queued() ([]queuedMsg, error) {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{prefixQueue}, UpperBound: []byte{prefixQueue + 1}})
	if err != nil {
		return nil, err
	}
	var out []queuedMsg
	for ok := it.First(); ok; ok = it.Next() {
		k := it.Key()
		if len(k) != 1+8+36 {
			_ = it.Close()
			return nil, fmt.Errorf("corrupt queue key of %d bytes", len(k))
		}
		msg, err := cell.FromBOC(it.Value())
		if err != nil {
			_ = it.Close()
			return nil, fmt.Errorf("corrupt queued message: %w", err)
		}
		out = append(out, queuedMsg{lt: binary.BigEndian.Uint64(k[1:]), seq: uint64(len(out)), dst: addrKeyFrom(k[9:]), msg: msg})
	}
	if err := it.Error(); err != nil {
		_ = it.Close()
		return nil, err
	}
	return out, it.Close()
}

// queueChange is what a block does to the queue of messages in flight.
type queueChange struct {
	delivered []queuedMsg // leave the queue
	created   []queuedMsg // join it
}

// commit writes one atomic batch: changed accounts, new transactions (also listed under the
// batch's seqno when there are any), the meta record and, in block mode, the queue change.
func (s *store) commit(accounts map[addrKey][]byte, txs []txRecord, m meta, q *queueChange) error {
	b := s.db.NewBatch()
	defer b.Close()
	if q != nil {
		for _, x := range q.delivered {
			if err := b.Delete(queueKey(x.lt, x.dst), nil); err != nil {
				return err
			}
		}
		for _, x := range q.created {
			if err := b.Set(queueKey(x.lt, x.dst), x.msg.ToBOC(), nil); err != nil {
				return err
			}
		}
	}
	if len(txs) > 0 {
		list := make([]byte, 0, len(txs)*batchEntrySize)
		for _, t := range txs {
			list = append(list, t.acc.bytes()...)
			list = binary.BigEndian.AppendUint64(list, t.lt)
			list = append(list, t.hash...)
		}
		if err := b.Set(binary.BigEndian.AppendUint32([]byte{prefixBatch}, m.seqno), list, nil); err != nil {
			return err
		}
	}
	for k, v := range accounts {
		if err := b.Set(append([]byte{prefixAccount}, k.bytes()...), v, nil); err != nil {
			return err
		}
	}
	for _, t := range txs {
		if err := b.Set(txKey(t.acc, t.lt), t.boc, nil); err != nil {
			return err
		}
		idx := binary.BigEndian.AppendUint64(t.acc.bytes(), t.lt)
		if err := b.Set(append([]byte{prefixHash}, t.hash...), idx, nil); err != nil {
			return err
		}
	}
	if err := b.Set([]byte{prefixMeta}, m.bytes(), nil); err != nil {
		return err
	}
	opt := pebble.NoSync
	if s.sync {
		opt = pebble.Sync
	}
	if err := b.Commit(opt); err != nil {
		return fmt.Errorf("failed to commit devnet batch: %w", err)
	}
	return nil
}
