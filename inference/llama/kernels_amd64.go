//go:build amd64 && !purego

package llama

import "golang.org/x/sys/cpu"

// useAVX2 selects the assembly kernels (AVX2 + FMA); otherwise the portable Go ones run. useF16C
// additionally needs the half-precision conversion instructions (CPUID.1:ECX bit 29).
var (
	useAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA
	useF16C = useAVX2 && cpuid1ECX()&(1<<29) != 0
)

func cpuid1ECX() uint32

//go:noescape
func dot4F16C(w0, w1, w2, w3 *uint16, x *float32, n int) (a, b, c, d float32)

//go:noescape
func dot4AVX2(w0, w1, w2, w3, x *float32, n int) (a, b, c, d float32)

//go:noescape
func dotAVX2(a, b *float32, n int) float32

//go:noescape
func dot4x2AVX2(w0, w1, w2, w3, x0, x1 *float32, n int, out *[8]float32)

// dot4x2 is the dot products of rows w0..w3 with x0 (out[0:4]) and with x1 (out[4:8]).
func dot4x2(w0, w1, w2, w3, x0, x1 []float32, out *[8]float32) {
	n := len(x0)
	w0, w1, w2, w3, x1 = w0[:n], w1[:n], w2[:n], w3[:n], x1[:n]
	if !useAVX2 || n < 8 {
		dot4x2Go(w0, w1, w2, w3, x0, x1, out)
		return
	}
	m := n &^ 7
	dot4x2AVX2(&w0[0], &w1[0], &w2[0], &w3[0], &x0[0], &x1[0], m, out)
	if m < n {
		var tail [8]float32
		dot4x2Go(w0[m:], w1[m:], w2[m:], w3[m:], x0[m:], x1[m:], &tail)
		for i := range out {
			out[i] += tail[i]
		}
	}
}

//go:noescape
func dot4Q8AVX2(w0, w1, w2, w3 *byte, x *float32, blocks int) (a, b, c, d float32)

// dot4Q8 is four dot products of Q8_0 rows w0..w3 with x (len(x) a multiple of 32).
func dot4Q8(w0, w1, w2, w3 []byte, x []float32) (float32, float32, float32, float32) {
	blocks := len(x) / 32
	rb := blocks * 34
	w0, w1, w2, w3 = w0[:rb], w1[:rb], w2[:rb], w3[:rb]
	if !useF16C || blocks == 0 {
		return dot4Q8Go(w0, w1, w2, w3, x)
	}
	return dot4Q8AVX2(&w0[0], &w1[0], &w2[0], &w3[0], &x[0], blocks)
}

//go:noescape
func axpyAVX2(y, x *float32, a float32, n int)

// axpy adds a*x to y (x at least len(y) long).
func axpy(y, x []float32, a float32) {
	x = x[:len(y)]
	if !useAVX2 || len(y) < 16 {
		axpyGo(y, x, a)
		return
	}
	n := len(y) &^ 15
	axpyAVX2(&y[0], &x[0], a, n)
	if n < len(y) {
		axpyGo(y[n:], x[n:], a)
	}
}

// dot is the float32 inner product of a and b[:len(a)].
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	if !useAVX2 || len(a) < 32 {
		return dotGo(a, b)
	}
	n := len(a) &^ 31
	s := dotAVX2(&a[0], &b[0], n)
	if n < len(a) {
		s += dotGo(a[n:], b[n:])
	}
	return s
}

// dot4 is four dot products of rows w0..w3 (each at least len(x) long) with x.
func dot4(w0, w1, w2, w3, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	if !useAVX2 || n < 16 {
		return dot4Go(w0, w1, w2, w3, x)
	}
	m := n &^ 15
	a, b, c, d := dot4AVX2(&w0[0], &w1[0], &w2[0], &w3[0], &x[0], m)
	if m < n {
		a2, b2, c2, d2 := dot4Go(w0[m:], w1[m:], w2[m:], w3[m:], x[m:])
		a, b, c, d = a+a2, b+b2, c+c2, d+d2
	}
	return a, b, c, d
}

// dot4H is four dot products of half-precision rows w0..w3 (each at least len(x) long) with x.
func dot4H(w0, w1, w2, w3 []uint16, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	if !useF16C || n < 16 {
		return dot4HGo(w0, w1, w2, w3, x)
	}
	m := n &^ 15
	a, b, c, d := dot4F16C(&w0[0], &w1[0], &w2[0], &w3[0], &x[0], m)
	if m < n {
		a2, b2, c2, d2 := dot4HGo(w0[m:], w1[m:], w2[m:], w3[m:], x[m:])
		a, b, c, d = a+a2, b+b2, c+c2, d+d2
	}
	return a, b, c, d
}
