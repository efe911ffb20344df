package llama

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/inference/gguf"
)

// spec25M is the benchmark model: ~26M parameters of random F32 weights (7 layers of 512, FFN 1376,
// 4096-token vocabulary, untied output), the size class of the default model.
var spec25M = testSpec{embd: 512, layers: 7, heads: 8, kvHeads: 8, ffn: 1376, ctx: 1024, extraVocab: 4096 - 295, seed: 11}

var bench25M struct {
	once, onceF16, onceQ8 sync.Once
	m, mF16, mQ8          *Model
}

func model25M(b *testing.B) *Model {
	bench25M.once.Do(func() { bench25M.m = loadTestModel(b, spec25M) })
	return bench25M.m
}

// model25MF16 is the same model stored in half precision.
func model25MF16(b *testing.B) *Model {
	bench25M.onceF16.Do(func() {
		spec := spec25M
		spec.weightType = gguf.F16
		bench25M.mF16 = loadTestModel(b, spec)
	})
	return bench25M.mF16
}

func threadCounts() []int {
	if n := runtime.GOMAXPROCS(0); n > 1 {
		return []int{1, n}
	}
	return []int{1}
}

// benchPrompt measures prompt processing (one batched forward pass over n tokens).
func benchPrompt(b *testing.B, m *Model, n int) {
	rng := rand.New(rand.NewPCG(1, 1))
	tokens := randomTokens(rng, n, m.Info().Vocab)
	for _, threads := range threadCounts() {
		b.Run(fmt.Sprintf("tokens=%d/threads=%d", n, threads), func(b *testing.B) {
			st := m.newState(n, threads)
			b.ResetTimer()
			cpu0 := cpuTime()
			for i := 0; i < b.N; i++ {
				st.pos = 0
				st.forward(tokens, false)
			}
			reportTokens(b, n*b.N, cpuTime()-cpu0)
		})
	}
}

// benchGenerate measures decoding: n single-token forward passes after an 8-token prompt.
func benchGenerate(b *testing.B, m *Model, n int) {
	rng := rand.New(rand.NewPCG(2, 2))
	prompt := randomTokens(rng, 8, m.Info().Vocab)
	for _, threads := range threadCounts() {
		b.Run(fmt.Sprintf("tokens=%d/threads=%d", n, threads), func(b *testing.B) {
			st := m.newState(len(prompt)+n, threads)
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				st.pos = 0
				logits := st.forward(prompt, false)
				b.StartTimer()
				cpu0 := cpuTime()
				for j := 0; j < n; j++ {
					logits = st.forward([]int32{argmax(logits)}, false)
				}
				cpu += cpuTime() - cpu0
			}
			reportTokens(b, n*b.N, cpu)
		})
	}
}

// model25MQ8 is the same model quantized to Q8_0.
func model25MQ8(b *testing.B) *Model {
	bench25M.onceQ8.Do(func() {
		spec := spec25M
		spec.weightType = gguf.Q8_0
		bench25M.mQ8 = loadTestModel(b, spec)
	})
	return bench25M.mQ8
}

// quantModels25M are the benchmark model in the 4- and 5-bit formats: Q4_0, and the Q4_K_M mix (q4KM)
// and its Q5_K_M twin with the FFN narrowed from 1376 to 1280 so that ffn_down's rows are whole
// 256-value super-blocks.
var quantModels25M = struct {
	sync.Mutex
	m map[string]*Model
}{m: map[string]*Model{}}

func model25MQuant(b *testing.B, name string) *Model {
	quantModels25M.Lock()
	defer quantModels25M.Unlock()
	if m, ok := quantModels25M.m[name]; ok {
		return m
	}
	spec := spec25M
	switch name {
	case "Q4_0":
		spec.weightType = gguf.Q4_0
	case "Q4_K_M":
		spec.ffn = 1280
		spec.weightType = gguf.Q4_K
		spec.typeFor = q4KM
	case "Q5_K_M":
		spec.ffn = 1280
		spec.weightType = gguf.Q5_K
		spec.typeFor = func(name string) gguf.GGMLType {
			if q4KM(name) == gguf.Q6_K {
				return gguf.Q6_K
			}
			return gguf.Q5_K
		}
	}
	m := loadTestModel(b, spec)
	quantModels25M.m[name] = m
	return m
}

func BenchmarkPrompt25MQ4_0(b *testing.B)     { benchPrompt(b, model25MQuant(b, "Q4_0"), 128) }
func BenchmarkGenerate25MQ4_0(b *testing.B)   { benchGenerate(b, model25MQuant(b, "Q4_0"), 64) }
func BenchmarkPrompt25MQ4_K_M(b *testing.B)   { benchPrompt(b, model25MQuant(b, "Q4_K_M"), 128) }
func BenchmarkGenerate25MQ4_K_M(b *testing.B) { benchGenerate(b, model25MQuant(b, "Q4_K_M"), 64) }
func BenchmarkPrompt25MQ5_K_M(b *testing.B)   { benchPrompt(b, model25MQuant(b, "Q5_K_M"), 128) }
func BenchmarkGenerate25MQ5_K_M(b *testing.B) { benchGenerate(b, model25MQuant(b, "Q5_K_M"), 64) }

func BenchmarkPrompt25M(b *testing.B)      { benchPrompt(b, model25M(b), 128) }
func BenchmarkGenerate25M(b *testing.B)    { benchGenerate(b, model25M(b), 64) }
func BenchmarkPrompt25MF16(b *testing.B)   { benchPrompt(b, model25MF16(b), 128) }
func BenchmarkGenerate25MF16(b *testing.B) { benchGenerate(b, model25MF16(b), 64) }
func BenchmarkPrompt25MQ8(b *testing.B)    { benchPrompt(b, model25MQ8(b), 128) }
func BenchmarkGenerate25MQ8(b *testing.B)  { benchGenerate(b, model25MQ8(b), 64) }

// reportTokens reports tokens per wall-clock second and, when CPU time is known, per CPU-second (all
// threads' CPU time together: with one thread it is the speed of an otherwise idle core).
func reportTokens(b *testing.B, tokens int, cpu time.Duration) {
	b.ReportMetric(float64(tokens)/b.Elapsed().Seconds(), "tokens/s")
	if cpu > 0 {
		b.ReportMetric(float64(tokens)/cpu.Seconds(), "tokens/cpu-s")
	}
}
