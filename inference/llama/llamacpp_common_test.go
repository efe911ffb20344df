package llama

// The plumbing the llama.cpp comparisons share (llamacpp_reference_test.go, llamacpp_quant_test.go,
// llamacpp_rope_test.go, llamacpp_qwen2_test.go): the named random models and their writer for
// tools/llamacpp-ref, fixture loading and the sha256 check of the rebuilt models, and the greedy and
// logit comparison. Each test keeps its own tolerances, with the reasons for them, next to it.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
)

// namedSpec is a test model with the name a llama.cpp fixture knows it by.
type namedSpec struct {
	name string
	spec testSpec
}

// writeNamedSpecs writes each spec's model as dir/name.gguf, logging them in the specs' order (which
// tools/llamacpp-ref/quant-regen.sh relies on).
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

// readFixture decodes the JSON fixture at path into v.
func readFixture(t *testing.T, path string, v any) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// checkModelSHA fails the test unless b is the file llama.cpp ran on (sha, from the fixture).
func checkModelSHA(t *testing.T, name string, b []byte, sha, regen string) {
	t.Helper()
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != sha {
		t.Fatalf("model %q: sha256 %x, llama.cpp ran on %s: regenerate the fixture (%s)", name, sum, sha, regen)
	}
}

// specModel rebuilds the fixture model name from specs and checks it against the sha256 llama.cpp ran on.
func specModel(t *testing.T, specs []namedSpec, name, sha, regen string) (testSpec, []byte) {
	t.Helper()
	i := slices.IndexFunc(specs, func(s namedSpec) bool { return s.name == name })
	if i < 0 {
		t.Fatalf("fixture model %q is not in the specs", name)
	}
	b := buildTestModel(t, specs[i].spec)
	checkModelSHA(t, name, b, sha, regen)
	return specs[i].spec, b
}

// llamacppGreedy is one greedy run recorded by tools/llamacpp-ref (lib/llama.mjs greedy).
type llamacppGreedy struct {
	Prompt        string    `json:"prompt"`
	PromptIDs     []int32   `json:"prompt_ids"`
	CompletionIDs []int32   `json:"completion_ids"`
	Finish        string    `json:"finish"` // "eos" or "length"; absent in the rope and qwen2 fixtures
	Margins       []float64 `json:"top2_margins"`
	// Steps[i] is the distribution for generated token i: the top logits as [id, logit] (ties: lower
	// id first) and the log-sum-exp of all logits.
	Steps []struct {
		Top       [][2]float64 `json:"top"`
		LogSumExp float64      `json:"logsumexp"`
	} `json:"steps"`
}

// firstDiff is the first index where a and b differ (a length difference counts), -1 if equal.
func firstDiff(a, b []int32) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// compareGreedy generates g's prompt greedily with the engine (one thread, fx's n_generate tokens): the
// prompt tokens must be llama.cpp's (fatal otherwise) and the continuation too, unless tolerated (nil:
// never) accepts parting at a step with llama.cpp's top-2 margin there and the size of its logits; an
// equal continuation must finish as llama.cpp's did. It reports whether the continuation parted. label
// prefixes the messages.
func compareGreedy(t *testing.T, m *Model, g llamacppGreedy, nGenerate int, label string, tolerated func(margin, size float64) bool) bool {
	t.Helper()
	prompt := m.Tokenizer().Encode(g.Prompt, true)
	if !slices.Equal(prompt, g.PromptIDs) {
		t.Fatalf("%sprompt %q: tokens %v, llama.cpp %v", label, g.Prompt, prompt, g.PromptIDs)
	}
	var ids []int32
	res, err := m.GenerateTokens(context.Background(), prompt, GenerateOptions{MaxTokens: nGenerate, Threads: 1}, func(id int32) error {
		ids = append(ids, id)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	i := firstDiff(ids, g.CompletionIDs)
	if i < 0 {
		if (g.Finish == "eos") != (res.FinishReason == FinishStop) {
			t.Errorf("%sprompt %q: finish %q, llama.cpp %q", label, g.Prompt, res.FinishReason, g.Finish)
		}
		return false
	}
	margin := math.Inf(1)
	if i < len(g.Margins) {
		margin = g.Margins[i]
	}
	var size float64 // the logits' size, from the recorded steps
	for _, st := range g.Steps {
		size = max(size, math.Abs(st.Top[0][1]))
	}
	if tolerated == nil || !tolerated(margin, size) {
		t.Errorf("%sprompt %q: generated token %d differs (llama.cpp top-2 margin there %g)\n got       %v\n llama.cpp %v",
			label, g.Prompt, i, margin, ids, g.CompletionIDs)
	}
	return true
}

// logitDiff is the largest difference from llama.cpp at one step: abs at logit id (or the log-sum-exp,
// id -1), size the magnitude of llama.cpp's top logit there.
type logitDiff struct {
	id        int
	abs, size float64
}

// stepDiff compares logits with llama.cpp's recorded top logits and log-sum-exp at one step.
func stepDiff(logits []float32, top [][2]float64, lse float64) logitDiff {
	d := logitDiff{id: -1, abs: math.Abs(logSumExp(logits) - lse), size: math.Abs(top[0][1])}
	for _, p := range top {
		if e := math.Abs(float64(logits[int(p[0])]) - p[1]); e > d.abs {
			d.abs, d.id = e, int(p[0])
		}
	}
	return d
}

// llamacppLogitDiffs decodes g's prompt and llama.cpp's continuation with the KV cache, as generation
// does, and compares the recorded top logits and the log-sum-exp of all logits at each step.
func llamacppLogitDiffs(m *Model, g llamacppGreedy) []logitDiff {
	st := m.newState(len(g.PromptIDs)+len(g.Steps), 1)
	var logits []float32
	for i := 0; i < len(g.PromptIDs); i += promptBatch {
		logits = st.forward(g.PromptIDs[i:min(i+promptBatch, len(g.PromptIDs))], false)
	}
	var out []logitDiff
	for i, step := range g.Steps {
		if i > 0 {
			logits = st.forward([]int32{g.CompletionIDs[i-1]}, false)
		}
		out = append(out, stepDiff(logits, step.Top, step.LogSumExp))
	}
	return out
}

// stepStats gathers a model's logit steps against llama.cpp.
type stepStats struct {
	steps, worst, worstRel float64
	rel                    []float64 // each step's difference relative to the logits' size (at least 1)
}

// compareLogits checks the logits of every step llama.cpp recorded for g against tol (of the step's
// logits' size) and adds them to s. label prefixes the messages.
func (s *stepStats) compareLogits(t *testing.T, m *Model, g llamacppGreedy, label string, tol func(size float64) float64) {
	t.Helper()
	for i, d := range llamacppLogitDiffs(m, g) {
		s.steps++
		if d.abs > tol(d.size) {
			t.Errorf("%sprompt %q step %d: logit %d is %g off llama.cpp's (tolerance %g)", label, g.Prompt, i, d.id, d.abs, tol(d.size))
		}
		s.worst = max(s.worst, d.abs)
		s.worstRel = max(s.worstRel, d.abs/max(1, d.size))
		s.rel = append(s.rel, d.abs/max(1, d.size))
	}
}

func logSumExp(v []float32) float64 {
	mx := float64(v[argmax(v)])
	var s float64
	for _, x := range v {
		s += math.Exp(float64(x) - mx)
	}
	return mx + math.Log(s)
}

func medianOf(v []float64) float64 {
	v = slices.Clone(v)
	sort.Float64s(v)
	return v[len(v)/2]
}

// llamacppLongFixture is a fixture written by rope-reference.mjs or qwen2-reference.mjs (lib/llama.mjs
// promptListReference): float32 K/V cache, no flash attention, the top logits of every generated position.
type llamacppLongFixture struct {
	NGenerate int `json:"n_generate"`
	Models    []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
		Greedy []struct {
			llamacppGreedy
			// MaxPromptTokens cuts the tokenized prompt (BOS first) to this length; 0 keeps it whole.
			MaxPromptTokens int `json:"max_prompt_tokens"`
		} `json:"greedy"`
	} `json:"models"`
}

// compareLongFixture checks the models of a fixture written by rope-reference.mjs or qwen2-reference.mjs
// against the engine with the tolerances of llamacpp_rope_test.go (see TestLlamaCppRopeScaling).
// variants returns altered copies of a model, each lacking a feature the fixture is meant to exercise:
// each must miss llama.cpp's logits by a median of at least ropeUnscaledMin times the median tolerance.
func compareLongFixture(t *testing.T, path, regen string, specs []namedSpec, variants func(*testing.T, testSpec, *Model) map[string]*Model) {
	var fx llamacppLongFixture
	readFixture(t, path, &fx)
	if len(fx.Models) != len(specs) {
		t.Fatalf("fixture has %d models, the specs %d: regenerate it (%s)", len(fx.Models), len(specs), regen)
	}
	for _, fm := range fx.Models {
		t.Run(fm.Name, func(t *testing.T) {
			spec, mb := specModel(t, specs, fm.Name, fm.SHA256, regen)
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
					d := stepDiff(steps[si].logits, want.Top, want.LogSumExp).abs
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
						d := stepDiff(us[si].logits, want.Top, want.LogSumExp).abs
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
