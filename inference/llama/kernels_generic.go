//go:build !amd64 || purego

package llama

const (
	useAVX2 = false
	useF16C = false
)

// dot is the float32 inner product of a and b[:len(a)].
func dot(a, b []float32) float32 { return dotGo(a, b[:len(a)]) }

// dot4 is four dot products of rows w0..w3 (each at least len(x) long) with x.
func dot4(w0, w1, w2, w3, x []float32) (float32, float32, float32, float32) {
	n := len(x)
	return dot4Go(w0[:n], w1[:n], w2[:n], w3[:n], x)
}

// dot4H is four dot products of half-precision rows w0..w3 (each at least len(x) long) with x.
func dot4H(w0, w1, w2, w3 []uint16, x []float32) (float32, float32, float32, float32) {
	return dot4HGo(w0, w1, w2, w3, x)
}

// axpy adds a*x to y (x at least len(y) long).
func axpy(y, x []float32, a float32) { axpyGo(y, x[:len(y)], a) }

// dot4x2 is the dot products of rows w0..w3 with x0 (out[0:4]) and with x1 (out[4:8]).
func dot4x2(w0, w1, w2, w3, x0, x1 []float32, out *[8]float32) {
	n := len(x0)
	dot4x2Go(w0[:n], w1[:n], w2[:n], w3[:n], x0, x1[:n], out)
}

// dot4Q8 is four dot products of Q8_0 rows w0..w3 with x (len(x) a multiple of 32).
func dot4Q8(w0, w1, w2, w3 []byte, x []float32) (float32, float32, float32, float32) {
	return dot4Q8Go(w0, w1, w2, w3, x)
}
