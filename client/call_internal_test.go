package client

import (
	"crypto/ed25519"
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
