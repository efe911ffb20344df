package openai

import (
	"encoding/json"
	"net/http"
)

// Error types (the body's "type").
const (
	TypeInvalidRequest = "invalid_request_error"
	TypeServer         = "server_error"
	TypeUpstream       = "upstream_error"
	TypeRateLimit      = "rate_limit_error"
)

// Error codes (the body's "code"). The parameter codes are OpenAI's own; the upstream ones are this
// API's, for failures of the inference server behind a provider.
const (
	CodeMissingParameter      = "missing_required_parameter"
	CodeEmptyArray            = "empty_array"
	CodeInvalidType           = "invalid_type"
	CodeInvalidValue          = "invalid_value"
	CodeIntegerBelowMin       = "integer_below_min_value"
	CodeIntegerAboveMax       = "integer_above_max_value"
	CodeDecimalBelowMin       = "decimal_below_min_value"
	CodeDecimalAboveMax       = "decimal_above_max_value"
	CodeArrayAboveMaxLength   = "array_above_max_length"
	CodeUnsupportedParameter  = "unsupported_parameter"
	CodeUnsupportedValue      = "unsupported_value"
	CodeModelNotFound         = "model_not_found"
	CodeContextLengthExceeded = "context_length_exceeded"
	CodeUnknownURL            = "unknown_url"
	CodeMethodNotAllowed      = "method_not_allowed"
	CodeRateLimitExceeded     = "rate_limit_exceeded"
	CodeUpstreamUnavailable   = "upstream_unavailable"
	CodeUpstreamError         = "upstream_error"
	CodeUpstreamStreamError   = "upstream_stream_error"
	CodeUpstreamNoUsage       = "upstream_no_usage"
)

// ErrorBody is OpenAI's error body: {"error":{"message","type","param","code"}}.
type ErrorBody struct {
	Error ErrorDetail `json:"error"`
}

// ErrorDetail is the inside of ErrorBody; Param and Code are null when empty.
type ErrorDetail struct {
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// Error is one API error: the HTTP status it is answered with and the fields of its body.
type Error struct {
	Status  int    // 0 answers 500
	Type    string // one of the Type constants; "" answers server_error
	Code    string // "" answers null
	Param   string // "" answers null
	Message string
}

func (e *Error) Error() string { return e.Message }

// Body is the error's JSON body.
func (e *Error) Body() ErrorBody {
	d := ErrorDetail{Message: e.Message, Type: e.Type}
	if e.Param != "" {
		p := e.Param
		d.Param = &p
	}
	if e.Code != "" {
		c := e.Code
		d.Code = &c
	}
	if d.Type == "" {
		d.Type = TypeServer
	}
	return ErrorBody{Error: d}
}

// StatusCode is the HTTP status the error is answered with.
func (e *Error) StatusCode() int {
	if e.Status == 0 {
		return http.StatusInternalServerError
	}
	return e.Status
}

// WriteError answers e as a JSON error response.
func WriteError(w http.ResponseWriter, e *Error) { WriteJSON(w, e.StatusCode(), e.Body()) }

// WriteJSON answers v as JSON with the given status (a 500 error body if v cannot be encoded).
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"error":{"message":"failed to encode response","type":"server_error","param":null,"code":null}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// UnknownURL is the 404 for a path the API does not serve.
func UnknownURL(method, path string) *Error {
	return &Error{Status: http.StatusNotFound, Type: TypeInvalidRequest, Code: CodeUnknownURL,
		Message: "Unknown request URL: " + method + " " + path + "."}
}

// WrongMethod answers a request whose path is served for another method only: a 405 with Allow.
func WrongMethod(w http.ResponseWriter, method, path, want string) {
	w.Header().Set("Allow", want)
	WriteError(w, &Error{Status: http.StatusMethodNotAllowed, Type: TypeInvalidRequest, Code: CodeMethodNotAllowed,
		Message: "Method " + method + " is not allowed for " + path + "; use " + want + "."})
}
