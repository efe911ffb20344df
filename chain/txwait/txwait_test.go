package txwait_test

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txwait"
)

func TestWaitOnDevnet(t *testing.T) {
	d, err := devnet.Open(devnet.Config{GlobalID: -239})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	c := d.Client()
	a := address.NewAddress(0, 0, bytes.Repeat([]byte{7}, 32))
	opts := txwait.Options{Interval: time.Millisecond, PageSize: 2}
	ctx := context.Background()

	// Nothing happens: the wait ends with the context.
	short, cancel := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel()
	if _, err := txwait.Wait(short, c, a, 0, nil, opts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("idle account: %v", err)
	}

	// Five fundings of 1..5 nanoTON; the predicate picks the 4th even though newer ones exist,
	// and paging (2 per page) walks back far enough to find it.
	for i := int64(1); i <= 5; i++ {
		if err := d.Fund(ctx, a, big.NewInt(i)); err != nil {
			t.Fatal(err)
		}
	}
	amount := func(n int64) func(*tlb.Transaction) bool {
		return func(tx *tlb.Transaction) bool {
			return tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal && tx.IO.In.AsInternal().Amount.Nano().Int64() == n
		}
	}
	tx4, err := txwait.Wait(ctx, c, a, 0, amount(4), opts)
	if err != nil {
		t.Fatal(err)
	}
	// nil matches the oldest transaction after the given LT.
	first, err := txwait.Wait(ctx, c, a, 0, nil, opts)
	if err != nil || !amount(1)(first) {
		t.Fatalf("oldest: %v", err)
	}
	// Transactions at or before afterLT are never returned.
	short2, cancel2 := context.WithTimeout(ctx, 30*time.Millisecond)
	defer cancel2()
	if _, err := txwait.Wait(short2, c, a, tx4.LT, amount(2), opts); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a transaction before afterLT matched: %v", err)
	}

	// A transaction that arrives while waiting is found.
	acc, _ := c.GetAccount(ctx, a)
	done := make(chan error, 1)
	go func() {
		time.Sleep(10 * time.Millisecond)
		done <- d.Fund(ctx, a, big.NewInt(99))
	}()
	got, err := txwait.Wait(ctx, c, a, acc.LastTxLT, amount(99), opts)
	if err != nil || got.LT <= acc.LastTxLT {
		t.Fatalf("late transaction: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if txwait.InternalFrom(devnet.FaucetAddress)(got) != true || txwait.InternalFrom(a)(got) {
		t.Fatal("InternalFrom does not match the sender")
	}
	if txwait.ExternalBody(make([]byte, 32))(got) {
		t.Fatal("ExternalBody matched an internal message")
	}
}
