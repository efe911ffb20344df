package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/indexer/api"
)

// TestIndexerKillNineE2E: paid traffic makes a history of claims; an indexer started on it
// (small pages, one worker: many batches) is killed with SIGKILL three times in the middle of its
// ingestion and restarted each time. Once caught up it holds exactly what the network's own
// indexer (never killed) holds, and exactly the transactions the chain has: nothing missing,
// nothing doubled.
func TestIndexerKillNineE2E(t *testing.T) {
	n, ctx := startNet(t, func(c *demo.Config) {
		// no uptime roots during the test: the registry's history stays still while indexers compare
		c.OracleArgs = []string{"--epoch", "3600s"}
		// a claim whenever something is unclaimed, five times a second: a long history
		c.Providers[0].SettleInterval = 200 * time.Millisecond
	})
	p := n.Providers[0]

	// Paid traffic: two clients, each answer claimed within 200 ms (the provider's threshold is
	// one nanoTON), so every channel gets a claim cascade every few blocks.
	var wg sync.WaitGroup
	for _, seed := range []string{"ix-a", "ix-b"} {
		c := payingClient(t, ctx, n, p, seed, "2")
		wg.Add(1)
		go func() {
			defer wg.Done()
			deadline := time.Now().Add(8 * time.Second)
			for i := 0; time.Now().Before(deadline); i++ {
				c.Chat(chatBody(fmt.Sprintf("And God said %d", i), 6, false))
				time.Sleep(150 * time.Millisecond)
			}
		}()
	}
	wg.Wait()
	// Every claim landed: the provider holds nothing unclaimed (its metric would say; the chain is
	// simpler: wait for the channels' paid totals to stop moving).
	require.NoError(t, p.Stop(30*time.Second))
	want := chainTransactions(t, ctx, n)
	t.Logf("the chain holds %d transactions of the registry, providers and channels", want)

	// The victim reads the chain as a remote indexer does, 5 ms a call away: its ingestion then
	// lasts long enough for a kill to land inside it on a machine however busy.
	rpc, err := url.Parse(n.RPC)
	require.NoError(t, err)
	toRPC := httputil.NewSingleHostReverseProxy(rpc)
	remote := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(5 * time.Millisecond)
		toRPC.ServeHTTP(w, r)
	}))
	t.Cleanup(remote.Close)
	listen := freeAddr(t)
	victimDir := filepath.Join(t.TempDir(), "victim")
	victim := n.IndexerProc("indexer-victim", victimDir, listen, "--page-size", "2", "--workers", "1", "--poll", "200ms", "--rpc", remote.URL)
	url := "http://" + listen
	killsMidway, restarts := 0, 0
	for kills := 0; kills < 3; {
		require.NoError(t, victim.Start(ctx))
		target := want * (kills + 1) / 4
		// poll without pause: the ingestion is quick, the kill must land inside it
		var st api.StatusView
		deadline := time.Now().Add(time.Minute)
		for demo.GetJSON(ctx, url+"/api/v1/status", &st) != nil || (st.Transactions < target && !st.Synced) {
			require.True(t, time.Now().Before(deadline), "the victim ingests nothing")
		}
		victim.Kill()
		if st.Transactions >= want && killsMidway == 0 {
			// It caught up before its API answered (a busy machine): start again on an empty
			// store, so that the first kill lands inside an ingestion.
			restarts++
			require.Less(t, restarts, 10, "the victim always caught up before the first kill")
			require.NoError(t, os.RemoveAll(victimDir))
			continue
		}
		if st.Transactions < want {
			killsMidway++
		}
		kills++
		t.Logf("kill -9 %d: at %d of %d transactions", kills, st.Transactions, want)
	}
	require.Positive(t, killsMidway, "at least one kill in the middle of the ingestion")
	require.NoError(t, victim.Start(ctx))
	t.Cleanup(func() { _ = victim.Stop(20 * time.Second) })

	ref := n.ExplorerURL
	var vs, rs api.StatusView
	// The chain may still grow a little (a last cascade): both must hold what it holds now.
	eventually(t, "both indexers caught up with the chain", time.Minute, func() bool {
		return demo.GetJSON(ctx, url+"/api/v1/status", &vs) == nil && demo.GetJSON(ctx, ref+"/api/v1/status", &rs) == nil &&
			vs.Synced && rs.Synced && vs.Transactions == rs.Transactions && vs.Transactions == countTransactions(t, ctx, n)
	})
	if vs.Transactions != want {
		t.Logf("the chain grew from %d to %d transactions during the test", want, vs.Transactions)
	}
	require.Equal(t, rs.Accounts, vs.Accounts)
	require.Equal(t, rs.Failed, vs.Failed)
	require.Equal(t, rs.Bounced, vs.Bounced)
	require.Equal(t, rs.UnknownBodies, vs.UnknownBodies)
	require.Zero(t, vs.Mismatches, "the replayed states equal the contracts' storage")

	var vstats, rstats api.StatsView
	require.NoError(t, demo.GetJSON(ctx, url+"/api/v1/stats", &vstats))
	require.NoError(t, demo.GetJSON(ctx, ref+"/api/v1/stats", &rstats))
	require.Equal(t, rstats.Total, vstats.Total, "claims, tokens, paid, fees")
	require.Positive(t, vstats.Total.Claims)

	var list struct {
		Channels []struct {
			Address api.Addr `json:"address"`
		} `json:"channels"`
	}
	require.NoError(t, demo.GetJSON(ctx, url+"/api/v1/channels", &list))
	require.Len(t, list.Channels, 2)
	for _, ch := range list.Channels {
		var v, r api.ChannelDetail
		require.NoError(t, demo.GetJSON(ctx, url+"/api/v1/channels/"+ch.Address.Raw, &v))
		require.NoError(t, demo.GetJSON(ctx, ref+"/api/v1/channels/"+ch.Address.Raw, &r))
		require.Equal(t, txHashes(r.ClaimList), txHashes(v.ClaimList), "every claim once, in order")
		require.Equal(t, r.Paid, v.Paid)
		a, err := address.ParseRawAddr(ch.Address.Raw)
		require.NoError(t, err)
		st, err := contracts.ChannelClient{Chain: n.Chain, Address: a}.State(ctx)
		require.NoError(t, err)
		require.Equal(t, st.Paid.Nano().String(), v.Paid.Nano, "the channel's paid total on-chain")
		require.Len(t, v.ClaimList, len(r.ClaimList))
	}
}

// chainTransactions counts the transactions of the registry and of every Provider and Channel
// contract, read from the chain itself.
func chainTransactions(t *testing.T, ctx context.Context, n *demo.Network) int {
	t.Helper()
	var st api.StatusView
	total := 0
	// The network's indexer names the accounts, the chain gives their transactions; the last
	// cascades may still be landing: wait until both agree.
	eventually(t, "the network's indexer holding the chain's transactions", time.Minute, func() bool {
		if demo.GetJSON(ctx, n.ExplorerURL+"/api/v1/status", &st) != nil || !st.Synced {
			return false
		}
		total = countTransactions(t, ctx, n)
		return st.Transactions == total
	})
	return total
}

// countTransactions counts the transactions of the registry and of every Provider and Channel
// contract on the chain (the channels as the network's indexer lists them).
func countTransactions(t *testing.T, ctx context.Context, n *demo.Network) int {
	accounts := []*address.Address{n.Registry}
	for _, p := range n.Providers {
		accounts = append(accounts, p.Contract)
	}
	var list struct {
		Channels []struct {
			Address api.Addr `json:"address"`
		} `json:"channels"`
	}
	require.NoError(t, demo.GetJSON(ctx, n.ExplorerURL+"/api/v1/channels", &list))
	for _, ch := range list.Channels {
		a, err := address.ParseRawAddr(ch.Address.Raw)
		require.NoError(t, err)
		accounts = append(accounts, a)
	}
	total := 0
	for _, a := range accounts {
		// pages newest first, each starting (inclusive) at the previous page's oldest one's predecessor
		var lt uint64
		var hash []byte
		for {
			txs, err := n.Chain.GetTransactions(ctx, a, 100, lt, hash)
			require.NoError(t, err)
			total += len(txs)
			if len(txs) == 0 || txs[len(txs)-1].PrevTxLT == 0 {
				break
			}
			last := txs[len(txs)-1]
			lt, hash = last.PrevTxLT, last.PrevTxHash
		}
	}
	return total
}

func txHashes(cs []api.ClaimEntry) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Tx)
	}
	return out
}

func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := demo.FreePort()
	require.NoError(t, err)
	return fmt.Sprintf("127.0.0.1:%d", port)
}
