package attest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	tdxtrust "github.com/google/go-tdx-guest/verify/trust"
)

// ErrNoCollateral is a collateral URL a bundle has no answer for.
var ErrNoCollateral = errors.New("collateral not in bundle")

// CollateralBundle answers Intel PCS requests from memory: verification works with no network.
// It implements go-tdx-guest's getter interface (TDXCollateralGetter). Build one from a JSON file
// written by an online machine (SaveFile), or record one with a CachingGetter.
type CollateralBundle struct {
	// Responses maps a PCS URL to its recorded response. INVARIANT: not mutated after construction.
	Responses map[string]CollateralResponse `json:"responses"`
}

// CollateralResponse is one recorded PCS answer; Header carries the issuer-chain headers PCS sends.
type CollateralResponse struct {
	Header map[string][]string `json:"header,omitempty"`
	Body   []byte              `json:"body"`
}

// Get returns the recorded response for url.
func (b *CollateralBundle) Get(url string) (map[string][]string, []byte, error) {
	r, ok := b.Responses[url]
	if !ok {
		return nil, nil, fmt.Errorf("%w: %s", ErrNoCollateral, url)
	}
	return r.Header, r.Body, nil
}

// LoadCollateralBundle reads a bundle written by SaveFile.
func LoadCollateralBundle(path string) (*CollateralBundle, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read collateral bundle: %w", err)
	}
	var b CollateralBundle
	if err := json.Unmarshal(raw, &b); err != nil {
		return nil, fmt.Errorf("failed to parse collateral bundle %s: %w", path, err)
	}
	if len(b.Responses) == 0 {
		return nil, fmt.Errorf("collateral bundle %s has no responses", path)
	}
	return &b, nil
}

// SaveFile writes the bundle as JSON.
func (b *CollateralBundle) SaveFile(path string) error {
	raw, err := json.MarshalIndent(b, "", " ")
	if err != nil {
		return fmt.Errorf("failed to encode collateral bundle: %w", err)
	}
	if err := os.WriteFile(path, raw, 0o644); err != nil {
		return fmt.Errorf("failed to write collateral bundle: %w", err)
	}
	return nil
}

// CachingGetter fetches collateral through Upstream (online, e.g. go-tdx-guest's default getter)
// and keeps each answer for TTL, so verification after the first needs no network round trip.
// When Upstream fails and a stale answer exists, the stale answer is served: the verifier still
// checks the collateral's own nextUpdate, so staleness cannot make expired collateral pass.
type CachingGetter struct {
	Upstream TDXCollateralGetter
	TTL      time.Duration
	// Now is injectable for tests; nil means time.Now.
	Now func() time.Time

	mu sync.Mutex
	// entries is guarded by mu.
	entries map[string]cachedResponse
}

type cachedResponse struct {
	CollateralResponse
	fetched time.Time
}

// Get implements the getter interface.
func (g *CachingGetter) Get(url string) (map[string][]string, []byte, error) {
	return g.GetContext(context.Background(), url)
}

// GetContext implements go-tdx-guest's context getter interface.
func (g *CachingGetter) GetContext(ctx context.Context, url string) (map[string][]string, []byte, error) {
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	g.mu.Lock()
	e, ok := g.entries[url]
	g.mu.Unlock()
	if ok && now().Sub(e.fetched) < g.TTL {
		return e.Header, e.Body, nil
	}
	h, body, err := tdxtrust.GetWith(ctx, g.Upstream, url)
	if err != nil {
		if ok {
			return e.Header, e.Body, nil
		}
		return nil, nil, fmt.Errorf("failed to fetch collateral %s: %w", url, err)
	}
	g.mu.Lock()
	if g.entries == nil {
		g.entries = map[string]cachedResponse{}
	}
	g.entries[url] = cachedResponse{CollateralResponse{Header: h, Body: body}, now()}
	g.mu.Unlock()
	return h, body, nil
}

// Bundle snapshots everything fetched so far, for use offline.
func (g *CachingGetter) Bundle() *CollateralBundle {
	g.mu.Lock()
	defer g.mu.Unlock()
	b := &CollateralBundle{Responses: map[string]CollateralResponse{}}
	for u, e := range g.entries {
		b.Responses[u] = e.CollateralResponse
	}
	return b
}
