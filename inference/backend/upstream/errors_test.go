package upstream

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/openai"
)

// TestVendorErrorBodies checks the mapping of the error bodies the supported servers really send.
func TestVendorErrorBodies(t *testing.T) {
	cases := []struct {
		name         string
		status       int
		body         string
		wantStatus   int
		wantType     string
		wantCode     string
		wantSentinel error
		wantInMsg    string
	}{
		{"openai context", 400, `{"error":{"message":"This model's maximum context length is 4096 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`,
			400, openai.TypeInvalidRequest, "context_length_exceeded", backend.ErrContextLength, "maximum context length"},
		{"vllm bad request", 400, `{"object":"error","message":"temperature must be non-negative","type":"BadRequestError","param":null,"code":400}`,
			400, openai.TypeInvalidRequest, "", backend.ErrInvalidRequest, "temperature must be non-negative"},
		{"llama.cpp context", 400, `{"error":{"code":400,"message":"the request exceeds the available context size, try increasing the context length","type":"exceed_context_size_error"}}`,
			400, openai.TypeInvalidRequest, "context_length_exceeded", backend.ErrContextLength, "context size"},
		{"tgi validation", 422, `{"error":"Input validation error: inputs must have less than 2048 tokens","error_type":"validation"}`,
			400, openai.TypeInvalidRequest, "", backend.ErrInvalidRequest, "Input validation error"},
		{"ollama not found", 404, `{"error":{"message":"model \"llama3\" not found, try pulling it first","type":"api_error","param":null,"code":null}}`,
			502, openai.TypeUpstream, "upstream_error", backend.ErrUpstream, "HTTP 404"},
		{"overloaded", 429, `{"error":{"message":"too many requests","type":"rate_limit_error"}}`,
			429, openai.TypeRateLimit, "rate_limit_exceeded", backend.ErrUpstream, "too many requests"},
		{"plain text 500", 500, "Internal Server Error\n", 502, openai.TypeUpstream, "upstream_error", backend.ErrUpstream, "Internal Server Error"},
		{"empty 503", 503, "", 502, openai.TypeUpstream, "upstream_error", backend.ErrUpstream, "503 Service Unavailable"},
		{"unauthorized", 401, `{"error":{"message":"Incorrect API key provided","type":"invalid_request_error","code":"invalid_api_key"}}`,
			502, openai.TypeUpstream, "upstream_error", backend.ErrUpstream, "Incorrect API key"},
	}
	for _, c := range cases {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			w.WriteHeader(c.status)
			io.WriteString(w, c.body)
		}))
		b, err := New(Config{BaseURL: srv.URL, Models: map[string]string{"m": "u"}})
		if err != nil {
			t.Fatal(err)
		}
		called := false
		res, err := b.Generate(context.Background(), backend.Request{Model: "m", Prompt: "x"}, func(string) error { called = true; return nil })
		srv.Close()
		e := httpapi.APIError(err)
		if e.Status != c.wantStatus || e.Type != c.wantType || e.Code != c.wantCode || !errors.Is(err, c.wantSentinel) || !strings.Contains(e.Message, c.wantInMsg) {
			t.Errorf("%s: got %d %q %q %q (%v)", c.name, e.Status, e.Type, e.Code, e.Message, err)
		}
		if called || res.Usage != (backend.Usage{}) {
			t.Errorf("%s: text or usage %+v from a failed request", c.name, res.Usage)
		}
	}
}

// FuzzReadStream: any upstream bytes give either an error or a result, never a panic, and never
// usage the stream did not contain (JSON keys match case-insensitively in Go).
func FuzzReadStream(f *testing.F) {
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\ndata: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":1,\"total_tokens\":4}}\n\ndata: [DONE]\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"text\":\"a\",\"finish_reason\":\"length\"}]}\n\ndata: [DONE]\n\n"))
	f.Add([]byte(": keep-alive\nevent: message\ndata:{\"error\":{\"message\":\"boom\"}}\n\n"))
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"x\"}}]}\n"))
	f.Add([]byte("data: {not json}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var text strings.Builder
		res, err := readStream(context.Background(), strings.NewReader(string(in)), nil, func(s string) error { text.WriteString(s); return nil }, nil, true, nil)
		if !strings.Contains(strings.ToLower(string(in)), "usage") && res.Usage != (backend.Usage{}) {
			t.Fatalf("usage %+v from a stream without a usage object", res.Usage)
		}
		if err == nil && res.FinishReason == "" {
			t.Fatal("success without a finish reason")
		}
	})
}
