package llama_test

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"runtime"
	"slices"
	"testing"

	"github.com/cocoon-go/cocoon/inference/llama"
	"github.com/cocoon-go/cocoon/models"
)

// reference is models/testdata/reference.json, written by models/train/reference.py: sentencepiece's own
// tokenizations (spm_encode) and greedy continuations from an independent float64 numpy forward pass.
type reference struct {
	BOS       int32 `json:"bos_id"`
	EOS       int32 `json:"eos_id"`
	Tokenizer []struct {
		Text string  `json:"text"`
		IDs  []int32 `json:"ids"`
	} `json:"tokenizer"`
	Greedy []struct {
		Prompt         string    `json:"prompt"`
		PromptIDs      []int32   `json:"prompt_ids"`
		CompletionIDs  []int32   `json:"completion_ids"`
		CompletionText string    `json:"completion_text"`
		Margins        []float64 `json:"top2_margins"`
		FirstLogits    []float64 `json:"first_logits_head"`
	} `json:"greedy"`
}

func loadDefault(t *testing.T) (*llama.Model, reference) {
	t.Helper()
	m, err := llama.LoadBytes(models.DefaultGGUF())
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../models/testdata/reference.json")
	if err != nil {
		t.Fatal(err)
	}
	var ref reference
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	if len(ref.Tokenizer) == 0 || len(ref.Greedy) == 0 {
		t.Fatal("reference.json has no cases")
	}
	return m, ref
}

func TestDefaultModelTokenizerMatchesSentencePiece(t *testing.T) {
	m, ref := loadDefault(t)
	tok := m.Tokenizer()
	if tok.BOS() != ref.BOS || tok.EOS() != ref.EOS {
		t.Fatalf("BOS/EOS %d/%d, reference %d/%d", tok.BOS(), tok.EOS(), ref.BOS, ref.EOS)
	}
	for _, c := range ref.Tokenizer {
		got := tok.Encode(c.Text, false)
		if !slices.Equal(got, c.IDs) && !(len(got) == 0 && len(c.IDs) == 0) {
			t.Errorf("Encode(%q) = %v, spm_encode %v", c.Text, got, c.IDs)
		}
		if got := tok.Decode(c.IDs); got != c.Text {
			t.Errorf("Decode(%v) = %q, want %q", c.IDs, got, c.Text)
		}
	}
}

func TestDefaultModelGreedyMatchesReference(t *testing.T) {
	m, ref := loadDefault(t)
	for _, g := range ref.Greedy {
		prompt := m.Tokenizer().Encode(g.Prompt, true)
		if !slices.Equal(prompt, g.PromptIDs) {
			t.Fatalf("prompt %q tokens %v, reference %v", g.Prompt, prompt, g.PromptIDs)
		}
		var ids []int32
		res, err := m.GenerateTokens(context.Background(), prompt, llama.GenerateOptions{MaxTokens: len(g.Margins)}, func(id int32) error {
			ids = append(ids, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(ids, g.CompletionIDs) {
			// Only a near-tie in the float64 reference may legitimately go the other way in float32.
			for i := range min(len(ids), len(g.CompletionIDs)) {
				if ids[i] != g.CompletionIDs[i] {
					t.Fatalf("prompt %q: token %d is %d, reference %d (reference top-2 margin %g)\ngot  %v\nwant %v",
						g.Prompt, i, ids[i], g.CompletionIDs[i], g.Margins[i], ids, g.CompletionIDs)
				}
			}
			t.Fatalf("prompt %q: %d tokens, reference %d", g.Prompt, len(ids), len(g.CompletionIDs))
		}
		if res.Text != g.CompletionText {
			t.Errorf("prompt %q: text %q, reference %q", g.Prompt, res.Text, g.CompletionText)
		}
		// Same text through the string API.
		res2, err := m.Generate(context.Background(), g.Prompt, llama.GenerateOptions{MaxTokens: len(g.Margins), AddBOS: true}, nil)
		if err != nil || res2.Text != g.CompletionText || res2.CompletionTokens != len(g.CompletionIDs) {
			t.Errorf("Generate(%q) = %+v, %v", g.Prompt, res2, err)
		}
	}
}

func TestDefaultModelLogits(t *testing.T) {
	m, ref := loadDefault(t)
	for _, g := range ref.Greedy {
		logits, err := m.Logits(g.PromptIDs)
		if err != nil {
			t.Fatal(err)
		}
		for i, want := range g.FirstLogits {
			if math.Abs(float64(logits[i])-want) > 1e-3 {
				t.Fatalf("prompt %q logit %d = %v, reference %v", g.Prompt, i, logits[i], want)
			}
		}
	}
}

// defaultPrompt is a verse-long prompt of plain text for the benchmarks.
const defaultPrompt = "In the beginning God created the heaven and the earth. And the earth was without form, and void; " +
	"and darkness was upon the face of the deep. And the Spirit of God moved upon the face of the waters. " +
	"And God said, Let there be light: and there was light."

// BenchmarkDefaultPrompt measures prompt processing on the embedded default model through the public API.
func BenchmarkDefaultPrompt(b *testing.B) {
	m, err := llama.LoadBytes(models.DefaultGGUF())
	if err != nil {
		b.Fatal(err)
	}
	prompt := m.Tokenizer().Encode(defaultPrompt, true)
	for _, threads := range benchThreads() {
		b.Run(fmt.Sprintf("tokens=%d/threads=%d", len(prompt), threads), func(b *testing.B) {
			cpu0 := llama.CPUTime()
			for i := 0; i < b.N; i++ {
				if _, err := m.GenerateTokens(context.Background(), prompt, llama.GenerateOptions{MaxTokens: 1, Threads: threads}, nil); err != nil {
					b.Fatal(err)
				}
			}
			llama.ReportTokens(b, len(prompt)*b.N, llama.CPUTime()-cpu0)
		})
	}
}

// BenchmarkDefaultGenerate measures greedy generation after BOS on the default model (tokens/s counts
// generated tokens; the one-token prompt is negligible).
func BenchmarkDefaultGenerate(b *testing.B) {
	m, err := llama.LoadBytes(models.DefaultGGUF())
	if err != nil {
		b.Fatal(err)
	}
	const n = 128
	for _, threads := range benchThreads() {
		b.Run(fmt.Sprintf("tokens=%d/threads=%d", n, threads), func(b *testing.B) {
			total := 0
			cpu0 := llama.CPUTime()
			for i := 0; i < b.N; i++ {
				res, err := m.GenerateTokens(context.Background(), []int32{m.Tokenizer().BOS()}, llama.GenerateOptions{MaxTokens: n, Threads: threads}, nil)
				if err != nil {
					b.Fatal(err)
				}
				total += res.CompletionTokens
			}
			llama.ReportTokens(b, total, llama.CPUTime()-cpu0)
		})
	}
}

func benchThreads() []int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}
