package devnet

import (
	"context"
	"testing"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/ton/wallet"
)

func TestWalletDeployAndTransfer(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	for _, ver := range []wallet.VersionConfig{wallet.V4R2, wallet.ConfigV5R1Final{NetworkGlobalID: DefaultGlobalID}} {
		a := newTestWallet(t, d, ver, "alice")
		b := newTestWallet(t, d, ver, "bob")
		if err := d.Fund(ctx, a.addr, ton(10)); err != nil {
			t.Fatalf("fund: %v", err)
		}
		acc, _ := d.Account(a.addr)
		if acc.State != chain.StateUninit || acc.Balance.Cmp(ton(10)) != 0 {
			t.Fatalf("after fund: %s %s", acc.State, acc.Balance)
		}
		res, err := d.Send(ctx, a.transfer(t, b.addr, 1_000_000_000, false, nil))
		if err != nil {
			t.Fatalf("send: %v", err)
		}
		t.Logf("%T: %d txs", ver, len(res.Transactions))
		if len(res.Transactions) != 2 {
			t.Fatalf("want 2 transactions, got %d", len(res.Transactions))
		}
		acc, _ = d.Account(a.addr)
		if acc.State != chain.StateActive {
			t.Fatalf("wallet not deployed: %s", acc.State)
		}
		if got := balance(t, d, b.addr); got.Cmp(ton(1)) != 0 {
			t.Fatalf("bob balance %s", got)
		}
		fee := ton(9)
		fee.Sub(fee, acc.Balance)
		t.Logf("alice paid %s nanoTON in fees", fee)
	}
}
