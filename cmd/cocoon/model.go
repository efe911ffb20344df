package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/inference/llama"
	"github.com/cocoon-go/cocoon/models"
)

func init() {
	register("model", "GGUF models: info, generate, serve (OpenAI-compatible, no payments)", runModel)
}

// Where model commands write; tests swap it.
var modelOut io.Writer = os.Stdout

const modelUsage = `usage: cocoon model <info|generate|serve> [FILE] [flags]

  info       print the model's architecture, sizes, parameter count and sha256
  generate   continue --prompt TEXT for --max-tokens N tokens (greedy unless --temperature is given);
             prints only the continuation
  serve      serve the OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/completions)
             on --listen ADDR, without payments or attestation

FILE is a GGUF file; omitted or "default" means the embedded demo model (` + models.DefaultModelName + `).
Run 'cocoon model <verb> -h' for the flags of each verb.`

func runModel(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, modelUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "info":
		return modelInfo(rest)
	case "generate":
		return modelGenerate(ctx, rest)
	case "serve":
		return modelServe(ctx, rest)
	case "-h", "--help", "help":
		fmt.Fprintln(modelOut, modelUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, verb, modelUsage)
}

// parseWithFile parses flags that may come before or after the one optional FILE argument.
func parseWithFile(fs *flag.FlagSet, args []string) (string, error) {
	file := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		file, args = args[0], args[1:]
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", err
		}
		return "", fmt.Errorf("%w: %v", errUsage, err)
	}
	switch {
	case fs.NArg() == 1 && file == "":
		file = fs.Arg(0)
	case fs.NArg() > 0:
		return "", fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	return file, nil
}

// loadedModel is a model file read, hashed and loaded.
type loadedModel struct {
	*models.File
	model *llama.Model
}

// loadModel reads FILE (or the embedded default) once and loads it; the hash is of the bytes loaded.
func loadModel(file string) (*loadedModel, error) {
	f, err := models.Read(file)
	if err != nil {
		return nil, err
	}
	m, err := llama.LoadBytes(f.Weights)
	if err != nil {
		return nil, fmt.Errorf("failed to load model: %w", err)
	}
	return &loadedModel{File: f, model: m}, nil
}

func modelInfo(args []string) error {
	fs := flag.NewFlagSet("model info", flag.ContinueOnError)
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	lm, err := loadModel(file)
	if err != nil {
		return err
	}
	in := lm.model.Info()
	src := lm.Path
	if src == "" {
		src = "embedded default model"
	}
	w := modelOut
	fmt.Fprintf(w, "file:            %s\n", src)
	fmt.Fprintf(w, "sha256:          %s\n", lm.SHA256)
	fmt.Fprintf(w, "size:            %d bytes\n", len(lm.Weights))
	fmt.Fprintf(w, "name:            %s\n", in.Name)
	fmt.Fprintf(w, "architecture:    %s\n", in.Architecture)
	fmt.Fprintf(w, "parameters:      %d\n", in.Params)
	fmt.Fprintf(w, "file type:       %s\n", in.FileType)
	fmt.Fprintf(w, "context length:  %d\n", in.ContextLength)
	fmt.Fprintf(w, "embedding:       %d\n", in.Embedding)
	fmt.Fprintf(w, "layers:          %d\n", in.Layers)
	fmt.Fprintf(w, "heads:           %d (kv %d, head dim %d)\n", in.Heads, in.KVHeads, in.HeadDim)
	fmt.Fprintf(w, "feed forward:    %d\n", in.FFN)
	fmt.Fprintf(w, "vocabulary:      %d\n", in.Vocab)
	fmt.Fprintf(w, "rope:            dim %d, base %g\n", in.RopeDim, in.RopeFreqBase)
	return nil
}

func modelGenerate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("model generate", flag.ContinueOnError)
	prompt := fs.String("prompt", "", "text to continue (required)")
	maxTokens := fs.Int("max-tokens", 64, "most tokens to generate")
	temp := fs.Float64("temperature", 0, "sampling temperature; 0 (the default) is greedy decoding")
	topP := fs.Float64("top-p", 1, "nucleus sampling threshold (with --temperature)")
	seed := fs.Uint64("seed", 0, "sampling seed (with --temperature)")
	threads := fs.Int("threads", 0, "engine threads; 0 means all cores")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	if *prompt == "" {
		return fmt.Errorf("%w: --prompt is required", errUsage)
	}
	if *maxTokens < 1 {
		return fmt.Errorf("%w: --max-tokens must be at least 1, got %d", errUsage, *maxTokens)
	}
	if *temp < 0 || *temp > 2 {
		return fmt.Errorf("%w: --temperature must be in [0, 2], got %g", errUsage, *temp)
	}
	if *topP <= 0 || *topP > 1 {
		return fmt.Errorf("%w: --top-p must be in (0, 1], got %g", errUsage, *topP)
	}
	lm, err := loadModel(file)
	if err != nil {
		return err
	}
	opts := llama.GenerateOptions{MaxTokens: *maxTokens, Temperature: float32(*temp), TopP: float32(*topP), Seed: *seed,
		AddBOS: true, Threads: *threads}
	_, err = lm.model.Generate(ctx, *prompt, opts, func(delta string) error {
		_, err := io.WriteString(modelOut, delta)
		return err
	})
	if err != nil {
		return fmt.Errorf("failed to generate: %w", err)
	}
	fmt.Fprintln(modelOut)
	return nil
}

func modelServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("model serve", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:8000", "address to serve the OpenAI-compatible API on")
	name := fs.String("model-name", "", "the model's registry name, which clients request (default: the default model's name, or the file name without extension)")
	pin := fs.String("sha256", "", "refuse to serve unless the weights have this sha256 (default model: always its known hash)")
	threads := fs.Int("threads", 0, "engine threads; 0 means all cores")
	chatTemplate := fs.String("chat-template", "", "chat template family ("+strings.Join(embedded.Families, ", ")+"); default: detected from the GGUF's tokenizer.chat_template, plain without one")
	file, err := parseWithFile(fs, args)
	if err != nil {
		return err
	}
	f, err := models.Read(file)
	if err != nil {
		return err
	}
	if *name != "" {
		f.Name = *name
	}
	expected := *pin
	if expected == "" {
		expected = f.SHA256
		if f.Path == "" {
			expected = models.DefaultSHA256
		}
	}
	b, err := embedded.New(embedded.Config{ModelName: f.Name, Weights: f.Weights, ExpectedSHA256: expected, Threads: *threads, ChatTemplate: *chatTemplate})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %s: %w", *listen, err)
	}
	srv := &http.Server{Handler: httpapi.NewHandler(b, httpapi.WithSystemFingerprint(httpapi.Fingerprint(b.SHA256()))),
		ReadHeaderTimeout: 10 * time.Second}
	slog.Info("serving OpenAI-compatible API", "addr", ln.Addr().String(), "model", f.Name, "sha256", b.SHA256())
	fmt.Fprintf(modelOut, "serving %s on http://%s/v1 (sha256 %s)\n", f.Name, ln.Addr(), b.SHA256())
	family, fallback := b.ChatFamily()
	if fallback {
		family += " (fallback: the GGUF's chat template is not a known family)"
	}
	fmt.Fprintf(modelOut, "chat template: %s\n", family)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("failed to serve: %w", err)
	case <-ctx.Done():
	}
	shutCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutCtx); err != nil {
		return fmt.Errorf("failed to shut down: %w", err)
	}
	return nil
}
