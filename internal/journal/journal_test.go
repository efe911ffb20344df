package journal

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocoon-go/cocoon/internal/pebblelog"
)

func openDB(t *testing.T, fs vfs.FS, dir string) *pebble.DB {
	t.Helper()
	db, err := pebble.Open(dir, &pebble.Options{FS: fs, Logger: pebblelog.Quiet{}})
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func u64(i uint64) []byte { return binary.BigEndian.AppendUint64(nil, i) }

func get(t *testing.T, db *pebble.DB, key string) (uint64, bool) {
	t.Helper()
	v, closer, err := db.Get([]byte(key))
	if err == pebble.ErrNotFound {
		return 0, false
	}
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	return binary.BigEndian.Uint64(v), true
}

// commit writes "last" = i and "k<i>" = i through the journal.
func commit(t *testing.T, j *Journal, db *pebble.DB, i uint64) Pos {
	t.Helper()
	b := db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte("last"), u64(i), nil)
	_ = b.Set([]byte(fmt.Sprintf("k%06d", i)), u64(i), nil)
	pos, err := j.Commit(b)
	if err != nil {
		t.Fatal(err)
	}
	return pos
}

// A host crash (the file system keeps only what was synced) loses nothing WaitSynced covered,
// across rotations, though the store itself never synced the batches.
func TestSyncedBatchesSurviveHostCrash(t *testing.T) {
	mem := vfs.NewCrashableMem()
	db := openDB(t, mem, "db")
	j, err := Open("journal", db, Options{FS: mem, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // ~60 bytes a record: several rotations
	var last Pos
	for i := uint64(1); i <= n; i++ {
		last = commit(t, j, db, i)
	}
	if err := j.WaitSynced(last); err != nil {
		t.Fatal(err)
	}
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	_ = j.Close()
	_ = db.Close()

	db2 := openDB(t, crashed, "db")
	defer db2.Close()
	j2, err := Open("journal", db2, Options{FS: crashed, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if v, _ := get(t, db2, "last"); v != n {
		t.Fatalf("after the crash last = %d, want %d", v, n)
	}
	for i := uint64(1); i <= n; i++ {
		if _, ok := get(t, db2, fmt.Sprintf("k%06d", i)); !ok {
			t.Fatalf("k%06d lost in the crash", i)
		}
	}
}

// Whatever part of the unsynced writes a crash keeps, no key goes back behind the last synced
// commit, and a crash never leaves the journal unreadable.
func TestCrashNeverGoesBehindSynced(t *testing.T) {
	for _, pct := range []int{10, 50, 90} {
		for seed := int64(1); seed <= 4; seed++ {
			mem := vfs.NewCrashableMem()
			db := openDB(t, mem, "db")
			j, err := Open("journal", db, Options{FS: mem, Size: 4096})
			if err != nil {
				t.Fatal(err)
			}
			var syncedAt uint64
			for i := uint64(1); i <= 200; i++ {
				pos := commit(t, j, db, i)
				if i%37 == 0 {
					if err := j.WaitSynced(pos); err != nil {
						t.Fatal(err)
					}
					syncedAt = i
				}
			}
			crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: pct, RNG: newRand(seed)})
			_ = j.Close()
			_ = db.Close()
			db2 := openDB(t, crashed, "db")
			j2, err := Open("journal", db2, Options{FS: crashed, Size: 4096})
			if err != nil {
				t.Fatalf("%d%% kept, seed %d: %v", pct, seed, err)
			}
			if v, _ := get(t, db2, "last"); v < syncedAt {
				t.Fatalf("%d%% kept, seed %d: last = %d, behind the synced %d", pct, seed, v, syncedAt)
			}
			for i := uint64(1); i <= syncedAt; i++ {
				if _, ok := get(t, db2, fmt.Sprintf("k%06d", i)); !ok {
					t.Fatalf("%d%% kept, seed %d: synced k%06d lost", pct, seed, i)
				}
			}
			_ = j2.Close()
			_ = db2.Close()
		}
	}
}

// Replay reads up to the first torn record and applies exactly the records before it.
func TestReplayStopsAtTornRecord(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, vfs.Default, filepath.Join(dir, "db"))
	j, err := Open(filepath.Join(dir, "journal"), db, Options{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	var ends []Pos
	for i := uint64(1); i <= 3; i++ {
		ends = append(ends, commit(t, j, db, i))
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	gens, _ := listGenerations(vfs.Default, filepath.Join(dir, "journal"))
	name := filepath.Join(dir, "journal", fmt.Sprintf("journal-%016x.log", gens[0]))
	f, err := os.OpenFile(name, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	// The last byte of the third record, as a crash in the middle of its write leaves it.
	if _, err := f.WriteAt([]byte{0xff}, int64(ends[2])-1); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	fresh := openDB(t, vfs.Default, filepath.Join(dir, "fresh"))
	defer fresh.Close()
	j2, err := Open(filepath.Join(dir, "journal"), fresh, Options{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if v, _ := get(t, fresh, "last"); v != 2 {
		t.Fatalf("last = %d after replaying a journal whose third record is torn, want 2", v)
	}
	if _, ok := get(t, fresh, "k000003"); ok {
		t.Fatal("the torn record was applied")
	}
}

// A recycled file keeps its old records, which a later Open must not replay over newer writes.
func TestRecycledRecordsAreNotReplayed(t *testing.T) {
	mem := vfs.NewMem()
	db := openDB(t, mem, "db")
	j, err := Open("journal", db, Options{FS: mem, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	commit(t, j, db, 1)
	_ = j.Close()
	j, err = Open("journal", db, Options{FS: mem, Size: 4096}) // replays, recycles the file
	if err != nil {
		t.Fatal(err)
	}
	_ = j.Close()
	if err := db.Set([]byte("last"), u64(7), pebble.Sync); err != nil { // the journal is closed
		t.Fatal(err)
	}
	j, err = Open("journal", db, Options{FS: mem, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	defer db.Close()
	if v, _ := get(t, db, "last"); v != 7 {
		t.Fatalf("last = %d: a recycled file's old record was replayed", v)
	}
	names, _ := mem.List("journal")
	if len(names) > 2 {
		t.Fatalf("journal files after three opens: %v", names)
	}
}

func TestRotationRetiresFullFiles(t *testing.T) {
	dir := t.TempDir()
	db := openDB(t, vfs.Default, filepath.Join(dir, "db"))
	defer db.Close()
	j, err := Open(filepath.Join(dir, "journal"), db, Options{Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= 1000; i++ { // ~15 files' worth
		commit(t, j, db, i)
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	names, _ := vfs.Default.List(filepath.Join(dir, "journal"))
	if len(names) > 3 {
		t.Fatalf("%d journal files after rotations, want the current, the next and at most one retiring: %v", len(names), names)
	}
	if v, _ := get(t, db, "last"); v != 1000 {
		t.Fatalf("last = %d", v)
	}
}

func TestErrors(t *testing.T) {
	mem := vfs.NewMem()
	db := openDB(t, mem, "db")
	defer db.Close()
	if _, err := Open("journal", db, Options{FS: mem, Size: 100}); err == nil || !strings.Contains(err.Error(), "too small") {
		t.Fatalf("a 100-byte journal: %v", err)
	}
	j, err := Open("journal", db, Options{FS: mem, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	b := db.NewBatch()
	_ = b.Set([]byte("big"), make([]byte, 5000), nil)
	if _, err := j.Commit(b); err == nil || !strings.Contains(err.Error(), "does not fit a journal file of 4096") {
		t.Fatalf("a batch larger than a file: %v", err)
	}
	_ = b.Close()
	_ = j.Close()
	b = db.NewBatch()
	defer b.Close()
	_ = b.Set([]byte("late"), nil, nil)
	if _, err := j.Commit(b); err != ErrClosed {
		t.Fatalf("commit after Close: %v", err)
	}
	if err := j.WaitSynced(1 << 40); err != ErrClosed {
		t.Fatalf("WaitSynced after Close: %v", err)
	}
}

// The process-kill guarantee with a real process: every commit the child reported (after Commit
// returned, never after a sync) is in the store after kill -9 and reopening.
func TestKillNineLosesNoCommit(t *testing.T) {
	if dir := os.Getenv("JOURNAL_KILL_CHILD"); dir != "" {
		killChild(dir)
		return
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^TestKillNineLosesNoCommit$")
	cmd.Env = append(os.Environ(), "JOURNAL_KILL_CHILD="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var reported uint64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if n, err := strconv.ParseUint(sc.Text(), 10, 64); err == nil {
			reported = n
			if n >= 3000 {
				break
			}
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	if reported < 3000 {
		t.Fatalf("the child reported %d commits before it stopped", reported)
	}
	db := openDB(t, vfs.Default, filepath.Join(dir, "db"))
	defer db.Close()
	j, err := Open(filepath.Join(dir, "journal"), db, Options{Size: 64 << 10})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	last, _ := get(t, db, "last")
	if last < reported {
		t.Fatalf("after kill -9: last = %d, but the child reported commit %d", last, reported)
	}
	for i := uint64(1); i <= reported; i++ {
		if _, ok := get(t, db, fmt.Sprintf("k%06d", i)); !ok {
			t.Fatalf("commit %d was reported and is lost", i)
		}
	}
}

// killChild commits without end, reporting each commit once Commit returned.
func killChild(dir string) {
	db, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		panic(err)
	}
	j, err := Open(filepath.Join(dir, "journal"), db, Options{Size: 64 << 10})
	if err != nil {
		panic(err)
	}
	w := bufio.NewWriter(os.Stdout)
	deadline := time.Now().Add(time.Minute)
	for i := uint64(1); time.Now().Before(deadline); i++ {
		b := db.NewBatch()
		_ = b.Set([]byte("last"), u64(i), nil)
		_ = b.Set([]byte(fmt.Sprintf("k%06d", i)), u64(i), nil)
		if _, err := j.Commit(b); err != nil {
			panic(err)
		}
		_ = b.Close()
		fmt.Fprintln(w, i)
		_ = w.Flush()
	}
}

func newRand(seed int64) *rand.Rand { return rand.New(rand.NewPCG(uint64(seed), 7)) }

// Batches nobody waits for are synced within SyncDelay; WaitSynced does not wait for the delay.
func TestSyncDelayAndWaitSynced(t *testing.T) {
	synced := func(mem *vfs.MemFS) bool {
		crashed := mem.CrashClone(vfs.CrashCloneCfg{})
		db := openDB(t, crashed, "db")
		defer db.Close()
		j, err := Open("journal", db, Options{FS: crashed, Size: 4096})
		if err != nil {
			t.Fatal(err)
		}
		defer j.Close()
		_, ok := get(t, db, "last")
		return ok
	}
	eventually := func(mem *vfs.MemFS) bool {
		for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
			if synced(mem) {
				return true
			}
		}
		return false
	}
	for _, wait := range []bool{false, true} {
		mem := vfs.NewCrashableMem()
		db := openDB(t, mem, "db")
		delay := 20 * time.Millisecond
		if wait {
			delay = time.Hour
		}
		j, err := Open("journal", db, Options{FS: mem, Size: 4096, SyncDelay: delay})
		if err != nil {
			t.Fatal(err)
		}
		pos := commit(t, j, db, 1)
		if wait {
			done := make(chan error, 1)
			go func() { done <- j.WaitSynced(pos) }()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("WaitSynced waited for the sync delay")
			}
		} else if synced(mem) {
			t.Fatal("synced at once though nobody waited")
		}
		if !eventually(mem) {
			t.Fatalf("wait %v: the batch was never synced", wait)
		}
		_ = j.Close()
		_ = db.Close()
	}
}

// BenchmarkCommit is a commit on a paid request's path: a batch of three Sets (~250 bytes), like
// the provider's answer (the channel's record, a nonce, a checkpoint), built, committed and
// closed, on the default options (a sync within 5 ms runs beside it).
func BenchmarkCommit(b *testing.B) {
	dir := b.TempDir()
	db, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	j, err := Open(filepath.Join(dir, "journal"), db, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer j.Close()
	record := []byte(`{"owed":"123456789000","voucher":"` + strings.Repeat("v", 22) + `","receipts":42}`)
	nonce := make([]byte, 8)
	checkpoint := []byte(`{"prompt_tokens":1234,"completion_tokens":5678}`)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		batch := db.NewBatch()
		_ = batch.Set([]byte("ch/0:1234567890abcdef1234567890abcdef"), record, nil)
		_ = batch.Set(fmt.Appendf(nil, "nn/0:1234567890abcdef/%016x", i), nonce, nil)
		_ = batch.Set([]byte("rq/0:1234567890abcdef/req-1"), checkpoint, nil)
		if i == 0 {
			b.ReportMetric(float64(len(batch.Repr())), "B/batch")
		}
		if _, err := j.Commit(batch); err != nil {
			b.Fatal(err)
		}
		_ = batch.Close()
	}
}
