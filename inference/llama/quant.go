package llama

import (
	"encoding/binary"
	"math"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// The 4-, 5- and 6-bit weight formats (gguf/quant.go has their layouts), multiplied as llama.cpp's CPU
// backend multiplies them: the activations are first quantized to the weight's vec_dot_type (Q8_0
// for Q4_0 and Q5_0, Q8_1 for Q4_1 and Q5_1, Q8_K for the K-quants), then each block's integer dot
// product is taken exactly and scaled by the two blocks' scales. Only the float32 sum over blocks
// may round in another order than llama.cpp's SIMD code.

// quantKind describes one weight format for the kernels.
type quantKind struct {
	blockSize, blockBytes int
	act                   actType
	dot                   func(w []byte, a actRow) float32
}

// actType is the vec_dot_type activations are quantized to.
type actType int

const (
	actQ8_0 actType = iota // per 32: F16 scale amax/127, int8 round(x·127/amax)
	actQ8_1                // Q8_0 plus s = F16(d·Σq) per block
	actQ8_K                // per 256: float32 scale, int8 values, int16 sums of each 16
)

var quantKinds = map[gguf.GGMLType]quantKind{
	gguf.Q4_0: {32, 18, actQ8_0, dotQ4_0},
	gguf.Q4_1: {32, 20, actQ8_1, dotQ4_1},
	gguf.Q5_0: {32, 22, actQ8_0, dotQ5_0},
	gguf.Q5_1: {32, 24, actQ8_1, dotQ5_1},
	gguf.Q4_K: {gguf.QK_K, 144, actQ8_K, dotQ4_K},
	gguf.Q5_K: {gguf.QK_K, 176, actQ8_K, dotQ5_K},
	gguf.Q6_K: {gguf.QK_K, 210, actQ8_K, dotQ6_K},
}

// qacts is a batch of activations quantized to one actType.
// INVARIANT: qs has n·cols values; d one scale per block (32 values for Q8_0/Q8_1, 256 for Q8_K),
// already as float32 (Q8_0/Q8_1 scales rounded through F16, as stored); s one per block for Q8_1;
// bsums one per 16 values for Q8_K.
type qacts struct {
	typ   actType
	qs    []int8
	d, s  []float32
	bsums []int16
	bsp   []int32 // Q8_K: the sums of each 32 values (pairs of bsums), for the AVX2 Q4_K kernel
}

// actRow is one token's slice of a qacts.
type actRow struct {
	qs    []int8
	d, s  []float32
	bsums []int16
	bsp   []int32
}

func (a *qacts) row(t, cols, blockSize int) actRow {
	nb := cols / blockSize
	r := actRow{qs: a.qs[t*cols : (t+1)*cols], d: a.d[t*nb : (t+1)*nb]}
	switch a.typ {
	case actQ8_1:
		r.s = a.s[t*nb : (t+1)*nb]
	case actQ8_K:
		r.bsums = a.bsums[t*cols/16 : (t+1)*cols/16]
		r.bsp = a.bsp[t*cols/32 : (t+1)*cols/32]
	}
	return r
}

func growI8(b []int8, n int) []int8 {
	if cap(b) < n {
		return make([]int8, n)
	}
	return b[:n]
}

// quantize fills a with x (a whole number of blocks) quantized to typ.
func (a *qacts) quantize(x []float32, typ actType) {
	a.typ = typ
	a.qs = growI8(a.qs, len(x))
	if typ == actQ8_K {
		a.d = grow(a.d, len(x)/gguf.QK_K)
		if cap(a.bsums) < len(x)/16 {
			a.bsums = make([]int16, len(x)/16)
		}
		a.bsums = a.bsums[:len(x)/16]
		for b := range a.d {
			a.d[b] = quantizeQ8_K(a.qs[b*gguf.QK_K:(b+1)*gguf.QK_K], a.bsums[b*16:(b+1)*16], x[b*gguf.QK_K:(b+1)*gguf.QK_K])
		}
		if cap(a.bsp) < len(x)/32 {
			a.bsp = make([]int32, len(x)/32)
		}
		a.bsp = a.bsp[:len(x)/32]
		for i := range a.bsp {
			a.bsp[i] = int32(a.bsums[2*i]) + int32(a.bsums[2*i+1])
		}
		return
	}
	a.d = grow(a.d, len(x)/32)
	if typ == actQ8_1 {
		a.s = grow(a.s, len(x)/32)
	}
	for b := range a.d {
		blk := x[b*32 : (b+1)*32]
		q := a.qs[b*32 : (b+1)*32]
		var amax float32
		for _, v := range blk {
			amax = max(amax, math.Float32frombits(math.Float32bits(v)&^(1<<31)))
		}
		// As ggml's AVX quantize_row_q8_0/q8_1: d = amax/127 stored as F16, values x·(127/amax)
		// rounded to nearest even.
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		sum := 0
		for i, v := range blk {
			r := int8((v*id + roundMagic) - roundMagic)
			q[i] = r
			sum += int(r)
		}
		a.d[b] = gguf.F16ToF32(gguf.F32ToF16(d))
		if typ == actQ8_1 {
			// The sum uses the unrounded d, then is stored as F16.
			a.s[b] = gguf.F16ToF32(gguf.F32ToF16(d * float32(sum)))
		}
	}
}

// quantizeQ8_K is ggml's quantize_row_q8_K_ref for one 256-value block: scale from the value of
// largest magnitude m, values nearest_int(−127/m · x) capped at 127, and the sums of each 16.
func quantizeQ8_K(q []int8, bsums []int16, x []float32) float32 {
	var maxv, amax float32
	for _, v := range x {
		if a := math.Float32frombits(math.Float32bits(v) &^ (1 << 31)); a > amax {
			amax, maxv = a, v
		}
	}
	if amax == 0 {
		clear(q)
		clear(bsums)
		return 0
	}
	iscale := -127 / maxv
	for i, v := range x {
		// nearest_int: adding 1.5·2^23 rounds to an integer, ties to even.
		f := iscale*v + roundMagic
		q[i] = int8(min(127, int(math.Float32bits(f)&0x7fffff)-0x400000))
	}
	for j := range bsums {
		s := 0
		for _, v := range q[16*j : 16*j+16] {
			s += int(v)
		}
		bsums[j] = int16(s)
	}
	return 1 / iscale
}

// scaleMinsK4 unpacks all eight 6-bit scales and mins of a Q4_K/Q5_K block at once (as
// gguf.ScaleMinK4 does one at a time): bytes 0-3 and 4-7 hold the first four scales and mins in their
// low 6 bits and the top 2 bits of the last four in their high 2 bits; bytes 8-11 the last four's low
// 4 bits (scale low nibble, min high nibble).
func scaleMinsK4(q []byte) (sc, m [8]uint8) {
	a := binary.LittleEndian.Uint32(q[0:])
	b := binary.LittleEndian.Uint32(q[4:])
	c := binary.LittleEndian.Uint32(q[8:])
	binary.LittleEndian.PutUint32(sc[0:], a&0x3f3f3f3f)
	binary.LittleEndian.PutUint32(m[0:], b&0x3f3f3f3f)
	binary.LittleEndian.PutUint32(sc[4:], c&0x0f0f0f0f|(a>>6&0x03030303)<<4)
	binary.LittleEndian.PutUint32(m[4:], c>>4&0x0f0f0f0f|(b>>6&0x03030303)<<4)
	return sc, m
}

// f16At reads the half-precision value at b[0:2] through the table.
func f16At(tab *[1 << 16]float32, b []byte) float32 { return tab[uint16(b[0])|uint16(b[1])<<8] }

// The portable kernels, the reference for the AVX2 ones in quant_amd64.s.
func dotQ4_0Go(w []byte, a actRow) float32 { return dotQ32Go[[18]byte](w, a) }
func dotQ4_1Go(w []byte, a actRow) float32 { return dotQ32Go[[20]byte](w, a) }
func dotQ5_0Go(w []byte, a actRow) float32 { return dotQ32Go[[22]byte](w, a) }
func dotQ5_1Go(w []byte, a actRow) float32 { return dotQ32Go[[24]byte](w, a) }
func dotQ4_KGo(w []byte, a actRow) float32 { return dotQ45KGo[[144]byte](w, a) }
func dotQ5_KGo(w []byte, a actRow) float32 { return dotQ45KGo[[176]byte](w, a) }

// block32 is one block of a 32-value format, told apart by its size: Q4_0 (18 bytes: F16 scale d,
// 16 bytes of nibbles), Q4_1 (20: d, F16 min m, nibbles), Q5_0 (22: d, 32 fifth bits, nibbles) and
// Q5_1 (24: d, m, fifth bits, nibbles), quantKinds' blockBytes. Each size is its own instantiation of dotQ32Go, in which the
// size is a constant and the other formats' branches fold away, as fast as a kernel written per format.
type block32 interface {
	~[18]byte | ~[20]byte | ~[22]byte | ~[24]byte
}

// dotQ32Go is ggml's vec_dot_q{4,5}_{0,1}_q8_{0,1}: per block the exact integer dot product of the
// weight's values q−off (value j in the low nibble of byte j, j+16 in the high one, plus the fifth
// bit for Q5) with the activations, times the two scales; for Q4_1/Q5_1 Σ m·s is added after the sum,
// as ggml does.
func dotQ32Go[B block32](w []byte, a actRow) float32 {
	var z B
	bb := len(z)
	hasMin := bb == 20 || bb == 24
	qhAt := 0 // where the fifth bits are; 0: none
	off := int32(8)
	switch bb {
	case 22:
		qhAt, off = 2, 16
	case 24:
		qhAt, off = 4, 0
	case 20:
		off = 0
	}
	tab := f16Table()
	var sum, summs float32
	for b := range a.d {
		blk := w[b*bb : b*bb+bb]
		y := a.qs[b*32 : b*32+32]
		qs := blk[bb-16 : bb]
		var s int32
		if qhAt > 0 {
			qh := binary.LittleEndian.Uint32(blk[qhAt:])
			for j, v := range qs {
				h0 := int32(qh>>j&1) << 4
				h1 := int32(qh>>(j+16)&1) << 4
				s += (int32(v&0xf)|h0-off)*int32(y[j]) + (int32(v>>4)|h1-off)*int32(y[j+16])
			}
		} else {
			for j, v := range qs {
				s += (int32(v&0xf)-off)*int32(y[j]) + (int32(v>>4)-off)*int32(y[j+16])
			}
		}
		sum += f16At(tab, blk) * a.d[b] * float32(s)
		if hasMin {
			summs += f16At(tab, blk[2:]) * a.s[b]
		}
	}
	if hasMin {
		return sum + summs
	}
	return sum
}

// blockK45 is a Q4_K (144 bytes) or Q5_K (176 bytes) super-block; as with block32, each size is its
// own instantiation of dotQ45KGo, with the size a constant.
type blockK45 interface{ ~[144]byte | ~[176]byte }

// dotQ45KGo is ggml's vec_dot_q4_K_q8_K (bb 144) and vec_dot_q5_K_q8_K (bb 176, the values' fifth bits
// at blk[16:48]): per super-block d·Σ_j sc_j·(q·y over sub-block j) − dmin·Σ_j m_j·(sum of y over j),
// with d and dmin the weight's scales times the activations'.
func dotQ45KGo[B blockK45](w []byte, a actRow) float32 {
	var z B
	bb := len(z)
	five := bb == 176
	tab := f16Table()
	var sum float32
	for b := range a.d {
		blk := w[b*bb : b*bb+bb]
		y := a.qs[b*gguf.QK_K : (b+1)*gguf.QK_K]
		bs := a.bsums[b*16 : b*16+16]
		scales, qh, qs := blk[4:16], blk[16:48], blk[bb-128:bb]
		var sumi, summs int32
		for g := 0; g < 4; g++ {
			sc1, m1 := gguf.ScaleMinK4(2*g, scales)
			sc2, m2 := gguf.ScaleMinK4(2*g+1, scales)
			q := qs[32*g : 32*g+32]
			y1, y2 := y[64*g:64*g+32], y[64*g+32:64*g+64]
			var s1, s2 int32
			if five {
				for l, v := range q {
					h := qh[l] >> (2 * g)
					s1 += int32(v&0xf|(h&1)<<4) * int32(y1[l])
					s2 += int32(v>>4|(h&2)<<3) * int32(y2[l])
				}
			} else {
				for l, v := range q {
					s1 += int32(v&0xf) * int32(y1[l])
					s2 += int32(v>>4) * int32(y2[l])
				}
			}
			sumi += int32(sc1)*s1 + int32(sc2)*s2
			summs += int32(m1)*(int32(bs[4*g])+int32(bs[4*g+1])) + int32(m2)*(int32(bs[4*g+2])+int32(bs[4*g+3]))
		}
		d := a.d[b] * f16At(tab, blk)
		dmin := a.d[b] * f16At(tab, blk[2:])
		sum += d*float32(sumi) - dmin*float32(summs)
	}
	return sum
}

func dotQ6_KGo(w []byte, a actRow) float32 {
	tab := f16Table()
	var sum float32
	for b := range a.d {
		blk := w[b*210 : b*210+210]
		y := a.qs[b*gguf.QK_K : (b+1)*gguf.QK_K]
		var sumi int32
		for h := 0; h < 2; h++ {
			ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
			sc := blk[192+8*h : 192+8*h+8]
			yh := y[128*h : 128*h+128]
			for half := 0; half < 2; half++ { // values l in [16·half, 16·half+16) of each 32
				var s1, s2, s3, s4 int32
				for l := 16 * half; l < 16*half+16; l++ {
					s1 += (int32(ql[l]&0xf|(qh[l]&3)<<4) - 32) * int32(yh[l])
					s2 += (int32(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32) * int32(yh[l+32])
					s3 += (int32(ql[l]>>4|(qh[l]>>4&3)<<4) - 32) * int32(yh[l+64])
					s4 += (int32(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32) * int32(yh[l+96])
				}
				sumi += int32(int8(sc[half]))*s1 + int32(int8(sc[half+2]))*s2 + int32(int8(sc[half+4]))*s3 + int32(int8(sc[half+6]))*s4
			}
		}
		sum += f16At(tab, blk[208:]) * a.d[b] * float32(sumi)
	}
	return sum
}

// matmulQuant is matmul's work for rows [lo, hi) of a weight in one of quantKinds, with the n
// tokens' activations already quantized into a.
func matmulQuant(out []float32, a *qacts, w matrix, n, lo, hi int) {
	k := quantKinds[w.qt]
	rb := w.cols / k.blockSize * k.blockBytes
	for t := 0; t < n; t++ {
		ar := a.row(t, w.cols, k.blockSize)
		o := out[t*w.rows : (t+1)*w.rows]
		for r := lo; r < hi; r++ {
			o[r] = k.dot(w.kq[r*rb:(r+1)*rb], ar)
		}
	}
}

// values writes the quantized activations' values (q·d) into dst.
func (a *qacts) values(dst []float32, cols, blockSize int) {
	for i, q := range a.qs {
		dst[i] = float32(q) * a.d[i/blockSize]
	}
}

// offsetCorrection adds, for rows [lo, hi) of a Q4_1/Q5_1 weight, m·(s − Σx) per block to products
// taken over the decoded values (d·q + m)·x: ggml's vec_dot_q4_1_q8_1 multiplies the offset m by the
// activations' stored sum s = F16(d·Σq), not by the sum of their values xv.
func offsetCorrection(out []float32, a *qacts, xv []float32, w matrix, n, lo, hi int) {
	k := quantKinds[w.qt]
	nb := w.cols / 32
	rb := nb * k.blockBytes
	tab := f16Table()
	corr := make([]float32, nb)
	for t := 0; t < n; t++ {
		for b := range corr {
			var sx float32
			for _, v := range xv[t*w.cols+32*b : t*w.cols+32*b+32] {
				sx += v
			}
			corr[b] = a.s[t*nb+b] - sx
		}
		o := out[t*w.rows : (t+1)*w.rows]
		for r := lo; r < hi; r++ {
			row := w.kq[r*rb : (r+1)*rb]
			var c float32
			for b, cb := range corr {
				c += f16At(tab, row[b*k.blockBytes+2:]) * cb
			}
			o[r] += c
		}
	}
}
