// Package openai holds the OpenAI API's wire types: the requests, responses, stream chunks and error
// bodies of /v1/models, /v1/chat/completions and /v1/completions, shared by everything that speaks
// that API (the provider's server in inference/httpapi, the client's gateway). The shapes follow
// OpenAI's API exactly so unmodified OpenAI clients work.
package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
)

// ChatMessage is one message of a chat request or response. Content in requests may also be an
// array of parts; only "text" parts are accepted (see Text).
type ChatMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content,omitempty"`
	Name    string          `json:"name,omitempty"`
	// ToolCalls (an assistant's) and ToolCallID (a tool result's) are decoded only to tell that the
	// message must be passed on as sent (to a server that implements tools) or refused.
	ToolCalls  json.RawMessage `json:"tool_calls,omitempty"`
	ToolCallID string          `json:"tool_call_id,omitempty"`
}

// Text returns the message content as one string, joining text parts.
func (m ChatMessage) Text() (string, error) {
	c := bytes.TrimSpace(m.Content)
	if len(c) == 0 || string(c) == "null" {
		return "", nil
	}
	if c[0] == '"' {
		var s string
		if err := json.Unmarshal(c, &s); err != nil {
			return "", err
		}
		return s, nil
	}
	var parts []struct {
		Type string `json:"type"`
		Text string `json:"text"`
	}
	if err := json.Unmarshal(c, &parts); err != nil {
		return "", fmt.Errorf("content must be a string or an array of text parts")
	}
	var b bytes.Buffer
	for _, p := range parts {
		if p.Type != "text" {
			return "", fmt.Errorf("content part type %q is not supported (only \"text\")", p.Type)
		}
		b.WriteString(p.Text)
	}
	return b.String(), nil
}

// StringOrArray is OpenAI's "string or array of strings" (stop, prompt).
type StringOrArray []string

// UnmarshalJSON accepts null, a string, or an array of strings.
func (s *StringOrArray) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		*s = nil
		return nil
	}
	if len(b) > 0 && b[0] == '"' {
		var one string
		if err := json.Unmarshal(b, &one); err != nil {
			return err
		}
		*s = StringOrArray{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		// A type error lets the decoder name the field (stop, prompt) in the 400.
		kind := "number"
		switch {
		case len(b) == 0:
			kind = ""
		case b[0] == '[':
			kind = "array"
		case b[0] == '{':
			kind = "object"
		case b[0] == 't' || b[0] == 'f':
			kind = "bool"
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeOf(StringOrArray{})}
	}
	*s = many
	return nil
}

// Seed is a request's seed. OpenAI documents it as an integer (int64, so negative seeds are
// valid); any integer from -2^63 to 2^64-1 is accepted, a negative one standing for its
// two's-complement uint64, so every integer names one reproducible sampling stream.
type Seed uint64

// UnmarshalJSON accepts a JSON integer in int64 or uint64 range.
func (s *Seed) UnmarshalJSON(b []byte) error {
	t := string(bytes.TrimSpace(b))
	if u, err := strconv.ParseUint(t, 10, 64); err == nil {
		*s = Seed(u)
		return nil
	}
	if i, err := strconv.ParseInt(t, 10, 64); err == nil {
		*s = Seed(uint64(i))
		return nil
	}
	kind := "number " + t
	if t != "" && t[0] != '-' && (t[0] < '0' || t[0] > '9') {
		kind = map[byte]string{'"': "string", '[': "array", '{': "object", 't': "bool", 'f': "bool"}[t[0]]
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeOf(int64(0))}
}

// StreamOptions is the request's stream_options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// ChatCompletionRequest is the body of POST /v1/chat/completions. Parameters that would change
// the answer but that Cocoon cannot honour (tools, logprobs, penalties, response formats…) are
// decoded only to be refused with OpenAI's unsupported_parameter/unsupported_value errors; other
// unknown fields (user, metadata, store…) are ignored as OpenAI-compatible servers do.
type ChatCompletionRequest struct {
	Model               string         `json:"model"`
	Messages            []ChatMessage  `json:"messages"`
	MaxTokens           *int           `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int           `json:"max_completion_tokens,omitempty"`
	Temperature         *float32       `json:"temperature,omitempty"`
	TopP                *float32       `json:"top_p,omitempty"`
	Seed                *Seed          `json:"seed,omitempty"`
	Stop                StringOrArray  `json:"stop,omitempty"`
	N                   *int           `json:"n,omitempty"`
	Stream              bool           `json:"stream,omitempty"`
	StreamOptions       *StreamOptions `json:"stream_options,omitempty"`

	Logprobs          *bool           `json:"logprobs,omitempty"`
	TopLogprobs       *int            `json:"top_logprobs,omitempty"`
	PresencePenalty   *float32        `json:"presence_penalty,omitempty"`
	FrequencyPenalty  *float32        `json:"frequency_penalty,omitempty"`
	LogitBias         map[string]any  `json:"logit_bias,omitempty"`
	Tools             json.RawMessage `json:"tools,omitempty"`
	ToolChoice        json.RawMessage `json:"tool_choice,omitempty"`
	ParallelToolCalls json.RawMessage `json:"parallel_tool_calls,omitempty"`
	Functions         json.RawMessage `json:"functions,omitempty"`
	FunctionCall      json.RawMessage `json:"function_call,omitempty"`
	ResponseFormat    *ResponseFormat `json:"response_format,omitempty"`
	Modalities        []string        `json:"modalities,omitempty"`
	Audio             json.RawMessage `json:"audio,omitempty"`
	Prediction        json.RawMessage `json:"prediction,omitempty"`
	ReasoningEffort   json.RawMessage `json:"reasoning_effort,omitempty"`
	WebSearchOptions  json.RawMessage `json:"web_search_options,omitempty"`
}

// ResponseFormat is the chat request's response_format; only {"type":"text"} is served.
type ResponseFormat struct {
	Type string `json:"type"`
}

// CompletionRequest is the body of POST /v1/completions.
type CompletionRequest struct {
	Model         string         `json:"model"`
	Prompt        StringOrArray  `json:"prompt"`
	MaxTokens     *int           `json:"max_tokens,omitempty"`
	Temperature   *float32       `json:"temperature,omitempty"`
	TopP          *float32       `json:"top_p,omitempty"`
	Seed          *Seed          `json:"seed,omitempty"`
	Stop          StringOrArray  `json:"stop,omitempty"`
	N             *int           `json:"n,omitempty"`
	Echo          bool           `json:"echo,omitempty"`
	Stream        bool           `json:"stream,omitempty"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`

	// Decoded only to be refused when set to anything but their no-op value (see ChatCompletionRequest).
	Logprobs         *int           `json:"logprobs,omitempty"`
	BestOf           *int           `json:"best_of,omitempty"`
	Suffix           *string        `json:"suffix,omitempty"`
	PresencePenalty  *float32       `json:"presence_penalty,omitempty"`
	FrequencyPenalty *float32       `json:"frequency_penalty,omitempty"`
	LogitBias        map[string]any `json:"logit_bias,omitempty"`
}

// Usage is OpenAI's usage object. Cocoon is Cocoon's extension on paid answers (absent otherwise);
// OpenAI clients ignore unknown fields.
type Usage struct {
	PromptTokens     int      `json:"prompt_tokens"`
	CompletionTokens int      `json:"completion_tokens"`
	TotalTokens      int      `json:"total_tokens"`
	Cocoon           *Payment `json:"cocoon,omitempty"`
}

// Payment is what a paid answer cost (docs/PROTOCOL.md, "Paid inference"): amounts are nanoTON as
// decimal strings (and TON for people), Receipt the signed receipt (payment.DecodeReceipt).
type Payment struct {
	Channel string `json:"channel"`
	Cost    string `json:"cost"`
	CostTON string `json:"cost_ton"`
	Owed    string `json:"owed"`
	Receipt string `json:"receipt"`
}

// ResponseMessage is the assistant message of a non-streaming chat response. Refusal is always
// null: the model never refuses through OpenAI's refusal channel. ToolCalls are the tool calls an
// upstream made (passed through as it sent them), absent otherwise.
type ResponseMessage struct {
	Role      string          `json:"role"`
	Content   string          `json:"content"`
	Refusal   *string         `json:"refusal"`
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

// ChatChoice is one choice of a non-streaming chat response.
type ChatChoice struct {
	Index   int             `json:"index"`
	Message ResponseMessage `json:"message"`
	// Logprobs are the upstream's, passed through when asked for (nil: null).
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason string          `json:"finish_reason"`
}

// ResponseHead is the first fields of every completion response and stream chunk (embedded, so
// they serialize at the top level). Object is "chat.completion", "chat.completion.chunk" or
// "text_completion"; every chunk of a stream repeats the head of its response but for Object.
type ResponseHead struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint,omitempty"`
}

// ChatCompletion is the non-streaming chat response (object "chat.completion"). Choices are in
// index order; with n > 1 Usage counts the prompt once and the completion tokens of every choice.
type ChatCompletion struct {
	ResponseHead
	Choices []ChatChoice `json:"choices"`
	Usage   Usage        `json:"usage"`
}

// Delta is the incremental message of a chat stream chunk.
type Delta struct {
	Role    string  `json:"role,omitempty"`
	Content *string `json:"content,omitempty"`
	// ToolCalls are the tool-call pieces an upstream streamed (passed through as it sent them).
	ToolCalls json.RawMessage `json:"tool_calls,omitempty"`
}

// ChunkChoice is one choice of a chat stream chunk; FinishReason is null until the last one.
type ChunkChoice struct {
	Index        int             `json:"index"`
	Delta        Delta           `json:"delta"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// ChatCompletionChunk is one SSE event of a chat stream (object "chat.completion.chunk"). With
// stream_options.include_usage the last chunk has no choices and the usage; Usage is null otherwise.
// A chunk carries at most one choice; with n > 1 the choices stream one after the other, each
// from its role chunk to its finish_reason chunk.
type ChatCompletionChunk struct {
	ResponseHead
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage"`
}

// CompletionChoice is one choice of a completion response or stream chunk.
type CompletionChoice struct {
	Text         string          `json:"text"`
	Index        int             `json:"index"`
	Logprobs     json.RawMessage `json:"logprobs"`
	FinishReason *string         `json:"finish_reason"`
}

// Completion is the completion response, and (with Usage null) one stream chunk; both
// have object "text_completion", as OpenAI sends.
type Completion struct {
	ResponseHead
	Choices []CompletionChoice `json:"choices"`
	Usage   *Usage             `json:"usage"`
}

// ModelObject is one entry of GET /v1/models.
type ModelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// ModelList is the GET /v1/models response.
type ModelList struct {
	Object string        `json:"object"`
	Data   []ModelObject `json:"data"`
}
