package devnet

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/toncenter"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// preparedTransfers deploys a V4R2 wallet and signs n transfers to another wallet in advance,
// so a benchmark times only the devnet. Each transfer is two transactions.
func preparedTransfers(b *testing.B, d *Devnet, n int) []*cell.Cell {
	b.Helper()
	ctx := context.Background()
	w := newTestWallet(b, d, wallet.V4R2, "bench-sender")
	to := newTestWallet(b, d, wallet.V4R2, "bench-receiver").addr
	if err := d.Fund(ctx, w.addr, ton(1_000_000)); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Send(ctx, w.transfer(b, w.addr, 0, false, nil)); err != nil {
		b.Fatal(err)
	}
	seq := uint32(1)
	w.w.GetSpec().(*wallet.SpecV4R2).SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return seq, nil })
	out := make([]*cell.Cell, n)
	for i := range out {
		out[i] = signedTransfer(b, w, to)
		seq++
	}
	return out
}

func signedTransfer(b testing.TB, w *testWallet, to *address.Address) *cell.Cell {
	msg := &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, DstAddr: to, Amount: tlb.FromNanoTONU(1_000_000), Body: cell.BeginCell().EndCell(),
	}}
	ext, err := w.w.PrepareExternalMessageForMany(context.Background(), false, []*wallet.Message{msg})
	if err != nil {
		b.Fatal(err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

func benchSend(b *testing.B, d *Devnet) {
	msgs := preparedTransfers(b, d, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.Send(ctx, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkTransferInProcess: wallet transfers through Devnet.Send, in-memory store.
func BenchmarkTransferInProcess(b *testing.B) {
	d, err := Open(Config{Now: fixedClock})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchSend(b, d)
}

// BenchmarkTransferInProcessDisk: the same with Pebble on disk and an fsync per batch.
func BenchmarkTransferInProcessDisk(b *testing.B) {
	d, err := Open(Config{Now: fixedClock, DataDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	benchSend(b, d)
}

// BenchmarkTransferHTTP: the same transfers posted with tonutils' toncenter client (sendBoc)
// to the devnet's HTTP server on loopback, in-memory store.
func BenchmarkTransferHTTP(b *testing.B) {
	d, err := Open(Config{Now: fixedClock})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	api := toncenter.New(srv.URL).V2()
	msgs := preparedTransfers(b, d, b.N)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := api.SendBoc(ctx, msgs[i].ToBOC()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transfers/s")
	b.ReportMetric(2*float64(b.N)/b.Elapsed().Seconds(), "tx/s")
}

// BenchmarkGetMethodSeqno: one wallet get-method in-process.
func BenchmarkGetMethodSeqno(b *testing.B) {
	d, err := Open(Config{Now: fixedClock})
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	preparedTransfers(b, d, 0)
	w := newTestWallet(b, d, wallet.V4R2, "bench-sender")
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := d.RunGetMethod(ctx, w.addr, "seqno"); err != nil {
			b.Fatal(err)
		}
	}
}
