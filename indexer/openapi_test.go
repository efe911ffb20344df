package indexer_test

import (
	"encoding/json"
	"io"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/indexer/indexertest"
)

// TestOpenAPIMatchesResponses: /api/openapi.json describes what the API really answers. Every
// path of the document is requested (with the scenario's addresses and hashes, and bad inputs),
// and each response body is validated against the document's schema for its status: every
// required property present, no property the document does not declare, every value of the
// declared type (null only where declared nullable).
func TestOpenAPIMatchesResponses(t *testing.T) {
	f := world(t)
	var doc map[string]any
	require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/openapi.json", &doc))
	require.Equal(t, "3.1.0", doc["openapi"])
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	paths := doc["paths"].(map[string]any)

	provider := f.n.ProviderOf(f.w.Alice).String()
	var chans struct {
		Channels []struct {
			Address struct{ Raw string } `json:"address"`
		} `json:"channels"`
	}
	getJSON(t, f.ix.URL()+"/api/v1/channels", &chans)
	var page struct {
		Next *string `json:"next_cursor"`
	}
	getJSON(t, f.ix.URL()+"/api/v1/providers?limit=1", &page)
	require.NotNil(t, page.Next)
	txs := registryHistory(t, f)

	requests := map[string][]string{
		"/api/v1/status":              {""},
		"/api/v1/providers":           {"", "?model=1&attested=true&sort=price", "?limit=1&cursor=" + *page.Next, "?max_price=0.2&sort=stake&order=asc", "?status=jailed", "?sort=uptime", "?sort=bad", "?limit=0", "?model=nope", "?cursor=zz"},
		"/api/v1/providers/{address}": {provider, f.n.ProviderOf(f.w.Bob).StringRaw(), "0:xyz", f.w.Channel.String()},
		"/api/v1/models":              {""},
		"/api/v1/channels":            {"", "?provider=" + provider, "?provider=nonsense"},
		"/api/v1/channels/{address}":  {f.w.Channel.String(), f.w.Coop.StringRaw(), f.w.Stray.StringRaw(), provider},
		"/api/v1/oracles":             {""},
		"/api/v1/oracles/{address}":   {f.w.Oracles[0].Address().String(), f.w.Oracles[3].Address().StringRaw(), provider, "0:xyz"},
		"/api/v1/stats":               {""},
		"/api/v1/stats/series":        {"", "?interval=day&points=7", "?interval=hour&points=3", "?interval=week", "?points=-1"},
		"/api/v1/tx/{hash}":           {txs[0], txs[len(txs)/2], strings.Repeat("0", 64), "abc"},
	}
	for _, ch := range chans.Channels {
		requests["/api/v1/channels/{address}"] = append(requests["/api/v1/channels/{address}"], ch.Address.Raw)
	}
	require.Len(t, requests, len(paths), "every documented path is requested, and only those")
	statuses := map[string]bool{}
	for path, variants := range requests {
		op := paths[path].(map[string]any)["get"].(map[string]any)
		responses := op["responses"].(map[string]any)
		for _, v := range variants {
			url := f.ix.URL() + path
			switch {
			case strings.Contains(path, "{"):
				url = f.ix.URL() + path[:strings.Index(path, "{")] + v
			default:
				url += v
			}
			resp, err := http.Get(url)
			require.NoError(t, err)
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			require.NoError(t, err)
			require.Equal(t, "application/json", resp.Header.Get("Content-Type"), url)
			r, ok := responses[strconv.Itoa(resp.StatusCode)].(map[string]any)
			require.True(t, ok, "%s answered %d, which the document does not list", url, resp.StatusCode)
			statuses[strconv.Itoa(resp.StatusCode)] = true
			schema := r["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
			var value any
			require.NoError(t, json.Unmarshal(body, &value), url)
			if errs := indexertest.ValidateSchema(schemas, schema, value, "$"); len(errs) > 0 {
				sort.Strings(errs)
				t.Errorf("%s (%d) does not match the document:\n  %s", url, resp.StatusCode, strings.Join(errs, "\n  "))
			}
		}
	}
	require.True(t, statuses["200"] && statuses["400"] && statuses["404"], "statuses seen: %v", statuses)
}
