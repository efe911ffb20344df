package devnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// fixedClock is a deterministic base clock for tests.
func fixedClock() time.Time { return time.Unix(1_800_000_000, 0) }

func openMem(t testing.TB) *Devnet {
	t.Helper()
	d, err := Open(Config{Now: fixedClock})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// testWallet is an offline-signing tonutils wallet whose seqno comes from the devnet.
type testWallet struct {
	w    *wallet.Wallet
	addr *address.Address
	d    *Devnet
}

func newTestWallet(t testing.TB, d *Devnet, ver wallet.VersionConfig, seed string) *testWallet {
	t.Helper()
	s := sha256.Sum256([]byte(seed))
	key := ed25519.NewKeyFromSeed(s[:])
	w, err := wallet.FromPrivateKeyWithOptions(key, ver)
	if err != nil {
		t.Fatalf("wallet: %v", err)
	}
	tw := &testWallet{w: w, addr: w.WalletAddress(), d: d}
	fetch := func(ctx context.Context, _ uint32) (uint32, error) {
		acc, err := tw.d.Account(tw.addr)
		if err != nil || acc.State != "active" {
			return 0, err
		}
		r, err := tw.d.RunGetMethod(ctx, tw.addr, "seqno")
		if err != nil {
			return 0, err
		}
		return uint32(r.Stack[0].(*big.Int).Uint64()), nil
	}
	switch sp := w.GetSpec().(type) {
	case *wallet.SpecV4R2:
		sp.SetSeqnoFetcher(fetch)
		sp.SetMessagesTTL(3600 * 24 * 365)
	case *wallet.SpecV5R1Final:
		sp.SetSeqnoFetcher(fetch)
		sp.SetMessagesTTL(3600 * 24 * 365)
	default:
		t.Fatalf("unsupported spec %T", sp)
	}
	return tw
}

// transfer builds the signed external message for one transfer (with StateInit when not deployed).
func (tw *testWallet) transfer(t testing.TB, to *address.Address, nano uint64, bounce bool, body *cell.Cell) *cell.Cell {
	t.Helper()
	acc, err := tw.d.Account(tw.addr)
	if err != nil {
		t.Fatalf("account: %v", err)
	}
	msg := &wallet.Message{Mode: wallet.PayGasSeparately + wallet.IgnoreErrors, InternalMessage: &tlb.InternalMessage{
		IHRDisabled: true, Bounce: bounce, DstAddr: to, Amount: tlb.FromNanoTONU(nano), Body: body,
	}}
	if body == nil {
		msg.InternalMessage.Body = cell.BeginCell().EndCell()
	}
	ext, err := tw.w.PrepareExternalMessageForMany(context.Background(), acc.State != "active", []*wallet.Message{msg})
	if err != nil {
		t.Fatalf("prepare: %v", err)
	}
	c, err := tlb.ToCell(ext)
	if err != nil {
		t.Fatalf("to cell: %v", err)
	}
	return c
}

func ton(n float64) *big.Int { return tlb.MustFromTON(big.NewFloat(n).Text('f', 9)).Nano() }

func balance(t testing.TB, d *Devnet, a *address.Address) *big.Int {
	t.Helper()
	acc, err := d.Account(a)
	if err != nil {
		t.Fatalf("account: %v", err)
	}
	return acc.Balance
}
