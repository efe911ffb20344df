// Package backend defines how the provider runs inference: one interface that lists the models a
// backend serves and runs a chat or completion request, streaming text and ending with the exact
// token usage the provider bills.
//
// Implementations: embedded (the pure-Go llama engine in this process) and upstream (any
// OpenAI-compatible server: vLLM, SGLang, llama.cpp server, Ollama, TGI).
package backend

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Backend runs inference. Implementations are safe for concurrent use.
type Backend interface {
	// Models lists the models this backend serves, by registry name.
	Models(ctx context.Context) ([]Model, error)
	// Generate runs req, calling onText with each piece of generated text in order (never with an
	// empty string). It returns when generation ends, fails, or ctx is cancelled, or when onText
	// returns an error (then that error is returned, wrapped).
	//
	// Result.Usage is what the backend reported as done, and is all the provider may bill: a request
	// that fails before the backend started it has zero usage. Result is meaningful with a non-nil
	// error too (usage of the part that ran).
	//
	// A refused or failed request returns one of the typed errors of this package
	// (InvalidRequestError, UnknownModelError, ContextLengthError, UpstreamError) or an error
	// wrapping ErrInvalidRequest, ErrUnknownModel, ErrContextLength or ErrUpstream; anything else
	// (cancellation included) is the backend's own failure. How a failure is answered over HTTP is
	// the HTTP layer's business (inference/httpapi), never the backend's.
	Generate(ctx context.Context, req Request, onText func(delta string) error) (Result, error)
	// Health returns nil when the backend can serve every model it lists.
	Health(ctx context.Context) error
}

// Model describes one served model.
type Model struct {
	// Name is the model's name in the registry's catalog, which requests give as "model". A
	// registry lists each name once (contracts.ResolveModel refuses an ambiguous one), so the name
	// also stands for the catalog's model id and weights hash.
	Name string
	// WeightsSHA256 is the lowercase hex sha256 of the GGUF file served, where the backend knows it
	// (embedded: the bytes it loaded); "" where it cannot (upstream).
	WeightsSHA256 string
	// OwnedBy is shown in /v1/models; informational.
	OwnedBy string
	// ContextLength is the model's context window in tokens; 0 when unknown (upstream).
	ContextLength int
}

// Message is one chat message.
type Message struct {
	Role    string // "system", "user" or "assistant" ("tool" for a Passthrough backend)
	Content string
	// Raw is the message as the client sent it (tool calls, tool results), set only for a
	// Passthrough backend, which forwards it instead of Role and Content.
	Raw json.RawMessage
}

// Passthrough is a backend that forwards OpenAI parameters it does not interpret itself to a
// server that implements them (an upstream: vLLM, SGLang): tools, tool_choice, response_format,
// logprobs, top_logprobs. The HTTP layer puts the ones it Passes in Request.Extra instead of
// refusing them, and gives messages their Raw form; the answer's tool calls and log probabilities
// come back through Request.OnParts.
type Passthrough interface {
	Passes(param string) bool
}

// Parts are the pieces of an answer beyond its text, as the server sent them: a streamed chunk's
// delta.tool_calls (a whole answer's message.tool_calls) and its choice's logprobs. Nil when absent.
type Parts struct {
	ToolCalls json.RawMessage
	Logprobs  json.RawMessage
}

// Request is one inference request, already validated by the HTTP layer.
//
// INVARIANT: exactly one of Chat (Messages non-empty) or completion (Prompt) is meant: Chat selects.
type Request struct {
	Model    string // the model's registry name (Model.Name)
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

	// Whole: the caller delivers the answer only once it is complete (a non-streamed request), so
	// the backend may run it without streaming (an upstream then answers in one JSON document);
	// onText may be called once, at the end. A cancelled whole request delivered nothing.
	Whole bool

	// Extra holds the parameters a Passthrough backend forwards, by name, as the client sent them.
	Extra map[string]json.RawMessage
	// OnParts, when set, receives the tool calls and log probabilities of the answer, in order with
	// its text (after the Progress of the same piece). An error stops generation like onText's.
	OnParts func(Parts) error

	// Progress, when set, is called before each onText with the usage so far: the prompt tokens and
	// the completion tokens generated up to and including the text about to be delivered (a few more
	// when the backend holds text back for a possible stop sequence). A provider meters a stream cut
	// short with it. Backends that cannot tell (an upstream that reports usage only at the end) never
	// call it.
	Progress func(Usage)
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
	// FinishToolCalls: the model called tools (a Passthrough backend's server).
	FinishToolCalls = "tool_calls"
)

// Sentinel errors. Every request error a backend returns wraps one of them (the typed errors below
// do, through their Is method), so the HTTP layer maps a failure by what it is, not by its text.
var (
	ErrInvalidRequest = errors.New("invalid request")
	ErrUnknownModel   = errors.New("unknown model")
	ErrContextLength  = errors.New("context length exceeded")
	ErrUpstream       = errors.New("upstream failed")
	ErrNoUsage        = errors.New("backend reported no usage")
	// ErrHashMismatch and ErrConfig refuse a backend at start, never a request.
	ErrHashMismatch = errors.New("model weights hash mismatch")
	ErrConfig       = errors.New("invalid backend configuration")
)

// InvalidRequestError is a request refused for one of its parameters. It wraps ErrInvalidRequest.
type InvalidRequestError struct {
	// Param names the offending parameter as the client sent it ("messages[2].role"); may be empty.
	Param string
	// Code is a machine-readable reason that an upstream server gave with its refusal, passed on to
	// the client; empty otherwise.
	Code    string
	Message string
}

func (e *InvalidRequestError) Error() string        { return e.Message }
func (e *InvalidRequestError) Is(target error) bool { return target == ErrInvalidRequest }

// InvalidRequest refuses a request for param, with a formatted message.
func InvalidRequest(param, format string, args ...any) *InvalidRequestError {
	return &InvalidRequestError{Param: param, Message: fmt.Sprintf(format, args...)}
}

// UnknownModelError is a request for a model the backend does not serve. It wraps ErrUnknownModel.
type UnknownModelError struct {
	Model string // the name the request gave
}

func (e *UnknownModelError) Error() string {
	return fmt.Sprintf("The model `%s` does not exist or you do not have access to it.", e.Model)
}
func (e *UnknownModelError) Is(target error) bool { return target == ErrUnknownModel }

// ContextLengthError is a prompt plus completion budget longer than the model's context window,
// refused before anything ran. It wraps ErrContextLength.
type ContextLengthError struct {
	// Param is the parameter holding the prompt ("prompt" or "messages"); may be empty.
	Param string
	// Limit is the context window, Prompt the prompt's tokens and MaxTokens the completion budget
	// the request asked for (0: the rest of the window). All are 0 when the backend only has Detail.
	Limit, Prompt, MaxTokens int
	// Detail is the refusal as an upstream server worded it; empty when the numbers are known.
	Detail string
}

func (e *ContextLengthError) Error() string {
	if e.Detail != "" {
		return e.Detail
	}
	return fmt.Sprintf("This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the prompt, %d for the completion). Please reduce the length of the prompt or completion.",
		e.Limit, e.Prompt+e.MaxTokens, e.Prompt, e.MaxTokens)
}
func (e *ContextLengthError) Is(target error) bool { return target == ErrContextLength }

// UpstreamReason says how an upstream inference server failed.
type UpstreamReason uint8

// Upstream failures.
const (
	// UpstreamUnavailable: the server could not be reached.
	UpstreamUnavailable UpstreamReason = iota + 1
	// UpstreamFailed: the server answered with an error of its own (5xx, refused credentials, ...).
	UpstreamFailed
	// UpstreamStreamBroken: the server's stream broke off or held an unreadable event.
	UpstreamStreamBroken
	// UpstreamBusy: the server refused the request for load (HTTP 429); a retry may succeed.
	UpstreamBusy
	// UpstreamNoUsage: the server finished without reporting token usage, so nothing is billed.
	UpstreamNoUsage
)

var upstreamReasons = [...]string{UpstreamUnavailable: "unavailable", UpstreamFailed: "failed",
	UpstreamStreamBroken: "stream broken", UpstreamBusy: "busy", UpstreamNoUsage: "no usage"}

func (r UpstreamReason) String() string {
	if int(r) < len(upstreamReasons) && upstreamReasons[r] != "" {
		return upstreamReasons[r]
	}
	return fmt.Sprintf("UpstreamReason(%d)", uint8(r))
}

// UpstreamError is a failure of the upstream inference server. It wraps ErrNoUsage for
// UpstreamNoUsage and ErrUpstream for every other reason.
type UpstreamError struct {
	Reason UpstreamReason
	// Param is a parameter the upstream named with its error; usually empty.
	Param   string
	Message string
}

func (e *UpstreamError) Error() string { return e.Message }
func (e *UpstreamError) Is(target error) bool {
	if e.Reason == UpstreamNoUsage {
		return target == ErrNoUsage
	}
	return target == ErrUpstream
}
