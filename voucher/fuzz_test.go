package voucher

import (
	"crypto/ed25519"
	"testing"
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
		h1, _ := s.Hash()
		h2, _ := back.Hash()
		if string(h1) != string(h2) || s.Signature != back.Signature {
			t.Fatal("header round trip changed the voucher")
		}
	})
}

// FuzzParseVoucher: any BOC parses or fails cleanly; a parsed voucher's cell is the input cell
// (strict parsing: one encoding per voucher), and ordering helpers accept it.
func FuzzParseVoucher(f *testing.F) {
	f.Fuzz(func(t *testing.T, boc []byte) {
		v, err := ParseBOC(boc)
		if err != nil {
			return
		}
		c, err := v.Cell()
		if err != nil {
			t.Fatalf("parsed voucher does not encode: %v", err)
		}
		in, err := ParseBOC(boc)
		if err != nil {
			t.Fatal(err)
		}
		inCell, _ := in.Cell()
		if string(c.Hash()) != string(inCell.Hash()) {
			t.Fatal("re-encoding changed the cell")
		}
		if h, err := v.Hash(); err != nil || string(h) != string(c.Hash()) {
			t.Fatalf("direct hash differs from the cell hash: %v", err)
		}
		if o, err := Compare(&v, &in); err != nil || o != Same {
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
