package gguf

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
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

// ggmlQuantFixture is models/testdata/ggml-quant-reference.json: the sha256 of ggml's own
// quantize_row_<type>_ref output over ggmlQuantInputs (in name order), and of ggml's
// dequantize_row_<type> of that output, from llama.cpp's libggml-base.so (node-llama-cpp 3.22.1,
// release v0.5.0) through testdata/ggmlq.c. tools/llamacpp-ref/ggmlq-regen.sh writes it.
const ggmlQuantFixture = "../../models/testdata/ggml-quant-reference.json"

type ggmlQuantReference struct {
	InputsSHA256 string `json:"inputs_sha256"`
	Types        []struct {
		Type            string `json:"type"` // ggml's name: q4_0, q4_K, ...
		QuantizedSHA256 string `json:"quantized_sha256"`
		DecodedSHA256   string `json:"decoded_sha256"`
	} `json:"types"`
}

// ggmlName is ggml's name of a type: q4_0, q5_1, q4_K (its C functions are named with it).
func ggmlName(t GGMLType) string { return "q" + t.String()[1:] }

// float32Bytes is x as little-endian float32 bytes (ggmlq.c's file format).
func float32Bytes(x []float32) []byte {
	b := make([]byte, 4*len(x))
	for i, v := range x {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return b
}

// ggmlqWrite is where TestWriteGGMLQuantInputs writes the inputs for ggmlq.c.
var ggmlqWrite = flag.String("ggmlq.write", "", "write ggmlQuantInputs and the quantized types (manifest.json) into this folder, for tools/llamacpp-ref/ggmlq-regen.sh")

// TestWriteGGMLQuantInputs writes each of ggmlQuantInputs as NN-NAME.f32 (NN its place in name
// order) and manifest.json: the files in order, their sha256 over all, and each type's ggml name,
// block size and block bytes, which ggmlq.c needs.
func TestWriteGGMLQuantInputs(t *testing.T) {
	if *ggmlqWrite == "" {
		t.Skip("set -ggmlq.write=DIR (tools/llamacpp-ref/ggmlq-regen.sh does)")
	}
	type typeInfo struct {
		Type       string `json:"type"`
		BlockSize  uint64 `json:"block_size"`
		BlockBytes uint64 `json:"block_bytes"`
	}
	manifest := struct {
		Inputs       []string   `json:"inputs"`
		InputsSHA256 string     `json:"inputs_sha256"`
		Types        []typeInfo `json:"types"`
	}{}
	names, inputs := ggmlQuantInputs()
	h := sha256.New()
	for i, name := range names {
		file := fmt.Sprintf("%02d-%s.f32", i, strings.ReplaceAll(name, " ", "-"))
		b := float32Bytes(inputs[name])
		h.Write(b)
		if err := os.WriteFile(filepath.Join(*ggmlqWrite, file), b, 0o644); err != nil {
			t.Fatal(err)
		}
		manifest.Inputs = append(manifest.Inputs, file)
	}
	manifest.InputsSHA256 = hex.EncodeToString(h.Sum(nil))
	for _, typ := range quantTypes {
		size, _ := typ.RowBytes(typ.BlockSize())
		manifest.Types = append(manifest.Types, typeInfo{Type: ggmlName(typ), BlockSize: typ.BlockSize(), BlockBytes: size})
	}
	b, err := json.MarshalIndent(manifest, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(*ggmlqWrite, "manifest.json"), append(b, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestQuantizeMatchesGGML: Quantize gives ggml's reference quantizers' bytes and DecodeInto ggml's
// decoders' float32 values, to the bit, on 15 vectors per format (~400,000 values).
func TestQuantizeMatchesGGML(t *testing.T) {
	b, err := os.ReadFile(ggmlQuantFixture)
	if err != nil {
		t.Fatal(err)
	}
	var ref ggmlQuantReference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	names, inputs := ggmlQuantInputs()
	hi := sha256.New()
	for _, name := range names {
		hi.Write(float32Bytes(inputs[name]))
	}
	if got := hex.EncodeToString(hi.Sum(nil)); got != ref.InputsSHA256 {
		t.Fatalf("ggmlQuantInputs changed (sha256 %s, the fixture's %s): rerun tools/llamacpp-ref/ggmlq-regen.sh", got, ref.InputsSHA256)
	}
	want := map[string][2]string{}
	for _, r := range ref.Types {
		want[r.Type] = [2]string{r.QuantizedSHA256, r.DecodedSHA256}
	}
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
			hd.Write(float32Bytes(dec))
		}
		w, ok := want[ggmlName(typ)]
		if !ok {
			t.Errorf("%v: not in %s", typ, ggmlQuantFixture)
			continue
		}
		if got := hex.EncodeToString(hq.Sum(nil)); got != w[0] {
			t.Errorf("%v: quantized bytes hash %s, ggml's %s", typ, got, w[0])
		}
		if got := hex.EncodeToString(hd.Sum(nil)); got != w[1] {
			t.Errorf("%v: decoded values hash %s, ggml's %s", typ, got, w[1])
		}
	}
}
