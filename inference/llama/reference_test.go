package llama

import (
	"fmt"
	"math"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// refModel is a deliberately plain float64 llama: no KV cache, no batching, no parallelism, weights
// indexed straight from the GGUF layout (element (in i, out o) of a [n_in, n_out] tensor at o*n_in+i).
type refModel struct {
	f                            *gguf.File
	embd, layers, heads, kvHeads int
	ffn, vocab, ropeDim          int
	eps, base                    float64
	ropeScale                    float64 // 1/llama.rope.scaling.factor, 1 without scaling
	neox                         bool    // qwen2: RoPE pairs (i, i+ropeDim/2)
	tensors                      map[string][]float64
}

func newRefModel(t testing.TB, b []byte) *refModel {
	t.Helper()
	f, err := gguf.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	u := func(k string) int {
		v, ok, err := f.Uint(k)
		if !ok || err != nil {
			t.Fatalf("%s: %v", k, err)
		}
		return int(v)
	}
	arch, _, _ := f.String("general.architecture")
	r := &refModel{f: f, embd: u(arch + ".embedding_length"), layers: u(arch + ".block_count"), heads: u(arch + ".attention.head_count"),
		kvHeads: u(arch + ".attention.head_count_kv"), ffn: u(arch + ".feed_forward_length"), ropeDim: u(arch + ".rope.dimension_count"),
		tensors: map[string][]float64{}, base: 10000, neox: arch == "qwen2"}
	eps, _, _ := f.Float(arch + ".attention.layer_norm_rms_epsilon")
	r.eps = eps
	if v, ok, _ := f.Float(arch + ".rope.freq_base"); ok {
		r.base = v
	}
	r.ropeScale = 1
	if v, ok, _ := f.Float(arch + ".rope.scaling.factor"); ok && v != 0 {
		r.ropeScale = 1 / v
	}
	for i := range f.Tensors {
		ti := &f.Tensors[i]
		v32, err := ti.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		v := make([]float64, len(v32))
		for j, x := range v32 {
			v[j] = float64(x)
		}
		r.tensors[ti.Name] = v
	}
	r.vocab = len(r.tensors["token_embd.weight"]) / r.embd
	return r
}

// mul applies weight name (shape [len(x), nOut]) to x, after rounding x to what llama.cpp multiplies
// a weight of that type with (see vecDotInput).
func (r *refModel) mul(name string, x []float64) []float64 {
	w := r.tensors[name]
	ti, ok := r.f.Tensor(name)
	if ok && (ti.Type == gguf.Q4_1 || ti.Type == gguf.Q5_1) {
		return r.mulQ8_1(ti, w, x)
	}
	if ok {
		x = vecDotInput(x, ti.Type)
	}
	nIn := len(x)
	nOut := len(w) / nIn
	out := make([]float64, nOut)
	for o := 0; o < nOut; o++ {
		var s float64
		for i := 0; i < nIn; i++ {
			s += w[o*nIn+i] * x[i]
		}
		out[o] = s
	}
	return out
}

// mulQ8_1 is mul for Q4_1 and Q5_1 weights (x = d·q + m per 32), whose activations llama.cpp
// quantizes to Q8_1: Q8_0's values plus s = F16(d·Σq) per block, with d = max|x|/127 before its F16
// rounding. ggml multiplies the offset m by s, not by the sum of the activations' values, so this
// product does too: per block Σ (w − m)·x + m·s.
func (r *refModel) mulQ8_1(ti *gguf.TensorInfo, w, x []float64) []float64 {
	xq := vecDotInput(x, gguf.Q8_0)
	nIn := len(x)
	blocks := nIn / 32
	sums := make([]float64, blocks)
	for b := range sums {
		var amax float32
		for _, v := range x[32*b : 32*b+32] {
			amax = max(amax, float32(math.Abs(v)))
		}
		d := amax / 127
		var id float32
		if amax != 0 {
			id = 127 / amax
		}
		var q float64
		for _, v := range x[32*b : 32*b+32] {
			q += math.RoundToEven(float64(float32(v) * id))
		}
		sums[b] = float64(gguf.F16ToF32(gguf.F32ToF16(d * float32(q))))
	}
	bb := 20
	if ti.Type == gguf.Q5_1 {
		bb = 24
	}
	out := make([]float64, len(w)/nIn)
	for o := range out {
		for b := 0; b < blocks; b++ {
			raw := ti.Data[(o*blocks+b)*bb:]
			m := float64(gguf.F16ToF32(uint16(raw[2]) | uint16(raw[3])<<8))
			var s float64
			for i := 32 * b; i < 32*b+32; i++ {
				s += (w[o*nIn+i] - m) * xq[i]
			}
			out[o] += s + m*sums[b]
		}
	}
	return out
}

func (r *refModel) norm(name string, x []float64) []float64 {
	w := r.tensors[name]
	var ss float64
	for _, v := range x {
		ss += v * v
	}
	scale := 1 / math.Sqrt(ss/float64(len(x))+r.eps)
	out := make([]float64, len(x))
	for i := range x {
		out[i] = x[i] * scale * w[i]
	}
	return out
}

func (r *refModel) rope(v []float64, nHeads, pos int) {
	hd := r.embd / r.heads
	for h := 0; h < nHeads; h++ {
		for i := 0; i < r.ropeDim/2; i++ {
			theta := float64(pos) * math.Pow(r.base, -2*float64(i)/float64(r.ropeDim)) * r.ropeScale
			if ff := r.tensors["rope_freqs.weight"]; ff != nil {
				theta /= ff[i]
			}
			i0, i1 := h*hd+2*i, h*hd+2*i+1
			if r.neox {
				i0, i1 = h*hd+i, h*hd+i+r.ropeDim/2
			}
			a, b := v[i0], v[i1]
			v[i0] = a*math.Cos(theta) - b*math.Sin(theta)
			v[i1] = a*math.Sin(theta) + b*math.Cos(theta)
		}
	}
}

// logits returns the logits at every position of tokens, recomputing everything from scratch.
func (r *refModel) logits(tokens []int32) [][]float64 {
	n := len(tokens)
	hd := r.embd / r.heads
	group := r.heads / r.kvHeads
	x := make([][]float64, n)
	for t, id := range tokens {
		x[t] = append([]float64(nil), r.tensors["token_embd.weight"][int(id)*r.embd:(int(id)+1)*r.embd]...)
	}
	for l := 0; l < r.layers; l++ {
		p := fmt.Sprintf("blk.%d.", l)
		qs, ks, vs := make([][]float64, n), make([][]float64, n), make([][]float64, n)
		for t := 0; t < n; t++ {
			h := r.norm(p+"attn_norm.weight", x[t])
			qs[t], ks[t], vs[t] = r.mul(p+"attn_q.weight", h), r.mul(p+"attn_k.weight", h), r.mul(p+"attn_v.weight", h)
			r.addBias(qs[t], p+"attn_q.bias")
			r.addBias(ks[t], p+"attn_k.bias")
			r.addBias(vs[t], p+"attn_v.bias")
			r.rope(qs[t], r.heads, t)
			r.rope(ks[t], r.kvHeads, t)
		}
		for t := 0; t < n; t++ {
			att := make([]float64, r.embd)
			for h := 0; h < r.heads; h++ {
				kh := h / group
				scores := make([]float64, t+1)
				maxs := math.Inf(-1)
				for j := 0; j <= t; j++ {
					var s float64
					for i := 0; i < hd; i++ {
						s += qs[t][h*hd+i] * ks[j][kh*hd+i]
					}
					scores[j] = s / math.Sqrt(float64(hd))
					maxs = math.Max(maxs, scores[j])
				}
				var sum float64
				for j := range scores {
					scores[j] = math.Exp(scores[j] - maxs)
					sum += scores[j]
				}
				for j := range scores {
					for i := 0; i < hd; i++ {
						att[h*hd+i] += scores[j] / sum * vs[j][kh*hd+i]
					}
				}
			}
			o := r.mul(p+"attn_output.weight", att)
			for i := range x[t] {
				x[t][i] += o[i]
			}
			h := r.norm(p+"ffn_norm.weight", x[t])
			g, u := r.mul(p+"ffn_gate.weight", h), r.mul(p+"ffn_up.weight", h)
			for i := range g {
				g[i] = g[i] / (1 + math.Exp(-g[i])) * u[i]
			}
			d := r.mul(p+"ffn_down.weight", g)
			for i := range x[t] {
				x[t][i] += d[i]
			}
		}
	}
	out := make([][]float64, n)
	outName := "output.weight"
	if _, ok := r.tensors[outName]; !ok {
		outName = "token_embd.weight"
	}
	for t := 0; t < n; t++ {
		out[t] = r.mul(outName, r.norm("output_norm.weight", x[t]))
		r.addBias(out[t], "output.bias")
	}
	return out
}

// addBias adds tensor name to x when the file has it.
func (r *refModel) addBias(x []float64, name string) {
	for i, b := range r.tensors[name] {
		x[i] += b
	}
}

// greedy continues tokens by argmax (lowest id on ties) until EOS (id 2) or n tokens.
func (r *refModel) greedy(tokens []int32, n int) []int32 {
	var out []int32
	seq := append([]int32(nil), tokens...)
	for len(out) < n {
		lg := r.logits(seq)
		last := lg[len(lg)-1]
		best := 0
		for i, v := range last {
			if v > last[best] {
				best = i
			}
		}
		if best == 2 {
			break
		}
		out = append(out, int32(best))
		seq = append(seq, int32(best))
	}
	return out
}

// vecDotInput is x converted the way ggml's CPU matmul converts activations for a weight of type typ
// (its vec_dot_type): F16 and BF16 weights get float16 / bfloat16 activations (round to nearest even);
// Q8_0 weights get
// Q8_0 activations, per 32 values a float16 scale max|x|/127 and int8 values x·(127/max|x|) rounded to
// nearest even in float32, as quantize_row_q8_0's AVX code; F32 weights get x unchanged.
func vecDotInput(x []float64, typ gguf.GGMLType) []float64 {
	out := make([]float64, len(x))
	switch typ {
	case gguf.F16:
		for i, v := range x {
			out[i] = float64(gguf.F16ToF32(gguf.F32ToF16(float32(v))))
		}
	case gguf.BF16:
		for i, v := range x {
			// Round to nearest even by hand (independent of the engine's roundBF16).
			b := math.Float32bits(float32(v))
			lo := b & 0xffff
			b &^= 0xffff
			if lo > 0x8000 || lo == 0x8000 && b&0x10000 != 0 {
				b += 0x10000
			}
			out[i] = float64(math.Float32frombits(b))
		}
	case gguf.Q8_0:
		for b := 0; b < len(x); b += 32 {
			var amax float32
			for _, v := range x[b : b+32] {
				amax = max(amax, float32(math.Abs(v)))
			}
			d := float64(gguf.F16ToF32(gguf.F32ToF16(amax / 127)))
			var id float32
			if amax != 0 {
				id = 127 / amax
			}
			for i, v := range x[b : b+32] {
				q := float32(v) * id
				out[b+i] = math.RoundToEven(float64(q)) * d
			}
		}
	case gguf.Q4_0, gguf.Q5_0, gguf.Q4_1, gguf.Q5_1:
		// Q8_0, or Q8_1 whose values are Q8_0's (its extra per-block sum only feeds the weights'
		// offset term, which this float64 product takes from the values themselves).
		return vecDotInput(x, gguf.Q8_0)
	case gguf.Q4_K, gguf.Q5_K, gguf.Q6_K:
		// Q8_K: per 256 values, with m the value of largest magnitude (first of equals), iscale =
		// -127/m in float32 and int8 values min(127, round-half-even(iscale·x)) times 1/iscale.
		for b := 0; b < len(x); b += 256 {
			var m, amax float32
			for _, v := range x[b : b+256] {
				if a := float32(math.Abs(v)); a > amax {
					amax, m = a, float32(v)
				}
			}
			if amax == 0 {
				continue
			}
			iscale := -127 / m
			d := float64(1 / iscale)
			for i, v := range x[b : b+256] {
				out[b+i] = math.Min(127, math.RoundToEven(float64(iscale*float32(v)))) * d
			}
		}
	default:
		copy(out, x)
	}
	return out
}
