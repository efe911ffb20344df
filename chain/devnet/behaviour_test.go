package devnet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func deployed(t *testing.T, d *Devnet, seed string, funds *big.Int) *testWallet {
	t.Helper()
	ctx := context.Background()
	w := newTestWallet(t, d, wallet.V4R2, seed)
	if err := d.Fund(ctx, w.addr, funds); err != nil {
		t.Fatal(err)
	}
	// A zero-value message to itself deploys the wallet.
	if _, err := d.Send(ctx, w.transfer(t, w.addr, 0, false, nil)); err != nil {
		t.Fatalf("deploy %s: %v", seed, err)
	}
	return w
}

func seqno(t *testing.T, d *Devnet, a *address.Address) int64 {
	t.Helper()
	r, err := d.RunGetMethod(context.Background(), a, "seqno")
	if err != nil {
		t.Fatal(err)
	}
	return r.Stack[0].(*big.Int).Int64()
}

func ordinary(t *testing.T, tx *tlb.Transaction) tlb.TransactionDescriptionOrdinary {
	t.Helper()
	desc, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		t.Fatalf("transaction description %T", tx.Description)
	}
	return desc
}

func TestBounceFromNonexistent(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(10))
	ghost := address.NewAddress(0, 0, make([]byte, 32))
	before := balance(t, d, alice.addr)

	res, err := d.Send(ctx, alice.transfer(t, ghost, 1_000_000_000, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	// alice (external) → ghost (aborted, bounces) → alice (takes the bounce).
	if len(res.Transactions) != 3 {
		t.Fatalf("%d transactions, want 3", len(res.Transactions))
	}
	ghostTx := res.Transactions[1]
	desc := ordinary(t, ghostTx)
	if !desc.Aborted || desc.BouncePhase == nil {
		t.Fatalf("ghost transaction not aborted with a bounce: %+v", desc)
	}
	if _, ok := desc.BouncePhase.Phase.(tlb.BouncePhaseOk); !ok {
		t.Fatalf("bounce phase %T", desc.BouncePhase.Phase)
	}
	back := res.Transactions[2].IO.In.AsInternal()
	if !back.Bounced || !back.SrcAddr.Equals(ghost) {
		t.Fatalf("third transaction is not the bounce: %+v", back)
	}
	acc, err := d.Account(ghost)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != chain.StateNonexist || acc.Balance.Sign() != 0 {
		t.Fatalf("ghost after bounce: %s %s", acc.State, acc.Balance)
	}
	spent := new(big.Int).Sub(before, balance(t, d, alice.addr))
	if spent.Sign() <= 0 || spent.Cmp(big.NewInt(20_000_000)) > 0 {
		t.Fatalf("alice lost %s nanoTON on a bounced transfer; want only fees", spent)
	}
	// LTs grow along the cascade and per-account chains link up.
	for i := 1; i < len(res.Transactions); i++ {
		if res.Transactions[i].LT <= res.Transactions[i-1].LT {
			t.Fatalf("transaction %d LT %d not after %d", i, res.Transactions[i].LT, res.Transactions[i-1].LT)
		}
	}
	if res.Transactions[2].PrevTxLT != res.Transactions[0].LT {
		t.Fatalf("alice's bounce transaction does not link to her previous one")
	}
}

func TestNonBounceableToNonexistentCreatesUninit(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(10))
	target := address.NewAddress(0, 0, append(make([]byte, 31), 7))
	if _, err := d.Send(ctx, alice.transfer(t, target, 1_500_000_000, false, nil)); err != nil {
		t.Fatal(err)
	}
	acc, _ := d.Account(target)
	if acc.State != chain.StateUninit || acc.Balance.Cmp(big.NewInt(1_500_000_000)) != 0 {
		t.Fatalf("target: %s %s", acc.State, acc.Balance)
	}
}

// An action phase that fails (sending more than the balance without the ignore-errors flag)
// aborts the transaction: only fees leave, the wallet's data (seqno) is rolled back.
func TestFailedActionRollsBackState(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(2))
	bob := newTestWallet(t, d, wallet.V4R2, "bob")
	seq := seqno(t, d, alice.addr)
	before := balance(t, d, alice.addr)

	msg := &wallet.Message{Mode: wallet.PayGasSeparately, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, DstAddr: bob.addr, Amount: tlb.FromNanoTON(ton(100)), Body: cell.BeginCell().EndCell(),
	}}
	ext, err := alice.w.PrepareExternalMessageForMany(ctx, false, []*wallet.Message{msg})
	if err != nil {
		t.Fatal(err)
	}
	extCell, _ := tlb.ToCell(ext)
	res, err := d.Send(ctx, extCell)
	if err != nil {
		t.Fatalf("accepted message must give a transaction: %v", err)
	}
	if len(res.Transactions) != 1 {
		t.Fatalf("%d transactions, want 1", len(res.Transactions))
	}
	desc := ordinary(t, res.Transactions[0])
	if !desc.Aborted || desc.ActionPhase == nil || desc.ActionPhase.Success {
		t.Fatalf("want an aborted transaction with a failed action phase: %+v", desc)
	}
	if got := seqno(t, d, alice.addr); got != seq {
		t.Fatalf("seqno %d after failed action, want %d (rolled back)", got, seq)
	}
	after := balance(t, d, alice.addr)
	fees := new(big.Int).Sub(before, after)
	if fees.Cmp(res.Transactions[0].TotalFees.Coins.Nano()) != 0 {
		t.Fatalf("balance dropped by %s, transaction fees are %s", fees, res.Transactions[0].TotalFees.Coins.Nano())
	}
	if acc, _ := d.Account(bob.addr); acc.State != chain.StateNonexist {
		t.Fatalf("bob received something: %s", acc.State)
	}
}

// A replayed or badly signed external message is rejected and changes nothing at all.
func TestRejectedExternalChangesNothing(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(3))
	bob := newTestWallet(t, d, wallet.V4R2, "bob")
	msg := alice.transfer(t, bob.addr, 100_000_000, false, nil)
	if _, err := d.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	accBefore, _ := d.Account(alice.addr)
	seqBefore := d.Seqno()
	_, err := d.Send(ctx, msg) // replay: seqno no longer matches
	if !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("replay: %v, want ErrRejected", err)
	}
	// A message signed by another key.
	mallory := newTestWallet(t, d, wallet.V4R2, "mallory")
	forged := mallory.transfer(t, bob.addr, 1, false, nil)
	fc, _ := tlb.ToCell(&tlb.ExternalMessage{DstAddr: alice.addr, Body: mustBody(t, forged)})
	if _, err := d.Send(ctx, fc); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("forged: %v, want ErrRejected", err)
	}
	accAfter, _ := d.Account(alice.addr)
	if accAfter.Balance.Cmp(accBefore.Balance) != 0 || accAfter.LastTxLT != accBefore.LastTxLT || d.Seqno() != seqBefore {
		t.Fatalf("rejected messages changed state")
	}
	// To a nonexistent account without StateInit.
	ghost := address.NewAddress(0, 0, make([]byte, 32))
	gc, _ := tlb.ToCell(&tlb.ExternalMessage{DstAddr: ghost, Body: cell.BeginCell().EndCell()})
	if _, err := d.Send(ctx, gc); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("to nonexistent: %v, want ErrRejected", err)
	}
}

func mustBody(t *testing.T, ext *cell.Cell) *cell.Cell {
	t.Helper()
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, ext.MustBeginParse()); err != nil {
		t.Fatal(err)
	}
	return m.AsExternalIn().Body
}

func TestMalformedSends(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	for name, c := range map[string]*cell.Cell{
		"empty cell": cell.BeginCell().EndCell(),
		"internal": func() *cell.Cell {
			c, _ := tlb.ToCell(&tlb.InternalMessage{SrcAddr: FaucetAddress, DstAddr: FaucetAddress, Amount: tlb.FromNanoTONU(1), Body: cell.BeginCell().EndCell()})
			return c
		}(),
		"nil": nil,
	} {
		if _, err := d.Send(ctx, c); !errors.Is(err, chain.ErrMalformed) {
			t.Errorf("%s: %v, want ErrMalformed", name, err)
		}
	}
	if err := d.Fund(ctx, FaucetAddress, big.NewInt(0)); !errors.Is(err, ErrBadAmount) {
		t.Errorf("zero fund: %v", err)
	}
	if err := d.Fund(ctx, FaucetAddress, maxCoins); !errors.Is(err, ErrBadAmount) {
		t.Errorf("huge fund: %v", err)
	}
	if err := d.Fund(ctx, address.NewAddressNone(), big.NewInt(1)); !errors.Is(err, chain.ErrMalformed) {
		t.Errorf("fund addr_none: %v", err)
	}
}

func TestCascadeLimitRollsBack(t *testing.T) {
	ctx := context.Background()
	d, err := Open(Config{Now: fixedClock, MaxCascade: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	a := newTestWallet(t, d, wallet.V4R2, "alice")
	if err := d.Fund(ctx, a.addr, ton(1)); err != nil {
		t.Fatal(err)
	}
	seq := d.Seqno()
	_, err = d.Send(ctx, a.transfer(t, FaucetAddress, 1, false, nil)) // needs 2 transactions
	if !errors.Is(err, ErrCascadeTooLong) {
		t.Fatalf("got %v, want ErrCascadeTooLong", err)
	}
	if acc, _ := d.Account(a.addr); acc.State != chain.StateUninit || d.Seqno() != seq {
		t.Fatalf("cut-off cascade left state behind: %s", acc.State)
	}
}

func TestPersistenceAcrossRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(Config{DataDir: dir, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	alice := deployed(t, d, "alice", ton(5))
	bob := newTestWallet(t, d, wallet.V4R2, "bob")
	if _, err := d.Send(ctx, alice.transfer(t, bob.addr, 1_000_000_000, false, nil)); err != nil {
		t.Fatal(err)
	}
	d.AdvanceTime(time.Hour)
	want, _ := d.Account(alice.addr)
	wantTxs, _ := d.Transactions(alice.addr, 10, 0, nil)
	wantSeqno := d.Seqno()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if _, err := d.Account(alice.addr); !errors.Is(err, ErrClosed) {
		t.Fatalf("closed devnet answered: %v", err)
	}

	d2, err := Open(Config{DataDir: dir, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	got, _ := d2.Account(alice.addr)
	if got.Balance.Cmp(want.Balance) != 0 || got.LastTxLT != want.LastTxLT || string(got.LastTxHash) != string(want.LastTxHash) ||
		string(got.Code.Hash()) != string(want.Code.Hash()) || string(got.Data.Hash()) != string(want.Data.Hash()) {
		t.Fatalf("account after restart differs")
	}
	gotTxs, _ := d2.Transactions(alice.addr, 10, 0, nil)
	if len(gotTxs) != len(wantTxs) || string(gotTxs[0].Hash) != string(wantTxs[0].Hash) {
		t.Fatalf("transactions after restart differ")
	}
	if _, tx, err := d2.TransactionByHash(wantTxs[1].Hash); err != nil || tx.LT != wantTxs[1].LT {
		t.Fatalf("transaction index lost: %v", err)
	}
	if d2.Seqno() != wantSeqno || !d2.Now().Equal(fixedClock().Add(time.Hour)) {
		t.Fatalf("meta after restart: seqno %d now %v", d2.Seqno(), d2.Now())
	}
	if b, err := d2.Batch(wantSeqno); err != nil || len(b) != 2 || string(b[0].Tx.Hash) != string(wantTxs[0].Hash) {
		t.Fatalf("last batch after restart: %v", err)
	}
	if _, err := d2.Batch(wantSeqno + 1); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("future batch: %v", err)
	}
	// The reopened devnet keeps working: LTs continue and seqno moves on.
	alice.d = d2
	res, err := d2.Send(ctx, alice.transfer(t, bob.addr, 1_000_000_000, false, nil))
	if err != nil {
		t.Fatal(err)
	}
	if res.Transactions[0].LT <= want.LastTxLT || seqno(t, d2, alice.addr) != 3 {
		t.Fatalf("after restart: lt %d (prev %d)", res.Transactions[0].LT, want.LastTxLT)
	}
}

func TestTimeAdvanceChargesStorage(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	a := address.NewAddress(0, 0, append(make([]byte, 31), 9))
	if err := d.Fund(ctx, a, ton(1)); err != nil {
		t.Fatal(err)
	}
	start := d.Now()
	d.AdvanceTime(365 * 24 * time.Hour)
	d.AdvanceTime(-time.Hour) // ignored
	if got := d.Now().Sub(start); got != 365*24*time.Hour {
		t.Fatalf("clock moved by %v", got)
	}
	txs, err := d.FundTx(ctx, a, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	desc := ordinary(t, txs[0])
	if desc.StoragePhase == nil || desc.StoragePhase.StorageFeesCollected.Nano().Sign() <= 0 {
		t.Fatalf("a year later no storage fee was collected")
	}
	if txs[0].Now != uint32(d.Now().Unix()) {
		t.Fatalf("transaction time %d, devnet clock %d", txs[0].Now, d.Now().Unix())
	}
}

func TestGetMethodArgumentsAndErrors(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(1))
	// get_public_key returns the key the wallet was built with.
	r, err := d.RunGetMethod(ctx, alice.addr, "get_public_key")
	if err != nil {
		t.Fatal(err)
	}
	pk := r.Stack[0].(*big.Int).FillBytes(make([]byte, 32))
	if string(pk) != string(alice.w.PrivateKey().Public().(ed25519.PublicKey)) {
		t.Fatalf("get_public_key returned %x", pk)
	}
	// get_plugin_list returns a (null) list; is_plugin_installed takes arguments.
	r, err = d.RunGetMethod(ctx, alice.addr, "is_plugin_installed", 0, big.NewInt(12345))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stack) != 1 || r.Stack[0].(*big.Int).Sign() != 0 {
		t.Fatalf("is_plugin_installed: %v", r.Stack)
	}
	var gerr *chain.GetMethodError
	if _, err := d.RunGetMethod(ctx, alice.addr, "nope"); !errors.As(err, &gerr) || gerr.ExitCode != 11 {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := d.RunGetMethod(ctx, FaucetAddress, "seqno"); !errors.As(err, &gerr) || gerr.ExitCode != ExitCodeNotActive {
		t.Fatalf("nonexistent account: %v", err)
	}
	if _, err := d.RunGetMethod(ctx, alice.addr, "seqno", struct{}{}); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("bad argument: %v", err)
	}
}

// Reads run while transfers commit; run with -race to check the locking.
func TestConcurrentUse(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(100))
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 20; j++ {
				if _, err := d.RunGetMethod(ctx, alice.addr, "seqno"); err != nil {
					t.Error(err)
					return
				}
				if _, err := d.Transactions(alice.addr, 5, 0, nil); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	for j := 0; j < 20; j++ {
		if err := d.Fund(ctx, alice.addr, big.NewInt(1)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// After a restart the account cache fills from concurrent readers.
func TestConcurrentReadsAfterRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := Open(Config{DataDir: dir, Now: fixedClock, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	var addrs []*address.Address
	for i := 0; i < 8; i++ {
		a := address.NewAddress(0, 0, append(make([]byte, 31), byte(i+1)))
		if err := d.Fund(ctx, a, big.NewInt(int64(i+1))); err != nil {
			t.Fatal(err)
		}
		addrs = append(addrs, a)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	d, err = Open(Config{DataDir: dir, Now: fixedClock})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i, a := range addrs {
				acc, err := d.Account(a)
				if err != nil || acc.Balance.Int64() != int64(i+1) {
					t.Errorf("account %d: %v %v", i, acc, err)
				}
			}
		}()
	}
	wg.Wait()
}

// One transaction sending four messages: they are delivered in the order they were created, and
// the bounce the first one causes comes back after all four.
func TestRoutingOrder(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	alice := deployed(t, d, "alice", ton(10))
	var msgs []*wallet.Message
	var dsts []*address.Address
	for i := 0; i < 4; i++ {
		dst := address.NewAddress(0, 0, append(make([]byte, 31), byte(0x10+i)))
		dsts = append(dsts, dst)
		msgs = append(msgs, &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
			IHRDisabled: true, Bounce: i == 0, DstAddr: dst, Amount: tlb.FromNanoTONU(100_000_000), Body: cell.BeginCell().EndCell(),
		}})
	}
	ext, err := alice.w.PrepareExternalMessageForMany(ctx, false, msgs)
	if err != nil {
		t.Fatal(err)
	}
	extCell, _ := tlb.ToCell(ext)
	res, err := d.Send(ctx, extCell)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transactions) != 6 {
		t.Fatalf("%d transactions, want 6 (alice, 4 recipients, bounce back to alice)", len(res.Transactions))
	}
	for i, dst := range dsts {
		tx := res.Transactions[1+i]
		if string(tx.AccountAddr) != string(dst.Data()) {
			t.Fatalf("delivery %d went to %x, want %s", i, tx.AccountAddr, dst)
		}
		if tx.IO.In.AsInternal().CreatedLT != res.Transactions[0].LT+uint64(i)+1 {
			t.Fatalf("message %d created at lt %d, want %d", i, tx.IO.In.AsInternal().CreatedLT, res.Transactions[0].LT+uint64(i)+1)
		}
	}
	last := res.Transactions[5]
	if string(last.AccountAddr) != string(alice.addr.Data()) || !last.IO.In.AsInternal().Bounced {
		t.Fatalf("last transaction is not the bounce back to alice")
	}
}
