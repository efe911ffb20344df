package voucher

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha512"
	"encoding/hex"
	"math/big"
	"testing"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
)

func signedSet(t *testing.T, n int) ([]Signed, []ed25519.PublicKey) {
	t.Helper()
	items := make([]Signed, n)
	pubs := make([]ed25519.PublicKey, n)
	for i := range items {
		key := testKey(byte(i))
		v := Voucher{Channel: address.NewAddress(0, 0, append(make([]byte, 31), byte(i))), Amount: big.NewInt(int64(i)), PromptTokens: uint64(i)}
		s, err := v.Sign(key)
		require.NoError(t, err)
		items[i], pubs[i] = s, key.Public().(ed25519.PublicKey)
	}
	return items, pubs
}

func TestVerifyBatch(t *testing.T) {
	items, pubs := signedSet(t, 40)
	ok, err := VerifyBatch(items, pubs)
	require.NoError(t, err)
	require.NotContains(t, ok, false)
	require.Len(t, ok, 40)

	// Each kind of bad item is found and only it.
	bad := map[int]func(){
		3:  func() { items[3].Signature[0] ^= 0x80 },                  // forged
		7:  func() { pubs[7] = pubs[8] },                              // wrong key
		11: func() { items[11].PromptTokens++ },                       // tampered
		19: func() { pubs[19] = pubs[19][:16] },                       // bad key length
		23: func() { items[23].Channel = nil },                        // unencodable
		29: func() { addL(items[29].Signature[32:]) },                 // non-canonical S
		31: func() { items[31].Signature = [SignatureSize]byte{} },    // all zero
		37: func() { pubs[37] = ed25519.PublicKey(make([]byte, 32)) }, // not a valid point encoding of the key
	}
	for _, f := range bad {
		f()
	}
	ok, err = VerifyBatch(items, pubs)
	require.NoError(t, err)
	for i := range items {
		_, isBad := bad[i]
		require.Equal(t, !isBad, ok[i], "item %d", i)
		if len(pubs[i]) == ed25519.PublicKeySize {
			require.Equal(t, ok[i], items[i].Verify(pubs[i]) == nil, "batch and single disagree on item %d", i)
		}
	}

	// Unencodable items and bad key lengths stay out of the batch; the rest still batch-verify.
	items2, pubs2 := signedSet(t, 8)
	items2[2].Channel = nil
	pubs2[5] = pubs2[5][:3]
	ok, err = VerifyBatch(items2, pubs2)
	require.NoError(t, err)
	require.Equal(t, []bool{true, true, false, true, true, false, true, true}, ok)

	_, err = VerifyBatch(items, pubs[:3])
	require.ErrorContains(t, err, "40 vouchers but 3 public keys")
	ok, err = VerifyBatch(nil, nil)
	require.NoError(t, err)
	require.Empty(t, ok)
	ok, err = VerifyBatch(items[23:24], pubs[23:24])
	require.NoError(t, err)
	require.Equal(t, []bool{false}, ok)
}

// Small-order and non-canonical point encodings: the edge cases where ed25519 implementations
// differ (Chalkias et al., "Taming the many EdDSAs").
var edgePoints = []string{
	"0100000000000000000000000000000000000000000000000000000000000000", // identity
	"ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // order 2
	"0000000000000000000000000000000000000000000000000000000000000080", // order 4
	"26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05", // order 8
	"c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", // order 8
	"eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f", // y = p+1: non-canonical identity
	"edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff", // y = p, sign set: non-canonical
	"0100000000000000000000000000000000000000000000000000000000000080", // identity with the sign bit
}

// Verify must apply CHKSIGNU's rule: TON verifies with OpenSSL's ref10-derived Ed25519, the
// same cofactorless, canonical-S, byte-compared-R rule as Go's crypto/ed25519. Both must agree
// on valid signatures and on every edge-case key, R and S.
func TestVerifyMatchesRef10Rule(t *testing.T) {
	items, pubs := signedSet(t, 4)
	msgs := make([][]byte, len(items))
	for i := range items {
		h, err := items[i].Hash()
		require.NoError(t, err)
		msgs[i] = h
	}
	check := func(pub, msg, sig []byte) {
		t.Helper()
		want := ed25519.Verify(pub, msg, sig)
		got := verifyConsensus(pub, msg, sig)
		require.Equal(t, want, got, "pub %x sig %x", pub, sig)
	}
	for i := range items {
		check(pubs[i], msgs[i], items[i].Signature[:])
	}
	zeroS := make([]byte, 32)
	for _, a := range edgePoints {
		pub, _ := hex.DecodeString(a)
		for _, r := range edgePoints {
			rb, _ := hex.DecodeString(r)
			check(pub, msgs[0], append(append([]byte{}, rb...), zeroS...))
			check(pub, msgs[0], append(append([]byte{}, rb...), items[0].Signature[32:]...))
		}
		check(pub, msgs[0], items[0].Signature[:])
	}
	// Real keys with edge-case R.
	for _, r := range edgePoints {
		rb, _ := hex.DecodeString(r)
		check(pubs[1], msgs[1], append(append([]byte{}, rb...), items[1].Signature[32:]...))
	}
	// Bit flips anywhere in signature or key.
	for bit := 0; bit < 512; bit += 7 {
		sig := items[2].Signature
		sig[bit/8] ^= 1 << (bit % 8)
		check(pubs[2], msgs[2], sig[:])
		if bit < 256 {
			pub := append(ed25519.PublicKey{}, pubs[2]...)
			pub[bit/8] ^= 1 << (bit % 8)
			check(pub, msgs[2], items[2].Signature[:])
		}
	}
}

// The one documented divergence (see batchOptions): a signer who adds a small-order point to
// R makes a signature that the cofactored batch equation accepts and CHKSIGNU refuses. This
// test pins that behaviour so a change in it is noticed, and shows Verify refuses it.
func TestBatchAcceptsTorsionedR(t *testing.T) {
	seed := bytes.Repeat([]byte{0x42}, 32)
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	v := testVoucher()
	msg, err := v.Hash()
	require.NoError(t, err)

	h := sha512.Sum512(seed)
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	a, err := scalar.NewFromBytesModOrder(h[:32])
	require.NoError(t, err)
	r, err := scalar.NewFromBytesModOrder(bytes.Repeat([]byte{0x17}, 32))
	require.NoError(t, err)

	var T curve.EdwardsPoint
	tb, _ := hex.DecodeString(edgePoints[3])
	var tc curve.CompressedEdwardsY
	_, err = tc.SetBytes(tb)
	require.NoError(t, err)
	_, err = T.SetCompressedY(&tc)
	require.NoError(t, err)
	require.True(t, T.IsSmallOrder())

	var R curve.EdwardsPoint
	R.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, r)
	R.Add(&R, &T)
	var rc curve.CompressedEdwardsY
	rc.SetEdwardsPoint(&R)

	hram := sha512.New()
	hram.Write(rc[:])
	hram.Write(pub)
	hram.Write(msg)
	k, err := scalar.NewFromBytesModOrderWide(hram.Sum(nil))
	require.NoError(t, err)
	var S scalar.Scalar
	S.Mul(k, a)
	S.Add(&S, r)

	s := Signed{Voucher: v}
	copy(s.Signature[:32], rc[:])
	require.NoError(t, S.ToBytes(s.Signature[32:]))

	require.ErrorIs(t, s.Verify(pub), ErrBadSignature, "CHKSIGNU's rule refuses it")
	require.False(t, ed25519.Verify(pub, msg, s.Signature[:]))
	ok, err := VerifyBatch([]Signed{s, s}, []ed25519.PublicKey{pub, pub})
	require.NoError(t, err)
	require.Equal(t, []bool{true, true}, ok, "the cofactored batch accepts it (documented divergence)")
}
