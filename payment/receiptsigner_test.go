package payment

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/xssnick/tonutils-go/address"
)

func newTestSigner(t testing.TB) (ed25519.PublicKey, *ReceiptSigner) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewReceiptSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	return pub, s
}

// A receipt signed with prepared nonces, and one signed when none was ready, verify under the
// attested key by crypto/ed25519, voi's strict rule and the receipt verifiers; a changed receipt
// or signature does not.
func TestReceiptSignerSignaturesVerify(t *testing.T) {
	pub, s := newTestSigner(t)
	if err := s.Prepare(3); err != nil {
		t.Fatal(err)
	}
	if s.Ready() != 3 {
		t.Fatalf("%d nonces ready after Prepare(3)", s.Ready())
	}
	for i := range 5 { // 3 prepared, then 2 made at once
		r := testReceipt()
		r.PromptTokens += uint64(i)
		r.Cost = r.Prices.Cost(r.PromptTokens, r.CompletionTokens)
		signed, err := r.Sign(s)
		if err != nil {
			t.Fatal(err)
		}
		c, _ := r.Cell()
		if !ed25519.Verify(pub, c.Hash(), signed.Signature) {
			t.Fatalf("signature %d does not verify with crypto/ed25519", i)
		}
		for name, rule := range map[string]*voi.VerifyOptions{"default": voi.VerifyOptionsDefault, "FIPS 186-5": voi.VerifyOptionsFIPS_186_5, "ZIP-215": voi.VerifyOptionsZIP_215} {
			if !voi.VerifyWithOptions(voi.PublicKey(pub), c.Hash(), signed.Signature, &voi.Options{Verify: rule}) {
				t.Fatalf("signature %d does not verify with voi's %s rule", i, name)
			}
		}
		if err := verifyBoth(t, signed, pub); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		enc, err := r.Issue(s)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := DecodeReceipt(enc)
		if err != nil {
			t.Fatal(err)
		}
		if err := verifyBoth(t, dec, pub); err != nil {
			t.Fatalf("issued receipt %d: %v", i, err)
		}
		changed := signed
		changed.Owed = changed.Owed.Add(changed.Owed, changed.Owed)
		if err := verifyBoth(t, changed, pub); !errors.Is(err, ErrReceiptSignature) {
			t.Fatalf("a receipt with another owed total: %v, want ErrReceiptSignature", err)
		}
		signed.Signature = flipped(signed.Signature, 40)
		if err := verifyBoth(t, signed, pub); !errors.Is(err, ErrReceiptSignature) {
			t.Fatalf("a changed S: %v, want ErrReceiptSignature", err)
		}
	}
	if s.Ready() != 0 {
		t.Fatalf("%d nonces left after signing 5 with 3 prepared", s.Ready())
	}
}

// No nonce signs twice: signers and preparers racing over one pool give every signature its own R.
func TestReceiptSignerNeverReusesANonce(t *testing.T) {
	_, s := newTestSigner(t)
	const workers, each = 4, 50
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if w%2 == 0 && i%5 == 0 {
					if err := s.Prepare(8); err != nil {
						t.Error(err)
						return
					}
				}
				sig, err := s.Sign(nil, []byte{byte(w), byte(i)}, crypto.Hash(0))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				if seen[string(sig[:32])] {
					t.Errorf("nonce point %x used twice", sig[:32])
				}
				seen[string(sig[:32])] = true
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if len(seen) != workers*each {
		t.Fatalf("%d distinct nonces for %d signatures", len(seen), workers*each)
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, errors.New("entropy source closed") }

func TestReceiptSignerErrors(t *testing.T) {
	if _, err := NewReceiptSigner(make(ed25519.PrivateKey, 10)); err == nil || !strings.Contains(err.Error(), "64 bytes") {
		t.Fatalf("a 10-byte key: %v", err)
	}
	_, s := newTestSigner(t)
	if _, err := s.Sign(nil, make([]byte, 32), crypto.SHA256); err == nil || !strings.Contains(err.Error(), "pure Ed25519") {
		t.Fatalf("a digest's options: %v", err)
	}
	s.rand = failingReader{}
	if _, err := s.Sign(nil, make([]byte, 32), crypto.Hash(0)); err == nil || !strings.Contains(err.Error(), "entropy source closed") {
		t.Fatalf("no random bytes: %v", err)
	}
	if err := s.Prepare(1); err == nil {
		t.Fatal("Prepare without random bytes succeeded")
	}
}

// Issuing a receipt with the key signs in place; with a ReceiptSigner whose nonces were prepared
// off the path, the answer's path only finishes the signature.
func BenchmarkReceiptIssue(b *testing.B) {
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	s, _ := NewReceiptSigner(priv)
	r := testReceipt()
	b.Run("key", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Issue(priv); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("prepared", func(b *testing.B) {
		if err := s.Prepare(b.N); err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			if _, err := r.Issue(s); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// The receipt cells written directly are tonutils' cells: the same root hash and the same BOC,
// for random receipts and for the extremes of every field (zero and maximal coins, both
// workchains, maximal token counts and time).
func TestReceiptBOCMatchesTonutils(t *testing.T) {
	maxCoins := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))
	rnd := mrand.New(mrand.NewPCG(1, 2))
	randCoins := func() *big.Int {
		switch rnd.IntN(4) {
		case 0:
			return new(big.Int)
		case 1:
			return new(big.Int).Set(maxCoins)
		}
		return new(big.Int).Rsh(new(big.Int).Set(maxCoins), uint(rnd.IntN(121)))
	}
	for i := range 500 {
		r := testReceipt()
		data := make([]byte, 32)
		for j := range data {
			data[j] = byte(rnd.Uint32())
		}
		wc := int32(0)
		if i%2 == 1 {
			wc = -1
		}
		r.Channel = address.NewAddress(0, byte(wc), data)
		for _, h := range []*[32]byte{&r.RequestHash, &r.ResponseHash} {
			for j := range h {
				h[j] = byte(rnd.Uint32())
			}
		}
		r.ModelID = rnd.Uint32()
		r.IssuedAt = time.Unix(1+rnd.Int64N(1<<32-1), 0)
		r.Prices = Prices{Prompt: randCoins(), Completion: randCoins()}
		r.PromptTokens, r.CompletionTokens = rnd.Uint64()>>uint(rnd.IntN(64)), rnd.Uint64()>>uint(rnd.IntN(64))
		if i%7 == 0 {
			r.PromptTokens, r.CompletionTokens = ^uint64(0), ^uint64(0)
		}
		if i%5 == 0 {
			r.IssuedAt = time.Unix(1<<32-1, 0)
		}
		r.Cost = r.Prices.Cost(r.PromptTokens, r.CompletionTokens)
		if r.Cost.BitLen() > 120 {
			r.Prices = Prices{Prompt: big.NewInt(int64(rnd.IntN(1000))), Completion: big.NewInt(int64(rnd.IntN(1000)))}
			r.Cost = r.Prices.Cost(r.PromptTokens, r.CompletionTokens)
		}
		r.Owed = new(big.Int).Add(r.Cost, randCoins())
		if r.Owed.BitLen() > 120 {
			r.Owed.Set(maxCoins)
		}
		if err := r.Check(); err != nil {
			t.Fatalf("receipt %d: %v", i, err)
		}
		c, err := r.Cell()
		if err != nil {
			t.Fatal(err)
		}
		hash, boc := r.receiptCells()
		if !bytes.Equal(hash[:], c.Hash()) {
			t.Fatalf("receipt %d: root hash %x, tonutils %x", i, hash, c.Hash())
		}
		if want := c.ToBOC(); !bytes.Equal(boc, want) {
			t.Fatalf("receipt %d: BOC\n%x\ntonutils\n%x", i, boc, want)
		}
	}
}
