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
}

// Members splits one JSON object into its members, in order.
func Members(raw []byte) ([]Member, error) {
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

// Build writes members as one object, in order.
func Build(members []Member) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		k, _ := json.Marshal(m.Key)
		b.Write(k)
		b.WriteByte(':')
		b.Write(m.Value)
	}
	b.WriteByte('}')
	return b.Bytes()
}

// Set replaces the value of key (or appends it); a nil value removes it.
func Set(members []Member, key string, value json.RawMessage) []Member {
	out := members[:0:0]
	found := false
	for _, m := range members {
		if m.Key == key {
			found = true
			if value != nil {
				out = append(out, Member{Key: key, Value: value})
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
