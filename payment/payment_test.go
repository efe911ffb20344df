package payment

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"log/slog"
	"math/big"
	mrand "math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/attest"
)

func nano(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 10)
	if !ok {
		panic(s)
	}
	return v
}

var testChannel = address.MustParseRawAddr("0:" + strings.Repeat("ab", 32))

func TestCostRoundsUpOnce(t *testing.T) {
	for _, tc := range []struct {
		prompt, completion string
		pt, ct             uint64
		want               string
	}{
		{"0", "0", 1000, 1000, "0"},
		{"1", "0", 1, 0, "1"},                                           // 1/1e6 rounds up to 1
		{"1", "1", 500_000, 500_000, "1"},                               // one rounding over the sum, not two
		{"1", "1", 500_001, 500_000, "2"},                               //
		{"100000000", "250000000", 1500, 700, "325000"},                 // 0.1 TON / 0.25 TON per 1M
		{"100000000", "250000000", 1, 1, "350"},                         //
		{"1000000000000", "0", 1 << 63, 0, "9223372036854775808000000"}, // no overflow
	} {
		p := Prices{Prompt: nano(tc.prompt), Completion: nano(tc.completion)}
		if err := p.Check(); err != nil {
			t.Fatal(err)
		}
		if got := p.Cost(tc.pt, tc.ct); got.String() != tc.want {
			t.Errorf("Cost(%s/%s, %d, %d) = %s, want %s", tc.prompt, tc.completion, tc.pt, tc.ct, got, tc.want)
		}
	}
	for _, bad := range []Prices{{}, {Prompt: big.NewInt(1)}, {Prompt: big.NewInt(-1), Completion: big.NewInt(1)},
		{Prompt: new(big.Int).Lsh(big.NewInt(1), 120), Completion: big.NewInt(0)}} {
		if err := bad.Check(); !errors.Is(err, ErrBadPrices) {
			t.Errorf("Check(%v) = %v, want ErrBadPrices", bad, err)
		}
	}
}

func TestFormatTON(t *testing.T) {
	for in, want := range map[string]string{"0": "0", "1": "0.000000001", "1500000000": "1.5", "12500": "0.0000125", "-2000000000": "-2"} {
		if got := FormatTON(nano(in)); got != want {
			t.Errorf("FormatTON(%s) = %q, want %q", in, got, want)
		}
	}
}

// The fast path for amounts that fit 64 bits writes what the general one does.
func TestFormatTONFastPath(t *testing.T) {
	rnd := mrand.New(mrand.NewPCG(3, 4))
	for i := range 20000 {
		n := rnd.Uint64() >> uint(rnd.IntN(64))
		switch i {
		case 0:
			n = 0
		case 1:
			n = ^uint64(0)
		case 2:
			n = nanoPerTON
		case 3:
			n = nanoPerTON - 1
		}
		v := new(big.Int).SetUint64(n)
		if got, want := FormatTON(v), formatTONBig(v); got != want {
			t.Fatalf("FormatTON(%d) = %q, want %q", n, got, want)
		}
	}
	huge, _ := new(big.Int).SetString("123456789012345678901234567", 10)
	if got := FormatTON(huge); got != "123456789012345678.901234567" {
		t.Fatalf("FormatTON(%s) = %q", huge, got)
	}
}

func TestAdmit(t *testing.T) {
	l := func(owed, reserved, voucher, capacity int64) Ledger {
		return Ledger{Owed: big.NewInt(owed), Reserved: big.NewInt(reserved), Voucher: big.NewInt(voucher), Capacity: big.NewInt(capacity)}
	}
	for _, tc := range []struct {
		name    string
		l       Ledger
		max     int64
		code    string
		minimum string
	}{
		{"first request on credit", l(0, 0, 0, 1000), 100, "", ""},
		{"previous answer covered", l(70, 0, 70, 1000), 100, "", ""},
		{"previous answer unpaid", l(70, 0, 0, 1000), 100, CodeVoucherTooLow, "70"},
		{"old voucher", l(170, 0, 70, 1000), 100, CodeVoucherTooLow, "170"},
		{"second in flight needs prepayment", l(70, 100, 70, 1000), 100, CodeVoucherTooLow, "170"},
		{"prepaid for the one in flight", l(70, 100, 170, 1000), 100, "", ""},
		{"deposit exactly enough", l(70, 0, 70, 170), 100, "", ""},
		{"deposit one short", l(70, 0, 70, 169), 100, CodeDepositTooLow, ""},
	} {
		r := Admit(tc.l, big.NewInt(tc.max))
		switch {
		case tc.code == "" && r != nil:
			t.Errorf("%s: refused: %v", tc.name, r)
		case tc.code != "" && (r == nil || r.Code != tc.code):
			t.Errorf("%s: got %v, want code %s", tc.name, r, tc.code)
		case tc.minimum != "" && (r.VoucherMin == nil || r.VoucherMin.String() != tc.minimum):
			t.Errorf("%s: voucher minimum %v, want %s", tc.name, r.VoucherMin, tc.minimum)
		case tc.code == CodeDepositTooLow && r.VoucherMin != nil:
			t.Errorf("%s: a voucher cannot fix a small deposit, got minimum %v", tc.name, r.VoucherMin)
		}
	}
}

func TestAuth(t *testing.T) {
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	pub := key.Public().(ed25519.PublicKey)
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"model":"m"}`)
	value, err := SignRequest(key, testChannel, "POST", "/v1/chat/completions", body, now)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ParseAuth(value)
	if err != nil {
		t.Fatal(err)
	}
	if a.String() != value {
		t.Fatalf("round trip: %q != %q", a.String(), value)
	}
	// verify is Verify, checked to agree with VerifyKey (the prepared key's path).
	verify := func(a Auth, pub ed25519.PublicKey, ch *address.Address, method, target string, body []byte, now time.Time) error {
		err := a.Verify(pub, ch, method, target, body, now)
		if kerr := a.VerifyKey(NewAuthKey(pub), ch, method, target, sha256.Sum256(body), now); (err == nil) != (kerr == nil) {
			t.Fatalf("Verify says %v, VerifyKey says %v", err, kerr)
		}
		return err
	}
	if err := verify(a, pub, testChannel, "POST", "/v1/chat/completions", body, now.Add(AuthWindow)); err != nil {
		t.Fatalf("valid authorization refused: %v", err)
	}
	other := address.MustParseRawAddr("0:" + strings.Repeat("cd", 32))
	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	for name, err := range map[string]error{
		"late":          verify(a, pub, testChannel, "POST", "/v1/chat/completions", body, now.Add(AuthWindow+time.Second)),
		"early":         verify(a, pub, testChannel, "POST", "/v1/chat/completions", body, now.Add(-AuthWindow-time.Second)),
		"other body":    verify(a, pub, testChannel, "POST", "/v1/chat/completions", []byte(`{"model":"n"}`), now),
		"other path":    verify(a, pub, testChannel, "POST", "/v1/completions", body, now),
		"other method":  verify(a, pub, testChannel, "GET", "/v1/chat/completions", body, now),
		"other channel": verify(a, pub, other, "POST", "/v1/chat/completions", body, now),
		"other key":     verify(a, otherKey.Public().(ed25519.PublicKey), testChannel, "POST", "/v1/chat/completions", body, now),
		"short key":     verify(a, pub[:31], testChannel, "POST", "/v1/chat/completions", body, now),
	} {
		if !errors.Is(err, ErrBadAuth) {
			t.Errorf("%s: got %v, want ErrBadAuth", name, err)
		}
	}
	parts := strings.Split(value, ".")
	for _, bad := range []string{"", "v2." + strings.Join(parts[1:], "."), strings.Join(parts[:3], "."), value + ".x",
		"v1.0" + parts[1] + "." + parts[2] + "." + parts[3], "v1.-5." + parts[2] + "." + parts[3],
		"v1." + parts[1] + "." + parts[2] + "=." + parts[3], "v1." + parts[1] + ".AAAA." + parts[3], strings.Repeat("v", 201)} {
		if _, err := ParseAuth(bad); !errors.Is(err, ErrBadAuth) {
			t.Errorf("ParseAuth(%q) = %v, want ErrBadAuth", bad, err)
		}
	}

	var g ReplayGuard
	if err := g.Use(testChannel, a, now); err != nil {
		t.Fatal(err)
	}
	if err := g.Use(testChannel, a, now.Add(time.Second)); !errors.Is(err, ErrBadAuth) {
		t.Fatalf("replay accepted: %v", err)
	}
	if err := g.Use(other, a, now); err != nil {
		t.Fatalf("the same nonce on another channel is another request: %v", err)
	}
	// Swept once outside the window: then Verify refuses it anyway.
	if err := g.Use(testChannel, Auth{Unix: now.Unix() + 1000, Nonce: [16]byte{1}}, now.Add(1000*time.Second)); err != nil {
		t.Fatal(err)
	}
	if len(g.seen) != 1 {
		t.Fatalf("expired nonces kept: %d entries", len(g.seen))
	}
}

// The message signed is the protocol's text, byte for byte.
func TestAuthMessage(t *testing.T) {
	nonce := [NonceSize]byte{0xab, 1}
	body := []byte(`{"model":"m"}`)
	h := sha256.Sum256(body)
	want := "cocoon-request-v1\n" + testChannel.StringRaw() + "\nPOST\n/v1/chat/completions?x=1\n1800000000\n" +
		hex.EncodeToString(nonce[:]) + "\n" + hex.EncodeToString(h[:])
	if got := string(AuthMessage(testChannel, "POST", "/v1/chat/completions?x=1", body, 1_800_000_000, nonce)); got != want {
		t.Fatalf("AuthMessage:\n%q\nwant\n%q", got, want)
	}
}

// A prepared key gives Verify's verdicts for keys and signatures at the edges of the rule:
// small-order and non-canonical keys, bytes that are no point, non-canonical S, a changed R.
func TestVerifyKeyEdgeCases(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{}`)
	_, key, _ := ed25519.GenerateKey(rand.Reader)
	value, _ := SignRequest(key, testChannel, "POST", "/p", body, now)
	good, _ := ParseAuth(value)
	keys := edgeKeys(key.Public().(ed25519.PublicKey))
	sigs := map[string]Auth{"good": good}
	bigS := good
	copy(bigS.Signature[32:], bytes.Repeat([]byte{0xff}, 32)) // S ≥ L
	sigs["S not canonical"] = bigS
	r := good
	r.Signature[0] ^= 1
	sigs["R changed"] = r
	zero := good
	zero.Signature = [64]byte{}
	sigs["zero"] = zero
	for kn, pub := range keys {
		for sn, a := range sigs {
			err := a.Verify(pub, testChannel, "POST", "/p", body, now)
			kerr := a.VerifyKey(NewAuthKey(pub), testChannel, "POST", "/p", sha256.Sum256(body), now)
			if (err == nil) != (kerr == nil) {
				t.Errorf("key %s, signature %s: Verify says %v, VerifyKey says %v", kn, sn, err, kerr)
			}
			// The standard library's verdict is the rule. It is not always "only the signer's good
			// signature": under a small-order key (all zeros) the all-zero signature (a small-order
			// R, S = 0) passes the cofactorless check for one challenge in four, which depends on
			// the random nonce.
			std := ed25519.Verify(pub, AuthMessage(testChannel, "POST", "/p", body, a.Unix, a.Nonce), a.Signature[:])
			if (err == nil) != std {
				t.Errorf("key %s, signature %s: Verify says %v, crypto/ed25519 says %v", kn, sn, err, std)
			}
			if kn == "signer" && (err == nil) != (sn == "good") {
				t.Errorf("key %s, signature %s: Verify says %v", kn, sn, err)
			}
		}
	}
}

func testReceipt() Receipt {
	return Receipt{
		Channel:          testChannel,
		RequestHash:      [32]byte{1, 2, 3},
		ResponseHash:     [32]byte{4, 5, 6},
		IssuedAt:         time.Unix(1_800_000_000, 0),
		ModelID:          7,
		PromptTokens:     1500,
		CompletionTokens: 700,
		Prices:           Prices{Prompt: big.NewInt(100_000_000), Completion: big.NewInt(250_000_000)},
		Cost:             big.NewInt(325_000),
		Owed:             big.NewInt(1_325_000),
	}
}

// attestedKeys are the keys a provider may sign receipts with: the Ed25519 key of a real
// (simulated-TEE) RA-TLS issuer, and an ECDSA P-256 key as older providers had.
func attestedKeys(t *testing.T) map[string]crypto.Signer {
	t.Helper()
	is, err := attest.NewIssuer(context.Background(), attest.IssuerConfig{Attester: attest.NewSimAttester([48]byte{1}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]crypto.Signer{"ed25519": is.Signer(), "ecdsa": ec}
}

func TestReceiptSignVerify(t *testing.T) {
	keys := attestedKeys(t)
	if _, ok := keys["ed25519"].Public().(ed25519.PublicKey); !ok {
		t.Fatalf("the RA-TLS issuer's key is %T, want Ed25519", keys["ed25519"].Public())
	}
	for name, key := range keys {
		t.Run(name, func(t *testing.T) {
			s, err := testReceipt().Sign(key)
			if err != nil {
				t.Fatal(err)
			}
			enc, err := s.Encode()
			if err != nil {
				t.Fatal(err)
			}
			if len(enc) > MaxReceiptLen {
				t.Fatalf("encoded receipt is %d characters, above MaxReceiptLen", len(enc))
			}
			got, err := DecodeReceipt(enc)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyBoth(t, got, key.Public()); err != nil {
				t.Fatalf("verify: %v", err)
			}
			if got.Cost.Cmp(s.Cost) != 0 || got.Owed.Cmp(s.Owed) != 0 || got.ResponseHash != s.ResponseHash || !got.Channel.Equals(testChannel) ||
				got.PromptTokens != 1500 || got.CompletionTokens != 700 || got.ModelID != 7 || !got.IssuedAt.Equal(s.IssuedAt) {
				t.Fatalf("round trip changed the receipt: %+v", got.Receipt)
			}
			// Issue is Sign then Encode: the same BOC, a signature that verifies.
			issued, err := testReceipt().Issue(key)
			if err != nil {
				t.Fatal(err)
			}
			if bocOf := func(e string) string { return e[:strings.IndexByte(e, '.')] }; bocOf(issued) != bocOf(enc) {
				t.Fatalf("Issue encodes another receipt: %s, Encode %s", issued, enc)
			}
			if is, err := DecodeReceipt(issued); err != nil || verifyBoth(t, is, key.Public()) != nil {
				t.Fatalf("an issued receipt does not verify: %v", err)
			}
			if _, err := (Receipt{}).Issue(key); !errors.Is(err, ErrBadReceipt) {
				t.Fatalf("Issue of an invalid receipt: %v", err)
			}
			// Another key of the same kind, and the other kind's key, refuse it.
			for otherName, other := range attestedKeys(t) {
				if err := verifyBoth(t, got, other.Public()); !errors.Is(err, ErrReceiptSignature) {
					t.Fatalf("verified under another %s key: %v", otherName, err)
				}
			}
			// Any change of what was signed, or of the signature, breaks it.
			tampered := got
			tampered.CompletionTokens, tampered.Cost = 100, big.NewInt(175_000)
			if err := verifyBoth(t, tampered, key.Public()); !errors.Is(err, ErrReceiptSignature) {
				t.Fatalf("tampered receipt verified: %v", err)
			}
			for _, sig := range [][]byte{flipped(got.Signature, 0), flipped(got.Signature, len(got.Signature)-1), got.Signature[:len(got.Signature)-1]} {
				bad := got
				bad.Signature = sig
				if err := verifyBoth(t, bad, key.Public()); !errors.Is(err, ErrReceiptSignature) {
					t.Fatalf("tampered signature verified: %v", err)
				}
			}
		})
	}
}

// verifyBoth is Verify, checked to agree with VerifyKey under the prepared key.
func verifyBoth(t *testing.T, s SignedReceipt, pub crypto.PublicKey) error {
	t.Helper()
	err, kerr := s.Verify(pub), s.VerifyKey(NewReceiptKey(pub))
	if (err == nil) != (kerr == nil) {
		t.Fatalf("Verify says %v, VerifyKey says %v", err, kerr)
	}
	return err
}

func flipped(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// An Ed25519 receipt signature is the 64-byte RFC 8032 signature of the cell's hash, whichever
// signer makes it (voi for an ed25519.PrivateKey, the key's own Sign for any other signer).
func TestReceiptEd25519Signature(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	c, err := testReceipt().Cell()
	if err != nil {
		t.Fatal(err)
	}
	want := ed25519.Sign(priv, c.Hash())
	for name, key := range map[string]crypto.Signer{"ed25519.PrivateKey": priv, "other signer": opaqueSigner{priv}} {
		s, err := testReceipt().Sign(key)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if !bytes.Equal(s.Signature, want) {
			t.Fatalf("%s: signature %x, want ed25519.Sign over the cell hash %x", name, s.Signature, want)
		}
		if err := s.Verify(pub); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
	}
}

// opaqueSigner hides the ed25519.PrivateKey type (as a signer in another process would).
type opaqueSigner struct{ k ed25519.PrivateKey }

func (o opaqueSigner) Public() crypto.PublicKey { return o.k.Public() }
func (o opaqueSigner) Sign(r io.Reader, msg []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.k.Sign(r, msg, opts)
}

func TestReceiptVerifyKeyTypes(t *testing.T) {
	keys := attestedKeys(t)
	s, err := testReceipt().Sign(keys["ed25519"])
	if err != nil {
		t.Fatal(err)
	}
	rsaKey := &rsa.PublicKey{N: big.NewInt(0xC0C0), E: 65537}
	for name, pub := range map[string]crypto.PublicKey{
		"rsa":                 rsaKey,
		"no key":              nil,
		"ed25519 by pointer":  ptr(keys["ed25519"].Public().(ed25519.PublicKey)),
		"ed25519 of 31 bytes": keys["ed25519"].Public().(ed25519.PublicKey)[:31],
	} {
		for _, err := range []error{s.Verify(pub), s.VerifyKey(NewReceiptKey(pub))} {
			if !errors.Is(err, ErrReceiptSignature) || err == ErrReceiptSignature {
				t.Errorf("%s: got %v, want ErrReceiptSignature saying what the key is", name, err)
			}
		}
	}
}

// A prepared receipt key gives Verify's verdicts, and Verify crypto/ed25519's, for keys and
// signatures at the edges of the rule (as TestVerifyKeyEdgeCases for authorizations).
func TestReceiptVerifyKeyEdgeCases(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	good, err := testReceipt().Sign(priv)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := testReceipt().Cell()
	keys := edgeKeys(pub)
	bigS := bytes.Clone(good.Signature)
	copy(bigS[32:], bytes.Repeat([]byte{0xff}, 32)) // S ≥ L
	sigs := map[string][]byte{"good": good.Signature, "S not canonical": bigS, "R changed": flipped(good.Signature, 0),
		"zero": make([]byte, 64)}
	for kn, k := range keys {
		for sn, sig := range sigs {
			r := good
			r.Signature = sig
			err := verifyBoth(t, r, k)
			if std := ed25519.Verify(k, c.Hash(), sig); (err == nil) != std {
				t.Errorf("key %s, signature %s: Verify says %v, crypto/ed25519 says %v", kn, sn, err, std)
			}
			if kn == "signer" && (err == nil) != (sn == "good") {
				t.Errorf("key %s, signature %s: Verify says %v", kn, sn, err)
			}
		}
	}
	if !NewReceiptKey(pub).Is(pub) || NewReceiptKey(pub).Is(keys["identity (small order)"]) || NewReceiptKey(nil).Is(pub) {
		t.Fatal("ReceiptKey.Is does not tell its key")
	}
}

func ptr[T any](v T) *T { return &v }

func TestReceiptRejects(t *testing.T) {
	r := testReceipt()
	r.Cost = big.NewInt(325_001)
	if _, err := r.Cell(); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("a cost that is not the tokens at the prices: %v", err)
	}
	r = testReceipt()
	r.Owed = big.NewInt(1)
	if _, err := r.Cell(); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("owed below cost: %v", err)
	}
	good, _ := testReceipt().Cell()
	// The same fields with a non-canonical coins encoding (a leading zero byte in cost).
	m := good.MustPeekRef(0).MustBeginParse()
	head := good.MustBeginParse().MustLoadSlice(32 + 267 + 512 + 32)
	b := cell.BeginCell().MustStoreUInt(m.MustLoadUInt(32), 32).MustStoreUInt(m.MustLoadUInt(64), 64).MustStoreUInt(m.MustLoadUInt(64), 64).
		MustStoreBigCoins(m.MustLoadBigCoins()).MustStoreBigCoins(m.MustLoadBigCoins())
	cost := m.MustLoadBigCoins()
	b.MustStoreUInt(4, 4).MustStoreUInt(0, 8).MustStoreBigUInt(cost, 24).MustStoreBigCoins(m.MustLoadBigCoins())
	nonCanonical := cell.BeginCell().MustStoreSlice(head, 32+267+512+32).MustStoreRef(b.EndCell()).EndCell()
	if _, err := ParseReceiptCell(nonCanonical); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("non-canonical coins accepted: %v", err)
	} else if !strings.Contains(err.Error(), "canonical") {
		t.Errorf("non-canonical coins refused for another reason: %v", err)
	}
	extra := cell.BeginCell().MustStoreBuilder(good.ToBuilder()).MustStoreUInt(0, 1).EndCell()
	if _, err := ParseReceiptCell(extra); !errors.Is(err, ErrBadReceipt) {
		t.Errorf("trailing bit accepted: %v", err)
	}
	for _, bad := range []string{"", "abc", "a.b.c", strings.Repeat("A", MaxReceiptLen+1), "AAAA.AAAA"} {
		if _, err := DecodeReceipt(bad); !errors.Is(err, ErrBadReceipt) {
			t.Errorf("DecodeReceipt(%q) = %v", bad, err)
		}
	}
}

func TestContentHashSameStreamedOrNot(t *testing.T) {
	hash := func(parts ...string) [32]byte {
		var c Content
		for _, p := range parts {
			if err := c.Add([]byte(p)); err != nil {
				t.Fatal(err)
			}
		}
		return c.Hash()
	}
	whole := hash(`{"object":"chat.completion","choices":[
		{"index":0,"message":{"role":"assistant","content":"Hello world","refusal":null},"finish_reason":"stop"},
		{"index":1,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}}]},"finish_reason":"tool_calls"}],
		"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	streamed := hash(
		`{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":"Hello"},"finish_reason":null}]}`,
		`{"choices":[{"index":1,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"f","arguments":""}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":0,"delta":{"content":" world"},"finish_reason":"stop"}]}`,
		`{"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":"}}]},"finish_reason":null}]}`,
		`{"choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":"tool_calls"}]}`,
		`{"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`)
	if whole != streamed {
		t.Fatal("a streamed answer hashes differently from the same answer in one piece")
	}
	if hash(`{"choices":[{"index":0,"text":"Hello world","finish_reason":"length"}]}`) ==
		hash(`{"choices":[{"index":0,"text":"Hello world","finish_reason":"stop"}]}`) {
		t.Fatal("finish_reason does not count")
	}
	// Piece boundaries are not part of the hash, field boundaries are.
	if hash(`{"choices":[{"index":0,"message":{"content":"ab","refusal":"c"}}]}`) ==
		hash(`{"choices":[{"index":0,"message":{"content":"a","refusal":"bc"}}]}`) {
		t.Fatal("content and refusal run together")
	}
	if hash(`{"choices":[{"index":0,"text":"x"}]}`) == hash(`{"choices":[{"index":1,"text":"x"}]}`) {
		t.Fatal("choice index does not count")
	}
	var c Content
	if err := c.Add([]byte("[DONE]")); err == nil {
		t.Fatal("non-JSON accepted")
	}
}

// edgeKeys are the signer's key and public keys at the edges of ed25519's rules: small order,
// zero, a non-canonical y, not a point.
func edgeKeys(signer ed25519.PublicKey) map[string]ed25519.PublicKey {
	identity := make([]byte, 32)
	identity[0] = 1
	nonCanonical := bytes.Repeat([]byte{0xff}, 32) // y ≥ p
	nonCanonical[31] = 0x7f
	notPoint := make([]byte, 32)
	notPoint[0] = 2
	return map[string]ed25519.PublicKey{"signer": signer, "identity (small order)": identity,
		"zero": make([]byte, 32), "non-canonical y": nonCanonical, "not a point": notPoint}
}
