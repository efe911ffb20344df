package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// TestQuantDot checks every quantized dot product kernel against a float64 sum over the decoded
// weights (gguf's decoders) and the quantized activations' values: the kernels' integer block sums
// are exact, so they may differ only by float32 rounding of the scales and the sum over blocks.
func TestQuantDot(t *testing.T) {
	rng := rand.New(rand.NewPCG(8, 9))
	const cols = 768
	for typ, k := range quantKinds {
		for trial := 0; trial < 8; trial++ {
			w := make([]float32, cols)
			x := make([]float32, cols)
			for i := range w {
				w[i] = float32(rng.NormFloat64()) * 0.05
				if trial%2 == 1 {
					w[i] += 0.03 // an offset, for the formats with a min
				}
				// Activation blocks of very different magnitudes, some all zero.
				x[i] = float32(rng.NormFloat64() * math.Pow(10, float64(i/32%5-2)))
				if i/32%7 == 3 {
					x[i] = 0
				}
			}
			data, err := gguf.Quantize(typ, w)
			if err != nil {
				t.Fatal(err)
			}
			wd := make([]float32, cols)
			if err := gguf.DecodeInto(wd, typ, data); err != nil {
				t.Fatal(err)
			}
			var a qacts
			a.quantize(x, k.act)
			ar := a.row(0, cols, k.blockSize)
			got := k.dot(data, ar)

			var want, mag float64
			for i := range w {
				b := i / k.blockSize
				xv := float64(ar.qs[i]) * float64(ar.d[b])
				wv := float64(wd[i])
				if k.act == actQ8_1 {
					// The weight's offset m multiplies the activations' stored sum s instead.
					bb := k.blockBytes
					raw := data[(i/32)*bb:]
					m := float64(gguf.F16ToF32(uint16(raw[2]) | uint16(raw[3])<<8))
					wv -= m
					if i%32 == 0 {
						want += m * float64(ar.s[i/32])
						mag += math.Abs(m * float64(ar.s[i/32]))
					}
				}
				want += wv * xv
				mag += math.Abs(wv * xv)
			}
			if d := math.Abs(float64(got) - want); d > 1e-5*mag+1e-30 {
				t.Errorf("%v trial %d: dot %g, float64 %g (|difference| %g, scale %g)", typ, trial, got, want, d, mag)
			}
		}
	}
}

// TestQuantizeActivations checks the activation quantizers' invariants: every value within half a
// step of its quantized value (a step being the block's scale), Q8_1's s the F16 of d·Σq, and Q8_K's
// sums of each 16 and 32 values.
func TestQuantizeActivations(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := make([]float32, 1024)
	for i := range x {
		x[i] = float32(rng.NormFloat64() * math.Pow(4, float64(i/256)-2))
	}
	x[300] = -50 // a negative extreme: Q8_K's scale is negative there
	for _, act := range []actType{actQ8_0, actQ8_1, actQ8_K} {
		var a qacts
		a.quantize(x, act)
		bs := 32
		if act == actQ8_K {
			bs = 256
		}
		for i, v := range x {
			d := float64(a.d[i/bs])
			// Q8_0/Q8_1's scale is F16-rounded after choosing the integers: allow 127 of its roundings.
			slack := 0.5*math.Abs(d) + 127*math.Abs(d)/2048
			if e := math.Abs(float64(a.qs[i])*d - float64(v)); e > slack*(1+1e-6) {
				t.Fatalf("act %d value %d: %g quantized to %d·%g", act, i, v, a.qs[i], d)
			}
		}
		switch act {
		case actQ8_1:
			for b := range a.s {
				sum := 0
				for _, q := range a.qs[32*b : 32*b+32] {
					sum += int(q)
				}
				if want := float64(sum) * float64(a.d[b]); math.Abs(float64(a.s[b])-want) > math.Abs(want)/256+1e-30 {
					t.Fatalf("block %d: s %g, d·Σq %g", b, a.s[b], want)
				}
			}
		case actQ8_K:
			for j, s := range a.bsums {
				sum := 0
				for _, q := range a.qs[16*j : 16*j+16] {
					sum += int(q)
				}
				if int(s) != sum {
					t.Fatalf("bsums[%d] = %d, want %d", j, s, sum)
				}
			}
			for i, v := range a.bsp {
				if v != int32(a.bsums[2*i])+int32(a.bsums[2*i+1]) {
					t.Fatalf("bsp[%d] = %d, want the sum of bsums %d and %d", i, v, 2*i, 2*i+1)
				}
			}
			if a.qs[300] != 127 && a.qs[300] != -127 {
				t.Fatalf("the block's extreme quantized to %d", a.qs[300])
			}
		}
	}
}

// TestQuantDotKernelsAgree: the dispatched kernels (AVX2 on amd64) give the portable kernels' results,
// to the bit where only the integer sums are vectorised (Q4_K, Q5_K, Q6_K), within float32 summation order
// for Q4_0, Q4_1, Q5_0 and Q5_1 (eight lanes against one sum).
func TestQuantDotKernelsAgree(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	const cols = 1024
	x := make([]float32, cols)
	w := make([]float32, cols)
	for trial := 0; trial < 20; trial++ {
		for i := range x {
			x[i] = float32(rng.NormFloat64() * float64(1+i%7))
			w[i] = float32(rng.NormFloat64())
		}
		for _, c := range []struct {
			typ       gguf.GGMLType
			fast, ref func([]byte, actRow) float32
			exact     bool
		}{
			{gguf.Q4_0, dotQ4_0, dotQ4_0Go, false},
			{gguf.Q4_1, dotQ4_1, dotQ4_1Go, false},
			{gguf.Q5_0, dotQ5_0, dotQ5_0Go, false},
			{gguf.Q5_1, dotQ5_1, dotQ5_1Go, false},
			{gguf.Q4_K, dotQ4_K, dotQ4_KGo, true},
			{gguf.Q5_K, dotQ5_K, dotQ5_KGo, true},
			{gguf.Q6_K, dotQ6_K, dotQ6_KGo, true},
		} {
			k := quantKinds[c.typ]
			data, err := gguf.Quantize(c.typ, w)
			if err != nil {
				t.Fatal(err)
			}
			var a qacts
			a.quantize(x, k.act)
			ar := a.row(0, cols, k.blockSize)
			got, want := c.fast(data, ar), c.ref(data, ar)
			if c.exact && got != want || math.Abs(float64(got-want)) > 1e-5*math.Abs(float64(want))+1e-4 {
				t.Fatalf("%v trial %d: %g, portable kernel %g", c.typ, trial, got, want)
			}
		}
	}
}

// TestScaleMinsK4 checks the all-at-once unpacking against gguf's one at a time on random bytes.
func TestScaleMinsK4(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	q := make([]byte, 12)
	for trial := 0; trial < 1000; trial++ {
		for i := range q {
			q[i] = byte(rng.Uint32())
		}
		sc, m := scaleMinsK4(q)
		for j := 0; j < 8; j++ {
			if s2, m2 := gguf.ScaleMinK4(j, q); sc[j] != s2 || m[j] != m2 {
				t.Fatalf("%x: pair %d is %d,%d, want %d,%d", q, j, sc[j], m[j], s2, m2)
			}
		}
	}
}
