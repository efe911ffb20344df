// Package toncenter is a chain.Client over the toncenter v2 HTTP API (https://toncenter.com/api/v2/,
// a self-hosted ton-http-api, or the local devnet's toncenter-compatible server).
//
// It speaks plain net/http rather than tonutils-go's toncenter package: that package folds HTTP status
// codes into strings and only decodes numbers from get-method stacks, and this client needs both to
// map failures onto the chain sentinels and to return cells, slices, tuples and lists.
package toncenter

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/chain"
)

// Errors of this package; failures the chain interface names are mapped onto chain.Err* instead.
var (
	// ErrRateLimited is HTTP 429 that persisted through every retry.
	ErrRateLimited = errors.New("toncenter rate limit exceeded")
	// ErrUnavailable is a gateway or liteserver timeout (HTTP 502/503/504) that persisted through every retry.
	ErrUnavailable = errors.New("toncenter unavailable")
	// ErrUnauthorized is a missing or wrong API key (HTTP 401/403).
	ErrUnauthorized = errors.New("toncenter refused the API key")
	// ErrBadResponse is a response this client cannot decode.
	ErrBadResponse = errors.New("unexpected toncenter response")
)

// Config configures a Client.
type Config struct {
	// URL is the server root ("https://toncenter.com") or the v2 root ("https://toncenter.com/api/v2");
	// "/api/v2" is appended when the path does not already end with it.
	URL string
	// APIKey is sent as X-API-Key when set.
	APIKey string
	// HTTPClient defaults to a client with a 30 s timeout.
	HTTPClient *http.Client
	// MaxRetries is how many times a rate-limited (429) or unavailable (502/503/504) request is
	// retried; 0 means the default (5), negative means never.
	MaxRetries int
	// RetryBase is the first backoff delay, doubled on each retry with jitter (default 500 ms).
	// A Retry-After header from the server takes precedence when it is longer.
	RetryBase time.Duration
	// MaxBackoff caps one backoff delay (default 10 s).
	MaxBackoff time.Duration
	// RequestsPerSecond spaces requests out on the client side (toncenter allows 1/s without an
	// API key, 10/s with a free one); 0 means no limit.
	RequestsPerSecond float64
}

// Check reports what is wrong with the configuration, in plain words.
func (c Config) Check() error {
	if c.URL == "" {
		return errors.New("toncenter URL is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("toncenter URL %q is not a URL: %w", c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("toncenter URL %q must start with http:// or https://", c.URL)
	}
	if u.Host == "" {
		return fmt.Errorf("toncenter URL %q has no host", c.URL)
	}
	if c.RequestsPerSecond < 0 {
		return fmt.Errorf("toncenter requests per second %v must not be negative", c.RequestsPerSecond)
	}
	return nil
}

// Client implements chain.Client over toncenter v2. It is safe for concurrent use.
type Client struct {
	base       string // ends with /api/v2, no trailing slash
	apiKey     string
	http       *http.Client
	maxRetries int
	retryBase  time.Duration
	maxBackoff time.Duration
	limit      *limiter // nil when unlimited
}

var _ chain.Client = (*Client)(nil)

// limiter hands out request slots at most one per interval, in arrival order.
type limiter struct {
	interval time.Duration
	mu       sync.Mutex
	next     time.Time // REQUIRES mu: the earliest start of the next request
}

func (l *limiter) wait(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	slot := l.next
	if slot.Before(now) {
		slot = now
	}
	l.next = slot.Add(l.interval)
	l.mu.Unlock()
	d := time.Until(slot)
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// New builds a client; it makes no request.
func New(cfg Config) (*Client, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	base := strings.TrimRight(cfg.URL, "/")
	if !strings.HasSuffix(base, "/api/v2") {
		base += "/api/v2"
	}
	c := &Client{
		base:       base,
		apiKey:     cfg.APIKey,
		http:       cfg.HTTPClient,
		maxRetries: cfg.MaxRetries,
		retryBase:  cfg.RetryBase,
		maxBackoff: cfg.MaxBackoff,
	}
	if c.http == nil {
		c.http = &http.Client{Timeout: 30 * time.Second}
	}
	if c.maxRetries == 0 {
		c.maxRetries = 5
	} else if c.maxRetries < 0 {
		c.maxRetries = 0
	}
	if c.retryBase <= 0 {
		c.retryBase = 500 * time.Millisecond
	}
	if c.maxBackoff <= 0 {
		c.maxBackoff = 10 * time.Second
	}
	if cfg.RequestsPerSecond > 0 {
		c.limit = &limiter{interval: time.Duration(float64(time.Second) / cfg.RequestsPerSecond)}
	}
	return c, nil
}

// APIError is a request toncenter answered with ok=false or a non-2xx status.
// It unwraps to the chain or package sentinel that fits, when one does.
type APIError struct {
	Method  string
	Status  int    // HTTP status
	Code    int    // the "code" field of the envelope, when present
	Message string // the "error" field (or the raw body)
	kind    error
}

func (e *APIError) Error() string {
	return fmt.Sprintf("toncenter %s: HTTP %d: %s", e.Method, e.Status, e.Message)
}

func (e *APIError) Unwrap() error { return e.kind }

// envelope is toncenter v2's response wrapper.
type envelope struct {
	OK     bool            `json:"ok"`
	Result json.RawMessage `json:"result"`
	Error  string          `json:"error"`
	Code   int             `json:"code"`
}

// call performs one API method with retries and decodes "result" into out (when out is not nil).
// GET when body is nil, POST with a JSON body otherwise.
func (c *Client) call(ctx context.Context, method string, query url.Values, body any, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return fmt.Errorf("failed to encode %s request: %w", method, err)
		}
	}
	for attempt := 0; ; attempt++ {
		retryAfter, err := c.once(ctx, method, query, payload, out)
		if err == nil {
			return nil
		}
		var apiErr *APIError
		retryable := errors.As(err, &apiErr) && (errors.Is(err, ErrRateLimited) || errors.Is(err, ErrUnavailable))
		if !retryable || attempt >= c.maxRetries {
			return err
		}
		delay := c.backoff(attempt)
		if retryAfter > delay {
			delay = retryAfter
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("failed to call toncenter %s: %w (last error: %v)", method, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// backoff is the delay before retry number attempt+1: exponential with ±25% jitter, capped.
func (c *Client) backoff(attempt int) time.Duration {
	d := c.retryBase << min(attempt, 20)
	if d <= 0 || d > c.maxBackoff {
		d = c.maxBackoff
	}
	jitter := time.Duration(rand.Int64N(int64(d)/2+1)) - d/4
	return d + jitter
}

// once does one HTTP round trip. It returns the server's Retry-After (0 when absent) for 429/503.
func (c *Client) once(ctx context.Context, method string, query url.Values, payload []byte, out any) (time.Duration, error) {
	if c.limit != nil {
		if err := c.limit.wait(ctx); err != nil {
			return 0, fmt.Errorf("failed to call toncenter %s: %w", method, err)
		}
	}
	u := c.base + "/" + method
	if len(query) > 0 {
		u += "?" + query.Encode()
	}
	var req *http.Request
	var err error
	if payload == nil {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(payload))
		if req != nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return 0, fmt.Errorf("failed to build toncenter %s request: %w", method, err)
	}
	req.Header.Set("Accept", "application/json")
	if c.apiKey != "" {
		req.Header.Set("X-API-Key", c.apiKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("failed to call toncenter %s: %w", method, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return 0, fmt.Errorf("failed to read toncenter %s response: %w", method, err)
	}

	var env envelope
	decodeErr := json.Unmarshal(raw, &env)
	if resp.StatusCode/100 == 2 && decodeErr == nil && env.OK {
		if out == nil {
			return 0, nil
		}
		if err := json.Unmarshal(env.Result, out); err != nil {
			return 0, fmt.Errorf("failed to decode toncenter %s result: %w: %w", method, ErrBadResponse, err)
		}
		return 0, nil
	}
	apiErr := &APIError{Method: method, Status: resp.StatusCode, Code: env.Code, Message: env.Error}
	if decodeErr != nil || apiErr.Message == "" {
		apiErr.Message = strings.TrimSpace(string(raw))
		if len(apiErr.Message) > 512 {
			apiErr.Message = apiErr.Message[:512] + "…"
		}
	}
	apiErr.kind = classify(method, apiErr.Status, apiErr.Code, apiErr.Message)
	if apiErr.kind == nil && resp.StatusCode/100 == 2 {
		apiErr.kind = ErrBadResponse
	}
	return retryAfter(resp.Header.Get("Retry-After")), apiErr
}

// retryAfter parses a Retry-After header given in seconds; dates are not worth supporting here.
func retryAfter(h string) time.Duration {
	if h == "" {
		return 0
	}
	s, err := strconv.Atoi(strings.TrimSpace(h))
	if err != nil || s < 0 {
		return 0
	}
	return min(time.Duration(s)*time.Second, time.Minute)
}

// classify maps a toncenter failure onto a sentinel. toncenter reports most liteserver failures as
// HTTP 500 with the liteserver's text, so the text decides where the status code cannot.
func classify(method string, status, code int, msg string) error {
	if status == http.StatusTooManyRequests || code == http.StatusTooManyRequests {
		return ErrRateLimited
	}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		return ErrUnauthorized
	}
	lower := strings.ToLower(msg)
	switch {
	case strings.Contains(lower, "not accepted"),
		strings.Contains(lower, "rejected"),
		strings.Contains(lower, "cannot apply external message"):
		// "cannot apply external message … failed to parse external message" is a bad BOC, not a rejection.
		if strings.Contains(lower, "failed to parse") || strings.Contains(lower, "bag of cells") {
			return chain.ErrMalformed
		}
		return chain.ErrRejected
	case strings.Contains(lower, "bag of cells"),
		strings.Contains(lower, "deserialize"),
		strings.Contains(lower, "invalid boc"),
		strings.Contains(lower, "incorrect address"),
		strings.Contains(lower, "invalid address"),
		strings.Contains(lower, "failed to parse"),
		strings.Contains(lower, "malformed"):
		return chain.ErrMalformed
	case strings.Contains(lower, "not found"),
		strings.Contains(lower, "cannot find"),
		strings.Contains(lower, "lt not in db"),
		strings.Contains(lower, "no such transaction"):
		return chain.ErrNotFound
	}
	switch status {
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return ErrUnavailable
	case http.StatusBadRequest, http.StatusRequestedRangeNotSatisfiable, http.StatusUnprocessableEntity:
		return chain.ErrMalformed
	case http.StatusNotFound:
		if method == "getTransactions" {
			return chain.ErrNotFound
		}
	}
	return nil
}
