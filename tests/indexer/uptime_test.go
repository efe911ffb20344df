// Package indexer_test runs the indexer with the oracle daemons it reads uptime from (a daemon's
// tests may not import another daemon, so this lives under tests/).
package indexer_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/oracle"
	"github.com/cocoon-go/cocoon/uptime"
)

// TestUptimeFromOracles: three real oracle daemons (oracle.New, 2 s epochs) on a block-mode devnet
// probe two providers, one up and one down, and commit their tables' roots. The indexer reads two
// oracles' APIs directly and the third's through a proxy that raises the down provider's successful
// probes in every table it serves. The honest tables verify against the roots on-chain and make
// the providers' uptime (1 and 0, with latency for the one that answers); every tampered table is
// refused, counted, and contributes nothing; the API's answers match the OpenAPI document and the
// explorer shows them.
func TestUptimeFromOracles(t *testing.T) {
	n := indexertest.New(t, indexertest.Options{BlockInterval: 10 * time.Millisecond})
	reg := n.DeployRegistry()
	n.Succeeded(n.Gover(contracts.AddMeasurement{QueryID: n.QueryID(), MeasurementHash: indexertest.SimMeasurement(), Kind: contracts.MeasurementSim}))
	up, down := n.SimProvider(), n.SimProvider()
	owners := map[string]*indexertest.Actor{"up": n.Actor("uptime-up", "50"), "down": n.Actor("uptime-down", "50")}
	for name, p := range map[string]*indexertest.SimProvider{"up": up, "down": down} {
		n.Succeeded(n.Register(owners[name], "12"))
		endpoint, err := contracts.TextCell(p.URL, contracts.MaxEndpointBytes)
		require.NoError(t, err)
		n.Succeeded(n.Owner(owners[name], contracts.SetEndpoint{QueryID: n.QueryID(), Endpoint: endpoint}))
	}
	down.Stop()
	upAddr, downAddr := n.ProviderOf(owners["up"]), n.ProviderOf(owners["down"])

	var oracles []*oracle.Oracle
	var wallets []*address.Address
	for _, name := range []string{"a", "b", "c"} {
		o, w := startOracle(t, n, name)
		oracles, wallets = append(oracles, o), append(wallets, w)
	}
	// The third oracle's API as the indexer sees it: every table with the down provider boosted.
	target, err := url.Parse("http://" + oracles[2].APIAddr())
	require.NoError(t, err)
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.ModifyResponse = func(resp *http.Response) error {
		if !strings.Contains(resp.Request.URL.Path, "/epochs/") || resp.StatusCode != http.StatusOK {
			return nil
		}
		var tr uptime.TableResponse
		if err := json.NewDecoder(resp.Body).Decode(&tr); err != nil {
			return err
		}
		resp.Body.Close()
		for i := range tr.Entries {
			if tr.Entries[i].Provider == downAddr.StringRaw() {
				tr.Entries[i].ProbesOK = tr.Entries[i].ProbesTotal
			}
		}
		b, _ := json.Marshal(tr)
		resp.Body, resp.ContentLength = io.NopCloser(strings.NewReader(string(b))), int64(len(b))
		resp.Header.Del("Content-Length")
		return nil
	}
	tampered := httptest.NewServer(proxy)
	t.Cleanup(tampered.Close)

	cfg := indexer.DefaultConfig()
	cfg.Chain, cfg.Now = n.D.Client(), n.D.Now
	cfg.Registry, cfg.DataDir, cfg.Listen, cfg.MetricsListen = reg.String(), t.TempDir(), "127.0.0.1:0", "127.0.0.1:0"
	cfg.Poll, cfg.OraclePoll = 20*time.Millisecond, 100*time.Millisecond
	cfg.OracleAPIs = []string{"http://" + oracles[0].APIAddr(), "http://" + oracles[1].APIAddr(), tampered.URL}
	ix, err := indexer.New(context.Background(), cfg, slog.New(slog.DiscardHandler), indexer.NewMetrics())
	require.NoError(t, err)
	require.NoError(t, ix.Start(context.Background()))
	t.Cleanup(func() { _ = ix.Stop(context.Background()) })
	base := ix.URL()

	// Two verified tables of each honest oracle holding both providers, two refused of the third.
	var set api.OracleSet
	deadline := time.Now().Add(60 * time.Second)
	for {
		require.Equal(t, 200, getJSON(t, base+"/api/v1/oracles", &set))
		done := len(set.Oracles) == 3
		for _, o := range set.Oracles {
			if o.Wallet.Raw == wallets[2].StringRaw() {
				done = done && o.Tables.Refused >= 2
			} else {
				done = done && o.Tables.Verified >= 2
			}
		}
		if done {
			break
		}
		require.False(t, time.Now().After(deadline), "tables not verified and refused in 60 s: %+v", set.Oracles)
		time.Sleep(100 * time.Millisecond)
	}

	// The tampered oracle: nothing verified, each commitment's table refused with the reason.
	var c api.OracleDetail
	require.Equal(t, 200, getJSON(t, base+"/api/v1/oracles/"+wallets[2].String(), &c))
	require.Zero(t, c.Tables.Verified)
	refused := 0
	for _, r := range c.UptimeHistory {
		if r.Table.State == "refused" {
			refused++
			require.NotNil(t, r.Table.Error)
			require.Contains(t, *r.Table.Error, "does not match the on-chain commitment")
			require.Zero(t, r.Table.Entries)
		}
	}
	require.GreaterOrEqual(t, refused, 2)

	// The providers' uptime: from the two honest oracles only, and what their tables say.
	var upView, downView api.ProviderDetail
	require.Equal(t, 200, getJSON(t, base+"/api/v1/providers/"+upAddr.String(), &upView))
	require.Equal(t, 200, getJSON(t, base+"/api/v1/providers/"+downAddr.String(), &downView))
	for _, v := range []api.ProviderDetail{upView, downView} {
		require.Equal(t, 2, v.Uptime.Oracles, "the refused oracle does not count")
		require.NotNil(t, v.Uptime.Day)
		require.NotNil(t, v.Uptime.MeasuredUntil)
		require.NotEmpty(t, v.UptimeEntries)
		for _, e := range v.UptimeEntries {
			require.NotEqual(t, wallets[2].StringRaw(), e.Oracle.Raw, "an entry of a refused table is shown")
			// Each entry is the oracle's own, as its proof checks against the root of that epoch.
			i := 0
			if e.Oracle.Raw == wallets[1].StringRaw() {
				i = 1
			}
			table, err := uptime.Client{BaseURL: "http://" + oracles[i].APIAddr()}.Table(n.Ctx, e.Epoch)
			require.NoError(t, err)
			var found bool
			for _, te := range table.Entries {
				if te.Provider == v.Address.Raw {
					found = true
					require.Equal(t, []uint32{te.ProbesOK, te.ProbesTotal, te.LatencyP50Ms, te.LatencyP90Ms}, []uint32{e.ProbesOK, e.ProbesTotal, e.LatencyP50, e.LatencyP90})
				}
			}
			require.True(t, found)
		}
		today := v.UptimeHistory[len(v.UptimeHistory)-1]
		require.Equal(t, 2, today.Oracles)
		require.NotZero(t, today.Probes)
	}
	require.Equal(t, 1.0, *upView.Uptime.Day)
	require.Equal(t, 1.0, *upView.Uptime.Week)
	require.Equal(t, 1.0, *upView.Uptime.Month)
	require.NotNil(t, upView.Uptime.LatencyP50)
	require.NotNil(t, upView.Uptime.LatencyP90)
	require.Equal(t, 0.0, *downView.Uptime.Day, "the boosted tables were refused")
	require.Nil(t, downView.Uptime.LatencyP50)

	// The list sorts by uptime; the status and metrics count the tables.
	var page api.ProviderPage
	require.Equal(t, 200, getJSON(t, base+"/api/v1/providers?sort=uptime", &page))
	require.Len(t, page.Providers, 2)
	require.Equal(t, upAddr.StringRaw(), page.Providers[0].Address.Raw)
	var status api.StatusView
	require.Equal(t, 200, getJSON(t, base+"/api/v1/status", &status))
	require.GreaterOrEqual(t, status.UptimeTables.Verified, 4)
	require.GreaterOrEqual(t, status.UptimeTables.Refused, 2)
	resp, err := http.Get(ix.OpsURL() + "/metrics")
	require.NoError(t, err)
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(metrics), `cocoon_indexer_uptime_tables_total{result="refused"}`)
	require.Contains(t, string(metrics), `cocoon_indexer_uptime_tables_total{result="verified"}`)

	// The answers with uptime match the OpenAPI document, and the explorer shows them.
	var doc map[string]any
	require.Equal(t, 200, getJSON(t, base+"/api/openapi.json", &doc))
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	for path, schema := range map[string]string{
		"/api/v1/providers/" + upAddr.StringRaw(): "ProviderDetail", "/api/v1/providers?sort=uptime": "ProviderPage",
		"/api/v1/oracles": "OracleSet", "/api/v1/oracles/" + wallets[0].StringRaw(): "OracleDetail", "/api/v1/status": "StatusView",
	} {
		var v any
		require.Equal(t, 200, getJSON(t, base+path, &v))
		require.Empty(t, indexertest.ValidateSchema(schemas, map[string]any{"$ref": "#/components/schemas/" + schema}, v, "$"), path)
	}
	for path, want := range map[string]string{
		"/providers/" + upAddr.StringRaw(): "100%", "/": "100%", "/oracles": "refused",
		"/oracles/" + wallets[2].StringRaw(): "does not match the on-chain commitment", "/oracles/" + wallets[0].StringRaw(): "verified",
	} {
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, path)
		require.Contains(t, string(b), want, path)
	}
	// INDEXER_SERVE=5m go test ./tests/indexer -run TestUptimeFromOracles -v keeps it serving for a person.
	if d, err := time.ParseDuration(os.Getenv("INDEXER_SERVE")); err == nil {
		t.Logf("explorer with uptime at %s/providers/%s, serving for %v", base, upAddr.StringRaw(), d)
		time.Sleep(d)
	}
}

// startOracle adds an oracle to n's registry and runs its daemon (fast probes, 2 s epochs) until the
// test ends.
func startOracle(t *testing.T, n *indexertest.Net, name string) (*oracle.Oracle, *address.Address) {
	t.Helper()
	actor := n.Actor("uptime-oracle-"+name, "50")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "keys", "oracle.key")
	key, err := keys.NewOracleKey(keyFile)
	require.NoError(t, err)
	n.Succeeded(n.Gover(contracts.AddOracle{QueryID: n.QueryID(), Wallet: actor.Address(), PublicKey: key.Public().(ed25519.PublicKey)}))
	c := oracle.DefaultConfig()
	c.Registry, c.OracleKeyFile, c.DataDir, c.Listen = n.Registry.StringRaw(), keyFile, filepath.Join(dir, "data"), "127.0.0.1:0"
	c.AllowSim, c.LogLevel = true, "warn"
	c.Refresh, c.AttestInterval, c.Tick = 200*time.Millisecond, time.Second, 40*time.Millisecond
	c.ProbeInterval, c.ProbeRetryMin, c.ProbeRetryMax, c.ProbeTimeout = 300*time.Millisecond, 100*time.Millisecond, time.Second, 3*time.Second
	c.VoteLifetime, c.RenewBefore, c.Epoch, c.TxPerMinute = 10*time.Minute, time.Minute, 2*time.Second, 6000
	c.Chain, c.ChainClock, c.Wallet, c.PollInterval = n.D.Client(), txmgr.DevnetClock(n.D.Client().(txmgr.DevnetClocked)), actor.W, 5*time.Millisecond
	o, err := oracle.New(n.Ctx, c, slog.New(slog.DiscardHandler), oracle.NewMetrics())
	require.NoError(t, err)
	require.NoError(t, o.Start(n.Ctx))
	t.Cleanup(func() { _ = o.Stop(context.Background()) })
	return o, actor.Address()
}

// getJSON fetches url into v (nil: the body is not read) and returns the status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	if v != nil {
		require.NoError(t, json.NewDecoder(resp.Body).Decode(v), url)
	}
	return resp.StatusCode
}
