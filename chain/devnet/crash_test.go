package devnet

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/xssnick/tonutils-go/ton/wallet"
)

// copyDir copies a directory tree: what a power cut leaves on disk while the devnet is open.
func copyDir(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.Walk(src, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if info.IsDir() {
			return os.MkdirAll(target, 0o700)
		}
		in, err := os.Open(p)
		if err != nil {
			return err
		}
		defer in.Close()
		out, err := os.Create(target)
		if err != nil {
			return err
		}
		if _, err := io.Copy(out, in); err != nil {
			out.Close()
			return err
		}
		return out.Close()
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestCrashKeepsCommittedBatches snapshots the data directory of a devnet that was never
// closed and reopens the snapshot: every batch that returned is there.
func TestCrashKeepsCommittedBatches(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(Config{DataDir: dir, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	alice := deployed(t, d, "alice", ton(5))
	bob := newTestWallet(t, d, wallet.V4R2, "bob")
	if _, err := d.Send(ctx, alice.transfer(t, bob.addr, 1_000_000_000, false, nil)); err != nil {
		t.Fatal(err)
	}
	want, _ := d.Account(bob.addr)
	snap := t.TempDir()
	copyDir(t, dir, snap)

	d2, err := Open(Config{DataDir: snap, Now: fixedClock})
	if err != nil {
		t.Fatalf("reopen after crash: %v", err)
	}
	defer d2.Close()
	got, err := d2.Account(bob.addr)
	if err != nil || got.Balance.Cmp(want.Balance) != 0 || got.LastTxLT != want.LastTxLT {
		t.Fatalf("after crash bob has %v (%v), want %s", got, err, want.Balance)
	}
	if d2.Seqno() != d.Seqno() {
		t.Fatalf("seqno %d after crash, %d before", d2.Seqno(), d.Seqno())
	}
}
