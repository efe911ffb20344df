package embedded

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestTextStream(t *testing.T) {
	cases := []struct {
		pieces []string
		stops  []string
		want   string
		deltas []string
	}{
		// A character split over pieces is released whole.
		{[]string{"a", "\xe2\x9c", "\x93b"}, nil, "a✓b", []string{"a", "✓b"}},
		// A possible stop prefix is held back, released when it turns out not to be one.
		{[]string{"x", "S", "T", "y"}, []string{"STOP"}, "xSTy", []string{"x", "STy"}},
		// A stop across pieces cuts the output; later pieces are ignored.
		{[]string{"ab", "ST", "OPc", "d"}, []string{"STOP"}, "ab", []string{"ab"}},
		// An incomplete character at the end becomes U+FFFD; invalid bytes too.
		{[]string{"\xff", "o", "\xe2"}, nil, "\ufffdo\ufffd", []string{"\ufffd", "o", "\ufffd"}},
	}
	for _, c := range cases {
		var deltas []string
		ts := &textStream{stops: c.stops, onText: func(d string) error { deltas = append(deltas, d); return nil }}
		for _, p := range c.pieces {
			if err := ts.add(p); err != nil {
				t.Fatal(err)
			}
		}
		if err := ts.finish(); err != nil {
			t.Fatal(err)
		}
		got := strings.Join(deltas, "")
		if got != c.want || strings.Join(c.deltas, "|") != strings.Join(deltas, "|") {
			t.Errorf("%q stops %q: deltas %q, want %q", c.pieces, c.stops, deltas, c.deltas)
		}
		for _, d := range deltas {
			if d == "" || !utf8.ValidString(d) {
				t.Errorf("%q: bad delta %q", c.pieces, d)
			}
		}
	}
}
