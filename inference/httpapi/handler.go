// Package httpapi serves a backend.Backend over OpenAI's HTTP API (/v1/models,
// /v1/chat/completions, /v1/completions): it validates requests the way OpenAI does, runs them on
// the backend, streams Server-Sent Events, and maps backend errors to OpenAI error bodies and HTTP
// statuses. The provider daemon mounts it behind RA-TLS; `cocoon model serve` serves it on plain HTTP.
package httpapi

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"reflect"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/internal/fastjson"
	"github.com/cocoon-go/cocoon/openai"
)

// MaxBodyBytes bounds a request body; larger bodies get 413.
const MaxBodyBytes = 4 << 20

// maxStop is OpenAI's limit on stop sequences.
const maxStop = 4

// ResultHook is called once per inference request after the backend finished (or failed), with
// the usage the backend reported: the provider daemon bills res.Usage, also when err is non-nil (a
// client that left mid-stream still used what the backend reports). For a request with n > 1
// choices it is still called once, with the usage the client is shown: the prompt once and the
// completion tokens of all choices.
type ResultHook func(r *http.Request, req backend.Request, res backend.Result, err error)

// Handler serves the OpenAI-compatible API from one backend. It is an http.Handler.
type Handler struct {
	backend     backend.Backend
	now         func() time.Time
	log         *slog.Logger
	hook        ResultHook
	meter       Meter  // nil: free
	fingerprint string // system_fingerprint of every response; "" omits it
}

// Option configures a Handler.
type Option func(*Handler)

// WithClock sets the clock used for "created" fields (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithResultHook sets a hook called after each inference request.
func WithResultHook(f ResultHook) Option { return func(h *Handler) { h.hook = f } }

// WithSystemFingerprint sets the system_fingerprint sent with every completion: it should change
// whenever the answers for a fixed seed may change (other weights or engine), as OpenAI's does.
func WithSystemFingerprint(fp string) Option { return func(h *Handler) { h.fingerprint = fp } }

// Fingerprint is the system_fingerprint for a backend serving weights with this hex sha256.
func Fingerprint(weightsSHA256 string) string {
	if len(weightsSHA256) > 10 {
		weightsSHA256 = weightsSHA256[:10]
	}
	return "fp_" + strings.ToLower(weightsSHA256)
}

// NewHandler serves b.
func NewHandler(b backend.Backend, opts ...Option) *Handler {
	h := &Handler{backend: b, now: time.Now, log: slog.Default()}
	for _, o := range opts {
		o(h)
	}
	return h
}

// ServeHTTP routes GET /v1/models, GET /v1/models/{id}, POST /v1/chat/completions and
// POST /v1/completions; everything else is an OpenAI-shaped 404 or 405.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// Every answer carries a request id, which the OpenAI SDKs surface (requestID, _request_id).
	w.Header().Set("X-Request-Id", requestID())
	path := strings.TrimSuffix(r.URL.Path, "/")
	var want string
	var serve func(http.ResponseWriter, *http.Request)
	switch {
	case path == "/v1/models":
		want, serve = http.MethodGet, h.listModels
	case strings.HasPrefix(path, "/v1/models/"):
		want, serve = http.MethodGet, h.getModel
	case path == "/v1/chat/completions":
		want, serve = http.MethodPost, h.chat
	case path == "/v1/completions":
		want, serve = http.MethodPost, h.completion
	default:
		openai.WriteError(w, openai.UnknownURL(r.Method, r.URL.Path))
		return
	}
	if r.Method != want {
		openai.WrongMethod(w, r.Method, r.URL.Path, want)
		return
	}
	serve(w, r)
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := h.backend.Models(r.Context())
	if err != nil {
		openai.WriteError(w, APIError(fmt.Errorf("failed to list models: %w", err)))
		return
	}
	list := openai.ModelList{Object: "list", Data: make([]openai.ModelObject, 0, len(ms))}
	for _, m := range ms {
		list.Data = append(list.Data, h.modelObject(m))
	}
	openai.WriteJSON(w, http.StatusOK, list)
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/v1/models/")
	ms, err := h.backend.Models(r.Context())
	if err != nil {
		openai.WriteError(w, APIError(fmt.Errorf("failed to list models: %w", err)))
		return
	}
	for _, m := range ms {
		if m.Name == id {
			openai.WriteJSON(w, http.StatusOK, h.modelObject(m))
			return
		}
	}
	openai.WriteError(w, APIError(&backend.UnknownModelError{Model: id}))
}

func (h *Handler) modelObject(m backend.Model) openai.ModelObject {
	return openai.ModelObject{ID: m.Name, Object: "model", Created: 0, OwnedBy: m.OwnedBy}
}

// decodeBody reads one JSON object into v, with OpenAI's wording for unparsable bodies and for
// fields of the wrong JSON type, and returns the body.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) ([]byte, *openai.Error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, &openai.Error{Status: http.StatusRequestEntityTooLarge, Type: openai.TypeInvalidRequest,
				Message: fmt.Sprintf("Request body is larger than %d bytes.", MaxBodyBytes)}
		}
		return nil, badRequest("failed to read the request body: %v", err)
	}
	if fastjson.Quick(body, v) {
		return body, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) && typeErr.Field != "" {
			return nil, badParam(openai.CodeInvalidType, typeErr.Field, "Invalid type for '%s': expected %s, but got %s instead.",
				typeErr.Field, jsonKind(typeErr.Type), article(typeErr.Value))
		}
		return nil, badRequest("We could not parse the JSON body of your request: %v. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)", err)
	}
	if dec.More() {
		return nil, badRequest("We could not parse the JSON body of your request: trailing data after the JSON object.")
	}
	return body, nil
}

// badParam is a 400 invalid_request_error naming param, with an OpenAI error code.
func badParam(code, param, format string, args ...any) *openai.Error {
	return &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Code: code, Param: param,
		Message: fmt.Sprintf(format, args...)}
}

// badRequest is a 400 invalid_request_error about the request as a whole.
func badRequest(format string, args ...any) *openai.Error { return badParam("", "", format, args...) }

// unsupported refuses a parameter this server cannot honour.
func unsupported(param, why string) *openai.Error {
	return badParam(openai.CodeUnsupportedParameter, param, "Unsupported parameter: '%s' is not supported by this server (%s).", param, why)
}

// jsonKind names a Go type the way OpenAI's type errors name JSON types.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a valid value"
	}
	if t == reflect.TypeOf(openai.StringOrArray{}) {
		return "a string or an array of strings"
	}
	switch t.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a decimal"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Pointer:
		return jsonKind(t.Elem())
	}
	return "a valid value"
}

// article words encoding/json's value description ("string", "number 1.5", "array"…) as OpenAI does.
func article(v string) string {
	kind, _, _ := strings.Cut(v, " ")
	switch kind {
	case "array", "object":
		return "an " + kind
	case "number":
		return "a number"
	case "bool":
		return "a boolean"
	case "":
		return "another type"
	}
	return "a " + kind
}

// MaxN is the most choices one request may ask for: each choice is a full generation, so n
// multiplies the work of a request; OpenAI allows more, a single-model provider should not.
const MaxN = 8

// sampling validates the parameters chat and completions share and returns n (1 when unset).
func sampling(out *backend.Request, model string, maxTokens *int, maxParam string, temp, topP *float32, seed *uint64,
	stop openai.StringOrArray, n *int, stream bool, so *openai.StreamOptions, presence, frequency *float32, logitBias map[string]any) (int, *openai.Error) {
	if model == "" {
		return 0, badParam(openai.CodeMissingParameter, "model", "you must provide a model parameter")
	}
	out.Model = model
	if maxTokens != nil {
		if *maxTokens < 1 {
			return 0, badParam(openai.CodeIntegerBelowMin, maxParam, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", maxParam, *maxTokens)
		}
		out.MaxTokens = *maxTokens
	}
	switch {
	case temp != nil && *temp < 0:
		return 0, badParam(openai.CodeDecimalBelowMin, "temperature", "Invalid 'temperature': decimal below minimum value. Expected a value >= 0, but got %g instead.", *temp)
	case temp != nil && *temp > 2:
		return 0, badParam(openai.CodeDecimalAboveMax, "temperature", "Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got %g instead.", *temp)
	}
	if topP != nil && (*topP <= 0 || *topP > 1) {
		code := openai.CodeDecimalAboveMax
		if *topP <= 0 {
			code = openai.CodeDecimalBelowMin
		}
		return 0, badParam(code, "top_p", "Invalid 'top_p': expected a value in (0, 1], but got %g instead.", *topP)
	}
	out.Temperature, out.TopP, out.Seed = temp, topP, seed
	if len(stop) > maxStop {
		return 0, badParam(openai.CodeArrayAboveMaxLength, "stop", "Invalid 'stop': array too long. Expected an array with maximum length %d, but got an array with length %d instead.", maxStop, len(stop))
	}
	for _, s := range stop {
		if s != "" {
			out.Stop = append(out.Stop, s)
		}
	}
	count := 1
	if n != nil {
		switch {
		case *n < 1:
			return 0, badParam(openai.CodeIntegerBelowMin, "n", "Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", *n)
		case *n > MaxN:
			return 0, badParam(openai.CodeIntegerAboveMax, "n", "Invalid 'n': integer above maximum value. Expected a value <= %d (this server's limit on choices per request), but got %d instead.", MaxN, *n)
		}
		count = *n
	}
	if so != nil && !stream {
		return 0, badParam(openai.CodeInvalidValue, "stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	for _, p := range []struct {
		name string
		v    *float32
	}{{"presence_penalty", presence}, {"frequency_penalty", frequency}} {
		switch {
		case p.v == nil || *p.v == 0:
		case *p.v < -2 || *p.v > 2:
			return 0, badParam(openai.CodeInvalidValue, p.name, "Invalid '%s': expected a value between -2 and 2, but got %g instead.", p.name, *p.v)
		default:
			return 0, badParam(openai.CodeUnsupportedValue, p.name, "Unsupported value: '%s' does not support %g on this server. Only the default (0) value is supported.", p.name, *p.v)
		}
	}
	if len(logitBias) > 0 {
		return 0, unsupported("logit_bias", "the engine samples from unmodified logits")
	}
	return count, nil
}

// seedValue is the seed as the backend takes it (nil when the request has none).
func seedValue(s *openai.Seed) *uint64 {
	if s == nil {
		return nil
	}
	v := uint64(*s)
	return &v
}

// nullish is true for an absent or JSON-null raw value.
func nullish(raw json.RawMessage) bool {
	t := bytes.TrimSpace(raw)
	return len(t) == 0 || string(t) == "null"
}

// passes reports whether the backend forwards param to a server that implements it.
func (h *Handler) passes(param string) bool {
	p, ok := h.backend.(backend.Passthrough)
	return ok && p.Passes(param)
}

// passthrough takes the parameters the backend forwards out of the request body (raw, as sent),
// and the messages as sent; nil when it forwards none.
func (h *Handler) passthrough(body []byte, names ...string) (extra map[string]json.RawMessage, messages []json.RawMessage) {
	if _, ok := h.backend.(backend.Passthrough); !ok {
		return nil, nil
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(body, &doc) != nil {
		return nil, nil
	}
	for _, n := range names {
		if v, ok := doc[n]; ok && h.passes(n) && !nullish(v) {
			if extra == nil {
				extra = map[string]json.RawMessage{}
			}
			extra[n] = v
		}
	}
	_ = json.Unmarshal(doc["messages"], &messages)
	return extra, messages
}

// chatExtras refuses chat parameters that would change the answer in ways this server cannot
// serve; those the backend passes to a server that implements them (extra) are not refused.
func chatExtras(cr *openai.ChatCompletionRequest, extra map[string]json.RawMessage) *openai.Error {
	_, passLogprobs := extra["logprobs"]
	if cr.Logprobs != nil && *cr.Logprobs && !passLogprobs {
		return unsupported("logprobs", "log probabilities are not returned")
	}
	if _, ok := extra["top_logprobs"]; cr.TopLogprobs != nil && *cr.TopLogprobs != 0 && !ok {
		return unsupported("top_logprobs", "log probabilities are not returned")
	}
	if _, ok := extra["tools"]; !ok {
		if t := bytes.TrimSpace(cr.Tools); !nullish(t) && string(t) != "[]" {
			return unsupported("tools", "the models it serves do not call tools")
		}
	}
	if _, ok := extra["tool_choice"]; !ok {
		if t := bytes.TrimSpace(cr.ToolChoice); !nullish(t) && string(t) != `"none"` {
			return unsupported("tool_choice", "the models it serves do not call tools")
		}
	}
	if t := bytes.TrimSpace(cr.Functions); !nullish(t) && string(t) != "[]" {
		return unsupported("functions", "the models it serves do not call functions")
	}
	if t := bytes.TrimSpace(cr.FunctionCall); !nullish(t) && string(t) != `"none"` {
		return unsupported("function_call", "the models it serves do not call functions")
	}
	if _, ok := extra["response_format"]; cr.ResponseFormat != nil && cr.ResponseFormat.Type != "text" && !ok {
		return badParam(openai.CodeUnsupportedValue, "response_format.type",
			"Unsupported value: 'response_format.type' does not support %q on this server. Only \"text\" is supported.", cr.ResponseFormat.Type)
	}
	for _, m := range cr.Modalities {
		if m != "text" {
			return badParam(openai.CodeUnsupportedValue, "modalities", "Unsupported value: 'modalities' does not support %q on this server. Only \"text\" is supported.", m)
		}
	}
	for _, p := range []struct {
		name string
		raw  json.RawMessage
		why  string
	}{
		{"audio", cr.Audio, "it returns text only"},
		{"prediction", cr.Prediction, "predicted outputs are not used"},
		{"reasoning_effort", cr.ReasoningEffort, "the models it serves are not reasoning models"},
		{"web_search_options", cr.WebSearchOptions, "it has no web search"},
	} {
		if !nullish(p.raw) {
			return unsupported(p.name, p.why)
		}
	}
	return nil
}

// completionExtras refuses legacy-completion parameters this server cannot serve (logprobs only
// when the backend does not pass it on: extra).
func completionExtras(cr *openai.CompletionRequest, extra map[string]json.RawMessage) *openai.Error {
	_, passLogprobs := extra["logprobs"]
	switch {
	case cr.Echo:
		return unsupported("echo", "the prompt is not echoed")
	case cr.Logprobs != nil && !passLogprobs:
		return unsupported("logprobs", "log probabilities are not returned")
	case cr.BestOf != nil && *cr.BestOf != 1:
		return unsupported("best_of", "use n for several completions")
	case cr.Suffix != nil && *cr.Suffix != "":
		return unsupported("suffix", "the models it serves do not insert text")
	}
	return nil
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	var cr openai.ChatCompletionRequest
	body, e := decodeBody(w, r, &cr)
	if e != nil {
		openai.WriteError(w, e)
		return
	}
	// The body is parsed a second time only when something may pass through as sent.
	var extra map[string]json.RawMessage
	var rawMessages []json.RawMessage
	toolMessages := false
	for _, m := range cr.Messages {
		toolMessages = toolMessages || len(m.ToolCalls) > 0 || m.ToolCallID != ""
	}
	if toolMessages || cr.Tools != nil || cr.ToolChoice != nil || cr.ParallelToolCalls != nil || cr.ResponseFormat != nil ||
		cr.Logprobs != nil || cr.TopLogprobs != nil {
		extra, rawMessages = h.passthrough(body, "tools", "tool_choice", "parallel_tool_calls", "response_format", "logprobs", "top_logprobs")
	}
	req := backend.Request{Chat: true, Extra: extra}
	maxTokens, maxParam := cr.MaxTokens, "max_tokens"
	if cr.MaxCompletionTokens != nil {
		maxTokens, maxParam = cr.MaxCompletionTokens, "max_completion_tokens"
	}
	n, e := sampling(&req, cr.Model, maxTokens, maxParam, cr.Temperature, cr.TopP, seedValue(cr.Seed), cr.Stop, cr.N, cr.Stream, cr.StreamOptions,
		cr.PresencePenalty, cr.FrequencyPenalty, cr.LogitBias)
	if e != nil {
		openai.WriteError(w, e)
		return
	}
	if e := chatExtras(&cr, extra); e != nil {
		openai.WriteError(w, e)
		return
	}
	switch {
	case cr.Messages == nil:
		openai.WriteError(w, badParam(openai.CodeMissingParameter, "messages", "Missing required parameter: 'messages'."))
		return
	case len(cr.Messages) == 0:
		openai.WriteError(w, badParam(openai.CodeEmptyArray, "messages", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead."))
		return
	}
	for i, m := range cr.Messages {
		text, err := m.Text()
		if err != nil {
			openai.WriteError(w, badParam(openai.CodeInvalidValue, fmt.Sprintf("messages[%d].content", i), "Invalid 'messages[%d].content': %v.", i, err))
			return
		}
		msg := backend.Message{Role: m.Role, Content: text}
		if i < len(rawMessages) && (len(m.ToolCalls) > 0 || m.ToolCallID != "") {
			msg.Raw = rawMessages[i]
		} else if len(m.ToolCalls) > 0 || m.ToolCallID != "" {
			field := "tool_calls"
			if m.ToolCallID != "" {
				field = "tool_call_id"
			}
			openai.WriteError(w, unsupported(fmt.Sprintf("messages[%d].%s", i, field), "the models it serves do not call tools"))
			return
		}
		req.Messages = append(req.Messages, msg)
	}
	h.metered(w, r, Call{Request: req, N: n, Stream: cr.Stream}, func(mt Metered, t *tally) (total backend.Result, err error) {
		head := h.responseHead("chatcmpl-", "chat.completion", req.Model)
		if !cr.Stream {
			texts := make([]strings.Builder, n)
			parts := make([]wholeParts, n)
			choices := make([]openai.ChatChoice, n)
			req.Whole = true
			total, err = h.generate(r, req, n, t, func(i int, d string) error { texts[i].WriteString(d); return nil },
				func(i int, res backend.Result) error {
					choices[i] = openai.ChatChoice{Index: i, Message: openai.ResponseMessage{Role: "assistant", Content: texts[i].String(),
						ToolCalls: parts[i].toolCalls()}, Logprobs: parts[i].logprobs(), FinishReason: res.FinishReason}
					return nil
				}, func(i int, p backend.Parts) error { parts[i].add(p); return nil })
			if err != nil {
				openai.WriteError(w, APIError(err))
				return
			}
			resp := openai.ChatCompletion{ResponseHead: head, Choices: choices, Usage: usage(total.Usage)}
			var body []byte
			if body, err = pay(w, mt, &resp, total.Usage, &resp.Usage); err != nil {
				openai.WriteError(w, APIError(err))
				return
			}
			writeAnswer(w, body, resp)
			return
		}
		head.Object = "chat.completion.chunk"
		chunk := func(i int, d openai.Delta, finish *string) openai.ChatCompletionChunk {
			return openai.ChatCompletionChunk{ResponseHead: head, Choices: []openai.ChunkChoice{{Index: i, Delta: d, FinishReason: finish}}}
		}
		s := openai.NewStream(w)
		empty := ""
		// Each choice opens with the role chunk, sent with its first text (or at its end when it has none),
		// so a request that fails before any text still gets a plain JSON error.
		opened := make([]bool, n)
		open := func(i int) error {
			if opened[i] {
				return nil
			}
			opened[i] = true
			return emit(s, mt, t, chunk(i, openai.Delta{Role: "assistant", Content: &empty}, nil))
		}
		total, err = h.generate(r, req, n, t, func(i int, d string) error {
			if err := open(i); err != nil {
				return err
			}
			return emit(s, mt, t, chunk(i, openai.Delta{Content: &d}, nil))
		}, func(i int, res backend.Result) error {
			if err := open(i); err != nil {
				return err
			}
			finish := res.FinishReason
			return emit(s, mt, t, chunk(i, openai.Delta{}, &finish))
		}, func(i int, p backend.Parts) error {
			if err := open(i); err != nil {
				return err
			}
			c := chunk(i, openai.Delta{ToolCalls: p.ToolCalls}, nil)
			c.Choices[0].Logprobs = p.Logprobs
			return emit(s, mt, t, c)
		})
		err = endStream(s, mt, total.Usage, err, cr.StreamOptions, func(u *openai.Usage) any {
			return openai.ChatCompletionChunk{ResponseHead: head, Choices: []openai.ChunkChoice{}, Usage: u}
		})
		return
	})
}

// responseHead starts a response: a fresh id with the given prefix, the time, the model as requested.
func (h *Handler) responseHead(idPrefix, object, model string) openai.ResponseHead {
	return openai.ResponseHead{ID: idPrefix + randomID(), Object: object, Created: h.now().Unix(), Model: model, SystemFingerprint: h.fingerprint}
}

func (h *Handler) completion(w http.ResponseWriter, r *http.Request) {
	var cr openai.CompletionRequest
	body, e := decodeBody(w, r, &cr)
	if e != nil {
		openai.WriteError(w, e)
		return
	}
	var extra map[string]json.RawMessage
	if cr.Logprobs != nil {
		extra, _ = h.passthrough(body, "logprobs")
	}
	req := backend.Request{Extra: extra}
	n, e := sampling(&req, cr.Model, cr.MaxTokens, "max_tokens", cr.Temperature, cr.TopP, seedValue(cr.Seed), cr.Stop, cr.N, cr.Stream, cr.StreamOptions,
		cr.PresencePenalty, cr.FrequencyPenalty, cr.LogitBias)
	if e != nil {
		openai.WriteError(w, e)
		return
	}
	if e := completionExtras(&cr, extra); e != nil {
		openai.WriteError(w, e)
		return
	}
	switch {
	case cr.Prompt == nil:
		openai.WriteError(w, badParam(openai.CodeMissingParameter, "prompt", "Missing required parameter: 'prompt'."))
		return
	case len(cr.Prompt) == 1:
		req.Prompt = cr.Prompt[0]
	case len(cr.Prompt) == 0:
		openai.WriteError(w, badParam(openai.CodeEmptyArray, "prompt", "Invalid 'prompt': empty array. Expected a string or an array with exactly one string."))
		return
	default:
		openai.WriteError(w, badParam(openai.CodeUnsupportedValue, "prompt", "Invalid 'prompt': only one prompt per request is supported, got %d.", len(cr.Prompt)))
		return
	}
	h.metered(w, r, Call{Request: req, N: n, Stream: cr.Stream}, func(mt Metered, t *tally) (total backend.Result, err error) {
		head := h.responseHead("cmpl-", "text_completion", req.Model)
		if !cr.Stream {
			texts := make([]strings.Builder, n)
			parts := make([]wholeParts, n)
			choices := make([]openai.CompletionChoice, n)
			req.Whole = true
			total, err = h.generate(r, req, n, t, func(i int, d string) error { texts[i].WriteString(d); return nil },
				func(i int, res backend.Result) error {
					finish := res.FinishReason
					choices[i] = openai.CompletionChoice{Text: texts[i].String(), Index: i, Logprobs: parts[i].logprobs(), FinishReason: &finish}
					return nil
				}, func(i int, p backend.Parts) error { parts[i].add(p); return nil })
			if err != nil {
				openai.WriteError(w, APIError(err))
				return
			}
			u := usage(total.Usage)
			resp := openai.Completion{ResponseHead: head, Choices: choices, Usage: &u}
			var body []byte
			if body, err = pay(w, mt, &resp, total.Usage, &u); err != nil {
				openai.WriteError(w, APIError(err))
				return
			}
			writeAnswer(w, body, resp)
			return
		}
		chunk := func(i int, text string, finish *string) openai.Completion {
			return openai.Completion{ResponseHead: head, Choices: []openai.CompletionChoice{{Text: text, Index: i, FinishReason: finish}}}
		}
		s := openai.NewStream(w)
		total, err = h.generate(r, req, n, t, func(i int, d string) error { return emit(s, mt, t, chunk(i, d, nil)) },
			func(i int, res backend.Result) error {
				finish := res.FinishReason
				return emit(s, mt, t, chunk(i, "", &finish))
			}, func(i int, p backend.Parts) error {
				c := chunk(i, "", nil)
				c.Choices[0].Logprobs = p.Logprobs
				return emit(s, mt, t, c)
			})
		err = endStream(s, mt, total.Usage, err, cr.StreamOptions, func(u *openai.Usage) any {
			return openai.Completion{ResponseHead: head, Choices: []openai.CompletionChoice{}, Usage: u}
		})
		return
	})
}

// SampleSeed is the seed choice i of a request with seed runs with: choice 0 uses the request's
// seed itself (so n=1 and choice 0 of n>1 agree), later choices a splitmix64 mix of seed and i, so
// every choice is reproducible and the choices differ. A nil seed stays nil (the backend then
// picks a fresh random seed for each choice).
func SampleSeed(seed *uint64, i int) *uint64 {
	if seed == nil || i == 0 {
		return seed
	}
	z := *seed + uint64(i)*0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	z ^= z >> 31
	return &z
}

// generate runs n independent generations of req one after the other, choice i with
// SampleSeed(req.Seed, i): onText gets choice i's text, onEnd its result once it finished. The
// returned usage is OpenAI's for n choices: the prompt counted once, the completion tokens of
// every choice summed. The result hook is called once, with that usage (also on failure: the
// choices that ran are billed).
func (h *Handler) generate(r *http.Request, req backend.Request, n int, t *tally, onText func(i int, d string) error,
	onEnd func(i int, res backend.Result) error, onParts func(i int, p backend.Parts) error) (backend.Result, error) {
	var total backend.Result
	var err error
	for i := 0; i < n && err == nil; i++ {
		one := req
		one.Seed = SampleSeed(req.Seed, i)
		one.Progress = t.progress
		// Tool-call and log-probability pieces do not count as delivered tokens without the
		// backend's progress (they may come with the text they belong to): never overcounted.
		one.OnParts = func(p backend.Parts) error { return onParts(i, p) }
		var res backend.Result
		res, err = h.backend.Generate(r.Context(), one, func(d string) error { t.pieces++; return onText(i, d) })
		if total.Usage.PromptTokens == 0 {
			total.Usage.PromptTokens = res.Usage.PromptTokens
		}
		total.Usage.CompletionTokens += res.Usage.CompletionTokens
		total.FinishReason = res.FinishReason
		if err == nil {
			t.next(res)
			err = onEnd(i, res)
		}
	}
	if err != nil {
		total.FinishReason = ""
	}
	if h.hook != nil {
		h.hook(r, req, total, err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		h.log.Debug("inference failed", "model", req.Model, "n", n, "err", err,
			"prompt_tokens", total.Usage.PromptTokens, "completion_tokens", total.Usage.CompletionTokens)
	}
	return total, err
}

// metered runs serve between the meter's Begin and End: End gets the usage and error serve
// returns. A request Begin refuses is answered with its error and serve does not run.
func (h *Handler) metered(w http.ResponseWriter, r *http.Request, c Call, serve func(mt Metered, t *tally) (backend.Result, error)) {
	mt, e := h.begin(w, r, c)
	if e != nil {
		openai.WriteError(w, e)
		return
	}
	total, err := serve(mt, &tally{})
	mt.End(total.Usage, err)
}

// begin asks the meter (if any) to admit c; without a meter the request is free (noMeter).
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, c Call) (Metered, *openai.Error) {
	if h.meter == nil {
		return noMeter{}, nil
	}
	mt, e := h.meter.Begin(w, r, c)
	if e != nil {
		return nil, e
	}
	return mt, nil
}

// noMeter is the Metered of a free request: nothing is told, no payment.
type noMeter struct{}

func (noMeter) Deliver([]byte, backend.Usage) error { return nil }
func (noMeter) Finish(backend.Usage) (*openai.Payment, http.Header, error) {
	return nil, nil, nil
}
func (noMeter) End(backend.Usage, error) {}

// emit sends one stream event, told to the meter before it is written.
func emit(s *openai.Stream, mt Metered, t *tally, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode stream event: %w", err)
	}
	if err := mt.Deliver(b, t.usage()); err != nil {
		return err
	}
	return s.Data(b)
}

// pay tells the meter the whole non-streamed answer resp (a pointer), then puts the payment in its
// usage u and its headers on w. It returns the answer to write, payment included (nil: a free
// answer, which the caller encodes).
func pay(w http.ResponseWriter, mt Metered, resp any, total backend.Usage, u *openai.Usage) ([]byte, error) {
	if _, free := mt.(noMeter); free {
		return nil, nil
	}
	b, err := json.Marshal(resp)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the answer: %w", err)
	}
	if err := mt.Deliver(b, total); err != nil {
		return nil, err
	}
	p, hdr, err := mt.Finish(total)
	if err != nil {
		return nil, err
	}
	u.Cocoon = p
	for k, vs := range hdr {
		w.Header()[k] = vs
	}
	return withPayment(b, resp, p)
}

// withPayment is answer, the JSON of resp delivered without a payment, with p added as
// usage.cocoon: json.Marshal(resp) once p is set, without encoding the answer a second time. usage
// is the answer's last field and cocoon its usage's last, so p goes before the last two braces.
func withPayment(answer []byte, resp any, p *openai.Payment) ([]byte, error) {
	if p == nil || !bytes.HasSuffix(answer, []byte(`}}`)) || bytes.HasSuffix(answer, []byte(`{}}`)) {
		return json.Marshal(resp)
	}
	pj, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("failed to encode the payment: %w", err)
	}
	out := make([]byte, 0, len(answer)+len(pj)+16)
	out = append(out, answer[:len(answer)-2]...)
	out = append(out, `,"cocoon":`...)
	out = append(out, pj...)
	return append(out, "}}"...), nil
}

// writeAnswer writes a non-streamed answer: body when pay gave one, else resp encoded.
func writeAnswer(w http.ResponseWriter, body []byte, resp any) {
	if body == nil {
		openai.WriteJSON(w, http.StatusOK, resp)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(append(body, '\n'))
}

// endStream ends a stream after its generation ended with err: a failure as an error event; else
// the usage chunk (usageChunk's: always in a paid stream, where it carries the payment, else only
// when asked for with include_usage) and [DONE]. It returns what ended the request (nil: complete).
func endStream(s *openai.Stream, mt Metered, total backend.Usage, err error, so *openai.StreamOptions, usageChunk func(*openai.Usage) any) error {
	if err == nil {
		var u *openai.Usage
		var want bool
		if u, want, err = streamUsage(mt, total, so); err == nil && want {
			if err := s.Event(usageChunk(u)); err != nil {
				return err // the client is gone: nothing more to write
			}
		}
	}
	if err != nil {
		s.Fail(APIError(err))
		return err
	}
	s.Done()
	return nil
}

// streamUsage is the usage chunk a stream ends with: always for a paid stream (it carries the
// payment), else only when asked for with include_usage.
func streamUsage(mt Metered, total backend.Usage, so *openai.StreamOptions) (*openai.Usage, bool, error) {
	u := usage(total)
	if _, free := mt.(noMeter); free {
		return &u, so != nil && so.IncludeUsage, nil
	}
	p, _, err := mt.Finish(total)
	if err != nil {
		return nil, false, err
	}
	u.Cocoon = p
	return &u, true, nil
}

func usage(u backend.Usage) openai.Usage {
	return openai.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total()}
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// requestID is "req_" and 32 random hex digits, like OpenAI's x-request-id.
func requestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// randomID is 24 random alphanumerics, like OpenAI's response ids.
func randomID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}
