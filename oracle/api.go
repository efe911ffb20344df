package oracle

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/uptime"
)

// apiHandler serves the uptime tables and proofs (docs/PROTOCOL.md "Oracle HTTP API") and the
// oracle's view of each provider.
func (o *Oracle) apiHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+uptime.PathEpochs, o.serveEpochs)
	mux.HandleFunc("GET "+uptime.PathEpoch, o.serveTable)
	mux.HandleFunc("GET "+uptime.PathProof, o.serveProof)
	mux.HandleFunc("GET /api/v1/providers", o.serveProviders)
	return mux
}

type apiError struct {
	Error string `json:"error"`
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func (o *Oracle) serveEpochs(w http.ResponseWriter, r *http.Request) {
	recs, err := o.st.epochs()
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	out := uptime.EpochsResponse{Oracle: o.wallet.Address().StringRaw(), EpochSeconds: int64(o.cfg.Epoch / time.Second), Epochs: []uptime.EpochSummary{}}
	for _, rec := range recs {
		out.Epochs = append(out.Epochs, uptime.EpochSummary{Epoch: rec.Epoch, Root: rec.Root, ProviderCount: rec.Count, Commit: rec.Commit})
	}
	writeJSON(w, http.StatusOK, out)
}

// epochOf parses {epoch} and finds its table; it answers the request itself when it cannot.
func (o *Oracle) epochOf(w http.ResponseWriter, r *http.Request) *cachedTable {
	n, err := strconv.ParseUint(r.PathValue("epoch"), 10, 32)
	if err != nil {
		writeJSON(w, http.StatusBadRequest, apiError{"epoch must be a decimal uint32"})
		return nil
	}
	c, err := o.table(uint32(n))
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return nil
	}
	if c == nil {
		writeJSON(w, http.StatusNotFound, apiError{"no table for epoch " + strconv.FormatUint(n, 10)})
		return nil
	}
	return c
}

func (o *Oracle) serveTable(w http.ResponseWriter, r *http.Request) {
	c := o.epochOf(w, r)
	if c == nil {
		return
	}
	rec := c.rec
	start := uptime.EpochStart(rec.Epoch, o.cfg.Epoch)
	writeJSON(w, http.StatusOK, uptime.TableResponse{
		Registry: o.registry.StringRaw(), Oracle: o.wallet.Address().StringRaw(), OracleKey: hex.EncodeToString(o.key.Public().(ed25519.PublicKey)),
		Epoch: rec.Epoch, EpochSeconds: int64(o.cfg.Epoch / time.Second), Start: start, End: start.Add(o.cfg.Epoch),
		Root: rec.Root, ProviderCount: rec.Count, Signature: rec.Signature, Commit: rec.Commit, Entries: rec.Entries,
	})
}

func (o *Oracle) serveProof(w http.ResponseWriter, r *http.Request) {
	c := o.epochOf(w, r)
	if c == nil {
		return
	}
	p := r.PathValue("provider")
	a, err := address.ParseRawAddr(p)
	if err != nil {
		if a, err = address.ParseAddr(p); err != nil {
			writeJSON(w, http.StatusBadRequest, apiError{"provider must be an address"})
			return
		}
	}
	i := c.table.Find(a)
	if i < 0 {
		writeJSON(w, http.StatusNotFound, apiError{"provider " + a.StringRaw() + " is not in the table of epoch " + strconv.FormatUint(uint64(c.rec.Epoch), 10)})
		return
	}
	proof, err := c.table.Prove(i)
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, apiError{err.Error()})
		return
	}
	out := uptime.ProofResponse{Registry: o.registry.StringRaw(), Oracle: o.wallet.Address().StringRaw(), Epoch: c.rec.Epoch,
		Root: c.rec.Root, ProviderCount: c.rec.Count, Entry: c.table.Entries[i].ToJSON(c.rec.Epoch), Index: proof.Index,
		Siblings: []string{}, Signature: c.rec.Signature, Commit: c.rec.Commit}
	for _, s := range proof.Siblings {
		out.Siblings = append(out.Siblings, hex.EncodeToString(s[:]))
	}
	writeJSON(w, http.StatusOK, out)
}

// ProviderView is the oracle's view of one provider (GET /api/v1/providers).
type ProviderView struct {
	Provider string `json:"provider"`
	Owner    string `json:"owner"`
	Endpoint string `json:"endpoint,omitempty"`
	Eligible bool   `json:"eligible"`
	// Check is the last evidence check's result: ok, ineligible, unreachable, refused ("" before the first).
	Check      string     `json:"check"`
	CheckError string     `json:"check_error,omitempty"`
	CheckedAt  *time.Time `json:"checked_at,omitempty"`
	// Claim is the claim the last successful check verified (hex), when it succeeded.
	Claim *ClaimView `json:"claim,omitempty"`
	// Vote is the oracle's latest vote for the provider.
	Vote *VoteView `json:"vote,omitempty"`
	// Up is the last probe's result; DownSince when it failed, with the consecutive failures.
	Up        bool       `json:"up"`
	ProbedAt  *time.Time `json:"probed_at,omitempty"`
	ProbeErr  string     `json:"probe_error,omitempty"`
	Failures  int        `json:"failures,omitempty"`
	DownSince *time.Time `json:"down_since,omitempty"`
	NextProbe time.Time  `json:"next_probe"`
}

// ClaimView is a verified claim.
type ClaimView struct {
	Kind           string `json:"kind"`
	Measurement    string `json:"measurement"`
	EvidenceDigest string `json:"evidence_digest"`
	TLSKeyHash     string `json:"tls_key_hash"`
}

// VoteView is the oracle's latest vote for a provider.
type VoteView struct {
	ClaimHash  string `json:"claim_hash"`
	ValidUntil uint32 `json:"valid_until"`
	State      string `json:"state"`
	Key        string `json:"key"`
	Error      string `json:"error,omitempty"`
}

func (o *Oracle) serveProviders(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, o.Providers())
}

// Providers is the oracle's view of every provider it knows, by address.
func (o *Oracle) Providers() []ProviderView {
	o.mu.Lock()
	out := make([]ProviderView, 0, len(o.providers))
	for raw, p := range o.providers {
		v := ProviderView{Provider: raw, Owner: p.rec.Owner, Endpoint: p.endpoint, Eligible: p.eligible, Check: p.checkResult,
			CheckError: p.checkErr, Up: !p.lastProbe.IsZero() && p.failures == 0, ProbeErr: p.probeErr, Failures: p.failures, NextProbe: p.nextProbe}
		if !p.lastCheck.IsZero() {
			t := p.lastCheck
			v.CheckedAt = &t
		}
		if !p.lastProbe.IsZero() {
			t := p.lastProbe
			v.ProbedAt = &t
		}
		if !p.downSince.IsZero() {
			t := p.downSince
			v.DownSince = &t
		}
		if c := p.claim; c != nil {
			v.Claim = &ClaimView{Kind: c.Kind.Name(), Measurement: hex.EncodeToString(c.Measurement[:]),
				EvidenceDigest: hex.EncodeToString(c.EvidenceDigest[:]), TLSKeyHash: hex.EncodeToString(c.TLSKeyHash[:])}
		}
		out = append(out, v)
	}
	o.mu.Unlock()
	for i := range out {
		if rec, err := o.st.vote(out[i].Provider); err == nil && rec != nil {
			out[i].Vote = &VoteView{ClaimHash: rec.ClaimHash, ValidUntil: rec.ValidUntil, State: string(rec.State), Key: rec.Key, Error: rec.Error}
		}
	}
	slices.SortFunc(out, func(a, b ProviderView) int {
		if a.Provider < b.Provider {
			return -1
		}
		if a.Provider > b.Provider {
			return 1
		}
		return 0
	})
	return out
}
