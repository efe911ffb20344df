package voucher

import (
	"crypto/ed25519"
	"fmt"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
)

// Which ed25519 rule. The channel contract checks signatures with CHKSIGNU, which TON
// implements with OpenSSL's Ed25519 verification: S must be canonical (< L), A any decodable
// point, and the check is the cofactorless equation compared byte for byte with R (so a
// non-canonical R never matches). That is the ref10 family, the behaviour of Go's
// crypto/ed25519 and of voi's VerifyOptionsStdLib; Verify uses exactly that, so a voucher
// Verify accepts is one the contract accepts and the other way round.
var consensusOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// Batch verification needs the cofactored equation (voi refuses cofactorless options in a
// batch). It is stricter than the chain on keys and R (small-order or non-canonical ones are
// refused — no honest signer makes them) but it accepts one kind of signature the chain
// refuses: an R with a small-order component added on purpose by the signer. An honest client
// never makes one (R = rB); a dishonest one can, so a provider must check the voucher it is
// about to claim with Verify before relying on it beyond the credit it already extends.
var batchOptions = &voi.Options{Verify: &voi.VerifyOptions{}}

// verifyConsensus is CHKSIGNU's rule (see consensusOptions). voi is used rather than
// crypto/ed25519 because it is faster for the same rule (~31 µs against ~50 µs here,
// docs/BENCHMARKS.md); TestVerifyMatchesRef10Rule checks the two agree on edge cases.
func verifyConsensus(pub ed25519.PublicKey, msg, sig []byte) bool {
	return voi.VerifyWithOptions(voi.PublicKey(pub), msg, sig, consensusOptions)
}

// VerifyBatch checks many signed vouchers at once, item i against pubs[i], and returns which
// are valid. When every item is valid one batch equation proves it (several times faster than
// one by one); when the batch fails, each item is checked alone with Verify's rule to find the
// bad ones. See batchOptions for the one case where the batch and the chain disagree.
func VerifyBatch(items []Signed, pubs []ed25519.PublicKey) ([]bool, error) {
	if len(items) != len(pubs) {
		return nil, fmt.Errorf("failed to verify batch: %d vouchers but %d public keys", len(items), len(pubs))
	}
	valid := make([]bool, len(items))
	hashes := make([][]byte, len(items))
	// No key expansion: it only speeds up voi's own one-by-one fallback, which is not used here
	// (the fallback applies the chain's rule), and costs memory.
	bv := voi.NewBatchVerifierWithCapacity(len(items)).ForceNoPublicKeyExpansion()
	batchable := 0
	for i := range items {
		if len(pubs[i]) != ed25519.PublicKeySize {
			continue
		}
		h, err := items[i].Hash()
		if err != nil {
			continue
		}
		hashes[i] = h
		valid[i] = true
		bv.AddWithOptions(voi.PublicKey(pubs[i]), h, items[i].Signature[:], batchOptions)
		batchable++
	}
	if batchable == 0 {
		return valid, nil
	}
	// The batch holds only the items that could be encoded (the rest are already false). rand
	// nil: voi draws the batch's random coefficients from crypto/rand.
	if bv.VerifyBatchOnly(nil) {
		return valid, nil
	}
	for i := range items {
		if valid[i] {
			valid[i] = verifyConsensus(pubs[i], hashes[i], items[i].Signature[:])
		}
	}
	return valid, nil
}
