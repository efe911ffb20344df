package chain

import (
	"strings"
	"testing"
)

func TestParseAddress(t *testing.T) {
	const raw = "0:9d87c58e4b1aa126ec8e41960d21ba90c492225a6058f437d1d4ba409fb9e70e"
	for _, s := range []string{raw, "EQCdh8WOSxqhJuyOQZYNIbqQxJIiWmBY9DfR1LpAn7nnDqkF", "UQCdh8WOSxqhJuyOQZYNIbqQxJIiWmBY9DfR1LpAn7nnDvTA"} {
		a, err := ParseAddress(s)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if !strings.EqualFold(a.StringRaw(), raw) {
			t.Fatalf("%s parsed to %s, want %s", s, a.StringRaw(), raw)
		}
	}
	for _, s := range []string{"", "0:12", "EQCdh8WOSxqhJuyOQZYNIbqQxJIiWmBY9DfR1LpAn7nnDqkX", "hello"} {
		if _, err := ParseAddress(s); err == nil || !strings.Contains(err.Error(), "bad address") {
			t.Fatalf("%q: error %v, want a bad address error", s, err)
		}
	}
}

func TestFriendly(t *testing.T) {
	a, err := ParseAddress("0:9d87c58e4b1aa126ec8e41960d21ba90c492225a6058f437d1d4ba409fb9e70e")
	if err != nil {
		t.Fatal(err)
	}
	if got := Friendly(a, true, false); got != "EQCdh8WOSxqhJuyOQZYNIbqQxJIiWmBY9DfR1LpAn7nnDqkF" {
		t.Fatalf("bounceable %s", got)
	}
	if got := Friendly(a, false, false); got != "UQCdh8WOSxqhJuyOQZYNIbqQxJIiWmBY9DfR1LpAn7nnDvTA" {
		t.Fatalf("non-bounceable %s", got)
	}
	tn, err := ParseAddress(Friendly(a, true, true))
	if err != nil || !tn.IsTestnetOnly() || !tn.Equals(a) {
		t.Fatalf("testnet form: %v %v", tn, err)
	}
	if a.IsTestnetOnly() || !a.IsBounceable() {
		t.Fatal("Friendly changed its argument")
	}
}
