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

// TestMembersScanMatchesDecoder: the scan of a valid object splits it as the decoder does.
func TestMembersScanMatchesDecoder(t *testing.T) {
	for _, in := range []string{
		`{}`, ` { } `, `{"a":1}`, "{\n\t\"a\" :\r\n -1.5e+3 , \"b\":true,\"c\":null , \"d\":false}",
		`{"s":"a \"}] \\","o":{"x":[1,{"y":"]}"}],"z":{}},"a":[[],[{}]]}`,
		`{"\u0075sage":{"k\"ey":"v"},"é":"ü","<&>":1}`,
		`{"model":"m","messages":[{"role":"user","content":"hello"}],"max_tokens":16,"stream":true}`,
	} {
		fast, err := Members([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		slow, err := membersSlow([]byte(in))
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if len(fast) != len(slow) {
			t.Fatalf("%s: %d members, the decoder finds %d", in, len(fast), len(slow))
		}
		for i := range fast {
			if fast[i].Key != slow[i].Key || string(fast[i].Value) != string(slow[i].Value) {
				t.Fatalf("%s: member %d is %q=%s, the decoder reads %q=%s", in, i, fast[i].Key, fast[i].Value, slow[i].Key, slow[i].Value)
			}
		}
		var a, b any
		if err := json.Unmarshal(Build(fast), &a); err != nil {
			t.Fatalf("%s: rebuilt %s: %v", in, Build(fast), err)
		}
		_ = json.Unmarshal([]byte(in), &b)
		if ja, jb := mustJSON(t, a), mustJSON(t, b); ja != jb {
			t.Fatalf("%s: rebuilt as %s", in, Build(fast))
		}
	}
}

func mustJSON(t *testing.T, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestMembersOfNeverPanics: the scan reads no byte past its input, whatever the input.
func TestMembersOfNeverPanics(t *testing.T) {
	for _, in := range []string{``, `{`, `{"`, `{"a`, `{"a"`, `{"a":`, `{"a":"`, `{"a":"\`, `{"a":[`, `{"a":1`, `{"a":1,`, `{"a":1}x`, `{"a" 1}`, `[1]`, `{"a":{"b":"\"}`} {
		if _, err := MembersOf([]byte(in)); !errors.Is(err, ErrNotObject) {
			t.Errorf("%q: %v", in, err)
		}
	}
}
