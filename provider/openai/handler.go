package openai

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/provider/backend"
)

// MaxBodyBytes bounds a request body; larger bodies get 413.
const MaxBodyBytes = 4 << 20

// maxStop is OpenAI's limit on stop sequences.
const maxStop = 4

// ResultHook is called once per inference request after the backend finished (or failed), with
// the usage the backend reported: the provider daemon bills res.Usage, also when err is non-nil (a
// client that left mid-stream still used what the backend reports).
type ResultHook func(r *http.Request, req backend.Request, res backend.Result, err error)

// Handler serves the OpenAI-compatible API from one backend. It is an http.Handler.
type Handler struct {
	backend backend.Backend
	now     func() time.Time
	log     *slog.Logger
	hook    ResultHook
}

// Option configures a Handler.
type Option func(*Handler)

// WithClock sets the clock used for "created" fields (tests).
func WithClock(now func() time.Time) Option { return func(h *Handler) { h.now = now } }

// WithLogger sets the logger (default: slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(h *Handler) { h.log = l } }

// WithResultHook sets a hook called after each inference request.
func WithResultHook(f ResultHook) Option { return func(h *Handler) { h.hook = f } }

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
		writeError(w, &backend.Error{Status: http.StatusNotFound, Type: backend.TypeInvalidRequest, Code: "unknown_url",
			Message: fmt.Sprintf("Unknown request URL: %s %s.", r.Method, r.URL.Path)})
		return
	}
	if r.Method != want {
		w.Header().Set("Allow", want)
		writeError(w, &backend.Error{Status: http.StatusMethodNotAllowed, Type: backend.TypeInvalidRequest, Code: "method_not_allowed",
			Message: fmt.Sprintf("Method %s is not allowed for %s; use %s.", r.Method, r.URL.Path, want)})
		return
	}
	serve(w, r)
}

func (h *Handler) listModels(w http.ResponseWriter, r *http.Request) {
	ms, err := h.backend.Models(r.Context())
	if err != nil {
		writeError(w, backend.AsError(fmt.Errorf("failed to list models: %w", err)))
		return
	}
	list := ModelList{Object: "list", Data: make([]ModelObject, 0, len(ms))}
	for _, m := range ms {
		list.Data = append(list.Data, h.modelObject(m))
	}
	writeJSON(w, http.StatusOK, list)
}

func (h *Handler) getModel(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/v1/models/")
	ms, err := h.backend.Models(r.Context())
	if err != nil {
		writeError(w, backend.AsError(fmt.Errorf("failed to list models: %w", err)))
		return
	}
	for _, m := range ms {
		if m.ID == id {
			writeJSON(w, http.StatusOK, h.modelObject(m))
			return
		}
	}
	writeError(w, backend.UnknownModel(id))
}

func (h *Handler) modelObject(m backend.Model) ModelObject {
	return ModelObject{ID: m.ID, Object: "model", Created: 0, OwnedBy: m.OwnedBy}
}

// decodeBody reads one JSON object into v, with OpenAI's wording for unparsable bodies.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) *backend.Error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return &backend.Error{Status: http.StatusRequestEntityTooLarge, Type: backend.TypeInvalidRequest,
				Message: fmt.Sprintf("Request body is larger than %d bytes.", MaxBodyBytes), Err: backend.ErrInvalidRequest}
		}
		return backend.InvalidRequest("", "failed to read the request body: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	if err := dec.Decode(v); err != nil {
		return backend.InvalidRequest("", "We could not parse the JSON body of your request: %v. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)", err)
	}
	if dec.More() {
		return backend.InvalidRequest("", "We could not parse the JSON body of your request: trailing data after the JSON object.")
	}
	return nil
}

// sampling validates the parameters chat and completions share.
func sampling(out *backend.Request, model string, maxTokens *int, maxParam string, temp, topP *float32, seed *uint64,
	stop StringOrArray, n *int, stream bool, so *StreamOptions) *backend.Error {
	if model == "" {
		return backend.InvalidRequest("model", "you must provide a model parameter")
	}
	out.Model = model
	if maxTokens != nil {
		if *maxTokens < 1 {
			return backend.InvalidRequest(maxParam, "Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", maxParam, *maxTokens)
		}
		out.MaxTokens = *maxTokens
	}
	if temp != nil && (*temp < 0 || *temp > 2) {
		return backend.InvalidRequest("temperature", "Invalid 'temperature': expected a value between 0 and 2, but got %g instead.", *temp)
	}
	if topP != nil && (*topP <= 0 || *topP > 1) {
		return backend.InvalidRequest("top_p", "Invalid 'top_p': expected a value in (0, 1], but got %g instead.", *topP)
	}
	out.Temperature, out.TopP, out.Seed = temp, topP, seed
	if len(stop) > maxStop {
		return backend.InvalidRequest("stop", "Invalid 'stop': expected an array of at most %d strings, but got %d.", maxStop, len(stop))
	}
	for _, s := range stop {
		if s != "" {
			out.Stop = append(out.Stop, s)
		}
	}
	if n != nil && *n != 1 {
		return backend.InvalidRequest("n", "Invalid 'n': only n=1 is supported, got %d.", *n)
	}
	if so != nil && !stream {
		return backend.InvalidRequest("stream_options", "The 'stream_options' parameter is only allowed when 'stream' is enabled.")
	}
	return nil
}

func (h *Handler) chat(w http.ResponseWriter, r *http.Request) {
	var cr ChatCompletionRequest
	if e := decodeBody(w, r, &cr); e != nil {
		writeError(w, e)
		return
	}
	req := backend.Request{Chat: true}
	maxTokens, maxParam := cr.MaxTokens, "max_tokens"
	if cr.MaxCompletionTokens != nil {
		maxTokens, maxParam = cr.MaxCompletionTokens, "max_completion_tokens"
	}
	if e := sampling(&req, cr.Model, maxTokens, maxParam, cr.Temperature, cr.TopP, cr.Seed, cr.Stop, cr.N, cr.Stream, cr.StreamOptions); e != nil {
		writeError(w, e)
		return
	}
	if len(cr.Messages) == 0 {
		writeError(w, backend.InvalidRequest("messages", "Invalid 'messages': empty array. Expected an array with minimum length 1."))
		return
	}
	for i, m := range cr.Messages {
		text, err := m.Text()
		if err != nil {
			writeError(w, backend.InvalidRequest(fmt.Sprintf("messages[%d].content", i), "Invalid 'messages[%d].content': %v.", i, err))
			return
		}
		req.Messages = append(req.Messages, backend.Message{Role: m.Role, Content: text})
	}
	id := "chatcmpl-" + randomID()
	created := h.now().Unix()
	if !cr.Stream {
		var text strings.Builder
		res, err := h.generate(r, req, func(d string) error { text.WriteString(d); return nil })
		if err != nil {
			writeError(w, backend.AsError(err))
			return
		}
		writeJSON(w, http.StatusOK, ChatCompletion{ID: id, Object: "chat.completion", Created: created, Model: req.Model,
			Choices: []ChatChoice{{Index: 0, Message: ResponseMessage{Role: "assistant", Content: text.String()}, FinishReason: res.FinishReason}},
			Usage:   usage(res.Usage)})
		return
	}
	chunk := func(d Delta, finish *string) ChatCompletionChunk {
		return ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []ChunkChoice{{Index: 0, Delta: d, FinishReason: finish}}}
	}
	s := newStream(w)
	empty := ""
	first := func() error { return s.event(chunk(Delta{Role: "assistant", Content: &empty}, nil)) }
	res, err := h.generate(r, req, func(d string) error {
		if !s.started {
			if err := first(); err != nil {
				return err
			}
		}
		return s.event(chunk(Delta{Content: &d}, nil))
	})
	if err != nil {
		s.fail(backend.AsError(err))
		return
	}
	if !s.started && first() != nil {
		return
	}
	finish := res.FinishReason
	if s.event(chunk(Delta{}, &finish)) != nil {
		return
	}
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		u := usage(res.Usage)
		if s.event(ChatCompletionChunk{ID: id, Object: "chat.completion.chunk", Created: created, Model: req.Model,
			Choices: []ChunkChoice{}, Usage: &u}) != nil {
			return
		}
	}
	s.done()
}

func (h *Handler) completion(w http.ResponseWriter, r *http.Request) {
	var cr CompletionRequest
	if e := decodeBody(w, r, &cr); e != nil {
		writeError(w, e)
		return
	}
	req := backend.Request{}
	if e := sampling(&req, cr.Model, cr.MaxTokens, "max_tokens", cr.Temperature, cr.TopP, cr.Seed, cr.Stop, cr.N, cr.Stream, cr.StreamOptions); e != nil {
		writeError(w, e)
		return
	}
	switch len(cr.Prompt) {
	case 0:
		writeError(w, backend.InvalidRequest("prompt", "you must provide a prompt parameter"))
		return
	case 1:
		req.Prompt = cr.Prompt[0]
	default:
		writeError(w, backend.InvalidRequest("prompt", "Invalid 'prompt': only one prompt per request is supported, got %d.", len(cr.Prompt)))
		return
	}
	if cr.Echo {
		writeError(w, backend.InvalidRequest("echo", "Invalid 'echo': echo is not supported."))
		return
	}
	id := "cmpl-" + randomID()
	created := h.now().Unix()
	if !cr.Stream {
		var text strings.Builder
		res, err := h.generate(r, req, func(d string) error { text.WriteString(d); return nil })
		if err != nil {
			writeError(w, backend.AsError(err))
			return
		}
		u := usage(res.Usage)
		finish := res.FinishReason
		writeJSON(w, http.StatusOK, Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []CompletionChoice{{Text: text.String(), Index: 0, FinishReason: &finish}}, Usage: &u})
		return
	}
	chunk := func(text string, finish *string) Completion {
		return Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []CompletionChoice{{Text: text, Index: 0, FinishReason: finish}}}
	}
	s := newStream(w)
	res, err := h.generate(r, req, func(d string) error { return s.event(chunk(d, nil)) })
	if err != nil {
		s.fail(backend.AsError(err))
		return
	}
	finish := res.FinishReason
	if s.event(chunk("", &finish)) != nil {
		return
	}
	if cr.StreamOptions != nil && cr.StreamOptions.IncludeUsage {
		u := usage(res.Usage)
		if s.event(Completion{ID: id, Object: "text_completion", Created: created, Model: req.Model,
			Choices: []CompletionChoice{}, Usage: &u}) != nil {
			return
		}
	}
	s.done()
}

func (h *Handler) generate(r *http.Request, req backend.Request, onText func(string) error) (backend.Result, error) {
	res, err := h.backend.Generate(r.Context(), req, onText)
	if h.hook != nil {
		h.hook(r, req, res, err)
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		h.log.Debug("inference failed", "model", req.Model, "err", err,
			"prompt_tokens", res.Usage.PromptTokens, "completion_tokens", res.Usage.CompletionTokens)
	}
	return res, err
}

func usage(u backend.Usage) Usage {
	return Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, TotalTokens: u.Total()}
}

// stream writes Server-Sent Events. Headers go out with the first event, so a request that fails
// before producing anything still gets a plain JSON error with its HTTP status.
type stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func newStream(w http.ResponseWriter) *stream {
	return &stream{w: w, rc: http.NewResponseController(w)}
}

func (s *stream) start() {
	if s.started {
		return
	}
	s.started = true
	h := s.w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	s.w.WriteHeader(http.StatusOK)
}

func (s *stream) event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode stream event: %w", err)
	}
	return s.raw(b)
}

func (s *stream) raw(b []byte) error {
	s.start()
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return fmt.Errorf("failed to write stream event: %w", err)
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("failed to flush stream event: %w", err)
	}
	return nil
}

// fail reports err: as a JSON error response if nothing was sent yet, else as a final error event
// (no [DONE], so clients see the stream did not complete).
func (s *stream) fail(e *backend.Error) {
	if !s.started {
		writeError(s.w, e)
		return
	}
	b, err := json.Marshal(errorBody(e))
	if err == nil {
		_ = s.raw(b)
	}
}

func (s *stream) done() { _ = s.raw([]byte("[DONE]")) }

func errorBody(e *backend.Error) ErrorBody {
	d := ErrorDetail{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		p := e.Param
		d.Param = &p
	}
	if e.Code != "" {
		c := e.Code
		d.Code = &c
	}
	if d.Type == "" {
		d.Type = backend.TypeServer
	}
	return ErrorBody{Error: d}
}

func writeError(w http.ResponseWriter, e *backend.Error) {
	status := e.Status
	if status == 0 {
		status = http.StatusInternalServerError
	}
	writeJSON(w, status, errorBody(e))
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"failed to encode response","type":"server_error","param":null,"code":null}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

const idAlphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// randomID is 24 random alphanumerics, like OpenAI's response ids.
func randomID() string {
	var b [24]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = idAlphabet[int(b[i])%len(idAlphabet)]
	}
	return string(b[:])
}
