package httpwire_test

import (
	"bufio"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/internal/httpwire"
)

func TestIsToken(t *testing.T) {
	for _, s := range []string{"GET", "X-Cocoon-Voucher", "a!#$%&'*+-.^_`|~9"} {
		if !httpwire.IsToken(s) {
			t.Errorf("%q is a token", s)
		}
	}
	for _, s := range []string{"", "G T", "a(b", "a:b", "é", "a\r", `a"b`, "a/b", "a{b"} {
		if httpwire.IsToken(s) {
			t.Errorf("%q is not a token", s)
		}
	}
}

func TestListHasToken(t *testing.T) {
	if !httpwire.ListHasToken("keep-alive, Close", "close") || !httpwire.ListHasToken("close", "close") {
		t.Error("close is listed")
	}
	if httpwire.ListHasToken("closed, keep-alive", "close") || httpwire.ListHasToken("", "close") {
		t.Error("close is not listed")
	}
}

func TestSkipTrailer(t *testing.T) {
	long := "X-Long: " + strings.Repeat("a", 40<<10) + "\r\n"
	for _, tc := range []struct {
		name, in, rest string
		err            error
	}{
		{"empty", "\r\nNEXT", "NEXT", nil},
		{"bare LF", "\nNEXT", "NEXT", nil},
		{"fields", "X-A: 1\r\nX-B: 2\r\n\r\nNEXT", "NEXT", nil},
		{"a line longer than the buffer", long + "\r\nNEXT", "NEXT", nil},
		{"too large", long + long, "", httpwire.ErrTrailerTooLarge},
		{"cut", "X-A: 1\r\n", "", io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			br := bufio.NewReaderSize(strings.NewReader(tc.in), 4096)
			err := httpwire.SkipTrailer(br, 64<<10)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if rest, _ := io.ReadAll(br); tc.err == nil && string(rest) != tc.rest {
				t.Fatalf("left %q, want %q", rest, tc.rest)
			}
		})
	}
}
