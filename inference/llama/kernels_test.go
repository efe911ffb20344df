package llama

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// The dispatching kernels (assembly where available) agree with the portable ones at every length,
// including unaligned starts and tails.
func TestKernels(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 3))
	vec := func(n int) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64())
		}
		return v
	}
	near := func(a, b float32, n int) bool {
		return math.Abs(float64(a-b)) <= 1e-5*float64(n+1)
	}
	for n := 0; n <= 200; n++ {
		off := n % 3
		a, b := vec(n + off)[off:], vec(n+1)
		if got, want := dot(a, b), dotGo(a, b[:n]); !near(got, want, n) {
			t.Fatalf("dot n=%d: %v vs %v", n, got, want)
		}
		w := [4][]float32{vec(n + off)[off:], vec(n), vec(n + 5), vec(n)}
		x := vec(n)
		g0, g1, g2, g3 := dot4(w[0], w[1], w[2], w[3], x)
		for i, g := range []float32{g0, g1, g2, g3} {
			if want := dotGo(w[i][:n], x); !near(g, want, n) {
				t.Fatalf("dot4 n=%d row %d: %v vs %v", n, i, g, want)
			}
		}
		x1 := vec(n + 2)
		var out [8]float32
		dot4x2(w[0], w[1], w[2], w[3], x, x1, &out)
		for i := 0; i < 8; i++ {
			xi := x
			if i >= 4 {
				xi = x1[:n]
			}
			if want := dotGo(w[i%4][:n], xi); !near(out[i], want, n) {
				t.Fatalf("dot4x2 n=%d out %d: %v vs %v", n, i, out[i], want)
			}
		}
	}
	for n := 0; n <= 100; n++ {
		y, x := vec(n), vec(n+3)
		want := append([]float32(nil), y...)
		axpyGo(want, x[:n], 0.75)
		axpy(y, x, 0.75)
		for i := range y {
			if !near(y[i], want[i], 1) {
				t.Fatalf("axpy n=%d [%d]: %v vs %v", n, i, y[i], want[i])
			}
		}
	}
	for n := 0; n <= 200; n++ {
		var w [4][]uint16
		var wf [4][]float32
		for i := range w {
			wf[i] = vec(n)
			w[i] = make([]uint16, n)
			for j, v := range wf[i] {
				w[i][j] = gguf.F32ToF16(v)
				wf[i][j] = gguf.F16ToF32(w[i][j])
			}
		}
		x := vec(n)
		g0, g1, g2, g3 := dot4H(w[0], w[1], w[2], w[3], x)
		for i, g := range []float32{g0, g1, g2, g3} {
			if want := dotGo(wf[i], x); !near(g, want, n) {
				t.Fatalf("dot4H n=%d row %d: %v vs %v", n, i, g, want)
			}
		}
	}
	for blocks := 0; blocks <= 6; blocks++ {
		n := 32 * blocks
		var w [4][]byte
		var wf [4][]float32
		for i := range w {
			w[i] = gguf.QuantizeQ8_0(vec(n))
			wf[i] = make([]float32, n)
			if err := gguf.DecodeInto(wf[i], gguf.Q8_0, w[i]); err != nil {
				t.Fatal(err)
			}
		}
		x := vec(n)
		g0, g1, g2, g3 := dot4Q8(w[0], w[1], w[2], w[3], x)
		for i, g := range []float32{g0, g1, g2, g3} {
			if want := dotGo(wf[i], x); !near(g, want, n) {
				t.Fatalf("dot4Q8 blocks=%d row %d: %v vs %v", blocks, i, g, want)
			}
		}
	}
	t.Logf("assembly kernels: %v, F16C: %v", useAVX2, useF16C)
}
