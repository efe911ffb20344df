package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// ggml's 4-, 5- and 6-bit weight formats. Layouts (little-endian, one block after another):
//
//	Q4_0  32 values, 18 bytes: f16 d; 16 bytes qs (value j in the low nibble of qs[j], j+16 in the high)
//	      x = d·(q − 8)
//	Q4_1  32 values, 20 bytes: f16 d, f16 m; 16 bytes qs as Q4_0;            x = d·q + m
//	Q5_0  32 values, 22 bytes: f16 d; u32 qh (bit j is bit 4 of value j); qs as Q4_0; x = d·(q − 16)
//	Q5_1  32 values, 24 bytes: f16 d, f16 m; u32 qh; qs;                    x = d·q + m
//	Q4_K 256 values, 144 bytes: f16 d, f16 dmin; 12 bytes of eight 6-bit scales and mins
//	      (getScaleMinK4); 128 bytes qs: per 64 values, 32 bytes, the first 32 in low nibbles, the
//	      next 32 in high nibbles; sub-block j (32 values) is x = d·sc_j·q − dmin·m_j
//	Q5_K 256 values, 176 bytes: f16 d, f16 dmin; 12 bytes scales; 32 bytes qh (bit 2i and 2i+1 of
//	      qh[l] are bit 4 of value l and l+32 of the i-th 64 values); 128 bytes qs as Q4_K
//	Q6_K 256 values, 210 bytes: 128 bytes ql, 64 bytes qh, 16 int8 scales, f16 d (last);
//	      per 128 values, ql[l] holds values l (low nibble) and l+64 (high), ql[l+32] values l+32 and
//	      l+96, qh[l] the 2 high bits of l, l+32, l+64, l+96; x = d·sc_(value/16)·(q − 32)
//
// QK_K is the super-block size of the K-quants.
const QK_K = 256

// f16 reads the half-precision value at b[0:2].
func f16(b []byte) float32 { return F16ToF32(binary.LittleEndian.Uint16(b)) }

// getScaleMinK4 unpacks the j-th 6-bit scale and min of a Q4_K/Q5_K block's 12 scale bytes: the first
// four pairs are the low 6 bits of bytes 0-3 and 4-7; the last four take their low 4 bits from
// bytes 8-11 and their top 2 bits from the spare top bits of bytes 0-7.
func getScaleMinK4(j int, q []byte) (sc, m uint8) {
	if j < 4 {
		return q[j] & 63, q[j+4] & 63
	}
	return q[j+4]&0xf | (q[j-4]>>6)<<4, q[j+4]>>4 | (q[j]>>6)<<4
}

// ScaleMinK4 is getScaleMinK4 for the kernels of other packages.
func ScaleMinK4(j int, q []byte) (sc, m uint8) { return getScaleMinK4(j, q) }

func decodeQ4_0(out []float32, data []byte) {
	for b := 0; b < len(out)/32; b++ {
		blk, y := data[b*18:b*18+18], out[b*32:b*32+32]
		d := f16(blk)
		for j, q := range blk[2:18] {
			y[j] = float32(int(q&0xf)-8) * d
			y[j+16] = float32(int(q>>4)-8) * d
		}
	}
}

func decodeQ4_1(out []float32, data []byte) {
	for b := 0; b < len(out)/32; b++ {
		blk, y := data[b*20:b*20+20], out[b*32:b*32+32]
		d, m := f16(blk), f16(blk[2:])
		for j, q := range blk[4:20] {
			y[j] = float32(q&0xf)*d + m
			y[j+16] = float32(q>>4)*d + m
		}
	}
}

func decodeQ5_0(out []float32, data []byte) {
	for b := 0; b < len(out)/32; b++ {
		blk, y := data[b*22:b*22+22], out[b*32:b*32+32]
		d := f16(blk)
		qh := binary.LittleEndian.Uint32(blk[2:])
		for j, q := range blk[6:22] {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(int(q&0xf|h0)-16) * d
			y[j+16] = float32(int(q>>4|h1)-16) * d
		}
	}
}

func decodeQ5_1(out []float32, data []byte) {
	for b := 0; b < len(out)/32; b++ {
		blk, y := data[b*24:b*24+24], out[b*32:b*32+32]
		d, m := f16(blk), f16(blk[2:])
		qh := binary.LittleEndian.Uint32(blk[4:])
		for j, q := range blk[8:24] {
			h0 := byte(qh>>j<<4) & 0x10
			h1 := byte(qh>>(j+12)) & 0x10
			y[j] = float32(q&0xf|h0)*d + m
			y[j+16] = float32(q>>4|h1)*d + m
		}
	}
}

func decodeQ4_K(out []float32, data []byte) {
	for b := 0; b < len(out)/QK_K; b++ {
		blk, y := data[b*144:b*144+144], out[b*QK_K:b*QK_K+QK_K]
		d, dmin := f16(blk), f16(blk[2:])
		scales, qs := blk[4:16], blk[16:144]
		for g := 0; g < 4; g++ { // 64 values: two sub-blocks sharing 32 bytes
			sc1, m1 := getScaleMinK4(2*g, scales)
			sc2, m2 := getScaleMinK4(2*g+1, scales)
			d1, min1 := d*float32(sc1), dmin*float32(m1)
			d2, min2 := d*float32(sc2), dmin*float32(m2)
			q := qs[32*g : 32*g+32]
			o := y[64*g : 64*g+64]
			for l, v := range q {
				o[l] = d1*float32(v&0xf) - min1
				o[l+32] = d2*float32(v>>4) - min2
			}
		}
	}
}

func decodeQ5_K(out []float32, data []byte) {
	for b := 0; b < len(out)/QK_K; b++ {
		blk, y := data[b*176:b*176+176], out[b*QK_K:b*QK_K+QK_K]
		d, dmin := f16(blk), f16(blk[2:])
		scales, qh, qs := blk[4:16], blk[16:48], blk[48:176]
		for g := 0; g < 4; g++ {
			sc1, m1 := getScaleMinK4(2*g, scales)
			sc2, m2 := getScaleMinK4(2*g+1, scales)
			d1, min1 := d*float32(sc1), dmin*float32(m1)
			d2, min2 := d*float32(sc2), dmin*float32(m2)
			q := qs[32*g : 32*g+32]
			o := y[64*g : 64*g+64]
			for l, v := range q {
				h1 := (qh[l] >> (2 * g) & 1) << 4
				h2 := (qh[l] >> (2*g + 1) & 1) << 4
				o[l] = d1*float32(v&0xf|h1) - min1
				o[l+32] = d2*float32(v>>4|h2) - min2
			}
		}
	}
}

func decodeQ6_K(out []float32, data []byte) {
	for b := 0; b < len(out)/QK_K; b++ {
		blk, y := data[b*210:b*210+210], out[b*QK_K:b*QK_K+QK_K]
		d := f16(blk[208:])
		for h := 0; h < 2; h++ { // 128 values
			ql, qh := blk[64*h:64*h+64], blk[128+32*h:128+32*h+32]
			sc := blk[192+8*h : 192+8*h+8]
			o := y[128*h : 128*h+128]
			for l := 0; l < 32; l++ {
				is := l / 16
				q1 := int(ql[l]&0xf|(qh[l]>>0&3)<<4) - 32
				q2 := int(ql[l+32]&0xf|(qh[l]>>2&3)<<4) - 32
				q3 := int(ql[l]>>4|(qh[l]>>4&3)<<4) - 32
				q4 := int(ql[l+32]>>4|(qh[l]>>6&3)<<4) - 32
				o[l] = d * float32(int8(sc[is])) * float32(q1)
				o[l+32] = d * float32(int8(sc[is+2])) * float32(q2)
				o[l+64] = d * float32(int8(sc[is+4])) * float32(q3)
				o[l+96] = d * float32(int8(sc[is+6])) * float32(q4)
			}
		}
	}
}

// Quantize encodes v in typ (F32, F16, Q8_0 and the Q4/Q5/Q6 formats above) the way ggml's reference
// quantizers (quantize_row_*_ref, used by llama-quantize without an importance matrix) do, so tests
// and tools can make such models. len(v) must be a whole number of typ's blocks.
func Quantize(typ GGMLType, v []float32) ([]byte, error) {
	size, err := typ.RowBytes(uint64(len(v)))
	if err != nil {
		return nil, fmt.Errorf("failed to quantize to %v: %w", typ, err)
	}
	out := make([]byte, size)
	switch typ {
	case F32:
		for i, x := range v {
			binary.LittleEndian.PutUint32(out[4*i:], math.Float32bits(x))
		}
	case F16:
		for i, x := range v {
			binary.LittleEndian.PutUint16(out[2*i:], F32ToF16(x))
		}
	case Q8_0:
		copy(out, QuantizeQ8_0(v))
	case Q4_0:
		for b := 0; b < len(v)/32; b++ {
			quantQ4_0(out[b*18:b*18+18], v[b*32:b*32+32])
		}
	case Q4_1:
		for b := 0; b < len(v)/32; b++ {
			quantQ4_1(out[b*20:b*20+20], v[b*32:b*32+32])
		}
	case Q5_0:
		for b := 0; b < len(v)/32; b++ {
			quantQ5_0(out[b*22:b*22+22], v[b*32:b*32+32])
		}
	case Q5_1:
		for b := 0; b < len(v)/32; b++ {
			quantQ5_1(out[b*24:b*24+24], v[b*32:b*32+32])
		}
	case Q4_K:
		for b := 0; b < len(v)/QK_K; b++ {
			quantQ45K(out[b*144:b*144+144], v[b*QK_K:b*QK_K+QK_K], 15)
		}
	case Q5_K:
		for b := 0; b < len(v)/QK_K; b++ {
			quantQ45K(out[b*176:b*176+176], v[b*QK_K:b*QK_K+QK_K], 31)
		}
	case Q6_K:
		for b := 0; b < len(v)/QK_K; b++ {
			quantQ6_K(out[b*210:b*210+210], v[b*QK_K:b*QK_K+QK_K])
		}
	default:
		return nil, fmt.Errorf("%w: quantizing to %v", ErrUnsupported, typ)
	}
	return out, nil
}

// absMax is the value of largest magnitude in x (the first of equals) and that magnitude.
func absMax(x []float32) (maxv, amax float32) {
	for _, v := range x {
		if a := abs32(v); a > amax {
			amax, maxv = a, v
		}
	}
	return maxv, amax
}

func abs32(v float32) float32 { return math.Float32frombits(math.Float32bits(v) &^ (1 << 31)) }

func minMax(x []float32) (lo, hi float32) {
	lo, hi = math.MaxFloat32, -math.MaxFloat32
	for _, v := range x {
		lo, hi = min(lo, v), max(hi, v)
	}
	return lo, hi
}

// nearestInt rounds to the nearest integer, ties to even, as ggml's nearest_int (valid for
// |f| <= 2^22, which every caller's operand is).
func nearestInt(f float32) int {
	return int(math.Float32bits(f+12582912)&0x7fffff) - 0x400000
}

func putF16(b []byte, v float32) { binary.LittleEndian.PutUint16(b, F32ToF16(v)) }

func quantQ4_0(out []byte, x []float32) {
	maxv, _ := absMax(x)
	d := maxv / -8
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	for j := 0; j < 16; j++ {
		// ggml truncates x/d + 8.5 toward zero (so rounds half up) and caps at 15.
		q0 := min(15, int8(x[j]*id+8.5))
		q1 := min(15, int8(x[j+16]*id+8.5))
		out[2+j] = byte(q0) | byte(q1)<<4
	}
}

func quantQ4_1(out []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 15
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	putF16(out[2:], lo)
	for j := 0; j < 16; j++ {
		q0 := min(15, int8((x[j]-lo)*id+0.5))
		q1 := min(15, int8((x[j+16]-lo)*id+0.5))
		out[4+j] = byte(q0) | byte(q1)<<4
	}
}

func quantQ5_0(out []byte, x []float32) {
	maxv, _ := absMax(x)
	d := maxv / -16
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	var qh uint32
	for j := 0; j < 16; j++ {
		q0 := byte(min(31, int8(x[j]*id+16.5)))
		q1 := byte(min(31, int8(x[j+16]*id+16.5)))
		out[6+j] = q0&0xf | (q1&0xf)<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(out[2:], qh)
}

func quantQ5_1(out []byte, x []float32) {
	lo, hi := minMax(x)
	d := (hi - lo) / 31
	var id float32
	if d != 0 {
		id = 1 / d
	}
	putF16(out, d)
	putF16(out[2:], lo)
	var qh uint32
	for j := 0; j < 16; j++ {
		q0 := uint8((x[j]-lo)*id + 0.5)
		q1 := uint8((x[j+16]-lo)*id + 0.5)
		out[8+j] = q0&0xf | (q1&0xf)<<4
		qh |= uint32(q0>>4&1)<<j | uint32(q1>>4&1)<<(j+16)
	}
	binary.LittleEndian.PutUint32(out[4:], qh)
}

// makeQKX2Quants fits x ≈ scale·L − min with L in [0, nmax] and min >= 0, minimising the weighted
// squared error over a sweep of nstep+1 trial scales (ggml's make_qkx2_quants with use_mad false).
// It returns scale and min and leaves the levels in L.
func makeQKX2Quants(nmax int, x, weights []float32, L []uint8, rmin, rdelta float32, nstep int) (scale, theMin float32) {
	n := len(x)
	lo, hi := x[0], x[0]
	sumW := weights[0]
	sumX := sumW * x[0]
	for i := 1; i < n; i++ {
		lo, hi = min(lo, x[i]), max(hi, x[i])
		w := weights[i]
		sumW += w
		sumX += w * x[i]
	}
	lo = min(lo, 0)
	if hi == lo {
		clear(L[:n])
		return 0, -lo
	}
	iscale := float32(nmax) / (hi - lo)
	scale = 1 / iscale
	var bestErr float32
	for i := 0; i < n; i++ {
		L[i] = uint8(max(0, min(nmax, nearestInt(iscale*(x[i]-lo)))))
		diff := scale*float32(L[i]) + lo - x[i]
		bestErr += weights[i] * (diff * diff)
	}
	var laux [32]uint8
	for is := 0; is <= nstep; is++ {
		iscale = (rmin + rdelta*float32(is) + float32(nmax)) / (hi - lo)
		var sumL, sumL2, sumXL float32
		for i := 0; i < n; i++ {
			l := max(0, min(nmax, nearestInt(iscale*(x[i]-lo))))
			laux[i] = uint8(l)
			w := weights[i]
			fl := float32(l)
			sumL += w * fl
			sumL2 += w * fl * fl
			sumXL += w * fl * x[i]
		}
		D := sumW*sumL2 - sumL*sumL
		if D > 0 {
			thisScale := (sumW*sumXL - sumX*sumL) / D
			thisMin := (sumL2*sumX - sumL*sumXL) / D
			if thisMin > 0 {
				thisMin = 0
				thisScale = sumXL / sumL2
			}
			var curErr float32
			for i := 0; i < n; i++ {
				diff := thisScale*float32(laux[i]) + thisMin - x[i]
				curErr += weights[i] * (diff * diff)
			}
			if curErr < bestErr {
				copy(L[:n], laux[:n])
				bestErr, scale, lo = curErr, thisScale, thisMin
			}
		}
	}
	return scale, -lo
}

// quantQ45K is quantize_row_q4_K_ref (nmax 15) and quantize_row_q5_K_ref (nmax 31) for one block.
func quantQ45K(out []byte, x []float32, nmax int) {
	var L [QK_K]uint8
	var weights [32]float32
	var scales, mins [8]float32
	var maxScale, maxMin float32
	rmin, nstep := float32(-1), 20
	if nmax == 31 {
		rmin, nstep = -0.5, 15
	}
	for j := 0; j < 8; j++ {
		xs := x[32*j : 32*j+32]
		var sumX2 float32
		for _, v := range xs {
			sumX2 += v * v
		}
		avX := float32(math.Sqrt(float64(sumX2 / 32)))
		for l, v := range xs {
			weights[l] = avX + abs32(v)
		}
		scales[j], mins[j] = makeQKX2Quants(nmax, xs, weights[:], L[32*j:32*j+32], rmin, 0.1, nstep)
		maxScale, maxMin = max(maxScale, scales[j]), max(maxMin, mins[j])
	}
	var invScale, invMin float32
	if maxScale > 0 {
		invScale = 63 / maxScale
	}
	if maxMin > 0 {
		invMin = 63 / maxMin
	}
	sc := out[4:16]
	clear(sc)
	for j := 0; j < 8; j++ {
		ls := min(63, uint8(nearestInt(invScale*scales[j])))
		lm := min(63, uint8(nearestInt(invMin*mins[j])))
		if j < 4 {
			sc[j], sc[j+4] = ls, lm
		} else {
			sc[j+4] = ls&0xf | (lm&0xf)<<4
			sc[j-4] |= (ls >> 4) << 6
			sc[j] |= (lm >> 4) << 6
		}
	}
	putF16(out, maxScale/63)
	putF16(out[2:], maxMin/63)
	d, dmin := f16(out), f16(out[2:])
	for j := 0; j < 8; j++ {
		s, m := getScaleMinK4(j, sc)
		dj := d * float32(s)
		if dj == 0 {
			continue
		}
		dm := dmin * float32(m)
		for i := 0; i < 32; i++ {
			L[32*j+i] = uint8(max(0, min(nmax, nearestInt((x[32*j+i]+dm)/dj))))
		}
	}
	if nmax == 15 {
		qs := out[16:144]
		for g := 0; g < 4; g++ {
			for l := 0; l < 32; l++ {
				qs[32*g+l] = L[64*g+l] | L[64*g+l+32]<<4
			}
		}
		return
	}
	qh, qs := out[16:48], out[48:176]
	clear(qh)
	for g := 0; g < 4; g++ {
		for l := 0; l < 32; l++ {
			l1, l2 := L[64*g+l], L[64*g+l+32]
			if l1 > 15 {
				l1 -= 16
				qh[l] |= 1 << (2 * g)
			}
			if l2 > 15 {
				l2 -= 16
				qh[l] |= 2 << (2 * g)
			}
			qs[32*g+l] = l1 | l2<<4
		}
	}
}

// groupMaxEps is ggml's GROUP_MAX_EPS: groups below it quantize to zero.
const groupMaxEps = 1e-15

// makeQXQuants is ggml's make_qx_quants with rmse_type 1 and no importance weights: symmetric levels
// in [-nmax, nmax-1] (stored offset by nmax in L) with the scale chosen among 19 trials to minimise
// the x²-weighted squared error.
func makeQXQuants(nmax int, x []float32, L []int8) float32 {
	maxv, amax := absMax(x)
	if amax < groupMaxEps {
		clear(L[:len(x)])
		return 0
	}
	clampL := func(l int) int { return max(-nmax, min(nmax-1, l)) }
	iscale := float32(-nmax) / maxv
	var sumLX, sumL2 float32
	for i, v := range x {
		l := clampL(nearestInt(iscale * v))
		L[i] = int8(l + nmax)
		w := v * v
		fl := float32(l)
		sumLX += w * v * fl
		sumL2 += w * fl * fl
	}
	var scale float32
	if sumL2 != 0 {
		scale = sumLX / sumL2
	}
	best := scale * sumLX
	for is := -9; is <= 9; is++ {
		if is == 0 {
			continue
		}
		iscale = -(float32(nmax) + 0.1*float32(is)) / maxv
		sumLX, sumL2 = 0, 0
		for _, v := range x {
			fl := float32(clampL(nearestInt(iscale * v)))
			w := v * v
			sumLX += w * v * fl
			sumL2 += w * fl * fl
		}
		if sumL2 > 0 && sumLX*sumLX > best*sumL2 {
			for i, v := range x {
				L[i] = int8(nmax + clampL(nearestInt(iscale*v)))
			}
			scale = sumLX / sumL2
			best = scale * sumLX
		}
	}
	return scale
}

// quantQ6_K is quantize_row_q6_K_ref for one block.
func quantQ6_K(out []byte, x []float32) {
	var L [QK_K]int8
	var scales [16]float32
	var maxScale, maxAbsScale float32
	for ib := 0; ib < 16; ib++ {
		s := makeQXQuants(32, x[16*ib:16*ib+16], L[16*ib:16*ib+16])
		scales[ib] = s
		if a := abs32(s); a > maxAbsScale {
			maxAbsScale, maxScale = a, s
		}
	}
	clear(out)
	if maxAbsScale < groupMaxEps {
		return
	}
	iscale := -128 / maxScale
	putF16(out[208:], 1/iscale)
	sc := out[192:208]
	for ib := 0; ib < 16; ib++ {
		sc[ib] = byte(int8(min(127, nearestInt(iscale*scales[ib]))))
	}
	d := f16(out[208:])
	for j := 0; j < 16; j++ {
		dj := d * float32(int8(sc[j]))
		if dj == 0 {
			continue
		}
		for i := 0; i < 16; i++ {
			L[16*j+i] = int8(max(-32, min(31, nearestInt(x[16*j+i]/dj))) + 32)
		}
	}
	for h := 0; h < 2; h++ {
		ql, qh := out[64*h:64*h+64], out[128+32*h:128+32*h+32]
		Lh := L[128*h : 128*h+128]
		for l := 0; l < 32; l++ {
			q1, q2, q3, q4 := uint8(Lh[l]), uint8(Lh[l+32]), uint8(Lh[l+64]), uint8(Lh[l+96])
			ql[l] = q1&0xf | (q3&0xf)<<4
			ql[l+32] = q2&0xf | (q4&0xf)<<4
			qh[l] = q1>>4 | (q2>>4)<<2 | (q3>>4)<<4 | (q4>>4)<<6
		}
	}
}
