// Package clienttest is what the client packages' tests run against: a block-mode devnet with a
// registry (sim measurement allowed, a model, an oracle), and paid providers that speak the
// protocol of docs/PROTOCOL.md "Paid inference" over RA-TLS with the simulated TEE, registered,
// priced and attested on that devnet.
//
// The provider here is a test server built from the shared packages (attest, payment, voucher,
// contracts, inference/httpapi) with a scripted backend whose failures a test chooses. The client
// packages may not import the provider daemon (tests/layout), and the end-to-end tests in tests/
// run the real one.
package clienttest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/inference/backend"
)

// ContextLength is the scripted model's context window.
const ContextLength = 256

// words are what the scripted model says, one token each, over and over.
var words = strings.Fields("In the beginning God created the heaven and the earth . And the earth was without form , and void ;")

// Script is a deterministic backend: a prompt costs one token per whitespace-separated word plus
// one (BOS); the answer is words from a fixed text, one token each, up to the request's limit or
// the context window. Tests change its behaviour between requests.
type Script struct {
	mu sync.Mutex
	// models it serves.
	models []string
	// failBefore fails the next requests before their first token (an upstream error).
	failBefore int
	// failAfter, when > 0, breaks a stream after that many tokens.
	failAfter int
	// delay is waited before every token.
	delay time.Duration
	// started counts Generate calls.
	started int
}

// NewScript serves the named models.
func NewScript(models ...string) *Script { return &Script{models: models} }

// FailBeforeFirstToken makes the next n requests fail before any token (HTTP 502 at the provider).
func (s *Script) FailBeforeFirstToken(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failBefore = n
}

// BreakAfter makes every request fail after n tokens (0: never).
func (s *Script) BreakAfter(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAfter = n
}

// SetDelay waits d before each token.
func (s *Script) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Started counts the generations that reached the backend.
func (s *Script) Started() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.started
}

// PromptTokens is the scripted tokenizer's count for a request.
func PromptTokens(req backend.Request) int {
	n := 1
	if req.Chat {
		for _, m := range req.Messages {
			n += 1 + len(strings.Fields(m.Content))
		}
		return n
	}
	return n + len(strings.Fields(req.Prompt))
}

func (s *Script) Models(context.Context) ([]backend.Model, error) {
	out := make([]backend.Model, len(s.models))
	for i, m := range s.models {
		out[i] = backend.Model{Name: m, OwnedBy: "clienttest", ContextLength: ContextLength}
	}
	return out, nil
}

func (s *Script) Health(context.Context) error { return nil }

func (s *Script) Generate(ctx context.Context, req backend.Request, onText func(string) error) (backend.Result, error) {
	s.mu.Lock()
	s.started++
	fail := s.failBefore > 0
	if fail {
		s.failBefore--
	}
	failAfter, delay := s.failAfter, s.delay
	s.mu.Unlock()
	known := false
	for _, m := range s.models {
		known = known || m == req.Model
	}
	if !known {
		return backend.Result{}, &backend.UnknownModelError{Model: req.Model}
	}
	prompt := PromptTokens(req)
	if fail {
		return backend.Result{}, &backend.UpstreamError{Reason: backend.UpstreamUnavailable, Message: "the scripted backend fails before its first token"}
	}
	limit := ContextLength - prompt
	if req.MaxTokens > 0 {
		if prompt+req.MaxTokens > ContextLength {
			return backend.Result{}, &backend.ContextLengthError{Limit: ContextLength, Prompt: prompt, MaxTokens: req.MaxTokens}
		}
		limit = req.MaxTokens
	}
	res := backend.Result{Usage: backend.Usage{PromptTokens: prompt}}
	for i := 0; i < limit; i++ {
		if failAfter > 0 && i == failAfter {
			return res, &backend.UpstreamError{Reason: backend.UpstreamStreamBroken, Message: fmt.Sprintf("the scripted backend breaks after %d tokens", failAfter)}
		}
		if delay > 0 {
			select {
			case <-ctx.Done():
				return res, ctx.Err()
			case <-time.After(delay):
			}
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		w := words[i%len(words)]
		if i > 0 {
			w = " " + w
		}
		res.Usage.CompletionTokens++
		if err := onText(w); err != nil {
			return res, err
		}
	}
	res.FinishReason = backend.FinishLength
	return res, nil
}
