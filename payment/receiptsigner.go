package payment

import (
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"io"
	"sync"

	"github.com/oasisprotocol/curve25519-voi/curve"
	"github.com/oasisprotocol/curve25519-voi/curve/scalar"
)

// ReceiptSigner signs a provider's receipts with its attested Ed25519 key, with the costly half of
// each signature made ahead of the answer. An Ed25519 signature is R = r·B and S = r + H(R‖A‖M)·a;
// R does not depend on the message when r is drawn at random instead of derived from it (RFC 8032
// derives it only so that a signer needs no random source), and computing it is ~90% of signing.
// Prepare computes nonces while no answer waits (the provider calls it after an answer went out);
// Sign then costs one SHA-512 and two scalar operations. The signatures verify like any Ed25519
// signature (the verifier never sees how r was chosen); they are not deterministic: the same
// receipt signed twice gives two different, equally valid signatures.
//
// INVARIANT: a nonce is used for one signature only (two signatures with one r reveal the key):
// it leaves the pool under mu and is never put back.
//
// ReceiptSigner is a crypto.Signer, so Receipt.Issue and Receipt.Sign take it in place of the key.
// It is safe for concurrent use.
type ReceiptSigner struct {
	key ed25519.PrivateKey
	// a is the secret scalar (the clamped first half of SHA-512(seed)), pub the public key A, salt
	// the second half: mixed with fresh random bytes into each nonce, so a weak random source
	// alone does not make nonces guessable (a "hedged" nonce).
	a    scalar.Scalar
	pub  [32]byte
	salt [32]byte
	rand io.Reader

	mu sync.Mutex
	// ready are the nonces prepared and not used. REQUIRES mu.
	ready []receiptNonce
}

// receiptNonce is a signature's nonce r and its point R = r·B, compressed.
type receiptNonce struct {
	r scalar.Scalar
	R [32]byte
}

// NewReceiptSigner prepares key for signing receipts (nonces are drawn from crypto/rand).
func NewReceiptSigner(key ed25519.PrivateKey) (*ReceiptSigner, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, errors.New("payment: an Ed25519 private key has 64 bytes")
	}
	s := &ReceiptSigner{key: key, rand: rand.Reader}
	h := sha512.Sum512(key.Seed())
	h[0] &= 248
	h[31] &= 127
	h[31] |= 64
	// The clamped value is below 2^255; reduced mod ℓ it gives the same point multiples (B has
	// order ℓ), which is all S needs.
	if _, err := s.a.SetBytesModOrder(h[:32]); err != nil {
		return nil, err
	}
	copy(s.pub[:], key.Public().(ed25519.PublicKey))
	copy(s.salt[:], h[32:])
	return s, nil
}

// Key is the private key s signs with.
func (s *ReceiptSigner) Key() ed25519.PrivateKey { return s.key }

// Public is the public key (crypto.Signer).
func (s *ReceiptSigner) Public() crypto.PublicKey { return s.key.Public() }

// Sign signs message (a receipt cell's 32-byte hash) as pure Ed25519 (crypto.Signer; opts must be
// crypto.Hash(0), rand is not used: s draws its nonces itself).
func (s *ReceiptSigner) Sign(_ io.Reader, message []byte, opts crypto.SignerOpts) ([]byte, error) {
	if opts != nil && opts.HashFunc() != crypto.Hash(0) {
		return nil, errors.New("payment: receipts are signed as pure Ed25519 (crypto.Hash(0))")
	}
	n, err := s.take()
	if err != nil {
		return nil, err
	}
	d := sha512.New()
	d.Write(n.R[:])
	d.Write(s.pub[:])
	d.Write(message)
	var h [64]byte
	var k, sc scalar.Scalar
	if _, err := k.SetBytesModOrderWide(d.Sum(h[:0])); err != nil {
		return nil, err
	}
	sc.Mul(&k, &s.a)
	sc.Add(&sc, &n.r)
	sig := make([]byte, ed25519.SignatureSize)
	copy(sig, n.R[:])
	if err := sc.ToBytes(sig[32:]); err != nil {
		return nil, err
	}
	return sig, nil
}

// Prepare computes nonces until n are ready (outside the lock: signers go on meanwhile).
func (s *ReceiptSigner) Prepare(n int) error {
	for {
		s.mu.Lock()
		enough := len(s.ready) >= n
		s.mu.Unlock()
		if enough {
			return nil
		}
		nc, err := s.newNonce()
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.ready = append(s.ready, nc)
		s.mu.Unlock()
	}
}

// Ready is the number of nonces prepared and not used.
func (s *ReceiptSigner) Ready() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.ready)
}

// take removes a prepared nonce from the pool, or makes one when none is ready.
func (s *ReceiptSigner) take() (receiptNonce, error) {
	s.mu.Lock()
	if k := len(s.ready); k > 0 {
		n := s.ready[k-1]
		s.ready[k-1] = receiptNonce{} // no copy of a used nonce stays behind
		s.ready = s.ready[:k-1]
		s.mu.Unlock()
		return n, nil
	}
	s.mu.Unlock()
	return s.newNonce()
}

// newNonce draws r = SHA-512(salt ‖ 32 random bytes) mod ℓ and computes R = r·B.
func (s *ReceiptSigner) newNonce() (receiptNonce, error) {
	var seed [64]byte
	copy(seed[:32], s.salt[:])
	if _, err := io.ReadFull(s.rand, seed[32:]); err != nil {
		return receiptNonce{}, errors.New("payment: no random bytes for a receipt's nonce: " + err.Error())
	}
	h := sha512.Sum512(seed[:])
	var n receiptNonce
	if _, err := n.r.SetBytesModOrderWide(h[:]); err != nil {
		return receiptNonce{}, err
	}
	var p curve.EdwardsPoint
	p.MulBasepoint(curve.ED25519_BASEPOINT_TABLE, &n.r)
	var c curve.CompressedEdwardsY
	c.SetEdwardsPoint(&p)
	copy(n.R[:], c[:])
	return n, nil
}
