package discover

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
)

// Indexer discovers through an indexer's explorer API (docs/PROTOCOL.md "Indexer API"): the list
// of Provider contracts comes from GET /api/v1/providers (every page), which replaces scanning the
// registry's transactions; what decides who may serve (status, stake, prices, attestation, the
// registry's rules) is still read from the chain's getters, so an indexer can hide a provider from
// the client but cannot vouch for one.
type Indexer struct {
	// URL is the indexer's base URL (http://host:port).
	URL string
	// HTTP is the client for the indexer (nil: a client with a 30 s timeout).
	HTTP     *http.Client
	Chain    chain.Client
	Registry *address.Address
	Clock    func(ctx context.Context) (time.Time, error)
	Parallel int
}

// Discover lists the indexer's providers and reads them from the chain.
func (x *Indexer) Discover(ctx context.Context) (*Snapshot, error) {
	addrs, err := x.list(ctx)
	if err != nil {
		return nil, err
	}
	reg, err := ReadRegistry(ctx, x.Chain, x.Registry)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	if x.Clock != nil {
		if now, err = x.Clock(ctx); err != nil {
			return nil, err
		}
	}
	return readAll(ctx, x.Chain, reg, addrs, now, x.Parallel, "indexer "+x.URL), ctx.Err()
}

// list reads every page of the indexer's provider list.
func (x *Indexer) list(ctx context.Context) ([]*address.Address, error) {
	hc := x.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	var out []*address.Address
	seen := map[string]bool{}
	cursor := ""
	for page := 0; page < 10_000; page++ {
		q := url.Values{"limit": {"200"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		u := strings.TrimSuffix(x.URL, "/") + "/api/v1/providers?" + q.Encode()
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if err != nil {
			return nil, fmt.Errorf("bad indexer URL: %w", err)
		}
		resp, err := hc.Do(req)
		if err != nil {
			return nil, fmt.Errorf("failed to ask the indexer for providers: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 32<<20))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("failed to read the indexer's providers: %w", err)
		}
		if resp.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("the indexer answered %s: %.200s", resp.Status, body)
		}
		var p struct {
			Providers []struct {
				Address struct {
					Raw string `json:"raw"`
				} `json:"address"`
			} `json:"providers"`
			NextCursor *string `json:"next_cursor"`
		}
		if err := json.Unmarshal(body, &p); err != nil {
			return nil, fmt.Errorf("the indexer's provider list does not parse: %w", err)
		}
		for _, e := range p.Providers {
			a, err := address.ParseRawAddr(e.Address.Raw)
			if err != nil {
				return nil, fmt.Errorf("the indexer lists a bad address %q: %w", e.Address.Raw, err)
			}
			if !seen[a.StringRaw()] {
				seen[a.StringRaw()] = true
				out = append(out, a)
			}
		}
		if p.NextCursor == nil || *p.NextCursor == "" {
			return out, nil
		}
		cursor = *p.NextCursor
	}
	return nil, fmt.Errorf("the indexer's provider list does not end")
}
