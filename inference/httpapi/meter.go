package httpapi

import (
	"encoding/json"
	"net/http"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/openai"
)

// Meter is a paid server's hook into the handler (the provider daemon's admission, metering and
// receipts): the handler asks it before a validated request runs, tells it every piece of the
// answer before the piece is written, and asks it for the payment to put in the usage once the
// answer is complete. Without a Meter the handler serves for free (`cocoon model serve`).
type Meter interface {
	// Begin is called once the request was validated, before the backend runs. A non-nil error
	// refuses the request: it is answered as it is (with any headers Begin set on w) and nothing
	// runs.
	Begin(w http.ResponseWriter, r *http.Request, c Call) (Metered, *openai.Error)
}

// Call is a validated inference request as Begin sees it.
type Call struct {
	Request backend.Request
	// N is the number of choices (each a full generation).
	N int
	// Stream: the answer is streamed as Server-Sent Events.
	Stream bool
}

// Metered is one request a Meter admitted. Its methods are called from the request's goroutine,
// in this order: Deliver for every piece, then Finish once if the answer completed, then End.
type Metered interface {
	// Deliver is called before a piece of the answer is written: data is the JSON the client is
	// about to receive (a stream chunk, or the whole non-streamed answer before its payment is
	// added) and u the usage it completes: the prompt tokens and the completion tokens delivered
	// with it and before it, over every choice. An error stops the request; the piece is not
	// written.
	Deliver(data []byte, u backend.Usage) error
	// Finish is called once the answer is complete, with its usage, before the payment is written
	// (in the non-streamed answer's usage and headers, or the stream's last usage chunk). An error
	// withholds the answer's end: a non-streamed answer becomes a 500, a stream ends with an error
	// event and no [DONE].
	Finish(u backend.Usage) (*openai.Payment, http.Header, error)
	// End is called exactly once when the request is over: err is nil after a complete answer
	// whose payment was written, otherwise what ended it. total is the backend's own count of what
	// ran (its usage even for a failed or abandoned request).
	End(total backend.Usage, err error)
}

// WithMeter makes every inference request go through m. Paid streams then always end with the
// usage chunk (it carries the payment), whether or not the request asked for include_usage.
func WithMeter(m Meter) Option { return func(h *Handler) { h.meter = m } }

// tally counts what reached the client, for Metered.Deliver.
type tally struct {
	prompt int
	done   int  // completion tokens of the finished choices
	cur    int  // the current choice's completion tokens as the backend reported them
	pieces int  // the current choice's text pieces delivered
	known  bool // the backend reports progress for the current choice
}

// usage is what was delivered so far. Without the backend's progress each text piece counts as one
// token (a piece is at least one token), so the count never exceeds what was delivered.
func (t *tally) usage() backend.Usage {
	c := t.cur
	if !t.known {
		c = t.pieces
	}
	return backend.Usage{PromptTokens: t.prompt, CompletionTokens: t.done + c}
}

func (t *tally) progress(u backend.Usage) {
	if u.PromptTokens > 0 {
		t.prompt = u.PromptTokens
	}
	t.cur, t.known = u.CompletionTokens, true
}

// next starts a choice after one that finished with res.
func (t *tally) next(res backend.Result) {
	if t.prompt == 0 {
		t.prompt = res.Usage.PromptTokens
	}
	t.done += res.Usage.CompletionTokens
	t.cur, t.pieces, t.known = 0, 0, false
}

// wholeParts gathers a non-streamed choice's tool calls and log probabilities from a Passthrough
// backend: a whole answer gives each once; pieces of a stream are merged as OpenAI's SDKs merge
// them (tool calls by index, arguments concatenated; logprobs' content and refusal lists appended).
type wholeParts struct {
	calls []map[string]any
	lp    map[string][]json.RawMessage
}

func (w *wholeParts) add(p backend.Parts) {
	if len(p.ToolCalls) > 0 {
		var calls []map[string]any
		if json.Unmarshal(p.ToolCalls, &calls) == nil {
			for pos, c := range calls {
				i := pos
				if f, ok := c["index"].(float64); ok {
					i = int(f)
				}
				for len(w.calls) <= i {
					w.calls = append(w.calls, map[string]any{})
				}
				mergeCall(w.calls[i], c)
			}
		}
	}
	if len(p.Logprobs) > 0 {
		var lp map[string][]json.RawMessage
		if json.Unmarshal(p.Logprobs, &lp) == nil {
			if w.lp == nil {
				w.lp = map[string][]json.RawMessage{}
			}
			for k, v := range lp {
				w.lp[k] = append(w.lp[k], v...)
			}
		}
	}
}

// mergeCall merges a tool-call piece into the call so far: the arguments are concatenated, other
// fields set.
func mergeCall(dst, src map[string]any) {
	for k, v := range src {
		if k == "index" {
			continue
		}
		if k == "function" {
			fs, _ := v.(map[string]any)
			fd, _ := dst["function"].(map[string]any)
			if fd == nil {
				fd = map[string]any{}
				dst["function"] = fd
			}
			for fk, fv := range fs {
				if s, ok := fv.(string); ok && fk == "arguments" {
					prev, _ := fd["arguments"].(string)
					fd["arguments"] = prev + s
					continue
				}
				fd[fk] = fv
			}
			continue
		}
		dst[k] = v
	}
}

func (w *wholeParts) toolCalls() json.RawMessage {
	if len(w.calls) == 0 {
		return nil
	}
	b, _ := json.Marshal(w.calls)
	return b
}

func (w *wholeParts) logprobs() json.RawMessage {
	if w.lp == nil {
		return nil
	}
	b, _ := json.Marshal(w.lp)
	return b
}
