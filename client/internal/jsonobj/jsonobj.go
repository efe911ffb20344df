// Package jsonobj edits a JSON object's top-level members without touching their values: each
// value keeps its bytes (numbers their digits, strings their escapes), so a request or an answer
// passes through the client unchanged except for the member it means to change.
package jsonobj

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// ErrNotObject is input that is not exactly one JSON object.
var ErrNotObject = errors.New("not a JSON object")

// Member is one top-level member: its key and its value's bytes.
type Member struct {
	Key   string
	Value json.RawMessage
	// rawKey is the key as it was read (quotes and escapes included), written back by Build.
	rawKey []byte
}

// Members splits one JSON object into its members, in order. The values are subslices of raw.
//
// It is on every request's path (the request, and the answer's usage), so a valid object is
// split by one scan after json.Valid, without a decoder; input that is not valid JSON goes
// through the decoder for its error.
func Members(raw []byte) ([]Member, error) {
	if json.Valid(raw) {
		if out, ok := scan(raw); ok {
			return out, nil
		}
	}
	return membersSlow(raw)
}

// MembersOf splits a value that Members returned (so already valid JSON) without checking it
// again; a value that is not an object is ErrNotObject.
func MembersOf(v json.RawMessage) ([]Member, error) {
	if out, ok := scan(v); ok {
		return out, nil
	}
	return membersSlow(v)
}

// scan splits a valid JSON object; ok is false when raw is not one (it never reads past raw).
func scan(raw []byte) (out []Member, ok bool) {
	i := skipSpace(raw, 0)
	if i >= len(raw) || raw[i] != '{' {
		return nil, false
	}
	i = skipSpace(raw, i+1)
	out = make([]Member, 0, 8)
	if i < len(raw) && raw[i] == '}' {
		return out, skipSpace(raw, i+1) == len(raw)
	}
	for {
		// A key string, ':', a value, then ',' or '}'.
		if i >= len(raw) || raw[i] != '"' {
			return nil, false
		}
		ks := i
		i = skipString(raw, i)
		rawKey := raw[ks:i]
		if len(rawKey) < 2 || rawKey[len(rawKey)-1] != '"' {
			return nil, false
		}
		key, err := unquote(rawKey)
		if err != nil {
			return nil, false
		}
		i = skipSpace(raw, i)
		if i >= len(raw) || raw[i] != ':' {
			return nil, false
		}
		vs := skipSpace(raw, i+1)
		i = skipValue(raw, vs)
		if i <= vs || i > len(raw) {
			return nil, false
		}
		out = append(out, Member{Key: key, Value: raw[vs:i:i], rawKey: rawKey})
		i = skipSpace(raw, i)
		if i >= len(raw) {
			return nil, false
		}
		switch raw[i] {
		case '}':
			return out, skipSpace(raw, i+1) == len(raw)
		case ',':
			i = skipSpace(raw, i+1)
		default:
			return nil, false
		}
	}
}

// membersSlow is Members by the decoder, for its errors.
func membersSlow(raw []byte) ([]Member, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotObject, err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, fmt.Errorf("%w: the body is not a JSON object", ErrNotObject)
	}
	var out []Member
	for dec.More() {
		kt, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotObject, err)
		}
		key, _ := kt.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotObject, err)
		}
		out = append(out, Member{Key: key, Value: v})
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotObject, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("%w: trailing data after the JSON object", ErrNotObject)
	}
	return out, nil
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string that starts at b[i] (a '"'), or len(b).
func skipString(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return len(b)
}

// skipValue returns the index after the value that starts at b[i] (at most len(b)); the value's
// syntax is not checked.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for ; i < len(b); i++ {
			switch b[i] {
			case '"':
				i = skipString(b, i) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return i + 1
				}
			}
		}
		return i
	}
	// A number, true, false or null: up to the next delimiter.
	for i < len(b) && b[i] != ',' && b[i] != '}' && b[i] != ']' && b[i] != ' ' && b[i] != '\t' && b[i] != '\n' && b[i] != '\r' {
		i++
	}
	return i
}

// unquote decodes a JSON string (quotes included).
func unquote(q []byte) (string, error) {
	if bytes.IndexByte(q, '\\') < 0 {
		return string(q[1 : len(q)-1]), nil
	}
	var s string
	err := json.Unmarshal(q, &s)
	return s, err
}

// Build writes members as one object, in order.
func Build(members []Member) []byte {
	n := 2
	for _, m := range members {
		n += len(m.Key) + len(m.Value) + 4
	}
	b := make([]byte, 0, n)
	b = append(b, '{')
	for i, m := range members {
		if i > 0 {
			b = append(b, ',')
		}
		switch {
		case m.rawKey != nil:
			b = append(b, m.rawKey...)
		case plainKey(m.Key):
			b = append(b, '"')
			b = append(b, m.Key...)
			b = append(b, '"')
		default:
			k, _ := json.Marshal(m.Key)
			b = append(b, k...)
		}
		b = append(b, ':')
		b = append(b, m.Value...)
	}
	return append(b, '}')
}

// plainKey: a key that needs no escaping in JSON (json.Marshal would write it as it is).
func plainKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// Set replaces the value of key (or appends it); a nil value removes it.
func Set(members []Member, key string, value json.RawMessage) []Member {
	out := make([]Member, 0, len(members)+1)
	found := false
	for _, m := range members {
		if m.Key == key {
			found = true
			if value != nil {
				out = append(out, Member{Key: key, Value: value, rawKey: m.rawKey})
			}
			continue
		}
		out = append(out, m)
	}
	if !found && value != nil {
		out = append(out, Member{Key: key, Value: value})
	}
	return out
}

// Get is the value of key (nil: absent).
func Get(members []Member, key string) json.RawMessage {
	for _, m := range members {
		if m.Key == key {
			return m.Value
		}
	}
	return nil
}
