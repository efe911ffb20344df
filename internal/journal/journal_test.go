package journal

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	cmd, sc, dir := startChild(t, "TestKillNineLosesNoCommit", "JOURNAL_KILL_CHILD")
	var reported uint64
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
	checkNumbered(t, db, reported)
}

// startChild runs test in a child process of the test binary with env set to a new directory, and
// returns it with a scanner of its output and the directory.
func startChild(t *testing.T, test, env string) (*exec.Cmd, *bufio.Scanner, string) {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run", "^"+test+"$")
	cmd.Env = append(os.Environ(), env+"="+dir)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd, bufio.NewScanner(out), dir
}

// commitNumbered commits batch i of a child: "last" = i and "k<i>" = i.
func commitNumbered(db *pebble.DB, j *Journal, i uint64) {
	b := db.NewBatch()
	_ = b.Set([]byte("last"), u64(i), nil)
	_ = b.Set([]byte(fmt.Sprintf("k%06d", i)), u64(i), nil)
	if _, err := j.Commit(b); err != nil {
		panic(err)
	}
	_ = b.Close()
}

// checkNumbered fails unless the store holds "k<i>" for every i in 1..n.
func checkNumbered(t *testing.T, db *pebble.DB, n uint64) {
	t.Helper()
	for i := uint64(1); i <= n; i++ {
		if _, ok := get(t, db, fmt.Sprintf("k%06d", i)); !ok {
			t.Fatalf("commit %d is lost", i)
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
		commitNumbered(db, j, i)
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

// setMaxPending lowers the bytes past which Commit applies the pending batches itself.
func setMaxPending(j *Journal, n int64) {
	j.mu.Lock()
	j.maxPending = n
	j.mu.Unlock()
}

// Commit leaves the batch to the syncer: the store takes it by the time WaitSynced returns (or
// Flush, without a sync), and a batch the store never took replays from the journal.
func TestStoreTakesBatchesBySync(t *testing.T) {
	mem := vfs.NewCrashableMem()
	db := openDB(t, mem, "db")
	defer db.Close()
	j, err := Open("journal", db, Options{FS: mem, Size: 4096, SyncDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	commit(t, j, db, 1)
	if _, ok := get(t, db, "k000001"); ok {
		t.Fatal("Commit applied the batch on the caller's path")
	}
	if err := j.Flush(); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, db, "last"); v != 1 {
		t.Fatalf("after Flush last = %d, want 1", v)
	}
	pos := commit(t, j, db, 2)
	if _, ok := get(t, db, "k000002"); ok {
		t.Fatal("Commit applied the batch on the caller's path")
	}
	if err := j.WaitSynced(pos); err != nil {
		t.Fatal(err)
	}
	if v, _ := get(t, db, "last"); v != 2 {
		t.Fatalf("after WaitSynced last = %d, want 2", v)
	}
	// Synced ⇒ applied: a host crash right after WaitSynced finds the batch in the journal, and
	// the store had it too.
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	db2 := openDB(t, crashed, "db")
	defer db2.Close()
	j2, err := Open("journal", db2, Options{FS: crashed, Size: 4096})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.Close()
	if v, _ := get(t, db2, "last"); v != 2 {
		t.Fatalf("after a crash following WaitSynced last = %d, want 2", v)
	}
}

// A process killed (kill -9) before the syncer ran loses nothing: the store never took the
// batches, the journal replays them.
func TestKillBeforeApplyReplays(t *testing.T) {
	if dir := os.Getenv("JOURNAL_UNAPPLIED_CHILD"); dir != "" {
		unappliedChild(dir)
		return
	}
	cmd, sc, dir := startChild(t, "TestKillBeforeApplyReplays", "JOURNAL_UNAPPLIED_CHILD")
	var line string
	for sc.Scan() {
		if line = sc.Text(); strings.HasPrefix(line, "unapplied ") || strings.HasPrefix(line, "applied ") {
			break
		}
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	const n = 100
	if line != fmt.Sprintf("unapplied %d", n) {
		t.Fatalf("the child reported %q, want the %d commits not in its store", line, n)
	}
	db := openDB(t, vfs.Default, filepath.Join(dir, "db"))
	defer db.Close()
	if _, ok := get(t, db, "last"); ok {
		t.Fatal("the store has the batches before the replay: the test shows nothing")
	}
	j, err := Open(filepath.Join(dir, "journal"), db, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	if v, _ := get(t, db, "last"); v != n {
		t.Fatalf("after kill -9 and the replay last = %d, want %d", v, n)
	}
	checkNumbered(t, db, n)
}

// unappliedChild commits 100 batches nobody syncs, reports whether its store has any of them and
// waits to be killed.
func unappliedChild(dir string) {
	db, err := pebble.Open(filepath.Join(dir, "db"), &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		panic(err)
	}
	j, err := Open(filepath.Join(dir, "journal"), db, Options{SyncDelay: time.Hour})
	if err != nil {
		panic(err)
	}
	const n = 100
	for i := uint64(1); i <= n; i++ {
		commitNumbered(db, j, i)
	}
	// Pebble's own log must not have them either (a NoSync write reaches it at once).
	state := "unapplied"
	if _, closer, err := db.Get([]byte("last")); err == nil {
		_ = closer.Close()
		state = "applied"
	}
	fmt.Printf("%s %d\n", state, n)
	time.Sleep(time.Minute)
}

// The store takes the batches in commit order, whether the syncer merges them (past mergeLimit:
// in several batches) or commits past maxPending apply them: the last write of a key wins, a
// Delete after a Set deletes.
func TestAppliedInCommitOrder(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPending int64
	}{
		{"merged by the syncer", maxPending},
		{"applied by commits past maxPending", 3000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			db := openDB(t, mem, "db")
			defer db.Close()
			j, err := Open("journal", db, Options{FS: mem, SyncDelay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			setMaxPending(j, tc.maxPending)
			const n = 600 // ~1 KiB each: more than mergeLimit in all
			pad := make([]byte, 1024)
			for i := uint64(1); i <= n; i++ {
				b := db.NewBatch()
				_ = b.Set([]byte("last"), u64(i), nil)
				_ = b.Set([]byte("pad"), pad, nil)
				_ = b.Set([]byte(fmt.Sprintf("k%06d", i)), u64(i), nil)
				if _, err := j.Commit(b); err != nil {
					t.Fatal(err)
				}
				_ = b.Close()
			}
			write := func(fn func(b *pebble.Batch)) Pos {
				b := db.NewBatch()
				defer b.Close()
				fn(b)
				pos, err := j.Commit(b)
				if err != nil {
					t.Fatal(err)
				}
				return pos
			}
			write(func(b *pebble.Batch) { _ = b.Set([]byte("gone"), u64(1), nil) })
			write(func(b *pebble.Batch) { _ = b.Delete([]byte("gone"), nil) })
			write(func(b *pebble.Batch) { _ = b.Delete([]byte("back"), nil) })
			write(func(b *pebble.Batch) { _ = b.Set([]byte("back"), u64(2), nil) })
			write(func(b *pebble.Batch) { _ = b.Set([]byte("gone2"), u64(3), nil); _ = b.Delete([]byte("gone2"), nil) })
			pos := write(func(b *pebble.Batch) { _ = b.Set([]byte("end"), u64(4), nil) })
			if err := j.WaitSynced(pos); err != nil {
				t.Fatal(err)
			}
			if v, _ := get(t, db, "last"); v != n {
				t.Fatalf("last = %d, want %d", v, n)
			}
			for i := uint64(1); i <= n; i++ {
				if v, _ := get(t, db, fmt.Sprintf("k%06d", i)); v != i {
					t.Fatalf("k%06d = %d", i, v)
				}
			}
			for key, want := range map[string]bool{"gone": false, "gone2": false, "back": true, "end": true} {
				if _, ok := get(t, db, key); ok != want {
					t.Fatalf("%s in the store: %v, want %v", key, ok, want)
				}
			}
		})
	}
}

// A rotation applies the batches pending (the full file's) before the file is retired: once its
// file is gone, a batch is in the synced store, though the syncer never ran.
func TestRotationAppliesPendingBatches(t *testing.T) {
	mem := vfs.NewCrashableMem()
	db := openDB(t, mem, "db")
	defer db.Close()
	j, err := Open("journal", db, Options{FS: mem, Size: 4096, SyncDelay: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	const n = 1000 // ~15 files' worth
	var first, last Pos
	for i := uint64(1); i <= n; i++ {
		last = commit(t, j, db, i)
		if i == 1 {
			first = last // every record has the same length
		}
	}
	// The full files are retired in the background: wait until only the current file and the next
	// one remain.
	j.mu.Lock()
	inFile, gen := uint64(j.off)/uint64(first), j.gen
	j.mu.Unlock()
	want := []string{filepath.Base(j.path(gen)), filepath.Base(j.path(gen + 1))}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		names, _ := mem.List("journal")
		slices.Sort(names)
		if slices.Equal(names, want) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("journal files after rotations: %v, want %v", names, want)
		}
	}
	retired := n - inFile
	if inFile == 0 || retired < n/2 {
		t.Fatalf("%d of %d commits in the current file: the journal did not rotate as planned", inFile, n)
	}
	// A host crash now: the store alone (no journal replayed) has every retired batch.
	crashed := mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 0})
	db2 := openDB(t, crashed, "db")
	if v, _ := get(t, db2, "last"); v != retired {
		t.Fatalf("the synced store has last = %d, want %d (every commit in a retired file)", v, retired)
	}
	for i := uint64(1); i <= retired; i++ {
		if _, ok := get(t, db2, fmt.Sprintf("k%06d", i)); !ok {
			t.Fatalf("k%06d: its file was retired, and the store does not have it", i)
		}
	}
	_ = db2.Close()

	if err := j.WaitSynced(last); err != nil {
		t.Fatal(err)
	}
	for i := uint64(1); i <= n; i++ {
		if _, ok := get(t, db, fmt.Sprintf("k%06d", i)); !ok {
			t.Fatalf("k%06d not in the store after WaitSynced", i)
		}
	}
}

// A batch the store refuses fails the journal: later Commits, Flush and WaitSynced return the
// error, and the batches stay in the journal, replayed at the next Open.
func TestApplyFailureIsStickyAndReplays(t *testing.T) {
	for _, tc := range []struct {
		name       string
		maxPending int64
	}{
		{"in the syncer", maxPending},
		{"in a commit past maxPending", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mem := vfs.NewMem()
			db := openDB(t, mem, "db")
			_ = db.Close()
			// A read-only store: Apply fails (pebble.ErrReadOnly).
			ro, err := pebble.Open("db", &pebble.Options{FS: mem, Logger: pebblelog.Quiet{}, ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			j, err := Open("journal", ro, Options{FS: mem, Size: 4096, SyncDelay: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			setMaxPending(j, tc.maxPending)
			// In the journal whatever happens to the apply: past maxPending the first commit applies
			// itself, and fails; otherwise both wait for the syncer, whose apply fails.
			accepted := uint64(1)
			pos := commit(t, j, ro, 1)
			if tc.maxPending == maxPending {
				accepted++
				pos = commit(t, j, ro, 2)
			}
			if err := j.WaitSynced(pos); !errors.Is(err, pebble.ErrReadOnly) {
				t.Fatalf("WaitSynced after a failed apply: %v", err)
			}
			b := ro.NewBatch()
			_ = b.Set([]byte("late"), nil, nil)
			if _, err := j.Commit(b); !errors.Is(err, pebble.ErrReadOnly) {
				t.Fatalf("Commit after a failed apply: %v", err)
			}
			_ = b.Close()
			if err := j.Flush(); !errors.Is(err, pebble.ErrReadOnly) {
				t.Fatalf("Flush after a failed apply: %v", err)
			}
			if err := j.Close(); !errors.Is(err, pebble.ErrReadOnly) {
				t.Fatalf("Close after a failed apply: %v", err)
			}
			_ = ro.Close()

			db = openDB(t, mem, "db")
			defer db.Close()
			j, err = Open("journal", db, Options{FS: mem, Size: 4096})
			if err != nil {
				t.Fatal(err)
			}
			defer j.Close()
			if v, _ := get(t, db, "last"); v != accepted {
				t.Fatalf("after the replay last = %d, want %d", v, accepted)
			}
			checkNumbered(t, db, accepted) // replayed after the failed apply
			if _, ok := get(t, db, "late"); ok {
				t.Fatal("a commit refused after the failure was replayed")
			}
		})
	}
}

// Commits from several goroutines, with rotations, Flushes and WaitSynced between them: each
// goroutine's keys end at its last value (run with -race).
func TestConcurrentCommitsFlushAndRotate(t *testing.T) {
	mem := vfs.NewMem()
	db := openDB(t, mem, "db")
	defer db.Close()
	j, err := Open("journal", db, Options{FS: mem, Size: 4096, SyncDelay: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer j.Close()
	setMaxPending(j, 2000)
	const writers, n = 4, 500
	errs := make(chan error, writers)
	for w := 0; w < writers; w++ {
		go func() {
			key := []byte(fmt.Sprintf("w%d", w))
			for i := uint64(1); i <= n; i++ {
				b := db.NewBatch()
				_ = b.Set(key, u64(i), nil)
				pos, err := j.Commit(b)
				_ = b.Close()
				switch {
				case err != nil:
				case i%50 == 0:
					err = j.WaitSynced(pos)
				case i%7 == 0:
					if err = j.Flush(); err == nil {
						v, closer, gerr := db.Get(key)
						if gerr != nil || binary.BigEndian.Uint64(v) != i {
							err = fmt.Errorf("%s after Flush: %v", key, gerr)
						}
						if gerr == nil {
							_ = closer.Close()
						}
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for w := 0; w < writers; w++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if err := j.Close(); err != nil {
		t.Fatal(err)
	}
	for w := 0; w < writers; w++ {
		if v, _ := get(t, db, fmt.Sprintf("w%d", w)); v != n {
			t.Fatalf("w%d = %d, want %d", w, v, n)
		}
	}
}
