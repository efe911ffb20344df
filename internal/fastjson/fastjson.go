// Package fastjson decodes the JSON on a paid answer's path (the upstream's answer, the answer's
// content for its receipt, the client's request) with github.com/segmentio/encoding/json, which
// gives encoding/json's values in about a third of the time (docs/BENCHMARKS.md). Only its
// successes are taken: an input it refuses is decoded again by encoding/json (or the caller's own
// encoding/json path), so every error a client or operator sees is encoding/json's, word for word.
package fastjson

import (
	"encoding/json"
	"reflect"

	segjson "github.com/segmentio/encoding/json"
)

// Quick decodes data into v, which must be a non-nil pointer, and reports whether it could. When it
// could not, v is reset to its zero value, ready for the caller's encoding/json path.
func Quick(data []byte, v any) bool {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() {
		return false
	}
	if segjson.Unmarshal(data, v) == nil {
		return true
	}
	rv.Elem().SetZero()
	return false
}

// Unmarshal is json.Unmarshal: Quick, else encoding/json for its verdict.
func Unmarshal(data []byte, v any) error {
	if Quick(data, v) {
		return nil
	}
	return json.Unmarshal(data, v)
}
