package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/models"
)

// syncBuffer is a bytes.Buffer safe for the serve goroutine and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func withModelOut(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	old := modelOut
	modelOut = buf
	t.Cleanup(func() { modelOut = old })
	return buf
}

func TestModelInfo(t *testing.T) {
	out := withModelOut(t)
	if err := runModel(context.Background(), []string{"info"}); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	for _, want := range []string{"sha256:          " + models.DefaultSHA256, "architecture:    llama", "name:            " + models.DefaultName,
		"parameters:      ", "context length:  "} {
		if !strings.Contains(s, want) {
			t.Errorf("info lacks %q:\n%s", want, s)
		}
	}
	// A file path gives the same model.
	path := filepath.Join(t.TempDir(), "demo.gguf")
	if err := os.WriteFile(path, models.DefaultGGUF(), 0o600); err != nil {
		t.Fatal(err)
	}
	out2 := withModelOut(t)
	if err := runModel(context.Background(), []string{"info", path}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out2.String(), models.DefaultSHA256) || !strings.Contains(out2.String(), path) {
		t.Fatalf("info %s:\n%s", path, out2.String())
	}
}

func TestModelGenerateGreedyMatchesReference(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "models", "testdata", "reference.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ref struct {
		Greedy []struct {
			Prompt         string `json:"prompt"`
			CompletionIDs  []int  `json:"completion_ids"`
			CompletionText string `json:"completion_text"`
		} `json:"greedy"`
	}
	if err := json.Unmarshal(b, &ref); err != nil {
		t.Fatal(err)
	}
	g := ref.Greedy[0]
	out := withModelOut(t)
	// Flags after FILE, as in the usage text.
	if err := runModel(context.Background(), []string{"generate", "default", "--prompt", g.Prompt, "--max-tokens", strconv.Itoa(len(g.CompletionIDs))}); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != g.CompletionText+"\n" {
		t.Fatalf("generate printed %q, reference continuation %q", got, g.CompletionText)
	}
}

func TestModelUsageErrors(t *testing.T) {
	withModelOut(t)
	for _, args := range [][]string{
		{},
		{"explode"},
		{"generate"},
		{"generate", "--prompt", "x", "--max-tokens", "0"},
		{"generate", "--prompt", "x", "--temperature", "-1"},
		{"info", "a.gguf", "b.gguf"},
		{"serve", "--no-such-flag"},
	} {
		if err := runModel(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("%q: got %v, want a usage error", args, err)
		}
	}
	if err := runModel(context.Background(), []string{"info", filepath.Join(t.TempDir(), "missing.gguf")}); err == nil || errors.Is(err, errUsage) {
		t.Errorf("missing file: %v", err)
	}
	notGGUF := filepath.Join(t.TempDir(), "x.gguf")
	if err := os.WriteFile(notGGUF, []byte("not a model"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := runModel(context.Background(), []string{"info", notGGUF}); err == nil {
		t.Error("a non-GGUF file was accepted")
	}
}

func TestModelServe(t *testing.T) {
	out := withModelOut(t)
	if err := runModel(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--sha256", strings.Repeat("0", 64)}); !errors.Is(err, backend.ErrHashMismatch) {
		t.Fatalf("serve with a wrong pinned hash: %v", err)
	}
	if err := runModel(context.Background(), []string{"serve", "--listen", "127.0.0.1:0", "--chat-template", "no-such-family"}); !errors.Is(err, backend.ErrConfig) {
		t.Fatalf("serve with an unknown chat template family: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runModel(ctx, []string{"serve", "--listen", "127.0.0.1:0"}) }()
	var base string
	for deadline := time.Now().Add(10 * time.Second); base == "" && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if _, rest, ok := strings.Cut(out.String(), "on http://"); ok {
			base = "http://" + strings.Fields(rest)[0]
		}
	}
	if base == "" {
		cancel()
		t.Fatalf("serve printed no address: %q (%v)", out.String(), <-done)
	}
	resp, err := http.Post(base+"/chat/completions", "application/json",
		strings.NewReader(`{"model":"`+models.DefaultModelName+`","messages":[{"role":"user","content":"Hello"}],"max_tokens":4}`))
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	var c struct {
		SystemFingerprint string `json:"system_fingerprint"`
		Usage             struct {
			CompletionTokens int `json:"completion_tokens"`
		} `json:"usage"`
	}
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	cancel()
	if err != nil || resp.StatusCode != 200 || c.Usage.CompletionTokens == 0 {
		t.Fatalf("chat via serve: %d %v %+v", resp.StatusCode, err, c)
	}
	// The fingerprint names the served weights, so clients can tell when a seed's answers may change.
	if want := httpapi.Fingerprint(models.DefaultSHA256); c.SystemFingerprint != want {
		t.Fatalf("system_fingerprint %q, want %q", c.SystemFingerprint, want)
	}
	// The demo model has no chat template in its GGUF: the plain one is used, and said.
	if !strings.Contains(out.String(), "chat template: plain\n") {
		t.Fatalf("serve did not name the chat template: %q", out.String())
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serve returned %v after cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop on cancel")
	}
}
