package client

import (
	"bytes"
	"crypto/ed25519"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/payment"
)

// signRequest signs what payment.SignRequest signs, as the provider verifies it.
func TestSignRequestIsPaymentsAuthorization(t *testing.T) {
	key := ed25519.NewKeyFromSeed(make([]byte, 32))
	ch := address.MustParseRawAddr("0:1111111111111111111111111111111111111111111111111111111111111111")
	v, err := signRequest(key, ch, "POST", "/v1/chat/completions", []byte(`{"a":1}`))
	if err != nil {
		t.Fatal(err)
	}
	a, err := payment.ParseAuth(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(key.Public().(ed25519.PublicKey), ch, "POST", "/v1/chat/completions", []byte(`{"a":1}`), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := a.Verify(key.Public().(ed25519.PublicKey), ch, "POST", "/v1/completions", []byte(`{"a":1}`), time.Now()); err == nil {
		t.Fatal("verified for another target")
	}
}

// A provider's attested key is prepared once for its receipts, and again when it changes (a
// restarted provider has a new key).
func TestReceiptKeyPreparedOncePerKey(t *testing.T) {
	p := &Provider{receiptKey: new(atomic.Pointer[payment.ReceiptKey])}
	a := ed25519.NewKeyFromSeed(make([]byte, 32)).Public()
	b := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{1}, 32)).Public()
	first := p.receiptKeyFor(a)
	if again := p.receiptKeyFor(ed25519.PublicKey(bytes.Clone(a.(ed25519.PublicKey)))); again != first {
		t.Fatal("the same key was prepared twice")
	}
	if other := p.receiptKeyFor(b); other == first || !other.Is(b) {
		t.Fatal("a new key reused the old one's preparation")
	}
	if k := (&Provider{}).receiptKeyFor(a); !k.Is(a) {
		t.Fatal("a provider without a cache did not prepare the key")
	}
}
