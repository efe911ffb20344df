// Package embedded is the backend that runs a GGUF model in this process with the pure-Go llama
// engine. It pins the weights: the file's sha256 must equal the hash the registry lists for the
// model id, or the backend refuses to start.
package embedded

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/gguf"
	"github.com/cocoon-go/cocoon/inference/llama"
)

// Config selects the model to serve.
type Config struct {
	// ModelName is the model's registry name, which requests give as "model".
	ModelName string
	// Path is the GGUF file; ignored when Weights is set.
	Path string
	// Weights is the GGUF file's content (e.g. the embedded default model).
	Weights []byte
	// ExpectedSHA256 is the hex sha256 of the weights the registry lists for ModelName. Required:
	// serving unpinned weights would let a provider bill for a model it does not run.
	ExpectedSHA256 string
	// Threads for the engine's matrix work; 0 lets the engine choose.
	Threads int
	// ChatTemplate forces a chat template family (one of Families); "" detects it from the GGUF's
	// tokenizer.chat_template, and a GGUF without one gets the plain template.
	ChatTemplate string
}

// Check validates the configuration without reading the weights.
func (c Config) Check() error {
	if c.ModelName == "" {
		return fmt.Errorf("%w: embedded backend: model name is empty", backend.ErrConfig)
	}
	if c.Path == "" && c.Weights == nil {
		return fmt.Errorf("%w: embedded backend: neither a GGUF path nor weights are given", backend.ErrConfig)
	}
	if b, err := hex.DecodeString(c.ExpectedSHA256); err != nil || len(b) != sha256.Size {
		return fmt.Errorf("%w: embedded backend: expected sha256 %q is not 64 hex digits", backend.ErrConfig, c.ExpectedSHA256)
	}
	if c.Threads < 0 {
		return fmt.Errorf("%w: embedded backend: threads %d is negative", backend.ErrConfig, c.Threads)
	}
	if c.ChatTemplate != "" && !slices.Contains(Families, c.ChatTemplate) {
		return fmt.Errorf("%w: embedded backend: chat template %q is not one of %s", backend.ErrConfig, c.ChatTemplate, strings.Join(Families, ", "))
	}
	return nil
}

// Backend serves one GGUF model.
type Backend struct {
	name   string
	sha    string
	model  *llama.Model
	info   llama.Info
	thread int
	chat   *chatTemplate
	// sem serializes generation: one request at a time uses all the cores it was given.
	sem chan struct{}
}

var _ backend.Backend = (*Backend)(nil)

// New hashes the weights, refuses them unless the hash equals cfg.ExpectedSHA256, then loads them.
// The bytes hashed are exactly the bytes loaded (no re-read of the file in between).
func New(cfg Config) (*Backend, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	weights := cfg.Weights
	if weights == nil {
		var err error
		weights, err = os.ReadFile(cfg.Path)
		if err != nil {
			return nil, fmt.Errorf("failed to read model %s: %w", cfg.Path, err)
		}
	}
	sum := sha256.Sum256(weights)
	got := hex.EncodeToString(sum[:])
	if !strings.EqualFold(got, cfg.ExpectedSHA256) {
		return nil, fmt.Errorf("%w: refusing to serve model %q: weights sha256 is %s, the registry expects %s",
			backend.ErrHashMismatch, cfg.ModelName, got, strings.ToLower(cfg.ExpectedSHA256))
	}
	m, err := llama.LoadBytes(weights)
	if err != nil {
		return nil, fmt.Errorf("failed to load model %q: %w", cfg.ModelName, err)
	}
	// The engine keeps no chat template, so the metadata is read again (no tensor data is copied).
	f, err := gguf.Read(weights)
	if err != nil {
		return nil, fmt.Errorf("failed to read model %q metadata: %w", cfg.ModelName, err)
	}
	src, _, err := f.String("tokenizer.chat_template")
	if err != nil {
		return nil, fmt.Errorf("failed to read model %q chat template: %w", cfg.ModelName, err)
	}
	chat, err := newChatTemplate(src, cfg.ChatTemplate, m.Tokenizer())
	if err != nil {
		return nil, fmt.Errorf("%w: model %q: %w", backend.ErrConfig, cfg.ModelName, err)
	}
	return &Backend{name: cfg.ModelName, sha: got, model: m, info: m.Info(), thread: cfg.Threads, chat: chat, sem: make(chan struct{}, 1)}, nil
}

// ChatFamily names the chat template family chat requests are rendered with (FamilyPlain for a GGUF
// without a template); fallback reports chatml chosen for a template no family matched.
func (b *Backend) ChatFamily() (family string, fallback bool) { return b.chat.family, b.chat.fallback }

// SHA256 is the hex sha256 of the served weights.
func (b *Backend) SHA256() string { return b.sha }

// Info describes the loaded model.
func (b *Backend) Info() llama.Info { return b.info }

// Models lists the one served model.
func (b *Backend) Models(context.Context) ([]backend.Model, error) {
	return []backend.Model{{Name: b.name, WeightsSHA256: b.sha, OwnedBy: "cocoon", ContextLength: b.info.ContextLength}}, nil
}

// Health is always nil: the model is in memory.
func (b *Backend) Health(context.Context) error { return nil }

// Generate renders the prompt, checks it fits the context window with MaxTokens, and runs the engine.
func (b *Backend) Generate(ctx context.Context, req backend.Request, onText func(string) error) (backend.Result, error) {
	if req.Model != b.name {
		return backend.Result{}, &backend.UnknownModelError{Model: req.Model}
	}
	prompt, param := req.Prompt, "prompt"
	stop := req.Stop
	// tokens is the chat prompt of a real template, tokenized with its control tokens; nil for text
	// prompts and the plain template, which go through the engine's text tokenization.
	var tokens []int32
	tok := b.model.Tokenizer()
	if req.Chat {
		var err error
		if prompt, err = b.chat.Render(req.Messages); err != nil {
			return backend.Result{}, err
		}
		param = "messages"
		if b.chat.family == FamilyPlain {
			stop = append(append([]string(nil), req.Stop...), ChatStop)
		} else {
			// The turn ends at the model's end-of-generation token (<|eot_id|>, <|im_end|>, ...).
			tokens = b.chat.tokenize(tok, prompt)
		}
	} else {
		// As llama.cpp's server (tokenize_input_prompts with parse_special) and vLLM do: control
		// tokens written in a completions prompt, e.g. a chat template a client rendered itself, are
		// tokens, not text.
		tokens = tok.EncodeSpecial(prompt, true, true)
	}
	if req.MaxTokens < 0 {
		return backend.Result{}, backend.InvalidRequest("max_tokens", "max_tokens must be positive, got %d", req.MaxTokens)
	}
	nPrompt := len(tokens)
	if tokens == nil {
		nPrompt = len(tok.Encode(prompt, true))
	}
	limit := b.info.ContextLength
	maxTokens := req.MaxTokens
	if maxTokens == 0 {
		maxTokens = limit - nPrompt
	}
	if nPrompt+maxTokens > limit || maxTokens <= 0 {
		return backend.Result{}, &backend.ContextLengthError{Param: param, Limit: limit, Prompt: nPrompt, MaxTokens: req.MaxTokens}
	}
	opts := llama.GenerateOptions{MaxTokens: maxTokens, Temperature: 1, TopP: 1, Stop: stop, AddBOS: true, Threads: b.thread}
	if req.Temperature != nil {
		opts.Temperature = *req.Temperature
	}
	if req.TopP != nil {
		opts.TopP = *req.TopP
	}
	if req.Seed != nil {
		opts.Seed = *req.Seed
	} else {
		// Unseeded sampled requests must differ from each other, as with any OpenAI server.
		opts.Seed = randomSeed()
	}

	select {
	case b.sem <- struct{}{}:
	case <-ctx.Done():
		return backend.Result{}, fmt.Errorf("failed to wait for the model: %w", ctx.Err())
	}
	defer func() { <-b.sem }()

	deliver := func(delta string, completion int) error {
		if delta == "" {
			return nil
		}
		if req.Progress != nil {
			req.Progress(backend.Usage{PromptTokens: nPrompt, CompletionTokens: completion})
		}
		return onText(delta)
	}
	if tokens == nil {
		tokens = tok.Encode(prompt, true) // what llama.Generate does with AddBOS
	}
	res, err := b.model.GenerateTokensTextCounted(ctx, tokens, opts, deliver)
	out := backend.Result{Usage: backend.Usage{PromptTokens: res.PromptTokens, CompletionTokens: res.CompletionTokens}}
	if err != nil {
		if errors.Is(err, llama.ErrContextLength) {
			return out, &backend.ContextLengthError{Param: param, Limit: limit, Prompt: nPrompt, MaxTokens: req.MaxTokens}
		}
		if errors.Is(err, llama.ErrInput) {
			return out, backend.InvalidRequest(param, "%v", err)
		}
		return out, fmt.Errorf("failed to generate: %w", err)
	}
	out.FinishReason = res.FinishReason
	return out, nil
}

func randomSeed() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms
	return binary.LittleEndian.Uint64(b[:])
}
