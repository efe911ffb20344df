package devnet

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton/wallet"

	"github.com/cocoon-go/cocoon/chain"
)

// openBlocks opens a block-mode devnet with its timer paused: tests drive it block by block with
// ProduceBlock, so nothing depends on timing.
func openBlocks(t *testing.T, dir string) *Devnet {
	t.Helper()
	d, err := Open(Config{Now: fixedClock, DataDir: dir, BlockInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	d.PauseBlocks()
	t.Cleanup(func() { _ = d.Close() })
	return d
}

func produce(t *testing.T, d *Devnet) *Block {
	t.Helper()
	b, err := d.ProduceBlock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// fundBlocks funds addr on a paused block-mode devnet: Fund waits for its block, so blocks are
// produced until it returns.
func fundBlocks(t *testing.T, d *Devnet, addr *address.Address, nano *big.Int) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- d.Fund(context.Background(), addr, nano) }()
	for {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			return
		default:
		}
		produce(t, d)
		time.Sleep(time.Millisecond)
	}
}

// deployedBlocks is a funded and deployed V4R2 test wallet on a paused block-mode devnet.
func deployedBlocks(t *testing.T, d *Devnet, seed string) *testWallet {
	t.Helper()
	w := newTestWallet(t, d, wallet.V4R2, seed)
	fundBlocks(t, d, w.addr, ton(10))
	if _, err := d.Send(context.Background(), w.transfer(t, w.addr, 0, false, nil)); err != nil {
		t.Fatal(err)
	}
	produce(t, d) // the deploy
	produce(t, d) // its message to itself
	return w
}

func accountTxs(t *testing.T, d *Devnet, a *address.Address) int {
	t.Helper()
	txs, err := d.Transactions(a, 100, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(txs)
}

// An external message waits for the next block, and each hop of its cascade lands in a later
// block: a bounced transfer takes three.
func TestBlockModeOneHopPerBlock(t *testing.T) {
	ctx := context.Background()
	d := openBlocks(t, "")
	alice := deployedBlocks(t, d, "alice")
	ghost := address.NewAddress(0, 0, bytes.Repeat([]byte{0x61}, 32))
	before := balance(t, d, alice.addr)
	aliceTxs := accountTxs(t, d, alice.addr)

	res, err := d.Send(ctx, alice.transfer(t, ghost, 1_000_000_000, true, nil))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transactions) != 0 || len(res.MsgHash) != 32 {
		t.Fatalf("block-mode Send ran %d transactions before a block", len(res.Transactions))
	}
	if ext, in := d.Pending(); ext != 1 || in != 0 {
		t.Fatalf("pending %d externals, %d internals; want 1, 0", ext, in)
	}
	// Not visible before its block.
	if accountTxs(t, d, alice.addr) != aliceTxs || balance(t, d, alice.addr).Cmp(before) != 0 || seqno(t, d, alice.addr) != 1 {
		t.Fatal("the external message changed the state before its block")
	}

	hops := []struct {
		at   *address.Address
		what string
	}{{alice.addr, "wallet"}, {ghost, "bounce at the nonexistent address"}, {alice.addr, "bounced value back"}}
	var seqnos []uint32
	for i, h := range hops {
		b := produce(t, d)
		if len(b.Transactions) != 1 || !bytes.Equal(b.Transactions[0].AccountAddr, h.at.Data()) {
			t.Fatalf("block %d: %d transactions, want the %s", i, len(b.Transactions), h.what)
		}
		listed, err := d.Batch(b.Seqno)
		if err != nil || len(listed) != 1 || !bytes.Equal(listed[0].Tx.Hash, b.Transactions[0].Hash) {
			t.Fatalf("block %d is not batch %d: %v", i, b.Seqno, err)
		}
		seqnos = append(seqnos, b.Seqno)
		_, inflight := d.Pending()
		if want := []int{1, 1, 0}[i]; inflight != want {
			t.Fatalf("after block %d: %d messages in flight, want %d", i, inflight, want)
		}
	}
	if seqnos[1] != seqnos[0]+1 || seqnos[2] != seqnos[1]+1 {
		t.Fatalf("block seqnos %v", seqnos)
	}
	if b := produce(t, d); b.Seqno != 0 || len(b.Transactions) != 0 {
		t.Fatalf("an empty block was recorded as batch %d", b.Seqno)
	}
	if d.Seqno() != seqnos[2] {
		t.Fatalf("seqno %d after an empty block, want %d", d.Seqno(), seqnos[2])
	}
}

// Two external messages with the same wallet seqno are both accepted by Send (each is valid
// against the committed state), and the block includes only the first: the second is simply left
// out, as on TON. A message that expires while it waits is left out too.
func TestBlockModeSameSeqnoOnlyFirstIncluded(t *testing.T) {
	ctx := context.Background()
	d := openBlocks(t, "")
	alice := deployedBlocks(t, d, "alice")
	bob := address.NewAddress(0, 0, bytes.Repeat([]byte{0x62}, 32))
	carol := address.NewAddress(0, 0, bytes.Repeat([]byte{0x63}, 32))
	first := alice.transfer(t, bob, 1_000_000_000, false, nil)
	second := alice.transfer(t, carol, 2_000_000_000, false, nil) // same seqno: nothing was included yet
	for _, m := range [][]byte{first.Hash(), second.Hash()} {
		if len(m) != 32 {
			t.Fatal("bad hash")
		}
	}
	if _, err := d.Send(ctx, first); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Send(ctx, first); err != nil { // a resend of the same bytes is queued once
		t.Fatal(err)
	}
	if _, err := d.Send(ctx, second); err != nil {
		t.Fatalf("second message with the same seqno: %v (the committed state accepts it)", err)
	}
	if ext, _ := d.Pending(); ext != 2 {
		t.Fatalf("%d externals queued, want 2 (a duplicate is queued once)", ext)
	}
	b := produce(t, d)
	if len(b.Transactions) != 1 || len(b.Dropped) != 1 || !bytes.Equal(b.Dropped[0], second.Hash()) {
		t.Fatalf("block: %d transactions, dropped %d; want the first included and the second left out", len(b.Transactions), len(b.Dropped))
	}
	if seqno(t, d, alice.addr) != 2 {
		t.Fatalf("seqno %d after one included message, want 2", seqno(t, d, alice.addr))
	}
	produce(t, d)
	if balance(t, d, bob).Cmp(ton(1)) != 0 || balance(t, d, carol).Sign() != 0 {
		t.Fatalf("bob got %s, carol %s: only the first transfer may arrive", balance(t, d, bob), balance(t, d, carol))
	}
	// The stale message is now refused at once, as a liteserver refuses it.
	if _, err := d.Send(ctx, second); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("stale seqno after inclusion: %v, want ErrRejected", err)
	}

	// Accepted, then expired while waiting: not included.
	short := newTestWallet(t, d, wallet.V4R2, "alice")
	// tonutils signs valid_until against the wall clock; the devnet's runs at fixedClock.
	short.w.GetSpec().(*wallet.SpecV4R2).SetMessagesTTL(uint32(fixedClock().Sub(time.Now())/time.Second) + 30)
	msg := short.transfer(t, bob, 1_000_000_000, false, nil)
	if _, err := d.Send(ctx, msg); err != nil {
		t.Fatal(err)
	}
	d.AdvanceTime(time.Minute)
	if b := produce(t, d); len(b.Transactions) != 0 || len(b.Dropped) != 1 {
		t.Fatalf("expired message: %d transactions, %d dropped", len(b.Transactions), len(b.Dropped))
	}
	if seqno(t, d, alice.addr) != 2 {
		t.Fatal("an expired message was applied")
	}
}

// Messages in flight between blocks are part of the committed state: a restart (or a crash)
// delivers them; a restart in instant mode delivers them at once. Queued external messages are a
// mempool and are lost.
func TestBlockModeInflightSurvivesRestart(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d := openBlocks(t, dir)
	alice := deployedBlocks(t, d, "alice")
	bob := address.NewAddress(0, 0, bytes.Repeat([]byte{0x62}, 32))
	if _, err := d.Send(ctx, alice.transfer(t, bob, 1_000_000_000, false, nil)); err != nil {
		t.Fatal(err)
	}
	produce(t, d) // alice's transaction; bob's message is in flight
	queued := alice.transfer(t, bob, 3_000_000_000, false, nil)
	if _, err := d.Send(ctx, queued); err != nil {
		t.Fatal(err)
	}
	snap := t.TempDir()
	copyDir(t, dir, snap) // a power cut now
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	again := openBlocks(t, dir)
	if ext, in := again.Pending(); ext != 0 || in != 1 {
		t.Fatalf("after restart: %d externals, %d in flight; want 0, 1", ext, in)
	}
	produce(t, again)
	if got := balance(t, again, bob); got.Cmp(ton(1)) != 0 {
		t.Fatalf("bob has %s after the restart, want 1 TON", got)
	}

	instant, err := Open(Config{Now: fixedClock, DataDir: snap})
	if err != nil {
		t.Fatal(err)
	}
	defer instant.Close()
	if got := balance(t, instant, bob); got.Cmp(ton(1)) != 0 {
		t.Fatalf("instant mode reopening a block-mode crash: bob has %s, want 1 TON", got)
	}
	if _, in := instant.Pending(); in != 0 {
		t.Fatal("instant mode kept messages in flight")
	}
}

// With the timer running, Fund returns after its block and WaitBlocks counts blocks; sendBoc over
// HTTP answers before the message is included.
func TestBlockModeTimerAndHTTP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	d, err := Open(Config{BlockInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if d.BlockInterval() != 20*time.Millisecond {
		t.Fatal("BlockInterval")
	}
	w := newTestWallet(t, d, wallet.V4R2, "timer")
	if err := d.Fund(ctx, w.addr, ton(5)); err != nil {
		t.Fatal(err)
	}
	if got := balance(t, d, w.addr); got.Cmp(ton(5)) != 0 {
		t.Fatalf("balance %s right after Fund, want 5 TON", got)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ext := w.transfer(t, w.addr, 0, false, nil)
	d.PauseBlocks()
	if code, out := postJSON(t, srv.URL+"/api/v2/sendBoc", `{"boc":"`+base64.StdEncoding.EncodeToString(ext.ToBOC())+`"}`); code != 200 {
		t.Fatalf("sendBoc: %d %v", code, out)
	}
	if _, out := getJSON(t, srv.URL+"/devnet/info"); out["result"].(map[string]any)["block_interval_ms"] != float64(20) {
		t.Fatalf("devnet info: %v", out)
	}
	if acc, _ := d.Account(w.addr); acc.State != chain.StateUninit {
		t.Fatalf("wallet %s before its block", acc.State)
	}
	d.ResumeBlocks()
	if err := d.WaitBlocks(ctx, 2); err != nil {
		t.Fatal(err)
	}
	if acc, _ := d.Account(w.addr); acc.State != chain.StateActive {
		t.Fatalf("wallet %s two blocks later", acc.State)
	}
	if _, err := (&Devnet{}).ProduceBlock(ctx); !errors.Is(err, ErrNotBlockMode) {
		t.Fatalf("ProduceBlock in instant mode: %v", err)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Fund(ctx, w.addr, ton(1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Fund after Close: %v", err)
	}
}
