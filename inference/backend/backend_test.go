package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
)

func TestAsError(t *testing.T) {
	cases := []struct {
		err    error
		status int
		typ    string
		code   string
		is     error
	}{
		{UnknownModel("x"), 404, TypeInvalidRequest, "model_not_found", ErrUnknownModel},
		{fmt.Errorf("wrapped: %w", ContextLength("prompt", 10, 8, 4)), 400, TypeInvalidRequest, "context_length_exceeded", ErrContextLength},
		{InvalidRequest("n", "bad n %d", 2), 400, TypeInvalidRequest, "", ErrInvalidRequest},
		{fmt.Errorf("engine: %w", ErrContextLength), 400, TypeInvalidRequest, "context_length_exceeded", ErrContextLength},
		{fmt.Errorf("x: %w", ErrUnknownModel), 404, TypeInvalidRequest, "model_not_found", ErrUnknownModel},
		{fmt.Errorf("x: %w", ErrUpstream), http.StatusBadGateway, TypeUpstream, "", ErrUpstream},
		{fmt.Errorf("x: %w", ErrInvalidRequest), 400, TypeInvalidRequest, "", ErrInvalidRequest},
		{context.Canceled, 500, TypeServer, "", context.Canceled},
		{errors.New("disk on fire"), 500, TypeServer, "", nil},
	}
	for _, c := range cases {
		e := AsError(c.err)
		if e.Status != c.status || e.Type != c.typ || e.Code != c.code || e.Message == "" {
			t.Errorf("%v: got %d %q %q %q", c.err, e.Status, e.Type, e.Code, e.Message)
		}
		if c.is != nil && !errors.Is(e, c.is) {
			t.Errorf("%v: does not wrap %v", c.err, c.is)
		}
	}
	e := ContextLength("messages", 256, 250, 10)
	if want := "This model's maximum context length is 256 tokens. However, you requested 260 tokens (250 in the prompt, 10 for the completion). Please reduce the length of the prompt or completion."; e.Message != want || e.Param != "messages" {
		t.Fatalf("context message %q param %q", e.Message, e.Param)
	}
	if (Usage{PromptTokens: 3, CompletionTokens: 4}).Total() != 7 {
		t.Fatal("Total")
	}
}
