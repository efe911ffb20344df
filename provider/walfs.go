package provider

import (
	"fmt"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/cocoon-go/cocoon/internal/journal"
)

// walCategory is the write category Pebble creates its write-ahead logs with.
const walCategory vfs.DiskWriteCategory = "pebble-wal"

// walFS is the store's file system: the operating system's, except that a write-ahead log Pebble
// creates (rather than recycles) is first written full of zeros to size bytes and synced.
//
// Why: every paid answer waits for one fdatasync of the WAL. On ext4 (and most file systems) an
// fdatasync that finds the file longer than before must also commit the new size to the journal:
// a second device flush. Pebble avoids it by recycling its old logs, already written to their
// length, but a store's first log (and its first after each start) is new and grows with every
// write: its syncs cost ~1.5× a recycled log's on the benchmark machine (docs/BENCHMARKS.md).
// Pebble's fallocate preallocation (FALLOC_FL_KEEP_SIZE) keeps the size and leaves the extents
// unwritten, so it does not help; writing the zeros does.
//
// Safe because Pebble reads a log up to its last valid record: zeros after it are what a
// preallocated or torn tail looks like, tolerated at the tail of the newest log, and a log is
// closed with an EOF trailer before the next is created (so an older log never ends in zeros).
// TestStoreKillNine checks that synced writes survive SIGKILL with the zero-filled logs.
type walFS struct {
	vfs.FS
	size int64
}

func (fs walFS) Create(name string, category vfs.DiskWriteCategory) (vfs.File, error) {
	f, err := fs.FS.Create(name, category)
	if err != nil || category != walCategory || fs.size <= 0 {
		return f, err
	}
	if err := zeroFill(f, fs.size); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("failed to lay out write-ahead log %s: %w", name, err)
	}
	return f, nil
}

// zeroFill lays f out to size (journal.ZeroFill) and syncs it, size included.
func zeroFill(f vfs.File, size int64) error {
	if err := journal.ZeroFill(f, size); err != nil {
		return err
	}
	return f.Sync()
}
