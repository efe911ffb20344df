package devnet

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// FuzzSend feeds arbitrary bytes as a BOC to Send: it must fail cleanly or execute, never
// panic, and a failure must not change the state.
func FuzzSend(f *testing.F) {
	d, err := Open(Config{Now: fixedClock})
	if err != nil {
		f.Fatal(err)
	}
	defer d.Close()
	alice := newTestWallet(f, d, wallet.V4R2, "fuzz-alice")
	if err := d.Fund(context.Background(), alice.addr, ton(1000)); err != nil {
		f.Fatal(err)
	}
	f.Add(alice.transfer(f, FaucetAddress, 1000, true, nil).ToBOC())
	f.Add([]byte{})
	f.Add([]byte("te6cckEBAQEAAgAAAEysuc0="))
	f.Add(cell.BeginCell().MustStoreUInt(0b10, 2).EndCell().ToBOC())
	f.Fuzz(func(t *testing.T, boc []byte) {
		c, err := cell.FromBOC(boc)
		if err != nil {
			return
		}
		before := d.Seqno()
		_, err = d.Send(context.Background(), c)
		if err != nil {
			if !errors.Is(err, chain.ErrMalformed) && !errors.Is(err, chain.ErrRejected) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			if d.Seqno() != before {
				t.Fatalf("a failed send committed a batch")
			}
		}
	})
}

// FuzzParseStackEntry: any JSON value as a runGetMethod input entry is parsed or refused.
func FuzzParseStackEntry(f *testing.F) {
	for _, s := range []string{`["num","0x10"]`, `["num","-5"]`, `["tvm.Cell","te6cckEBAQEAAgAAAEysuc0="]`, `["slice",""]`, `[1,2]`, `{}`, `["num"]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var v any
		if json.Unmarshal([]byte(s), &v) != nil {
			return
		}
		if got, err := parseStackEntry(v); err == nil {
			if _, err := toVMValue(got); err != nil && got != nil {
				// parsed numbers may exceed 257 bits; that is refused later, not a crash
				return
			}
		}
	})
}
