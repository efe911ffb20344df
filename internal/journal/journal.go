// Package journal keeps a Pebble store's most important batches durable without an fsync, or even
// a store write, on the caller's path. Commit writes a copy of a batch to a journal file with one
// pwrite, so the batch survives a killed process (kill -9) the moment Commit returns; a syncer
// goroutine applies the committed batches to the store (in commit order, merged, unsynced) and then
// fdatasyncs the journal, so a batch survives a host or VM crash, and is in the store, once
// WaitSynced(pos) returns. The syncer starts a round at once for a position someone waits for
// (every batch committed before it shares that fsync), and otherwise within Options.SyncDelay of a
// commit: batches nobody waits for do not put an fsync in front of the next one somebody does, nor
// beside each request (an fsync running beside a request slowed it by ~0.15 ms on the benchmark's
// 2-core machine). A caller that must not act before a host crash is covered waits; one
// that only needs the process-kill guarantee goes on while the disk works.
//
// The store lags the journal by at most a sync round: a reader of keys written through the journal
// calls Flush (or WaitSynced) first. A batch the store had not taken when the process stopped is
// replayed from the journal at the next Open. Were the syncer stuck (a slow disk), the batches
// waiting for it are bounded: past maxPending bytes, Commit applies them itself.
//
// On disk (dir): files journal-<generation, 16 hex digits>.log, each preallocated to Options.Size
// with zeros and written in place, so that an fdatasync never has a file size to commit. A record
// is
//
//	length   uint32, little-endian: the payload's length (0: no record here)
//	checksum uint32, little-endian: CRC-32C of the file's generation (uint64, little-endian) and the payload
//	payload  the batch's Pebble representation (pebble.Batch.Repr)
//
// Records follow each other from offset 0; a file is read up to its first record that is absent,
// torn or of another generation (a recycled file keeps the bytes of its previous life, which the
// generation in the checksum rejects). When a record does not fit, the full file's batches are
// applied to the store, the file is synced and the next generation's file (laid out in the
// background beforehand) takes over; the full one is removed once a synced Pebble write has made
// every batch in it durable in the store itself.
//
// Open replays every file in generation order into the store and syncs the store, then recycles
// the newest file under a new generation: replaying batches already in the store is harmless
// because, for every key written through the journal, the journal's last record for that key is
// the store's newest write of it (INVARIANT, the caller's: a key that goes through Commit is never
// written to the store directly while the journal is open).
package journal

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/batchrepr"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// DefaultSize is a journal file's size when Options.Size is 0: ~20,000 of the provider's
// per-answer batches between two rotations.
const DefaultSize = 16 << 20

const headerLen = 8

// maxPending bounds the bytes of records committed and not yet applied to the store. A sync round
// takes what SyncDelay gathers (~25 KB at 20,000 commits a second); past this the syncer is stuck
// (a slow fdatasync) and Commit applies the pending batches itself rather than hold more.
const maxPending = 4 << 20

// mergeLimit bounds a merged batch the syncer applies (well under Pebble's large-batch threshold,
// half a memtable, past which a batch is flushed as a memtable of its own).
const mergeLimit = 512 << 10

// fileCategory is the write category the journal's files are opened with.
const fileCategory vfs.DiskWriteCategory = "journal"

var crcTable = crc32.MakeTable(crc32.Castagnoli)

// ErrClosed is returned by Commit and WaitSynced after Close.
var ErrClosed = errors.New("journal: closed")

// Pos is a position in the journal: the bytes written before a record's end, over every file.
// WaitSynced(pos) waits for every record that ends at or before pos.
type Pos uint64

// Options configure a journal.
type Options struct {
	// FS is the file system (vfs.Default when nil; tests use vfs.NewCrashableMem).
	FS vfs.FS
	// Size is each file's size (DefaultSize when 0). A batch larger than Size minus 8 bytes is
	// refused.
	Size int64
	// SyncDelay bounds how long a batch nobody asked to sync stays unsynced (DefaultSyncDelay
	// when 0): what a host crash can take of them.
	SyncDelay time.Duration
}

// DefaultSyncDelay is Options.SyncDelay when 0.
const DefaultSyncDelay = 5 * time.Millisecond

// Journal is an open journal over one Pebble store.
type Journal struct {
	fs        vfs.FS
	dir       string
	db        *pebble.DB
	size      int64
	syncDelay time.Duration

	mu   sync.Mutex
	cond *sync.Cond // broadcast when written, synced, applying, next, err or closed change
	// The file written now. REQUIRES mu.
	f   vfs.File
	gen uint64
	off int64
	// next is the following generation's file, laid out (nil while preparing or not started).
	// REQUIRES mu.
	next      vfs.File
	preparing bool
	// INVARIANT: synced ≤ applied ≤ written; every record ending at or before synced is on stable
	// storage (in the journal, or in the store after a synced store write); every record ending at
	// or before applied is in the store (unsynced). REQUIRES mu.
	written, synced, applied Pos
	// pending holds the records after applied, in order (each the record as written: header, then
	// the batch's representation), pendingBytes their size. INVARIANT: while applying, the syncer
	// applies records taken from pending outside mu, and nobody else applies (order). spare is the
	// syncer's emptied slice, given back to pending. REQUIRES mu.
	pending, spare [][]byte
	pendingBytes   int64
	applying       bool
	// maxPending is the package's maxPending (tests lower it). REQUIRES mu.
	maxPending int64
	// wanted is the highest position a caller waits for; due is set when the oldest
	// unsynced batch has waited SyncDelay (timer pending: timing). REQUIRES mu.
	wanted      Pos
	due, timing bool
	// err is the first failure to write, apply or sync: every later call returns it. REQUIRES mu.
	err    error
	closed bool

	// syncMu is held while a file is fdatasynced outside mu, so that a retired file is not
	// closed under the syncer.
	syncMu sync.Mutex
	bg     sync.WaitGroup // the syncer, preparations and retirements
}

// Open opens the journal in dir (created if needed) for db, replaying what it holds into db first.
func Open(dir string, db *pebble.DB, opts Options) (*Journal, error) {
	fs := opts.FS
	if fs == nil {
		fs = vfs.Default
	}
	size := opts.Size
	if size == 0 {
		size = DefaultSize
	}
	if size < 4096 {
		return nil, fmt.Errorf("journal: a file of %d bytes is too small (at least 4096)", size)
	}
	if err := fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create the journal directory %q: %w", dir, err)
	}
	// The directory's own entry must be durable before files in it count.
	if parent, err := fs.OpenDir(fs.PathDir(dir)); err == nil {
		err = parent.Sync()
		_ = parent.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to sync the directory of %q: %w", dir, err)
		}
	}
	gens, err := listGenerations(fs, dir)
	if err != nil {
		return nil, err
	}
	delay := opts.SyncDelay
	if delay == 0 {
		delay = DefaultSyncDelay
	}
	j := &Journal{fs: fs, dir: dir, db: db, size: size, syncDelay: delay, maxPending: maxPending}
	j.cond = sync.NewCond(&j.mu)
	replayed := 0
	for _, g := range gens {
		n, err := j.replay(g)
		if err != nil {
			return nil, err
		}
		replayed += n
	}
	if replayed > 0 {
		// Durable in the store before any file that held them goes.
		if err := db.LogData(nil, pebble.Sync); err != nil {
			return nil, fmt.Errorf("failed to sync the store after replaying the journal: %w", err)
		}
	}
	// Oldest first: were this interrupted, the files left would still replay in order.
	var keep uint64
	for i, g := range gens {
		if i == len(gens)-1 {
			keep = g
			break
		}
		if err := fs.Remove(j.path(g)); err != nil {
			return nil, fmt.Errorf("failed to remove replayed journal file: %w", err)
		}
	}
	j.gen = 1
	if len(gens) > 0 {
		j.gen = gens[len(gens)-1] + 1
	}
	if j.f, err = j.layOut(j.gen, keep, len(gens) > 0); err != nil {
		return nil, err
	}
	j.bg.Add(1)
	go j.syncLoop()
	j.mu.Lock()
	j.startPrepareLocked()
	j.mu.Unlock()
	return j, nil
}

func (j *Journal) path(gen uint64) string {
	return j.fs.PathJoin(j.dir, fmt.Sprintf("journal-%016x.log", gen))
}

// listGenerations lists the generations of the journal files in dir, in order.
func listGenerations(fs vfs.FS, dir string) ([]uint64, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to list the journal directory %q: %w", dir, err)
	}
	var gens []uint64
	for _, n := range names {
		hex, ok := strings.CutPrefix(n, "journal-")
		if hex, ok = strings.CutSuffix(hex, ".log"); !ok || len(hex) != 16 {
			continue
		}
		g, err := strconv.ParseUint(hex, 16, 64)
		if err != nil {
			continue
		}
		gens = append(gens, g)
	}
	slices.Sort(gens)
	return gens, nil
}

// replay applies the records of generation g's file to the store, unsynced, and counts them.
func (j *Journal) replay(g uint64) (int, error) {
	f, err := j.fs.Open(j.path(g))
	if err != nil {
		return 0, fmt.Errorf("failed to open journal file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(f)
	if err != nil {
		return 0, fmt.Errorf("failed to read journal file %s: %w", j.path(g), err)
	}
	n := 0
	for off := 0; ; n++ {
		payload, next, ok := readRecord(data, off, g)
		if !ok {
			return n, nil
		}
		b := j.db.NewBatch()
		if err := b.SetRepr(slices.Clone(payload)); err != nil {
			_ = b.Close()
			return n, fmt.Errorf("journal file %s: record at %d is not a batch: %w", j.path(g), off, err)
		}
		err := j.db.Apply(b, pebble.NoSync)
		_ = b.Close()
		if err != nil {
			return n, fmt.Errorf("failed to replay journal file %s: %w", j.path(g), err)
		}
		off = next
	}
}

// readRecord reads the record of generation gen at off: its payload and the next record's offset,
// or false where the file's records end.
func readRecord(data []byte, off int, gen uint64) (payload []byte, next int, ok bool) {
	if off+headerLen > len(data) {
		return nil, 0, false
	}
	n := int(binary.LittleEndian.Uint32(data[off:]))
	end := off + headerLen + n
	if n == 0 || end > len(data) || end < off {
		return nil, 0, false
	}
	payload = data[off+headerLen : end]
	if binary.LittleEndian.Uint32(data[off+4:]) != checksum(gen, payload) {
		return nil, 0, false
	}
	return payload, end, true
}

func checksum(gen uint64, payload []byte) uint32 {
	var g [8]byte
	binary.LittleEndian.PutUint64(g[:], gen)
	return crc32.Update(crc32.Checksum(g[:], crcTable), crcTable, payload)
}

// layOut makes generation gen's file: the file of generation recycle renamed (when recycling and
// it has the journal's size), or a new one written full of zeros; synced, its name durable.
func (j *Journal) layOut(gen, recycle uint64, recycling bool) (vfs.File, error) {
	name := j.path(gen)
	if recycling {
		st, err := j.fs.Stat(j.path(recycle))
		if err == nil && st.Size() == j.size {
			if err := j.fs.Rename(j.path(recycle), name); err != nil {
				return nil, fmt.Errorf("failed to recycle a journal file: %w", err)
			}
		} else if err := j.fs.Remove(j.path(recycle)); err != nil {
			return nil, fmt.Errorf("failed to remove a journal file: %w", err)
		}
	}
	f, err := j.fs.OpenReadWrite(name, fileCategory)
	if err != nil {
		return nil, fmt.Errorf("failed to open journal file: %w", err)
	}
	st, err := f.Stat()
	if err == nil && st.Size() != j.size {
		err = ZeroFill(f, j.size)
	}
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = j.syncDir()
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failed to lay out journal file %s: %w", name, err)
	}
	return f, nil
}

func (j *Journal) syncDir() error {
	d, err := j.fs.OpenDir(j.dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ZeroFill writes size zero bytes to f from offset 0 with WriteAt (f's own offset stays where it
// is), unsynced: a file laid out so that writes in place never change its size, and an fdatasync
// has no size to commit.
func ZeroFill(f vfs.File, size int64) error {
	zeros := make([]byte, 256<<10)
	for off := int64(0); off < size; off += int64(len(zeros)) {
		n := min(int64(len(zeros)), size-off)
		if _, err := f.WriteAt(zeros[:n], off); err != nil {
			return err
		}
	}
	return nil
}

// Commit writes b to the journal: when Commit returns, b survives the process being killed; once
// WaitSynced(pos) returns, it survives a host crash and is in the store. The store takes b off the
// caller's path (the syncer applies it before its next fdatasync), so a reader calls Flush first.
// b stays the caller's to close (Commit keeps a copy). Callers serialize the commits that touch one
// key (the journal keeps their order). b holds point writes (Set, Delete, ...): a batch the store
// would refuse fails the journal only when applied.
func (j *Journal) Commit(b *pebble.Batch) (Pos, error) {
	repr := b.Repr()
	n := int64(headerLen + len(repr))
	if n > j.size {
		return 0, fmt.Errorf("journal: a batch of %d bytes does not fit a journal file of %d", len(repr), j.size)
	}
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.err == nil && !j.closed && j.off+n > j.size {
		j.rotateLocked()
	}
	if j.closed {
		return 0, ErrClosed
	}
	if j.err != nil {
		return 0, j.err
	}
	// The record is also the copy the syncer applies (its payload is b's representation).
	buf := make([]byte, n)
	binary.LittleEndian.PutUint32(buf, uint32(len(repr)))
	binary.LittleEndian.PutUint32(buf[4:], checksum(j.gen, repr))
	copy(buf[headerLen:], repr)
	if _, err := j.f.WriteAt(buf, j.off); err != nil {
		// The journal may have part of it: stop here.
		j.err = fmt.Errorf("journal: failed to write: %w", err)
		j.cond.Broadcast()
		return 0, j.err
	}
	j.off += n
	j.written += Pos(n)
	j.pending = append(j.pending, buf)
	j.pendingBytes += n
	pos := j.written
	if j.pendingBytes > j.maxPending {
		// The syncer is behind (a slow disk, a stalled store): apply here, so that memory stays
		// bounded. b is in the journal either way; a failure to apply is for later calls (j.err).
		for j.applying && j.err == nil {
			j.cond.Wait()
		}
		if j.err == nil {
			_ = j.applyPendingLocked()
		}
	}
	// No wake-up here (it would cost the caller a futex call): the timer or a waiter starts the round.
	j.armLocked()
	return pos, nil
}

// armLocked makes the syncer due within SyncDelay, unless a timer already runs. REQUIRES mu.
func (j *Journal) armLocked() {
	if j.timing {
		return
	}
	j.timing = true
	time.AfterFunc(j.syncDelay, func() {
		j.mu.Lock()
		j.due, j.timing = true, false
		j.cond.Broadcast()
		j.mu.Unlock()
	})
}

// rotateLocked moves to the next generation's file (waiting for it to be laid out), applying the
// pending batches to the store and syncing the full file first (synced ⇒ applied; and the file is
// retired once a synced store write covers its batches), then retiring it. It returns after a
// wait: the caller checks again. REQUIRES mu (released while waiting).
func (j *Journal) rotateLocked() {
	if j.next == nil {
		j.startPrepareLocked()
		j.cond.Wait()
		return
	}
	if j.applying {
		j.cond.Wait() // the syncer applies older batches: these go after them
		return
	}
	if j.applyPendingLocked() != nil {
		return
	}
	if err := j.f.SyncData(); err != nil {
		j.err = fmt.Errorf("journal: failed to sync: %w", err)
		j.cond.Broadcast()
		return
	}
	j.synced = j.written
	old, oldGen := j.f, j.gen
	j.f, j.next = j.next, nil
	j.gen++
	j.off = 0
	j.cond.Broadcast()
	j.startPrepareLocked()
	j.bg.Add(1)
	go j.retire(old, oldGen)
}

// startPrepareLocked lays out the next generation's file in the background unless it is laid out
// or being laid out. REQUIRES mu.
func (j *Journal) startPrepareLocked() {
	if j.next != nil || j.preparing || j.closed || j.err != nil {
		return
	}
	j.preparing = true
	gen := j.gen + 1
	j.bg.Add(1)
	go func() {
		defer j.bg.Done()
		f, err := j.layOut(gen, 0, false)
		j.mu.Lock()
		defer j.mu.Unlock()
		j.preparing = false
		switch {
		case err != nil:
			if j.err == nil {
				j.err = err
			}
		case j.closed:
			_ = f.Close()
		default:
			j.next = f
		}
		j.cond.Broadcast()
	}()
}

// retire removes a full file once a synced store write has made its batches durable in the store.
func (j *Journal) retire(f vfs.File, gen uint64) {
	defer j.bg.Done()
	err := j.db.LogData(nil, pebble.Sync)
	j.syncMu.Lock()
	_ = f.Close()
	j.syncMu.Unlock()
	if err == nil {
		// Kept when the store could not sync: the next Open replays it.
		_ = j.fs.Remove(j.path(gen))
	}
}

// syncLoop, whenever records were written since the last sync and a sync is due or wanted,
// applies the pending batches to the store (outside mu, so commits go on meanwhile) and then
// fdatasyncs the file being written: every record a sync covers is in the store (synced ⇒ applied).
func (j *Journal) syncLoop() {
	defer j.bg.Done()
	j.mu.Lock()
	defer j.mu.Unlock()
	for {
		for j.written == j.synced || !(j.wanted > j.synced || j.due || j.closed) {
			if j.written == j.synced {
				j.due = false
			}
			if j.err != nil || (j.closed && j.written == j.synced) {
				return
			}
			j.cond.Wait()
		}
		if j.err != nil || (j.closed && j.written == j.synced) {
			return
		}
		target, f := j.written, j.f
		j.due = false
		if len(j.pending) > 0 {
			recs := j.pending
			j.pending, j.spare = j.spare, nil
			j.pendingBytes = 0
			j.applying = true
			j.mu.Unlock()
			err := j.apply(recs)
			clear(recs)
			j.mu.Lock()
			j.applying = false
			j.spare = recs[:0]
			if err != nil {
				j.failLocked(err)
				return
			}
			// Nobody else applies while applying (nor rotates: f is still the file written).
			j.applied = target
			j.cond.Broadcast() // for a rotation, Flush or Close waiting to apply what came after
		}
		j.syncMu.Lock()
		j.mu.Unlock()
		err := f.SyncData()
		j.syncMu.Unlock()
		j.mu.Lock()
		if err != nil {
			j.failLocked(fmt.Errorf("journal: failed to sync: %w", err))
			return
		}
		// A rotation in between synced the file this sync was for, and maybe more.
		if target > j.synced && f == j.f {
			j.synced = target
		}
		if j.written > j.synced {
			j.armLocked() // written while this sync ran
		}
		j.cond.Broadcast()
	}
}

// applyPendingLocked applies the pending batches to the store under mu. REQUIRES mu, not applying.
func (j *Journal) applyPendingLocked() error {
	if len(j.pending) == 0 {
		return nil
	}
	err := j.apply(j.pending)
	clear(j.pending)
	j.pending, j.pendingBytes = j.pending[:0], 0
	if err != nil {
		j.failLocked(err)
		return j.err
	}
	j.applied = j.written
	return nil
}

// apply applies the batches of recs (records as written) to the store, unsynced, in order: merged
// into one batch (a representation is a 12-byte header, its count included, then the operations;
// later operations win within a batch) as long as it stays under mergeLimit. A failure leaves the
// batches in the journal, replayed at the next Open.
func (j *Journal) apply(recs [][]byte) error {
	for len(recs) > 0 {
		n, size := 1, len(recs[0])-headerLen
		for n < len(recs) && size+len(recs[n])-headerLen-batchrepr.HeaderLen <= mergeLimit {
			size += len(recs[n]) - headerLen - batchrepr.HeaderLen
			n++
		}
		// One batch goes as it is: the store takes the record's buffer, which nobody uses again.
		repr := recs[0][headerLen:]
		if n > 1 {
			repr = make([]byte, batchrepr.HeaderLen, size)
			var count uint32
			for _, r := range recs[:n] {
				h, _ := batchrepr.ReadHeader(r[headerLen:]) // Commit took it from a batch: a header is there
				count += h.Count
				repr = append(repr, r[headerLen+batchrepr.HeaderLen:]...)
			}
			batchrepr.SetCount(repr, count)
		}
		b := j.db.NewBatch()
		err := b.SetRepr(repr)
		if err == nil {
			err = j.db.Apply(b, pebble.NoSync)
		}
		_ = b.Close()
		if err != nil {
			return fmt.Errorf("journal: failed to apply batches to the store (they replay at the next Open): %w", err)
		}
		recs = recs[n:]
	}
	return nil
}

// failLocked records the journal's first failure and wakes every waiter. REQUIRES mu.
func (j *Journal) failLocked(err error) {
	if j.err == nil {
		j.err = err
	}
	j.cond.Broadcast()
}

// Flush applies every batch committed before it to the store (unsynced, not waiting for the
// syncer): a reader of keys written through the journal calls it first to see them. It returns the
// journal's failure, if any (the store may then lack batches the journal holds).
func (j *Journal) Flush() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	for j.applying && j.err == nil {
		j.cond.Wait()
	}
	if j.err != nil {
		return j.err
	}
	return j.applyPendingLocked()
}

// WaitSynced waits until every record ending at or before pos is on stable storage and in the
// store.
func (j *Journal) WaitSynced(pos Pos) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if pos > j.wanted {
		j.wanted = pos
		j.cond.Broadcast()
	}
	for j.synced < pos && j.err == nil && !j.closed {
		j.cond.Wait()
	}
	switch {
	case j.synced >= pos:
		return nil
	case j.err != nil:
		return j.err
	}
	return ErrClosed
}

// Close applies what is pending to the store, syncs what was written and closes the journal
// (before the store: its batches replay at the next Open, those the store took or not). Commits
// after it fail with ErrClosed. After a failure it only closes: the journal keeps what the store
// may lack.
func (j *Journal) Close() error {
	j.mu.Lock()
	for j.applying && !j.closed && j.err == nil {
		j.cond.Wait() // the syncer applies older batches
	}
	if j.closed {
		j.mu.Unlock()
		return nil
	}
	var err error
	if j.err == nil && j.applyPendingLocked() == nil && j.written > j.synced {
		if err = j.f.SyncData(); err == nil {
			j.synced = j.written
		}
	}
	j.closed = true
	j.cond.Broadcast()
	j.mu.Unlock()
	j.bg.Wait()
	j.mu.Lock()
	defer j.mu.Unlock()
	for _, f := range []vfs.File{j.f, j.next} {
		if f != nil {
			err = errors.Join(err, f.Close())
		}
	}
	j.f, j.next = nil, nil
	if err == nil {
		err = j.err
	}
	return err
}
