package llama

import (
	"flag"
	"math"
	"slices"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/models"
)

// llamacppWrite makes TestWriteLlamaCppModels write the random reference models into a folder, for
// tools/llamacpp-ref (see its README). Without it that test is skipped.
var llamacppWrite = flag.String("llamacpp.write", "", "write the random llama.cpp reference models (GGUF) into this folder")

// llamacppSpecs are the random models that tools/llamacpp-ref runs through llama.cpp next to the default
// model, shaped unlike it (and unlike each other) to widen coverage: other widths, head sizes and GQA
// ratios, a tied output, other RoPE bases, F16, BF16 and Q8_0 weights. llama.cpp's llama architecture needs
// RoPE over the whole head (n_rot == head size) and Q8_0 rows that are a multiple of 32 long.
// INVARIANT: changing a spec changes its file's sha256, which the fixture records: regenerate it.
var llamacppSpecs = []namedSpec{
	{"rand-f16", testSpec{embd: 96, layers: 3, heads: 6, kvHeads: 3, ffn: 160, ctx: 512, extraVocab: 300,
		weightType: gguf.F16, seed: 11, freqBase: 50000}},
	{"rand-q8_0", testSpec{embd: 96, layers: 2, heads: 4, kvHeads: 1, ffn: 192, ctx: 512, extraVocab: 200,
		weightType: gguf.Q8_0, seed: 12}},
	{"rand-bf16", testSpec{embd: 64, layers: 2, heads: 4, kvHeads: 4, ffn: 176, ctx: 512, extraVocab: 250,
		weightType: gguf.BF16, seed: 14}},
	{"rand-q8_0-tied", testSpec{embd: 128, layers: 2, heads: 2, kvHeads: 2, ffn: 256, ctx: 512, extraVocab: 100,
		tied: true, weightType: gguf.Q8_0, seed: 13, freqBase: 1e6}},
}

func TestWriteLlamaCppModels(t *testing.T) {
	if *llamacppWrite == "" {
		t.Skip("set -llamacpp.write=DIR to write the random llama.cpp reference models")
	}
	writeNamedSpecs(t, *llamacppWrite, llamacppSpecs)
}

// llamacppFixture is models/testdata/llamacpp-reference.json, written by tools/llamacpp-ref/reference.mjs
// from llama.cpp itself (the prebuilt CPU build that node-llama-cpp ships).
type llamacppFixture struct {
	NodeLlamaCpp string `json:"node_llama_cpp"`
	LlamaCpp     struct {
		Repo    string `json:"repo"`
		Release string `json:"release"`
	} `json:"llama_cpp"`
	NGenerate int `json:"n_generate"`
	Models    []struct {
		Name      string `json:"name"`
		SHA256    string `json:"sha256"`
		BOS       int32  `json:"bos_id"`
		EOS       int32  `json:"eos_id"`
		AddBOS    bool   `json:"add_bos"`
		Tokenizer []struct {
			Text            string  `json:"text"`
			IDs             []int32 `json:"ids"`
			IDsParseSpecial []int32 `json:"ids_parse_special"`
			Detokenized     string  `json:"detokenized"`
		} `json:"tokenizer"`
		// Greedy is keyed by run: "matched" (llama.cpp with a float32 K/V cache, as this engine) and
		// "defaults" (llama.cpp's default F16 K/V cache and flash attention).
		Greedy map[string][]llamacppGreedy `json:"greedy"`
	} `json:"models"`
}

func loadLlamaCppFixture(t *testing.T) *llamacppFixture {
	t.Helper()
	var f llamacppFixture
	readFixture(t, "../../models/testdata/llamacpp-reference.json", &f)
	if len(f.Models) == 0 {
		t.Fatal("llamacpp-reference.json has no models")
	}
	return &f
}

// llamacppModelBytes returns the GGUF file the fixture's model name stands for, checked against the
// sha256 llama.cpp ran on.
func llamacppModelBytes(t *testing.T, name, sha string) []byte {
	t.Helper()
	if name != models.DefaultModelName {
		_, b := specModel(t, llamacppSpecs, name, sha, "tools/llamacpp-ref/regen.sh")
		return b
	}
	b := models.DefaultGGUF()
	checkModelSHA(t, name, b, sha, "tools/llamacpp-ref/regen.sh")
	return b
}

func TestLlamaCppTokenizer(t *testing.T) {
	fx := loadLlamaCppFixture(t)
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			m, err := LoadBytes(llamacppModelBytes(t, fm.Name, fm.SHA256))
			if err != nil {
				t.Fatal(err)
			}
			tok := m.Tokenizer()
			if tok.BOS() != fm.BOS || tok.EOS() != fm.EOS || tok.AddBOS() != fm.AddBOS {
				t.Fatalf("BOS %d EOS %d add_bos %v, llama.cpp %d %d %v", tok.BOS(), tok.EOS(), tok.AddBOS(), fm.BOS, fm.EOS, fm.AddBOS)
			}
			for _, c := range fm.Tokenizer {
				if got := tok.Encode(c.Text, false); !slices.Equal(got, c.IDs) && len(got)+len(c.IDs) > 0 {
					t.Errorf("Encode(%q) = %v, llama.cpp %v", c.Text, got, c.IDs)
				}
				if got := tok.EncodeSpecial(c.Text, false, true); !slices.Equal(got, c.IDsParseSpecial) && len(got)+len(c.IDsParseSpecial) > 0 {
					t.Errorf("EncodeSpecial(%q, parse_special) = %v, llama.cpp %v", c.Text, got, c.IDsParseSpecial)
				}
				if got := tok.Decode(c.IDs); got != c.Detokenized {
					t.Errorf("Decode(%v) = %q, llama.cpp %q", c.IDs, got, c.Detokenized)
				}
			}
		})
	}
}

// Tolerances against llama.cpp, in logits (the models' logits are 1 to 150 in size).
//
// "matched" run (llama.cpp with a float32 K/V cache and without flash attention, as this engine):
//   - F32 weights: 1e-4. Both sides compute in float32 with the same roundings (activations, RMSNorm,
//     RoPE angles) and differ only in summation order; measured at most 3e-6.
//   - F16, BF16 and Q8_0 weights: 2e-2 for any single logit, but the median step within 1e-6 of the logits'
//     size. Both sides round the activations to F16 / Q8_0 before each product; where a float32 value is
//     within summation noise of a rounding boundary the two can round it differently, which moves the
//     logits of that step by up to ~1e-2 (measured 9e-3, once in 320 steps); every other step agrees to
//     float32 precision (median measured 5e-7 on logits of ~5).
//
// "defaults" run (llama.cpp's F16 K/V cache and flash attention, which this engine does not copy: its
// cache stays float32): the same plus 2e-3 of the logit's size, as every cached key and value is
// rounded to F16 there (2^-12 relative); measured at most 6.4e-4 of the size.
const (
	llamacppTolF32      = 1e-4
	llamacppTolRounded  = 2e-2
	llamacppMedianRel   = 1e-6
	llamacppDefaultsRel = 2e-3
	llamacppRunMatched  = "matched"
	llamacppRunDefaults = "defaults"
)

// TestLlamaCppGreedy runs every prompt llama.cpp ran: the prompt tokens (BOS first) and the greedy
// continuation must be llama.cpp's exactly, and the logits of the first generated positions must be
// within the tolerances above. In the "defaults" run a continuation may part from llama.cpp's only at
// a step where llama.cpp's own top-2 margin is within twice the tolerance (a near-tie that its F16
// cache can decide either way); the rest of that continuation is then not compared.
func TestLlamaCppGreedy(t *testing.T) {
	fx := loadLlamaCppFixture(t)
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			b := llamacppModelBytes(t, fm.Name, fm.SHA256)
			m, err := LoadBytes(b)
			if err != nil {
				t.Fatal(err)
			}
			f, err := gguf.Read(b)
			if err != nil {
				t.Fatal(err)
			}
			base := llamacppTolF32
			if ti, ok := f.Tensor("blk.0.attn_q.weight"); ok && (ti.Type == gguf.F16 || ti.Type == gguf.BF16 || ti.Type == gguf.Q8_0) {
				base = llamacppTolRounded
			}
			for _, run := range []string{llamacppRunMatched, llamacppRunDefaults} {
				cases := fm.Greedy[run]
				if len(cases) == 0 {
					t.Fatalf("no %q greedy runs", run)
				}
				rel := 0.0
				if run == llamacppRunDefaults {
					rel = llamacppDefaultsRel
				}
				tol := func(logit float64) float64 { return base + rel*math.Abs(logit) }
				// Only the "defaults" run may part from llama.cpp, and only at a near-tie.
				nearTie := func(margin, size float64) bool { return run == llamacppRunDefaults && margin <= 2*tol(size) }
				var st stepStats
				parted := 0
				for _, g := range cases {
					if compareGreedy(t, m, g, fx.NGenerate, run+": ", nearTie) {
						parted++
					}
					st.compareLogits(t, m, g, run+": ", tol)
				}
				median := medianOf(st.rel)
				if run == llamacppRunMatched && median > llamacppMedianRel {
					t.Errorf("%s: median step is %g off llama.cpp relative to the logits' size, want <= %g", run, median, llamacppMedianRel)
				}
				t.Logf("%s: %d prompts x %d tokens, %d parted at near-ties; %g logit steps: max |logit - llama.cpp| %.3g, median relative %.2g",
					run, len(cases), fx.NGenerate, parted, st.steps, st.worst, median)
			}
		})
	}
}

// TestRoundF16 checks the fast float16 rounding against the general conversion on a sweep of float32
// bit patterns (every sign, exponent and rounding case) and on the edges of its fast range.
func TestRoundF16(t *testing.T) {
	check := func(b uint32) {
		v := math.Float32frombits(b)
		got, want := roundF16(v), gguf.F16ToF32(gguf.F32ToF16(v))
		if math.Float32bits(got) != math.Float32bits(want) && !(got != got && want != want) {
			t.Fatalf("roundF16(%g = %#x) = %g, want %g", v, b, got, want)
		}
	}
	for b := uint64(0); b < 1<<32; b += 977 {
		check(uint32(b))
	}
	for _, e := range []uint32{127 - 15, 127 - 14, 127 + 14, 127 + 15, 127 + 16} {
		for _, m := range []uint32{0, 0xfff, 0x1000, 0x1001, 0x2fff, 0x3000, 0x7fe000, 0x7fefff, 0x7ff000, 0x7fffff} {
			check(e<<23 | m)
			check(1<<31 | e<<23 | m)
		}
	}
}
