package txmgr_test

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// At TON's block time (400 ms): the wallet is deployed by its first message, a transfer's cascade
// is followed hop by hop (each hop a block later), and a bounce comes back as the cascade's last hop.
func TestSendFollowsCascadeAtTONBlockTime(t *testing.T) {
	ctx, d, w, m := setup(t, 400*time.Millisecond, "follow", ton(10), nil)

	out, err := m.Send(ctx, txmgr.Request{Key: "deploy"})
	if err != nil {
		t.Fatal(err)
	}
	if a := out.Sent(); !a.Deploy || a.Seqno != 0 || out.Included != 0 || out.Transaction == nil || out.Resent() != 0 {
		t.Fatalf("deploy outcome: %+v", out)
	}

	dst := fresh(1)
	out, err = m.Send(ctx, txmgr.Request{Key: "pay", Transfers: []wallet.Transfer{{To: dst, Amount: ton(2)}}, Follow: txmgr.FollowAll()})
	if err != nil {
		t.Fatal(err)
	}
	cas := out.Cascade
	if !cas.Complete || len(cas.Hops) != 2 || cas.Hops[1].Parent != 0 || !equalAddr(cas.Hops[1].Account, dst) {
		t.Fatalf("transfer cascade: complete %v, %d hops", cas.Complete, len(cas.Hops))
	}
	if out.Sent().Seqno != 1 || cas.Received(dst).Cmp(ton(2)) != 0 || balance(t, d, dst).Cmp(ton(2)) != 0 {
		t.Fatalf("seqno %d, received %s", out.Sent().Seqno, cas.Received(dst))
	}
	if got := cas.Hops[0].Out; len(got) != 1 || got[0].Value.Cmp(ton(2)) != 0 || !equalAddr(got[0].To, dst) {
		t.Fatalf("wallet hop payments: %+v", got)
	}

	ghost := fresh(2)
	out, err = m.Send(ctx, txmgr.Request{Transfers: []wallet.Transfer{{To: ghost, Amount: ton(1), Bounce: true}}, Follow: txmgr.FollowAll()})
	if err != nil {
		t.Fatal(err)
	}
	cas = out.Cascade
	if !cas.Complete || len(cas.Hops) != 3 {
		t.Fatalf("bounce cascade: complete %v, %d hops", cas.Complete, len(cas.Hops))
	}
	path := cas.Path(ghost, w.Address())
	if len(path) != 2 || path[0].Err() == nil || !path[1].Bounced || path[1].Err() != nil {
		t.Fatalf("bounce path: %d hops", len(path))
	}
	var he *txmgr.HopError
	if !errors.As(path[0].Err(), &he) || !he.ComputeSkipped {
		t.Fatalf("the nonexistent account's hop: %v", path[0].Err())
	}
	back := cas.Received(w.Address())
	if back.Sign() <= 0 || back.Cmp(ton(1)) >= 0 {
		t.Fatalf("bounced back %s of 1 TON", back)
	}
	for i := 1; i < len(cas.Hops); i++ {
		if cas.Hops[i].Tx.LT <= cas.Hops[cas.Hops[i].Parent].Tx.LT {
			t.Fatal("a hop is older than its parent")
		}
	}
	// Until stops once the named account is reached, leaving the bounce unfollowed.
	out, err = m.Send(ctx, txmgr.Request{Transfers: []wallet.Transfer{{To: ghost, Amount: ton(1), Bounce: true}}, Follow: txmgr.FollowUntil(ghost)})
	if err != nil {
		t.Fatal(err)
	}
	if cas := out.Cascade; len(cas.Hops) != 2 || cas.Complete || cas.Unfollowed != 1 || cas.Err != nil {
		t.Fatalf("until: %d hops, complete %v, unfollowed %d, err %v", len(cas.Hops), cas.Complete, cas.Unfollowed, cas.Err)
	}
}

// Goroutines of one process share a manager: 8 × 4 transfers from one wallet, every one arrives
// exactly once.
func TestConcurrentSendersOneWallet(t *testing.T) {
	ctx, d, w, m := setup(t, 50*time.Millisecond, "concurrent", ton(100), nil)
	const workers, each = 8, 4
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for g := 0; g < workers; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := g*each + i
				amount := big.NewInt(int64(100_000_000 + n))
				_, err := m.Send(ctx, txmgr.Request{Key: fmt.Sprintf("t%d", n), Transfers: []wallet.Transfer{{To: fresh(100 + n), Amount: amount}}, Follow: txmgr.FollowAll()})
				errs <- err
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for n := 0; n < workers*each; n++ {
		if got, want := balance(t, d, fresh(100+n)), big.NewInt(int64(100_000_000+n)); got.Cmp(want) != 0 {
			t.Fatalf("destination %d has %s, want %s", n, got, want)
		}
	}
	if n, distinct := externalTxs(t, d, w.Address()); n != workers*each || distinct != n {
		t.Fatalf("wallet has %d external transactions (%d distinct), want %d", n, distinct, workers*each)
	}
}

// Two managers of one wallet (two processes, each with its own journal) sign the same seqno; the
// block includes one message, and the other manager re-signs with the next seqno. Then both send
// freely at once: nothing is lost, nothing doubled.
func TestTwoManagersOneWallet(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := openDevnet(t, 50*time.Millisecond)
	w := newWallet(t, d, "shared", ton(100))
	a := newManager(t, d, w, nil)
	b := newManager(t, d, w, nil)
	if _, err := a.Send(ctx, txmgr.Request{}); err != nil { // deploy
		t.Fatal(err)
	}

	d.PauseBlocks()
	ra := sendAsync(ctx, a, txmgr.Request{Key: "a", Transfers: []wallet.Transfer{{To: fresh(1), Amount: ton(1)}}})
	waitPending(t, d, 1)
	rb := sendAsync(ctx, b, txmgr.Request{Key: "b", Transfers: []wallet.Transfer{{To: fresh(2), Amount: ton(1)}}})
	waitPending(t, d, 2) // both signed seqno 1, both accepted by the committed state
	if blk, err := d.ProduceBlock(ctx); err != nil || len(blk.Transactions) != 1 || len(blk.Dropped) != 1 {
		t.Fatalf("block with two same-seqno messages: %+v %v", blk, err)
	}
	d.ResumeBlocks()
	x, y := <-ra, <-rb
	if x.err != nil || y.err != nil {
		t.Fatal(x.err, y.err)
	}
	resigned := 0
	for _, o := range []*txmgr.Outcome{x.out, y.out} {
		if o.Attempts[0].Seqno != 1 {
			t.Fatalf("first message at seqno %d, want 1", o.Attempts[0].Seqno)
		}
		if o.Resent() == 1 && o.Attempts[1].Reason == txmgr.ReasonSeqnoTaken && o.Attempts[1].Seqno == 2 && o.Included == 1 {
			resigned++
		}
	}
	if resigned != 1 {
		t.Fatalf("%d outcomes re-signed for a taken seqno, want exactly 1: %+v / %+v", resigned, x.out.Attempts, y.out.Attempts)
	}

	const each = 6
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for k, m := range []*txmgr.Manager{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				n := 10 + k*each + i
				_, err := m.Send(ctx, txmgr.Request{Key: fmt.Sprint(n), Transfers: []wallet.Transfer{{To: fresh(n), Amount: big.NewInt(int64(n) * 1_000_000)}}})
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := d.WaitBlocks(ctx, 2); err != nil { // the last transfers' second hop
		t.Fatal(err)
	}
	for n := 10; n < 10+2*each; n++ {
		if got := balance(t, d, fresh(n)); got.Cmp(big.NewInt(int64(n)*1_000_000)) != 0 {
			t.Fatalf("destination %d has %s", n, got)
		}
	}
	if n, distinct := externalTxs(t, d, w.Address()); n != 3+2*each || distinct != n {
		t.Fatalf("wallet has %d external transactions (%d distinct), want %d", n, distinct, 3+2*each)
	}
}

// A message that expires before a block includes it is re-signed at the same seqno and resent; the
// caller sees both messages in the outcome, and the transfer arrives once.
func TestExpiredMessageIsResigned(t *testing.T) {
	ctx, d, _, m := setup(t, 50*time.Millisecond, "expiry", ton(10), func(c *txmgr.Config) { c.TTL = 5 * time.Second })
	if _, err := m.Send(ctx, txmgr.Request{}); err != nil {
		t.Fatal(err)
	}
	d.PauseBlocks()
	done := sendAsync(ctx, m, txmgr.Request{Transfers: []wallet.Transfer{{To: fresh(7), Amount: ton(3)}}, Follow: txmgr.FollowAll()})
	waitPending(t, d, 1)
	d.AdvanceTime(10 * time.Second)
	if blk, err := d.ProduceBlock(ctx); err != nil || len(blk.Dropped) != 1 || len(blk.Transactions) != 0 {
		t.Fatalf("the expired message was not left out: %+v %v", blk, err)
	}
	d.ResumeBlocks()
	r := <-done
	if r.err != nil {
		t.Fatal(r.err)
	}
	out := r.out
	if len(out.Attempts) != 2 || out.Attempts[1].Reason != txmgr.ReasonExpired || out.Attempts[1].Seqno != out.Attempts[0].Seqno || out.Included != 1 {
		t.Fatalf("attempts %+v, included %d", out.Attempts, out.Included)
	}
	if !out.Attempts[1].ValidUntil.After(out.Attempts[0].ValidUntil) {
		t.Fatal("the new message is not valid for longer")
	}
	if got := balance(t, d, fresh(7)); got.Cmp(ton(3)) != 0 {
		t.Fatalf("destination has %s, want 3 TON once", got)
	}
}

// A request whose messages keep expiring unincluded (the chain includes nothing of the wallet's) is
// given up after MaxExpired re-signs; none of its messages can be included afterwards.
func TestGivesUpWhenMessagesKeepExpiring(t *testing.T) {
	ctx, d, _, m := setup(t, 50*time.Millisecond, "stuck", ton(10), func(c *txmgr.Config) { c.TTL = 5 * time.Second; c.MaxExpired = 1 })
	if _, err := m.Send(ctx, txmgr.Request{}); err != nil {
		t.Fatal(err)
	}
	d.PauseBlocks()
	done := sendAsync(ctx, m, txmgr.Request{Transfers: []wallet.Transfer{{To: fresh(8), Amount: ton(1)}}})
	waitPending(t, d, 1)
	d.AdvanceTime(10 * time.Second)
	waitPending(t, d, 2) // re-signed at the same seqno; the expired one still waits for a block
	d.AdvanceTime(10 * time.Second)
	if r := <-done; !errors.Is(r.err, txmgr.ErrGaveUp) || len(r.out.Attempts) != 2 || r.out.Transaction != nil {
		t.Fatalf("stuck request: %v, %+v", r.err, r.out)
	}
	if blk, err := d.ProduceBlock(ctx); err != nil || len(blk.Transactions) != 0 || len(blk.Dropped) != 2 {
		t.Fatalf("the expired messages were included: %+v %v", blk, err)
	}
}

// A key names a request: asking again returns the recorded outcome without sending, also from a
// new manager on the same journal; other transfers under the same key are refused.
func TestRequestKeyIsIdempotent(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d := openDevnet(t, 20*time.Millisecond)
	w := newWallet(t, d, "idempotent", ton(10))
	db, err := txmgr.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	m := newManager(t, d, w, func(c *txmgr.Config) { c.Journal = db.For(w.Address()) })
	req := txmgr.Request{Key: "claim:42", Transfers: []wallet.Transfer{{To: fresh(3), Amount: ton(1)}}, Follow: txmgr.FollowAll()}
	first, err := m.Send(ctx, req)
	if err != nil || first.Duplicate {
		t.Fatal(err)
	}
	again, err := newManager(t, d, w, func(c *txmgr.Config) { c.Journal = db.For(w.Address()) }).Send(ctx, req)
	if err != nil || !again.Duplicate || again.Transaction == nil || string(again.Transaction.Hash) != string(first.Transaction.Hash) {
		t.Fatalf("second send of the key: %+v %v", again, err)
	}
	if again.Cascade == nil || len(again.Cascade.Hops) != 2 {
		t.Fatal("the recorded outcome's cascade was not followed")
	}
	if err := d.WaitBlocks(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, fresh(3)); got.Cmp(ton(1)) != 0 {
		t.Fatalf("destination has %s after two sends of one key", got)
	}
	other := req
	other.Transfers = []wallet.Transfer{{To: fresh(3), Amount: ton(2)}}
	if _, err := m.Send(ctx, other); !errors.Is(err, txmgr.ErrKeyConflict) {
		t.Fatalf("other transfers under a used key: %v", err)
	}
	if _, err := m.Send(ctx, txmgr.Request{Transfers: make([]wallet.Transfer, 256)}); !errors.Is(err, txmgr.ErrBadRequest) {
		t.Fatalf("too many transfers: %v", err)
	}
}

// A message the node refuses for good (here: a wallet that cannot pay for its own deploy) fails
// the request; the key can be sent again once the cause is gone.
func TestRefusedMessageFailsAndKeyCanRetry(t *testing.T) {
	ctx, d, w, m := setup(t, 20*time.Millisecond, "poor", big.NewInt(1000), nil)
	req := txmgr.Request{Key: "k", Transfers: []wallet.Transfer{{To: fresh(4), Amount: big.NewInt(1)}}}
	out, err := m.Send(ctx, req)
	if !errors.Is(err, chain.ErrRejected) || out == nil || out.Transaction != nil || len(out.Attempts) != 1 {
		t.Fatalf("refused message: %+v %v", out, err)
	}
	if err := d.Fund(ctx, w.Address(), ton(1)); err != nil {
		t.Fatal(err)
	}
	if out, err = m.Send(ctx, req); err != nil || out.Transaction == nil {
		t.Fatalf("retry after funding: %+v %v", out, err)
	}
}

// NoWait returns once the message is submitted; the next Send finishes it first.
func TestNoWaitIsFinishedByNextSend(t *testing.T) {
	ctx, _, _, m := setup(t, 20*time.Millisecond, "nowait", ton(10), nil)
	out, err := m.Send(ctx, txmgr.Request{Key: "first", NoWait: true})
	if err != nil || out.Transaction != nil || out.Included != -1 || len(out.Attempts) != 1 {
		t.Fatalf("no-wait: %+v %v", out, err)
	}
	if _, err := m.Send(ctx, txmgr.Request{Key: "second", Transfers: []wallet.Transfer{{To: fresh(5), Amount: ton(1)}}}); err != nil {
		t.Fatal(err)
	}
	again, err := m.Send(ctx, txmgr.Request{Key: "first"})
	if err != nil || !again.Duplicate || again.Sent().Seqno != 0 {
		t.Fatalf("the no-wait request: %+v %v", again, err)
	}
}
