package llama

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// rewrite copies a GGUF file, letting kv replace or drop (return false) metadata and tensor drop tensors.
func rewrite(t *testing.T, b []byte, kv func(k *gguf.KV) bool, tensor func(ti *gguf.TensorInfo) bool) []byte {
	t.Helper()
	f, err := gguf.Read(b)
	if err != nil {
		t.Fatal(err)
	}
	w := gguf.NewWriter()
	for _, k := range f.KVs {
		if kv == nil || kv(&k) {
			w.AddKV(k.Key, k.Value)
		}
	}
	for _, ti := range f.Tensors {
		if tensor == nil || tensor(&ti) {
			w.AddTensor(ti.Name, ti.Type, ti.Dims, ti.Data)
		}
	}
	out, err := w.Bytes()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLoadErrors(t *testing.T) {
	good := buildTestModel(t, smallSpec)
	setKV := func(key string, v any) func(k *gguf.KV) bool {
		return func(k *gguf.KV) bool {
			if k.Key == key {
				k.Value = v
			}
			return v != nil || k.Key != key
		}
	}
	dropTensor := func(name string) func(ti *gguf.TensorInfo) bool {
		return func(ti *gguf.TensorInfo) bool { return ti.Name != name }
	}
	withSpec := func(edit func(*testSpec)) []byte {
		s := smallSpec
		edit(&s)
		return buildTestModel(t, s)
	}
	cases := []struct {
		name string
		b    []byte
		want string
	}{
		{"arch", rewrite(t, good, setKV("general.architecture", "gpt2"), nil), "only \"llama\""},
		{"no context", rewrite(t, good, setKV("llama.context_length", nil), nil), "context_length is missing"},
		{"zero heads", rewrite(t, good, setKV("llama.attention.head_count", uint32(0)), nil), "head_count = 0"},
		{"heads do not divide", rewrite(t, good, setKV("llama.attention.head_count", uint32(5)), nil), "not a multiple"},
		{"kv heads do not divide", rewrite(t, good, setKV("llama.attention.head_count_kv", uint32(4)), nil), "not a multiple"},
		{"odd rope", rewrite(t, good, setKV("llama.rope.dimension_count", uint32(5)), nil), "rope dimension"},
		{"no eps", rewrite(t, good, setKV("llama.attention.layer_norm_rms_epsilon", nil), nil), "epsilon is missing"},
		{"eps type", rewrite(t, good, setKV("llama.attention.layer_norm_rms_epsilon", "small"), nil), "want a number"},
		{"huge context", rewrite(t, good, setKV("llama.context_length", uint64(1<<40)), nil), "outside"},
		{"missing tensor", rewrite(t, good, nil, dropTensor("blk.1.ffn_up.weight")), "blk.1.ffn_up.weight is missing"},
		{"wrong ffn", rewrite(t, good, setKV("llama.feed_forward_length", uint32(81)), nil), "has shape"},
		{"no tokenizer", rewrite(t, good, setKV("tokenizer.ggml.tokens", nil), nil), "tokenizer"},
		{"tokenizer size", rewrite(t, good, func(k *gguf.KV) bool {
			if k.Key == "tokenizer.ggml.tokens" {
				a := k.Value.(gguf.Array)
				k.Value = a.Values.([]string)[:300]
			}
			return !strings.HasPrefix(k.Key, "tokenizer.ggml.scores") && !strings.HasPrefix(k.Key, "tokenizer.ggml.token_type")
		}, nil), "tokenizer has 300 tokens"},
		{"yarn", withSpec(func(s *testSpec) { s.extraKV = map[string]any{"llama.rope.scaling.type": "yarn"} }), `scaling.type "yarn" is not supported`},
		{"rope attn factor", withSpec(func(s *testSpec) { s.extraKV = map[string]any{"llama.rope.scaling.attn_factor": float32(1.5)} }), "attn_factor = 1.5"},
		{"negative rope scale", withSpec(func(s *testSpec) { s.extraKV = map[string]any{"llama.rope.scaling.factor": float32(-2)} }), "not a usable RoPE scaling factor"},
		{"rope freqs shape", withSpec(func(s *testSpec) { s.ropeFreqs = []float32{1, 2} }), "rope_freqs.weight has shape"},
		{"rope freqs zero", withSpec(func(s *testSpec) { s.ropeFreqs = []float32{1, 0, 4} }), "rope_freqs.weight[1] = 0"},
		{"qwen2 rope freqs", withSpec(func(s *testSpec) {
			s.arch, s.ropeDim, s.ropeFreqs = "qwen2", 0, []float32{1, 2, 4, 8}
		}), "tensor rope_freqs.weight is not supported for the qwen2 architecture"},
		{"llama output bias", withSpec(func(s *testSpec) { s.outBias = true }), "tensor output.bias is not supported for the llama architecture"},
		{"qwen2 partial rope", withSpec(func(s *testSpec) { s.arch = "qwen2" }), "qwen2 rope dimension 6 must be the head size 8"},
		{"qwen2 key prefix", rewrite(t, withSpec(func(s *testSpec) { s.arch, s.ropeDim = "qwen2", 0 }), setKV("qwen2.block_count", nil), nil), "qwen2.block_count is missing"},
		{"not gguf", []byte("hello"), "bad magic"},
		{"truncated", good[:len(good)/2], "truncated"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := LoadBytes(c.b)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error containing %q", err, c.want)
			}
		})
	}
	if _, err := LoadBytes(rewrite(t, good, nil, nil)); err != nil {
		t.Fatalf("unchanged copy: %v", err)
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(p, buildTestModel(t, smallSpec), 0o600); err != nil {
		t.Fatal(err)
	}
	m, err := Load(p)
	if err != nil || m.Info().Layers != 2 {
		t.Fatalf("%v", err)
	}
	if _, err := Load(p + ".nope"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing: %v", err)
	}
}

func FuzzLoadBytes(f *testing.F) {
	spec := testSpec{embd: 8, layers: 1, heads: 2, kvHeads: 1, ffn: 8, ctx: 8, seed: 1}
	f.Add(buildTestModel(f, spec))
	spec.weightType = gguf.F16
	f.Add(buildTestModel(f, spec))
	spec = testSpec{embd: 32, layers: 1, heads: 2, kvHeads: 2, ffn: 32, ctx: 8, seed: 2, weightType: gguf.Q8_0, tied: true}
	f.Add(buildTestModel(f, spec))
	spec.weightType = gguf.Q4_1
	f.Add(buildTestModel(f, spec))
	f.Add(buildTestModel(f, testSpec{arch: "qwen2", embd: 8, layers: 1, heads: 2, kvHeads: 1, ffn: 8, ctx: 8, seed: 3, qkvBias: true, outBias: true}))
	f.Add(buildTestModel(f, testSpec{embd: 8, layers: 1, heads: 2, kvHeads: 1, ffn: 8, ctx: 8, seed: 4, ropeFreqs: []float32{1, 8}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := LoadBytes(b)
		if err != nil {
			return
		}
		// Whatever loads must also run.
		_, _ = m.GenerateTokens(t.Context(), []int32{1}, GenerateOptions{MaxTokens: 2}, nil)
	})
}

// TestRopeScalingMetadata: the angle factor llama.cpp derives from the scaling keys.
func TestRopeScalingMetadata(t *testing.T) {
	cases := []struct {
		kv   map[string]any
		want float64
	}{
		{nil, 1},
		{map[string]any{"llama.rope.scaling.factor": float32(4)}, 0.25},
		{map[string]any{"llama.rope.scaling.type": "linear", "llama.rope.scaling.factor": float32(8)}, 0.125},
		{map[string]any{"llama.rope.scaling.type": "none", "llama.rope.scaling.factor": float32(4)}, 1},
		{map[string]any{"llama.rope.scale_linear": float32(2)}, 0.5},
		{map[string]any{"llama.rope.scaling.factor": float32(0), "llama.rope.scaling.attn_factor": float32(1)}, 1},
	}
	for _, c := range cases {
		spec := smallSpec
		spec.extraKV = c.kv
		m := loadTestModel(t, spec)
		if got := m.Info().RopeFreqScale; got != c.want {
			t.Errorf("%v: RopeFreqScale %v, want %v", c.kv, got, c.want)
		}
	}
}
