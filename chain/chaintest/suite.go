// Package chaintest is a behaviour suite every chain.Client implementation must pass against a
// network it can fund and whose clock it can move: the devnet in-process, the devnet over its
// toncenter HTTP API, and any future backend.
package chaintest

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Env is a network under test. *devnet.Devnet satisfies it directly.
type Env interface {
	// Client is the implementation under test.
	Client() chain.Client
	// Fund credits nanoTON to addr from outside (a faucet), deployed or not.
	Fund(ctx context.Context, addr *address.Address, nanoTON *big.Int) error
	// AdvanceTime moves the network clock forward.
	AdvanceTime(d time.Duration)
	// Now is the network clock.
	Now() time.Time
	// GlobalID is the network's global id (V5R1 wallets sign it).
	GlobalID() int32
}

// BOCSender is implemented by clients that can submit raw bytes, so malformed BOCs can be tested.
type BOCSender interface {
	SendBOC(ctx context.Context, boc []byte) error
}

// TON is 10^9 nanoTON.
var TON = big.NewInt(1_000_000_000)

func ton(n int64) *big.Int { return new(big.Int).Mul(big.NewInt(n), TON) }

var poll = txwait.Options{Interval: 5 * time.Millisecond}

// RunSuite runs every case against a fresh Env from newEnv.
func RunSuite(t *testing.T, newEnv func(t *testing.T) Env) {
	cases := []struct {
		name string
		run  func(t *testing.T, e Env)
	}{
		{"AccountLifecycle", testAccountLifecycle},
		{"DeployWalletAndGetMethods", testDeployWallet},
		{"TransferBetweenWallets", testTransfer},
		{"BounceFromNonexistent", testBounce},
		{"TransactionsPaging", testPaging},
		{"RejectedMessages", testRejected},
		{"ExpiredMessageAfterAdvanceTime", testExpired},
		{"MalformedInput", testMalformed},
		{"V4R2Wallet", testV4R2},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.run(t, newEnv(t))
		})
	}
}

// newWallet makes a deterministic wallet: seed is repeated into the ed25519 seed.
func newWallet(t *testing.T, e Env, v wallet.Version, seed byte) *wallet.Wallet {
	t.Helper()
	w, err := wallet.New(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{seed}, 32)), v, e.GlobalID())
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// send sends transfers from w through a transaction manager and waits for the wallet's
// transaction (and, as follow says, what it caused).
func send(t *testing.T, e Env, w *wallet.Wallet, follow txmgr.Follow, transfers ...wallet.Transfer) (*txmgr.Outcome, error) {
	t.Helper()
	m, err := txmgr.New(txmgr.Config{Chain: e.Client(), Signer: w, TTL: time.Minute, PollInterval: poll.Interval,
		Clock: func(context.Context) (time.Time, error) { return e.Now(), nil }})
	if err != nil {
		t.Fatal(err)
	}
	return m.Send(context.Background(), txmgr.Request{Transfers: transfers, Follow: follow})
}

// deployed funds a wallet and deploys it with an empty message.
func deployed(t *testing.T, e Env, v wallet.Version, seed byte, funds *big.Int) *wallet.Wallet {
	t.Helper()
	ctx := context.Background()
	w := newWallet(t, e, v, seed)
	if err := e.Fund(ctx, w.Address(), funds); err != nil {
		t.Fatalf("fund: %v", err)
	}
	sent, err := send(t, e, w, txmgr.Follow{})
	if err != nil {
		t.Fatalf("deploy: %v", err)
	}
	if a := sent.Sent(); !a.Deploy || a.Seqno != 0 {
		t.Fatalf("deploy message: deployed=%v seqno=%d", a.Deploy, a.Seqno)
	}
	return w
}

func account(t *testing.T, e Env, a *address.Address) *chain.Account {
	t.Helper()
	acc, err := e.Client().GetAccount(context.Background(), a)
	if err != nil {
		t.Fatalf("GetAccount(%s): %v", a.StringRaw(), err)
	}
	if acc.Balance == nil {
		t.Fatalf("GetAccount(%s): nil balance", a.StringRaw())
	}
	return acc
}

func freshAddress(b byte) *address.Address {
	return address.NewAddress(0, 0, bytes.Repeat([]byte{b}, 32))
}

func testAccountLifecycle(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	w := newWallet(t, e, wallet.V5R1, 1)

	acc := account(t, e, w.Address())
	if acc.State != chain.StateNonexist || acc.Balance.Sign() != 0 || acc.LastTxLT != 0 || acc.LastTxHash != nil || acc.Code != nil {
		t.Fatalf("never-used address: %+v", acc)
	}
	txs, err := c.GetTransactions(ctx, w.Address(), 10, 0, nil)
	if err != nil || len(txs) != 0 {
		t.Fatalf("transactions of a never-used address: %d, %v", len(txs), err)
	}
	if _, err := c.RunGetMethod(ctx, w.Address(), "seqno"); err == nil {
		t.Fatal("get-method on a nonexistent account succeeded")
	}

	if err := e.Fund(ctx, w.Address(), ton(3)); err != nil {
		t.Fatal(err)
	}
	acc = account(t, e, w.Address())
	if acc.State != chain.StateUninit || acc.Balance.Cmp(ton(3)) != 0 || acc.LastTxLT == 0 || len(acc.LastTxHash) != 32 || acc.Code != nil || acc.Data != nil {
		t.Fatalf("funded address: %+v", acc)
	}
	txs, err = c.GetTransactions(ctx, w.Address(), 10, 0, nil)
	if err != nil || len(txs) != 1 {
		t.Fatalf("funded address transactions: %d, %v", len(txs), err)
	}
	if txs[0].LT != acc.LastTxLT || !bytes.Equal(txs[0].Hash, acc.LastTxHash) || !bytes.Equal(txs[0].AccountAddr, w.Address().Data()) {
		t.Fatal("last transaction id does not match the listed transaction")
	}
	in := txs[0].IO.In
	if in == nil || in.MsgType != tlb.MsgTypeInternal || in.AsInternal().Amount.Nano().Cmp(ton(3)) != 0 {
		t.Fatal("funding transaction does not carry the funding message")
	}

	if _, err := send(t, e, w, txmgr.Follow{}); err != nil {
		t.Fatal(err)
	}
	acc = account(t, e, w.Address())
	if acc.State != chain.StateActive || acc.Code == nil || acc.Data == nil {
		t.Fatalf("deployed wallet: %+v", acc)
	}
	if !bytes.Equal(acc.Code.Hash(), w.StateInit().Code.Hash()) {
		t.Fatal("deployed code is not the V5R1 code")
	}
	if acc.Balance.Sign() <= 0 || acc.Balance.Cmp(ton(3)) >= 0 {
		t.Fatalf("deployed wallet balance %s: fees must be paid from 3 TON", acc.Balance)
	}
}

func testDeployWallet(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	w := deployed(t, e, wallet.V5R1, 2, ton(5))
	res, err := c.RunGetMethod(ctx, w.Address(), "seqno")
	if err != nil {
		t.Fatal(err)
	}
	// Liteservers do not report get-method gas, so zero is allowed; negative never is.
	if len(res.Stack) != 1 || res.Stack[0].(*big.Int).Int64() != 1 || res.GasUsed < 0 {
		t.Fatalf("seqno after deploy: %+v", res)
	}
	res, err = c.RunGetMethod(ctx, w.Address(), "get_public_key")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stack) != 1 || !bytes.Equal(res.Stack[0].(*big.Int).FillBytes(make([]byte, 32)), w.PublicKey()) {
		t.Fatalf("get_public_key: %v", res.Stack)
	}
	res, err = c.RunGetMethod(ctx, w.Address(), "get_subwallet_id")
	if err != nil {
		t.Fatal(err)
	}
	id := tonwallet.V5R1ID{NetworkGlobalID: e.GlobalID()}
	if got := res.Stack[0].(*big.Int).Int64(); uint32(got) != id.Serialized() {
		t.Fatalf("get_subwallet_id %d, want %d", got, id.Serialized())
	}
	// A fresh V5R1 wallet has no extensions: the dictionary is null.
	res, err = c.RunGetMethod(ctx, w.Address(), "get_extensions")
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Stack) != 1 || res.Stack[0] != nil {
		t.Fatalf("get_extensions of a fresh wallet: %v, want [null]", res.Stack)
	}

	var gmErr *chain.GetMethodError
	if _, err := c.RunGetMethod(ctx, w.Address(), "no_such_method"); !errors.As(err, &gmErr) || gmErr.Method != "no_such_method" || gmErr.ExitCode == 0 {
		t.Fatalf("unknown get-method: %v, want *chain.GetMethodError", err)
	}
	if _, err := c.RunGetMethod(ctx, w.Address(), "seqno", cell.BeginCell().EndCell().BeginParse); err == nil {
		t.Fatal("an unsupported argument type was accepted")
	}
}

func testTransfer(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	a := deployed(t, e, wallet.V5R1, 3, ton(10))
	b := deployed(t, e, wallet.V5R1, 4, ton(1))
	before := account(t, e, a.Address()).Balance
	bBefore := account(t, e, b.Address())
	comment, err := wallet.Comment("hello from A")
	if err != nil {
		t.Fatal(err)
	}
	sent, err := send(t, e, a, txmgr.Follow{}, wallet.Transfer{To: b.Address(), Amount: ton(2), Bounce: true, Body: comment})
	if err != nil {
		t.Fatal(err)
	}
	if sent.Transaction == nil || sent.Sent().Seqno != 1 || sent.Sent().Deploy {
		t.Fatalf("transfer: %+v", sent)
	}
	if out := sent.Transaction.OutMsgCount; out != 1 {
		t.Fatalf("wallet transaction sent %d messages, want 1", out)
	}
	rx, err := waitCtx(t, c, b.Address(), bBefore.LastTxLT, txwait.InternalFrom(a.Address()))
	if err != nil {
		t.Fatal(err)
	}
	in := rx.IO.In.AsInternal()
	if in.Amount.Nano().Cmp(ton(2)) != 0 || in.Bounced {
		t.Fatalf("received %s", in.Amount)
	}
	if text, err := in.Body.BeginParse(); err != nil || text.MustLoadUInt(32) != 0 || text.MustLoadStringSnake() != "hello from A" {
		t.Fatal("comment not delivered")
	}
	after := account(t, e, a.Address()).Balance
	spent := new(big.Int).Sub(before, after)
	if spent.Cmp(ton(2)) <= 0 || spent.Cmp(new(big.Int).Add(ton(2), big.NewInt(100_000_000))) > 0 {
		t.Fatalf("A spent %s nanoTON for a 2 TON transfer", spent)
	}
	bAfter := account(t, e, b.Address()).Balance
	gained := new(big.Int).Sub(bAfter, bBefore.Balance)
	if gained.Sign() <= 0 || gained.Cmp(ton(2)) > 0 || new(big.Int).Sub(ton(2), gained).Cmp(big.NewInt(50_000_000)) > 0 {
		t.Fatalf("B gained %s nanoTON from a 2 TON transfer", gained)
	}
	res, err := c.RunGetMethod(ctx, a.Address(), "seqno")
	if err != nil || res.Stack[0].(*big.Int).Int64() != 2 {
		t.Fatalf("seqno after transfer: %v %v", res, err)
	}

	// Non-bounceable value to a never-used address creates an uninit account holding exactly it.
	fresh := freshAddress(0xF1)
	if _, err := send(t, e, a, txmgr.FollowAll(), wallet.Transfer{To: fresh, Amount: big.NewInt(123_456_789)}); err != nil {
		t.Fatal(err)
	}
	if _, err := waitCtx(t, c, fresh, 0, nil); err != nil {
		t.Fatal(err)
	}
	acc := account(t, e, fresh)
	if acc.State != chain.StateUninit || acc.Balance.Int64() != 123_456_789 {
		t.Fatalf("fresh receiver: %s %s", acc.State, acc.Balance)
	}
}

func testBounce(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	a := deployed(t, e, wallet.V5R1, 5, ton(10))
	dst := freshAddress(0xB0)
	startLT := account(t, e, a.Address()).LastTxLT
	out, err := send(t, e, a, txmgr.FollowAll(), wallet.Transfer{To: dst, Amount: ton(1), Bounce: true})
	if err != nil {
		t.Fatal(err)
	}
	// The followed cascade ends with the bounce back at the wallet, whether the nonexistent
	// account's transaction can be listed (the devnet) or not (a liteserver: Hidden).
	cas := out.Cascade
	if last := cas.Hops[len(cas.Hops)-1]; !cas.Complete || len(cas.Hops)+cas.Hidden != 3 || !last.Bounced || !last.Account.Equals(a.Address()) {
		t.Fatalf("bounce cascade: complete %v, %d hops + %d hidden", cas.Complete, len(cas.Hops), cas.Hidden)
	}
	bounced, err := waitCtx(t, c, a.Address(), startLT, func(tx *tlb.Transaction) bool {
		in := tx.IO.In
		return in != nil && in.MsgType == tlb.MsgTypeInternal && in.AsInternal().Bounced && in.AsInternal().SrcAddr.Equals(dst)
	})
	if err != nil {
		t.Fatalf("no bounce came back: %v", err)
	}
	back := bounced.IO.In.AsInternal().Amount.Nano()
	if back.Sign() <= 0 || back.Cmp(ton(1)) >= 0 {
		t.Fatalf("bounced %s nanoTON of 1 TON", back)
	}
	acc := account(t, e, dst)
	if acc.State != chain.StateNonexist && acc.State != chain.StateUninit {
		t.Fatalf("bounce target state %s", acc.State)
	}
	if acc.Balance.Sign() != 0 {
		t.Fatalf("bounce target kept %s nanoTON", acc.Balance)
	}
	// On TON an account that stays nonexistent keeps no last-transaction id, so a liteserver lists
	// nothing for it; the devnet keeps the history. Either way there is at most the one transaction.
	txs, err := c.GetTransactions(ctx, dst, 5, 0, nil)
	if err != nil || len(txs) > 1 {
		t.Fatalf("bounce target transactions: %d %v", len(txs), err)
	}
	if len(txs) == 0 {
		return
	}
	d, ok := txs[0].Description.(tlb.TransactionDescriptionOrdinary)
	if !ok || d.BouncePhase == nil {
		t.Fatalf("bounce target transaction has no bounce phase: %T", txs[0].Description)
	}
	if _, ok := d.ComputePhase.Phase.(tlb.ComputePhaseSkipped); !ok {
		t.Fatal("compute phase on an account without code was not skipped")
	}
}

func testPaging(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	a := deployed(t, e, wallet.V5R1, 6, ton(10))
	for i := 0; i < 4; i++ {
		if err := e.Fund(ctx, a.Address(), big.NewInt(int64(1000+i))); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := send(t, e, a, txmgr.FollowAll(), wallet.Transfer{To: freshAddress(0xA5), Amount: ton(1)}); err != nil {
		t.Fatal(err)
	}
	acc := account(t, e, a.Address())
	all, err := c.GetTransactions(ctx, a.Address(), 100, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	// fund, deploy, 4 funds, transfer
	if len(all) != 7 {
		t.Fatalf("%d transactions, want 7", len(all))
	}
	if all[0].LT != acc.LastTxLT || !bytes.Equal(all[0].Hash, acc.LastTxHash) {
		t.Fatal("newest transaction is not the account's last")
	}
	for i := 1; i < len(all); i++ {
		if all[i].LT >= all[i-1].LT || all[i-1].PrevTxLT != all[i].LT || !bytes.Equal(all[i-1].PrevTxHash, all[i].Hash) {
			t.Fatalf("transactions %d and %d are not a newest-first chain", i-1, i)
		}
	}
	if all[len(all)-1].PrevTxLT != 0 {
		t.Fatal("oldest transaction has a predecessor")
	}
	// Pages of 3, resuming at the predecessor of each page's last transaction.
	var paged []*tlb.Transaction
	lt, hash := uint64(0), []byte(nil)
	for {
		page, err := c.GetTransactions(ctx, a.Address(), 3, lt, hash)
		if err != nil {
			t.Fatal(err)
		}
		if len(page) > 3 {
			t.Fatalf("page of %d, limit 3", len(page))
		}
		paged = append(paged, page...)
		if len(page) < 3 || page[len(page)-1].PrevTxLT == 0 {
			break
		}
		lt, hash = page[len(page)-1].PrevTxLT, page[len(page)-1].PrevTxHash
	}
	if len(paged) != len(all) {
		t.Fatalf("paged %d, listed %d", len(paged), len(all))
	}
	for i := range all {
		if !bytes.Equal(paged[i].Hash, all[i].Hash) {
			t.Fatalf("page item %d differs", i)
		}
	}
	// Starting in the middle is inclusive.
	mid, err := c.GetTransactions(ctx, a.Address(), 2, all[3].LT, all[3].Hash)
	if err != nil || len(mid) != 2 || !bytes.Equal(mid[0].Hash, all[3].Hash) || !bytes.Equal(mid[1].Hash, all[4].Hash) {
		t.Fatalf("start at the 4th: %v", err)
	}
	// A starting point that does not exist.
	if _, err := c.GetTransactions(ctx, a.Address(), 2, all[3].LT+1, all[3].Hash); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown start: %v, want ErrNotFound", err)
	}
}

func testRejected(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	a := deployed(t, e, wallet.V5R1, 7, ton(5))
	before := account(t, e, a.Address())

	// Signed by another key.
	other := newWallet(t, e, wallet.V5R1, 8)
	forged, err := other.Sign(1, e.Now().Add(time.Minute), false, wallet.Transfer{To: other.Address(), Amount: ton(1)})
	if err != nil {
		t.Fatal(err)
	}
	msg, err := tlb.ToCell(&tlb.ExternalMessage{DstAddr: a.Address(), Body: forged.Body})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, msg); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("forged signature: %v, want ErrRejected", err)
	}
	// Wrong seqno (a replay of the deploy message's seqno).
	stale, err := a.Sign(0, e.Now().Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, stale.Message); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("stale seqno: %v, want ErrRejected", err)
	}
	// To an account without code and no StateInit.
	un := newWallet(t, e, wallet.V5R1, 9)
	if err := e.Fund(ctx, un.Address(), ton(1)); err != nil {
		t.Fatal(err)
	}
	noInit, err := un.Sign(0, e.Now().Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, noInit.Message); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("external to uninit account without StateInit: %v, want ErrRejected", err)
	}
	// A replay of an accepted message.
	ok, err := a.Sign(1, e.Now().Add(time.Minute), false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, ok.Message); err != nil {
		t.Fatal(err)
	}
	// Until it is included a node accepts the same message again (it is one message); after, never.
	if _, err := waitCtx(t, c, a.Address(), before.LastTxLT, txwait.ExternalBody(ok.Body.Hash())); err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, ok.Message); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("replayed message: %v, want ErrRejected", err)
	}
	after := account(t, e, a.Address())
	txs, err := c.GetTransactions(ctx, a.Address(), 10, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 3 || txs[1].LT != before.LastTxLT || after.LastTxLT != txs[0].LT {
		t.Fatalf("rejected messages left transactions: %d", len(txs))
	}
}

func testExpired(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	a := deployed(t, e, wallet.V5R1, 10, ton(5))
	msg, err := a.Sign(1, e.Now().Add(30*time.Second), false)
	if err != nil {
		t.Fatal(err)
	}
	t0 := e.Now()
	e.AdvanceTime(time.Minute)
	if d := e.Now().Sub(t0); d < time.Minute {
		t.Fatalf("clock moved %v after AdvanceTime(1m)", d)
	}
	if _, err := c.SendExternal(ctx, msg.Message); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("expired message: %v, want ErrRejected", err)
	}
	// Signed against the moved clock it goes through, and the transaction carries that time.
	sent, err := send(t, e, a, txmgr.Follow{})
	if err != nil {
		t.Fatal(err)
	}
	if got := int64(sent.Transaction.Now); got < e.Now().Unix()-5 || got > e.Now().Unix()+5 {
		t.Fatalf("transaction time %d, network clock %d", got, e.Now().Unix())
	}
}

func testMalformed(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	if _, err := c.SendExternal(ctx, cell.BeginCell().MustStoreUInt(1, 1).EndCell()); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("one-bit cell as a message: %v, want ErrMalformed", err)
	}
	w := newWallet(t, e, wallet.V5R1, 11)
	internal, err := tlb.ToCell(&tlb.InternalMessage{IHRDisabled: true, SrcAddr: w.Address(), DstAddr: w.Address(),
		Amount: tlb.FromNanoTONU(1), Body: cell.BeginCell().EndCell()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendExternal(ctx, internal); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("internal message sent as external: %v, want ErrMalformed", err)
	}
	if bs, ok := c.(BOCSender); ok {
		if err := bs.SendBOC(ctx, []byte("definitely not a bag of cells")); !errors.Is(err, chain.ErrMalformed) {
			t.Fatalf("garbage BOC: %v, want ErrMalformed", err)
		}
	}
}

func testV4R2(t *testing.T, e Env) {
	ctx := context.Background()
	c := e.Client()
	w := deployed(t, e, wallet.V4R2, 12, ton(5))
	acc := account(t, e, w.Address())
	if acc.State != chain.StateActive || !bytes.Equal(acc.Code.Hash(), w.StateInit().Code.Hash()) {
		t.Fatalf("V4R2 deploy: %s", acc.State)
	}
	dst := freshAddress(0x42)
	if _, err := send(t, e, w, txmgr.FollowAll(), wallet.Transfer{To: dst, Amount: ton(1)}); err != nil {
		t.Fatal(err)
	}
	res, err := c.RunGetMethod(ctx, w.Address(), "seqno")
	if err != nil || res.Stack[0].(*big.Int).Int64() != 2 {
		t.Fatalf("V4R2 seqno: %v %v", res, err)
	}
	if got := account(t, e, dst).Balance; got.Cmp(ton(1)) != 0 {
		t.Fatalf("V4R2 transfer delivered %s", got)
	}
	// A get-method with arguments: is_plugin_installed(wc, addr_hash) is false (0) on a fresh wallet.
	hash := new(big.Int).SetBytes(dst.Data())
	res, err = c.RunGetMethod(ctx, w.Address(), "is_plugin_installed", 0, hash)
	if err != nil || len(res.Stack) != 1 || res.Stack[0].(*big.Int).Sign() != 0 {
		t.Fatalf("is_plugin_installed: %v %v", res, err)
	}
	pub, err := c.RunGetMethod(ctx, w.Address(), "get_public_key")
	if err != nil || !bytes.Equal(pub.Stack[0].(*big.Int).FillBytes(make([]byte, 32)), w.PublicKey()) {
		t.Fatalf("V4R2 get_public_key: %v", err)
	}
}

func waitCtx(t *testing.T, c chain.Client, a *address.Address, afterLT uint64, match func(*tlb.Transaction) bool) (*tlb.Transaction, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return txwait.Wait(ctx, c, a, afterLT, match, poll)
}
