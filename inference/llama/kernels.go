package llama

import (
	"sync"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// Portable kernels; kernels_amd64.s has AVX2/FMA versions of dot and dot4 that these back up.

// dotGo is the float32 inner product of a and b[:len(a)], with four accumulators to break the
// dependency chain.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// dot4Go is four dot products of rows w0..w3 with the same x.
func dot4Go(w0, w1, w2, w3, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	var a0, a1, b0, b1, c0, c1, d0, d1 float32
	i := 0
	for ; i+2 <= n; i += 2 {
		x0, x1 := x[i], x[i+1]
		a0 += w0[i] * x0
		a1 += w0[i+1] * x1
		b0 += w1[i] * x0
		b1 += w1[i+1] * x1
		c0 += w2[i] * x0
		c1 += w2[i+1] * x1
		d0 += w3[i] * x0
		d1 += w3[i+1] * x1
	}
	for ; i < n; i++ {
		a0 += w0[i] * x[i]
		b0 += w1[i] * x[i]
		c0 += w2[i] * x[i]
		d0 += w3[i] * x[i]
	}
	return a0 + a1, b0 + b1, c0 + c1, d0 + d1
}

// axpyGo adds a*x to y.
func axpyGo(y, x []float32, a float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

// f16Table maps every half-precision bit pattern to its float32 value, for the portable F16 kernel.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = gguf.F16ToF32(uint16(i))
	}
	return &t
})

// dot4HGo is four dot products of half-precision rows w0..w3 with x.
func dot4HGo(w0, w1, w2, w3 []uint16, x []float32) (float32, float32, float32, float32) {
	tab := f16Table()
	n := len(x)
	w0, w1, w2, w3 = w0[:n], w1[:n], w2[:n], w3[:n]
	var a, b, c, d float32
	for i, xi := range x {
		a += tab[w0[i]] * xi
		b += tab[w1[i]] * xi
		c += tab[w2[i]] * xi
		d += tab[w3[i]] * xi
	}
	return a, b, c, d
}

// dot4x2Go is the dot products of rows w0..w3 with x0 (out[0:4]) and with x1 (out[4:8]).
func dot4x2Go(w0, w1, w2, w3, x0, x1 []float32, out *[8]float32) {
	out[0], out[1], out[2], out[3] = dot4Go(w0, w1, w2, w3, x0)
	out[4], out[5], out[6], out[7] = dot4Go(w0, w1, w2, w3, x1)
}

// dot4Q8Go is four dot products of Q8_0 rows w0..w3 (len(x)/32 blocks each) with x: per block the
// scale times the int8 · float32 sum.
func dot4Q8Go(w0, w1, w2, w3 []byte, x []float32) (float32, float32, float32, float32) {
	var acc [4]float32
	for i, w := range [4][]byte{w0, w1, w2, w3} {
		for b := 0; b < len(x)/32; b++ {
			blk := w[b*34 : b*34+34]
			xb := x[b*32 : b*32+32]
			var s float32
			for j, v := range blk[2:] {
				s += float32(int8(v)) * xb[j]
			}
			acc[i] += gguf.F16ToF32(uint16(blk[0])|uint16(blk[1])<<8) * s
		}
	}
	return acc[0], acc[1], acc[2], acc[3]
}
