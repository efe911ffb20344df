package llama

import (
	"flag"
	"math"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
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

func TestWriteLlamaCppRopeModels(t *testing.T) {
	if *llamacppRopeWrite == "" {
		t.Skip("set -llamacpp.rope.write=DIR to write the RoPE-scaling llama.cpp reference models")
	}
	writeNamedSpecs(t, *llamacppRopeWrite, llamacppRopeSpecs)
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
	compareLongFixture(t, "../../models/testdata/llamacpp-rope-reference.json", "tools/llamacpp-ref/rope-regen.sh", llamacppRopeSpecs,
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
