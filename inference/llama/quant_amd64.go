//go:build amd64 && !purego

package llama

import "github.com/cocoon-go/cocoon/inference/gguf"

//go:noescape
func dotQ4_0AVX2(w *byte, y *int8, d *float32, blocks int) float32

//go:noescape
func dotQ5_0AVX2(w *byte, y *int8, d *float32, blocks int) float32

//go:noescape
func dotQ4_1AVX2(w *byte, y *int8, d *float32, blocks int) float32

//go:noescape
func dotQ5_1AVX2(w *byte, y *int8, d *float32, blocks int) float32

//go:noescape
func dotQ4_KAVX2(w *byte, y *int8, d *float32, bsp *int32, blocks int) float32

//go:noescape
func dotQ5_KAVX2(w *byte, y *int8, d *float32, bsp *int32, blocks int) float32

//go:noescape
func dotQ6_KAVX2(w *byte, y *int8, d *float32, bsums *int16, blocks int) float32

func dotQ4_0(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ4_0Go(w, a)
	}
	w, qs := w[:blocks*18], a.qs[:blocks*32]
	return dotQ4_0AVX2(&w[0], &qs[0], &a.d[0], blocks)
}

func dotQ5_0(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ5_0Go(w, a)
	}
	w, qs := w[:blocks*22], a.qs[:blocks*32]
	return dotQ5_0AVX2(&w[0], &qs[0], &a.d[0], blocks)
}

// dotQ4_1 and dotQ5_1 add the offsets' Σ m·s in block order after the vector sum, as ggml does.
func dotQ4_1(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ4_1Go(w, a)
	}
	w, qs := w[:blocks*20], a.qs[:blocks*32]
	return dotQ4_1AVX2(&w[0], &qs[0], &a.d[0], blocks) + offsetSum(w, a.s, 20)
}

func dotQ5_1(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ5_1Go(w, a)
	}
	w, qs := w[:blocks*24], a.qs[:blocks*32]
	return dotQ5_1AVX2(&w[0], &qs[0], &a.d[0], blocks) + offsetSum(w, a.s, 24)
}

// offsetSum is Σ m·s over the blocks of a Q4_1/Q5_1 row (m the F16 at byte 2 of each block).
func offsetSum(w []byte, s []float32, blockBytes int) float32 {
	tab := f16Table()
	var sum float32
	for b, sb := range s {
		sum += f16At(tab, w[b*blockBytes+2:]) * sb
	}
	return sum
}

// dotQ4_K is dotQ4_KGo in AVX2 assembly, the same to the bit.
func dotQ4_K(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ4_KGo(w, a)
	}
	w, qs, bsp := w[:blocks*144], a.qs[:blocks*gguf.QK_K], a.bsp[:blocks*8]
	return dotQ4_KAVX2(&w[0], &qs[0], &a.d[0], &bsp[0], blocks)
}

// dotQ5_K is dotQ5_KGo in AVX2 assembly, the same to the bit.
func dotQ5_K(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ5_KGo(w, a)
	}
	w, qs, bsp := w[:blocks*176], a.qs[:blocks*gguf.QK_K], a.bsp[:blocks*8]
	return dotQ5_KAVX2(&w[0], &qs[0], &a.d[0], &bsp[0], blocks)
}

// dotQ6_K is dotQ6_KGo in AVX2 assembly, the same to the bit.
func dotQ6_K(w []byte, a actRow) float32 {
	blocks := len(a.d)
	if !useF16C || blocks == 0 {
		return dotQ6_KGo(w, a)
	}
	w, qs, bs := w[:blocks*210], a.qs[:blocks*gguf.QK_K], a.bsums[:blocks*16]
	return dotQ6_KAVX2(&w[0], &qs[0], &a.d[0], &bs[0], blocks)
}
