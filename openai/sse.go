package openai

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Stream writes a response as Server-Sent Events, as OpenAI streams: one `data: <json>` event per
// chunk, `data: [DONE]` at the end. Headers go out with the first event, so a request that fails
// before producing anything still gets a plain JSON error with its HTTP status (see Fail).
type Stream struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

// NewStream starts nothing yet: the first Event sends the headers.
func NewStream(w http.ResponseWriter) *Stream {
	return &Stream{w: w, rc: http.NewResponseController(w)}
}

func (s *Stream) start() {
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

// Event sends v as one JSON event and flushes it.
func (s *Stream) Event(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode stream event: %w", err)
	}
	return s.raw(b)
}

// Data sends b, one JSON value already encoded, as one event and flushes it.
func (s *Stream) Data(b []byte) error { return s.raw(b) }

func (s *Stream) raw(b []byte) error {
	s.start()
	if _, err := fmt.Fprintf(s.w, "data: %s\n\n", b); err != nil {
		return fmt.Errorf("failed to write stream event: %w", err)
	}
	if err := s.rc.Flush(); err != nil && !errors.Is(err, http.ErrNotSupported) {
		return fmt.Errorf("failed to flush stream event: %w", err)
	}
	return nil
}

// Fail reports e: as a JSON error response if nothing was sent yet, else as a last event holding
// the error body, without [DONE], so clients see that the stream did not complete.
func (s *Stream) Fail(e *Error) {
	if !s.started {
		WriteError(s.w, e)
		return
	}
	b, err := json.Marshal(e.Body())
	if err == nil {
		_ = s.raw(b)
	}
}

// Done ends a complete stream with `data: [DONE]`.
func (s *Stream) Done() { _ = s.raw([]byte("[DONE]")) }
