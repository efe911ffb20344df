package client_test

import (
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/uptime"
)

// oracleAPI serves an oracle's uptime table of one epoch the way the oracle daemon's API does
// (docs/PROTOCOL.md "Oracle HTTP API": GET /api/v1/epochs and /api/v1/epochs/{n}).
func oracleAPI(t *testing.T, oracle string, table *uptime.Table) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+uptime.PathEpochs, func(w http.ResponseWriter, r *http.Request) {
		openai.WriteJSON(w, http.StatusOK, uptime.EpochsResponse{Oracle: oracle, EpochSeconds: 3600, Epochs: []uptime.EpochSummary{{Epoch: table.Epoch}}})
	})
	mux.HandleFunc("GET "+uptime.PathEpoch, func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("epoch") != strconv.Itoa(int(table.Epoch)) {
			http.NotFound(w, r)
			return
		}
		resp := uptime.TableResponse{Oracle: oracle, Epoch: table.Epoch, ProviderCount: table.Count()}
		for _, e := range table.Entries {
			resp.Entries = append(resp.Entries, e.ToJSON(table.Epoch))
		}
		openai.WriteJSON(w, http.StatusOK, resp)
	})
	s := httptest.NewServer(mux)
	t.Cleanup(s.Close)
	return s.URL
}

// The oracles' uptime tables rank providers the client has not measured: a table is used only when
// it is the one its oracle committed on-chain.
func TestOracleUptimeRanksUnmeasuredProviders(t *testing.T) {
	n := clienttest.NewNet(t)
	flaky := n.StartProvider(clienttest.ProviderOptions{Name: "flaky", Prompt: clienttest.PromptPrice, Completion: clienttest.CompletionPrice})
	steady := n.StartProvider(clienttest.ProviderOptions{Name: "steady", Prompt: clienttest.PromptPrice, Completion: clienttest.CompletionPrice})
	table, err := uptime.Build(7, []uptime.Entry{
		{Provider: flaky.Contract, ProbesOK: 1, ProbesTotal: 4, LatencyP50Ms: 10, LatencyP90Ms: 20},
		{Provider: steady.Contract, ProbesOK: 4, ProbesTotal: 4, LatencyP50Ms: 30, LatencyP90Ms: 40},
	})
	require.NoError(t, err)
	root := table.Root()
	plan, err := n.Oracle.PlanUptimeRoot(n.Ctx, ops.UptimeRootInput{Epoch: 7, Root: root[:], ProviderCount: table.Count()})
	require.NoError(t, err)
	_, err = n.Oracle.SendUptimeRoot(n.Ctx, plan)
	require.NoError(t, err)
	honest := oracleAPI(t, n.Oracle.Address().StringRaw(), table)
	// A second API claims to be the same oracle with a table it never committed.
	forged, err := uptime.Build(7, []uptime.Entry{{Provider: flaky.Contract, ProbesOK: 100, ProbesTotal: 100}, {Provider: steady.Contract, ProbesTotal: 100}})
	require.NoError(t, err)
	liar := oracleAPI(t, n.Oracle.Address().StringRaw(), forged)

	e := newEnv(t, n, 10, nil)
	c, err := client.New(client.Config{Chain: n.Chain, Registry: n.Registry, Payer: e.payer, Clock: n.OpsClock(), Oracles: []string{liar, honest}})
	require.NoError(t, err)
	require.NoError(t, c.Refresh(n.Ctx))
	for _, p := range c.Providers() {
		require.NotNil(t, p.Chain.Uptime, "%s", p.ID)
		require.Equal(t, 1, p.Chain.Uptime.Oracles, "only the committed table counts")
		st, _ := c.Stats(p)
		if p.ID == flaky.Contract.String() {
			require.Equal(t, 0.25, st.OracleUptime)
		} else {
			require.Equal(t, 1.0, st.OracleUptime)
		}
	}
	e.c = c
	a := e.chat(hello)
	require.True(t, a.Provider.Chain.Address.Equals(steady.Contract), "same prices: the steadier provider first")
}
