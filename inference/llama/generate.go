package llama

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"unicode/utf8"
)

// GenerateOptions controls one generation.
type GenerateOptions struct {
	// MaxTokens is the most tokens to generate; <= 0 means until the context is full.
	MaxTokens int
	// Temperature 0 (or less) is greedy decoding: the most likely token, lowest id on ties.
	Temperature float32
	// TopP keeps the smallest set of most likely tokens whose probability reaches TopP (nucleus
	// sampling); <= 0 or >= 1 keeps all tokens.
	TopP float32
	// Seed makes sampling deterministic: the same seed, prompt and options give the same output.
	Seed uint64
	// Stop sequences (non-empty, valid UTF-8) end generation when they appear in the output text;
	// they are not included in it.
	Stop []string
	// AddBOS puts the BOS token in front of the prompt when the model asks for one
	// (tokenizer.ggml.add_bos_token, true for llama models).
	AddBOS bool
	// Threads is the number of goroutines for the matrix products; <= 0 means GOMAXPROCS.
	Threads int
}

// Result summarises a generation.
type Result struct {
	// Text is the generated text (without a stop sequence that ended it), valid UTF-8.
	Text             string
	PromptTokens     int
	CompletionTokens int
	// FinishReason is "stop" (EOS or a stop sequence) or "length" (MaxTokens or the context is full).
	FinishReason string
}

// Finish reasons.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// Generate continues prompt. onText, when not nil, receives the text as it is produced: only text that
// can no longer become part of a stop sequence, only whole UTF-8 characters; the deltas concatenate to
// Result.Text. An error from onText or ctx ends generation and is returned with the partial result.
func (m *Model) Generate(ctx context.Context, prompt string, opts GenerateOptions, onText func(delta string) error) (Result, error) {
	tokens := m.tok.Encode(prompt, opts.AddBOS)
	return m.run(ctx, tokens, opts, nil, onText)
}

// GenerateTokens continues a tokenized prompt (opts.AddBOS is ignored: put BOS in promptTokens), calling
// onToken with each generated token id (EOS excluded). Stop sequences end generation and are trimmed from
// Result.Text, but the tokens that formed them have already been passed to onToken.
func (m *Model) GenerateTokens(ctx context.Context, promptTokens []int32, opts GenerateOptions, onToken func(id int32) error) (Result, error) {
	return m.run(ctx, promptTokens, opts, onToken, nil)
}

// GenerateTokensText continues a tokenized prompt (opts.AddBOS is ignored: put BOS in promptTokens),
// streaming text to onText exactly as Generate does. For prompts that are not plain text: a chat
// template's rendering with its control tokens already parsed.
func (m *Model) GenerateTokensText(ctx context.Context, promptTokens []int32, opts GenerateOptions, onText func(delta string) error) (Result, error) {
	return m.run(ctx, promptTokens, opts, nil, onText)
}

// GenerateTokensTextCounted is GenerateTokensText whose onText also receives the number of completion
// tokens generated so far: those whose text the delta completes, and any whose text is still held back
// (a possible stop sequence, an incomplete UTF-8 character). The provider meters delivered text with it.
func (m *Model) GenerateTokensTextCounted(ctx context.Context, promptTokens []int32, opts GenerateOptions, onText func(delta string, completionTokens int) error) (Result, error) {
	n := 0
	return m.run(ctx, promptTokens, opts, func(int32) error { n++; return nil }, func(d string) error { return onText(d, n) })
}

// checkContext validates the request size and returns the number of tokens to generate.
func (m *Model) checkContext(promptTokens, maxTokens int) (int, error) {
	ctxLen := m.info.ContextLength
	if promptTokens == 0 {
		return 0, fmt.Errorf("%w: the prompt is empty (no tokens)", ErrInput)
	}
	if maxTokens <= 0 {
		if promptTokens >= ctxLen {
			return 0, fmt.Errorf("%w: the prompt has %d tokens, the model's context holds %d, leaving no room to generate", ErrContextLength, promptTokens, ctxLen)
		}
		return ctxLen - promptTokens, nil
	}
	if promptTokens+maxTokens > ctxLen {
		return 0, fmt.Errorf("%w: the prompt has %d tokens and max tokens is %d, together %d, but the model's context holds %d", ErrContextLength, promptTokens, maxTokens, promptTokens+maxTokens, ctxLen)
	}
	return maxTokens, nil
}

func (m *Model) run(ctx context.Context, prompt []int32, opts GenerateOptions, onToken func(int32) error, onText func(string) error) (Result, error) {
	res := Result{PromptTokens: len(prompt)}
	maxNew, err := m.checkContext(len(prompt), opts.MaxTokens)
	if err != nil {
		return res, err
	}
	if err := m.checkTokens(prompt); err != nil {
		return res, err
	}
	if math.IsNaN(float64(opts.Temperature)) || math.IsNaN(float64(opts.TopP)) {
		return res, fmt.Errorf("%w: temperature and top_p must be numbers", ErrInput)
	}
	for _, s := range opts.Stop {
		if s == "" {
			return res, fmt.Errorf("%w: empty stop sequence", ErrInput)
		}
		// The output is always valid UTF-8, so an invalid stop could only match inside a character.
		if !utf8.ValidString(s) {
			return res, fmt.Errorf("%w: stop sequence %q is not valid UTF-8", ErrInput, s)
		}
	}
	threads := opts.Threads
	if threads <= 0 {
		threads = runtime.GOMAXPROCS(0)
	}
	// More goroutines than cores only adds overhead; the cap keeps a bad setting harmless.
	threads = min(threads, 4*runtime.NumCPU())
	if err := ctx.Err(); err != nil {
		return res, err
	}
	// The last generated token is never fed back, so the cache needs one slot less than the total.
	st := m.newState(len(prompt)+maxNew-1, threads)
	smp := newSampler(opts, m.info.Vocab)
	out := newTextStream(opts.Stop, onText)

	// The prompt goes through in batches: batching reuses each weight row across tokens, and bounded
	// batches bound the scratch memory and let a cancellation interrupt a long prompt.
	var logits []float32
	for i := 0; i < len(prompt); i += promptBatch {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		logits = st.forward(prompt[i:min(i+promptBatch, len(prompt))], false)
	}
	res.FinishReason = FinishLength
	for res.CompletionTokens < maxNew {
		id := smp.sample(logits)
		// End of generation: EOS, or a turn-ending token such as <|eot_id|> / <|im_end|> (llama.cpp's
		// llama_vocab_is_eog), which chat models emit instead of EOS.
		if m.tok.IsEOG(id) {
			res.FinishReason = FinishStop
			break
		}
		res.CompletionTokens++
		if onToken != nil {
			if err := onToken(id); err != nil {
				res.Text = out.text()
				return res, err
			}
		}
		stopped, err := out.add(m.tok.Piece(id))
		if err != nil || stopped {
			res.Text = out.text()
			if stopped {
				res.FinishReason = FinishStop
			}
			return res, err
		}
		if res.CompletionTokens == maxNew {
			break
		}
		if err := ctx.Err(); err != nil {
			res.Text = out.text()
			return res, err
		}
		logits = st.forward([]int32{id}, false)
	}
	stopped, err := out.finish()
	if stopped {
		res.FinishReason = FinishStop
	}
	res.Text = out.text()
	return res, err
}

// promptBatch is the most prompt tokens evaluated in one forward pass.
const promptBatch = 64

// sampler picks the next token from logits.
type sampler struct {
	temp, topP float32
	rng        *rand.Rand
	idx        []int32
	probs      []float32
}

func newSampler(opts GenerateOptions, vocab int) *sampler {
	s := &sampler{temp: opts.Temperature, topP: opts.TopP}
	if s.temp > 0 {
		s.rng = rand.New(rand.NewPCG(opts.Seed, opts.Seed^0x9e3779b97f4a7c15))
		s.idx = make([]int32, vocab)
		s.probs = make([]float32, vocab)
	}
	return s
}

func argmax(v []float32) int32 {
	best := 0
	for i, x := range v {
		if x > v[best] {
			best = i
		}
	}
	return int32(best)
}

func (s *sampler) sample(logits []float32) int32 {
	if s.temp <= 0 {
		return argmax(logits)
	}
	maxv := logits[argmax(logits)]
	var sum float64
	for i, l := range logits {
		p := float32(math.Exp(float64((l - maxv) / s.temp)))
		s.probs[i] = p
		sum += float64(p)
		s.idx[i] = int32(i)
	}
	keep := s.idx
	if s.topP > 0 && s.topP < 1 {
		keep, sum = s.nucleus(sum)
	}
	r := s.rng.Float64() * sum
	for _, id := range keep {
		r -= float64(s.probs[id])
		if r < 0 {
			return id
		}
	}
	return keep[len(keep)-1] // rounding left r >= 0: the last kept token
}

// before orders tokens for the nucleus: more likely first, lower id first on ties (deterministic).
func (s *sampler) before(a, b int32) bool {
	pa, pb := s.probs[a], s.probs[b]
	return pa > pb || pa == pb && a < b
}

// nucleus returns the smallest most-likely-first prefix of the tokens whose probability mass reaches
// topP of sum, and that mass. A heap yields tokens in order without sorting the whole vocabulary: the
// nucleus is usually a few tokens.
func (s *sampler) nucleus(sum float64) ([]int32, float64) {
	h := s.idx
	n := len(h)
	down := func(i, n int) {
		for {
			c := 2*i + 1
			if c >= n {
				return
			}
			if c+1 < n && s.before(h[c+1], h[c]) {
				c++
			}
			if !s.before(h[c], h[i]) {
				return
			}
			h[i], h[c] = h[c], h[i]
			i = c
		}
	}
	for i := n/2 - 1; i >= 0; i-- {
		down(i, n)
	}
	// Popping moves each maximum to the end of h, so the kept tokens collect in h[n-k:] in reverse.
	target := float64(s.topP) * sum
	var cum float64
	k := 0
	for k < n {
		top := h[0]
		cum += float64(s.probs[top])
		k++
		h[0], h[n-k] = h[n-k], top
		if cum >= target {
			break
		}
		down(0, n-k)
	}
	keep := h[n-k:]
	slices.Reverse(keep)
	return keep, cum
}

// textStream turns token pieces into output text: whole UTF-8 characters only (invalid bytes become
// U+FFFD), stop sequences cut and removed, and text released to onText only once no stop sequence
// can still begin inside it.
type textStream struct {
	stops  []string
	onText func(string) error
	// pending holds the bytes of an incomplete UTF-8 character at the end of the output.
	pending []byte
	// buf is the output so far; INVARIANT: buf[:emitted] has been passed to onText.
	buf     []byte
	emitted int
}

// REQUIRES: stops are non-empty valid UTF-8 (then matches start and end on character boundaries).
func newTextStream(stops []string, onText func(string) error) *textStream {
	return &textStream{stops: stops, onText: onText}
}

func (ts *textStream) text() string { return string(ts.buf) }

// add appends a piece; stopped reports that a stop sequence appeared (the output now ends before it).
func (ts *textStream) add(piece string) (stopped bool, err error) {
	ts.pending = append(ts.pending, piece...)
	old := len(ts.buf)
	p := ts.pending
	for len(p) > 0 && utf8.FullRune(p) {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			ts.buf = utf8.AppendRune(ts.buf, utf8.RuneError)
		} else {
			ts.buf = append(ts.buf, p[:size]...)
		}
		p = p[size:]
	}
	ts.pending = append(ts.pending[:0], p...)
	return ts.check(old, false)
}

// finish flushes an incomplete trailing character as U+FFFD and releases all remaining text.
func (ts *textStream) finish() (stopped bool, err error) {
	old := len(ts.buf)
	if len(ts.pending) > 0 {
		ts.buf = utf8.AppendRune(ts.buf, utf8.RuneError)
		ts.pending = ts.pending[:0]
	}
	return ts.check(old, true)
}

// check looks for a stop sequence that ends in the text added after old, then releases what is safe.
func (ts *textStream) check(old int, final bool) (bool, error) {
	cut := -1
	for _, s := range ts.stops {
		from := max(0, old-len(s)+1)
		if i := strings.Index(string(ts.buf[from:]), s); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	if cut >= 0 {
		ts.buf = ts.buf[:cut]
		return true, ts.emit(cut)
	}
	if final {
		return false, ts.emit(len(ts.buf))
	}
	// Hold back the longest tail of the output that is a proper prefix of a stop sequence.
	safe := len(ts.buf)
	for _, s := range ts.stops {
		for k := min(len(s)-1, len(ts.buf)-ts.emitted); k > 0; k-- {
			if string(ts.buf[len(ts.buf)-k:]) == s[:k] {
				safe = min(safe, len(ts.buf)-k)
				break
			}
		}
	}
	for safe > ts.emitted && safe < len(ts.buf) && !utf8.RuneStart(ts.buf[safe]) {
		safe--
	}
	return false, ts.emit(safe)
}

func (ts *textStream) emit(upTo int) error {
	if upTo <= ts.emitted {
		return nil
	}
	delta := string(ts.buf[ts.emitted:upTo])
	ts.emitted = upTo
	if ts.onText == nil {
		return nil
	}
	return ts.onText(delta)
}

// Logits evaluates tokens from an empty cache and returns the logits after the last one (for checks
// and tools; generation does not need it).
func (m *Model) Logits(tokens []int32) ([]float32, error) {
	if len(tokens) == 0 {
		return nil, fmt.Errorf("%w: no tokens", ErrInput)
	}
	if len(tokens) > m.info.ContextLength {
		return nil, fmt.Errorf("%w: %d tokens, the model's context holds %d", ErrContextLength, len(tokens), m.info.ContextLength)
	}
	if err := m.checkTokens(tokens); err != nil {
		return nil, err
	}
	st := m.newState(len(tokens), runtime.GOMAXPROCS(0))
	var logits []float32
	for i := 0; i < len(tokens); i += promptBatch {
		logits = st.forward(tokens[i:min(i+promptBatch, len(tokens))], false)
	}
	return logits, nil
}

func (m *Model) checkTokens(tokens []int32) error {
	for i, id := range tokens {
		if id < 0 || int(id) >= m.info.Vocab {
			return fmt.Errorf("%w: token %d is %d, outside the %d-token vocabulary", ErrInput, i, id, m.info.Vocab)
		}
	}
	return nil
}
