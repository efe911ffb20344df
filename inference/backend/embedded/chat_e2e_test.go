package embedded

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/inference/llama"
	"github.com/cocoon-go/cocoon/inference/tokenizer"
	"github.com/cocoon-go/cocoon/models"
)

// byteLevel is GPT-2's byte-to-unicode alphabet of byte-level BPE: printable Latin-1 bytes stand for
// themselves, the others for U+0100 onwards, in byte order.
func byteLevel() [256]string {
	var out [256]string
	n := 0
	for b := 0; b < 256; b++ {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			out[b] = string(rune(b))
		} else {
			out[b] = string(rune(256 + n))
			n++
		}
	}
	return out
}

// chatModelSpec describes a random llama model with a Llama 3 style byte-level BPE vocabulary.
type chatModelSpec struct {
	template string   // tokenizer.chat_template; "" for none
	extra    []string // further control tokens (e.g. <|im_start|>)
}

// llama3Specials are the Llama 3 control tokens the test vocabulary holds after the byte tokens and merges.
var llama3Specials = []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"}

// buildChatModel writes a GGUF: 256 byte tokens, a few merges (so "system", "user", "\n\n" are single
// tokens as in Llama 3), control tokens, tiny random F32 weights.
func buildChatModel(t testing.TB, spec chatModelSpec) []byte {
	t.Helper()
	bl := byteLevel()
	var toks []string
	var types []int32
	for _, s := range bl {
		toks = append(toks, s)
		types = append(types, int32(tokenizer.Normal))
	}
	var merges []string
	merge := func(l, r string) {
		merges = append(merges, l+" "+r)
		toks = append(toks, l+r)
		types = append(types, int32(tokenizer.Normal))
	}
	for _, m := range [][2]string{{"s", "y"}, {"sy", "s"}, {"sys", "t"}, {"e", "m"}, {"syst", "em"}, {"u", "s"}, {"us", "er"}, {"e", "r"},
		{bl['\n'], bl['\n']}, {"a", "s"}, {"as", "s"}, {"i", "s"}, {"t", "a"}, {"n", "t"}, {"ass", "is"}, {"ta", "nt"}, {"assis", "tant"}, {bl[' '], "t"}} {
		merge(m[0], m[1])
	}
	for _, s := range append(slices.Clone(llama3Specials), spec.extra...) {
		toks = append(toks, s)
		types = append(types, int32(tokenizer.Control))
	}
	const embd, ffn, heads, ctx = 32, 64, 4, 512
	w := gguf.NewWriter()
	w.AddKV("general.architecture", "llama")
	w.AddKV("general.name", "chat-test")
	w.AddKV("llama.context_length", uint32(ctx))
	w.AddKV("llama.embedding_length", uint32(embd))
	w.AddKV("llama.block_count", uint32(1))
	w.AddKV("llama.feed_forward_length", uint32(ffn))
	w.AddKV("llama.attention.head_count", uint32(heads))
	w.AddKV("llama.attention.head_count_kv", uint32(heads/2))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	w.AddKV("tokenizer.ggml.model", tokenizer.ModelBPE)
	w.AddKV("tokenizer.ggml.pre", "llama-bpe")
	w.AddKV("tokenizer.ggml.tokens", toks)
	w.AddKV("tokenizer.ggml.token_type", types)
	w.AddKV("tokenizer.ggml.merges", merges)
	w.AddKV("tokenizer.ggml.bos_token_id", uint32(slices.Index(toks, "<|begin_of_text|>")))
	w.AddKV("tokenizer.ggml.eos_token_id", uint32(slices.Index(toks, "<|end_of_text|>")))
	w.AddKV("tokenizer.ggml.add_bos_token", true)
	if spec.template != "" {
		w.AddKV("tokenizer.chat_template", spec.template)
	}
	rng := rand.New(rand.NewPCG(3, 4))
	tensor := func(name string, dims ...uint64) {
		n := uint64(1)
		for _, d := range dims {
			n *= d
		}
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64()) * 0.3
			if len(dims) == 1 {
				v[i] += 1
			}
		}
		w.AddF32(name, dims, v)
	}
	vocab := uint64(len(toks))
	tensor("token_embd.weight", embd, vocab)
	tensor("blk.0.attn_norm.weight", embd)
	tensor("blk.0.attn_q.weight", embd, embd)
	tensor("blk.0.attn_k.weight", embd, embd/2)
	tensor("blk.0.attn_v.weight", embd, embd/2)
	tensor("blk.0.attn_output.weight", embd, embd)
	tensor("blk.0.ffn_norm.weight", embd)
	tensor("blk.0.ffn_gate.weight", embd, ffn)
	tensor("blk.0.ffn_up.weight", embd, ffn)
	tensor("blk.0.ffn_down.weight", ffn, embd)
	tensor("output_norm.weight", embd)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newChatBackend(t *testing.T, weights []byte, force string) (*Backend, error) {
	t.Helper()
	sum := sha256.Sum256(weights)
	return New(Config{ModelName: "chat-test", Weights: weights, ExpectedSHA256: hex.EncodeToString(sum[:]), ChatTemplate: force})
}

func readTemplate(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "chat-templates", file))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSuffix(string(b), "\n")
}

// TestChatPromptTokensLlama3 loads a GGUF carrying Llama-3.2-Instruct's chat template through the
// backend and checks the prompt is the token sequence llama.cpp's server builds: one BOS (the
// template's <|begin_of_text|> text is not tokenized a second time), each header/turn marker as its
// control token, the text between them tokenized as plain text by the (llama.cpp-checked) BPE.
func TestChatPromptTokensLlama3(t *testing.T) {
	b, err := newChatBackend(t, buildChatModel(t, chatModelSpec{template: readTemplate(t, "llama3.2.jinja")}), "")
	if err != nil {
		t.Fatal(err)
	}
	if fam, fallback := b.ChatFamily(); fam != FamilyLlama3 || fallback {
		t.Fatalf("family %s fallback %v", fam, fallback)
	}
	tok := b.model.Tokenizer()
	id := func(s string) int32 {
		i := tokIndex(t, tok, s)
		if tok.TokenType(i) != tokenizer.Control {
			t.Fatalf("%s is not a control token", s)
		}
		return i
	}
	msgs := []backend.Message{
		{Role: "system", Content: "You are terse."},
		{Role: "user", Content: "Hello, system! Ünïcödé ✓ <|eot"},
		{Role: "assistant", Content: " Hi. "},
		{Role: "user", Content: "Bye"},
	}
	var want []int32
	add := func(ids ...int32) { want = append(want, ids...) }
	text := func(s string) { add(tok.Encode(s, false)...) }
	header := func(role string) { add(id("<|start_header_id|>")); text(role); add(id("<|end_header_id|>")) }
	add(id("<|begin_of_text|>"))
	header("system")
	text("\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are terse.")
	add(id("<|eot_id|>"))
	header("user")
	text("\n\nHello, system! Ünïcödé ✓ <|eot")
	add(id("<|eot_id|>"))
	header("assistant")
	text("\n\nHi.")
	add(id("<|eot_id|>"))
	header("user")
	text("\n\nBye")
	add(id("<|eot_id|>"))
	header("assistant")
	text("\n\n")
	// The merges make the role names and "\n\n" single tokens, as in the real vocabulary.
	for _, s := range []string{"system", "user", "assistant", "\n\n"} {
		if n := len(tok.Encode(s, false)); n != 1 {
			t.Fatalf("%q is %d tokens", s, n)
		}
	}

	rendered, err := b.chat.Render(msgs)
	if err != nil {
		t.Fatal(err)
	}
	if got := b.chat.tokenize(tok, rendered); !slices.Equal(got, want) {
		t.Fatalf("prompt tokens\n got  %v\n want %v", got, want)
	}

	// Generation through the backend runs on exactly those ids: the greedy continuation equals the
	// engine's own on want, and the streamed deltas add up to its text.
	const n = 24
	eng, err := b.model.GenerateTokens(context.Background(), want, llama.GenerateOptions{MaxTokens: n, Temperature: 0}, nil)
	if err != nil {
		t.Fatal(err)
	}
	got, res, err := collect(t, b, backend.Request{Model: "chat-test", Chat: true, Messages: msgs, MaxTokens: n, Temperature: zero()})
	if err != nil {
		t.Fatal(err)
	}
	if got != eng.Text || res.Usage.PromptTokens != len(want) || res.Usage.CompletionTokens != eng.CompletionTokens || res.FinishReason != eng.FinishReason {
		t.Fatalf("backend %q %+v %s, engine %q %d tokens %s", got, res.Usage, res.FinishReason, eng.Text, eng.CompletionTokens, eng.FinishReason)
	}
	// A stop sequence from the request is honoured on this path too: cut at its first occurrence.
	if r := []rune(got); len(r) > 2 {
		stop := string(r[1:3])
		cut, _, _ := strings.Cut(got, stop)
		s, res, err := collect(t, b, backend.Request{Model: "chat-test", Chat: true, Messages: msgs, MaxTokens: n, Temperature: zero(), Stop: []string{stop}})
		if err != nil || s != cut || res.FinishReason != backend.FinishStop {
			t.Fatalf("stop %q: got %q %s %v, want %q", stop, s, res.FinishReason, err, cut)
		}
	}
}

func tokIndex(t *testing.T, tok *tokenizer.Tokenizer, s string) int32 {
	t.Helper()
	for i := range tok.VocabSize() {
		if tok.TokenText(int32(i)) == s {
			return int32(i)
		}
	}
	t.Fatalf("no token %q", s)
	return -1
}

// TestChatTemplateSelection: a GGUF without a template keeps the plain template, a template no family
// matches falls back to chatml only when the vocabulary has ChatML's tokens, and a forced family wins.
func TestChatTemplateSelection(t *testing.T) {
	if fam, _ := defaultBackend(t).ChatFamily(); fam != FamilyPlain {
		t.Fatalf("default model: %s", fam)
	}
	none, err := newChatBackend(t, buildChatModel(t, chatModelSpec{}), "")
	if err != nil {
		t.Fatal(err)
	}
	if fam, _ := none.ChatFamily(); fam != FamilyPlain {
		t.Fatalf("no template: %s", fam)
	}
	odd := "{% for m in messages %}### {{ m.role }}: {{ m.content }}\n{% endfor %}### assistant:"
	_, err = newChatBackend(t, buildChatModel(t, chatModelSpec{template: odd}), "")
	if !errors.Is(err, backend.ErrConfig) || !errors.Is(err, ErrUnknownTemplate) {
		t.Fatalf("unknown template without ChatML tokens: %v", err)
	}
	fb, err := newChatBackend(t, buildChatModel(t, chatModelSpec{template: odd, extra: []string{"<|im_start|>", "<|im_end|>"}}), "")
	if err != nil {
		t.Fatal(err)
	}
	if fam, fallback := fb.ChatFamily(); fam != FamilyChatML || !fallback {
		t.Fatalf("unknown template with ChatML tokens: %s %v", fam, fallback)
	}
	forced, err := newChatBackend(t, buildChatModel(t, chatModelSpec{template: odd}), FamilyLlama3)
	if err != nil {
		t.Fatal(err)
	}
	if fam, _ := forced.ChatFamily(); fam != FamilyLlama3 {
		t.Fatalf("forced: %s", fam)
	}
	if _, err := newChatBackend(t, models.DefaultGGUF(), "jinja"); !errors.Is(err, backend.ErrConfig) {
		t.Fatalf("bad family name: %v", err)
	}
	// The plain template is available by name for a model whose own template is unwanted.
	plain, err := newChatBackend(t, buildChatModel(t, chatModelSpec{template: readTemplate(t, "llama3.jinja")}), FamilyPlain)
	if err != nil {
		t.Fatal(err)
	}
	if p, err := plain.chat.Render([]backend.Message{{Role: "user", Content: "x"}}); err != nil || p != "User: x\nAssistant:" {
		t.Fatalf("forced plain renders %q %v", p, err)
	}
}

var chatWrite = flag.String("chat.write", "", "write the Llama 3 chat test model to this path (for tools/llamacpp-ref/chat-reference.mjs)")

// TestWriteChatModel writes the model TestChatPromptTokensLlamaCpp compares llama.cpp's tokens on.
func TestWriteChatModel(t *testing.T) {
	if *chatWrite == "" {
		t.Skip("-chat.write not set")
	}
	if err := os.WriteFile(*chatWrite, buildChatModel(t, chatModelSpec{template: readTemplate(t, "llama3.2.jinja")}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestChatPromptTokensLlamaCpp checks every reference conversation's prompt tokens against the ids
// llama.cpp built for the same model (rendered with its Jinja template, then llama_tokenize).
func TestChatPromptTokensLlamaCpp(t *testing.T) {
	ref := loadChatReference(t)
	pt := ref.PromptTokens
	if pt == nil {
		t.Fatal("the reference has no llama.cpp prompt tokens; regenerate it with tools/llamacpp-ref/chat-regen.sh")
	}
	weights := buildChatModel(t, chatModelSpec{template: readTemplate(t, "llama3.2.jinja")})
	if sum := sha256.Sum256(weights); hex.EncodeToString(sum[:]) != pt.ModelSHA256 {
		t.Fatalf("the test model changed (sha256 %x, llama.cpp saw %s): regenerate the reference", sum, pt.ModelSHA256)
	}
	b, err := newChatBackend(t, weights, "")
	if err != nil {
		t.Fatal(err)
	}
	tok := b.model.Tokenizer()
	if len(pt.Conversations) != len(ref.Conversations) {
		t.Fatalf("%d tokenized conversations for %d", len(pt.Conversations), len(ref.Conversations))
	}
	for name, want := range pt.Conversations {
		text, err := b.chat.Render(messagesOf(ref.Conversations[name]))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if got := strings.TrimPrefix(text, pt.BOS); got != want.Text {
			t.Errorf("%s: text\n got  %q\n want %q", name, got, want.Text)
		}
		if got := b.chat.tokenize(tok, text); !slices.Equal(got, want.IDs) {
			t.Errorf("%s: tokens\n got  %v\n want %v", name, got, want.IDs)
		}
	}
}
