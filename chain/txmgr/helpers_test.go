package txmgr_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

const nanoTON = 1_000_000_000

func ton(n int64) *big.Int { return big.NewInt(n * nanoTON) }

// openDevnet is an in-memory devnet in block mode (interval > 0) or instant mode.
func openDevnet(t testing.TB, interval time.Duration) *devnet.Devnet {
	t.Helper()
	d, err := devnet.Open(devnet.Config{BlockInterval: interval})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// newWallet is a deterministic V5R1 wallet for seed, funded with funds (when not nil).
func newWallet(t testing.TB, d *devnet.Devnet, seed string, funds *big.Int) *wallet.Wallet {
	t.Helper()
	w, err := walletFromSeed(seed, d.GlobalID())
	if err != nil {
		t.Fatal(err)
	}
	if funds != nil {
		if err := d.Fund(context.Background(), w.Address(), funds); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

// walletFromSeed is a deterministic V5R1 wallet.
func walletFromSeed(seed string, globalID int32) (*wallet.Wallet, error) {
	s := sha256.Sum256([]byte(seed))
	return wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, globalID)
}

// setup is a devnet (block mode when interval > 0), a wallet funded with funds and its manager
// (edit changes its config); ctx ends after two minutes.
func setup(t *testing.T, interval time.Duration, seed string, funds *big.Int, edit func(*txmgr.Config)) (context.Context, *devnet.Devnet, *wallet.Wallet, *txmgr.Manager) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	d := openDevnet(t, interval)
	w := newWallet(t, d, seed, funds)
	return ctx, d, w, newManager(t, d, w, edit)
}

// newManager is a manager for w on d's in-process client with fast polling.
func newManager(t testing.TB, d *devnet.Devnet, w txmgr.Signer, edit func(*txmgr.Config)) *txmgr.Manager {
	t.Helper()
	cfg := txmgr.Config{Chain: d.Client(), Signer: w, Clock: func(context.Context) (time.Time, error) { return d.Now(), nil },
		PollInterval: 10 * time.Millisecond, ResubmitInterval: time.Second}
	if edit != nil {
		edit(&cfg)
	}
	m, err := txmgr.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func fresh(i int) *address.Address {
	h := sha256.Sum256([]byte{byte(i >> 8), byte(i)})
	return address.NewAddress(0, 0, h[:])
}

func balance(t *testing.T, d *devnet.Devnet, a *address.Address) *big.Int {
	t.Helper()
	acc, err := d.Account(a)
	if err != nil {
		t.Fatal(err)
	}
	return acc.Balance
}

// externalTxs counts a wallet's transactions caused by external messages, and the distinct bodies.
func externalTxs(t *testing.T, d *devnet.Devnet, a *address.Address) (n int, distinct int) {
	t.Helper()
	txs, err := d.Transactions(a, 1000, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, tx := range txs {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn {
			n++
			seen[string(tx.IO.In.AsExternalIn().Body.Hash())] = true
		}
	}
	return n, len(seen)
}

// waitPending waits until d has n external messages queued for a block.
func waitPending(t *testing.T, d *devnet.Devnet, n int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		if ext, _ := d.Pending(); ext == n {
			return
		}
		if time.Now().After(deadline) {
			ext, _ := d.Pending()
			t.Fatalf("%d external messages queued, want %d", ext, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func equalAddr(a, b *address.Address) bool {
	return bytes.Equal(a.Data(), b.Data()) && a.Workchain() == b.Workchain()
}

// sent is what a Send returned.
type sent struct {
	out *txmgr.Outcome
	err error
}

// sendAsync runs m.Send in a goroutine; the channel receives its result.
func sendAsync(ctx context.Context, m *txmgr.Manager, req txmgr.Request) <-chan sent {
	ch := make(chan sent, 1)
	go func() {
		out, err := m.Send(ctx, req)
		ch <- sent{out, err}
	}()
	return ch
}
