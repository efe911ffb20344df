package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

var quantTypes = []GGMLType{Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q4_K, Q5_K, Q6_K}

// quantInputs are test vectors of n values: Gaussian, Gaussian with outliers, one sign only, a constant,
// zeros, tiny and large magnitudes.
func quantInputs(n int) map[string][]float32 {
	rng := rand.New(rand.NewPCG(3, 4))
	gen := func(f func(i int) float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(f(i))
		}
		return v
	}
	return map[string][]float32{
		"gaussian":  gen(func(int) float64 { return rng.NormFloat64() }),
		"outliers":  gen(func(i int) float64 { return rng.NormFloat64() * (1 + 20*float64(i%37/36)) }),
		"positive":  gen(func(int) float64 { return 3 + rng.Float64() }),
		"negative":  gen(func(int) float64 { return -0.5 - rng.Float64() }),
		"constant":  gen(func(int) float64 { return 0.25 }),
		"zeros":     gen(func(int) float64 { return 0 }),
		"tiny":      gen(func(int) float64 { return rng.NormFloat64() * 1e-3 }),
		"large":     gen(func(int) float64 { return rng.NormFloat64() * 300 }),
		"one spike": gen(func(i int) float64 { return float64(i%64/63) * 5 }),
	}
}

// TestQuantizeRoundTrip bounds dequantize(quantize(x)) − x per block by what each format can hold:
// the symmetric formats half a step (a whole step at the clamped extreme) plus their float16 scale's
// rounding times the largest level, the offset formats half a step plus the offset's rounding, and the K-quants (whose scales are fitted, not max-based)
// by their RMS error relative to the block's RMS.
func TestQuantizeRoundTrip(t *testing.T) {
	const n = 1024
	for _, typ := range quantTypes {
		for name, x := range quantInputs(n) {
			data, err := Quantize(typ, x)
			if err != nil {
				t.Fatalf("%v %s: %v", typ, name, err)
			}
			got := make([]float32, n)
			if err := DecodeInto(got, typ, data); err != nil {
				t.Fatalf("%v %s: %v", typ, name, err)
			}
			bs := int(typ.BlockSize())
			for b := 0; b < n; b += bs {
				xs, ys := x[b:b+bs], got[b:b+bs]
				lo, hi := minMax(xs)
				amax := max(-lo, hi)
				// f16err is the float16 rounding error bound of v (absolute below the normal range).
				f16err := func(v float64) float64 { return max(math.Abs(v)/2048, 1.0/(1<<25)) }
				a, r := float64(amax), float64(hi-lo)
				var bound float64
				switch typ {
				case Q4_0:
					bound = a/8 + 8*f16err(a/8)
				case Q5_0:
					bound = a/16 + 16*f16err(a/16)
				case Q8_0:
					bound = a/127/2 + 127*f16err(a/127)
				case Q4_1:
					bound = r/15/2 + 15*f16err(r/15) + f16err(float64(lo))
				case Q5_1:
					bound = r/31/2 + 31*f16err(r/31) + f16err(float64(lo))
				}
				var se, sx, worst float64
				for i := range xs {
					e := math.Abs(float64(ys[i] - xs[i]))
					worst = max(worst, e)
					se += e * e
					sx += float64(xs[i]) * float64(xs[i])
				}
				if bound > 0 || amax == 0 {
					if worst > bound*(1+1e-6) {
						t.Fatalf("%v %s block %d: error %g, bound %g", typ, name, b/bs, worst, bound)
					}
					continue
				}
				// K-quants: RMS error relative to the block's RMS; measured at most 0.103, 0.055
				// and 0.036 (Gaussian with outliers), 0.076, 0.037 and 0.020 on plain Gaussians.
				rel := math.Sqrt(se / sx)
				limit := map[GGMLType]float64{Q4_K: 0.15, Q5_K: 0.08, Q6_K: 0.05}[typ]
				if rel > limit {
					t.Fatalf("%v %s block %d: relative RMS error %g > %g", typ, name, b/bs, rel, limit)
				}
			}
		}
	}
}

// TestQuantizeExact: values already on a format's grid come back exactly.
func TestQuantizeExact(t *testing.T) {
	x := make([]float32, 256)
	for i := range x {
		x[i] = float32(i%16-8) * 0.5 // Q4_0 levels with d = 0.5 (max |x| = 4 is -8·d)
	}
	data, err := Quantize(Q4_0, x)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]float32, len(x))
	if err := DecodeInto(got, Q4_0, data); err != nil {
		t.Fatal(err)
	}
	for i := range x {
		if got[i] != x[i] {
			t.Fatalf("Q4_0 value %d: %g, want %g", i, got[i], x[i])
		}
	}
}

func TestQuantizeErrors(t *testing.T) {
	for _, typ := range quantTypes {
		bs := int(typ.BlockSize())
		if _, err := Quantize(typ, make([]float32, bs+1)); !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: %d values: err %v, want ErrMalformed", typ, bs+1, err)
		}
		if _, err := Quantize(typ, nil); err != nil {
			t.Errorf("%v: no values: %v", typ, err)
		}
		// Decoding needs the whole blocks.
		size, _ := typ.RowBytes(uint64(bs))
		if err := DecodeInto(make([]float32, bs), typ, make([]byte, size-1)); !errors.Is(err, ErrTruncated) {
			t.Errorf("%v: short data: err %v, want ErrTruncated", typ, err)
		}
		if err := DecodeInto(make([]float32, bs/2), typ, make([]byte, size)); typ.BlockSize() > 1 && !errors.Is(err, ErrMalformed) {
			t.Errorf("%v: half a block: err %v, want ErrMalformed", typ, err)
		}
	}
	if _, err := Quantize(Q2_K, make([]float32, 256)); !errors.Is(err, ErrUnsupported) {
		t.Errorf("Q2_K: err %v, want ErrUnsupported", err)
	}
	w := NewWriter()
	w.AddQuantized("t", Q4_K, []uint64{128, 2}, make([]float32, 256))
	if _, err := w.Bytes(); !errors.Is(err, ErrMalformed) {
		t.Errorf("Q4_K tensor with 128-value rows: err %v, want ErrMalformed", err)
	}
}

// TestReadRejectsSplitBlocks: a tensor whose rows are not whole blocks is refused even when its total
// size is (ggml requires ne[0] to be a multiple of the block size).
func TestReadRejectsSplitBlocks(t *testing.T) {
	b := tensorFile([]uint64{16, 2}, Q4_0, 0, 18)
	if _, err := Read(b); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Q4_0 tensor of 16-value rows: err %v, want ErrMalformed", err)
	}
	if _, err := Read(tensorFile([]uint64{32, 1}, Q4_0, 0, 18)); err != nil {
		t.Fatalf("Q4_0 tensor of one 32-value row: %v", err)
	}
}

// FuzzDecode decodes arbitrary bytes in every format: never a panic, the same values twice, and a
// refusal when asked for more blocks than the bytes hold.
func FuzzDecode(f *testing.F) {
	for _, typ := range quantTypes {
		x := quantInputs(256)["outliers"]
		data, _ := Quantize(typ, x)
		f.Add(uint8(typ), data)
	}
	f.Add(uint8(Q6_K), make([]byte, 209))
	f.Add(uint8(Q4_K), []byte{0xff, 0x7b, 0xff, 0xfb})
	f.Fuzz(func(t *testing.T, typ uint8, data []byte) {
		tt := GGMLType(typ)
		bs := tt.BlockSize()
		if bs == 0 {
			return
		}
		tr := ggmlTypes[tt]
		blocks := uint64(len(data)) / tr.typeSize
		out := make([]float32, blocks*bs)
		if err := DecodeInto(out, tt, data); err != nil {
			if errors.Is(err, ErrUnsupported) {
				return
			}
			t.Fatal(err)
		}
		again := make([]float32, len(out))
		_ = DecodeInto(again, tt, data)
		for i := range out {
			if math.Float32bits(out[i]) != math.Float32bits(again[i]) && out[i] == out[i] {
				t.Fatalf("value %d decoded as %g then %g", i, out[i], again[i])
			}
		}
		// One more element than the data holds is refused.
		if err := DecodeInto(make([]float32, (blocks+1)*bs), tt, data); err == nil {
			t.Fatalf("decoded %d blocks from %d bytes", blocks+1, len(data))
		}
	})
}

// ggmlQuantInputs are the vectors TestQuantizeMatchesGGML quantizes, by name: quantInputs(4096) and
// six 65,536-value random vectors of scales 1e-3 to 1e2, every other one with an offset.
func ggmlQuantInputs() ([]string, map[string][]float32) {
	inputs := quantInputs(4096)
	rng := rand.New(rand.NewPCG(77, 78))
	for s := 0; s < 6; s++ {
		v := make([]float32, 65536)
		sc := math.Pow(10, float64(s-3))
		for i := range v {
			v[i] = float32(rng.NormFloat64() * sc)
			if s%2 == 1 {
				v[i] += float32(sc * 0.3)
			}
		}
		inputs["random"+string(rune('0'+s))] = v
	}
	names := make([]string, 0, len(inputs))
	for k := range inputs {
		names = append(names, k)
	}
	slices.Sort(names)
	return names, inputs
}

// ggmlQuantHashes are the sha256 of ggml's own quantize_row_<type>_ref output over ggmlQuantInputs
// (in name order), and of ggml's dequantize_row_<type> of that output, from llama.cpp's
// libggml-base.so (node-llama-cpp 3.22.1, release v0.5.0) through testdata/ggmlq.c.
var ggmlQuantHashes = map[GGMLType][2]string{
	Q4_0: {"eeaee9bf0d50e313f4ec7f5eece99951f23ed748cddebf0430a9d1a985e5f0fd", "f800e14606f8fa79a63d7a899808f1e2143229175c0e7a40b81f1fad8321352a"},
	Q4_1: {"0da6730d137674b2649cdefc2520bcf49de10676f9b2a97a8db019f33930ff92", "b1f4d81713a4b8976300c51ce702b755ff88f363df6c92f74cfbf4962974b59a"},
	Q5_0: {"9e39fac8f924365ed67256d8cb940584ce39493958f2a978ae207297e4e172a8", "50ae5383efd4ec52d16b1e3faf99b8c9b1224742dee020e8ccb5d5b96cf028d8"},
	Q5_1: {"d7d0f879c381ab6574ab86f5c7d70c307aaa2f8084e7f4b3c48a429c93be1b11", "c840994080d19703a047ace92a7cebd5a578c8bd5eea9b1d5d45fac0224c1b00"},
	Q8_0: {"2a0c5b45e333a001a043df0321c6b1b2350831e966325c1c1ceea470348355d3", "8a4a08bddaa804660f1f5c192ed1279b5549dede1078f5574aa1ed6de9967531"},
	Q4_K: {"91704d5cfb7fd4ea5ce556dc6f8c4017d94aa0507d3a067b680ac9818c95f75c", "77706683088f719119d983cc2c9d0a64a3ce76ae7f1dc249d1c54d5aa14b87fb"},
	Q5_K: {"3254a6f731a85d071e32427a890338e1ca3fb5762da2c79bda42f55023e2f70b", "5159a95bdcf8321800711536cf42398e1f25e75698649107fc25c37de6049482"},
	Q6_K: {"7230e3a6db6e43c860fdef90258220191ba36937a31727d37656947dba0bdc36", "8dee3a584321540f5c2ce206275a7879acad0dec7b3ca9050cf1461089b5927d"},
}

// TestQuantizeMatchesGGML: Quantize gives ggml's reference quantizers' bytes and DecodeInto ggml's
// decoders' float32 values, to the bit, on 14 vectors per format (~400,000 values).
func TestQuantizeMatchesGGML(t *testing.T) {
	names, inputs := ggmlQuantInputs()
	for _, typ := range quantTypes {
		hq, hd := sha256.New(), sha256.New()
		for _, name := range names {
			x := inputs[name]
			data, err := Quantize(typ, x)
			if err != nil {
				t.Fatal(err)
			}
			hq.Write(data)
			dec := make([]float32, len(x))
			if err := DecodeInto(dec, typ, data); err != nil {
				t.Fatal(err)
			}
			b := make([]byte, 4*len(dec))
			for i, v := range dec {
				binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
			}
			hd.Write(b)
		}
		want := ggmlQuantHashes[typ]
		if got := hex.EncodeToString(hq.Sum(nil)); got != want[0] {
			t.Errorf("%v: quantized bytes hash %s, ggml's %s", typ, got, want[0])
		}
		if got := hex.EncodeToString(hd.Sum(nil)); got != want[1] {
			t.Errorf("%v: decoded values hash %s, ggml's %s", typ, got, want[1])
		}
	}
}
