package devnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"os"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// writeBenchInput makes TestWriteSandboxBenchInput write the messages of the side-by-side
// benchmark: testdata/sandbox_bench.js replays them on @ton/sandbox, and this test (when the
// flag is set) times the same messages on the devnet. Usage:
//
//	go test ./chain/devnet -run TestWriteSandboxBenchInput -v -write-bench-input=/tmp/bench.json
//	node chain/devnet/testdata/sandbox_bench.js /tmp/bench.json
var writeBenchInput = flag.String("write-bench-input", "", "write the side-by-side benchmark messages to this file")

func TestWriteSandboxBenchInput(t *testing.T) {
	if *writeBenchInput == "" {
		t.Skip("only with -write-bench-input")
	}
	const n = 2000
	now := parityBase
	d, err := Open(Config{Now: func() time.Time { return time.Unix(int64(now), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	w := newTestWallet(t, d, wallet.V4R2, "bench-sender")
	to := newTestWallet(t, d, wallet.V4R2, "bench-receiver").addr
	fund, err := tlb.ToCell(&tlb.InternalMessage{IHRDisabled: true, SrcAddr: FaucetAddress, DstAddr: w.addr,
		Amount: tlb.FromNanoTON(ton(1_000_000)), CreatedLT: 1, CreatedAt: now, Body: cell.BeginCell().EndCell()})
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Fund(ctx, w.addr, ton(1_000_000)); err != nil {
		t.Fatal(err)
	}
	msgs := []*cell.Cell{fund, w.transfer(t, w.addr, 0, false, nil)}
	if _, err := d.Send(ctx, msgs[1]); err != nil {
		t.Fatal(err)
	}
	seq := uint32(1)
	w.w.GetSpec().(*wallet.SpecV4R2).SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seq, nil })
	for i := 0; i < n; i++ {
		msgs = append(msgs, signedTransfer(t, w, to))
		seq++
	}
	// Time the transfers on a fresh devnet, as the sandbox script does.
	d2, err := Open(Config{Now: func() time.Time { return time.Unix(int64(now), 0) }})
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if err := d2.Fund(ctx, w.addr, ton(1_000_000)); err != nil {
		t.Fatal(err)
	}
	if _, err := d2.Send(ctx, msgs[1]); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for _, m := range msgs[2:] {
		if _, err := d2.Send(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	el := time.Since(start)
	t.Logf("devnet: %d transfers in %v = %.0f transfers/s", n, el, float64(n)/el.Seconds())
	out := struct {
		Now  uint32   `json:"now"`
		BOCs []string `json:"bocs"`
		Want string   `json:"receiver_balance"`
	}{Now: now, Want: balance(t, d2, to).String()}
	for _, m := range msgs {
		out.BOCs = append(out.BOCs, base64.StdEncoding.EncodeToString(m.ToBOC()))
	}
	b, _ := json.Marshal(out)
	if err := os.WriteFile(*writeBenchInput, b, 0o644); err != nil {
		t.Fatal(err)
	}
}
