package openai_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider/backend"
	"github.com/cocoon-go/cocoon/provider/backend/embedded"
	"github.com/cocoon-go/cocoon/provider/openai"
)

var (
	once    sync.Once
	srv     *httptest.Server
	handler *openai.Handler
	results chan backend.Result
	srvErr  error
)

var fixedNow = time.Unix(1_780_000_000, 0)

// server serves the real embedded backend with the default model over real HTTP.
func server(t *testing.T) string {
	t.Helper()
	once.Do(func() {
		b, err := embedded.New(embedded.Config{ModelID: models.DefaultModelID, Weights: models.DefaultGGUF(), ExpectedSHA256: models.DefaultSHA256})
		if err != nil {
			srvErr = err
			return
		}
		results = make(chan backend.Result, 100)
		handler = openai.NewHandler(b, openai.WithClock(func() time.Time { return fixedNow }),
			openai.WithResultHook(func(_ *http.Request, _ backend.Request, res backend.Result, err error) {
				if err == nil {
					select {
					case results <- res:
					default: // a full channel must not block the handler (fuzzing sends thousands)
					}
				}
			}))
		srv = httptest.NewServer(handler)
	})
	if srvErr != nil {
		t.Fatal(srvErr)
	}
	return srv.URL
}

func post(t *testing.T, path, body string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Post(server(t)+path, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, b
}

func keys(m map[string]any) []string {
	var k []string
	for key := range m {
		k = append(k, key)
	}
	sort.Strings(k)
	return k
}

func decodeMap(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not a JSON object: %v: %s", err, b)
	}
	return m
}

// sse reads a stream's data events; it fails unless the stream ends with [DONE].
func sse(t *testing.T, r io.Reader) [][]byte {
	t.Helper()
	var events [][]byte
	sc := bufio.NewScanner(r)
	done := false
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("unexpected stream line %q", line)
		}
		if done {
			t.Fatalf("event after [DONE]: %q", data)
		}
		if data == "[DONE]" {
			done = true
			continue
		}
		events = append(events, []byte(data))
	}
	if !done {
		t.Fatalf("stream did not end with [DONE]")
	}
	return events
}

const chatBody = `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":[{"type":"text","text":"Tell me "},{"type":"text","text":"about the sea."}]}],"max_tokens":20,"temperature":0`

func TestChatNonStreamingShape(t *testing.T) {
	resp, body := post(t, "/v1/chat/completions", chatBody+`}`)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("status %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	m := decodeMap(t, body)
	if got := keys(m); !reflect.DeepEqual(got, []string{"choices", "created", "id", "model", "object", "usage"}) {
		t.Fatalf("keys %v", got)
	}
	var c openai.ChatCompletion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(c.ID, "chatcmpl-") || len(c.ID) != len("chatcmpl-")+24 || c.Object != "chat.completion" ||
		c.Created != fixedNow.Unix() || c.Model != models.DefaultModelID || len(c.Choices) != 1 {
		t.Fatalf("envelope %+v", c)
	}
	ch := c.Choices[0]
	if ch.Index != 0 || ch.Message.Role != "assistant" || ch.Message.Content == "" || (ch.FinishReason != "length" && ch.FinishReason != "stop") {
		t.Fatalf("choice %+v", ch)
	}
	choice := m["choices"].([]any)[0].(map[string]any)
	if got := keys(choice); !reflect.DeepEqual(got, []string{"finish_reason", "index", "logprobs", "message"}) {
		t.Fatalf("choice keys %v", got)
	}
	u := c.Usage
	if u.PromptTokens <= 0 || u.CompletionTokens <= 0 || u.CompletionTokens > 20 || u.TotalTokens != u.PromptTokens+u.CompletionTokens {
		t.Fatalf("usage %+v", u)
	}
	if ch.FinishReason == "length" && u.CompletionTokens != 20 {
		t.Fatalf("finish length with %d tokens", u.CompletionTokens)
	}
}

func TestChatStreamingEqualsNonStreaming(t *testing.T) {
	_, body := post(t, "/v1/chat/completions", chatBody+`}`)
	var whole openai.ChatCompletion
	if err := json.Unmarshal(body, &whole); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(server(t)+"/v1/chat/completions", "application/json",
		strings.NewReader(chatBody+`,"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := sse(t, resp.Body)
	if len(events) < 4 {
		t.Fatalf("only %d events", len(events))
	}
	var text strings.Builder
	var id string
	for i, e := range events {
		m := decodeMap(t, e)
		if got := keys(m); !reflect.DeepEqual(got, []string{"choices", "created", "id", "model", "object", "usage"}) {
			t.Fatalf("event %d keys %v", i, got)
		}
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal(e, &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "chat.completion.chunk" || c.Model != models.DefaultModelID || c.Created != fixedNow.Unix() || !strings.HasPrefix(c.ID, "chatcmpl-") {
			t.Fatalf("event %d envelope %s", i, e)
		}
		if id == "" {
			id = c.ID
		} else if c.ID != id {
			t.Fatalf("id changed within the stream: %s then %s", id, c.ID)
		}
		last := i == len(events)-1
		switch {
		case i == 0:
			if len(c.Choices) != 1 || c.Choices[0].Delta.Role != "assistant" || c.Usage != nil || c.Choices[0].FinishReason != nil {
				t.Fatalf("first event %s", e)
			}
		case last:
			// The usage chunk: no choices, the exact usage of the non-streaming run.
			if len(c.Choices) != 0 || c.Usage == nil || *c.Usage != whole.Usage {
				t.Fatalf("usage event %s, want usage %+v", e, whole.Usage)
			}
		case i == len(events)-2:
			if len(c.Choices) != 1 || c.Choices[0].FinishReason == nil || *c.Choices[0].FinishReason != whole.Choices[0].FinishReason || c.Choices[0].Delta.Content != nil {
				t.Fatalf("finish event %s", e)
			}
		default:
			if len(c.Choices) != 1 || c.Choices[0].Delta.Content == nil || *c.Choices[0].Delta.Content == "" || c.Usage != nil {
				t.Fatalf("content event %s", e)
			}
		}
		if len(c.Choices) == 1 && c.Choices[0].Delta.Content != nil {
			text.WriteString(*c.Choices[0].Delta.Content)
		}
	}
	if text.String() != whole.Choices[0].Message.Content {
		t.Fatalf("streamed %q, non-streaming %q", text.String(), whole.Choices[0].Message.Content)
	}
}

func TestCompletionStreamingEqualsNonStreaming(t *testing.T) {
	const body = `{"model":"cocoon-kjv-demo-1m","prompt":"In the beginning","max_tokens":16,"temperature":0,"stop":"\n\n"`
	_, b := post(t, "/v1/completions", body+`}`)
	m := decodeMap(t, b)
	if got := keys(m); !reflect.DeepEqual(got, []string{"choices", "created", "id", "model", "object", "usage"}) {
		t.Fatalf("keys %v", got)
	}
	var whole openai.Completion
	if err := json.Unmarshal(b, &whole); err != nil {
		t.Fatal(err)
	}
	if whole.Object != "text_completion" || !strings.HasPrefix(whole.ID, "cmpl-") || len(whole.Choices) != 1 || whole.Usage == nil ||
		whole.Choices[0].FinishReason == nil || whole.Usage.TotalTokens != whole.Usage.PromptTokens+whole.Usage.CompletionTokens {
		t.Fatalf("completion %s", b)
	}
	// Without include_usage: no usage chunk, usage null everywhere.
	for _, withUsage := range []bool{false, true} {
		req := body + `,"stream":true}`
		if withUsage {
			req = body + `,"stream":true,"stream_options":{"include_usage":true}}`
		}
		resp, err := http.Post(server(t)+"/v1/completions", "application/json", strings.NewReader(req))
		if err != nil {
			t.Fatal(err)
		}
		events := sse(t, resp.Body)
		resp.Body.Close()
		var text strings.Builder
		var usage *openai.Usage
		var finish *string
		for _, e := range events {
			var c openai.Completion
			if err := json.Unmarshal(e, &c); err != nil {
				t.Fatal(err)
			}
			if c.Object != "text_completion" {
				t.Fatalf("event object %q", c.Object)
			}
			if c.Usage != nil {
				usage = c.Usage
				continue
			}
			text.WriteString(c.Choices[0].Text)
			if c.Choices[0].FinishReason != nil {
				finish = c.Choices[0].FinishReason
			}
		}
		if text.String() != whole.Choices[0].Text || finish == nil || *finish != *whole.Choices[0].FinishReason {
			t.Fatalf("streamed %q finish %v, want %q %q", text.String(), finish, whole.Choices[0].Text, *whole.Choices[0].FinishReason)
		}
		if withUsage != (usage != nil) || (usage != nil && *usage != *whole.Usage) {
			t.Fatalf("include_usage=%v: usage %+v, want %+v", withUsage, usage, whole.Usage)
		}
	}
}

func TestResultHookSeesUsage(t *testing.T) {
	server(t)
	for len(results) > 0 {
		<-results
	}
	_, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"Blessed are the","max_tokens":5,"temperature":0}`)
	var c openai.Completion
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-results:
		if res.Usage.PromptTokens != c.Usage.PromptTokens || res.Usage.CompletionTokens != c.Usage.CompletionTokens {
			t.Fatalf("hook usage %+v, response %+v", res.Usage, c.Usage)
		}
	default:
		t.Fatal("hook not called")
	}
}

func TestModels(t *testing.T) {
	resp, err := http.Get(server(t) + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var list openai.ModelList
	if err := json.Unmarshal(b, &list); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != models.DefaultModelID || list.Data[0].Object != "model" {
		t.Fatalf("models %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(server(t) + "/v1/models/" + models.DefaultModelID)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("retrieve model: %d", resp.StatusCode)
	}
}

func TestErrors(t *testing.T) {
	long := strings.Repeat("And the earth was without form, and void. ", 200)
	cases := []struct {
		name, method, path, body string
		status                   int
		typ, code, param         string
	}{
		{"bad json", "POST", "/v1/chat/completions", `{"model":`, 400, "invalid_request_error", "", ""},
		{"trailing data", "POST", "/v1/completions", `{"model":"m","prompt":"x"} {}`, 400, "invalid_request_error", "", ""},
		{"unknown model", "POST", "/v1/chat/completions", `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`, 404, "invalid_request_error", "model_not_found", "model"},
		{"unknown model (completions)", "POST", "/v1/completions", `{"model":"gpt-4o","prompt":"hi","stream":true}`, 404, "invalid_request_error", "model_not_found", "model"},
		{"retrieve unknown model", "GET", "/v1/models/gpt-4o", ``, 404, "invalid_request_error", "model_not_found", "model"},
		{"context too long", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"` + long + `"}`, 400, "invalid_request_error", "context_length_exceeded", "prompt"},
		{"context too long (stream)", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","stream":true,"messages":[{"role":"user","content":"` + long + `"}]}`, 400, "invalid_request_error", "context_length_exceeded", "messages"},
		{"max_tokens beyond context", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":100000}`, 400, "invalid_request_error", "context_length_exceeded", "prompt"},
		{"missing model", "POST", "/v1/completions", `{"prompt":"x"}`, 400, "invalid_request_error", "", "model"},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m"}`, 400, "invalid_request_error", "", "messages"},
		{"missing prompt", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m"}`, 400, "invalid_request_error", "", "prompt"},
		{"two prompts", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":["a","b"]}`, 400, "invalid_request_error", "", "prompt"},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"wizard","content":"x"}]}`, 400, "invalid_request_error", "", "messages[0].role"},
		{"image content", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "invalid_request_error", "", "messages[0].content"},
		{"n=2", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","n":2,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "", "n"},
		{"max_tokens 0", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":0}`, 400, "invalid_request_error", "", "max_tokens"},
		{"max_completion_tokens -1", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","max_completion_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "", "max_completion_tokens"},
		{"temperature 3", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","temperature":3}`, 400, "invalid_request_error", "", "temperature"},
		{"top_p 0", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","top_p":0}`, 400, "invalid_request_error", "", "top_p"},
		{"five stops", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stop":["a","b","c","d","e"]}`, 400, "invalid_request_error", "", "stop"},
		{"stop not a string", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stop":5}`, 400, "invalid_request_error", "", ""},
		{"stream_options without stream", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stream_options":{"include_usage":true}}`, 400, "invalid_request_error", "", "stream_options"},
		{"unknown url", "POST", "/v1/embeddings", `{}`, 404, "invalid_request_error", "unknown_url", ""},
		{"wrong method", "GET", "/v1/chat/completions", ``, 405, "invalid_request_error", "method_not_allowed", ""},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, server(t)+c.path, strings.NewReader(c.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s: status %d (%s), want %d: %s", c.name, resp.StatusCode, resp.Header.Get("Content-Type"), c.status, b)
			continue
		}
		m := decodeMap(t, b)
		if got := keys(m); !reflect.DeepEqual(got, []string{"error"}) {
			t.Errorf("%s: keys %v", c.name, got)
			continue
		}
		e := m["error"].(map[string]any)
		if got := keys(e); !reflect.DeepEqual(got, []string{"code", "message", "param", "type"}) {
			t.Errorf("%s: error keys %v", c.name, got)
		}
		str := func(k string) string { s, _ := e[k].(string); return s }
		if str("type") != c.typ || str("code") != c.code || str("param") != c.param || str("message") == "" {
			t.Errorf("%s: error %s, want type %q code %q param %q", c.name, b, c.typ, c.code, c.param)
		}
		if (c.code == "") != (e["code"] == nil) || (c.param == "") != (e["param"] == nil) {
			t.Errorf("%s: empty code/param must be null: %s", c.name, b)
		}
	}
}

func TestBodyTooLarge(t *testing.T) {
	big := bytes.Repeat([]byte("a"), openai.MaxBodyBytes+1)
	resp, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"`+string(big)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"invalid_request_error"`) {
		t.Fatalf("status %d: %.200s", resp.StatusCode, b)
	}
}
