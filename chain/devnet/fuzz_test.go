package devnet

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/toncenter"
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

// FuzzParseStackEntry: any JSON value as a runGetMethod input entry is parsed or refused, and
// what is accepted survives both directions of the wire through the client's own, independent
// stack code (chain/toncenter): encoded as a request by toncenter.EncodeStack it parses back to
// the same value, and rendered as a result it decodes (toncenter.DecodeStack) to the same value.
// The only value the VM may refuse is a number beyond 257 bits, at the top or inside a tuple.
func FuzzParseStackEntry(f *testing.F) {
	for _, s := range []string{`["num","0x10"]`, `["num","-5"]`, `["num",12]`, `["int","-0x8000"]`,
		`["num","0x` + strings.Repeat("f", 64) + `"]`, `["num","0x1` + strings.Repeat("0", 64) + `"]`,
		`["tvm.Cell","te6cckEBAQEAAgAAAEysuc0="]`, `["slice",""]`, `["tvm.Slice","te6cckEBAQEAAgAAAEysuc0="]`,
		`[1,2]`, `{}`, `["num"]`, `["num","--5"]`, `["num","-0x-5"]`, `["num","0x-5"]`,
		`["list",{"@type":"tvm.list","elements":[]}]`, `["null",null]`,
		`["tuple",{"@type":"tvm.tuple","elements":[{"@type":"tvm.stackEntryNumber","number":{"number":"-3"}},` +
			`{"@type":"tvm.stackEntryList","list":{"elements":[]}},{"@type":"tvm.stackEntryTuple","tuple":{"elements":[` +
			`{"@type":"tvm.stackEntrySlice","slice":{"bytes":"te6cckEBAQEAAgAAAEysuc0="}}]}}]}]`,
		`["list",{"elements":[{"@type":"tvm.stackEntryCell","cell":{"@type":"tvm.cell","bytes":"te6cckEBAQEAAgAAAEysuc0="}},` +
			`{"@type":"tvm.stackEntryList","list":{"elements":[{"@type":"tvm.stackEntryNumber","number":{"number":"7"}}]}}]}]`} {
		f.Add(s)
	}
	// 105 bytes that expand to a tree of 2^23-1 cells (each cell refers to the next one twice).
	f.Add(`["tvm.Cell","` + base64.StdEncoding.EncodeToString(doubleRefDAG(22).ToBOC()) + `"]`)
	f.Fuzz(func(t *testing.T, s string) {
		v, err := decodeEntryJSON(s)
		if err != nil {
			return
		}
		got, err := parseStackEntry(v)
		if err != nil {
			return
		}
		if _, err := toVMValue(got); err != nil {
			if hasWideNumber(got) {
				return // refused later with a clean error, as the VM would
			}
			t.Fatalf("accepted %s, but the VM refuses %v: %v", s, got, err)
		}

		// Request direction: the client's encoder, then the devnet's parser again.
		req, err := toncenter.EncodeStack([]any{got})
		if err != nil {
			t.Fatalf("toncenter cannot encode %v (from %s): %v", got, s, err)
		}
		wire, err := json.Marshal(req[0])
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodeEntryJSON(string(wire))
		if err == nil {
			again, err = parseStackEntry(again)
		}
		if err != nil {
			t.Fatalf("devnet refuses the client's encoding %s of %s: %v", wire, s, err)
		}
		if !sameStackValue(got, again) {
			t.Fatalf("request round trip of %s via %s: %v became %v", s, wire, got, again)
		}

		// Result direction: the devnet's renderer, then the client's decoder. Rendering a
		// small input must be quick: a hang here is a denial of service, reported as a failure.
		rendered := renderWithin(t, got, time.Second)
		wire, err = json.Marshal(rendered)
		if err != nil {
			t.Fatal(err)
		}
		back, err := toncenter.DecodeStack([]json.RawMessage{wire})
		if err != nil {
			t.Fatalf("the client cannot decode the devnet's %s: %v", wire, err)
		}
		if !sameStackValue(got, back[0]) {
			t.Fatalf("result round trip of %s via %s: %v became %v", s, wire, got, back[0])
		}
	})
}

// hasWideNumber says whether v holds a number wider than the VM's 257 bits.
func hasWideNumber(v any) bool {
	switch x := v.(type) {
	case *big.Int:
		return x.BitLen() > 256
	case []any:
		return slices.ContainsFunc(x, hasWideNumber)
	}
	return false
}

// decodeEntryJSON decodes one JSON value as the HTTP handlers do (numbers kept as json.Number).
func decodeEntryJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// sameStackValue compares numbers by value, cells and slices by the cell they hold (a slice
// travels as a cell in results), nulls, and tuples element by element.
func sameStackValue(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case *big.Int:
		y, ok := b.(*big.Int)
		return ok && x.Cmp(y) == 0
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !sameStackValue(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	ca, err1 := asCell(a)
	cb, err2 := asCell(b)
	return err1 == nil && err2 == nil && bytes.Equal(ca.Hash(), cb.Hash())
}
