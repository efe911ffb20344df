package httpapi

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/openai"
)

func TestAPIError(t *testing.T) {
	cases := []struct {
		err    error
		status int
		typ    string
		code   string
		param  string
		msg    string // "" checks only that there is one
	}{
		{&backend.UnknownModelError{Model: "x"}, 404, openai.TypeInvalidRequest, "model_not_found", "model",
			"The model `x` does not exist or you do not have access to it."},
		{fmt.Errorf("wrapped: %w", &backend.ContextLengthError{Param: "prompt", Limit: 10, Prompt: 8, MaxTokens: 4}), 400,
			openai.TypeInvalidRequest, "context_length_exceeded", "prompt",
			"This model's maximum context length is 10 tokens. However, you requested 12 tokens (8 in the prompt, 4 for the completion). Please reduce the length of the prompt or completion."},
		{&backend.ContextLengthError{Param: "messages", Detail: "the upstream's words"}, 400, openai.TypeInvalidRequest, "context_length_exceeded", "messages", "the upstream's words"},
		{backend.InvalidRequest("n", "bad n %d", 2), 400, openai.TypeInvalidRequest, "", "n", "bad n 2"},
		{&backend.InvalidRequestError{Code: "invalid_value", Message: "upstream says no"}, 400, openai.TypeInvalidRequest, "invalid_value", "", "upstream says no"},
		{&backend.UpstreamError{Reason: backend.UpstreamUnavailable, Message: "down"}, 502, openai.TypeUpstream, "upstream_unavailable", "", "down"},
		{&backend.UpstreamError{Reason: backend.UpstreamFailed, Param: "p", Message: "failed"}, 502, openai.TypeUpstream, "upstream_error", "p", "failed"},
		{&backend.UpstreamError{Reason: backend.UpstreamStreamBroken, Message: "broke"}, 502, openai.TypeUpstream, "upstream_stream_error", "", "broke"},
		{&backend.UpstreamError{Reason: backend.UpstreamNoUsage, Message: "no usage"}, 502, openai.TypeUpstream, "upstream_no_usage", "", "no usage"},
		{fmt.Errorf("x: %w", &backend.UpstreamError{Reason: backend.UpstreamBusy, Message: "busy"}), 429, openai.TypeRateLimit, "rate_limit_exceeded", "", "busy"},
		{fmt.Errorf("engine: %w", backend.ErrContextLength), 400, openai.TypeInvalidRequest, "context_length_exceeded", "", ""},
		{fmt.Errorf("x: %w", backend.ErrUnknownModel), 404, openai.TypeInvalidRequest, "model_not_found", "model", ""},
		{fmt.Errorf("x: %w", backend.ErrUpstream), http.StatusBadGateway, openai.TypeUpstream, "", "", ""},
		{fmt.Errorf("x: %w", backend.ErrInvalidRequest), 400, openai.TypeInvalidRequest, "", "", ""},
		{&openai.Error{Status: 413, Type: openai.TypeInvalidRequest, Message: "too big"}, 413, openai.TypeInvalidRequest, "", "", "too big"},
		{context.Canceled, 500, openai.TypeServer, "", "", "context canceled"},
		{errors.New("disk on fire"), 500, openai.TypeServer, "", "", "disk on fire"},
	}
	for _, c := range cases {
		e := APIError(c.err)
		if e.Status != c.status || e.Type != c.typ || e.Code != c.code || e.Param != c.param || e.Message == "" || (c.msg != "" && e.Message != c.msg) {
			t.Errorf("%v: got %d %q %q %q %q", c.err, e.Status, e.Type, e.Code, e.Param, e.Message)
		}
	}
}
