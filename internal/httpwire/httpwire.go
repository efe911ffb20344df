// Package httpwire is the HTTP/1.1 grammar that the provider's server (internal/h1server) and its
// upstream transport (internal/h1transport) both read and write: tokens, comma-separated header
// lists and the trailer section after a chunked body (RFC 9110 and 9112).
package httpwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
)

// tokenChars are the characters of a token (RFC 9110 section 5.6.2).
var tokenChars = func() (t [256]bool) {
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		t[c], t[c-'a'+'A'] = true, true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		t[c] = true
	}
	return t
}()

// IsToken reports whether s is a token: a method or a header field name.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !tokenChars[s[i]] {
			return false
		}
	}
	return true
}

// ListHasToken reports whether the comma-separated header value v lists token, case-insensitively
// ("keep-alive, Close" lists close).
func ListHasToken(v, token string) bool {
	for part := range strings.SplitSeq(v, ",") {
		if strings.EqualFold(strings.TrimSpace(part), token) {
			return true
		}
	}
	return false
}

// ErrTrailerTooLarge is a trailer section longer than SkipTrailer's bound.
var ErrTrailerTooLarge = errors.New("chunked body's trailer section too large")

// SkipTrailer reads and drops the trailer section that follows a chunked body's last chunk, up to
// and including its empty line, reading at most max bytes (lines longer than br's buffer too). An
// end of stream before the empty line is io.ErrUnexpectedEOF.
func SkipTrailer(br *bufio.Reader, max int) error {
	read, line := 0, 0 // bytes read in all, and of the current line
	for {
		part, err := br.ReadSlice('\n')
		read += len(part)
		line += len(part)
		if read > max {
			return fmt.Errorf("%w (over %d bytes)", ErrTrailerTooLarge, max)
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue // a line longer than the buffer: read on
		case errors.Is(err, io.EOF):
			return io.ErrUnexpectedEOF
		case err != nil:
			return err
		}
		if line == len(part) && len(bytes.TrimRight(part, "\r\n")) == 0 {
			return nil
		}
		line = 0
	}
}
