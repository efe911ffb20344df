package parity

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// Side-by-side benchmarks with tolk/tests/parity/bench.js (the same operations on @ton/sandbox):
// each operation is a signed V5R1 external message prepared before the timer starts, so only
// the emulator (and, for the HTTP variants, the toncenter API round trip) is measured.
//
//   - wallet transfer: alice → bob (both deployed), 2 transactions;
//   - registry cascade: owner → registry RegisterProvider (top-up) → provider → excess back to
//     the owner, 4 transactions.
//   - channel claim cascade: the owner relays the client's next voucher as Claim → channel →
//     provider (ChannelUsage) → protocol fee to the treasury and payout to the owner: 5
//     transactions with the current contracts (the count is learnt from an untimed probe).

// benchWorld is a devnet with the scenario file's base set-up (registry deployed, measurements and
// oracles added, the owner's provider registered) and alice and bob deployed.
func benchWorld(b *testing.B) *world {
	b.Helper()
	doc, err := loadScenarios()
	if err != nil {
		b.Fatal(err)
	}
	start := time.Unix(int64(doc.Now), 0)
	d, err := devnet.Open(devnet.Config{Now: func() time.Time { return start }, GlobalID: doc.WalletGlobalID})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = d.Close() })
	w, err := newWorld(doc, d)
	if err != nil {
		b.Fatal(err)
	}
	f := false
	setup := []step{{Include: "base"}, {Include: "register"},
		{Op: "fund", To: "alice", Value: "1000000"}, {Op: "fund", To: "bob", Value: "10"}, {Op: "fund", To: "owner", Value: "10000000"},
		{Op: "send", From: "alice", To: "bob", Value: "1", Bounce: &f},
		{Op: "send", From: "bob", To: "alice", Value: "1", Bounce: &f},
		{Op: "send", From: "gov", To: "registry", Value: "0.05", Body: &bodySpec{Type: "setChannelCode"}},
		{Op: "fund", To: "client", Value: "1000000"},
		{Op: "send", From: "client", To: "registry", Value: "900000", Body: &bodySpec{Type: "openChannel", ProviderOwner: "owner", ClientKey: "pubkey:client"}},
	}
	steps, err := doc.expand(setup)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	for _, s := range steps {
		if _, err := w.runStep(ctx, s); err != nil {
			b.Fatalf("%s: %v", stepName(s), err)
		}
	}
	return w
}

// presign signs n transfers from actor `from`, seqnos following the wallet's current one.
func presign(b *testing.B, w *world, from string, n int, tr wallet.Transfer) []*cell.Cell {
	b.Helper()
	wl := w.wallets[from]
	st, err := wl.State(context.Background(), w.d.Client())
	if err != nil {
		b.Fatal(err)
	}
	validUntil := w.d.Now().Add(time.Hour)
	out := make([]*cell.Cell, n)
	for i := range out {
		s, err := wl.Sign(st.Seqno+uint32(i), validUntil, false, tr)
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s.Message
	}
	return out
}

func transferMsgs(b *testing.B, w *world, n int) ([]*cell.Cell, int) {
	bob, _ := w.addr("bob")
	return presign(b, w, "alice", n, wallet.Transfer{To: bob, Amount: big.NewInt(10_000_000)}), 2
}

func cascadeMsgs(b *testing.B, w *world, n int) ([]*cell.Cell, int) {
	stake, _ := nano("10")
	value, _ := nano("10.2")
	body, err := contracts.Encode(contracts.RegisterProvider{QueryID: 7, StakeAmount: tlb.FromNanoTON(stake)})
	if err != nil {
		b.Fatal(err)
	}
	return presign(b, w, "owner", n, wallet.Transfer{To: w.registry, Amount: value, Bounce: true, Body: body}), 4
}

// claimMsgs presigns n claims of ever larger vouchers (1 milliTON and a few tokens more each).
func claimMsgs(b *testing.B, w *world, n int) ([]*cell.Cell, int) {
	ch, err := w.addr("channel:client:owner")
	if err != nil {
		b.Fatal(err)
	}
	value, _ := nano("0.2")
	wl := w.wallets["owner"]
	st, err := wl.State(context.Background(), w.d.Client())
	if err != nil {
		b.Fatal(err)
	}
	validUntil := w.d.Now().Add(time.Hour)
	out := make([]*cell.Cell, n)
	for i := range out {
		body, err := w.body(&bodySpec{Type: "claim", Voucher: &voucherSpec{Signer: "client", Channel: "channel:client:owner",
			Amount: milliTON(i + 1), PromptTokens: uint64(100 * (i + 1)), CompletionTokens: uint64(200 * (i + 1))}})
		if err != nil {
			b.Fatal(err)
		}
		s, err := wl.Sign(st.Seqno+uint32(i), validUntil, false, wallet.Transfer{To: ch, Amount: value, Bounce: true, Body: body})
		if err != nil {
			b.Fatal(err)
		}
		out[i] = s.Message
	}
	return out, 0 // the cascade's length is the contract's business: learnt from the probe
}

func milliTON(n int) string { return fmt.Sprintf("%d.%03d", n/1000, n%1000) }

type prepareFunc func(b *testing.B, w *world, n int) ([]*cell.Cell, int)

// prepare signs b.N+1 operations and sends the first, untimed, as a probe: it checks the cascade
// length (or learns it when the scenario gives 0) and warms the accounts up.
func prepare(b *testing.B, w *world, p prepareFunc) ([]*cell.Cell, int) {
	b.Helper()
	msgs, txs := p(b, w, b.N+1)
	res, err := w.d.Send(context.Background(), msgs[0])
	if err != nil {
		b.Fatal(err)
	}
	if txs == 0 {
		txs = len(res.Transactions)
	}
	if len(res.Transactions) != txs || txs < 2 {
		b.Fatalf("the probe made %d transactions, want %d", len(res.Transactions), txs)
	}
	return msgs[1:], txs
}

// runInProcess sends every message through Devnet.Send and checks each cascade's length.
func runInProcess(b *testing.B, p prepareFunc) {
	w := benchWorld(b)
	msgs, txs := prepare(b, w, p)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		res, err := w.d.Send(ctx, msgs[i])
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Transactions) != txs {
			b.Fatalf("operation %d made %d transactions, want %d", i, len(res.Transactions), txs)
		}
	}
	report(b, txs, processCPU()-cpu)
}

// runHTTP posts every message with chain/toncenter's client to the devnet's toncenter API on
// loopback; sendBoc returns once the whole cascade has run. Every message must have committed.
func runHTTP(b *testing.B, p prepareFunc) {
	w := benchWorld(b)
	srv := httptest.NewServer(w.d.Handler())
	defer srv.Close()
	api, err := toncenter.New(toncenter.Config{URL: srv.URL, MaxRetries: -1})
	if err != nil {
		b.Fatal(err)
	}
	msgs, txs := prepare(b, w, p)
	seqno := w.d.Seqno()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	cpu := processCPU()
	for i := 0; i < b.N; i++ {
		if _, err := api.SendExternal(ctx, msgs[i]); err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	cpu = processCPU() - cpu
	if got := w.d.Seqno() - seqno; got != uint32(b.N) {
		b.Fatalf("%d of %d messages committed", got, b.N)
	}
	report(b, txs, cpu)
}

// report adds throughput (wall clock) and CPU time per operation: on a shared machine the wall
// clock depends on the other jobs, the CPU time much less (client and server both count over HTTP).
func report(b *testing.B, txs int, cpu time.Duration) {
	sec := b.Elapsed().Seconds()
	b.ReportMetric(float64(b.N)/sec, "ops/s")
	b.ReportMetric(float64(b.N*txs)/sec, "tx/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/op")
}

func BenchmarkWalletTransferInProcess(b *testing.B) { runInProcess(b, transferMsgs) }
func BenchmarkWalletTransferHTTP(b *testing.B)      { runHTTP(b, transferMsgs) }
func BenchmarkRegistryCascadeInProcess(b *testing.B) {
	runInProcess(b, cascadeMsgs)
}
func BenchmarkRegistryCascadeHTTP(b *testing.B)   { runHTTP(b, cascadeMsgs) }
func BenchmarkChannelClaimInProcess(b *testing.B) { runInProcess(b, claimMsgs) }

// BenchmarkChannelClaimGas reports the channel's own compute gas per Claim on the devnet (the
// issue's goal: at most 5,000; tolk/tests/gas.test.js asserts it on the sandbox), the worst of b.N
// claims of growing vouchers.
func BenchmarkChannelClaimGas(b *testing.B) {
	w := benchWorld(b)
	msgs, _ := prepare(b, w, claimMsgs)
	ch, err := w.addr("channel:client:owner")
	if err != nil {
		b.Fatal(err)
	}
	worst := uint64(0)
	for i := 0; i < b.N; i++ {
		res, err := w.d.Send(context.Background(), msgs[i])
		if err != nil {
			b.Fatal(err)
		}
		gas, err := computeGasAt(res.Transactions, ch)
		if err != nil {
			b.Fatal(err)
		}
		worst = max(worst, gas)
	}
	b.ReportMetric(float64(worst), "claim-gas")
}

// computeGasAt is the compute gas of the one transaction of account a among txs.
func computeGasAt(txs []*tlb.Transaction, a *address.Address) (uint64, error) {
	for _, tx := range txs {
		if !bytes.Equal(tx.AccountAddr, a.Data()) {
			continue
		}
		d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
		if !ok {
			return 0, fmt.Errorf("unexpected transaction description %T", tx.Description)
		}
		vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
		if !ok || !vm.Success {
			return 0, fmt.Errorf("the claim's compute phase did not succeed: %+v", d.ComputePhase.Phase)
		}
		return vm.Details.GasUsed.Uint64(), nil
	}
	return 0, fmt.Errorf("no transaction of %s", a)
}
func BenchmarkChannelClaimHTTP(b *testing.B) { runHTTP(b, claimMsgs) }
