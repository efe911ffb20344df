package gateway

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/client/verify"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
)

// Record is what the gateway keeps of a request, served by GET /cocoon/v1/requests/{id}: who
// answered, what it cost, the receipt (raw and decoded) and whether it checked out, and the
// verification report of the provider when it was chosen.
type Record struct {
	ID               string           `json:"id"`
	Time             time.Time        `json:"time"`
	Path             string           `json:"path"`
	Model            string           `json:"model"`
	Stream           bool             `json:"stream"`
	Status           int              `json:"status"`
	Error            string           `json:"error,omitempty"`
	Provider         string           `json:"provider,omitempty"`
	Endpoint         string           `json:"endpoint,omitempty"`
	Channel          string           `json:"channel,omitempty"`
	Attempts         []client.Attempt `json:"failovers,omitempty"`
	PromptTokens     uint64           `json:"prompt_tokens"`
	CompletionTokens uint64           `json:"completion_tokens"`
	Cost             string           `json:"cost,omitempty"`
	CostTON          string           `json:"cost_ton,omitempty"`
	Owed             string           `json:"owed,omitempty"`
	Receipt          string           `json:"receipt,omitempty"`
	ReceiptFields    *ReceiptFields   `json:"receipt_fields,omitempty"`
	ReceiptVerified  bool             `json:"receipt_verified"`
	Problem          string           `json:"problem,omitempty"`
	TTFTMillis       float64          `json:"ttft_ms,omitempty"`
	TotalMillis      float64          `json:"total_ms,omitempty"`
	// Verification is the provider's verify.Report when it was chosen (Report decodes it).
	Verification json.RawMessage `json:"verification,omitempty"`
}

// Report decodes the record's verification report (nil: none).
func (r *Record) Report() (*verify.Report, error) {
	if len(r.Verification) == 0 {
		return nil, nil
	}
	var rep verify.Report
	if err := json.Unmarshal(r.Verification, &rep); err != nil {
		return nil, err
	}
	return &rep, nil
}

// ReceiptFields is a receipt decoded (docs/PROTOCOL.md "Receipts").
type ReceiptFields struct {
	Channel          string    `json:"channel"`
	RequestHash      string    `json:"request_hash"`
	ResponseHash     string    `json:"response_hash"`
	IssuedAt         time.Time `json:"issued_at"`
	ModelID          uint32    `json:"model_id"`
	PromptTokens     uint64    `json:"prompt_tokens"`
	CompletionTokens uint64    `json:"completion_tokens"`
	PromptPrice      string    `json:"prompt_price_per_million"`
	CompletionPrice  string    `json:"completion_price_per_million"`
	Cost             string    `json:"cost"`
	Owed             string    `json:"owed"`
	Signature        string    `json:"signature"`
}

func decodeReceipt(enc string, parsed *payment.SignedReceipt) *ReceiptFields {
	r := parsed
	if r == nil {
		d, err := payment.DecodeReceipt(enc)
		if err != nil {
			return nil
		}
		r = &d
	}
	return &ReceiptFields{Channel: r.Channel.StringRaw(), RequestHash: hex.EncodeToString(r.RequestHash[:]), ResponseHash: hex.EncodeToString(r.ResponseHash[:]),
		IssuedAt: r.IssuedAt.UTC(), ModelID: r.ModelID, PromptTokens: r.PromptTokens, CompletionTokens: r.CompletionTokens,
		PromptPrice: r.Prices.Prompt.String(), CompletionPrice: r.Prices.Completion.String(), Cost: r.Cost.String(), Owed: r.Owed.String(),
		Signature: hex.EncodeToString(r.Signature)}
}

func recordKey(id string) []byte { return []byte("gw/r/" + id) }

// reportJSON is a provider's report as JSON, encoded once per report (not once per request).
func (g *Gateway) reportJSON(id string, rep *verify.Report) json.RawMessage {
	if rep == nil {
		return nil
	}
	g.reportsMu.Lock()
	defer g.reportsMu.Unlock()
	if c, ok := g.reports[id]; ok && c.rep == rep {
		return c.raw
	}
	raw, err := json.Marshal(rep)
	if err != nil {
		return nil
	}
	if g.reports == nil {
		g.reports = map[string]cachedReport{}
	}
	g.reports[id] = cachedReport{rep: rep, raw: raw}
	return raw
}

type cachedReport struct {
	rep *verify.Report
	raw json.RawMessage
}

// record stores a request's record (failures are logged: the answer already went out).
func (g *Gateway) record(rec *Record) {
	b, err := json.Marshal(rec)
	if err == nil {
		err = g.sess.Store.DB().Set(recordKey(rec.ID), b, pebble.NoSync)
	}
	if err != nil {
		g.log.Error("failed to record a request", "request", rec.ID, "err", err)
	}
}

// Lookup reads a request's record (nil: unknown id).
func (g *Gateway) Lookup(id string) (*Record, error) {
	v, closer, err := g.sess.Store.DB().Get(recordKey(id))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer closer.Close()
	var r Record
	if err := json.Unmarshal(v, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

func (g *Gateway) lookup(w http.ResponseWriter, r *http.Request, _ string) {
	id := strings.TrimPrefix(strings.TrimSuffix(r.URL.Path, "/"), strings.TrimSuffix(RequestsPath, "/"))
	id = strings.TrimPrefix(id, "/")
	rec, err := g.Lookup(id)
	switch {
	case err != nil:
		openai.WriteError(w, &openai.Error{Status: http.StatusInternalServerError, Message: err.Error()})
	case rec == nil:
		openai.WriteError(w, &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Code: "request_not_found",
			Message: fmt.Sprintf("No request %q was answered by this gateway.", id)})
	default:
		openai.WriteJSON(w, http.StatusOK, rec)
	}
}

// ProviderStatus is a provider in GET /cocoon/v1/providers.
type ProviderStatus struct {
	ID       string         `json:"provider"`
	Endpoint string         `json:"endpoint"`
	Verified bool           `json:"verified"`
	Dropped  string         `json:"dropped,omitempty"`
	Models   []ModelPrice   `json:"models"`
	Stats    route.Stats    `json:"stats"`
	Report   *verify.Report `json:"verification"`
}

// ModelPrice is a provider's price for a model, TON per 1M tokens.
type ModelPrice struct {
	Model      string `json:"model"`
	ModelID    uint32 `json:"model_id"`
	Prompt     string `json:"prompt_per_million_ton"`
	Completion string `json:"completion_per_million_ton"`
}

// ProviderStatuses lists every discovered provider as the gateway sees it.
func (g *Gateway) ProviderStatuses() []ProviderStatus {
	c := g.sess.Client
	snap := c.Snapshot()
	var out []ProviderStatus
	for _, p := range c.Providers() {
		st, _ := c.Stats(p)
		ps := ProviderStatus{ID: p.ID, Endpoint: p.Chain.Endpoint, Verified: p.Verified(), Dropped: p.Dropped, Stats: st, Report: p.Report, Models: []ModelPrice{}}
		for id, pr := range p.Chain.Prices {
			ps.Models = append(ps.Models, ModelPrice{Model: snap.Registry.ModelName(id), ModelID: id, Prompt: payment.FormatTON(pr.Prompt), Completion: payment.FormatTON(pr.Completion)})
		}
		out = append(out, ps)
	}
	return out
}

func (g *Gateway) providers(w http.ResponseWriter, r *http.Request, _ string) {
	openai.WriteJSON(w, http.StatusOK, map[string]any{"providers": g.ProviderStatuses(), "dropped": g.sess.Client.Dropped()})
}

func (g *Gateway) status(w http.ResponseWriter, r *http.Request, _ string) {
	out := map[string]any{"registry": g.sess.Registry().String(), "network": g.sess.Net.Name, "usage_cost": g.cfg.UsageCost}
	if snap := g.sess.Client.Snapshot(); snap != nil {
		out["discovered_at"] = snap.Now.UTC()
		out["source"] = snap.Source
	}
	if g.sess.WalletErr != nil {
		out["wallet_error"] = g.sess.WalletErr.Error()
	} else if acc, err := g.sess.Payer.Balance(r.Context()); err == nil {
		out["wallet"] = map[string]string{"address": g.sess.Payer.Wallet().String(), "balance_ton": payment.FormatTON(acc.Balance)}
	}
	var chans []map[string]any
	for _, l := range g.sess.Payer.Ledgers() {
		rec := l.Record()
		c := map[string]any{"channel": l.Channel.String(), "provider": l.Provider.String(), "owed": rec.Owed, "committed": l.Committed().String()}
		if v := l.Latest(); v != nil {
			c["voucher"] = v.Amount.String()
		}
		if rec.Dropped != "" {
			c["dropped"] = rec.Dropped
		}
		chans = append(chans, c)
	}
	out["channels"] = chans
	out["dropped"] = g.sess.Client.Dropped()
	openai.WriteJSON(w, http.StatusOK, out)
}
