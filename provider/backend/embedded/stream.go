package embedded

import (
	"strings"
	"unicode/utf8"
)

// textStream turns generated token pieces into the text deltas a client sees, exactly as the engine's
// Generate does for a text prompt (GenerateTokens, used for chat prompts with control tokens, reports
// token ids only): whole UTF-8 characters (invalid bytes become U+FFFD), text released only once no
// stop sequence can still begin in it, the output cut before a stop sequence.
type textStream struct {
	stops  []string
	onText func(string) error
	// pending holds the bytes of an incomplete UTF-8 character at the end of the output.
	pending []byte
	// buf is the output so far; INVARIANT: buf[:emitted] has been passed to onText.
	buf     []byte
	emitted int
	stopped bool
}

// add appends a piece; after a stop sequence appeared it sets stopped and ignores further pieces.
func (ts *textStream) add(piece string) error {
	if ts.stopped {
		return nil
	}
	ts.pending = append(ts.pending, piece...)
	old := len(ts.buf)
	p := ts.pending
	for len(p) > 0 && utf8.FullRune(p) {
		r, size := utf8.DecodeRune(p)
		if r == utf8.RuneError && size == 1 {
			ts.buf = utf8.AppendRune(ts.buf, utf8.RuneError)
		} else {
			ts.buf = append(ts.buf, p[:size]...)
		}
		p = p[size:]
	}
	ts.pending = append(ts.pending[:0], p...)
	return ts.check(old, false)
}

// finish flushes an incomplete trailing character as U+FFFD and releases the rest.
func (ts *textStream) finish() error {
	if ts.stopped {
		return nil
	}
	old := len(ts.buf)
	if len(ts.pending) > 0 {
		ts.buf = utf8.AppendRune(ts.buf, utf8.RuneError)
		ts.pending = ts.pending[:0]
	}
	return ts.check(old, true)
}

func (ts *textStream) check(old int, final bool) error {
	cut := -1
	for _, s := range ts.stops {
		from := max(0, old-len(s)+1)
		if i := strings.Index(string(ts.buf[from:]), s); i >= 0 && (cut < 0 || from+i < cut) {
			cut = from + i
		}
	}
	if cut >= 0 {
		ts.buf = ts.buf[:cut]
		ts.stopped = true
		return ts.emit(cut)
	}
	if final {
		return ts.emit(len(ts.buf))
	}
	// Hold back the longest tail that is a proper prefix of a stop sequence.
	safe := len(ts.buf)
	for _, s := range ts.stops {
		for k := min(len(s)-1, len(ts.buf)-ts.emitted); k > 0; k-- {
			if string(ts.buf[len(ts.buf)-k:]) == s[:k] {
				safe = min(safe, len(ts.buf)-k)
				break
			}
		}
	}
	for safe > ts.emitted && safe < len(ts.buf) && !utf8.RuneStart(ts.buf[safe]) {
		safe--
	}
	return ts.emit(safe)
}

func (ts *textStream) emit(upTo int) error {
	if upTo <= ts.emitted {
		return nil
	}
	delta := string(ts.buf[ts.emitted:upTo])
	ts.emitted = upTo
	return ts.onText(delta)
}
