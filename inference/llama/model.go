// Package llama runs llama-architecture GGUF models (and qwen2, llama's layout with Q/K/V biases and
// NEOX RoPE) on the CPU in pure Go: loading, a KV-cached forward
// pass parallelised across goroutines, and sampling (greedy, temperature + top-p) with stop sequences and
// UTF-8-safe streaming.
package llama

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"

	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/inference/tokenizer"
)

// Sentinel errors.
var (
	// ErrContextLength: the prompt plus the tokens asked for do not fit in the model's context.
	ErrContextLength = errors.New("context length exceeded")
	// ErrModel: the file is not a usable llama model (missing or mis-shaped tensors, bad hyperparameters).
	ErrModel = errors.New("invalid llama model")
	// ErrInput: bad generation input (empty prompt, token id out of range, bad options).
	ErrInput = errors.New("invalid input")
)

// Limits on hyperparameters; far above any model this engine is meant for, they keep a hostile file
// from asking for absurd buffers (the tensor sizes themselves are already bounded by the file size).
const (
	maxDim     = 1 << 16
	maxLayers  = 1 << 10
	maxVocab   = 1 << 22
	maxContext = 1 << 20
)

// Info describes a loaded model.
type Info struct {
	Architecture  string // "llama" or "qwen2"; the metadata keys below are under this prefix
	Name          string // general.name, may be empty
	ContextLength int    // llama.context_length: most tokens (prompt + completion) per sequence
	Embedding     int    // llama.embedding_length
	Layers        int    // llama.block_count
	Heads         int    // llama.attention.head_count
	KVHeads       int    // llama.attention.head_count_kv (grouped-query attention when < Heads)
	FFN           int    // llama.feed_forward_length
	Vocab         int
	HeadDim       int     // Embedding / Heads
	RopeDim       int     // llama.rope.dimension_count
	RopeFreqBase  float64 // llama.rope.freq_base
	// RopeFreqScale multiplies every RoPE angle: 1/llama.rope.scaling.factor for linear scaling
	// (position interpolation), 1 without scaling.
	RopeFreqScale float64
	// RopeFreqFactors: the file has rope_freqs.weight, per-pair divisors of the RoPE angles (Llama 3.1
	// and 3.2's "llama3" frequency scaling, baked in at conversion).
	RopeFreqFactors bool
	// RopeNeox: RoPE rotates (x[i], x[i+RopeDim/2]) (ggml's NEOX mode, qwen2) instead of adjacent pairs.
	RopeNeox bool
	// QKVBias: the attention's Q, K or V projections add a bias (qwen2's attn_{q,k,v}.bias).
	QKVBias    bool
	RMSEpsilon float64 // llama.attention.layer_norm_rms_epsilon
	Params     int64   // elements in all tensors
	FileType   string  // storage type of the attention weights, e.g. "F32", "F16", "Q8_0"
	TiedOutput bool    // output projection shares token_embd
}

// matrix is a row-major weight: rows outputs of cols inputs (GGUF ne = [cols, rows]).
// INVARIANT: exactly one of w, h, q and kq is set, holding rows*cols elements. F16 weights stay in half
// precision (h) and Q8_0 weights stay quantized (q: per row cols/32 blocks of a float16 scale and 32
// int8, ggml's layout; cols is a multiple of 32); the kernels widen them on the fly, which saves
// memory and, since generation is memory-bound, time.
type matrix struct {
	rows, cols int
	w          []float32
	h          []uint16
	q          []byte
	// kq holds a weight in one of quantKinds (qt), ggml's blocks as in the file, rows of whole blocks.
	kq []byte
	qt gguf.GGMLType
	// bf16 marks w as decoded from BF16, whose activations llama.cpp rounds to BF16 (roundActivations).
	bf16 bool
}

// q8RowBytes is the size of one Q8_0 row of cols elements.
func q8RowBytes(cols int) int { return cols / 32 * 34 }

func (m matrix) rowQ(r int) []byte {
	rb := q8RowBytes(m.cols)
	return m.q[r*rb : (r+1)*rb]
}

func (m matrix) row(r int) []float32 { return m.w[r*m.cols : (r+1)*m.cols] }

func (m matrix) rowH(r int) []uint16 { return m.h[r*m.cols : (r+1)*m.cols] }

// rowInto writes row r as float32 into dst.
func (m matrix) rowInto(dst []float32, r int) {
	switch {
	case m.h != nil:
		tab := f16Table()
		for i, v := range m.rowH(r) {
			dst[i] = tab[v]
		}
	case m.q != nil:
		// The row is whole blocks, so this cannot fail.
		_ = gguf.DecodeInto(dst[:m.cols], gguf.Q8_0, m.rowQ(r))
	case m.kq != nil:
		k := quantKinds[m.qt]
		rb := m.cols / k.blockSize * k.blockBytes
		_ = gguf.DecodeInto(dst[:m.cols], m.qt, m.kq[r*rb:(r+1)*rb])
	default:
		copy(dst, m.row(r))
	}
}

type layer struct {
	attnNorm, ffnNorm []float32
	wq, wk, wv, wo    matrix
	// bq, bk, bv are the Q/K/V biases, added before RoPE; each nil when the file has none.
	bq, bk, bv        []float32
	wGate, wUp, wDown matrix
}

// Model is a loaded model. It is immutable and safe for concurrent Generate calls (each call has its
// own KV cache and buffers).
type Model struct {
	info    Info
	tok     *tokenizer.Tokenizer
	embd    matrix // vocab rows of Embedding
	layers  []layer
	outNorm []float32
	output  matrix // vocab rows of Embedding; aliases embd when tied
	// outBias is added to the logits (qwen2's optional output.bias); nil without one.
	outBias []float32
	// ropeFreqs divides RoPE pair i's angle (llama.cpp's freq_factors); nil when the file has none.
	// INVARIANT: nil or RopeDim/2 positive finite values.
	ropeFreqs []float32
}

// Load reads a GGUF model file.
func Load(path string) (*Model, error) {
	f, err := gguf.Open(path)
	if err != nil {
		return nil, fmt.Errorf("failed to load model: %w", err)
	}
	return fromGGUF(f)
}

// LoadBytes loads a model from a GGUF file held in memory (e.g. embedded). Weights are copied out, so b
// may be reused afterwards.
func LoadBytes(b []byte) (*Model, error) {
	f, err := gguf.Read(b)
	if err != nil {
		return nil, fmt.Errorf("failed to load model: %w", err)
	}
	return fromGGUF(f)
}

// Info describes the model.
func (m *Model) Info() Info { return m.info }

// Tokenizer is the model's tokenizer.
func (m *Model) Tokenizer() *tokenizer.Tokenizer { return m.tok }

// hparam reads a positive integer hyperparameter <arch>.<key>; def < 0 makes it required.
func hparam(f *gguf.File, arch, key string, def int, limit int) (int, error) {
	key = arch + "." + key
	v, ok, err := f.Uint(key)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if !ok {
		if def < 0 {
			return 0, fmt.Errorf("%w: %s is missing", ErrModel, key)
		}
		return def, nil
	}
	if v == 0 || v > uint64(limit) {
		return 0, fmt.Errorf("%w: %s = %d is outside 1..%d", ErrModel, key, v, limit)
	}
	return int(v), nil
}

func fromGGUF(f *gguf.File) (*Model, error) {
	arch, _, err := f.String("general.architecture")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if arch != "llama" && arch != "qwen2" {
		return nil, fmt.Errorf("%w: general.architecture is %q, only \"llama\" and \"qwen2\" are supported", ErrModel, arch)
	}
	// qwen2 is llama's graph with Q/K/V biases, an optional output bias and NEOX RoPE over whole heads.
	qwen2 := arch == "qwen2"
	info := Info{Architecture: arch}
	info.Name, _, _ = f.String("general.name")
	if info.ContextLength, err = hparam(f, arch, "context_length", -1, maxContext); err != nil {
		return nil, err
	}
	if info.Embedding, err = hparam(f, arch, "embedding_length", -1, maxDim); err != nil {
		return nil, err
	}
	if info.Layers, err = hparam(f, arch, "block_count", -1, maxLayers); err != nil {
		return nil, err
	}
	if info.FFN, err = hparam(f, arch, "feed_forward_length", -1, 4*maxDim); err != nil {
		return nil, err
	}
	if info.Heads, err = hparam(f, arch, "attention.head_count", -1, maxDim); err != nil {
		return nil, err
	}
	if info.KVHeads, err = hparam(f, arch, "attention.head_count_kv", info.Heads, maxDim); err != nil {
		return nil, err
	}
	if info.Embedding%info.Heads != 0 {
		return nil, fmt.Errorf("%w: embedding length %d is not a multiple of the head count %d", ErrModel, info.Embedding, info.Heads)
	}
	if info.Heads%info.KVHeads != 0 {
		return nil, fmt.Errorf("%w: head count %d is not a multiple of the KV head count %d", ErrModel, info.Heads, info.KVHeads)
	}
	info.HeadDim = info.Embedding / info.Heads
	for _, key := range []string{"attention.key_length", "attention.value_length"} {
		if v, ok, err := f.Uint(arch + "." + key); err != nil || ok && v != uint64(info.HeadDim) {
			return nil, fmt.Errorf("%w: %s.%s = %d differs from embedding/heads = %d (unsupported)", ErrModel, arch, key, v, info.HeadDim)
		}
	}
	if info.RopeDim, err = hparam(f, arch, "rope.dimension_count", info.HeadDim, maxDim); err != nil {
		return nil, err
	}
	if info.RopeDim > info.HeadDim || info.RopeDim%2 != 0 {
		return nil, fmt.Errorf("%w: rope dimension %d must be even and at most the head size %d", ErrModel, info.RopeDim, info.HeadDim)
	}
	if qwen2 && info.RopeDim != info.HeadDim {
		// llama.cpp's qwen2 graph requires it too.
		return nil, fmt.Errorf("%w: qwen2 rope dimension %d must be the head size %d", ErrModel, info.RopeDim, info.HeadDim)
	}
	info.RopeNeox = qwen2
	info.RopeFreqBase = 10000
	if v, ok, err := f.Float(arch + ".rope.freq_base"); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	} else if ok {
		if !(v > 1) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("%w: %s.rope.freq_base = %v", ErrModel, arch, v)
		}
		info.RopeFreqBase = v
	}
	v, ok, err := f.Float(arch + ".attention.layer_norm_rms_epsilon")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: %s.attention.layer_norm_rms_epsilon is missing", ErrModel, arch)
	}
	if !(v >= 0 && v < 1) {
		return nil, fmt.Errorf("%w: %s.attention.layer_norm_rms_epsilon = %v", ErrModel, arch, v)
	}
	info.RMSEpsilon = v
	if info.RopeFreqScale, err = ropeScaling(f, arch); err != nil {
		return nil, err
	}

	tok, err := tokenizer.FromGGUF(f)
	if err != nil {
		return nil, fmt.Errorf("failed to load tokenizer: %w", err)
	}

	m := &Model{tok: tok}
	lw := loader{f: f, used: map[string]bool{}}
	m.embd = lw.matrix("token_embd.weight", info.Embedding, -1)
	info.Vocab = m.embd.rows
	if lw.err == nil && (info.Vocab > maxVocab || info.Vocab != tok.VocabSize()) {
		return nil, fmt.Errorf("%w: token_embd has %d rows but the tokenizer has %d tokens", ErrModel, info.Vocab, tok.VocabSize())
	}
	if v, ok, _ := f.Uint(arch + ".vocab_size"); ok && lw.err == nil && v != uint64(info.Vocab) {
		return nil, fmt.Errorf("%w: %s.vocab_size %d but token_embd has %d rows", ErrModel, arch, v, info.Vocab)
	}
	kvDim := info.KVHeads * info.HeadDim
	m.layers = make([]layer, info.Layers)
	for i := range m.layers {
		p := fmt.Sprintf("blk.%d.", i)
		l := &m.layers[i]
		l.attnNorm = lw.vector(p+"attn_norm.weight", info.Embedding)
		l.wq = lw.matrix(p+"attn_q.weight", info.Embedding, info.Embedding)
		l.wk = lw.matrix(p+"attn_k.weight", info.Embedding, kvDim)
		l.wv = lw.matrix(p+"attn_v.weight", info.Embedding, kvDim)
		l.wo = lw.matrix(p+"attn_output.weight", info.Embedding, info.Embedding)
		// Q/K/V biases, each optional as in llama.cpp (qwen2 files have all three; llama.cpp's llama
		// graph accepts them too).
		l.bq = lw.optionalVector(p+"attn_q.bias", info.Embedding)
		l.bk = lw.optionalVector(p+"attn_k.bias", kvDim)
		l.bv = lw.optionalVector(p+"attn_v.bias", kvDim)
		info.QKVBias = info.QKVBias || l.bq != nil || l.bk != nil || l.bv != nil
		l.ffnNorm = lw.vector(p+"ffn_norm.weight", info.Embedding)
		l.wGate = lw.matrix(p+"ffn_gate.weight", info.Embedding, info.FFN)
		l.wUp = lw.matrix(p+"ffn_up.weight", info.Embedding, info.FFN)
		l.wDown = lw.matrix(p+"ffn_down.weight", info.FFN, info.Embedding)
	}
	m.outNorm = lw.vector("output_norm.weight", info.Embedding)
	if qwen2 {
		m.outBias = lw.optionalVector("output.bias", info.Vocab)
	}
	if _, ok := f.Tensor("rope_freqs.weight"); ok && !qwen2 {
		m.ropeFreqs = lw.vector("rope_freqs.weight", info.RopeDim/2)
		for i, v := range m.ropeFreqs {
			if !(v > 0) || math.IsInf(float64(v), 0) {
				return nil, fmt.Errorf("%w: rope_freqs.weight[%d] = %v is not a positive frequency factor", ErrModel, i, v)
			}
		}
		info.RopeFreqFactors = lw.err == nil
	}
	if _, ok := f.Tensor("output.weight"); ok {
		m.output = lw.matrix("output.weight", info.Embedding, info.Vocab)
	} else {
		m.output = m.embd
		info.TiedOutput = true
	}
	if lw.err != nil {
		return nil, lw.err
	}
	// Like llama.cpp, refuse tensors the graph would not use (attention output or FFN biases, fused
	// QKV, rope_freqs on qwen2, ...): ignoring them would silently compute another model.
	for i := range f.Tensors {
		if name := f.Tensors[i].Name; !lw.used[name] {
			return nil, fmt.Errorf("%w: tensor %s is not supported for the %s architecture", ErrModel, name, arch)
		}
	}
	for i := range f.Tensors {
		info.Params += int64(f.Tensors[i].Elements())
	}
	if t, ok := f.Tensor("blk.0.attn_q.weight"); ok {
		info.FileType = t.Type.String()
	}
	m.info = info
	return m, nil
}

// ropeScaling reads the RoPE scaling metadata (<arch>.rope.*) and returns the factor every angle is
// multiplied by, as llama.cpp does for the llama and qwen2 architectures: rope.scaling.type "linear" (also when absent) multiplies by
// 1/rope.scaling.factor (or the older rope.scale_linear), "none" ignores the factor. YaRN and LongRoPE
// change the angles per dimension and the attention's magnitude, which this engine does not implement:
// they are refused, as is a rope.scaling.attn_factor other than 1. Llama 3's "llama3" scaling is not a
// type here: its converter bakes it into rope_freqs.weight.
func ropeScaling(f *gguf.File, arch string) (float64, error) {
	typ, ok, err := f.String(arch + ".rope.scaling.type")
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrModel, err)
	}
	if !ok {
		typ = "linear"
	}
	if typ != "linear" && typ != "none" {
		return 0, fmt.Errorf("%w: %s.rope.scaling.type %q is not supported (only \"none\" and \"linear\")", ErrModel, arch, typ)
	}
	factor := 0.0
	for _, key := range []string{".rope.scaling.factor", ".rope.scale_linear"} {
		key = arch + key
		v, ok, err := f.Float(key)
		if err != nil {
			return 0, fmt.Errorf("%w: %w", ErrModel, err)
		}
		if ok {
			if v < 0 || math.IsInf(v, 0) || math.IsNaN(v) || v != 0 && v < 1e-3 {
				return 0, fmt.Errorf("%w: %s = %v is not a usable RoPE scaling factor", ErrModel, key, v)
			}
			factor = v
			break
		}
	}
	if v, ok, err := f.Float(arch + ".rope.scaling.attn_factor"); err != nil {
		return 0, fmt.Errorf("%w: %w", ErrModel, err)
	} else if ok && v != 1 {
		return 0, fmt.Errorf("%w: %s.rope.scaling.attn_factor = %v is not supported (only 1)", ErrModel, arch, v)
	}
	// llama.cpp keeps the scale as float32 1/factor; a factor of 0 means none.
	if typ == "none" || factor == 0 {
		return 1, nil
	}
	return float64(1 / float32(factor)), nil
}

// loader decodes tensors to float32, remembering the first error so call sites stay flat.
type loader struct {
	f    *gguf.File
	err  error
	used map[string]bool // tensors looked up, whether or not they loaded
}

func (l *loader) tensor(name string, dims ...int) []float32 {
	l.used[name] = true
	if l.err != nil {
		return nil
	}
	t, ok := l.f.Tensor(name)
	if !ok {
		l.err = fmt.Errorf("%w: tensor %s is missing", ErrModel, name)
		return nil
	}
	if !l.shape(t, dims...) {
		return nil
	}
	v, err := t.Float32s()
	if err != nil {
		l.err = fmt.Errorf("%w: %w", ErrModel, err)
		return nil
	}
	return v
}

// shape checks t's dimensions (-1 matches any) and records an error when they differ.
func (l *loader) shape(t *gguf.TensorInfo, dims ...int) bool {
	match := len(t.Dims) == len(dims)
	for i := 0; match && i < len(dims); i++ {
		match = dims[i] < 0 || t.Dims[i] == uint64(dims[i])
	}
	if !match {
		l.err = fmt.Errorf("%w: tensor %s has shape %v, want %v", ErrModel, t.Name, t.Dims, dims)
	}
	return match
}

func (l *loader) vector(name string, n int) []float32 { return l.tensor(name, n) }

// optionalVector is vector for a tensor that may be absent (nil then).
func (l *loader) optionalVector(name string, n int) []float32 {
	if _, ok := l.f.Tensor(name); !ok {
		return nil
	}
	return l.tensor(name, n)
}

// matrix loads a weight of GGUF shape [cols, rows]; rows < 0 accepts any row count. F16, Q8_0 and
// quantKinds weights are kept as they are, other types are decoded to float32.
func (l *loader) matrix(name string, cols, rows int) matrix {
	l.used[name] = true
	if t, ok := l.f.Tensor(name); ok && t.Type == gguf.F16 && l.err == nil {
		if !l.shape(t, cols, rows) {
			return matrix{}
		}
		h := make([]uint16, len(t.Data)/2)
		for i := range h {
			h[i] = binary.LittleEndian.Uint16(t.Data[2*i:])
		}
		return matrix{rows: len(h) / cols, cols: cols, h: h}
	}
	if t, ok := l.f.Tensor(name); ok && t.Type == gguf.Q8_0 && cols%32 == 0 && l.err == nil {
		if !l.shape(t, cols, rows) {
			return matrix{}
		}
		q := append([]byte(nil), t.Data...)
		return matrix{rows: len(q) / q8RowBytes(cols), cols: cols, q: q}
	}
	if t, ok := l.f.Tensor(name); ok && l.err == nil {
		if k, ok := quantKinds[t.Type]; ok {
			if cols%k.blockSize != 0 {
				l.err = fmt.Errorf("%w: tensor %s: rows of %d values are not whole %v blocks of %d", ErrModel, name, cols, t.Type, k.blockSize)
				return matrix{}
			}
			if !l.shape(t, cols, rows) {
				return matrix{}
			}
			kq := append([]byte(nil), t.Data...)
			return matrix{rows: len(kq) / (cols / k.blockSize * k.blockBytes), cols: cols, kq: kq, qt: t.Type}
		}
	}
	w := l.tensor(name, cols, rows)
	if l.err != nil {
		return matrix{}
	}
	t, _ := l.f.Tensor(name)
	return matrix{rows: len(w) / cols, cols: cols, w: w, bf16: t.Type == gguf.BF16}
}
