package txmgr_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// The crash test runs this test binary a second time as the process that crashes.
const (
	childEnv        = "TXMGR_TEST_CHILD"
	childURLEnv     = "TXMGR_TEST_URL"
	childJournalEnv = "TXMGR_TEST_JOURNAL"
	childSeedEnv    = "TXMGR_TEST_SEED"
	childToEnv      = "TXMGR_TEST_TO"
	childTTL        = 30 * time.Second
	childAmount     = 1_234_567_890
	childKey        = "payout:7"
)

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := runChild(); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runChild sends one journaled transfer over the devnet's HTTP API and waits for it; the parent
// kills it with SIGKILL while the message waits for a block.
func runChild() error {
	c, err := toncenter.New(toncenter.Config{URL: os.Getenv(childURLEnv), RetryBase: time.Millisecond})
	if err != nil {
		return err
	}
	w, err := seedWallet(os.Getenv(childSeedEnv))
	if err != nil {
		return err
	}
	db, err := txmgr.OpenJournal(os.Getenv(childJournalEnv))
	if err != nil {
		return err
	}
	defer db.Close()
	to, err := address.ParseRawAddr(os.Getenv(childToEnv))
	if err != nil {
		return err
	}
	m, err := txmgr.New(txmgr.Config{Chain: c, Signer: w, Journal: db.For(w.Address()), Clock: txmgr.DevnetClock(c),
		TTL: childTTL, PollInterval: 10 * time.Millisecond})
	if err != nil {
		return err
	}
	_, err = m.Send(context.Background(), txmgr.Request{Key: childKey, Transfers: []wallet.Transfer{{To: to, Amount: big.NewInt(childAmount)}}})
	if err == nil {
		err = fmt.Errorf("the transfer completed before the parent killed this process")
	}
	return err
}

// A process journals a transfer, submits it and is killed (SIGKILL) before it is confirmed. A new
// manager on the same journal finishes it, whatever happened meanwhile, and the transfer arrives
// exactly once:
//   - included: the message was included while no process ran; the new manager finds it.
//   - lost: the node restarted and lost the message (a mempool is not persisted) while it was still
//     valid; the new manager submits the same signed bytes again (same seqno, no new message).
//   - expired: lost, and its validity ran out; the new manager re-signs at the same seqno.
func TestCrashRecoveryE2E(t *testing.T) {
	for _, c := range []struct {
		name     string
		attempts int
		reason   txmgr.Reason
	}{
		{"included", 1, txmgr.ReasonFirst},
		{"lost", 1, txmgr.ReasonFirst},
		{"expired", 2, txmgr.ReasonExpired},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			dir := t.TempDir()
			devDir, journal := filepath.Join(dir, "devnet"), filepath.Join(dir, "journal")
			d, err := devnet.Open(devnet.Config{DataDir: devDir, BlockInterval: 50 * time.Millisecond})
			if err != nil {
				t.Fatal(err)
			}
			defer func() { _ = d.Close() }()
			seed := "crash-" + c.name
			w, _ := seedWallet(seed)
			if err := d.Fund(ctx, w.Address(), ton(10)); err != nil {
				t.Fatal(err)
			}
			if _, err := newManager(t, d, w, nil).Send(ctx, txmgr.Request{}); err != nil { // deploy
				t.Fatal(err)
			}
			dst := fresh(900)

			srv := httptest.NewServer(d.Handler())
			d.PauseBlocks()
			child := exec.Command(os.Args[0], "-test.run=^$")
			var stderr bytes.Buffer
			child.Stderr = &stderr
			child.Env = append(os.Environ(), childEnv+"=1", childURLEnv+"="+srv.URL, childJournalEnv+"="+journal,
				childSeedEnv+"="+seed, childToEnv+"="+dst.StringRaw())
			if err := child.Start(); err != nil {
				t.Fatal(err)
			}
			waitPending(t, d, 1) // journaled, then submitted
			if err := child.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			if err := child.Wait(); err == nil || child.ProcessState.ExitCode() != -1 {
				t.Fatalf("the child ended by itself (%v), not by the kill: %s", err, stderr.String())
			}
			srv.Close()

			switch c.name {
			case "included":
				d.ResumeBlocks()
				if err := d.WaitBlocks(ctx, 1); err != nil {
					t.Fatal(err)
				}
			case "lost", "expired":
				if err := d.Close(); err != nil {
					t.Fatal(err)
				}
				if d, err = devnet.Open(devnet.Config{DataDir: devDir, BlockInterval: 50 * time.Millisecond}); err != nil {
					t.Fatal(err)
				}
				if ext, _ := d.Pending(); ext != 0 {
					t.Fatal("the restarted devnet still holds the message")
				}
				if c.name == "expired" {
					d.AdvanceTime(2 * childTTL)
				}
			}

			db, err := txmgr.OpenJournal(journal)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			pending, err := db.For(w.Address()).Pending()
			if err != nil || len(pending) != 1 || len(pending[0].Attempts) != 1 {
				t.Fatalf("journal after the crash: %+v %v", pending, err)
			}
			m := newManager(t, d, w, func(cfg *txmgr.Config) { cfg.Journal = db.For(w.Address()); cfg.TTL = childTTL })
			outs, err := m.Recover(ctx)
			if err != nil || len(outs) != 1 {
				t.Fatalf("recover: %d outcomes, %v", len(outs), err)
			}
			out := outs[0]
			if out.Err != nil || !out.Recovered || out.Transaction == nil || out.Key != childKey {
				t.Fatalf("recovered outcome: %+v", out)
			}
			if len(out.Attempts) != c.attempts || out.Included != c.attempts-1 || out.Sent().Reason != c.reason {
				t.Fatalf("attempts %+v, included %d; want %d ending with %q", out.Attempts, out.Included, c.attempts, c.reason)
			}
			if !bytes.Equal(out.Attempts[0].Hash, pending[0].Attempts[0].Hash) {
				t.Fatal("the recovered request's first message is not the one the child journaled")
			}
			again, err := m.Send(ctx, txmgr.Request{Key: childKey, Transfers: []wallet.Transfer{{To: dst, Amount: big.NewInt(childAmount)}}})
			if err != nil || !again.Duplicate || !bytes.Equal(again.Transaction.Hash, out.Transaction.Hash) {
				t.Fatalf("the same request again: %+v %v", again, err)
			}
			if err := d.WaitBlocks(ctx, 2); err != nil {
				t.Fatal(err)
			}
			if got := balance(t, d, dst); got.Cmp(big.NewInt(childAmount)) != 0 {
				t.Fatalf("destination holds %s, want %d exactly once", got, childAmount)
			}
			if n, _ := externalTxs(t, d, w.Address()); n != 2 {
				t.Fatalf("wallet has %d external transactions, want 2 (deploy, the transfer)", n)
			}
		})
	}
}

func seedWallet(seed string) (*wallet.Wallet, error) {
	return walletFromSeed(seed, devnet.DefaultGlobalID)
}
