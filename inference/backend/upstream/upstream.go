// Package upstream is the backend that forwards inference to an OpenAI-compatible server (vLLM,
// SGLang, llama.cpp server, Ollama, TGI) running next to the provider inside the confidential VM.
//
// A streamed request goes upstream as a stream with stream_options.include_usage and
// continuous_usage_stats, so text reaches the client as it is produced and the usage the provider
// bills is the upstream's own count, chunk by chunk where the server reports it (vLLM, SGLang). A
// request the caller delivers whole (Request.Whole) goes upstream unstreamed and is billed from the
// answer's usage. Nothing is billed that the upstream did not report: a request that fails before
// the upstream answered, or a stream that breaks before any usage, has zero usage. When the client
// goes away mid-stream, an upstream that reports usage per chunk is cancelled at once (the usage of
// what was delivered is known); one that does not is read to its end (for at most DrainTimeout)
// without forwarding, for the prompt tokens only its final usage tells.
package upstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/internal/busypoll"
	"github.com/cocoon-go/cocoon/internal/fastjson"
	"github.com/cocoon-go/cocoon/internal/h1transport"
	"github.com/cocoon-go/cocoon/openai"
)

// Config describes the upstream server.
type Config struct {
	// BaseURL is the upstream's OpenAI API root, e.g. "http://127.0.0.1:8000/v1".
	BaseURL string
	// APIKey is sent as "Authorization: Bearer"; empty sends none.
	APIKey string
	// Models maps each model's registry name (what clients request) to the upstream's name for it.
	Models map[string]string
	// HeaderTimeout bounds the wait for the upstream's response headers; 0 means 2 minutes.
	HeaderTimeout time.Duration
	// DrainTimeout bounds how long a stream whose client went away is still read for its usage;
	// 0 means 30 seconds, negative means the upstream request is cancelled at once (and not billed).
	// An upstream that reports usage with every chunk (continuous_usage_stats) is never drained:
	// the usage of what was delivered is known, and the request is cancelled at once.
	DrainTimeout time.Duration
	// NoContinuousUsage leaves stream_options.continuous_usage_stats out of upstream requests (for a
	// server that refuses the field). By default it is asked for; vLLM and SGLang then report the
	// usage so far with every chunk, and servers that do not know it ignore it.
	NoContinuousUsage bool
	// Poll, for an http:// upstream, polls for each answer's head (internal/busypoll); nil parks
	// at once.
	Poll *busypoll.Poller
	// Client overrides the pooled HTTP client (tests). By default an http:// upstream is reached
	// through internal/h1transport, an https:// one through net/http's Transport.
	Client *http.Client
}

// Check validates the configuration.
func (c Config) Check() error {
	u, err := url.Parse(c.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%w: upstream base URL %q is not an http(s) URL", backend.ErrConfig, c.BaseURL)
	}
	if len(c.Models) == 0 {
		return fmt.Errorf("%w: upstream backend maps no models", backend.ErrConfig)
	}
	for name, upName := range c.Models {
		if name == "" || upName == "" {
			return fmt.Errorf("%w: upstream model mapping %q -> %q has an empty side", backend.ErrConfig, name, upName)
		}
	}
	if c.HeaderTimeout < 0 {
		return fmt.Errorf("%w: upstream header timeout %v is negative", backend.ErrConfig, c.HeaderTimeout)
	}
	return nil
}

// Backend forwards requests to one upstream server.
type Backend struct {
	continuous bool // ask for continuous_usage_stats
	base       string
	key        string
	models     map[string]string
	client     *http.Client
	drain      time.Duration // < 0: no draining
}

var (
	_ backend.Backend     = (*Backend)(nil)
	_ backend.Passthrough = (*Backend)(nil)
)

// passed are the parameters the upstream servers we support implement and the backend forwards.
var passed = map[string]bool{"tools": true, "tool_choice": true, "parallel_tool_calls": true,
	"response_format": true, "logprobs": true, "top_logprobs": true}

// Passes reports whether the backend forwards param to the upstream (backend.Passthrough): tools
// and tool_choice (with tool messages), response_format (JSON schema), logprobs and top_logprobs.
func (b *Backend) Passes(param string) bool { return passed[param] }

// maxErrorBody bounds how much of an upstream error body is read.
const maxErrorBody = 64 << 10

// maxLine bounds one SSE line from the upstream.
const maxLine = 4 << 20

// New builds the backend; it does not contact the upstream (see Health).
func New(cfg Config) (*Backend, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	client := cfg.Client
	if client == nil {
		ht := cfg.HeaderTimeout
		if ht == 0 {
			ht = 2 * time.Minute
		}
		// No overall timeout: a stream lasts as long as generation; requests end with their ctx.
		if u, _ := url.Parse(cfg.BaseURL); u.Scheme == "http" {
			// The usual case, a server on the VM's loopback: an HTTP/1.1 transport that does its
			// I/O in the request's goroutine (docs/DECISIONS.md, "The upstream hop uses a
			// hand-rolled HTTP/1.1 transport"). Its idle timeout (4 s) stays below uvicorn's
			// keep-alive timeout (5 s), the server of vLLM and SGLang.
			client = &http.Client{Transport: &h1transport.Transport{ResponseHeaderTimeout: ht, Poll: cfg.Poll}}
		} else {
			client = &http.Client{Transport: &http.Transport{
				Proxy:                 nil, // the upstream is local to the VM; never route it via a proxy
				DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
				MaxIdleConns:          256,
				MaxIdleConnsPerHost:   256,
				IdleConnTimeout:       90 * time.Second,
				ResponseHeaderTimeout: ht,
				ForceAttemptHTTP2:     true,
			}}
		}
	}
	models := make(map[string]string, len(cfg.Models))
	for k, v := range cfg.Models {
		models[k] = v
	}
	drain := cfg.DrainTimeout
	if drain == 0 {
		drain = 30 * time.Second
	}
	return &Backend{continuous: !cfg.NoContinuousUsage, base: strings.TrimRight(cfg.BaseURL, "/"), key: cfg.APIKey, models: models, client: client, drain: drain}, nil
}

// Models lists the mapped registry names; WeightsSHA256 stays empty (the upstream does not say).
func (b *Backend) Models(context.Context) ([]backend.Model, error) {
	out := make([]backend.Model, 0, len(b.models))
	for name := range b.models {
		out = append(out, backend.Model{Name: name, OwnedBy: "cocoon"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Health checks that the upstream answers GET /models and lists every mapped model.
func (b *Backend) Health(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.base+"/models", nil)
	if err != nil {
		return fmt.Errorf("failed to build upstream health request: %w", err)
	}
	b.auth(req)
	resp, err := b.client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: upstream health check: %v", backend.ErrUpstream, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%w: upstream health check: %v", backend.ErrUpstream, errorFromResponse(resp))
	}
	var list openai.ModelList
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxLine)).Decode(&list); err != nil {
		return fmt.Errorf("%w: upstream health check: unreadable model list: %v", backend.ErrUpstream, err)
	}
	have := map[string]bool{}
	for _, m := range list.Data {
		have[m.ID] = true
	}
	var missing []string
	for name, upName := range b.models {
		if !have[upName] {
			missing = append(missing, fmt.Sprintf("%s (upstream %q)", name, upName))
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("%w: upstream does not serve %s", backend.ErrUpstream, strings.Join(missing, ", "))
	}
	return nil
}

func (b *Backend) auth(r *http.Request) {
	if b.key != "" {
		r.Header.Set("Authorization", "Bearer "+b.key)
	}
}

// Generate streams req through the upstream. See the package comment for what is billed.
func (b *Backend) Generate(ctx context.Context, req backend.Request, onText func(string) error) (backend.Result, error) {
	name, ok := b.models[req.Model]
	if !ok {
		return backend.Result{}, &backend.UnknownModelError{Model: req.Model}
	}
	body, path, err := upstreamBody(name, req, b.continuous)
	if err != nil {
		return backend.Result{}, err
	}
	// The upstream request outlives ctx by at most the drain timeout, so a client that leaves
	// mid-stream is still billed for the generation it started.
	upCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	var perChunk atomic.Bool // the upstream reports usage with its text chunks: never drained
	stopDrain := context.AfterFunc(ctx, func() {
		if b.drain < 0 || perChunk.Load() || req.Whole {
			cancel()
			return
		}
		time.AfterFunc(b.drain, cancel)
	})
	defer stopDrain()
	hreq, err := http.NewRequestWithContext(upCtx, http.MethodPost, b.base+path, bytes.NewReader(body))
	if err != nil {
		return backend.Result{}, fmt.Errorf("failed to build upstream request: %w", err)
	}
	hreq.Header.Set("Content-Type", "application/json")
	hreq.Header.Set("Accept", "text/event-stream")
	b.auth(hreq)
	resp, err := b.client.Do(hreq)
	if err != nil {
		if ctx.Err() != nil {
			return backend.Result{}, fmt.Errorf("failed to reach upstream: %w", ctx.Err())
		}
		return backend.Result{}, &backend.UpstreamError{Reason: backend.UpstreamUnavailable,
			Message: fmt.Sprintf("the inference server is unavailable: %v", err)}
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return backend.Result{}, errorFromResponse(resp)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		return readJSON(resp.Body, onText, req.OnParts)
	}
	return readStream(ctx, resp.Body, req.Progress, onText, req.OnParts, b.drain >= 0, &perChunk)
}

// upstreamBody is the JSON request for the upstream: the client's parameters with the upstream's
// model name, always streaming with usage.
func upstreamBody(name string, req backend.Request, continuous bool) ([]byte, string, error) {
	var maxTokens *int
	if req.MaxTokens > 0 {
		maxTokens = &req.MaxTokens
	}
	so := &streamOptions{IncludeUsage: true, ContinuousUsageStats: continuous}
	stream := !req.Whole
	if !stream {
		so = nil
	}
	params := upstreamParams{MaxTokens: maxTokens, Temperature: req.Temperature, TopP: req.TopP, Seed: req.Seed, Stop: req.Stop,
		Stream: stream, StreamOptions: so}
	var v any
	path := "/completions"
	if req.Chat {
		path = "/chat/completions"
		msgs := make([]upstreamMessage, len(req.Messages))
		for i, m := range req.Messages {
			msgs[i] = upstreamMessage{Role: m.Role, Content: m.Content}
		}
		v = upstreamChat{Model: name, Messages: msgs, upstreamParams: params}
	} else {
		v = upstreamCompletion{Model: name, Prompt: req.Prompt, upstreamParams: params}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, "", fmt.Errorf("failed to encode upstream request: %w", err)
	}
	raw := false
	for _, m := range req.Messages {
		raw = raw || len(m.Raw) > 0
	}
	if len(req.Extra) == 0 && !raw {
		return b, path, nil
	}
	// Parameters and messages passed through as the client sent them.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, "", fmt.Errorf("failed to encode upstream request: %w", err)
	}
	for k, v := range req.Extra {
		if passed[k] {
			doc[k] = v
		}
	}
	if raw && req.Chat {
		msgs := make([]json.RawMessage, len(req.Messages))
		for i, m := range req.Messages {
			if msgs[i] = m.Raw; len(m.Raw) == 0 {
				msgs[i], _ = json.Marshal(upstreamMessage{Role: m.Role, Content: m.Content})
			}
		}
		doc["messages"], _ = json.Marshal(msgs)
	}
	if b, err = json.Marshal(doc); err != nil {
		return nil, "", fmt.Errorf("failed to encode upstream request: %w", err)
	}
	return b, path, nil
}

// streamOptions is stream_options as vLLM and SGLang take it: continuous_usage_stats adds the usage
// so far to every chunk.
type streamOptions struct {
	IncludeUsage         bool `json:"include_usage"`
	ContinuousUsageStats bool `json:"continuous_usage_stats,omitempty"`
}

type upstreamMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// upstreamParams are the sampling and streaming parameters both endpoints take.
type upstreamParams struct {
	MaxTokens     *int           `json:"max_tokens,omitempty"`
	Temperature   *float32       `json:"temperature,omitempty"`
	TopP          *float32       `json:"top_p,omitempty"`
	Seed          *uint64        `json:"seed,omitempty"`
	Stop          []string       `json:"stop,omitempty"`
	Stream        bool           `json:"stream"`
	StreamOptions *streamOptions `json:"stream_options,omitempty"`
}

type upstreamChat struct {
	Model    string            `json:"model"`
	Messages []upstreamMessage `json:"messages"`
	upstreamParams
}

type upstreamCompletion struct {
	Model  string `json:"model"`
	Prompt string `json:"prompt"`
	upstreamParams
}

// chunkMessage is a chat chunk's delta or a whole answer's message.
type chunkMessage struct {
	Content   *string         `json:"content"`
	ToolCalls json.RawMessage `json:"tool_calls"`
}

// chunk is the union of what chat and completion stream chunks (and full responses) carry.
type chunk struct {
	Choices []struct {
		Delta        *chunkMessage   `json:"delta"`
		Message      *chunkMessage   `json:"message"`
		Text         *string         `json:"text"`
		Logprobs     json.RawMessage `json:"logprobs"`
		FinishReason *string         `json:"finish_reason"`
	} `json:"choices"`
	Usage *openai.Usage  `json:"usage"`
	Error *upstreamError `json:"error"`
}

// parts are the chunk's tool calls and log probabilities (nil fields when it has none).
func (c *chunk) parts() backend.Parts {
	var p backend.Parts
	set := func(dst *json.RawMessage, v json.RawMessage) {
		if len(v) > 0 && string(v) != "null" {
			*dst = v
		}
	}
	for _, ch := range c.Choices {
		if ch.Delta != nil {
			set(&p.ToolCalls, ch.Delta.ToolCalls)
		}
		if ch.Message != nil {
			set(&p.ToolCalls, ch.Message.ToolCalls)
		}
		set(&p.Logprobs, ch.Logprobs)
	}
	return p
}

func (c *chunk) text() string {
	var s strings.Builder
	for _, ch := range c.Choices {
		switch {
		case ch.Delta != nil && ch.Delta.Content != nil:
			s.WriteString(*ch.Delta.Content)
		case ch.Message != nil && ch.Message.Content != nil:
			s.WriteString(*ch.Message.Content)
		case ch.Text != nil:
			s.WriteString(*ch.Text)
		}
	}
	return s.String()
}

// readStream reads the upstream's SSE stream until [DONE]. Once the client is gone (ctx done or
// onText failed) text is no longer forwarded; with drain the stream is still read for its usage,
// and the client's error is returned with that usage. A stream that carries usage with its text
// chunks (continuous_usage_stats) is not drained: the usage of the text delivered is known, it is
// reported to progress before each piece, and the caller cancels the upstream request at once.
func readStream(ctx context.Context, body io.Reader, progress func(backend.Usage), onText func(string) error, onParts func(backend.Parts) error, drain bool, perChunkSeen *atomic.Bool) (backend.Result, error) {
	var res backend.Result
	var reported *openai.Usage
	perChunk := false // the upstream reported usage with a text chunk
	var clientErr error
	finish := ""
	r := bufio.NewReaderSize(body, 64<<10)
	result := func() backend.Result {
		if reported != nil {
			res.Usage = backend.Usage{PromptTokens: reported.PromptTokens, CompletionTokens: reported.CompletionTokens}
		}
		return res
	}
	for {
		if clientErr == nil && ctx.Err() != nil {
			clientErr = fmt.Errorf("client went away: %w", ctx.Err())
		}
		if clientErr != nil && (!drain || perChunk) {
			return result(), clientErr
		}
		line, err := readLine(r)
		if err != nil {
			if clientErr != nil {
				return result(), clientErr
			}
			return result(), midStream(fmt.Sprintf("the inference server's stream broke off: %v", err))
		}
		data, ok := strings.CutPrefix(line, "data:")
		if !ok {
			continue // blank separators, comments (":"), "event:" and "id:" lines
		}
		data = strings.TrimSpace(data)
		if data == "[DONE]" {
			break
		}
		var c chunk
		if err := fastjson.Unmarshal([]byte(data), &c); err != nil {
			if clientErr != nil {
				return result(), clientErr
			}
			return result(), midStream(fmt.Sprintf("the inference server sent an unreadable stream event: %v", err))
		}
		if c.Error != nil {
			if clientErr != nil {
				return result(), clientErr
			}
			return result(), c.Error.toError(http.StatusBadGateway)
		}
		if c.Usage != nil {
			u := *c.Usage
			reported = &u
		}
		for _, ch := range c.Choices {
			if ch.FinishReason != nil && *ch.FinishReason != "" {
				finish = *ch.FinishReason
			}
		}
		t := c.text()
		if t != "" && c.Usage != nil && !perChunk {
			perChunk = true
			if perChunkSeen != nil {
				perChunkSeen.Store(true)
			}
		}
		parts := c.parts()
		hasParts := onParts != nil && (parts.ToolCalls != nil || parts.Logprobs != nil)
		if (t != "" || hasParts) && clientErr == nil && progress != nil && c.Usage != nil {
			progress(backend.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens})
		}
		if t != "" && clientErr == nil {
			if err := onText(t); err != nil {
				clientErr = fmt.Errorf("failed to deliver text: %w", err)
			}
		}
		if hasParts && clientErr == nil {
			if err := onParts(parts); err != nil {
				clientErr = fmt.Errorf("failed to deliver tool calls or log probabilities: %w", err)
			}
		}
	}
	res = result()
	if clientErr != nil {
		return res, clientErr
	}
	if reported == nil {
		return res, &backend.UpstreamError{Reason: backend.UpstreamNoUsage,
			Message: "the inference server reported no token usage (it must support stream_options.include_usage); the request is not billed"}
	}
	res.FinishReason = normalizeFinish(finish)
	return res, nil
}

// readJSON handles an upstream that answered a stream request with one JSON response.
func readJSON(body io.Reader, onText func(string) error, onParts func(backend.Parts) error) (backend.Result, error) {
	var c chunk
	b, err := io.ReadAll(io.LimitReader(body, maxLine))
	if err != nil {
		return backend.Result{}, midStream(fmt.Sprintf("the inference server sent an unreadable response: %v", err))
	}
	// The first JSON value, as a json.Decoder reads it: one with data after it is read too.
	if !fastjson.Quick(b, &c) {
		err = json.NewDecoder(bytes.NewReader(b)).Decode(&c)
	}
	if err != nil {
		return backend.Result{}, midStream(fmt.Sprintf("the inference server sent an unreadable response: %v", err))
	}
	if c.Error != nil {
		return backend.Result{}, c.Error.toError(http.StatusBadGateway)
	}
	if c.Usage == nil {
		return backend.Result{}, &backend.UpstreamError{Reason: backend.UpstreamNoUsage,
			Message: "the inference server reported no token usage; the request is not billed"}
	}
	res := backend.Result{Usage: backend.Usage{PromptTokens: c.Usage.PromptTokens, CompletionTokens: c.Usage.CompletionTokens}}
	finish := ""
	for _, ch := range c.Choices {
		if ch.FinishReason != nil {
			finish = *ch.FinishReason
		}
	}
	if t := c.text(); t != "" {
		if err := onText(t); err != nil {
			return res, fmt.Errorf("failed to deliver text: %w", err)
		}
	}
	if p := c.parts(); onParts != nil && (p.ToolCalls != nil || p.Logprobs != nil) {
		if err := onParts(p); err != nil {
			return res, fmt.Errorf("failed to deliver tool calls or log probabilities: %w", err)
		}
	}
	res.FinishReason = normalizeFinish(finish)
	return res, nil
}

func readLine(r *bufio.Reader) (string, error) {
	var buf []byte
	for {
		part, isPrefix, err := r.ReadLine()
		if err != nil {
			return "", err
		}
		buf = append(buf, part...)
		if len(buf) > maxLine {
			return "", fmt.Errorf("stream line longer than %d bytes", maxLine)
		}
		if !isPrefix {
			return string(buf), nil
		}
	}
}

func midStream(msg string) *backend.UpstreamError {
	return &backend.UpstreamError{Reason: backend.UpstreamStreamBroken, Message: msg}
}

// normalizeFinish maps upstream finish reasons onto OpenAI's "stop", "length" and "tool_calls".
func normalizeFinish(f string) string {
	switch f {
	case "length", "max_tokens", "model_length":
		return backend.FinishLength
	case "tool_calls", "function_call":
		return backend.FinishToolCalls
	default:
		return backend.FinishStop
	}
}

// upstreamError is the error object of the servers we support, which differ in detail: OpenAI and
// vLLM send {"error":{"message","type","param","code"}} (vLLM's code is the HTTP status number),
// llama.cpp the same with a numeric code, TGI {"error":"text","error_type":"..."}.
type upstreamError struct {
	Message string          `json:"message"`
	Type    string          `json:"type"`
	Param   json.RawMessage `json:"param"`
	Code    json.RawMessage `json:"code"`
}

func (e *upstreamError) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		return json.Unmarshal(b, &e.Message)
	}
	type plain upstreamError
	return json.Unmarshal(b, (*plain)(e))
}

// toError maps an upstream error to a backend error: client mistakes (400, 413, 422) stay invalid
// requests (a context-window refusal in any wording is a ContextLengthError); 429 stays busy;
// anything else is the provider's problem, an upstream failure.
func (e *upstreamError) toError(status int) error {
	code := ""
	if len(e.Code) > 0 && e.Code[0] == '"' {
		_ = json.Unmarshal(e.Code, &code)
	}
	param := ""
	if len(e.Param) > 0 && e.Param[0] == '"' {
		_ = json.Unmarshal(e.Param, &param)
	}
	msg := e.Message
	if msg == "" {
		msg = "the inference server failed without a message"
	}
	lower := strings.ToLower(msg)
	switch {
	case code == "context_length_exceeded" || strings.Contains(strings.ToLower(e.Type), "context") || strings.Contains(lower, "context length") || strings.Contains(lower, "maximum context"):
		return &backend.ContextLengthError{Param: param, Detail: msg}
	case status == http.StatusBadRequest || status == http.StatusRequestEntityTooLarge || status == http.StatusUnprocessableEntity:
		return &backend.InvalidRequestError{Param: param, Code: code, Message: msg}
	case status == http.StatusTooManyRequests:
		return &backend.UpstreamError{Reason: backend.UpstreamBusy, Param: param, Message: msg}
	default:
		return &backend.UpstreamError{Reason: backend.UpstreamFailed, Param: param,
			Message: fmt.Sprintf("the inference server failed (HTTP %d): %s", status, msg)}
	}
}

// errorFromResponse reads a non-2xx response into a backend error.
func errorFromResponse(resp *http.Response) error {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	var wrapped struct {
		Error *upstreamError `json:"error"`
	}
	var e upstreamError
	if json.Unmarshal(body, &wrapped) == nil && wrapped.Error != nil {
		e = *wrapped.Error
	} else if json.Unmarshal(body, &e) != nil || e.Message == "" {
		e = upstreamError{Message: strings.TrimSpace(string(body))}
		if e.Message == "" {
			e.Message = resp.Status
		}
	}
	return e.toError(resp.StatusCode)
}
