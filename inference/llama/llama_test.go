package llama

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

func randomTokens(rng *rand.Rand, n, vocab int) []int32 {
	out := []int32{1}
	for len(out) < n {
		out = append(out, int32(3+rng.IntN(vocab-3)))
	}
	return out
}

// maxRelErr is max |a-b| over the row, relative to the row's largest reference magnitude.
func maxRelErr(got []float32, want []float64) float64 {
	var scale, worst float64
	for _, w := range want {
		scale = math.Max(scale, math.Abs(w))
	}
	for i, w := range want {
		worst = math.Max(worst, math.Abs(float64(got[i])-w))
	}
	return worst / math.Max(scale, 1e-9)
}

func TestForwardMatchesReference(t *testing.T) {
	specs := map[string]testSpec{
		"gqa partial rope": smallSpec,
		"mha tied":         {embd: 32, layers: 3, heads: 4, kvHeads: 4, ffn: 64, ctx: 64, extraVocab: 10, tied: true, seed: 2, freqBase: 500},
		"f16 tied":         {embd: 32, layers: 2, heads: 2, kvHeads: 1, ffn: 48, ctx: 64, seed: 3, weightType: gguf.F16, tied: true},
		"f16 wide":         {embd: 64, layers: 1, heads: 4, kvHeads: 4, ffn: 72, ctx: 64, seed: 5, weightType: gguf.F16},
		"q8_0":             {embd: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, ctx: 64, seed: 4, weightType: gguf.Q8_0},
		"q8_0 tied":        {embd: 32, layers: 1, heads: 2, kvHeads: 2, ffn: 64, ctx: 64, seed: 6, weightType: gguf.Q8_0, tied: true},
		"bf16":             {embd: 48, layers: 2, heads: 4, kvHeads: 2, ffn: 64, ctx: 64, seed: 7, weightType: gguf.BF16},
		"q4_0":             {embd: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, ctx: 64, seed: 8, weightType: gguf.Q4_0},
		"q4_1 tied":        {embd: 32, layers: 1, heads: 2, kvHeads: 1, ffn: 64, ctx: 64, seed: 9, weightType: gguf.Q4_1, tied: true},
		"q5_0":             {embd: 64, layers: 1, heads: 2, kvHeads: 2, ffn: 64, ctx: 64, seed: 10, weightType: gguf.Q5_0},
		"q5_1":             {embd: 32, layers: 2, heads: 4, kvHeads: 2, ffn: 96, ctx: 64, seed: 11, weightType: gguf.Q5_1},
		"q4_k":             {embd: 256, layers: 1, heads: 4, kvHeads: 2, ffn: 256, ctx: 64, seed: 12, weightType: gguf.Q4_K},
		"q5_k tied":        {embd: 256, layers: 1, heads: 2, kvHeads: 2, ffn: 256, ctx: 64, seed: 13, weightType: gguf.Q5_K, tied: true},
		"q6_k":             {embd: 256, layers: 1, heads: 4, kvHeads: 4, ffn: 256, ctx: 64, seed: 14, weightType: gguf.Q6_K},
		"q4_k_m":           {embd: 256, layers: 1, heads: 4, kvHeads: 1, ffn: 512, ctx: 64, seed: 15, weightType: gguf.Q4_K, typeFor: q4KM},
		// Llama 3 frequency factors with a short original context, so that at these few positions the
		// factors (1 to 8, smoothed in between) change angles that matter.
		"rope freqs": {embd: 64, layers: 2, heads: 2, kvHeads: 1, ffn: 96, ctx: 64, seed: 16, freqBase: 5000,
			ropeFreqs: llama3RopeFreqs(32, 5000, 8, 1, 4, 64)},
		"rope linear": {embd: 48, layers: 2, heads: 3, kvHeads: 3, ffn: 64, ctx: 64, seed: 17, weightType: gguf.F16,
			extraKV: map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(4)}},
		"qwen2":           {arch: "qwen2", embd: 64, layers: 2, heads: 4, kvHeads: 2, ffn: 96, ctx: 64, seed: 18, qkvBias: true, outBias: true, freqBase: 1e6},
		"qwen2 q8_0 tied": {arch: "qwen2", embd: 64, layers: 2, heads: 2, kvHeads: 1, ffn: 96, ctx: 64, seed: 19, qkvBias: true, tied: true, weightType: gguf.Q8_0},
		"llama qkv bias":  {embd: 48, layers: 1, heads: 3, kvHeads: 1, ffn: 64, ctx: 64, seed: 20, qkvBias: true},
	}
	for name, spec := range specs {
		t.Run(name, func(t *testing.T) {
			b := buildTestModel(t, spec)
			m, err := LoadBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			ref := newRefModel(t, b)
			rng := rand.New(rand.NewPCG(spec.seed, 99))
			tokens := randomTokens(rng, 24, m.info.Vocab)
			want := ref.logits(tokens)
			for _, threads := range []int{1, 3} {
				st := m.newState(len(tokens), threads)
				got := st.forward(tokens, true)
				errs := make([]float64, len(tokens))
				for pos := range tokens {
					errs[pos] = maxRelErr(got[pos*m.info.Vocab:(pos+1)*m.info.Vocab], want[pos])
				}
				checkForwardErrors(t, fmt.Sprintf("threads %d", threads), spec.weightType, errs)
			}
			// One token at a time: the single-token kernels and the KV cache.
			st := m.newState(len(tokens), 2)
			errs := make([]float64, len(tokens))
			for pos, id := range tokens {
				errs[pos] = maxRelErr(st.forward([]int32{id}, false), want[pos])
			}
			checkForwardErrors(t, "incremental", spec.weightType, errs)
		})
	}
}

// checkForwardErrors checks the per-position relative errors against the float64 reference. F32
// weights: every position within 1e-4. F16, BF16, Q8_0 and the 4- to 6-bit formats multiply
// activations rounded or quantized (Q8_0, Q8_1, Q8_K) as llama.cpp does (vecDotInput, mulQ8_1); a
// float32 activation that lies within float32 noise of a rounding boundary can round the other way
// than the float64 reference's, moving that position by up to ~1e-4 (F16) or ~1e-3 (BF16, Q8_0), or
// ~3e-3 with 4- to 6-bit weights (measured 2.9e-3, Q4_0 with the portable kernels). Such flips are
// rare, so the median position must still be within 1e-5 (without the rounding it would be ~1e-4 to
// 5e-3) and every position within 2e-3, or 5e-3 for the 4- to 6-bit formats.
func checkForwardErrors(t *testing.T, what string, typ gguf.GGMLType, errs []float64) {
	t.Helper()
	limit := 1e-4
	if typ != gguf.F32 {
		limit = 2e-3
		if _, ok := quantKinds[typ]; ok {
			limit = 5e-3
		}
		sorted := slices.Clone(errs)
		slices.Sort(sorted)
		if med := sorted[len(sorted)/2]; med > 1e-5 {
			t.Fatalf("%s: median relative error %g over %d positions", what, med, len(errs))
		}
	}
	for pos, e := range errs {
		if e > limit {
			t.Fatalf("%s position %d: relative error %g", what, pos, e)
		}
	}
}

func TestKVCacheMatchesFullRecompute(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	rng := rand.New(rand.NewPCG(5, 5))
	tokens := randomTokens(rng, 40, m.info.Vocab)
	full := m.newState(len(tokens), 2)
	all := append([]float32(nil), full.forward(tokens, true)...)
	// Prompt chunks of varying size, then single tokens, like a generation.
	st := m.newState(len(tokens), 2)
	for i := 0; i < len(tokens); {
		n := 1
		if i < 20 {
			n = 1 + i%7
		}
		n = min(n, len(tokens)-i)
		got := st.forward(tokens[i:i+n], false)
		last := i + n - 1
		want := all[last*m.info.Vocab : (last+1)*m.info.Vocab]
		for j := range got {
			if d := math.Abs(float64(got[j] - want[j])); d > 1e-4*(1+math.Abs(float64(want[j]))) {
				t.Fatalf("position %d logit %d: cached %v, full %v", last, j, got[j], want[j])
			}
		}
		i += n
	}
}

func TestGreedyMatchesReference(t *testing.T) {
	spec := smallSpec
	b := buildTestModel(t, spec)
	m, err := LoadBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	ref := newRefModel(t, b)
	prompt := "hello world"
	promptTokens := m.Tokenizer().Encode(prompt, true)
	want := ref.greedy(promptTokens, 20)
	var got []int32
	res, err := m.GenerateTokens(context.Background(), promptTokens, GenerateOptions{MaxTokens: 20}, func(id int32) error {
		got = append(got, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("got %d tokens %v, reference %v", len(got), got, want)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("token %d: got %d, reference %d (%v vs %v)", i, got[i], want[i], got, want)
		}
	}
	if res.PromptTokens != len(promptTokens) || res.CompletionTokens != len(got) {
		t.Fatalf("usage %+v", res)
	}
	// Same through the text API, twice: deterministic.
	var texts []string
	for i := 0; i < 2; i++ {
		r, err := m.Generate(context.Background(), prompt, GenerateOptions{MaxTokens: 20, AddBOS: true, Threads: 1 + i}, nil)
		if err != nil {
			t.Fatal(err)
		}
		texts = append(texts, r.Text)
	}
	var sb strings.Builder
	for _, id := range want {
		sb.WriteString(m.Tokenizer().Piece(id))
	}
	wantText := sanitize(sb.String())
	if texts[0] != texts[1] || !utf8.ValidString(texts[0]) {
		t.Fatalf("greedy not deterministic: %q vs %q", texts[0], texts[1])
	}
	if texts[0] != wantText {
		t.Fatalf("text %q, reference pieces %q", texts[0], wantText)
	}
}

func TestArgmaxTies(t *testing.T) {
	if got := argmax([]float32{1, 3, 3, 2}); got != 1 {
		t.Fatalf("argmax tie picked %d", got)
	}
	s := newSampler(GenerateOptions{}, 4)
	if got := s.sample([]float32{0, 5, 5, 5}); got != 1 {
		t.Fatalf("greedy tie picked %d", got)
	}
}

func TestSampling(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	ctx := context.Background()
	gen := func(opts GenerateOptions) Result {
		t.Helper()
		opts.AddBOS = true
		if opts.MaxTokens == 0 {
			opts.MaxTokens = 30
		}
		r, err := m.Generate(ctx, "the", opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	a := gen(GenerateOptions{Temperature: 1.5, TopP: 0.95, Seed: 42})
	b := gen(GenerateOptions{Temperature: 1.5, TopP: 0.95, Seed: 42, Threads: 1})
	if a != b {
		t.Fatalf("same seed, different output:\n%+v\n%+v", a, b)
	}
	distinct := map[string]bool{}
	for seed := uint64(0); seed < 6; seed++ {
		distinct[gen(GenerateOptions{Temperature: 1.5, Seed: seed}).Text] = true
	}
	if len(distinct) < 3 {
		t.Fatalf("6 seeds gave only %d distinct outputs", len(distinct))
	}
	// A tiny nucleus keeps only the most likely token: the same as greedy.
	if g, n := gen(GenerateOptions{}), gen(GenerateOptions{Temperature: 1, TopP: 1e-6, Seed: 9}); g != n {
		t.Fatalf("top_p→0 differs from greedy:\n%+v\n%+v", g, n)
	}
}

func TestSamplerDistribution(t *testing.T) {
	// Logits log(0.5), log(0.3), log(0.2): frequencies must follow, and top_p 0.7 keeps the first two.
	logits := []float32{float32(math.Log(0.5)), float32(math.Log(0.3)), float32(math.Log(0.2))}
	count := func(topP float32) [3]int {
		s := newSampler(GenerateOptions{Temperature: 1, TopP: topP, Seed: 1}, 3)
		var c [3]int
		for i := 0; i < 20000; i++ {
			c[s.sample(logits)]++
		}
		return c
	}
	c := count(1)
	for i, p := range []float64{0.5, 0.3, 0.2} {
		if f := float64(c[i]) / 20000; math.Abs(f-p) > 0.02 {
			t.Fatalf("token %d frequency %v, want %v", i, f, p)
		}
	}
	c = count(0.7)
	if c[2] != 0 || math.Abs(float64(c[0])/20000-0.625) > 0.02 {
		t.Fatalf("top_p 0.7 counts %v", c)
	}
}

func TestStopSequences(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	ctx := context.Background()
	base, err := m.Generate(ctx, "hello", GenerateOptions{MaxTokens: 40, AddBOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Find the token boundaries of the greedy output to pick a stop that spans two tokens.
	var pieces []string
	if _, err := m.GenerateTokens(ctx, m.Tokenizer().Encode("hello", true), GenerateOptions{MaxTokens: 40}, func(id int32) error {
		pieces = append(pieces, m.Tokenizer().Piece(id))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	var offset int
	var stop string
	for i := 0; i+1 < len(pieces); i++ {
		offset += len(pieces[i])
		if i >= 3 && len(pieces[i]) >= 1 && len(pieces[i+1]) >= 1 && utf8.ValidString(pieces[i]) && utf8.ValidString(pieces[i+1]) {
			stop = pieces[i][len(pieces[i])-1:] + pieces[i+1][:1]
			offset -= 1
			break
		}
	}
	if stop == "" {
		t.Fatalf("no usable token boundary in %q", pieces)
	}
	cut := strings.Index(base.Text, stop)
	var streamed strings.Builder
	res, err := m.Generate(ctx, "hello", GenerateOptions{MaxTokens: 40, AddBOS: true, Stop: []string{"never-appears", stop}}, func(d string) error {
		streamed.WriteString(d)
		if strings.Contains(streamed.String(), stop) {
			t.Errorf("streamed text contains the stop sequence: %q", streamed.String())
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Text != base.Text[:cut] || streamed.String() != res.Text || res.FinishReason != FinishStop {
		t.Fatalf("stop %q (first at %d, boundary at %d): got %+v streamed %q, full %q", stop, cut, offset, res, streamed.String(), base.Text)
	}
}

func TestTextStream(t *testing.T) {
	type step struct {
		piece string
		want  string // delta released after this piece
	}
	cases := []struct {
		name    string
		stops   []string
		steps   []step
		final   string // released by finish
		text    string
		stopped bool
	}{
		{"plain", nil, []step{{"Hel", "Hel"}, {"lo", "lo"}}, "", "Hello", false},
		{"stop across pieces", []string{"o w"}, []step{{"Hell", "Hell"}, {"o", ""}, {" wor", ""}}, "", "Hell", true},
		{"false start released", []string{"o w"}, []step{{"Hello", "Hell"}, {" there", "o there"}}, "", "Hello there", false},
		{"partial at end released by finish", []string{"abc"}, []step{{"xab", "x"}}, "ab", "xab", false},
		{"utf8 split", nil, []step{{"a\xc3", "a"}, {"\xa9\xf0\x9f", "é"}, {"\x98\x80", "😀"}}, "", "aé😀", false},
		{"invalid byte", nil, []step{{"a\xffb", "a\uFFFDb"}}, "", "a\uFFFDb", false},
		{"incomplete at end", nil, []step{{"a\xe2\x82", "a"}}, "\uFFFD", "a\uFFFD", false},
		{"earliest of two stops", []string{"cd", "bcx"}, []step{{"abcd", "ab"}}, "", "ab", true},
		{"stop made of two halves of a char", []string{"é!"}, []step{{"x\xc3", "x"}, {"\xa9", ""}, {"!", ""}}, "", "x", true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			ts := newTextStream(c.stops, func(d string) error {
				if !utf8.ValidString(d) || d == "" {
					t.Errorf("bad delta %q", d)
				}
				got = append(got, d)
				return nil
			})
			stopped := false
			for i, s := range c.steps {
				n := len(got)
				st, err := ts.add(s.piece)
				if err != nil {
					t.Fatal(err)
				}
				if strings.Join(got[n:], "") != s.want {
					t.Fatalf("step %d: released %q, want %q", i, strings.Join(got[n:], ""), s.want)
				}
				if st {
					stopped = true
					break
				}
			}
			if !stopped {
				n := len(got)
				st, err := ts.finish()
				if err != nil {
					t.Fatal(err)
				}
				stopped = st
				if strings.Join(got[n:], "") != c.final {
					t.Fatalf("finish released %q, want %q", strings.Join(got[n:], ""), c.final)
				}
			}
			if ts.text() != c.text || strings.Join(got, "") != c.text || stopped != c.stopped {
				t.Fatalf("text %q streamed %q stopped %v; want %q %v", ts.text(), strings.Join(got, ""), stopped, c.text, c.stopped)
			}
		})
	}
}

func TestStreamingEqualsNonStreaming(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	ctx := context.Background()
	for _, opts := range []GenerateOptions{
		{MaxTokens: 50, AddBOS: true},
		{MaxTokens: 50, AddBOS: true, Temperature: 1.2, TopP: 0.9, Seed: 7, Stop: []string{"e"}},
		{MaxTokens: 50, AddBOS: true, Temperature: 2, Seed: 3},
	} {
		plain, err := m.Generate(ctx, "the world", opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		var sb strings.Builder
		streamed, err := m.Generate(ctx, "the world", opts, func(d string) error {
			if !utf8.ValidString(d) {
				t.Errorf("invalid UTF-8 delta %q", d)
			}
			sb.WriteString(d)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if plain != streamed || sb.String() != plain.Text {
			t.Fatalf("plain %+v\nstreamed %+v (%q)", plain, streamed, sb.String())
		}
		if plain.FinishReason == FinishLength && plain.CompletionTokens != opts.MaxTokens {
			t.Fatalf("length finish after %d tokens", plain.CompletionTokens)
		}
	}
}

func TestContextLength(t *testing.T) {
	m := loadTestModel(t, smallSpec) // context 96
	ctx := context.Background()
	prompt := strings.Repeat("x", 60) // "▁" + 60 byte tokens + BOS = 62 tokens
	n := len(m.Tokenizer().Encode(prompt, true))
	_, err := m.Generate(ctx, prompt, GenerateOptions{MaxTokens: 96 - n + 1, AddBOS: true}, nil)
	if !errors.Is(err, ErrContextLength) {
		t.Fatalf("got %v", err)
	}
	for _, s := range []string{"62", "35", "97", "96"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not mention %s", err, s)
		}
	}
	// Exactly filling the context works and finishes by length (or EOS).
	res, err := m.Generate(ctx, prompt, GenerateOptions{MaxTokens: 96 - n, AddBOS: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason == FinishLength && res.PromptTokens+res.CompletionTokens != 96 {
		t.Fatalf("%+v", res)
	}
	// MaxTokens 0: up to the context.
	res, err = m.Generate(ctx, prompt, GenerateOptions{AddBOS: true}, nil)
	if err != nil || res.PromptTokens+res.CompletionTokens > 96 {
		t.Fatalf("%+v %v", res, err)
	}
	if _, err := m.Generate(ctx, strings.Repeat("x", 200), GenerateOptions{AddBOS: true}, nil); !errors.Is(err, ErrContextLength) {
		t.Fatalf("long prompt: %v", err)
	}
	if _, err := m.Generate(ctx, "a", GenerateOptions{MaxTokens: 1, Stop: []string{"\xbf"}}, nil); !errors.Is(err, ErrInput) {
		t.Fatalf("invalid stop: %v", err)
	}
	if _, err := m.Generate(ctx, "", GenerateOptions{}, nil); !errors.Is(err, ErrInput) {
		t.Fatalf("empty prompt: %v", err)
	}
	if _, err := m.GenerateTokens(ctx, []int32{1, 99999}, GenerateOptions{MaxTokens: 1}, nil); !errors.Is(err, ErrInput) {
		t.Fatalf("bad token: %v", err)
	}
}

func TestCancel(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	res, err := m.GenerateTokens(ctx, []int32{1}, GenerateOptions{MaxTokens: 50, Temperature: 1}, func(int32) error {
		n++
		if n == 3 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || res.CompletionTokens != 3 {
		t.Fatalf("%+v %v", res, err)
	}
	stopErr := errors.New("client gone")
	_, err = m.Generate(context.Background(), "a", GenerateOptions{MaxTokens: 50, Temperature: 1}, func(string) error { return stopErr })
	if !errors.Is(err, stopErr) {
		t.Fatalf("callback error: %v", err)
	}
}

func TestInfo(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	in := m.Info()
	if in.Architecture != "llama" || in.Name != "test" || in.ContextLength != 96 || in.Embedding != 48 || in.Layers != 2 ||
		in.Heads != 6 || in.KVHeads != 2 || in.FFN != 80 || in.Vocab != m.Tokenizer().VocabSize() || in.RopeDim != 6 ||
		in.HeadDim != 8 || in.FileType != "F32" || in.TiedOutput || in.RopeFreqBase != 10000 {
		t.Fatalf("%+v", in)
	}
	var params int64 = int64(in.Vocab*48*2 + 2*(48*48*2+48*16*2+3*48*80+2*48) + 48)
	if in.Params != params {
		t.Fatalf("params %d, want %d", in.Params, params)
	}
}

// sanitize replaces each byte that does not start a valid UTF-8 sequence with U+FFFD.
func sanitize(s string) string {
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			sb.WriteRune(utf8.RuneError)
		} else {
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	return sb.String()
}

// Past the initial KV cache allocation (256 positions) and the prompt batch size (64), cached decoding
// still equals one full batch.
func TestLongSequence(t *testing.T) {
	spec := smallSpec
	spec.ctx = 700
	m := loadTestModel(t, spec)
	rng := rand.New(rand.NewPCG(8, 8))
	tokens := randomTokens(rng, 600, m.info.Vocab)
	full := m.newState(len(tokens), 2)
	all := append([]float32(nil), full.forward(tokens, true)...)
	vocab := m.info.Vocab
	check := func(pos int, got []float32) {
		t.Helper()
		want := all[pos*vocab : (pos+1)*vocab]
		for j := range got {
			if d := math.Abs(float64(got[j] - want[j])); d > 1e-4*(1+math.Abs(float64(want[j]))) {
				t.Fatalf("position %d logit %d: %v, full batch %v", pos, j, got[j], want[j])
			}
		}
	}
	got, err := m.Logits(tokens[:300]) // five prompt batches
	if err != nil {
		t.Fatal(err)
	}
	check(299, got)
	st := m.newState(len(tokens), 1)
	st.forward(tokens[:250], false)
	for i := 250; i < len(tokens); i++ {
		check(i, st.forward(tokens[i:i+1], false))
	}
}

// The heap-based nucleus equals the prefix of a full sort (probability descending, id ascending).
func TestNucleusMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(4, 4))
	for iter := 0; iter < 200; iter++ {
		n := 1 + rng.IntN(300)
		topP := float32(rng.Float64())
		s := newSampler(GenerateOptions{Temperature: 1, TopP: topP}, n)
		var sum float64
		for i := range s.probs {
			s.probs[i] = float32(rng.IntN(8)) / 8 // many ties
			if i == 0 {
				s.probs[i] = 1
			}
			sum += float64(s.probs[i])
			s.idx[i] = int32(i)
		}
		order := make([]int32, n)
		for i := range order {
			order[i] = int32(i)
		}
		slices.SortStableFunc(order, func(a, b int32) int { return cmp.Compare(s.probs[b], s.probs[a]) })
		var cum float64
		want := order
		for i, id := range order {
			cum += float64(s.probs[id])
			if cum >= float64(topP)*sum {
				want = order[:i+1]
				break
			}
		}
		got, mass := s.nucleus(sum)
		if !slices.Equal(got, want) || math.Abs(mass-cum) > 1e-9 {
			t.Fatalf("n=%d topP=%v: nucleus %v (mass %v), sorted prefix %v (mass %v)", n, topP, got, mass, want, cum)
		}
	}
}

// One Model serves concurrent generations (each has its own cache), with the same results as in turn.
func TestConcurrentGenerate(t *testing.T) {
	m := loadTestModel(t, smallSpec)
	opts := func(i int) GenerateOptions {
		return GenerateOptions{MaxTokens: 20, Temperature: 1, Seed: uint64(i), AddBOS: true, Threads: 2}
	}
	want := make([]Result, 4)
	for i := range want {
		r, err := m.Generate(context.Background(), "the", opts(i), nil)
		if err != nil {
			t.Fatal(err)
		}
		want[i] = r
	}
	got := make([]Result, 4)
	errs := make([]error, 4)
	var wg sync.WaitGroup
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got[i], errs[i] = m.Generate(context.Background(), "the", opts(i), nil)
		}()
	}
	wg.Wait()
	for i := range got {
		if errs[i] != nil || got[i] != want[i] {
			t.Fatalf("generation %d: %+v %v, sequential %+v", i, got[i], errs[i], want[i])
		}
	}
}

// FuzzTextStream: whatever the pieces and stop sequences, the deltas are valid UTF-8 and concatenate to
// the final text, which holds no stop sequence and is a prefix of the whole output.
func FuzzTextStream(f *testing.F) {
	f.Add("Hel|lo wor|ld", "o w", "xyz")
	f.Add("a\xc3|\xa9b|\xf0\x9f|\x98\x80", "é", "b\xf0")
	f.Add("abc|abd|ab", "abd", "bca")
	f.Fuzz(func(t *testing.T, pieces, stop1, stop2 string) {
		var stops []string
		for _, s := range []string{stop1, stop2} {
			if s != "" && utf8.ValidString(s) {
				stops = append(stops, s)
			}
		}
		var streamed strings.Builder
		ts := newTextStream(stops, func(d string) error {
			if !utf8.ValidString(d) {
				t.Fatalf("invalid delta %q", d)
			}
			streamed.WriteString(d)
			return nil
		})
		all := ""
		stopped := false
		for _, p := range strings.Split(pieces, "|") {
			all += p
			st, err := ts.add(p)
			if err != nil {
				t.Fatal(err)
			}
			if st {
				stopped = true
				break
			}
		}
		if !stopped {
			if _, err := ts.finish(); err != nil {
				t.Fatal(err)
			}
		}
		text := ts.text()
		if streamed.String() != text {
			t.Fatalf("streamed %q, text %q", streamed.String(), text)
		}
		for _, s := range stops {
			if strings.Contains(text, s) {
				t.Fatalf("text %q contains stop %q", text, s)
			}
		}
		if full := sanitize(all); !strings.HasPrefix(full, text) && !strings.HasPrefix(full+"\uFFFD", text) {
			t.Fatalf("text %q is not a prefix of the output %q", text, full)
		}
	})
}

// A turn-ending token that is not EOS (tokenizer.ggml.eot_token_id, e.g. Llama 3's <|eot_id|>) ends
// generation like EOS does, and is not counted or printed.
func TestGenerateStopsAtEndOfTurnToken(t *testing.T) {
	ctx := context.Background()
	opts := GenerateOptions{MaxTokens: 8, AddBOS: true}
	var first int32 = -1
	res, err := loadTestModel(t, smallSpec).GenerateTokens(ctx, []int32{1, 300}, opts, func(id int32) error {
		if first < 0 {
			first = id
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if first < 0 || first == 2 || res.FinishReason != FinishLength {
		t.Fatalf("the plain model should generate 8 tokens, not EOS first: first %d, %+v", first, res)
	}
	spec := smallSpec
	spec.extraKV = map[string]any{"tokenizer.ggml.eot_token_id": uint32(first)}
	res, err = loadTestModel(t, spec).GenerateTokens(ctx, []int32{1, 300}, opts, func(id int32) error {
		t.Fatalf("token %d generated after the end-of-turn token", id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.FinishReason != FinishStop || res.CompletionTokens != 0 {
		t.Fatalf("want a stop before any token, got %+v", res)
	}
}
