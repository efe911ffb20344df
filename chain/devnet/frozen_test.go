package devnet

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/toncenter"

	"net/http/httptest"
)

// An active contract that cannot pay storage for decades is frozen by its next transaction:
// state "frozen" with the hash of the state it had, no code for get-methods.
func TestStorageDebtFreezes(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	// A wallet: its data (seqno) changed since deployment, so it freezes rather than reverting
	// to uninit the way an account still equal to its StateInit does.
	addr := deployed(t, d, "frugal", big.NewInt(50_000_000)).addr
	d.AdvanceTime(20 * 365 * 24 * time.Hour)
	txs, err := d.FundTx(ctx, addr, big.NewInt(1))
	if err != nil {
		t.Fatal(err)
	}
	if txs[0].EndStatus != tlb.AccountStatusFrozen {
		t.Fatalf("end status %s, want frozen", txs[0].EndStatus)
	}
	acc, err := d.Account(addr)
	if err != nil || acc.State != chain.StateFrozen || acc.Code != nil {
		t.Fatalf("account after freeze: %+v %v", acc, err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	info, err := toncenter.New(srv.URL).V2().GetAddressInformation(ctx, addr)
	if err != nil || info.State != "frozen" {
		t.Fatalf("getAddressInformation: %+v %v", info, err)
	}
	_, out := getJSON(t, srv.URL+"/api/v2/getAddressInformation?address="+addr.String())
	if fh, _ := out["result"].(map[string]any)["frozen_hash"].(string); len(fh) != 44 {
		t.Fatalf("frozen_hash %q", fh)
	}
	if _, err := d.RunGetMethod(ctx, addr, "seqno"); err == nil {
		t.Fatalf("get-method ran on a frozen account")
	}
}

func TestClockStopsBeforeUint32Overflow(t *testing.T) {
	d := openMem(t)
	d.AdvanceTime(200 * 365 * 24 * time.Hour)
	if got := d.Now().Unix(); got != MaxUnixTime {
		t.Fatalf("clock at %d, want the cap %d", got, MaxUnixTime)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	if code, out := postJSON(t, srv.URL+"/devnet/time/advance", `{"seconds":10}`); code != 400 {
		t.Fatalf("advance past the cap: %d %v", code, out)
	}
	if err := d.Fund(context.Background(), FaucetAddress, big.NewInt(1)); err != nil {
		t.Fatalf("devnet unusable at the clock cap: %v", err)
	}
}
