package httpapi

import (
	"errors"
	"net/http"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/openai"
)

// APIError is how the API answers err, a failure of a backend (or of this handler):
//
//	backend error                                 status  type                   code
//	InvalidRequestError / ErrInvalidRequest       400     invalid_request_error  the error's Code, else null
//	UnknownModelError / ErrUnknownModel           404     invalid_request_error  model_not_found (param "model")
//	ContextLengthError / ErrContextLength         400     invalid_request_error  context_length_exceeded
//	UpstreamError UpstreamUnavailable             502     upstream_error         upstream_unavailable
//	UpstreamError UpstreamFailed                  502     upstream_error         upstream_error
//	UpstreamError UpstreamStreamBroken            502     upstream_error         upstream_stream_error
//	UpstreamError UpstreamNoUsage                 502     upstream_error         upstream_no_usage
//	UpstreamError UpstreamBusy                    429     rate_limit_error       rate_limit_exceeded
//	other ErrUpstream                             502     upstream_error         null
//	anything else (cancellation too)              500     server_error           null
//
// A typed error answers with its own message and param; a bare sentinel with err's text. An
// *openai.Error in err's chain is answered as it is.
func APIError(err error) *openai.Error {
	invalid := func(status int, code, param, msg string) *openai.Error {
		return &openai.Error{Status: status, Type: openai.TypeInvalidRequest, Code: code, Param: param, Message: msg}
	}
	var (
		api      *openai.Error
		bad      *backend.InvalidRequestError
		unknown  *backend.UnknownModelError
		tooLong  *backend.ContextLengthError
		upstream *backend.UpstreamError
	)
	switch {
	case errors.As(err, &api):
		return api
	case errors.As(err, &bad):
		return invalid(http.StatusBadRequest, bad.Code, bad.Param, bad.Message)
	case errors.As(err, &unknown):
		return invalid(http.StatusNotFound, openai.CodeModelNotFound, "model", unknown.Error())
	case errors.As(err, &tooLong):
		return invalid(http.StatusBadRequest, openai.CodeContextLengthExceeded, tooLong.Param, tooLong.Error())
	case errors.As(err, &upstream):
		e := &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Param: upstream.Param, Message: upstream.Message}
		switch upstream.Reason {
		case backend.UpstreamUnavailable:
			e.Code = openai.CodeUpstreamUnavailable
		case backend.UpstreamStreamBroken:
			e.Code = openai.CodeUpstreamStreamError
		case backend.UpstreamNoUsage:
			e.Code = openai.CodeUpstreamNoUsage
		case backend.UpstreamBusy:
			e.Status, e.Type, e.Code = http.StatusTooManyRequests, openai.TypeRateLimit, openai.CodeRateLimitExceeded
		default:
			e.Code = openai.CodeUpstreamError
		}
		return e
	case errors.Is(err, backend.ErrUnknownModel):
		return invalid(http.StatusNotFound, openai.CodeModelNotFound, "model", err.Error())
	case errors.Is(err, backend.ErrContextLength):
		return invalid(http.StatusBadRequest, openai.CodeContextLengthExceeded, "", err.Error())
	case errors.Is(err, backend.ErrInvalidRequest):
		return invalid(http.StatusBadRequest, "", "", err.Error())
	case errors.Is(err, backend.ErrUpstream):
		return &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Message: err.Error()}
	}
	return &openai.Error{Status: http.StatusInternalServerError, Type: openai.TypeServer, Message: err.Error()}
}
