// Package route chooses which providers a request goes to, and in which order.
//
// A request may carry OpenRouter's routing object as its top-level "provider" field (Preferences:
// order, only, ignore, sort, max_price, allow_fallbacks); the gateway removes it before the
// request is sent on, and every other field goes to the provider byte for byte. Without
// preferences the order is the cheapest verified provider first, weighted by the latency and
// uptime the client measured itself (Score).
package route

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/cocoon-go/cocoon/client/internal/jsonobj"
)

// Request is what routing and payment need to know of an OpenAI request.
type Request struct {
	// Body is the request as it goes to providers: the client's body without its routing object.
	Body  []byte
	Model string
	// ModelSet: the body has a "model" field (possibly not a string: ModelErr).
	ModelSet bool
	// ModelErr is a "model" that is not a string.
	ModelErr     error
	Stream       bool
	IncludeUsage bool
	// N is the number of choices (1 unless given as an integer above 1).
	N int
	// MaxTokens is max_completion_tokens, else max_tokens, when given as an integer.
	MaxTokens *int
	// Features are the top-level fields whose value is not the no-op a server may ignore
	// (tools: [], logprobs: false, ...): a provider that refused one of them is not tried again.
	Features []string
	// Prefs is the routing object (nil: none).
	Prefs *Preferences
}

// ErrBody is a body that is not one JSON object.
var ErrBody = errors.New("could not parse the JSON body")

// routingField is the top-level field that carries the routing object.
const routingField = "provider"

// ParseRequest reads an OpenAI request body. Only what routing and payment need is read; a field
// of an unexpected type is left for the provider to refuse with OpenAI's wording, except the
// routing object, which is the gateway's own.
func ParseRequest(body []byte) (*Request, error) {
	members, err := jsonobj.Members(body)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBody, err)
	}
	r := &Request{N: 1, Body: body}
	for _, m := range members {
		if m.Key != routingField {
			r.read(m.Key, m.Value)
			continue
		}
		var p Preferences
		d := json.NewDecoder(bytes.NewReader(m.Value))
		d.DisallowUnknownFields()
		if err := d.Decode(&p); err != nil {
			return nil, &ParamError{Param: routingField, Message: fmt.Sprintf("Invalid 'provider' routing object: %v.", err)}
		}
		if err := p.Check(); err != nil {
			return nil, err
		}
		r.Prefs = &p
	}
	if r.Prefs != nil {
		// Without the routing field; every other value keeps its bytes.
		r.Body = jsonobj.Build(jsonobj.Set(members, routingField, nil))
	}
	return r, nil
}

func (r *Request) read(key string, raw json.RawMessage) {
	switch key {
	case "model":
		r.ModelSet = true
		if err := json.Unmarshal(raw, &r.Model); err != nil {
			r.ModelErr = err
		}
	case "stream":
		_ = json.Unmarshal(raw, &r.Stream)
	case "stream_options":
		var so struct {
			IncludeUsage bool `json:"include_usage"`
		}
		if json.Unmarshal(raw, &so) == nil {
			r.IncludeUsage = so.IncludeUsage
		}
	case "n":
		var n int
		if json.Unmarshal(raw, &n) == nil && n > 1 {
			r.N = n
		}
	case "max_tokens", "max_completion_tokens":
		var n int
		if json.Unmarshal(raw, &n) == nil && (key == "max_completion_tokens" || r.MaxTokens == nil) {
			r.MaxTokens = &n
		}
	}
	if !noOp(raw) {
		r.Features = append(r.Features, key)
	}
}

// noOp reports the values a server that does not support a field accepts as not using it.
func noOp(raw json.RawMessage) bool {
	switch strings.TrimSpace(string(raw)) {
	case "null", "false", "[]", "{}", `""`, `"none"`, "0", `{"type":"text"}`, `["text"]`:
		return true
	}
	return false
}

// ParamError is a bad routing object: a 400 naming the parameter.
type ParamError struct {
	Param, Message string
}

func (e *ParamError) Error() string { return e.Message }
