package embedded

import (
	"encoding/json"
	"flag"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/inference/tokenizer"
)

// sdkModelWrite makes TestWriteSDKModel write the instruct-shaped model and what a client should see
// from it into a folder, for tests/openai-client/test/instruct.test.mjs. Without it that test is skipped.
var sdkModelWrite = flag.String("sdkmodel.write", "", "write the instruct-shaped SDK test model (GGUF + expectations JSON) into this folder")

// sdkModelName is the file name (without extension) and so the model id `cocoon model serve` serves.
const sdkModelName = "llama3-instruct-test"

// sdkReplyChain is the reply every conversation gets: the model is built so the token after each chain
// entry is the next one, starting from the "\n\n" that ends the Llama 3 assistant header, and the last
// one is followed by <|eot_id|>. It holds a control token that is not EOG (its text must not reach the
// client) and the three bytes of "✓" as separate byte tokens (a character split across tokens).
// Entries are token texts in the byte-level alphabet, each distinct so the successor map is a function.
var sdkReplyChain = func() []string {
	bl := byteLevel()
	return []string{bl['\n'] + bl['\n'], "H", "i", "<|end_header_id|>", bl[' '], bl[0xE2], bl[0x9C], bl[0x93]}
}()

// sdkReply is the text the chain after "\n\n" decodes to.
const sdkReply = "Hi ✓"

// sdkMessage is a chat message as the OpenAI API spells it.
type sdkMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// sdkConversation is one chat the SDK test sends, with the prompt token count a client must be billed.
type sdkConversation struct {
	Name         string       `json:"name"`
	Messages     []sdkMessage `json:"messages"`
	PromptTokens int          `json:"prompt_tokens"`
}

func (c sdkConversation) backendMessages() []backend.Message {
	var out []backend.Message
	for _, m := range c.Messages {
		out = append(out, backend.Message{Role: m.Role, Content: m.Content})
	}
	return out
}

// sdkExpect is the JSON the SDK test reads next to the model.
type sdkExpect struct {
	ModelName        string            `json:"model_name"`
	ChatTemplate     string            `json:"chat_template"`
	EOGText          string            `json:"eog_text"`
	Content          string            `json:"content"`
	CompletionTokens int               `json:"completion_tokens"`
	Conversations    []sdkConversation `json:"conversations"`
}

// sdkConversations covers a lone user turn, a system prompt, a multi-turn history and contents the
// template trims; prompt_tokens is filled by llama3PromptTokens.
var sdkConversations = []sdkConversation{
	{Name: "user", Messages: []sdkMessage{{Role: "user", Content: "Hello"}}},
	{Name: "system", Messages: []sdkMessage{{Role: "system", Content: "You are terse."}, {Role: "user", Content: "Say hi, Ünïcödé ✓"}}},
	{Name: "history", Messages: []sdkMessage{
		{Role: "system", Content: "  Be brief.\n"},
		{Role: "user", Content: "Hi there\n\n"},
		{Role: "assistant", Content: "Hi ✓"},
		{Role: "user", Content: "Again, with the same answer please."},
	}},
}

// buildSDKModel writes a small Llama-3-shaped instruct GGUF: byte-level BPE vocabulary ("llama-bpe"
// pre-tokenizer) with merges making "system", "user", "assistant" and "\n\n" single tokens, the Llama 3
// control tokens, Meta's Llama 3 chat template, and Q4_K weights (Q6_K output, F32 norms, as in a
// Q4_K_M file). The weights are random except the output rows of the reply chain: row next(x) is
// 4·emb(x)/|emb(x)|, and the layers are weak (std 0.02), so the hidden state stays close to the current
// token's embedding and the next token is next(x) by a wide margin (greedy and sampled alike).
func buildSDKModel(t testing.TB) []byte {
	t.Helper()
	bl := byteLevel()
	var toks []string
	var types []int32
	for _, s := range bl {
		toks = append(toks, s)
		types = append(types, int32(tokenizer.Normal))
	}
	var merges []string
	for _, m := range [][2]string{{"s", "y"}, {"sy", "s"}, {"sys", "t"}, {"e", "m"}, {"syst", "em"}, {"u", "s"}, {"us", "er"}, {"e", "r"},
		{bl['\n'], bl['\n']}, {"a", "s"}, {"as", "s"}, {"i", "s"}, {"t", "a"}, {"n", "t"}, {"ass", "is"}, {"ta", "nt"}, {"assis", "tant"}} {
		merges = append(merges, m[0]+" "+m[1])
		toks = append(toks, m[0]+m[1])
		types = append(types, int32(tokenizer.Normal))
	}
	for _, s := range []string{"<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"} {
		toks = append(toks, s)
		types = append(types, int32(tokenizer.Control))
	}
	id := func(s string) int {
		i := slices.Index(toks, s)
		if i < 0 {
			t.Fatalf("no token %q", s)
		}
		return i
	}
	tmpl, err := os.ReadFile(filepath.Join("testdata", "chat-templates", "llama3.jinja"))
	if err != nil {
		t.Fatal(err)
	}
	// Q4_K and Q6_K rows are whole 256-element super-blocks: embd and ffn are multiples of 256.
	const embd, ffn, heads, kvHeads, layers, ctx = 256, 512, 4, 2, 2, 2048
	const kvDim = embd / heads * kvHeads
	w := gguf.NewWriter()
	w.AddKV("general.architecture", "llama")
	w.AddKV("general.name", sdkModelName)
	w.AddKV("general.file_type", uint32(15)) // LLAMA_FTYPE_MOSTLY_Q4_K_M
	w.AddKV("llama.context_length", uint32(ctx))
	w.AddKV("llama.embedding_length", uint32(embd))
	w.AddKV("llama.block_count", uint32(layers))
	w.AddKV("llama.feed_forward_length", uint32(ffn))
	w.AddKV("llama.attention.head_count", uint32(heads))
	w.AddKV("llama.attention.head_count_kv", uint32(kvHeads))
	w.AddKV("llama.attention.layer_norm_rms_epsilon", float32(1e-5))
	w.AddKV("llama.rope.freq_base", float32(500000))
	w.AddKV("tokenizer.ggml.model", tokenizer.ModelBPE)
	w.AddKV("tokenizer.ggml.pre", "llama-bpe")
	w.AddKV("tokenizer.ggml.tokens", toks)
	w.AddKV("tokenizer.ggml.token_type", types)
	w.AddKV("tokenizer.ggml.merges", merges)
	w.AddKV("tokenizer.ggml.bos_token_id", uint32(id("<|begin_of_text|>")))
	w.AddKV("tokenizer.ggml.eos_token_id", uint32(id("<|end_of_text|>")))
	w.AddKV("tokenizer.ggml.add_bos_token", true)
	w.AddKV("tokenizer.chat_template", strings.TrimSuffix(string(tmpl), "\n"))

	rng := rand.New(rand.NewPCG(2026, 11))
	random := func(n int, std float64) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(rng.NormFloat64() * std)
		}
		return v
	}
	norm := func(name string) {
		v := random(embd, 0.05)
		for i := range v {
			v[i]++
		}
		w.AddF32(name, []uint64{embd}, v)
	}
	vocab := len(toks)
	emb := random(embd*vocab, 1)
	w.AddQuantized("token_embd.weight", gguf.Q4_K, []uint64{embd, uint64(vocab)}, emb)
	for l := range layers {
		p := "blk." + string(rune('0'+l)) + "."
		norm(p + "attn_norm.weight")
		w.AddQuantized(p+"attn_q.weight", gguf.Q4_K, []uint64{embd, embd}, random(embd*embd, 0.02))
		w.AddQuantized(p+"attn_k.weight", gguf.Q4_K, []uint64{embd, kvDim}, random(embd*kvDim, 0.02))
		w.AddQuantized(p+"attn_v.weight", gguf.Q4_K, []uint64{embd, kvDim}, random(embd*kvDim, 0.02))
		w.AddQuantized(p+"attn_output.weight", gguf.Q4_K, []uint64{embd, embd}, random(embd*embd, 0.02))
		norm(p + "ffn_norm.weight")
		w.AddQuantized(p+"ffn_gate.weight", gguf.Q4_K, []uint64{embd, ffn}, random(embd*ffn, 0.02))
		w.AddQuantized(p+"ffn_up.weight", gguf.Q4_K, []uint64{embd, ffn}, random(embd*ffn, 0.02))
		w.AddQuantized(p+"ffn_down.weight", gguf.Q4_K, []uint64{ffn, embd}, random(ffn*embd, 0.02))
	}
	norm("output_norm.weight")
	out := random(embd*vocab, 0.02)
	chain := append(slices.Clone(sdkReplyChain), "<|eot_id|>")
	for i := range len(chain) - 1 {
		x, next := emb[id(chain[i])*embd:][:embd], out[id(chain[i+1])*embd:][:embd]
		var n float64
		for _, v := range x {
			n += float64(v) * float64(v)
		}
		for j, v := range x {
			next[j] = float32(4 * float64(v) / math.Sqrt(n))
		}
	}
	w.AddQuantized("output.weight", gguf.Q6_K, []uint64{embd, uint64(vocab)}, out)
	b, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// llama3PromptTokens builds the prompt ids of msgs by hand from the Llama 3 format, independently of
// the backend's renderer: BOS, then per message <|start_header_id|> role <|end_header_id|> and
// "\n\n" + trimmed content tokenized as plain text, <|eot_id|>; then the assistant header and "\n\n".
func llama3PromptTokens(t testing.TB, tok *tokenizer.Tokenizer, msgs []backend.Message) []int32 {
	t.Helper()
	ctl := func(s string) int32 {
		ids := tok.EncodeSpecial(s, false, true)
		if len(ids) != 1 || tok.TokenType(ids[0]) != tokenizer.Control {
			t.Fatalf("%s is not one control token: %v", s, ids)
		}
		return ids[0]
	}
	ids := []int32{ctl("<|begin_of_text|>")}
	header := func(role string) {
		ids = append(ids, ctl("<|start_header_id|>"))
		ids = append(ids, tok.Encode(role, false)...)
		ids = append(ids, ctl("<|end_header_id|>"))
	}
	for _, m := range msgs {
		header(m.Role)
		ids = append(ids, tok.Encode("\n\n"+strings.TrimSpace(m.Content), false)...)
		ids = append(ids, ctl("<|eot_id|>"))
	}
	header("assistant")
	return append(ids, tok.Encode("\n\n", false)...)
}

// sdkExpectations loads the model through the backend and fills in what a client must see.
func sdkExpectations(t *testing.T, weights []byte) (*Backend, sdkExpect) {
	t.Helper()
	b, err := newChatBackend(t, weights, "")
	if err != nil {
		t.Fatal(err)
	}
	fam, fallback := b.ChatFamily()
	if fam != FamilyLlama3 || fallback {
		t.Fatalf("chat family %s (fallback %v), want llama3", fam, fallback)
	}
	tok := b.model.Tokenizer()
	exp := sdkExpect{ModelName: sdkModelName, ChatTemplate: fam, EOGText: "<|eot_id|>", Content: sdkReply,
		CompletionTokens: len(sdkReplyChain) - 1}
	for _, c := range sdkConversations {
		c.PromptTokens = len(llama3PromptTokens(t, tok, c.backendMessages()))
		exp.Conversations = append(exp.Conversations, c)
	}
	return b, exp
}

// TestSDKModel checks through the backend what the SDK test relies on: the quantized model is served
// with the Llama 3 template, every conversation's prompt is the hand-built Llama 3 token sequence, and
// the reply is the chain's text, ended by <|eot_id|> (finish "stop", the EOG not counted or shown),
// greedy and sampled alike; a max_tokens inside the chain ends with "length".
func TestSDKModel(t *testing.T) {
	b, exp := sdkExpectations(t, buildSDKModel(t))
	if ft := b.Info().FileType; !strings.Contains(ft, "Q4_K") {
		t.Errorf("file type %q, want a Q4_K file", ft)
	}
	one := float32(1)
	for _, c := range exp.Conversations {
		for _, temp := range []*float32{zero(), &one} {
			seed := uint64(7)
			got, res, err := collect(t, b, backend.Request{Model: "chat-test", Chat: true, Messages: c.backendMessages(), MaxTokens: 32, Temperature: temp, Seed: &seed})
			if err != nil {
				t.Fatalf("%s: %v", c.Name, err)
			}
			if got != exp.Content || res.FinishReason != backend.FinishStop || res.Usage.PromptTokens != c.PromptTokens || res.Usage.CompletionTokens != exp.CompletionTokens {
				t.Fatalf("%s (temperature %v): %q %s %+v, want %q stop %d+%d", c.Name, *temp, got, res.FinishReason, res.Usage, exp.Content, c.PromptTokens, exp.CompletionTokens)
			}
		}
		got, res, err := collect(t, b, backend.Request{Model: "chat-test", Chat: true, Messages: c.backendMessages(), MaxTokens: 2, Temperature: zero()})
		if err != nil || got != "Hi" || res.FinishReason != backend.FinishLength || res.Usage.CompletionTokens != 2 {
			t.Fatalf("%s max_tokens 2: %q %s %+v %v", c.Name, got, res.FinishReason, res.Usage, err)
		}
	}
}

// TestWriteSDKModel writes the model and its expectations for tests/openai-client/test/instruct.test.mjs.
func TestWriteSDKModel(t *testing.T) {
	if *sdkModelWrite == "" {
		t.Skip("set -sdkmodel.write=DIR to write the instruct-shaped SDK test model")
	}
	weights := buildSDKModel(t)
	_, exp := sdkExpectations(t, weights)
	js, err := json.MarshalIndent(exp, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(*sdkModelWrite, 0o755); err != nil {
		t.Fatal(err)
	}
	base := filepath.Join(*sdkModelWrite, sdkModelName)
	if err := os.WriteFile(base+".gguf", weights, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(base+".json", append(js, '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}
