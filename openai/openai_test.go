package openai

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"
)

func TestErrorBody(t *testing.T) {
	cases := []struct {
		e      *Error
		status int
		body   string
	}{
		{&Error{Status: 404, Type: TypeInvalidRequest, Code: CodeModelNotFound, Param: "model", Message: "no such model"}, 404,
			`{"error":{"message":"no such model","type":"invalid_request_error","param":"model","code":"model_not_found"}}`},
		{&Error{Status: 400, Type: TypeInvalidRequest, Message: "bad"}, 400,
			`{"error":{"message":"bad","type":"invalid_request_error","param":null,"code":null}}`},
		{&Error{Message: "boom"}, 500, `{"error":{"message":"boom","type":"server_error","param":null,"code":null}}`},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		WriteError(w, c.e)
		if w.Code != c.status || w.Header().Get("Content-Type") != "application/json" || w.Body.String() != c.body+"\n" {
			t.Errorf("%+v: %d %q %s", c.e, w.Code, w.Header().Get("Content-Type"), w.Body.String())
		}
	}
	if (&Error{Message: "m"}).Error() != "m" {
		t.Fatal("Error()")
	}
	w := httptest.NewRecorder()
	WriteJSON(w, http.StatusOK, func() {})
	if w.Code != http.StatusInternalServerError {
		t.Fatalf("unencodable value: %d", w.Code)
	}
}

func TestStream(t *testing.T) {
	// A failure before any event is a plain JSON error with its status.
	w := httptest.NewRecorder()
	NewStream(w).Fail(&Error{Status: 429, Type: TypeRateLimit, Message: "busy"})
	if w.Code != 429 || w.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("early failure: %d %q", w.Code, w.Header().Get("Content-Type"))
	}
	// After the first event: events, then the error as a last event without [DONE].
	w = httptest.NewRecorder()
	s := NewStream(w)
	if err := s.Event(map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	s.Fail(&Error{Status: 502, Type: TypeUpstream, Code: CodeUpstreamStreamError, Message: "broke"})
	want := "data: {\"a\":1}\n\ndata: {\"error\":{\"message\":\"broke\",\"type\":\"upstream_error\",\"param\":null,\"code\":\"upstream_stream_error\"}}\n\n"
	if w.Code != 200 || w.Header().Get("Content-Type") != "text/event-stream" || w.Body.String() != want {
		t.Fatalf("late failure: %d %q %q", w.Code, w.Header().Get("Content-Type"), w.Body.String())
	}
	w = httptest.NewRecorder()
	s = NewStream(w)
	_ = s.Event(1)
	s.Done()
	if w.Body.String() != "data: 1\n\ndata: [DONE]\n\n" || !w.Flushed {
		t.Fatalf("complete stream: %q flushed %v", w.Body.String(), w.Flushed)
	}
	if err := NewStream(httptest.NewRecorder()).Event(func() {}); err == nil {
		t.Fatal("unencodable event accepted")
	}
}

func TestRequestFields(t *testing.T) {
	var r struct {
		Stop   StringOrArray `json:"stop"`
		Prompt StringOrArray `json:"prompt"`
		Seed   *Seed         `json:"seed"`
		Msg    ChatMessage   `json:"msg"`
	}
	in := `{"stop":"x","prompt":["a","b"],"seed":-1,"msg":{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}}`
	if err := json.Unmarshal([]byte(in), &r); err != nil {
		t.Fatal(err)
	}
	text, err := r.Msg.Text()
	if !reflect.DeepEqual(r.Stop, StringOrArray{"x"}) || !reflect.DeepEqual(r.Prompt, StringOrArray{"a", "b"}) ||
		r.Seed == nil || *r.Seed != Seed(1<<64-1) || err != nil || text != "ab" {
		t.Fatalf("decoded %+v text %q %v", r, text, err)
	}
	for _, bad := range []string{`{"stop":5}`, `{"stop":[1]}`, `{"seed":1.5}`, `{"seed":"7"}`, `{"seed":18446744073709551616}`} {
		var typeErr *json.UnmarshalTypeError
		if err := json.Unmarshal([]byte(bad), &r); !errors.As(err, &typeErr) || typeErr.Field == "" {
			t.Errorf("%s: %v, want a type error naming the field", bad, err)
		}
	}
	for content, want := range map[string]string{`null`: "", `"hi"`: "hi", `[{"type":"image_url"}]`: "error", `7`: "error"} {
		got, err := ChatMessage{Content: json.RawMessage(content)}.Text()
		if (err != nil) != (want == "error") || (err == nil && got != want) {
			t.Errorf("content %s: %q %v", content, got, err)
		}
	}
}
