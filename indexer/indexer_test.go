package indexer_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
)

// The scenario of every operation is built once per test binary on a block-mode devnet (the way
// daemons see the chain) and indexed by a real indexer; the tests below read it.

type fixture struct {
	n  *indexertest.Net
	w  *indexertest.World
	ix *indexer.Indexer
}

var (
	fixtureOnce sync.Once
	shared      *fixture
	sharedErr   error
)

// world runs the scenario and an indexer over it (once), and waits until the indexer caught up.
func world(t *testing.T) *fixture {
	t.Helper()
	fixtureOnce.Do(func() {
		ft := &onceT{TB: t}
		defer func() {
			if r := recover(); r != nil && r != errOnceFailed {
				panic(r)
			}
		}()
		n := indexertest.New(ft, indexertest.Options{BlockInterval: 10 * time.Millisecond})
		w := indexertest.Scenario(n)
		ix := startIndexer(ft, n, w.Registry, ft.tempDir())
		shared = &fixture{n: n, w: w, ix: ix}
	})
	if shared == nil {
		t.Fatalf("the shared scenario failed: %v", sharedErr)
	}
	return shared
}

// onceT lets the shared fixture outlive the first test that builds it: cleanups run at the end
// of the test binary (never), and a failure is recorded for every test that needs the fixture.
type onceT struct {
	testing.TB
}

var errOnceFailed = fmt.Errorf("fixture failed")

func (o *onceT) Fatal(args ...any) {
	sharedErr = fmt.Errorf("%s", fmt.Sprint(args...))
	panic(errOnceFailed)
}

func (o *onceT) Fatalf(format string, args ...any) {
	sharedErr = fmt.Errorf(format, args...)
	panic(errOnceFailed)
}

// Cleanup defers f to the end of the test binary (TestMain).
func (o *onceT) Cleanup(f func()) { cleanups = append(cleanups, f) }

func (o *onceT) tempDir() string {
	dir, err := os.MkdirTemp("", "indexer-test-")
	if err != nil {
		o.Fatal(err)
	}
	cleanups = append(cleanups, func() { _ = os.RemoveAll(dir) })
	return dir
}

var cleanups []func()

func TestMain(m *testing.M) {
	code := m.Run()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	os.Exit(code)
}

func startIndexer(t testing.TB, n *indexertest.Net, registry *address.Address, dir string) *indexer.Indexer {
	t.Helper()
	cfg := indexer.DefaultConfig()
	cfg.Chain, cfg.Now = n.D.Client(), n.D.Now
	cfg.Registry, cfg.DataDir, cfg.Listen = registry.String(), dir, "127.0.0.1:0"
	cfg.Poll, cfg.MetricsListen = 20*time.Millisecond, "127.0.0.1:0"
	ix, err := indexer.New(context.Background(), cfg, slog.New(slog.DiscardHandler), indexer.NewMetrics())
	if err != nil {
		t.Fatal(err)
	}
	if err := ix.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ix.Stop(context.Background()) })
	deadline := time.Now().Add(30 * time.Second)
	for !ix.Synced() {
		if time.Now().After(deadline) {
			t.Fatal("indexer did not catch up in 30 s")
		}
		time.Sleep(10 * time.Millisecond)
	}
	return ix
}

// getJSON fetches url into v and returns the status.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if v != nil {
		require.NoError(t, json.Unmarshal(b, v), "body: %s", b)
	}
	return resp.StatusCode
}

// TestViewsMatchGetters: after a scenario exercising every operation, the indexer's provider,
// channel and oracle views say what the contracts' get-methods say.
func TestViewsMatchGetters(t *testing.T) {
	f := world(t)
	ctx := context.Background()
	cl := f.n.D.Client()
	now := uint32(f.n.D.Now().Unix())

	var status api.StatusView
	require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/status", &status))
	require.Zero(t, status.Mismatches, "replayed states differed from the contracts' storage")
	require.Equal(t, f.w.UnknownBodies, status.UnknownBodies)
	require.True(t, status.Synced)
	require.Equal(t, 2, status.Accounts.Providers)
	require.Equal(t, 3, status.Accounts.Channels)

	for _, owner := range []*indexertest.Actor{f.w.Alice, f.w.Bob} {
		addr := f.n.ProviderOf(owner)
		var v api.ProviderDetail
		require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/providers/"+addr.String(), &v))
		pc := contracts.ProviderClient{Chain: cl, Address: addr}
		data, err := pc.Data(ctx)
		require.NoError(t, err)
		require.Equal(t, data.Owner.StringRaw(), v.Owner.Raw)
		require.Equal(t, data.Status.String(), v.Status)
		require.Equal(t, data.EffectiveStatus.String(), v.EffectiveStatus)
		require.Equal(t, data.Stake.Nano().String(), v.Stake.Nano)
		require.Equal(t, data.UnbondingAmount.Nano().String(), v.Unbonding.Nano)
		if data.UnbondingAmount.Nano().Sign() > 0 {
			require.Equal(t, int64(data.UnlockAt), *v.UnlockAt)
		}
		if data.JailedUntil != 0 {
			require.Equal(t, int64(data.JailedUntil), *v.JailedUntil)
		}
		params, err := pc.Params(ctx)
		require.NoError(t, err)
		require.Equal(t, params.MinStake.Nano().String(), v.Params.MinStake.Nano)
		require.Equal(t, params.UnbondingPeriod, v.Params.UnbondingPeriod)
		require.Equal(t, params.Treasury.StringRaw(), v.Params.Treasury.Raw)

		profile, err := pc.Profile(ctx)
		require.NoError(t, err)
		if profile.Endpoint != "" {
			require.Equal(t, profile.Endpoint, *v.Endpoint)
		}
		require.Len(t, v.Models, len(profile.Prices))
		for i, p := range profile.Prices {
			require.Equal(t, p.ModelID, v.Models[i].ModelID)
			require.Equal(t, p.PromptPricePerMillion.Nano().String(), v.Models[i].Prompt.Nano)
			require.Equal(t, p.CompletionPricePerMillion.Nano().String(), v.Models[i].Completion.Nano)
		}

		att, err := pc.Attestation(ctx)
		require.NoError(t, err)
		require.Equal(t, att.Attested, v.Attestation.Attested, "attested")
		require.Equal(t, att.Round, v.Attestation.Round)
		if att.ValidUntil != 0 {
			require.Equal(t, hex.EncodeToString(att.MeasurementHash), v.Attestation.Claim.Measurement)
			require.Equal(t, hex.EncodeToString(att.EvidenceDigest), v.Attestation.Claim.EvidenceDigest)
			require.Equal(t, hex.EncodeToString(att.TLSKeyHash), v.Attestation.Claim.TLSKeyHash)
			require.Equal(t, int64(att.ValidUntil), *v.Attestation.ValidUntil)
			require.Equal(t, int64(att.AttestedAt), *v.Attestation.AttestedAt)
			claim, _ := contracts.ClaimHash(att.MeasurementHash, att.EvidenceDigest, att.TLSKeyHash)
			// The oracles listed are the live votes for the confirmed claim, held under the
			// registry's epoch, each named by the oracle holding its slot.
			reg, err := contracts.RegistryClient{Chain: cl, Address: f.w.Registry}.Data(ctx)
			require.NoError(t, err)
			var want []string
			for _, vote := range att.Votes {
				if hex.EncodeToString(vote.ClaimHash) == hex.EncodeToString(claim) && vote.ValidUntil > now && att.OracleEpoch == reg.OracleEpoch {
					want = append(want, fmt.Sprintf("%d@%d", vote.Slot, vote.ValidUntil))
				}
			}
			var got []string
			for _, o := range v.Attestation.Oracles {
				got = append(got, fmt.Sprintf("%d@%d", o.Slot, o.ValidUntil))
				require.NotNil(t, o.Oracle)
				lookup, err := contracts.RegistryClient{Chain: cl, Address: f.w.Registry}.Oracle(ctx, address.MustParseRawAddr(o.Oracle.Raw))
				require.NoError(t, err)
				require.True(t, lookup.Found)
				require.Equal(t, lookup.Slot, o.Slot)
			}
			sort.Strings(want)
			sort.Strings(got)
			require.Equal(t, want, got)
		}
		isAtt, err := pc.IsAttested(ctx)
		require.NoError(t, err)
		require.Equal(t, isAtt, v.Attestation.Attested)

		usage, err := pc.Usage(ctx)
		require.NoError(t, err)
		require.Equal(t, fmt.Sprint(usage.PromptTokens), v.Usage.PromptTokens)
		require.Equal(t, fmt.Sprint(usage.CompletionTokens), v.Usage.CompletionTokens)
		require.Equal(t, usage.Earned.Nano().String(), v.Usage.Earned.Nano)
		acc, err := cl.GetAccount(ctx, addr)
		require.NoError(t, err)
		require.Equal(t, acc.Balance.String(), v.Balance.Nano)
	}

	for _, ch := range []*address.Address{f.w.Channel, f.w.Coop, f.w.Stray} {
		var v api.ChannelDetail
		require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/channels/"+ch.StringRaw(), &v))
		cc := contracts.ChannelClient{Chain: cl, Address: ch}
		data, err := cc.Data(ctx)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(data.ClientKey), v.ClientKey)
		require.Equal(t, data.Provider.StringRaw(), v.Provider.Raw)
		require.Equal(t, data.PayoutTo.StringRaw(), v.PayoutTo.Raw)
		require.Equal(t, data.Treasury.StringRaw(), v.Treasury.Raw)
		require.Equal(t, data.ProtocolFeeBps, v.ProtocolFeeBps)
		require.Equal(t, data.ChallengePeriod, v.ChallengePeriod)
		st, err := cc.State(ctx)
		require.NoError(t, err)
		require.Equal(t, st.Status.String(), v.Status)
		require.Equal(t, st.CloseNonce, v.CloseNonce)
		require.Equal(t, st.AcceptedAmount.Nano().String(), v.Accepted.Amount.Nano)
		require.Equal(t, fmt.Sprint(st.AcceptedPrompt), v.Accepted.PromptTokens)
		require.Equal(t, fmt.Sprint(st.AcceptedCompletion), v.Accepted.CompletionTokens)
		require.Equal(t, st.Paid.Nano().String(), v.Paid.Nano)
		require.Equal(t, st.Owed.Nano().String(), v.Owed.Nano)
		require.Equal(t, st.Available.Nano().String(), v.Available.Nano)
		if st.RefundTo != nil {
			require.Equal(t, st.RefundTo.StringRaw(), v.Closing.RefundTo.Raw)
			require.Equal(t, int64(st.CloseDeadline), v.Closing.Deadline)
		} else {
			require.Nil(t, v.Closing)
		}
	}

	var os api.OracleSet
	require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/oracles", &os))
	rc := contracts.RegistryClient{Chain: cl, Address: f.w.Registry}
	oracles, err := rc.Oracles(ctx)
	require.NoError(t, err)
	require.Len(t, os.Oracles, len(oracles))
	bySlot := map[uint8]contracts.Oracle{}
	for _, o := range oracles {
		bySlot[o.Slot] = o
	}
	roots := map[string]api.UptimeRoot{}
	for _, r := range os.UptimeRoots {
		roots[r.Oracle.Raw] = r
	}
	commitments := 0
	for _, o := range append(append([]api.OracleView{}, os.Oracles...), os.Removed...) {
		commitments += o.Commitments
	}
	require.Equal(t, f.w.UptimeCommits, commitments, "every accepted SubmitUptimeRoot, removed oracles' included")
	for _, o := range os.Oracles {
		want := bySlot[o.Slot]
		require.Equal(t, want.Wallet.StringRaw(), o.Wallet.Raw)
		require.Equal(t, hex.EncodeToString(want.PublicKey), o.PublicKey)
		// The latest root: get_oracles' OracleInfo.uptime, get_uptime_root, the set's uptime_roots
		// and the oracle's page all say the same.
		lookup, err := rc.UptimeRoot(ctx, want.Wallet)
		require.NoError(t, err)
		var detail api.OracleDetail
		require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/oracles/"+o.Wallet.Friendly, &detail))
		require.True(t, detail.Current)
		require.Len(t, detail.UptimeHistory, o.Commitments)
		root, listed := roots[o.Wallet.Raw]
		require.Equal(t, lookup.Found, listed, "oracle in slot %d", o.Slot)
		require.Equal(t, want.Uptime != nil, lookup.Found)
		if !lookup.Found {
			require.Nil(t, detail.LatestRoot)
			continue
		}
		require.Equal(t, *want.Uptime, lookup.UptimeCommitment)
		for _, r := range []api.UptimeRoot{root, *detail.LatestRoot, detail.UptimeHistory[0]} {
			require.Equal(t, lookup.Epoch, r.Epoch)
			require.Equal(t, hex.EncodeToString(lookup.Root), r.Root)
			require.Equal(t, lookup.ProviderCount, r.ProviderCount)
			require.Equal(t, int64(lookup.CommittedAt), r.CommittedAt)
			require.NotNil(t, r.Tx)
			require.Equal(t, "pending", r.Table.State, "no --oracle-api: no table fetched")
		}
	}
	require.Len(t, os.Removed, 1)
	// The removed oracle's commitment left the registry with it (get_uptime_root finds none); its
	// history stays.
	gone := os.Removed[0]
	lookup, err := rc.UptimeRoot(ctx, address.MustParseRawAddr(gone.Wallet.Raw))
	require.NoError(t, err)
	require.False(t, lookup.Found)
	var goneDetail api.OracleDetail
	require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/oracles/"+gone.Wallet.Raw, &goneDetail))
	require.False(t, goneDetail.Current)
	require.NotNil(t, goneDetail.RemovedAt)
	require.Nil(t, goneDetail.LatestRoot)
	require.Len(t, goneDetail.UptimeHistory, 1)
	require.Equal(t, 404, getJSON(t, f.ix.URL()+"/api/v1/oracles/"+f.w.Alice.Address().String(), nil))
	rd, err := rc.Data(ctx)
	require.NoError(t, err)
	require.Equal(t, rd.OracleEpoch, os.Epoch)
	rp, err := rc.Params(ctx)
	require.NoError(t, err)
	require.Equal(t, rp.OracleQuorum, os.Quorum)
	ms, err := rc.Measurements(ctx)
	require.NoError(t, err)
	require.Len(t, os.Measurements, len(ms))
	for i, m := range ms {
		require.Equal(t, hex.EncodeToString(m.Hash), os.Measurements[i].Hash)
		require.Equal(t, m.Kind.String(), os.Measurements[i].Kind)
	}

	var models api.ModelList
	require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/models", &models))
	catalog, err := rc.Models(ctx)
	require.NoError(t, err)
	require.Len(t, models.Models, len(catalog))
	for i, m := range catalog {
		require.Equal(t, m.ID, models.Models[i].ID)
		require.Equal(t, m.Name, models.Models[i].Name)
		require.Equal(t, hex.EncodeToString(m.WeightsHash), models.Models[i].WeightsHash)
	}
}

// TestDecodesEveryMessageKind: the scenario's transactions, as the API shows them, hold every
// message of the three contracts decoded by name, the bounces with the message they return, the
// refusals with the contracts' exit codes, and the unknown bodies kept raw.
func TestDecodesEveryMessageKind(t *testing.T) {
	f := world(t)
	seen := map[string]bool{}
	bounced := map[string]bool{}
	exits := map[string]bool{}
	unknown := 0
	accounts := []*address.Address{f.w.Registry, f.n.ProviderOf(f.w.Alice), f.n.ProviderOf(f.w.Bob), f.w.Channel, f.w.Coop, f.w.Stray}
	for _, a := range accounts {
		kind := "providers"
		switch {
		case a.Equals(f.w.Registry):
			kind = ""
		case a.Equals(f.w.Channel) || a.Equals(f.w.Coop) || a.Equals(f.w.Stray):
			kind = "channels"
		}
		var hashes []string
		if kind == "" {
			// The registry has no page of its own: every one of its transactions, by hash.
			hashes = registryHistory(t, f)
		} else {
			var detail struct {
				Transactions []api.TxSummary `json:"transactions"`
			}
			require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/"+kind+"/"+a.StringRaw(), &detail))
			for _, s := range detail.Transactions {
				hashes = append(hashes, s.Hash)
			}
		}
		for _, h := range hashes {
			var d api.TxDetail
			require.Equal(t, 200, getJSON(t, f.ix.URL()+"/api/v1/tx/"+h, &d))
			tx := d.Transaction
			msgs := append([]api.MsgView{}, tx.Out...)
			if tx.In != nil {
				msgs = append(msgs, *tx.In)
			}
			for _, m := range msgs {
				if m.Name != nil && *m.Name != "Bounce" {
					seen[*m.Name] = true
					require.NotNil(t, m.Fields, "%s decoded without fields", *m.Name)
				}
				if m.Unknown {
					unknown++
					require.NotNil(t, m.Raw)
				}
				if m.BounceOf != nil && m.BounceOf.Name != nil {
					bounced[*m.BounceOf.Name] = true
				}
			}
			if tx.ExitName != nil && !tx.Success {
				exits[*tx.ExitName] = true
			}
		}
	}
	var missing []string
	for _, m := range contracts.Messages() {
		if m.MessageName() == "Voucher" || m.MessageName() == "CloseRequest" {
			continue // signed structures, not messages
		}
		if !seen[m.MessageName()] {
			missing = append(missing, m.MessageName())
		}
	}
	require.Empty(t, missing, "message kinds never decoded")
	for _, b := range []string{"ForwardedJail", "ForwardedOracleVote", "ChannelUsage"} {
		require.True(t, bounced[b], "no bounce of %s decoded (got %v)", b, bounced)
	}
	for _, e := range []string{"NotGovernance", "WrongOpcode", "UnbondingLocked", "NotOwner", "NotOracle", "MeasurementNotAllowed",
		"ProviderJailed", "VoucherNotNewer", "ChallengeNotOver", "NotPayee", "UptimeEpochNotNewer"} {
		require.True(t, exits[e], "no failed transaction with %s (got %v)", e, exits)
	}
	require.Equal(t, f.w.UnknownBodies, unknown)
}

func registryHistory(t *testing.T, f *fixture) []string {
	t.Helper()
	txs, err := f.n.D.Transactions(f.w.Registry, 1000, 0, nil)
	require.NoError(t, err)
	var out []string
	for _, tx := range txs {
		out = append(out, strings.ToLower(hex.EncodeToString(tx.Hash)))
	}
	return out
}

// TestServeScenario keeps the scenario's indexer serving for a person to look at (and for the
// README's screenshot): INDEXER_SERVE=10m go test ./indexer -run TestServeScenario -v.
func TestServeScenario(t *testing.T) {
	d, err := time.ParseDuration(os.Getenv("INDEXER_SERVE"))
	if err != nil {
		t.Skip("set INDEXER_SERVE to a duration to serve the scenario's explorer")
	}
	f := world(t)
	t.Logf("explorer at %s (metrics at %s), serving for %v", f.ix.URL(), f.ix.OpsURL(), d)
	time.Sleep(d)
}

// TestPagesRender: every kind of page renders from the scenario's data (the browser test looks at
// them in a real browser; this one needs none).
func TestPagesRender(t *testing.T) {
	f := world(t)
	var page api.ProviderPage
	getJSON(t, f.ix.URL()+"/api/v1/providers", &page)
	paths := []string{"/", "/providers", "/providers?model=1&attested=true&sort=price", "/models", "/oracles"}
	for _, p := range page.Providers {
		paths = append(paths, "/providers/"+p.Address.Raw, "/providers/"+p.Address.Friendly)
	}
	for _, c := range []*address.Address{f.w.Channel, f.w.Coop, f.w.Stray} {
		var d api.ChannelDetail
		getJSON(t, f.ix.URL()+"/api/v1/channels/"+c.StringRaw(), &d)
		paths = append(paths, "/channels/"+c.StringRaw())
		for _, tx := range d.Transactions {
			paths = append(paths, "/tx/"+tx.Hash)
		}
	}
	for _, h := range registryHistory(t, f) {
		paths = append(paths, "/tx/"+h)
	}
	for _, o := range f.w.Oracles {
		paths = append(paths, "/oracles/"+o.Address().StringRaw(), "/search?q="+o.Address().String())
	}
	for _, p := range paths {
		resp, err := http.Get(f.ix.URL() + p)
		require.NoError(t, err)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "%s: %s", p, b)
		require.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
		require.NotContains(t, string(b), "failed to render", p)
	}
	for p, want := range map[string]int{"/providers/0:zz": 400, "/providers/" + f.w.Channel.StringRaw(): 404, "/tx/00": 400,
		"/tx/" + strings.Repeat("ab", 32): 404, "/nowhere": 404, "/providers?sort=size": 400, "/oracles/" + f.w.Alice.Address().StringRaw(): 404} {
		resp, err := http.Get(f.ix.URL() + p)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, want, resp.StatusCode, p)
	}
}

// TestOpsEndpoints: /healthz is healthy once the indexer follows, and /metrics reports the ingest
// (transactions, unknown bodies, lag, accounts) and the API's latency by route.
func TestOpsEndpoints(t *testing.T) {
	f := world(t)
	resp, err := http.Get(f.ix.OpsURL() + "/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	getJSON(t, f.ix.URL()+"/api/v1/stats", nil)
	resp, err = http.Get(f.ix.OpsURL() + "/metrics")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(b)
	var status api.StatusView
	getJSON(t, f.ix.URL()+"/api/v1/status", &status)
	for _, want := range []string{
		fmt.Sprintf("cocoon_indexer_ingested_transactions_total %d", status.Transactions),
		fmt.Sprintf("cocoon_indexer_unknown_bodies_total %d", status.UnknownBodies),
		"cocoon_indexer_followed_accounts 6",
		"cocoon_indexer_ingest_lag_seconds 0",
		"cocoon_indexer_state_mismatches_total 0",
		`cocoon_indexer_api_request_duration_seconds_count{code="200",route="/api/v1/stats"}`,
		"cocoon_indexer_up 1",
	} {
		require.Contains(t, metrics, want)
	}
}
