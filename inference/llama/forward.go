package llama

import (
	"math"
	"sync"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// state is one sequence being evaluated: its KV cache and scratch buffers. Not safe for concurrent use.
type state struct {
	m       *Model
	threads int
	// pos is the number of tokens already in the KV cache.
	// INVARIANT: pos <= maxPos; kCache[l][:pos*kvDim] and vCache[l][:pos*kvDim] hold keys/values of
	// positions 0..pos-1 (keys already rotated). The caches grow on demand up to maxPos positions, so
	// a generation that may run to the end of a long context but stops early never pays for all of it.
	pos, maxPos    int
	kCache, vCache [][]float32

	// Scratch, sized for batch tokens at a time and grown on demand.
	batch                  int
	x, xb, q, k, v, attOut []float32
	gate, up               []float32
	logits                 []float32
	cos, sin               []float32 // RoPE tables for the batch: batch*RopeDim/2
	xr                     []float32 // matmul's activations rounded for F16/Q8_0 weights
	qa                     qacts     // matmul's activations quantized for quantKinds weights
}

func (m *Model) newState(maxPos, threads int) *state {
	kvDim := m.info.KVHeads * m.info.HeadDim
	s := &state{m: m, threads: max(threads, 1), maxPos: maxPos}
	s.kCache = make([][]float32, m.info.Layers)
	s.vCache = make([][]float32, m.info.Layers)
	s.reserve(min(maxPos, initialCachePositions), kvDim)
	return s
}

// initialCachePositions is the KV cache allocated up front; it doubles as needed up to maxPos.
const initialCachePositions = 256

// reserve makes the KV caches hold at least positions positions.
func (s *state) reserve(positions, kvDim int) {
	if len(s.kCache[0]) >= positions*kvDim {
		return
	}
	size := max(positions, min(s.maxPos, 2*len(s.kCache[0])/kvDim))
	for l := range s.kCache {
		k := make([]float32, size*kvDim)
		copy(k, s.kCache[l][:s.pos*kvDim])
		v := make([]float32, size*kvDim)
		copy(v, s.vCache[l][:s.pos*kvDim])
		s.kCache[l], s.vCache[l] = k, v
	}
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

func (s *state) ensureBatch(n int) {
	if n <= s.batch {
		return
	}
	in := s.m.info
	kvDim := in.KVHeads * in.HeadDim
	s.batch = n
	s.x = grow(s.x, n*in.Embedding)
	s.xb = grow(s.xb, n*in.Embedding)
	s.q = grow(s.q, n*in.Embedding)
	s.k = grow(s.k, n*kvDim)
	s.v = grow(s.v, n*kvDim)
	s.attOut = grow(s.attOut, n*in.Embedding)
	s.gate = grow(s.gate, n*in.FFN)
	s.up = grow(s.up, n*in.FFN)
	s.cos = grow(s.cos, n*in.RopeDim/2)
	s.sin = grow(s.sin, n*in.RopeDim/2)
}

// forward evaluates tokens at positions pos.. and appends them to the KV cache. It returns logits for
// the last token, or for every token when all is set (n*Vocab, row per token). The returned slice is
// reused by the next call.
// REQUIRES: s.pos+len(tokens) <= s.maxPos, token ids in range.
func (s *state) forward(tokens []int32, all bool) []float32 {
	n := len(tokens)
	in := s.m.info
	d := in.Embedding
	kvDim := in.KVHeads * in.HeadDim
	s.ensureBatch(n)
	s.reserve(s.pos+n, kvDim)
	x := s.x[:n*d]
	for t, id := range tokens {
		s.m.embd.rowInto(x[t*d:(t+1)*d], int(id))
	}
	s.ropeTables(n)
	for li := range s.m.layers {
		l := &s.m.layers[li]
		// Tokens [from, n) go through the whole layer. In the last layer only the logits' tokens need
		// more than their keys and values, which the cache needs for all of them.
		from := 0
		if li == len(s.m.layers)-1 && !all {
			from = n - 1
		}
		m := n - from
		xb := s.xb[:n*d]
		for t := 0; t < n; t++ {
			rmsNorm(xb[t*d:(t+1)*d], x[t*d:(t+1)*d], l.attnNorm, in.RMSEpsilon)
		}
		q, k, v := s.q[from*d:n*d], s.k[:n*kvDim], s.v[:n*kvDim]
		s.matmul(q, xb[from*d:], l.wq, m)
		s.matmul(k, xb, l.wk, n)
		s.matmul(v, xb, l.wv, n)
		addBias(q, l.bq)
		addBias(k, l.bk)
		addBias(v, l.bv)
		for t := 0; t < n; t++ {
			if t >= from {
				s.rope(s.q[t*d:(t+1)*d], in.Heads, t)
			}
			s.rope(k[t*kvDim:(t+1)*kvDim], in.KVHeads, t)
		}
		copy(s.kCache[li][s.pos*kvDim:(s.pos+n)*kvDim], k)
		copy(s.vCache[li][s.pos*kvDim:(s.pos+n)*kvDim], v)
		s.attention(li, from, n)
		xs, xbs := x[from*d:n*d], xb[from*d:n*d]
		s.matmul(xbs, s.attOut[from*d:n*d], l.wo, m)
		add(xs, xbs)
		for t := 0; t < m; t++ {
			rmsNorm(xbs[t*d:(t+1)*d], xs[t*d:(t+1)*d], l.ffnNorm, in.RMSEpsilon)
		}
		gate, up := s.gate[:m*in.FFN], s.up[:m*in.FFN]
		s.matmul(gate, xbs, l.wGate, m)
		s.matmul(up, xbs, l.wUp, m)
		for i, g := range gate {
			gate[i] = g / (1 + float32(math.Exp(float64(-g)))) * up[i]
		}
		s.matmul(xbs, gate, l.wDown, m)
		add(xs, xbs)
	}
	s.pos += n
	first := n - 1
	if all {
		first = 0
	}
	rows := n - first
	xb := s.xb[:rows*d]
	for t := 0; t < rows; t++ {
		rmsNorm(xb[t*d:(t+1)*d], x[(first+t)*d:(first+t+1)*d], s.m.outNorm, in.RMSEpsilon)
	}
	s.logits = grow(s.logits, rows*in.Vocab)
	s.matmul(s.logits, xb, s.m.output, rows)
	addBias(s.logits[:rows*in.Vocab], s.m.outBias)
	return s.logits
}

// addBias adds b to every row of x (rows of len(b)); a nil b adds nothing. ggml adds in float32 too.
func addBias(x, b []float32) {
	if b == nil {
		return
	}
	for r := 0; r+len(b) <= len(x); r += len(b) {
		add(x[r:r+len(b)], b)
	}
}

func add(dst, src []float32) {
	src = src[:len(dst)]
	for i := range dst {
		dst[i] += src[i]
	}
}

// rmsNorm writes x / sqrt(mean(x²) + eps) * w to out, rounding as ggml's rms_norm does: float32
// squares summed in float64, then the mean, sqrt and reciprocal in float32.
func rmsNorm(out, x, w []float32, eps float64) {
	var sum float64
	for _, v := range x {
		sq := v * v
		sum += float64(sq)
	}
	mean := float32(sum / float64(len(x)))
	scale := 1 / float32(math.Sqrt(float64(mean+float32(eps))))
	w = w[:len(x)]
	out = out[:len(x)]
	for i, v := range x {
		out[i] = v * scale * w[i]
	}
}

// ropeTables fills cos/sin for positions pos..pos+n-1: theta_i = p * base^(-2i/ropeDim), computed in
// float32 the way ggml's rope cache is (theta_scale = powf(base, -2/ropeDim), theta_i = theta_{i-1} *
// theta_scale), so that the angles carry llama.cpp's rounding: at position 4096 a float32 angle is only
// good to ~2e-4 rad, and an exact angle would differ from llama.cpp by that much. With frequency
// factors (rope_freqs) and linear scaling the angle used is freqScale * (theta_i / factor_i), also in
// float32 and in that order, as ggml's rope_yarn without YaRN's extrapolation mix.
func (s *state) ropeTables(n int) {
	half := s.m.info.RopeDim / 2
	thetaScale := float32(math.Pow(float64(float32(s.m.info.RopeFreqBase)), float64(float32(-2)/float32(s.m.info.RopeDim))))
	freqScale := float32(s.m.info.RopeFreqScale)
	ff := s.m.ropeFreqs
	for t := 0; t < n; t++ {
		theta := float32(s.pos + t)
		for i := 0; i < half; i++ {
			a := theta
			if ff != nil {
				a /= ff[i]
			}
			a *= freqScale
			s.cos[t*half+i] = float32(math.Cos(float64(a)))
			s.sin[t*half+i] = float32(math.Sin(float64(a)))
			theta *= thetaScale
		}
	}
}

// rope rotates the pairs of every head for batch token t: adjacent pairs (x[2i], x[2i+1]) in ggml's
// NORM mode, (x[i], x[i+RopeDim/2]) in its NEOX mode (Info.RopeNeox), pair i by angle theta_i.
func (s *state) rope(x []float32, heads, t int) {
	hd := s.m.info.HeadDim
	half := s.m.info.RopeDim / 2
	cos, sin := s.cos[t*half:(t+1)*half], s.sin[t*half:(t+1)*half]
	// Pair i is (v[lo*i], v[lo*i+off]).
	lo, off := 2, 1
	if s.m.info.RopeNeox {
		lo, off = 1, half
	}
	for h := 0; h < heads; h++ {
		v := x[h*hd : (h+1)*hd]
		for i := 0; i < half; i++ {
			a, b := v[lo*i], v[lo*i+off]
			v[lo*i] = a*cos[i] - b*sin[i]
			v[lo*i+off] = a*sin[i] + b*cos[i]
		}
	}
}

// attention computes causal softmax attention of layer li for the new tokens [from, n) into s.attOut
// (their queries are in s.q; keys and values of all positions are in the cache).
func (s *state) attention(li, from, n int) {
	in := s.m.info
	hd := in.HeadDim
	kvDim := in.KVHeads * hd
	group := in.Heads / in.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kc, vc := s.kCache[li], s.vCache[li]
	work := func(lo, hi int) {
		scores := make([]float32, s.pos+n) // per chunk: chunks run concurrently
		for job := lo; job < hi; job++ {
			t, h := from+job/in.Heads, job%in.Heads
			end := s.pos + t + 1 // positions 0..pos+t are visible
			q := s.q[t*in.Embedding+h*hd : t*in.Embedding+(h+1)*hd]
			kvOff := (h / group) * hd
			att := scores[:end]
			maxv := float32(math.Inf(-1))
			for j := range att {
				a := dot(q, kc[j*kvDim+kvOff:j*kvDim+kvOff+hd]) * scale
				att[j] = a
				maxv = max(maxv, a)
			}
			var sum float32
			for j, a := range att {
				e := float32(math.Exp(float64(a - maxv)))
				att[j] = e
				sum += e
			}
			out := s.attOut[t*in.Embedding+h*hd : t*in.Embedding+(h+1)*hd]
			clear(out)
			inv := 1 / sum
			for j, a := range att {
				axpy(out, vc[j*kvDim+kvOff:j*kvDim+kvOff+hd], a*inv)
			}
		}
	}
	jobs := (n - from) * in.Heads
	// Each job costs about 2*hd*(pos+t) multiply-adds; split only when there is enough work.
	s.parallel(jobs, 2*hd*(s.pos+n), work)
}

// matmul computes out[t][r] = W.row(r) · x[t] for n tokens, splitting rows across goroutines.
func (s *state) matmul(out, x []float32, w matrix, n int) {
	cols := w.cols
	if w.kq != nil {
		k := quantKinds[w.qt]
		s.qa.quantize(x[:n*cols], k.act)
		if n < widenBatch {
			s.parallel(w.rows, cols*n, func(lo, hi int) { matmulQuant(out, &s.qa, w, n, lo, hi) })
			return
		}
		// A batch: the quantized activations' values times weight rows decoded to float32 once
		// per batch, by the float32 kernels. The products are the same up to float32 rounding
		// (the integer block sums are exact either way), except that ggml multiplies Q4_1/Q5_1's
		// offset by Q8_1's stored sum s: offsetCorrection adds the difference.
		s.xr = grow(s.xr, n*cols)
		s.qa.values(s.xr, cols, k.blockSize)
		s.parallel(w.rows, cols*n, func(lo, hi int) { matmulWidened(out, s.xr, w, n, lo, hi) })
		if k.act == actQ8_1 {
			s.parallel(w.rows, cols/32*n, func(lo, hi int) { offsetCorrection(out, &s.qa, s.xr, w, n, lo, hi) })
		}
		return
	}
	if w.h != nil || w.q != nil || w.bf16 {
		s.xr = grow(s.xr, n*cols)
		roundActivations(s.xr, x[:n*cols], w)
		x = s.xr
	}
	switch {
	case n >= widenBatch && (w.h != nil || w.q != nil):
		s.parallel(w.rows, cols*n, func(lo, hi int) { matmulWidened(out, x, w, n, lo, hi) })
		return
	case w.h != nil:
		s.parallel(w.rows, cols*n, func(lo, hi int) { matmulF16(out, x, w, n, lo, hi) })
		return
	case w.q != nil:
		s.parallel(w.rows, cols*n, func(lo, hi int) { matmulQ8(out, x, w, n, lo, hi) })
		return
	}
	s.parallel(w.rows, cols*n, func(lo, hi int) { matmulF32(out, x, w, n, lo, hi) })
}

// roundActivations writes x as llama.cpp's CPU matmul sees it when the weight w is F16, BF16 or Q8_0:
// ggml first converts the activations to the weight's vec_dot_type, F16 or BF16 (round to nearest
// even) or Q8_0 (per 32 values a F16 scale d = max|x|/127 and int8 values x·(127/max|x|) rounded to
// nearest even, as its AVX quantize_row_q8_0). Multiplying these exactly representable values in
// float32 then gives llama.cpp's results up to the order of float32 rounding; unrounded activations
// would be more precise, but drift from llama.cpp by up to a few hundredths of a logit and flip
// greedy choices at near-ties.
func roundActivations(dst, x []float32, w matrix) {
	switch {
	case w.h != nil:
		for i, v := range x {
			dst[i] = roundF16(v)
		}
		return
	case w.bf16:
		for i, v := range x {
			dst[i] = roundBF16(v)
		}
		return
	}
	for b := 0; b+32 <= len(x); b += 32 {
		blk := x[b : b+32]
		var amax float32
		for _, v := range blk {
			amax = max(amax, math.Float32frombits(math.Float32bits(v)&^(1<<31)))
		}
		d := gguf.F16ToF32(gguf.F32ToF16(amax / 127))
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		for i, v := range blk {
			// v·id is within ±127.5, where adding and removing 1.5·2^23 rounds a float32 to the
			// nearest integer, ties to even (what math.RoundToEven does, without leaving float32).
			q := v*id + roundMagic
			dst[b+i] = (q - roundMagic) * d
		}
	}
}

// roundMagic is 1.5·2^23: a float32 of this size has no fraction bits.
const roundMagic float32 = 12582912

// roundF16 is v rounded to float16 precision (to nearest, ties to even) and back, as
// gguf.F16ToF32(gguf.F32ToF16(v)) but without leaving float32 for the usual magnitudes: in float16's
// normal range below 2^15 that is rounding away the 13 low mantissa bits (a carry into the exponent
// is the correct result). Other values (zero, float16 subnormals, near or past overflow) take the
// general conversion.
func roundF16(v float32) float32 {
	b := math.Float32bits(v)
	if exp := b >> 23 & 0xff; exp < 127-14 || exp >= 127+15 {
		return gguf.F16ToF32(gguf.F32ToF16(v))
	}
	b += 0xfff + b>>13&1
	return math.Float32frombits(b &^ 0x1fff)
}

// roundBF16 is v rounded to bfloat16 (to nearest, ties to even) and back, as ggml's
// GGML_FP32_TO_BF16; a NaN stays a NaN.
func roundBF16(v float32) float32 {
	b := math.Float32bits(v)
	if b&0x7fffffff > 0x7f800000 {
		return v
	}
	b += 0x7fff + b>>16&1
	return math.Float32frombits(b &^ 0xffff)
}

// widenBatch is the batch size from which F16/Q8_0 rows are widened to float32 once per batch
// (then shared by all tokens) instead of inside the kernel for every token.
const widenBatch = 4

// matmulWidened is matmul's work for rows [lo, hi) of a F16 or Q8_0 weight: each group of four rows
// is decoded to float32 once and multiplied with every token by the float32 kernels.
func matmulWidened(out, x []float32, w matrix, n, lo, hi int) {
	cols := w.cols
	buf := make([]float32, 4*cols)
	for r := lo; r < hi; r += 4 {
		k := min(4, hi-r)
		for i := 0; i < k; i++ {
			w.rowInto(buf[i*cols:(i+1)*cols], r+i)
		}
		tile := matrix{rows: k, cols: cols, w: buf[:k*cols]}
		// Two tokens at a time through the four-row kernel; ragged edges one dot product at a time.
		for t := 0; t < n; t += 2 {
			m := min(2, n-t)
			var res [8]float32
			if k == 4 && m == 2 {
				dot4x2(tile.row(0), tile.row(1), tile.row(2), tile.row(3), x[t*cols:(t+1)*cols], x[(t+1)*cols:(t+2)*cols], &res)
			} else {
				for j := 0; j < m; j++ {
					for i := 0; i < k; i++ {
						res[4*j+i] = dot(tile.row(i), x[(t+j)*cols:(t+j+1)*cols])
					}
				}
			}
			for j := 0; j < m; j++ {
				copy(out[(t+j)*w.rows+r:(t+j)*w.rows+r+k], res[4*j:4*j+k])
			}
		}
	}
}

// matmulF32 is matmul's work for rows [lo, hi) of a float32 weight.
func matmulF32(out, x []float32, w matrix, n, lo, hi int) {
	cols := w.cols
	r := lo
	// Four rows at a time share each load of x.
	for ; r+4 <= hi; r += 4 {
		w0, w1, w2, w3 := w.row(r), w.row(r+1), w.row(r+2), w.row(r+3)
		t := 0
		// Two tokens at a time share each load of the four rows.
		for ; t+2 <= n; t += 2 {
			var res [8]float32
			dot4x2(w0, w1, w2, w3, x[t*cols:(t+1)*cols], x[(t+1)*cols:(t+2)*cols], &res)
			copy(out[t*w.rows+r:t*w.rows+r+4], res[:4])
			copy(out[(t+1)*w.rows+r:(t+1)*w.rows+r+4], res[4:])
		}
		for ; t < n; t++ {
			a, b, c, d := dot4(w0, w1, w2, w3, x[t*cols:(t+1)*cols])
			o := out[t*w.rows+r : t*w.rows+r+4]
			o[0], o[1], o[2], o[3] = a, b, c, d
		}
	}
	for ; r < hi; r++ {
		wr := w.row(r)
		for t := 0; t < n; t++ {
			out[t*w.rows+r] = dot(wr, x[t*cols:(t+1)*cols])
		}
	}
}

// minWork is the multiply-adds below which a parallel split costs more than it saves.
const minWork = 1 << 15

// parallel runs work over [0, jobs) in up to s.threads contiguous chunks. costPerJob (multiply-adds)
// decides whether splitting is worth it.
func (s *state) parallel(jobs, costPerJob int, work func(lo, hi int)) {
	threads := s.threads
	if total := jobs * costPerJob; total < minWork*threads {
		threads = max(1, total/minWork)
	}
	threads = min(threads, jobs)
	if threads <= 1 {
		work(0, jobs)
		return
	}
	var wg sync.WaitGroup
	chunk := (jobs + threads - 1) / threads
	// Keep chunks a multiple of 4 so matmul's four-row kernel covers them.
	chunk = (chunk + 3) &^ 3
	for lo := chunk; lo < jobs; lo += chunk {
		wg.Add(1)
		go func(lo, hi int) {
			defer wg.Done()
			work(lo, hi)
		}(lo, min(lo+chunk, jobs))
	}
	work(0, min(chunk, jobs))
	wg.Wait()
}

// matmulF16 is matmul's work for rows [lo, hi) of a half-precision weight.
func matmulF16(out, x []float32, w matrix, n, lo, hi int) {
	matmulRows(out, x, w, n, lo, hi, w.rowH, dot4H)
}

// matmulQ8 is matmul's work for rows [lo, hi) of a Q8_0 weight.
func matmulQ8(out, x []float32, w matrix, n, lo, hi int) {
	matmulRows(out, x, w, n, lo, hi, w.rowQ, dot4Q8)
}

// matmulRows is matmul's work for rows [lo, hi) of a weight stored as rows of R, four rows at a time
// through dot4 (the leftover rows one by one, passed four times).
func matmulRows[R any](out, x []float32, w matrix, n, lo, hi int, row func(int) R, dot4 func(w0, w1, w2, w3 R, x []float32) (float32, float32, float32, float32)) {
	cols := w.cols
	r := lo
	for ; r+4 <= hi; r += 4 {
		w0, w1, w2, w3 := row(r), row(r+1), row(r+2), row(r+3)
		for t := 0; t < n; t++ {
			a, b, c, d := dot4(w0, w1, w2, w3, x[t*cols:(t+1)*cols])
			o := out[t*w.rows+r : t*w.rows+r+4]
			o[0], o[1], o[2], o[3] = a, b, c, d
		}
	}
	for ; r < hi; r++ {
		wr := row(r)
		for t := 0; t < n; t++ {
			a, _, _, _ := dot4(wr, wr, wr, wr, x[t*cols:(t+1)*cols])
			out[t*w.rows+r] = a
		}
	}
}
