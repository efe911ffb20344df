package voucher

import (
	"bytes"
	"crypto/ed25519"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Seeds live in testdata/fuzz/<FuzzName>/ and run with every `go test`; longer runs by hand:
//
//	go test -run '^$' -fuzz FuzzDecodeHeader -fuzztime 1m ./voucher/

// FuzzDecodeHeader: any header value decodes or fails cleanly; what decodes re-encodes to a
// value that decodes to the same voucher and signature.
func FuzzDecodeHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string) {
		s, err := DecodeHeader(value)
		if err != nil {
			return
		}
		again, err := EncodeHeader(&s)
		if err != nil {
			t.Fatalf("decoded voucher does not re-encode: %v", err)
		}
		back, err := DecodeHeader(again)
		if err != nil {
			t.Fatalf("re-encoded header does not decode: %v", err)
		}
		h1, err := s.Hash()
		if err != nil {
			t.Fatalf("decoded voucher does not hash: %v", err)
		}
		h2, err := back.Hash()
		if err != nil {
			t.Fatalf("round-tripped voucher does not hash: %v", err)
		}
		if string(h1) != string(h2) || s.Signature != back.Signature {
			t.Fatal("header round trip changed the voucher")
		}
	})
}

// FuzzParseVoucher: any BOC parses or fails cleanly. What parses is held against the cell
// tonutils-go decodes from the same BOC, independently of Parse: the voucher re-encodes to
// exactly that cell (Parse accepts one encoding per voucher, so a lost strictness check —
// trailing bits, a ref, anycast, coins with a leading zero byte — shows as a different cell),
// tonutils-go's own loaders read the same fields from it, and the signed hash is its hash.
func FuzzParseVoucher(f *testing.F) {
	max120 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))
	seeds := []Voucher{testVoucher(), testVoucher(), testVoucher(), testVoucher()}
	seeds[1].Amount = big.NewInt(0)
	seeds[2].Amount, seeds[2].PromptTokens, seeds[2].CompletionTokens = max120, ^uint64(0), ^uint64(0)
	seeds[3].Channel = address.NewAddress(0, 0xff, bytes.Repeat([]byte{0x01}, 32)) // workchain -1
	for _, v := range seeds {
		c, err := v.Cell()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(c.ToBOC())
		f.Add(c.ToBOCWithFlags(false))
		// Near misses that a strict Parse refuses: the fuzzer starts from both sides.
		f.Add(c.ToBuilder().MustStoreUInt(0, 1).EndCell().ToBOC())
		f.Add(c.ToBuilder().MustStoreRef(cell.BeginCell().EndCell()).EndCell().ToBOC())
		f.Add(levelMaskBOC(f, c)) // the same bits declared at level 1: another hash
		amount := v.Amount.Bytes()
		if len(amount) == 15 {
			continue // no room for a longer encoding
		}
		long := cell.BeginCell().MustStoreUInt(uint64(Magic), 32).MustStoreAddr(v.Channel).
			MustStoreUInt(uint64(len(amount)+1), 4).MustStoreUInt(0, 8).MustStoreSlice(amount, uint(8*len(amount))).
			MustStoreUInt(v.PromptTokens, 64).MustStoreUInt(v.CompletionTokens, 64).EndCell()
		f.Add(long.ToBOC()) // coins with a leading zero byte
	}
	f.Fuzz(func(t *testing.T, boc []byte) {
		v, err := ParseBOC(boc)
		if err != nil {
			return
		}
		in, err := cell.FromBOC(boc)
		if err != nil {
			t.Fatalf("ParseBOC accepted a BOC tonutils-go refuses: %v", err)
		}
		c, err := v.Cell()
		if err != nil {
			t.Fatalf("parsed voucher does not encode: %v", err)
		}
		if !bytes.Equal(c.Hash(), in.Hash()) {
			t.Fatalf("re-encoding changed the cell:\n in %s\nout %s", in.Dump(), c.Dump())
		}
		h, err := v.Hash()
		if err != nil {
			t.Fatalf("parsed voucher does not hash: %v", err)
		}
		if !bytes.Equal(h, in.Hash()) {
			t.Fatal("the signed hash is not the input cell's hash")
		}

		// Field by field with tonutils-go's loaders.
		if in.RefsNum() != 0 || in.GetType() != cell.OrdinaryCellType {
			t.Fatalf("accepted a cell with %d refs of type %d", in.RefsNum(), in.GetType())
		}
		s, err := in.BeginParse()
		if err != nil {
			t.Fatal(err)
		}
		magic, err := s.LoadUInt(32)
		if err != nil || uint32(magic) != Magic {
			t.Fatalf("magic %#x, %v", magic, err)
		}
		ch, err := s.LoadAddr()
		if err != nil || ch.Type() != address.StdAddress || ch.Anycast() != nil || !ch.Equals(v.Channel) {
			t.Fatalf("channel %v (%v), parsed %v", ch, err, v.Channel)
		}
		amount, err := s.LoadBigCoins()
		if err != nil || amount.Cmp(v.Amount) != 0 {
			t.Fatalf("amount %v (%v), parsed %v", amount, err, v.Amount)
		}
		prompt, err1 := s.LoadUInt(64)
		completion, err2 := s.LoadUInt(64)
		if err1 != nil || err2 != nil || prompt != v.PromptTokens || completion != v.CompletionTokens {
			t.Fatalf("tokens %d/%d (%v %v), parsed %d/%d", prompt, completion, err1, err2, v.PromptTokens, v.CompletionTokens)
		}
		if s.BitsLeft() != 0 {
			t.Fatalf("accepted %d bits after the last field", s.BitsLeft())
		}

		again, err := Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if o, err := Compare(&v, &again); err != nil || o != Same {
			t.Fatalf("voucher compares %v, %v with itself", o, err)
		}
		if _, err := Owed(nil, &v); err != nil && v.Amount.Sign() != 0 {
			t.Fatalf("Owed from zero: %v", err)
		}
	})
}

// FuzzVerify: arbitrary header, key and signature bytes never panic; VerifyBatch accepts
// whatever Verify (the chain's rule) accepts, and identical items get identical results.
func FuzzVerify(f *testing.F) {
	f.Fuzz(func(t *testing.T, value string, pub []byte, sig []byte) {
		s, err := DecodeHeader(value)
		if err != nil {
			return
		}
		if len(sig) == SignatureSize {
			copy(s.Signature[:], sig)
		}
		single := s.Verify(ed25519.PublicKey(pub)) == nil
		ok, err := VerifyBatch([]Signed{s, s}, []ed25519.PublicKey{pub, pub})
		if err != nil {
			t.Fatal(err)
		}
		if len(pub) != ed25519.PublicKeySize && (single || ok[0]) {
			t.Fatal("accepted a key of the wrong length")
		}
		if ok[0] != ok[1] {
			t.Fatal("identical batch items got different results")
		}
		if single && !ok[0] {
			t.Fatal("batch refused a signature the chain rule accepts")
		}
	})
}
