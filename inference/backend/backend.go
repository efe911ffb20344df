// Package backend defines how the provider runs inference: one interface that lists the models a
// backend serves and runs a chat or completion request, streaming text and ending with the exact
// token usage the provider bills.
//
// Implementations: embedded (the pure-Go llama engine in this process) and upstream (any
// OpenAI-compatible server: vLLM, SGLang, llama.cpp server, Ollama, TGI).
package backend

import (
	"context"
	"errors"
	"fmt"
	"net/http"
)

// Backend runs inference. Implementations are safe for concurrent use.
type Backend interface {
	// Models lists the models this backend serves, by network model id.
	Models(ctx context.Context) ([]Model, error)
	// Generate runs req, calling onText with each piece of generated text in order (never with an
	// empty string). It returns when generation ends, fails, or ctx is cancelled, or when onText
	// returns an error (then that error is returned, wrapped).
	//
	// Result.Usage is what the backend reported as done, and is all the provider may bill: a request
	// that fails before the backend started it has zero usage. Result is meaningful with a non-nil
	// error too (usage of the part that ran).
	Generate(ctx context.Context, req Request, onText func(delta string) error) (Result, error)
	// Health returns nil when the backend can serve every model it lists.
	Health(ctx context.Context) error
}

// Model describes one served model.
type Model struct {
	// ID is the network model id (the registry's key), which requests name.
	ID string
	// OwnedBy is shown in /v1/models; informational.
	OwnedBy string
	// ContextLength is the model's context window in tokens; 0 when unknown (upstream).
	ContextLength int
}

// Message is one chat message.
type Message struct {
	Role    string // "system", "user" or "assistant"
	Content string
}

// Request is one inference request, already validated by the HTTP layer.
//
// INVARIANT: exactly one of Chat (Messages non-empty) or completion (Prompt) is meant: Chat selects.
type Request struct {
	Model    string
	Chat     bool
	Messages []Message // when Chat
	Prompt   string    // when !Chat

	// MaxTokens caps completion tokens; 0 means "up to the end of the context window" (embedded)
	// or the upstream's default.
	MaxTokens int
	// Temperature and TopP are nil when the client did not set them (backend default: embedded
	// uses temperature 1, top_p 1, like OpenAI).
	Temperature *float32
	TopP        *float32
	Seed        *uint64
	Stop        []string
}

// Usage is token accounting for one request.
type Usage struct {
	PromptTokens     int
	CompletionTokens int
}

// Total is prompt plus completion tokens.
func (u Usage) Total() int { return u.PromptTokens + u.CompletionTokens }

// Result ends a generation.
type Result struct {
	Usage Usage
	// FinishReason is "stop" (a stop sequence or end of text) or "length" (MaxTokens or the
	// context window reached); empty when the request failed.
	FinishReason string
}

// Finish reasons.
const (
	FinishStop   = "stop"
	FinishLength = "length"
)

// Sentinel errors; Error values wrap one of them so callers can use errors.Is.
var (
	ErrInvalidRequest = errors.New("invalid request")
	ErrUnknownModel   = errors.New("unknown model")
	ErrContextLength  = errors.New("context length exceeded")
	ErrUpstream       = errors.New("upstream failed")
	ErrHashMismatch   = errors.New("model weights hash mismatch")
	ErrNoUsage        = errors.New("backend reported no usage")
	ErrConfig         = errors.New("invalid backend configuration")
)

// Error is a request failure with what the OpenAI error body needs. Status is the HTTP status the
// provider answers with.
type Error struct {
	Status  int
	Type    string // OpenAI error type, e.g. "invalid_request_error"
	Code    string // OpenAI error code, e.g. "model_not_found"; may be empty
	Param   string // offending parameter; may be empty
	Message string
	Err     error // sentinel this error is a case of
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// OpenAI error types used here.
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeServer         = "server_error"
	TypeUpstream       = "upstream_error"
)

// InvalidRequest is a 400 for a bad parameter.
func InvalidRequest(param, format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Param: param,
		Message: fmt.Sprintf(format, args...), Err: ErrInvalidRequest}
}

// UnknownModel is OpenAI's 404 for a model this backend does not serve.
func UnknownModel(id string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "model_not_found", Param: "model",
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", id), Err: ErrUnknownModel}
}

// ContextLength is OpenAI's 400 for a prompt plus max_tokens longer than the context window.
func ContextLength(param string, limit, prompt, maxTokens int) *Error {
	msg := fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the prompt, %d for the completion). Please reduce the length of the prompt or completion.",
		limit, prompt+maxTokens, prompt, maxTokens)
	return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "context_length_exceeded",
		Param: param, Message: msg, Err: ErrContextLength}
}

// AsError converts any error into an *Error: the one it wraps if any, else one chosen by the
// sentinel it wraps, else a 500 server_error (also for cancellation: the client is gone anyway).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, ErrUnknownModel):
		return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: "model_not_found", Param: "model", Message: err.Error(), Err: ErrUnknownModel}
	case errors.Is(err, ErrContextLength):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Code: "context_length_exceeded", Message: err.Error(), Err: ErrContextLength}
	case errors.Is(err, ErrInvalidRequest):
		return &Error{Status: http.StatusBadRequest, Type: TypeInvalidRequest, Message: err.Error(), Err: ErrInvalidRequest}
	case errors.Is(err, ErrUpstream):
		return &Error{Status: http.StatusBadGateway, Type: TypeUpstream, Message: err.Error(), Err: ErrUpstream}
	}
	return &Error{Status: http.StatusInternalServerError, Type: TypeServer, Message: err.Error(), Err: err}
}
