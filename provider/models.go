package provider

import (
	"math/big"
	"net/http"
	"sort"
	"strings"
	"sync"

	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
)

// servedModel is a model this provider serves and prices on-chain.
type servedModel struct {
	name string
	// id is the registry catalog's model id (prices, receipts).
	id uint32
	// ctxLen is the context window in tokens (embedded: the GGUF's; upstream: the config's).
	ctxLen int
	// sem bounds the requests it serves at once.
	sem chan struct{}

	mu sync.RWMutex
	// prices are the Provider contract's, refreshed from the chain. REQUIRES mu.
	prices payment.Prices
}

func (m *servedModel) currentPrices() payment.Prices {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.prices
}

func (m *servedModel) setPrices(p payment.Prices) {
	m.mu.Lock()
	m.prices = p
	m.mu.Unlock()
}

// Per-message bound of the tokens a chat template adds around a message (role markers, turn
// tokens), and of what a template and BOS add to a prompt.
const (
	templateTokensPerMessage = 16
	templateTokens           = 16
)

// promptBound bounds a request's prompt tokens before any tokenizer runs: every tokenizer the
// backends use (byte-level BPE, SentencePiece with byte fallback) makes at most one token per byte
// of text, plus the template's own tokens; a prompt longer than the context window is refused
// before anything runs, so the window bounds it too.
func (m *servedModel) promptBound(req backend.Request) int {
	n := templateTokens
	if req.Chat {
		for _, msg := range req.Messages {
			if len(msg.Raw) > 0 { // tool calls and results travel in the raw message
				n += len(msg.Raw) + templateTokensPerMessage
				continue
			}
			n += len(msg.Content) + len(msg.Role) + templateTokensPerMessage
		}
	} else {
		n += len(req.Prompt)
	}
	// Tool definitions and response schemas are rendered into the prompt by the upstream.
	for _, v := range req.Extra {
		n += len(v)
	}
	if m.ctxLen > 0 && n > m.ctxLen {
		n = m.ctxLen
	}
	return n
}

// completionLimit is the most completion tokens one choice can bring: max_tokens, at most the
// context window (the window when max_tokens is not given).
func (m *servedModel) completionLimit(req backend.Request) int {
	if req.MaxTokens > 0 && (m.ctxLen == 0 || req.MaxTokens < m.ctxLen) {
		return req.MaxTokens
	}
	return m.ctxLen
}

// ModelPricing is the Cocoon extension of a /v1/models entry: the model's catalog id, its
// on-chain prices (nanoTON per 1M tokens, decimal strings) and context window.
type ModelPricing struct {
	ModelID         uint32 `json:"model_id"`
	PromptPrice     string `json:"prompt_price"`
	CompletionPrice string `json:"completion_price"`
	ContextLength   int    `json:"context_length"`
}

// PricedModel is one /v1/models entry of a provider.
type PricedModel struct {
	openai.ModelObject
	Cocoon ModelPricing `json:"cocoon"`
}

func (m *servedModel) object() PricedModel {
	p := m.currentPrices()
	return PricedModel{ModelObject: openai.ModelObject{ID: m.name, Object: "model", OwnedBy: "cocoon"},
		Cocoon: ModelPricing{ModelID: m.id, PromptPrice: p.Prompt.String(), CompletionPrice: p.Completion.String(), ContextLength: m.ctxLen}}
}

// serveModels is GET /v1/models and /v1/models/{id}: the models served and priced on-chain.
func (p *Provider) serveModels(w http.ResponseWriter, r *http.Request) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), "/v1/models")
	if id != "" {
		m := p.models[strings.TrimPrefix(id, "/")]
		if m == nil {
			openai.WriteError(w, &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Code: openai.CodeModelNotFound,
				Param: "model", Message: (&backend.UnknownModelError{Model: strings.TrimPrefix(id, "/")}).Error()})
			return
		}
		openai.WriteJSON(w, http.StatusOK, m.object())
		return
	}
	list := struct {
		Object string        `json:"object"`
		Data   []PricedModel `json:"data"`
	}{Object: "list", Data: []PricedModel{}}
	for _, m := range p.models {
		list.Data = append(list.Data, m.object())
	}
	sort.Slice(list.Data, func(i, j int) bool { return list.Data[i].ID < list.Data[j].ID })
	openai.WriteJSON(w, http.StatusOK, list)
}

func nanoPrices(prompt, completion *big.Int) payment.Prices {
	return payment.Prices{Prompt: new(big.Int).Set(prompt), Completion: new(big.Int).Set(completion)}
}
