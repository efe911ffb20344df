package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/backend/upstream"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
)

const netID = "kjv-demo" // the model's registry name; the upstream calls it models.DefaultModelName

var (
	embOnce sync.Once
	emb     *embedded.Backend
	embErr  error
)

// local is the embedded backend: the real engine the upstream server runs.
func local(t *testing.T) *embedded.Backend {
	t.Helper()
	embOnce.Do(func() {
		emb, embErr = embedded.New(embedded.Config{ModelName: models.DefaultModelName, Weights: models.DefaultGGUF(), ExpectedSHA256: models.DefaultSHA256})
	})
	if embErr != nil {
		t.Fatal(embErr)
	}
	return emb
}

// fault lets a test break the real upstream server in a chosen way.
type fault struct {
	mu sync.Mutex
	// status answers every inference request with this HTTP status and an OpenAI error body.
	status int
	// abortAfter cuts the connection after this many SSE events (0: never).
	abortAfter int
	// dropUsage removes stream_options from requests, like an upstream that ignores it.
	dropUsage bool
	// seen holds the request bodies the upstream received.
	seen [][]byte
}

func (f *fault) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		status, abort, drop := f.status, f.abortAfter, f.dropUsage
		f.mu.Unlock()
		if r.Method == http.MethodPost {
			body, _ := io.ReadAll(r.Body)
			f.mu.Lock()
			f.seen = append(f.seen, body)
			f.mu.Unlock()
			if drop {
				var m map[string]any
				_ = json.Unmarshal(body, &m)
				delete(m, "stream_options")
				body, _ = json.Marshal(m)
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
			r.ContentLength = int64(len(body))
			if status != 0 {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(status)
				io.WriteString(w, `{"error":{"message":"engine overloaded","type":"server_error","param":null,"code":null}}`)
				return
			}
			if abort > 0 {
				w = &abortingWriter{ResponseWriter: w, left: abort}
			}
		}
		h.ServeHTTP(w, r)
	})
}

// abortingWriter kills the connection (http.ErrAbortHandler) once it has passed on left SSE events.
type abortingWriter struct {
	http.ResponseWriter
	left int
}

func (a *abortingWriter) Write(b []byte) (int, error) {
	if bytes.HasPrefix(b, []byte("data: ")) {
		if a.left == 0 {
			panic(http.ErrAbortHandler)
		}
		a.left--
	}
	return a.ResponseWriter.Write(b)
}

func (a *abortingWriter) Flush() { a.ResponseWriter.(http.Flusher).Flush() }

// setup starts the real OpenAI handler over the embedded engine and an upstream backend pointing at it.
func setup(t *testing.T) (*upstream.Backend, *fault, *httptest.Server) {
	t.Helper()
	f := &fault{}
	srv := httptest.NewServer(f.wrap(httpapi.NewHandler(local(t))))
	t.Cleanup(srv.Close)
	b, err := upstream.New(upstream.Config{BaseURL: srv.URL + "/v1", APIKey: "secret", Models: map[string]string{netID: models.DefaultModelName}})
	if err != nil {
		t.Fatal(err)
	}
	return b, f, srv
}

func f32(v float32) *float32 { return &v }

func run(t *testing.T, b backend.Backend, req backend.Request) (string, backend.Result, error) {
	t.Helper()
	var sb strings.Builder
	res, err := b.Generate(context.Background(), req, func(d string) error { sb.WriteString(d); return nil })
	return sb.String(), res, err
}

func TestUpstreamMatchesLocalEngine(t *testing.T) {
	up, f, _ := setup(t)
	seed := uint64(7)
	reqs := []backend.Request{
		{Prompt: "In the beginning", MaxTokens: 24, Temperature: f32(0)},
		{Chat: true, Messages: []backend.Message{{Role: "user", Content: "Who created the heaven and the earth?"}}, MaxTokens: 24, Temperature: f32(0)},
		{Prompt: "And God said", MaxTokens: 24, Temperature: f32(0.9), TopP: f32(0.9), Seed: &seed, Stop: []string{"."}},
	}
	for _, req := range reqs {
		req.Model = models.DefaultModelName
		wantText, want, err := run(t, local(t), req)
		if err != nil {
			t.Fatal(err)
		}
		req.Model = netID
		got, res, err := run(t, up, req)
		if err != nil {
			t.Fatal(err)
		}
		if got != wantText || res != want {
			t.Errorf("upstream gave %q %+v, the engine %q %+v", got, res, wantText, want)
		}
		if res.Usage.PromptTokens == 0 || res.Usage.CompletionTokens == 0 {
			t.Errorf("usage not reported: %+v", res.Usage)
		}
	}
	// What the upstream received: its own model name, a stream with usage, the sampling parameters.
	var last map[string]any
	if err := json.Unmarshal(f.seen[len(f.seen)-1], &last); err != nil {
		t.Fatal(err)
	}
	if last["model"] != models.DefaultModelName || last["stream"] != true || last["stream_options"].(map[string]any)["include_usage"] != true ||
		last["seed"] != float64(7) || last["max_tokens"] != float64(24) || last["prompt"] != "And God said" {
		t.Fatalf("upstream request %v", last)
	}
	if tp, ok := last["top_p"].(float64); !ok || float32(tp) != 0.9 {
		t.Fatalf("top_p %v", last["top_p"])
	}
}

func TestUpstreamThroughTwoHandlers(t *testing.T) {
	// client -> provider's handler (upstream backend) -> upstream's handler (embedded engine)
	up, _, _ := setup(t)
	front := httptest.NewServer(httpapi.NewHandler(up))
	defer front.Close()
	body := `{"model":"kjv-demo","messages":[{"role":"user","content":"Tell me about the sea."}],"max_tokens":12,"temperature":0`
	resp, err := http.Post(front.URL+"/v1/chat/completions", "application/json", strings.NewReader(body+`}`))
	if err != nil {
		t.Fatal(err)
	}
	var whole openai.ChatCompletion
	err = json.NewDecoder(resp.Body).Decode(&whole)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || whole.Model != netID || whole.Usage.CompletionTokens == 0 {
		t.Fatalf("status %d err %v: %+v", resp.StatusCode, err, whole)
	}
	resp, err = http.Post(front.URL+"/v1/chat/completions", "application/json", strings.NewReader(body+`,"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var text strings.Builder
	var usage *openai.Usage
	for _, line := range strings.Split(string(raw), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			t.Fatal(err)
		}
		if c.Usage != nil {
			usage = c.Usage
		}
		if len(c.Choices) > 0 && c.Choices[0].Delta.Content != nil {
			text.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	if !strings.HasSuffix(string(raw), "data: [DONE]\n\n") || text.String() != whole.Choices[0].Message.Content || usage == nil || *usage != whole.Usage {
		t.Fatalf("stream %q usage %+v, want %q %+v", text.String(), usage, whole.Choices[0].Message.Content, whole.Usage)
	}
}

func TestUpstreamFailsBeforeFirstToken(t *testing.T) {
	up, f, srv := setup(t)
	req := backend.Request{Model: netID, Prompt: "In the beginning", MaxTokens: 8, Temperature: f32(0)}

	// The upstream answers 503: not billed, a 502 for the client.
	f.status = http.StatusServiceUnavailable
	text, res, err := run(t, up, req)
	e := httpapi.APIError(err)
	if !errors.Is(err, backend.ErrUpstream) || e.Status != http.StatusBadGateway || !strings.Contains(e.Message, "engine overloaded") {
		t.Fatalf("503 upstream: %v (%+v)", err, e)
	}
	if text != "" || res.Usage != (backend.Usage{}) {
		t.Fatalf("503 upstream: text %q usage %+v", text, res.Usage)
	}
	f.status = 0

	// The upstream refuses the request (prompt too long): the client's 400 passes through, not billed.
	long := backend.Request{Model: netID, Prompt: strings.Repeat("And the earth was without form. ", 100)}
	text, res, err = run(t, up, long)
	if e := httpapi.APIError(err); !errors.Is(err, backend.ErrContextLength) || e.Status != 400 || e.Code != "context_length_exceeded" {
		t.Fatalf("context: %v %+v", err, e)
	}
	if text != "" || res.Usage != (backend.Usage{}) {
		t.Fatalf("context: text %q usage %+v", text, res.Usage)
	}

	// The model name is not mapped: refused here, the upstream never sees it.
	n := len(f.seen)
	if _, _, err := run(t, up, backend.Request{Model: models.DefaultModelName, Prompt: "x"}); !errors.Is(err, backend.ErrUnknownModel) || len(f.seen) != n {
		t.Fatalf("unmapped model: %v", err)
	}

	// The upstream is down.
	srv.Close()
	text, res, err = run(t, up, req)
	if e := httpapi.APIError(err); !errors.Is(err, backend.ErrUpstream) || e.Status != http.StatusBadGateway || e.Code != "upstream_unavailable" {
		t.Fatalf("down: %v %+v", err, e)
	}
	if text != "" || res.Usage != (backend.Usage{}) {
		t.Fatalf("down: text %q usage %+v", text, res.Usage)
	}
	if err := up.Health(context.Background()); !errors.Is(err, backend.ErrUpstream) {
		t.Fatalf("health of a stopped upstream: %v", err)
	}
}

func TestUpstreamFailsMidStream(t *testing.T) {
	up, f, _ := setup(t)
	f.abortAfter = 3 // role chunk + two content chunks, then the connection dies
	text, res, err := run(t, up, backend.Request{Model: netID, Prompt: "In the beginning", MaxTokens: 30, Temperature: f32(0)})
	if e := httpapi.APIError(err); !errors.Is(err, backend.ErrUpstream) || e.Status != http.StatusBadGateway || e.Code != "upstream_stream_error" {
		t.Fatalf("mid-stream: %v %+v", err, e)
	}
	if text == "" {
		t.Fatal("no text before the break")
	}
	// The upstream never reported usage, so none is billed.
	if res.Usage != (backend.Usage{}) {
		t.Fatalf("usage %+v billed for a broken stream", res.Usage)
	}

	// Through the provider's handler the client sees the text, then an error event and no [DONE].
	front := httptest.NewServer(httpapi.NewHandler(up))
	defer front.Close()
	resp, err := http.Post(front.URL+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"kjv-demo","prompt":"In the beginning","max_tokens":30,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	s := string(raw)
	if resp.StatusCode != 200 || !strings.Contains(s, `"text_completion"`) || !strings.Contains(s, `data: {"error":{"message":`) ||
		!strings.Contains(s, `"code":"upstream_stream_error"`) || strings.Contains(s, "[DONE]") {
		t.Fatalf("client stream: %d %s", resp.StatusCode, s)
	}
}

func TestUpstreamWithoutUsageIsNotBilled(t *testing.T) {
	up, f, _ := setup(t)
	f.dropUsage = true
	text, res, err := run(t, up, backend.Request{Model: netID, Prompt: "In the beginning", MaxTokens: 5, Temperature: f32(0)})
	if !errors.Is(err, backend.ErrNoUsage) || text == "" || res.Usage != (backend.Usage{}) {
		t.Fatalf("err %v text %q usage %+v", err, text, res.Usage)
	}
}

func TestHealthAndModels(t *testing.T) {
	up, _, srv := setup(t)
	if err := up.Health(context.Background()); err != nil {
		t.Fatal(err)
	}
	ms, err := up.Models(context.Background())
	if err != nil || len(ms) != 1 || ms[0].Name != netID {
		t.Fatalf("models %+v %v", ms, err)
	}
	bad, err := upstream.New(upstream.Config{BaseURL: srv.URL + "/v1", Models: map[string]string{"a": "llama-3-70b", netID: models.DefaultModelName}})
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Health(context.Background()); !errors.Is(err, backend.ErrUpstream) || !strings.Contains(err.Error(), `"llama-3-70b"`) {
		t.Fatalf("health with an unserved model: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for name, c := range map[string]upstream.Config{
		"no url":      {Models: map[string]string{"a": "b"}},
		"ftp url":     {BaseURL: "ftp://x/v1", Models: map[string]string{"a": "b"}},
		"no models":   {BaseURL: "http://127.0.0.1:1/v1"},
		"empty name":  {BaseURL: "http://127.0.0.1:1/v1", Models: map[string]string{"a": ""}},
		"neg timeout": {BaseURL: "http://127.0.0.1:1/v1", Models: map[string]string{"a": "b"}, HeaderTimeout: -1},
	} {
		if _, err := upstream.New(c); !errors.Is(err, backend.ErrConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestClientLeavingMidStreamIsBilledWhatTheUpstreamReports(t *testing.T) {
	up, _, srv := setup(t)
	req := backend.Request{Model: models.DefaultModelName, Prompt: "In the beginning", MaxTokens: 40, Temperature: f32(0)}
	_, full, err := run(t, local(t), req)
	if err != nil {
		t.Fatal(err)
	}
	req.Model = netID
	gone := errors.New("client hung up")

	// onText fails after two deltas: nothing more is forwarded, the usage of the whole generation is kept.
	n := 0
	res, err := up.Generate(context.Background(), req, func(string) error {
		n++
		if n == 2 {
			return gone
		}
		return nil
	})
	if !errors.Is(err, gone) || n != 2 || res.Usage != full.Usage {
		t.Fatalf("onText error: err %v after %d deltas, usage %+v, want %+v", err, n, res.Usage, full.Usage)
	}

	// The request context ends mid-stream: the same.
	ctx, cancel := context.WithCancel(context.Background())
	n = 0
	res, err = up.Generate(ctx, req, func(string) error {
		n++
		if n == 2 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || n != 2 || res.Usage != full.Usage {
		t.Fatalf("cancel: err %v after %d deltas, usage %+v, want %+v", err, n, res.Usage, full.Usage)
	}

	// Without draining the upstream request ends at once and nothing is billed.
	noDrain, err := upstream.New(upstream.Config{BaseURL: srv.URL + "/v1", Models: map[string]string{netID: models.DefaultModelName}, DrainTimeout: -1})
	if err != nil {
		t.Fatal(err)
	}
	n = 0
	res, err = noDrain.Generate(context.Background(), req, func(string) error {
		n++
		return gone
	})
	if !errors.Is(err, gone) || n != 1 || res.Usage != (backend.Usage{}) {
		t.Fatalf("no drain: err %v after %d deltas, usage %+v", err, n, res.Usage)
	}
}

// TestStreamCutWithDefaultTransport runs the client-leaves-mid-stream cases through the default
// transport (internal/h1transport for an http:// upstream) and checks what happens to the upstream
// request: cancelled at once (its connection closed, not reused) when the usage is known per chunk,
// drained to the end otherwise, and cancelled when the drain timeout ends first.
func TestStreamCutWithDefaultTransport(t *testing.T) {
	start := func(fake *fakeupstream.Server, drain time.Duration) (*upstream.Backend, *atomic.Int32) {
		var conns atomic.Int32
		srv := httptest.NewUnstartedServer(fake)
		srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}
		srv.Start()
		t.Cleanup(srv.Close)
		b, err := upstream.New(upstream.Config{BaseURL: srv.URL + "/v1", Models: map[string]string{"m": "up-m"}, DrainTimeout: drain})
		if err != nil {
			t.Fatal(err)
		}
		return b, &conns
	}
	// leave generates prompt, ending the caller's context after two pieces of text.
	leave := func(b *upstream.Backend, prompt string) (backend.Result, error, time.Duration) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		n := 0
		begin := time.Now()
		res, err := b.Generate(ctx, backend.Request{Model: "m", Prompt: prompt, MaxTokens: 20}, func(string) error {
			if n++; n == 2 {
				cancel()
			}
			return nil
		})
		return res, err, time.Since(begin)
	}
	waitCancelled := func(fake *fakeupstream.Server, want int64) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); fake.Cancelled.Load() != want && time.Now().Before(deadline); {
			time.Sleep(5 * time.Millisecond)
		}
		if got := fake.Cancelled.Load(); got != want {
			t.Fatalf("the upstream saw %d cancelled streams, want %d", got, want)
		}
	}

	// Usage with every chunk (vLLM): the upstream request is cancelled at once, its connection closed.
	fake := &fakeupstream.Server{}
	b, conns := start(fake, 0)
	res, err, took := leave(b, "pause-after:3")
	if !errors.Is(err, context.Canceled) || res.Usage.CompletionTokens != 2 || took > 2*time.Second {
		t.Fatalf("per-chunk usage: %v, usage %+v, after %v", err, res.Usage, took)
	}
	waitCancelled(fake, 1)
	if _, res, err := run(t, b, backend.Request{Model: "m", Prompt: "x", MaxTokens: 3}); err != nil || res.Usage.CompletionTokens != 3 {
		t.Fatalf("next request: %v %+v", err, res)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the cancelled one is not reused)", n)
	}

	// Usage only at the end (llama.cpp): the stream is read to its end, not cancelled, and billed in full.
	fake = &fakeupstream.Server{NoUsagePerChunk: true}
	b, _ = start(fake, 0)
	res, err, _ = leave(b, "delay-ms:2")
	if !errors.Is(err, context.Canceled) || res.Usage.CompletionTokens != 20 {
		t.Fatalf("drained: %v, usage %+v", err, res.Usage)
	}
	if _, _, err := run(t, b, backend.Request{Model: "m", Prompt: "x", MaxTokens: 3}); err != nil {
		t.Fatal(err)
	}
	if c := fake.Cancelled.Load(); c != 0 {
		t.Fatalf("%d cancelled streams, want 0 (drained)", c)
	}

	// The drain timeout ends first: the upstream request is cancelled, nothing is billed.
	fake = &fakeupstream.Server{NoUsagePerChunk: true}
	b, conns = start(fake, 100*time.Millisecond)
	res, err, took = leave(b, "pause-after:3")
	if !errors.Is(err, context.Canceled) || res.Usage != (backend.Usage{}) || took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("drain timeout: %v, usage %+v, after %v", err, res.Usage, took)
	}
	waitCancelled(fake, 1)
	if _, _, err := run(t, b, backend.Request{Model: "m", Prompt: "x", MaxTokens: 3}); err != nil {
		t.Fatal(err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
