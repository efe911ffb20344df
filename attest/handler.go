package attest

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// EvidencePath is where a provider serves fresh evidence.
const EvidencePath = "/cocoon/v1/attestation"

// freshTimeout bounds one fresh-evidence request, waiting for the quoting path included.
const freshTimeout = 10 * time.Second

// EvidenceResponse is the JSON body of GET /cocoon/v1/attestation?nonce=<hex>.
type EvidenceResponse struct {
	Version int  `json:"version"`
	Kind    Kind `json:"kind"`
	// Simulated is true for kind sim; clients must not take it for a TEE.
	Simulated bool `json:"simulated"`
	// Nonce echoes the caller's challenge, hex.
	Nonce string `json:"nonce"`
	// TLSKeyHash is hex SHA-256 of the provider's TLS SubjectPublicKeyInfo.
	TLSKeyHash string `json:"tls_key_hash"`
	// Evidence is base64 (standard, padded) DER CocoonEvidence bound to (TLS key, nonce).
	Evidence string `json:"evidence"`
	// CertificateEvidence is base64 DER of the evidence in the provider's RA-TLS certificates.
	CertificateEvidence string `json:"certificate_evidence"`
}

type errorResponse struct {
	Error string `json:"error"`
}

// EvidenceHandler serves fresh evidence for a caller-chosen nonce (1..64 bytes, hex).
func (is *Issuer) EvidenceHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet {
			writeJSON(w, http.StatusMethodNotAllowed, errorResponse{"only GET is allowed"})
			return
		}
		nonce, err := hex.DecodeString(r.URL.Query().Get("nonce"))
		if err != nil || len(nonce) == 0 || len(nonce) > 64 {
			writeJSON(w, http.StatusBadRequest, errorResponse{"nonce must be 1..64 bytes in hex"})
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), freshTimeout)
		defer cancel()
		ev, err := is.Fresh(ctx, nonce)
		if err != nil {
			is.log.Warn("fresh evidence failed", "err", err)
			status := http.StatusInternalServerError
			if errors.Is(err, context.DeadlineExceeded) {
				status = http.StatusServiceUnavailable
			}
			writeJSON(w, status, errorResponse{"failed to collect evidence"})
			return
		}
		k := is.cfg.Attester.Kind()
		writeJSON(w, http.StatusOK, EvidenceResponse{
			Version: evidenceVersion, Kind: k, Simulated: k == KindSim,
			Nonce:               hex.EncodeToString(nonce),
			TLSKeyHash:          hex.EncodeToString(is.keyHash[:]),
			Evidence:            base64.StdEncoding.EncodeToString(ev),
			CertificateEvidence: base64.StdEncoding.EncodeToString(is.evidence),
		})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// FetchFreshEvidence asks a provider for evidence answering nonce and verifies it. The request must
// go over RA-TLS (client built with v.ClientTLSConfig): the fresh evidence must bind the TLS key of
// the very connection that delivered it, and that connection's certificate must verify too. It
// returns the fresh evidence's claims.
func (v *Verifier) FetchFreshEvidence(ctx context.Context, client *http.Client, baseURL string, nonce []byte) (*Claims, error) {
	if len(nonce) == 0 || len(nonce) > 64 {
		return nil, fmt.Errorf("%w: nonce must be 1..64 bytes", ErrMalformed)
	}
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("failed to parse provider URL: %w", err)
	}
	u = u.JoinPath(EvidencePath)
	u.RawQuery = url.Values{"nonce": {hex.EncodeToString(nonce)}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("failed to build evidence request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to fetch evidence: %w", err)
	}
	defer resp.Body.Close()
	if resp.TLS == nil {
		return nil, fmt.Errorf("%w: evidence was not fetched over TLS; use an RA-TLS client", ErrReportData)
	}
	if _, err := v.PeerClaims(ctx, *resp.TLS); err != nil {
		return nil, fmt.Errorf("failed to verify the evidence endpoint's certificate: %w", err)
	}
	keyHash := KeyHash(resp.TLS.PeerCertificates[0].RawSubjectPublicKeyInfo)
	body, err := io.ReadAll(io.LimitReader(resp.Body, 2*maxEvidenceSize))
	if err != nil {
		return nil, fmt.Errorf("failed to read evidence: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("evidence endpoint answered %s: %s", resp.Status, body)
	}
	var er EvidenceResponse
	if err := json.Unmarshal(body, &er); err != nil {
		return nil, fmt.Errorf("%w: evidence response: %v", ErrMalformed, err)
	}
	der, err := base64.StdEncoding.DecodeString(er.Evidence)
	if err != nil {
		return nil, fmt.Errorf("%w: evidence is not base64: %v", ErrMalformed, err)
	}
	return v.VerifyBytes(ctx, der, Binding{KeyHash: keyHash, Challenge: nonce})
}
