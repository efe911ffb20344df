package llama

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/cocoon-go/cocoon/provider/llm/gguf"
)

// llamacppRopeWrite makes TestWriteLlamaCppRopeModels write the RoPE-scaling reference models into a
// folder, for tools/llamacpp-ref/rope-reference.mjs. Without it that test is skipped.
var llamacppRopeWrite = flag.String("llamacpp.rope.write", "", "write the RoPE-scaling llama.cpp reference models (GGUF) into this folder")

// llama3RopeFreqs returns the rope_freqs.weight that llama.cpp's converter writes for a Llama 3.1/3.2
// checkpoint with rope_scaling type "llama3": per pair i of a ropeDim-wide RoPE with base base, the
// divisor of its frequency: 1 for wavelengths below origCtx/highFF, factor above origCtx/lowFF, and in
// between a smooth interpolation of the two frequencies.
func llama3RopeFreqs(ropeDim int, base, factor, lowFF, highFF, origCtx float64) []float32 {
	out := make([]float32, ropeDim/2)
	lowWavelen, highWavelen := origCtx/lowFF, origCtx/highFF
	for i := range out {
		freq := 1 / math.Pow(base, float64(2*i)/float64(ropeDim))
		wavelen := 2 * math.Pi / freq
		switch {
		case wavelen < highWavelen:
			out[i] = 1
		case wavelen > lowWavelen:
			out[i] = float32(factor)
		default:
			smooth := (origCtx/wavelen - lowFF) / (highFF - lowFF)
			out[i] = float32(1 / ((1-smooth)/factor + smooth))
		}
	}
	return out
}

// llamacppRopeSpecs are the models that tools/llamacpp-ref/rope-reference.mjs runs through llama.cpp:
// Llama 3.1's frequency factors (factor 8, RoPE base 500000, original context 8192; with a 64-wide head,
// pairs 15-17 are smoothed and 18-31 divided by 8), Llama 3.2's (factor 32) and linear scaling
// (rope.scaling.factor 4). Contexts of 2048 let prompts reach positions where the scaled pairs' angles
// are far from their unscaled values.
// INVARIANT: changing a spec changes its file's sha256, which the fixture records: regenerate it.
var llamacppRopeSpecs = []namedSpec{
	{"rope-llama3-f32", testSpec{embd: 128, layers: 2, heads: 2, kvHeads: 1, ffn: 256, ctx: 2048, extraVocab: 300,
		seed: 21, freqBase: 500000, ropeFreqs: llama3RopeFreqs(64, 500000, 8, 1, 4, 8192)}},
	{"rope-llama32-q8_0-tied", testSpec{embd: 128, layers: 2, heads: 4, kvHeads: 2, ffn: 256, ctx: 2048, extraVocab: 200,
		tied: true, weightType: gguf.Q8_0, seed: 22, freqBase: 500000, ropeFreqs: llama3RopeFreqs(32, 500000, 32, 1, 4, 8192)}},
	{"rope-linear-f16", testSpec{embd: 96, layers: 2, heads: 3, kvHeads: 3, ffn: 192, ctx: 2048, extraVocab: 250,
		weightType: gguf.F16, seed: 23, extraKV: map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(4)}}},
}

// namedSpec is a test model with the name a llama.cpp fixture knows it by.
type namedSpec struct {
	name string
	spec testSpec
}

func TestWriteLlamaCppRopeModels(t *testing.T) {
	if *llamacppRopeWrite == "" {
		t.Skip("set -llamacpp.rope.write=DIR to write the RoPE-scaling llama.cpp reference models")
	}
	writeNamedSpecs(t, *llamacppRopeWrite, llamacppRopeSpecs)
}

// writeNamedSpecs writes each spec's model as dir/name.gguf.
func writeNamedSpecs(t *testing.T, dir string, specs []namedSpec) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range specs {
		b := buildTestModel(t, s.spec)
		path := filepath.Join(dir, s.name+".gguf")
		if err := os.WriteFile(path, b, 0o644); err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		t.Logf("%s: %d bytes, sha256 %s", path, len(b), hex.EncodeToString(sum[:]))
	}
}

// llamacppRopeFixture is models/testdata/llamacpp-rope-reference.json, written by
// tools/llamacpp-ref/rope-reference.mjs from llama.cpp (float32 K/V cache, no flash attention).
type llamacppRopeFixture struct {
	NGenerate int `json:"n_generate"`
	Models    []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Greedy []struct {
			Prompt string `json:"prompt"`
			// MaxPromptTokens cuts the tokenized prompt (BOS first) to this length; 0 keeps it whole.
			MaxPromptTokens int       `json:"max_prompt_tokens"`
			PromptIDs       []int32   `json:"prompt_ids"`
			CompletionIDs   []int32   `json:"completion_ids"`
			Margins         []float64 `json:"top2_margins"`
			// Steps[i]: the top logits as [id, logit] and the log-sum-exp after generated token i-1.
			Steps []struct {
				Top       [][2]float64 `json:"top"`
				LogSumExp float64      `json:"logsumexp"`
			} `json:"steps"`
		} `json:"greedy"`
	} `json:"models"`
}

// Tolerances against llama.cpp, in logits: F32 weights agree to summation order (1e-4, as the llama
// tests). F16, BF16 and Q8_0 round the activations, and a value within summation noise of a rounding
// boundary can round either way, which moves a step's logits in proportion to their size: 2e-2 plus
// 5e-4 of the top logit for one step (measured at most 0.044 on logits of 127, 3.4e-4 of the size, in
// the tied Q8_0 qwen2 model whose logits reach 150), the median step within 1e-6 of the size.
const (
	ropeTolF32     = 1e-4
	ropeTolRounded = 2e-2
	ropeTolRel     = 5e-4
	ropeMedianRel  = 1e-6
	// ropeUnscaledMin is how many times ropeMedianRel, at least, the median step must move when the
	// scaling is switched off: the test would not notice a missing scaling otherwise.
	ropeUnscaledMin = 10
)

// TestLlamaCppRopeScaling runs every prompt llama.cpp ran on the RoPE-scaled models: the prompt tokens and
// the greedy continuation must be llama.cpp's exactly and the top-5 logits and log-sum-exp of every
// generated position within the tolerances above. The same model with its scaling switched off must
// land far from llama.cpp, so that the comparison exercises the scaled dimensions.
func TestLlamaCppRopeScaling(t *testing.T) {
	compareLongFixture(t, "../../../models/testdata/llamacpp-rope-reference.json", "tools/llamacpp-ref/rope-regen.sh", llamacppRopeSpecs,
		func(t *testing.T, spec testSpec, m *Model) map[string]*Model {
			if spec.ropeFreqs != nil && !m.Info().RopeFreqFactors || spec.ropeFreqs == nil && m.Info().RopeFreqScale == 1 {
				t.Fatalf("model loaded without its RoPE scaling: %+v", m.Info())
			}
			unscaled := *m
			unscaled.ropeFreqs = nil
			unscaled.info.RopeFreqScale = 1
			return map[string]*Model{"without the RoPE scaling": &unscaled}
		})
}

// compareLongFixture checks the models of a fixture written by rope-reference.mjs or qwen2-reference.mjs
// against the engine (see TestLlamaCppRopeScaling). variants returns altered copies of a model, each
// lacking a feature the fixture is meant to exercise: each must miss llama.cpp's logits by a median of
// at least ropeUnscaledMin times the median tolerance.
func compareLongFixture(t *testing.T, path, regen string, specs []namedSpec, variants func(*testing.T, testSpec, *Model) map[string]*Model) {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fx llamacppRopeFixture
	if err := json.Unmarshal(b, &fx); err != nil {
		t.Fatal(err)
	}
	if len(fx.Models) != len(specs) {
		t.Fatalf("fixture has %d models, the specs %d: regenerate it (%s)", len(fx.Models), len(specs), regen)
	}
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			i := slices.IndexFunc(specs, func(s namedSpec) bool { return s.name == fm.Name })
			if i < 0 {
				t.Fatalf("fixture model %q is not in the specs", fm.Name)
			}
			spec := specs[i].spec
			mb := buildTestModel(t, spec)
			if sum := sha256.Sum256(mb); hex.EncodeToString(sum[:]) != fm.SHA256 {
				t.Fatalf("sha256 %x, llama.cpp ran on %s: regenerate the fixture (%s)", sum, fm.SHA256, regen)
			}
			m, err := LoadBytes(mb)
			if err != nil {
				t.Fatal(err)
			}
			tol := func(float64) float64 { return ropeTolF32 }
			if spec.weightType != 0 {
				tol = func(top float64) float64 { return ropeTolRounded + ropeTolRel*math.Abs(top) }
			}
			alt := variants(t, spec, m)
			var worst float64
			var rel []float64
			altWorst := map[string]float64{}
			altRel := map[string][]float64{}
			maxPos := 0
			for _, g := range fm.Greedy {
				prompt := m.Tokenizer().Encode(g.Prompt, true)
				if g.MaxPromptTokens > 0 && len(prompt) > g.MaxPromptTokens {
					prompt = prompt[:g.MaxPromptTokens]
				}
				if !slices.Equal(prompt, g.PromptIDs) {
					t.Fatalf("prompt %.40q…: tokens %v, llama.cpp %v", g.Prompt, prompt, g.PromptIDs)
				}
				maxPos = max(maxPos, len(prompt)+len(g.CompletionIDs))
				steps := ropeSteps(m, prompt, nil, len(g.Steps), fx.NGenerate)
				var ids []int32
				for _, st := range steps {
					ids = append(ids, st.next)
				}
				ids = ids[:min(len(ids), len(g.CompletionIDs))]
				if !slices.Equal(ids, g.CompletionIDs) {
					t.Errorf("prompt of %d tokens: continuation differs\n got       %v\n llama.cpp %v", len(prompt), ids, g.CompletionIDs)
					continue
				}
				for si, want := range g.Steps {
					d := ropeStepDiff(steps[si].logits, want.Top, want.LogSumExp)
					worst = max(worst, d)
					rel = append(rel, d/math.Abs(want.Top[0][1]))
					if d > tol(want.Top[0][1]) {
						t.Errorf("prompt of %d tokens, step %d: logits differ from llama.cpp by %.3g (tolerance %g, top logit %g)", len(prompt), si, d, tol(want.Top[0][1]), want.Top[0][1])
					}
				}
				// The variants, fed llama.cpp's tokens so that every step compares the same context.
				for name, am := range alt {
					us := ropeSteps(am, prompt, g.CompletionIDs, len(g.Steps), len(g.Steps))
					for si, want := range g.Steps {
						d := ropeStepDiff(us[si].logits, want.Top, want.LogSumExp)
						altWorst[name] = max(altWorst[name], d)
						altRel[name] = append(altRel[name], d/math.Abs(want.Top[0][1]))
					}
				}
			}
			median := medianOf(rel)
			if median > ropeMedianRel {
				t.Errorf("median step differs from llama.cpp by %.3g of the logits' size, want <= %g", median, ropeMedianRel)
			}
			t.Logf("%d prompts to position %d: worst logit difference %.3g, median step %.3g of the size", len(fm.Greedy), maxPos, worst, median)
			for _, name := range slices.Sorted(maps.Keys(alt)) {
				am := medianOf(altRel[name])
				if am < ropeUnscaledMin*ropeMedianRel {
					t.Errorf("%s the median step is still within %.3g of llama.cpp: the prompts do not exercise it", name, am)
				}
				t.Logf("  %s: worst %.3g, median step %.3g", name, altWorst[name], am)
			}
		})
	}
}

func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	return v[len(v)/2]
}

type ropeStep struct {
	logits []float32
	next   int32
}

// ropeSteps evaluates prompt and then decodes n tokens, keeping the logits of the first keep positions:
// greedily, or the tokens of forced when given (so that every step sees llama.cpp's context).
func ropeSteps(m *Model, prompt, forced []int32, keep, n int) []ropeStep {
	st := m.newState(len(prompt)+n, 2)
	logits := st.forward(prompt, false)
	var out []ropeStep
	for i := 0; i < n; i++ {
		next := argmax(logits)
		if forced != nil && i < len(forced) {
			next = forced[i]
		}
		s := ropeStep{next: next}
		if i < keep {
			s.logits = slices.Clone(logits)
		}
		out = append(out, s)
		if i+1 < n {
			logits = st.forward([]int32{next}, false)
		}
	}
	return out
}

// ropeStepDiff is the largest difference between logits and llama.cpp's recorded top logits and
// log-sum-exp.
func ropeStepDiff(logits []float32, top [][2]float64, lse float64) float64 {
	var d float64
	for _, p := range top {
		d = max(d, math.Abs(float64(logits[int(p[0])])-p[1]))
	}
	mx := math.Inf(-1)
	for _, v := range logits {
		mx = max(mx, float64(v))
	}
	var sum float64
	for _, v := range logits {
		sum += math.Exp(float64(v) - mx)
	}
	return max(d, math.Abs(mx+math.Log(sum)-lse))
}
