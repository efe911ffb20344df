package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/payment"
)

// Stream is a streamed answer: its Server-Sent Events' data payloads in order, "[DONE]" last.
// The channel stays the stream's until it ends or Close; then the receipt of the usage chunk is
// checked and booked (Answer.Result).
type Stream struct {
	c       *Client
	a       *Answer
	p       *Provider
	ledger  *pay.Ledger
	call    Call
	modelID uint32
	prices  payment.Prices
	key     *payment.ReceiptKey
	resp    *http.Response
	r       *bufio.Reader
	start   time.Time

	mu sync.Mutex
	// queue holds events read ahead (before the first content); REQUIRES mu, like the rest.
	queue   [][]byte
	content payment.Content
	u       usage
	ttft    time.Duration
	done    bool
	err     error
}

// StreamError is a stream that failed after its first content: Body is the error object to end
// the app's stream with (no [DONE] follows), and what was delivered is billed.
type StreamError struct {
	Body []byte
	Err  error
}

func (e *StreamError) Error() string { return e.Err.Error() }
func (e *StreamError) Unwrap() error { return e.Err }

// ErrClosed is a stream the app closed before its end.
var ErrClosed = errors.New("stream closed before its end")

// prime reads events up to the first one carrying content (or the end): a provider that fails
// before it is a failover, and nothing has reached the app.
func (s *Stream) prime() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		data, err := s.readEvent()
		if err != nil {
			return fmt.Errorf("its stream ended before the first content: %w", err)
		}
		if e, ok := errorEvent(data); ok {
			return fmt.Errorf("its stream failed before the first content: %s", e)
		}
		s.queue = append(s.queue, data)
		s.observeLocked(data)
		if string(data) == "[DONE]" {
			s.finishLocked()
			return nil
		}
		if hasContent(data) {
			s.ttft = time.Since(s.start)
			return nil
		}
	}
}

// Next returns the next event's data; io.EOF after "[DONE]"; a *StreamError when the provider
// failed mid-stream; the read error when the app's context ended.
func (s *Stream) Next() ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.queue) > 0 {
		d := s.queue[0]
		s.queue = s.queue[1:]
		return d, nil
	}
	if s.done {
		if s.err != nil {
			return nil, s.err
		}
		return nil, io.EOF
	}
	data, err := s.readEvent()
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			s.abandonLocked(err)
			return nil, err
		}
		s.failLocked(fmt.Errorf("the provider's stream broke after it started: %w", err), nil)
		return nil, s.err
	}
	if e, ok := errorEvent(data); ok {
		s.failLocked(fmt.Errorf("the provider failed mid-stream: %s", e), data)
		return nil, s.err
	}
	s.observeLocked(data)
	if string(data) == "[DONE]" {
		s.finishLocked()
	}
	return data, nil
}

// Close ends the stream; before its end the channel keeps the request as unsettled (bounded by
// its cap) until the provider's view settles it.
func (s *Stream) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.done {
		s.abandonLocked(ErrClosed)
	}
}

// readEvent reads one event's data (data lines joined by "\n"). REQUIRES s.mu.
func (s *Stream) readEvent() ([]byte, error) {
	var data []byte
	have := false
	for {
		line, err := s.r.ReadBytes('\n')
		if err != nil {
			if err == io.EOF && len(line) == 0 && !have {
				return nil, io.EOF
			}
			if err == io.EOF {
				return nil, io.ErrUnexpectedEOF
			}
			return nil, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			if have {
				return data, nil
			}
			continue
		}
		if v, ok := bytes.CutPrefix(line, []byte("data:")); ok {
			v = bytes.TrimPrefix(v, []byte(" "))
			if have {
				data = append(data, '\n')
			}
			data = append(data, v...)
			have = true
		}
	}
}

// REQUIRES s.mu.
func (s *Stream) observeLocked(data []byte) {
	if string(data) == "[DONE]" {
		return
	}
	_ = s.content.Add(data)
	if bytes.Contains(data, []byte(`"usage":{`)) {
		if u := usageOf(data); u.found {
			s.u = u
		}
	}
}

// finishLocked books the receipt of a complete stream. REQUIRES s.mu.
func (s *Stream) finishLocked() {
	s.done = true
	// What follows [DONE] is the end of the chunked body: read it, so the connection is reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(s.r, 4096))
	s.resp.Body.Close()
	defer s.ledger.Release()
	total := time.Since(s.start)
	if !s.u.found {
		err := errors.New("the provider's stream ended without its usage chunk and receipt")
		s.a.setResult(&Result{Problem: err.Error(), TTFT: s.ttft, Total: total})
		s.c.tracker.Failure(s.p.ID, err)
		return
	}
	res := s.c.settle(context.Background(), s.p, s.ledger, s.call, s.modelID, s.prices, s.key, &s.content, s.u, "")
	res.TTFT, res.Total = s.ttft, total
	s.a.setResult(res)
	s.c.tracker.Success(s.p.ID, s.ttft, total, int(res.CompletionTokens))
}

// failLocked ends a stream the provider broke. REQUIRES s.mu.
func (s *Stream) failLocked(err error, body []byte) {
	if body == nil {
		b, _ := json.Marshal(map[string]any{"error": map[string]any{"message": err.Error(), "type": "upstream_error", "param": nil, "code": "upstream_stream_error"}})
		body = b
	}
	s.done, s.err = true, &StreamError{Body: body, Err: err}
	s.resp.Body.Close()
	s.ledger.Release()
	s.a.setResult(&Result{Problem: err.Error(), TTFT: s.ttft, Total: time.Since(s.start)})
	s.c.tracker.Failure(s.p.ID, err)
}

// abandonLocked ends a stream the app left. REQUIRES s.mu.
func (s *Stream) abandonLocked(err error) {
	s.done, s.err = true, err
	s.resp.Body.Close()
	s.ledger.Release()
	s.a.setResult(&Result{Problem: "the app left before the end: " + err.Error() + " (billed by the provider for what it delivered; settled at the channel's next request)",
		TTFT: s.ttft, Total: time.Since(s.start)})
}

// errorEvent reports a data payload that is an error object.
func errorEvent(data []byte) (string, bool) {
	if len(data) == 0 || data[0] != '{' || !bytes.Contains(data, []byte(`"error"`)) {
		return "", false
	}
	var w struct {
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &w) != nil || w.Error == nil {
		return "", false
	}
	return w.Error.Message, true
}

// hasContent reports a chunk that delivers something of the answer: text, a refusal, a tool call.
func hasContent(data []byte) bool {
	var w struct {
		Choices []struct {
			Text  string `json:"text"`
			Delta *struct {
				Content   *string           `json:"content"`
				Refusal   *string           `json:"refusal"`
				ToolCalls []json.RawMessage `json:"tool_calls"`
			} `json:"delta"`
		} `json:"choices"`
	}
	if json.Unmarshal(data, &w) != nil {
		return false
	}
	for _, c := range w.Choices {
		if c.Text != "" {
			return true
		}
		if d := c.Delta; d != nil && ((d.Content != nil && *d.Content != "") || (d.Refusal != nil && *d.Refusal != "") || len(d.ToolCalls) > 0) {
			return true
		}
	}
	return false
}

// getModelPrice reads a provider's on-chain prices for a model.
func getModelPrice(ctx context.Context, ch chain.Client, p *Provider, modelID uint32) (payment.Prices, error) {
	mp, err := (contracts.ProviderClient{Chain: ch, Address: p.Chain.Address}).ModelPrice(ctx, modelID)
	if err != nil {
		return payment.Prices{}, err
	}
	if !mp.Found {
		return payment.Prices{}, fmt.Errorf("the provider no longer prices model %d", modelID)
	}
	return payment.Prices{Prompt: mp.PromptPricePerMillion.Nano(), Completion: mp.CompletionPricePerMillion.Nano()}, nil
}
