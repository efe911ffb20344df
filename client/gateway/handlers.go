package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/client/internal/jsonobj"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
)

// Response headers the gateway adds (docs/PROTOCOL.md "Client gateway").
const (
	HeaderProvider    = "X-Cocoon-Provider"
	HeaderEndpoint    = "X-Cocoon-Endpoint"
	HeaderTEE         = "X-Cocoon-TEE"
	HeaderMeasurement = "X-Cocoon-Measurement"
	HeaderCostTON     = "X-Cocoon-Cost-TON"
	HeaderVerified    = "X-Cocoon-Receipt-Verified"
	HeaderAttempts    = "X-Cocoon-Failovers"
)

// Paths of the gateway's own endpoints.
const (
	RequestsPath  = "/cocoon/v1/requests/"
	ProvidersPath = "/cocoon/v1/providers"
	StatusPath    = "/cocoon/v1/status"
)

// maxBody is the largest request body the gateway takes (as the provider's API).
const maxBody = 4 << 20

// Handler serves the gateway's API.
func (g *Gateway) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := client.NewID()
		w.Header().Set("X-Request-Id", id)
		path := strings.TrimSuffix(r.URL.Path, "/")
		var want string
		var serve func(http.ResponseWriter, *http.Request, string)
		switch {
		case path == "/v1/models":
			want, serve = http.MethodGet, g.models
		case strings.HasPrefix(path, "/v1/models/"):
			want, serve = http.MethodGet, g.model
		case path == "/v1/chat/completions", path == "/v1/completions":
			want, serve = http.MethodPost, g.infer
		case strings.HasPrefix(path, strings.TrimSuffix(RequestsPath, "/")):
			want, serve = http.MethodGet, g.lookup
		case path == ProvidersPath:
			want, serve = http.MethodGet, g.providers
		case path == StatusPath:
			want, serve = http.MethodGet, g.status
		default:
			openai.WriteError(w, openai.UnknownURL(r.Method, r.URL.Path))
			return
		}
		if r.Method != want {
			openai.WrongMethod(w, r.Method, r.URL.Path, want)
			return
		}
		serve(w, r, id)
	})
}

// ModelObject is a /v1/models entry: OpenAI's fields and the price range of the verified
// providers serving it.
type ModelObject struct {
	openai.ModelObject
	Cocoon ModelPricing `json:"cocoon"`
}

// ModelPricing is TON per 1M tokens over the verified providers.
type ModelPricing struct {
	ModelID    uint32     `json:"model_id"`
	Providers  int        `json:"providers"`
	Prompt     PriceRange `json:"prompt_per_million_ton"`
	Completion PriceRange `json:"completion_per_million_ton"`
}

// PriceRange is the lowest and highest price.
type PriceRange struct {
	Min string `json:"min"`
	Max string `json:"max"`
}

func modelObject(m client.Model) ModelObject {
	return ModelObject{ModelObject: openai.ModelObject{ID: m.Name, Object: "model", OwnedBy: "cocoon"},
		Cocoon: ModelPricing{ModelID: m.ID, Providers: m.Providers,
			Prompt:     PriceRange{payment.FormatTON(m.MinPrompt), payment.FormatTON(m.MaxPrompt)},
			Completion: PriceRange{payment.FormatTON(m.MinCompletion), payment.FormatTON(m.MaxCompletion)}}}
}

func (g *Gateway) models(w http.ResponseWriter, r *http.Request, _ string) {
	ms, err := g.sess.Client.Models(r.Context())
	if err != nil {
		openai.WriteError(w, &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer, Code: client.CodeNoProvider, Message: err.Error()})
		return
	}
	out := struct {
		Object string        `json:"object"`
		Data   []ModelObject `json:"data"`
	}{Object: "list", Data: []ModelObject{}}
	for _, m := range ms {
		out.Data = append(out.Data, modelObject(m))
	}
	openai.WriteJSON(w, http.StatusOK, out)
}

func (g *Gateway) model(w http.ResponseWriter, r *http.Request, _ string) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/v1/models/")
	ms, err := g.sess.Client.Models(r.Context())
	if err != nil {
		openai.WriteError(w, &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer, Code: client.CodeNoProvider, Message: err.Error()})
		return
	}
	var names []string
	for _, m := range ms {
		if m.Name == id {
			openai.WriteJSON(w, http.StatusOK, modelObject(m))
			return
		}
		names = append(names, m.Name)
	}
	openai.WriteError(w, &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Code: openai.CodeModelNotFound, Param: "model",
		Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it (available: %s).", id, strings.Join(names, ", "))})
}

// badRequest is a 400 with OpenAI's wording.
func badRequest(code, param, format string, args ...any) *openai.Error {
	return &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Code: code, Param: param, Message: fmt.Sprintf(format, args...)}
}

// infer routes one inference request and relays the answer.
func (g *Gateway) infer(w http.ResponseWriter, r *http.Request, id string) {
	path := strings.TrimSuffix(r.URL.Path, "/")
	status := http.StatusOK
	defer func() { g.m.RecordRequest(path, status) }()
	fail := func(e *openai.Error) {
		status = e.StatusCode()
		openai.WriteError(w, e)
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			fail(&openai.Error{Status: http.StatusRequestEntityTooLarge, Type: openai.TypeInvalidRequest, Message: fmt.Sprintf("Request body is larger than %d bytes.", maxBody)})
			return
		}
		fail(badRequest("", "", "failed to read the request body: %v", err))
		return
	}
	req, err := route.ParseRequest(body)
	var pe *route.ParamError
	switch {
	case errors.As(err, &pe):
		fail(badRequest(openai.CodeInvalidValue, pe.Param, "%s", pe.Message))
		return
	case err != nil:
		fail(badRequest("", "", "We could not parse the JSON body of your request: %v. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload.)", err))
		return
	case !req.ModelSet:
		fail(badRequest(openai.CodeMissingParameter, "model", "Missing required parameter: 'model'."))
		return
	case req.ModelErr != nil:
		fail(badRequest(openai.CodeInvalidType, "model", "Invalid type for 'model': expected a string."))
		return
	}
	a, err := g.sess.Client.Do(r.Context(), client.Call{ID: id, Path: path, Request: req})
	if err != nil {
		var oe *openai.Error
		if !errors.As(err, &oe) {
			oe = &openai.Error{Status: http.StatusBadGateway, Type: openai.TypeUpstream, Code: client.CodeProvidersFailed, Message: err.Error()}
		}
		g.log.Info("request refused", "request", id, "status", oe.StatusCode(), "code", oe.Code, "err", oe.Message)
		fail(oe)
		g.record(&Record{ID: id, Time: time.Now().UTC(), Path: path, Model: req.Model, Stream: req.Stream, Status: oe.StatusCode(), Error: oe.Message})
		return
	}
	for range a.Attempts {
		g.m.RecordFailover()
	}
	g.providerHeaders(w.Header(), a)
	if a.Stream != nil {
		g.relayStream(w, r, a, req)
		g.finish(a, path, req)
		return
	}
	status = a.Status
	if a.Status == http.StatusOK {
		res := a.Result()
		setCost(w.Header(), res)
		w.Header().Set(payment.HeaderReceipt, res.Receipt)
		w.Header().Set("Content-Type", "application/json")
		out := g.rewriteUsage(a.Body, res)
		// With its length the app has the whole answer once it is written, before the record.
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		_ = http.NewResponseController(w).Flush()
	} else {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}
	g.finish(a, path, req)
}

// providerHeaders name who answered and what attests it.
func (g *Gateway) providerHeaders(h http.Header, a *client.Answer) {
	p := a.Provider
	h.Set(HeaderProvider, p.ID)
	h.Set(HeaderEndpoint, p.Chain.Endpoint)
	if rep := p.Report; rep != nil {
		tee := rep.Kind
		if rep.Simulated {
			tee = "sim (SIMULATED, NOT A TEE)"
		}
		h.Set(HeaderTEE, tee)
		h.Set(HeaderMeasurement, rep.Measurement)
	}
	if len(a.Attempts) > 0 {
		h.Set(HeaderAttempts, fmt.Sprint(len(a.Attempts)))
	}
}

func setCost(h http.Header, res *client.Result) {
	if res == nil || res.Cost == nil {
		return
	}
	h.Set(payment.HeaderCost, res.Cost.String())
	h.Set(HeaderCostTON, payment.FormatTON(res.Cost))
	h.Set(HeaderVerified, fmt.Sprint(res.Verified))
}

// rewriteUsage replaces the provider's usage.cocoon with the gateway's (the cost it accepted), or
// removes it when the usage cost is off. Every other byte stays.
func (g *Gateway) rewriteUsage(data []byte, res *client.Result) []byte {
	members, err := jsonobj.Members(data)
	if err != nil {
		return data
	}
	u := jsonobj.Get(members, "usage")
	if u == nil || string(u) == "null" {
		return data
	}
	um, err := jsonobj.MembersOf(u)
	if err != nil {
		return data
	}
	var cost json.RawMessage
	if g.cfg.UsageCost && res != nil && res.Cost != nil {
		cost, _ = json.Marshal(UsageCost{Cost: res.Cost.String(), CostTON: payment.FormatTON(res.Cost)})
	}
	um = jsonobj.Set(um, "cocoon", cost)
	return jsonobj.Build(jsonobj.Set(members, "usage", jsonobj.Build(um)))
}

// UsageCost is usage.cocoon in the gateway's answers: what the answer cost (nanoTON, and TON).
type UsageCost struct {
	Cost    string `json:"cost"`
	CostTON string `json:"cost_ton"`
}

// relayStream forwards a streamed answer: the events in order, the usage chunk only when the
// app asked for it (its usage.cocoon rewritten once the receipt is checked), and on a provider's
// failure after the first content an error event without [DONE]. The cost and receipt go out as
// trailers too.
func (g *Gateway) relayStream(w http.ResponseWriter, r *http.Request, a *client.Answer, req *route.Request) {
	defer a.Stream.Close()
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	h.Set("Trailer", strings.Join([]string{payment.HeaderCost, HeaderCostTON, payment.HeaderReceipt, HeaderVerified}, ", "))
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	write := func(data []byte) bool {
		if _, err := fmt.Fprintf(w, "data: %s\n\n", data); err != nil {
			return false
		}
		_ = rc.Flush()
		return true
	}
	var usage []byte
	for {
		data, err := a.Stream.Next()
		if err != nil {
			var se *client.StreamError
			if errors.As(err, &se) {
				g.log.Warn("provider failed mid-stream", "request", a.ID, "provider", a.Provider.ID, "err", se.Err)
				write(se.Body)
			}
			return
		}
		switch {
		case string(data) == "[DONE]":
			res := a.Result()
			if usage != nil {
				write(g.rewriteUsage(usage, res))
			}
			write(data)
			if res != nil && res.Cost != nil {
				h.Set(payment.HeaderCost, res.Cost.String())
				h.Set(HeaderCostTON, payment.FormatTON(res.Cost))
				h.Set(payment.HeaderReceipt, res.Receipt)
				h.Set(HeaderVerified, fmt.Sprint(res.Verified))
			}
			return
		case isUsageChunk(data):
			if req.IncludeUsage {
				usage = data // sent once its receipt is checked, just before [DONE]
			}
		default:
			if !write(data) {
				return
			}
		}
	}
}

func isUsageChunk(data []byte) bool {
	if !bytes.Contains(data, []byte(`"usage":{`)) {
		return false
	}
	var w struct {
		Choices []json.RawMessage `json:"choices"`
		Usage   json.RawMessage   `json:"usage"`
	}
	return json.Unmarshal(data, &w) == nil && len(w.Choices) == 0 && len(w.Usage) > 0 && string(w.Usage) != "null"
}

// finish records the request for the lookup endpoint, logs and measures it.
func (g *Gateway) finish(a *client.Answer, path string, req *route.Request) {
	res := a.Result()
	rec := &Record{ID: a.ID, Time: time.Now().UTC(), Path: path, Model: req.Model, Stream: req.Stream, Status: a.Status, Provider: a.Provider.ID,
		Endpoint: a.Provider.Chain.Endpoint, Channel: a.Channel, Attempts: a.Attempts, Verification: g.reportJSON(a.Provider.ID, a.Provider.Report)}
	if res != nil {
		rec.PromptTokens, rec.CompletionTokens, rec.Receipt, rec.ReceiptVerified, rec.Problem = res.PromptTokens, res.CompletionTokens, res.Receipt, res.Verified, res.Problem
		rec.TTFTMillis, rec.TotalMillis = float64(res.TTFT.Microseconds())/1000, float64(res.Total.Microseconds())/1000
		if res.Cost != nil {
			rec.Cost, rec.CostTON = res.Cost.String(), payment.FormatTON(res.Cost)
			f, _ := new(big.Float).SetInt(res.Cost).Float64()
			g.m.RecordCost(f)
		}
		if res.Owed != nil {
			rec.Owed = res.Owed.String()
		}
		if res.Receipt != "" {
			rec.ReceiptFields = decodeReceipt(res.Receipt, res.Parsed)
		}
		if res.Problem != "" && !res.Verified && res.Receipt != "" {
			g.m.RecordDropped()
		}
		if res.TTFT > 0 {
			g.m.RecordLatency(res.TTFT, res.Total)
		}
	}
	g.record(rec)
	g.log.Info("request answered", "request", a.ID, "provider", a.Provider.ID, "status", a.Status, "cost", rec.Cost, "verified", rec.ReceiptVerified,
		"failovers", len(a.Attempts), "problem", rec.Problem)
}
