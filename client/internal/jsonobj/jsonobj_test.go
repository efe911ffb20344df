package jsonobj

import (
	"encoding/json"
	"errors"
	"testing"
)

func TestEditKeepsEveryOtherByte(t *testing.T) {
	in := `{ "b" : 1.50, "a":"\u00e9", "usage":{"x":1},"z":[1, 2] }`
	m, err := Members([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	m = Set(m, "usage", json.RawMessage(`{"x":2}`))
	m = Set(m, "new", json.RawMessage(`true`))
	m = Set(m, "a", nil)
	if got, want := string(Build(m)), `{"b":1.50,"usage":{"x":2},"z":[1, 2],"new":true}`; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if string(Get(m, "b")) != "1.50" || Get(m, "a") != nil {
		t.Fatal("Get")
	}
	for _, bad := range []string{``, `[]`, `{"a":}`, `{"a":1} {}`, `{"a":1`} {
		if _, err := Members([]byte(bad)); !errors.Is(err, ErrNotObject) {
			t.Errorf("%q: %v", bad, err)
		}
	}
}
