package httpapi_test

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

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
)

var (
	once    sync.Once
	srv     *httptest.Server
	handler *httpapi.Handler
	results chan backend.Result
	srvErr  error
)

var fixedNow = time.Unix(1_780_000_000, 0)

// server serves the real embedded backend with the default model over real HTTP.
func server(t *testing.T) string {
	t.Helper()
	once.Do(func() {
		b, err := embedded.New(embedded.Config{ModelName: models.DefaultModelName, Weights: models.DefaultGGUF(), ExpectedSHA256: models.DefaultSHA256})
		if err != nil {
			srvErr = err
			return
		}
		results = make(chan backend.Result, 100)
		handler = httpapi.NewHandler(b, httpapi.WithClock(func() time.Time { return fixedNow }),
			httpapi.WithResultHook(func(_ *http.Request, _ backend.Request, res backend.Result, err error) {
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
		c.Created != fixedNow.Unix() || c.Model != models.DefaultModelName || len(c.Choices) != 1 {
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
		if c.Object != "chat.completion.chunk" || c.Model != models.DefaultModelName || c.Created != fixedNow.Unix() || !strings.HasPrefix(c.ID, "chatcmpl-") {
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
	if resp.StatusCode != 200 || list.Object != "list" || len(list.Data) != 1 || list.Data[0].ID != models.DefaultModelName || list.Data[0].Object != "model" {
		t.Fatalf("models %d %s", resp.StatusCode, b)
	}
	resp, err = http.Get(server(t) + "/v1/models/" + models.DefaultModelName)
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
		{"missing model", "POST", "/v1/completions", `{"prompt":"x"}`, 400, "invalid_request_error", "missing_required_parameter", "model"},
		{"missing messages", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m"}`, 400, "invalid_request_error", "missing_required_parameter", "messages"},
		{"empty messages", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[]}`, 400, "invalid_request_error", "empty_array", "messages"},
		{"missing prompt", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m"}`, 400, "invalid_request_error", "missing_required_parameter", "prompt"},
		{"empty prompt array", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":[]}`, 400, "invalid_request_error", "empty_array", "prompt"},
		{"two prompts", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":["a","b"]}`, 400, "invalid_request_error", "unsupported_value", "prompt"},
		{"bad role", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"wizard","content":"x"}]}`, 400, "invalid_request_error", "", "messages[0].role"},
		{"image content", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":[{"type":"image_url"}]}]}`, 400, "invalid_request_error", "invalid_value", "messages[0].content"},
		{"n=0", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","n":0,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "integer_below_min_value", "n"},
		{"n above MaxN", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","n":9,"prompt":"x"}`, 400, "invalid_request_error", "integer_above_max_value", "n"},
		{"n not an integer", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","n":"2","prompt":"x"}`, 400, "invalid_request_error", "invalid_type", "n"},
		{"nested wrong type", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":5}]}`, 400, "invalid_request_error", "invalid_type", "messages.role"},
		{"logprobs", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","logprobs":true,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_parameter", "logprobs"},
		{"tools", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_parameter", "tools"},
		{"tool_choice", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","tool_choice":"auto","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_parameter", "tool_choice"},
		{"functions", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","functions":[{"name":"f"}],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_parameter", "functions"},
		{"json mode", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","response_format":{"type":"json_schema"},"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_value", "response_format.type"},
		{"presence_penalty", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","presence_penalty":1,"prompt":"x"}`, 400, "invalid_request_error", "unsupported_value", "presence_penalty"},
		{"frequency_penalty out of range", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","frequency_penalty":3,"prompt":"x"}`, 400, "invalid_request_error", "invalid_value", "frequency_penalty"},
		{"logit_bias", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","logit_bias":{"5":1},"prompt":"x"}`, 400, "invalid_request_error", "unsupported_parameter", "logit_bias"},
		{"audio", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","modalities":["text","audio"],"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_value", "modalities"},
		{"reasoning_effort", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","reasoning_effort":"high","messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "unsupported_parameter", "reasoning_effort"},
		{"echo", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","echo":true,"prompt":"x"}`, 400, "invalid_request_error", "unsupported_parameter", "echo"},
		{"completion logprobs", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","logprobs":0,"prompt":"x"}`, 400, "invalid_request_error", "unsupported_parameter", "logprobs"},
		{"best_of", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","best_of":2,"prompt":"x"}`, 400, "invalid_request_error", "unsupported_parameter", "best_of"},
		{"suffix", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","suffix":"s","prompt":"x"}`, 400, "invalid_request_error", "unsupported_parameter", "suffix"},
		{"max_tokens 0", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":0}`, 400, "invalid_request_error", "integer_below_min_value", "max_tokens"},
		{"max_completion_tokens -1", "POST", "/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","max_completion_tokens":-1,"messages":[{"role":"user","content":"x"}]}`, 400, "invalid_request_error", "integer_below_min_value", "max_completion_tokens"},
		{"temperature 3", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","temperature":3}`, 400, "invalid_request_error", "decimal_above_max_value", "temperature"},
		{"top_p 0", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","top_p":0}`, 400, "invalid_request_error", "decimal_below_min_value", "top_p"},
		{"five stops", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stop":["a","b","c","d","e"]}`, 400, "invalid_request_error", "array_above_max_length", "stop"},
		{"stop not a string", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stop":5}`, 400, "invalid_request_error", "invalid_type", "stop"},
		{"stop array of numbers", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stop":[1]}`, 400, "invalid_request_error", "invalid_type", "stop"},
		{"prompt of tokens", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":[[1,2]]}`, 400, "invalid_request_error", "invalid_type", "prompt"},
		{"stream_options without stream", "POST", "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","stream_options":{"include_usage":true}}`, 400, "invalid_request_error", "invalid_value", "stream_options"},
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
	big := bytes.Repeat([]byte("a"), httpapi.MaxBodyBytes+1)
	resp, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"`+string(big)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(b), `"invalid_request_error"`) {
		t.Fatalf("status %d: %.200s", resp.StatusCode, b)
	}
}

func TestSampleSeed(t *testing.T) {
	if httpapi.SampleSeed(nil, 3) != nil {
		t.Fatal("a nil seed must stay nil (random per choice)")
	}
	seed := uint64(42)
	if got := httpapi.SampleSeed(&seed, 0); got == nil || *got != 42 {
		t.Fatalf("choice 0 must use the request's seed, got %v", got)
	}
	seen := map[uint64]int{42: 0}
	for i := 1; i < httpapi.MaxN; i++ {
		s := *httpapi.SampleSeed(&seed, i)
		if j, dup := seen[s]; dup {
			t.Fatalf("choices %d and %d share seed %d", j, i, s)
		}
		seen[s] = i
		if again := *httpapi.SampleSeed(&seed, i); again != s {
			t.Fatalf("choice %d seed not reproducible: %d then %d", i, s, again)
		}
	}
	other := uint64(43)
	if *httpapi.SampleSeed(&other, 1) == *httpapi.SampleSeed(&seed, 1) {
		t.Fatal("different request seeds gave choice 1 the same seed")
	}
}

// drainResults empties the hook channel so a test sees only its own requests' results.
func drainResults() {
	for len(results) > 0 {
		<-results
	}
}

func TestNChoices(t *testing.T) {
	server(t)
	const one = `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Tell me about the sea."}],"max_tokens":10,"temperature":1,"seed":11`
	_, b := post(t, "/v1/chat/completions", one+`}`)
	var single openai.ChatCompletion
	if err := json.Unmarshal(b, &single); err != nil {
		t.Fatal(err)
	}
	drainResults()
	resp, b := post(t, "/v1/chat/completions", one+`,"n":3}`)
	var many openai.ChatCompletion
	if err := json.Unmarshal(b, &many); err != nil || resp.StatusCode != 200 {
		t.Fatalf("n=3: %d %v %s", resp.StatusCode, err, b)
	}
	if len(many.Choices) != 3 {
		t.Fatalf("%d choices", len(many.Choices))
	}
	texts := map[string]bool{}
	for i, c := range many.Choices {
		if c.Index != i || c.FinishReason != "length" || c.Message.Role != "assistant" {
			t.Fatalf("choice %d: %+v", i, c)
		}
		texts[c.Message.Content] = true
	}
	if many.Choices[0].Message.Content != single.Choices[0].Message.Content {
		t.Fatalf("choice 0 %q differs from the n=1 answer %q", many.Choices[0].Message.Content, single.Choices[0].Message.Content)
	}
	if len(texts) != 3 {
		t.Fatalf("choices are not independent samples: %+v", many.Choices)
	}
	want := openai.Usage{PromptTokens: single.Usage.PromptTokens, CompletionTokens: 30, TotalTokens: single.Usage.PromptTokens + 30}
	if many.Usage != want {
		t.Fatalf("usage %+v, want %+v (prompt once, completions summed)", many.Usage, want)
	}
	select {
	case res := <-results:
		if res.Usage.PromptTokens != want.PromptTokens || res.Usage.CompletionTokens != want.CompletionTokens || len(results) != 0 {
			t.Fatalf("hook got %+v (and %d more), want one call with %+v", res.Usage, len(results), want)
		}
	default:
		t.Fatal("hook not called")
	}

	// The same request streamed: the same texts, one choice at a time, then the usage.
	sresp, err := http.Post(server(t)+"/v1/chat/completions", "application/json",
		strings.NewReader(one+`,"n":3,"stream":true,"stream_options":{"include_usage":true}}`))
	if err != nil {
		t.Fatal(err)
	}
	events := sse(t, sresp.Body)
	sresp.Body.Close()
	streamed := make([]strings.Builder, 3)
	finished := make([]bool, 3)
	last := -1
	var usage *openai.Usage
	for _, e := range events {
		var c openai.ChatCompletionChunk
		if err := json.Unmarshal(e, &c); err != nil {
			t.Fatal(err)
		}
		if c.Usage != nil {
			usage = c.Usage
			continue
		}
		if len(c.Choices) != 1 {
			t.Fatalf("chunk with %d choices: %s", len(c.Choices), e)
		}
		ch := c.Choices[0]
		if ch.Index < last || finished[ch.Index] {
			t.Fatalf("choice %d chunk out of order (after choice %d, finished %v): %s", ch.Index, last, finished[ch.Index], e)
		}
		last = ch.Index
		if ch.Delta.Content != nil {
			streamed[ch.Index].WriteString(*ch.Delta.Content)
		}
		if ch.FinishReason != nil {
			finished[ch.Index] = true
		}
	}
	for i := range streamed {
		if !finished[i] || streamed[i].String() != many.Choices[i].Message.Content {
			t.Fatalf("streamed choice %d %q (finished %v), want %q", i, streamed[i].String(), finished[i], many.Choices[i].Message.Content)
		}
	}
	if usage == nil || *usage != want {
		t.Fatalf("streamed usage %+v, want %+v", usage, want)
	}

	// Completions: n greedy choices are all the greedy answer.
	_, b = post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"In the beginning","max_tokens":6,"temperature":0,"n":2}`)
	var comp openai.Completion
	if err := json.Unmarshal(b, &comp); err != nil {
		t.Fatal(err)
	}
	if len(comp.Choices) != 2 || comp.Choices[1].Index != 1 || comp.Choices[0].Text != comp.Choices[1].Text || comp.Usage.CompletionTokens != 12 {
		t.Fatalf("greedy n=2 completion %s", b)
	}
}

func TestNoOpValuesOfUnsupportedParametersAreAccepted(t *testing.T) {
	// SDK wrappers send these defaults on every request; refusing them would break those clients.
	for _, body := range []string{
		`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"x"}],"max_tokens":1,"logprobs":false,"top_logprobs":0,` +
			`"presence_penalty":0,"frequency_penalty":0,"logit_bias":{},"tools":[],"tool_choice":"none","functions":null,` +
			`"response_format":{"type":"text"},"modalities":["text"],"audio":null,"user":"u","metadata":{"a":"b"},"store":false,"parallel_tool_calls":true}`,
	} {
		resp, b := post(t, "/v1/chat/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	resp, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":1,"echo":false,"best_of":1,"suffix":"","logit_bias":{},"presence_penalty":0}`)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

func TestRequestIDAndFingerprint(t *testing.T) {
	server(t)
	b, err := embedded.New(embedded.Config{ModelName: models.DefaultModelName, Weights: models.DefaultGGUF(), ExpectedSHA256: models.DefaultSHA256})
	if err != nil {
		t.Fatal(err)
	}
	fp := httpapi.Fingerprint(b.SHA256())
	if fp != "fp_"+models.DefaultSHA256[:10] {
		t.Fatalf("fingerprint %q", fp)
	}
	s := httptest.NewServer(httpapi.NewHandler(b, httpapi.WithSystemFingerprint(fp)))
	defer s.Close()
	ids := map[string]bool{}
	for _, c := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"x"}],"max_tokens":2}`},
		{"/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":2}`},
		{"/v1/chat/completions", `{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"x"}],"max_tokens":2,"stream":true}`},
		{"/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","max_tokens":2,"stream":true}`},
		{"/v1/completions", `{"model":"nope","prompt":"x"}`},
	} {
		resp, err := http.Post(s.URL+c.path, "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		id := resp.Header.Get("X-Request-Id")
		if !strings.HasPrefix(id, "req_") || len(id) != len("req_")+32 || ids[id] {
			t.Fatalf("%s: x-request-id %q (seen before: %v)", c.path, id, ids[id])
		}
		ids[id] = true
		if resp.StatusCode != 200 {
			continue
		}
		payloads := [][]byte{body}
		if strings.Contains(c.body, `"stream":true`) {
			payloads = sse(t, bytes.NewReader(body))
		}
		for _, p := range payloads {
			var v struct {
				SystemFingerprint string `json:"system_fingerprint"`
			}
			if err := json.Unmarshal(p, &v); err != nil || v.SystemFingerprint != fp {
				t.Fatalf("%s: system_fingerprint %q, want %q in %s", c.path, v.SystemFingerprint, fp, p)
			}
		}
	}
}

func TestSeedRange(t *testing.T) {
	// OpenAI's seed is an int64: negative seeds are valid and reproducible, as are seeds beyond int64.
	for _, seed := range []string{"-1", "-9223372036854775808", "18446744073709551615", "0"} {
		body := `{"model":"cocoon-kjv-demo-1m","prompt":"And God said","max_tokens":8,"temperature":1,"seed":` + seed + `}`
		resp, a := post(t, "/v1/completions", body)
		if resp.StatusCode != 200 {
			t.Fatalf("seed %s: %d %s", seed, resp.StatusCode, a)
		}
		_, b := post(t, "/v1/completions", body)
		var x, y openai.Completion
		if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil || x.Choices[0].Text != y.Choices[0].Text {
			t.Fatalf("seed %s not reproducible: %s vs %s", seed, a, b)
		}
	}
	// -1 is 2^64-1 in two's complement: the same stream.
	_, a := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"And God said","max_tokens":8,"temperature":1,"seed":-1}`)
	_, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"And God said","max_tokens":8,"temperature":1,"seed":18446744073709551615}`)
	var x, y openai.Completion
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil || x.Choices[0].Text != y.Choices[0].Text {
		t.Fatalf("seed -1 and 2^64-1 differ: %s vs %s", a, b)
	}
	for _, bad := range []string{"1.5", `"7"`, "18446744073709551616", "true", "[1]"} {
		resp, b := post(t, "/v1/completions", `{"model":"cocoon-kjv-demo-1m","prompt":"x","seed":`+bad+`}`)
		var e openai.ErrorBody
		if resp.StatusCode != 400 || json.Unmarshal(b, &e) != nil || e.Error.Param == nil || *e.Error.Param != "seed" ||
			e.Error.Code == nil || *e.Error.Code != "invalid_type" || !strings.Contains(e.Error.Message, "expected an integer") {
			t.Fatalf("seed %s: %d %s", bad, resp.StatusCode, b)
		}
	}
}
