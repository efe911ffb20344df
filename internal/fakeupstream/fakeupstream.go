// Package fakeupstream is a fast, deterministic OpenAI-compatible inference server for tests and
// benchmarks: it "generates" max_tokens tokens ("t0 t1 t2 …", one a chunk when streaming) and
// reports usage as vLLM does, per chunk with stream_options.continuous_usage_stats. It stands in
// for vLLM behind the provider daemon, and behind nginx in the benchmark.
//
// Test controls in the prompt (the last user message, or the completion prompt):
//
//	pause-after:N   stream N tokens, then hold the stream open until the client goes away (not
//	                streamed: answer nothing until the client goes away)
//	break-after:N   stream N tokens, then end the stream without usage or [DONE]
//	delay-ms:N      wait N ms before each token (not streamed: N ms times the tokens, then answer)
//	fail-status:N   answer HTTP N with an OpenAI error body
//
// With "tools" in a chat request it calls the first tool ({"n": N} as arguments, streamed in two
// pieces; finish_reason tool_calls) instead of writing text; with "logprobs" it adds each token's
// log probability (-0.5).
//
// It also records what it was asked (Requests) and which streams ended because the client left
// (Cancelled), so tests can check that a provider passes parameters through and cancels.
package fakeupstream

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Server is the fake upstream. The zero value serves any model name.
type Server struct {
	// Models lists the model names GET /v1/models reports (any name is served).
	Models []string
	// NoUsagePerChunk reports usage only in the final chunk (as llama.cpp's server does).
	NoUsagePerChunk bool
	// NoRecord keeps no request bodies (benchmarks).
	NoRecord bool

	mu       sync.Mutex
	requests []map[string]any // REQUIRES mu

	// Cancelled counts streams that ended because the client went away.
	Cancelled atomic.Int64
}

// Requests returns the JSON bodies received so far.
func (s *Server) Requests() []map[string]any {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]map[string]any(nil), s.requests...)
}

var (
	pauseRe = regexp.MustCompile(`pause-after:(\d+)`)
	breakRe = regexp.MustCompile(`break-after:(\d+)`)
	failRe  = regexp.MustCompile(`fail-status:(\d+)`)
	delayRe = regexp.MustCompile(`delay-ms:(\d+)`)
)

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		data := []map[string]any{}
		for _, m := range s.Models {
			data = append(data, map[string]any{"id": m, "object": "model", "created": 0, "owned_by": "fake"})
		}
		writeJSON(w, map[string]any{"object": "list", "data": data})
	case r.Method == http.MethodPost && (strings.HasSuffix(r.URL.Path, "/chat/completions") || strings.HasSuffix(r.URL.Path, "/completions")):
		s.generate(w, r, strings.HasSuffix(r.URL.Path, "/chat/completions"))
	default:
		http.Error(w, `{"error":{"message":"not found","type":"invalid_request_error"}}`, http.StatusNotFound)
	}
}

type usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

func (s *Server) generate(w http.ResponseWriter, r *http.Request, chat bool) {
	var req map[string]any
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		w.WriteHeader(http.StatusBadRequest)
		writeJSON(w, map[string]any{"error": map[string]any{"message": err.Error(), "type": "invalid_request_error"}})
		return
	}
	if !s.NoRecord {
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
	}
	prompt := ""
	if chat {
		msgs, _ := req["messages"].([]any)
		for _, m := range msgs {
			if mm, ok := m.(map[string]any); ok {
				if c, ok := mm["content"].(string); ok {
					prompt += c + " "
				}
			}
		}
	} else {
		prompt, _ = req["prompt"].(string)
	}
	n := 16
	if v, ok := req["max_tokens"].(float64); ok && v > 0 {
		n = int(v)
	}
	if m := failRe.FindStringSubmatch(prompt); m != nil {
		status, _ := strconv.Atoi(m[1])
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		writeJSON(w, map[string]any{"error": map[string]any{"message": "the fake upstream failed as asked", "type": "server_error"}})
		return
	}
	pause, brk, delay := -1, -1, time.Duration(0)
	if m := pauseRe.FindStringSubmatch(prompt); m != nil {
		pause, _ = strconv.Atoi(m[1])
	}
	if m := breakRe.FindStringSubmatch(prompt); m != nil {
		brk, _ = strconv.Atoi(m[1])
	}
	if m := delayRe.FindStringSubmatch(prompt); m != nil {
		ms, _ := strconv.Atoi(m[1])
		delay = time.Duration(ms) * time.Millisecond
	}
	promptTokens := len(strings.Fields(prompt)) + 1
	model, _ := req["model"].(string)
	stream, _ := req["stream"].(bool)
	continuous := false
	if so, ok := req["stream_options"].(map[string]any); ok {
		continuous, _ = so["continuous_usage_stats"].(bool)
	}
	continuous = continuous && !s.NoUsagePerChunk
	var tool string
	if tools, ok := req["tools"].([]any); ok && chat && len(tools) > 0 {
		if t0, ok := tools[0].(map[string]any); ok {
			if f, ok := t0["function"].(map[string]any); ok {
				tool, _ = f["name"].(string)
			}
		}
	}
	wantLogprobs := false
	switch v := req["logprobs"].(type) {
	case bool:
		wantLogprobs = v
	case float64:
		wantLogprobs = true
	}
	logprobs := func(i int) any {
		if !wantLogprobs {
			return nil
		}
		tok := fmt.Sprintf("t%d ", i)
		if chat {
			return map[string]any{"content": []any{map[string]any{"token": tok, "logprob": -0.5, "bytes": []byte(tok), "top_logprobs": []any{}}}}
		}
		return map[string]any{"tokens": []any{tok}, "token_logprobs": []any{-0.5}, "top_logprobs": []any{nil}, "text_offset": []any{0}}
	}
	object, id := "text_completion", "cmpl-fake"
	if chat {
		object, id = "chat.completion", "chatcmpl-fake"
	}
	choice := func(i int, text string, finish any) map[string]any {
		if chat {
			delta := map[string]any{"content": text}
			if i == 0 && stream {
				delta["role"] = "assistant"
			}
			key := "delta"
			if !stream {
				key = "message"
				delta["role"] = "assistant"
			}
			return map[string]any{"index": 0, key: delta, "finish_reason": finish, "logprobs": nil}
		}
		return map[string]any{"index": 0, "text": text, "finish_reason": finish, "logprobs": nil}
	}
	args := fmt.Sprintf(`{"n": %d}`, n)
	if !stream {
		if tool != "" {
			msg := map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": "call_fake", "type": "function",
				"function": map[string]any{"name": tool, "arguments": args}}}}
			writeJSON(w, map[string]any{"id": id, "object": object, "created": 0, "model": model,
				"choices": []any{map[string]any{"index": 0, "message": msg, "finish_reason": "tool_calls", "logprobs": nil}},
				"usage":   usage{promptTokens, 7, promptTokens + 7}})
			return
		}
		var b strings.Builder
		var lps []any
		for i := 0; i < n; i++ {
			fmt.Fprintf(&b, "t%d ", i)
			if lp, ok := logprobs(i).(map[string]any); ok {
				lps = append(lps, lp)
			}
		}
		// A non-streamed answer takes the time its tokens would (delay-ms), or forever (pause-after).
		var wait <-chan time.Time
		if pause >= 0 {
			wait = make(chan time.Time)
		} else if delay > 0 {
			wait = time.After(time.Duration(n) * delay)
		}
		if wait != nil {
			select {
			case <-wait:
			case <-r.Context().Done():
				s.Cancelled.Add(1)
				return
			}
		}
		c := choice(0, b.String(), "length")
		if wantLogprobs && chat {
			var content []any
			for _, lp := range lps {
				content = append(content, lp.(map[string]any)["content"].([]any)...)
			}
			c["logprobs"] = map[string]any{"content": content}
		}
		writeJSON(w, map[string]any{"id": id, "object": object, "created": 0, "model": model,
			"choices": []any{c},
			"usage":   usage{promptTokens, n, promptTokens + n}})
		return
	}
	if chat {
		object = "chat.completion.chunk"
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.WriteHeader(http.StatusOK)
	flush := func() { http.NewResponseController(w).Flush() }
	send := func(v any) bool {
		b, _ := json.Marshal(v)
		if _, err := fmt.Fprintf(w, "data: %s\n\n", b); err != nil {
			return false
		}
		flush()
		return r.Context().Err() == nil
	}
	if tool != "" {
		for i, piece := range []map[string]any{
			{"index": 0, "id": "call_fake", "type": "function", "function": map[string]any{"name": tool, "arguments": args[:4]}},
			{"index": 0, "function": map[string]any{"arguments": args[4:]}},
		} {
			ev := map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{map[string]any{"index": 0,
				"delta": map[string]any{"tool_calls": []any{piece}}, "finish_reason": nil, "logprobs": nil}}}
			if continuous {
				ev["usage"] = usage{promptTokens, 3 * (i + 1), promptTokens + 3*(i+1)}
			}
			send(ev)
		}
		send(map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{map[string]any{"index": 0, "delta": map[string]any{}, "finish_reason": "tool_calls", "logprobs": nil}}})
		send(map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{}, "usage": usage{promptTokens, 7, promptTokens + 7}})
		_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
		flush()
		return
	}
	for i := 0; i < n; i++ {
		if i == pause {
			<-r.Context().Done()
			s.Cancelled.Add(1)
			return
		}
		if i == brk {
			panic(http.ErrAbortHandler) // the connection is cut without ending the stream
		}
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				s.Cancelled.Add(1)
				return
			}
		}
		c := choice(i, fmt.Sprintf("t%d ", i), nil)
		if lp := logprobs(i); lp != nil {
			c["logprobs"] = lp
		}
		ev := map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{c}}
		if continuous {
			ev["usage"] = usage{promptTokens, i + 1, promptTokens + i + 1}
		}
		if !send(ev) {
			s.Cancelled.Add(1)
			return
		}
	}
	ev := map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{choice(n, "", "length")}}
	if continuous {
		ev["usage"] = usage{promptTokens, n, promptTokens + n}
	}
	send(ev)
	send(map[string]any{"id": id, "object": object, "created": 0, "model": model, "choices": []any{}, "usage": usage{promptTokens, n, promptTokens + n}})
	_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	flush()
}

func writeJSON(w http.ResponseWriter, v any) {
	b, _ := json.Marshal(v)
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(append(b, '\n'))
}
