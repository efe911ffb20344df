package voucher

import (
	"crypto/ed25519"
	"math/big"
	"testing"

	"github.com/xssnick/tonutils-go/address"
)

// Run on one core as in docs/BENCHMARKS.md:
//
//	go test -run '^$' -bench . -benchmem -cpu 1 ./voucher/

func benchSigned(b *testing.B, n int) ([]Signed, []ed25519.PublicKey) {
	b.Helper()
	items := make([]Signed, n)
	pubs := make([]ed25519.PublicKey, n)
	for i := range items {
		key := testKey(byte(i))
		v := Voucher{
			Channel:          address.NewAddress(0, 0, append(make([]byte, 31), byte(i))),
			Amount:           big.NewInt(int64(1e9 + i)),
			PromptTokens:     uint64(1000 * i),
			CompletionTokens: uint64(300 * i),
		}
		s, err := v.Sign(key)
		if err != nil {
			b.Fatal(err)
		}
		items[i], pubs[i] = s, key.Public().(ed25519.PublicKey)
	}
	return items, pubs
}

func BenchmarkSign(b *testing.B) {
	key := testKey(1)
	v := testVoucher()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Sign(key); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is Signed.Verify: cell build + hash + voi's cofactorless check.
func BenchmarkVerify(b *testing.B) {
	items, pubs := benchSigned(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if err := items[0].Verify(pubs[0]); err != nil {
			b.Fatal(err)
		}
	}
}

// The bare signature checks on a precomputed hash, to compare the two libraries on the same rule.
func BenchmarkVerifyHashVoi(b *testing.B) {
	items, pubs := benchSigned(b, 1)
	h, _ := items[0].Hash()
	for b.Loop() {
		if !verifyConsensus(pubs[0], h, items[0].Signature[:]) {
			b.Fatal("invalid")
		}
	}
}

func BenchmarkVerifyHashStdlib(b *testing.B) {
	items, pubs := benchSigned(b, 1)
	h, _ := items[0].Hash()
	for b.Loop() {
		if !ed25519.Verify(pubs[0], h, items[0].Signature[:]) {
			b.Fatal("invalid")
		}
	}
}

// BenchmarkVerifyBatch256 reports per-voucher time for batches of 256 distinct keys.
func BenchmarkVerifyBatch256(b *testing.B) {
	const n = 256
	items, pubs := benchSigned(b, n)
	b.ReportAllocs()
	for b.Loop() {
		ok, err := VerifyBatch(items, pubs)
		if err != nil || !ok[0] || !ok[n-1] {
			b.Fatal("batch failed")
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/voucher")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "vouchers/s")
}

func BenchmarkEncodeHeader(b *testing.B) {
	items, _ := benchSigned(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeHeader(&items[0]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeHeader(b *testing.B) {
	items, _ := benchSigned(b, 1)
	h, err := EncodeHeader(&items[0])
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := DecodeHeader(h); err != nil {
			b.Fatal(err)
		}
	}
}
