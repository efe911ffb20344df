package backend

import (
	"errors"
	"fmt"
	"testing"
)

func TestErrors(t *testing.T) {
	cases := []struct {
		err  error
		is   error
		not  error
		text string
	}{
		{&UnknownModelError{Model: "x"}, ErrUnknownModel, ErrInvalidRequest, "The model `x` does not exist or you do not have access to it."},
		{fmt.Errorf("wrapped: %w", &ContextLengthError{Param: "messages", Limit: 256, Prompt: 250, MaxTokens: 10}), ErrContextLength, ErrInvalidRequest,
			"wrapped: This model's maximum context length is 256 tokens. However, you requested 260 tokens (250 in the prompt, 10 for the completion). Please reduce the length of the prompt or completion."},
		{&ContextLengthError{Detail: "too long upstream"}, ErrContextLength, ErrUpstream, "too long upstream"},
		{InvalidRequest("n", "bad n %d", 2), ErrInvalidRequest, ErrContextLength, "bad n 2"},
		{&UpstreamError{Reason: UpstreamFailed, Message: "boom"}, ErrUpstream, ErrNoUsage, "boom"},
		{&UpstreamError{Reason: UpstreamBusy, Message: "busy"}, ErrUpstream, ErrNoUsage, "busy"},
		{&UpstreamError{Reason: UpstreamNoUsage, Message: "none"}, ErrNoUsage, ErrUpstream, "none"},
	}
	for _, c := range cases {
		if !errors.Is(c.err, c.is) || errors.Is(c.err, c.not) || c.err.Error() != c.text {
			t.Errorf("%v: is %v %v, is %v %v", c.err, c.is, errors.Is(c.err, c.is), c.not, errors.Is(c.err, c.not))
		}
	}
	if e := InvalidRequest("messages[0].role", "x"); e.Param != "messages[0].role" || e.Code != "" {
		t.Fatalf("InvalidRequest %+v", e)
	}
	for r, want := range map[UpstreamReason]string{UpstreamUnavailable: "unavailable", UpstreamNoUsage: "no usage", 0: "UpstreamReason(0)", 99: "UpstreamReason(99)"} {
		if r.String() != want {
			t.Errorf("reason %d: %q", uint8(r), r.String())
		}
	}
	if (Usage{PromptTokens: 3, CompletionTokens: 4}).Total() != 7 {
		t.Fatal("Total")
	}
}
