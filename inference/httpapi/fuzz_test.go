package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzChatRequest: any body gets a JSON answer, either an OpenAI error with a 4xx status or a
// chat.completion, never a panic or a 5xx.
func FuzzChatRequest(f *testing.F) {
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Hi"}],"max_tokens":3}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":[{"type":"text","text":"a"}]}],"max_tokens":2,"stop":["x","y"],"seed":5,"temperature":1.5,"top_p":0.5}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":null}],"max_completion_tokens":1}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[],"max_tokens":1}`)
	f.Add(`{"model":"x","messages":[{"role":"user","content":"hi"}]}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":7}]}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Hi"}],"n":3,"seed":-4,"temperature":0.7}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Hi"}],"tools":[],"tool_choice":"none","logprobs":false,"response_format":{"type":"json_object"}}`)
	f.Add(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Hi"}],"seed":1.5,"stop":[1]}`)
	f.Add(`[1,2,3]`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, body string) {
		server(t)
		// Keep generation short whatever the input asks, so the fuzzer explores parsing, not the engine.
		var m map[string]any
		if json.Unmarshal([]byte(body), &m) == nil && m != nil {
			delete(m, "max_completion_tokens")
			m["max_tokens"] = 2
			m["stream"] = false
			delete(m, "stream_options")
			b, _ := json.Marshal(m)
			body = string(b)
		}
		req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body))
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, req)
		var out map[string]any
		if err := json.Unmarshal(w.Body.Bytes(), &out); err != nil {
			t.Fatalf("status %d, not JSON: %q", w.Code, w.Body.String())
		}
		switch {
		case w.Code == http.StatusOK:
			if out["object"] != "chat.completion" {
				t.Fatalf("200 without a chat.completion: %s", w.Body.String())
			}
		case w.Code >= 400 && w.Code < 500:
			if _, ok := out["error"].(map[string]any); !ok {
				t.Fatalf("status %d without an error object: %s", w.Code, w.Body.String())
			}
		default:
			t.Fatalf("status %d for body %q: %s", w.Code, body, w.Body.String())
		}
	})
}
