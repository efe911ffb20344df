package e2e

import (
	"context"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/oracle"
)

// TestRevokedMeasurementE2E: provider-2 runs another image (another measurement) than
// provider-1. Governance revokes provider-2's measurement: the explorer shows it no longer allowed
// and the provider unable to serve (API and page) while provider-1 stays eligible; every oracle
// refuses provider-2's evidence from then on, and a restarted provider-2 (a new RA-TLS key) gets
// no vote from any of them, while the chain keeps the old claim (a confirmed attestation runs out
// by itself); the gateway, when the network has one, drops provider-2 naming the measurement and
// answers from provider-1 only.
func TestRevokedMeasurementE2E(t *testing.T) {
	n, ctx := startNet(t, func(c *demo.Config) {
		c.Providers[1].SimImage = "revoked in a test"
		c.NoGateway = false
	})
	p1, p2 := n.Providers[0], n.Providers[1]
	m1, m2 := p1.Spec.Measurement(), p2.Spec.Measurement()
	require.NotEqual(t, m1, m2)

	eventually(t, "the explorer showing both providers eligible", time.Minute, func() bool {
		return explorerProvider(t, ctx, n, p1).Eligible && explorerProvider(t, ctx, n, p2).Eligible
	})
	// Every oracle's vote for provider-2's claim is in (the quorum is two: the third comes later).
	var before *contracts.AttestationView
	eventually(t, "three votes for provider-2's claim", 30*time.Second, func() bool {
		a, err := n.Attestation(ctx, p2)
		require.NoError(t, err)
		before = a
		return a.Attested && len(a.Votes) == len(n.Oracles)
	})
	require.Equal(t, m2[:], before.MeasurementHash)
	confirmed := claimHash(t, before)

	require.NoError(t, n.Govern(ctx, contracts.RevokeMeasurement{MeasurementHash: m2[:]}))

	// The explorer: provider-2's claim is no longer allowed and it may not serve; provider-1 may.
	eventually(t, "the explorer showing provider-2's measurement revoked", 30*time.Second, func() bool {
		v := explorerProvider(t, ctx, n, p2)
		return !v.Eligible && v.Attestation.Claim != nil && !v.Attestation.Claim.MeasurementAllowed && v.Attestation.Claim.MeasurementKind == nil
	})
	v1 := explorerProvider(t, ctx, n, p1)
	require.True(t, v1.Eligible, "provider-1's measurement is still allowed")
	page := getPage(t, ctx, n.ExplorerURL+"/providers/"+p2.Contract.StringRaw())
	require.Contains(t, page, "no longer allowed")
	require.Contains(t, page, "may not serve now")
	require.Contains(t, page, hex.EncodeToString(m2[:]))

	// The oracles: each refuses provider-2's evidence (the measurement is not allowed) and still
	// accepts provider-1's.
	eventually(t, "every oracle refusing provider-2's evidence", 30*time.Second, func() bool {
		for _, o := range n.Oracles {
			v := oracleView(t, ctx, o, p2)
			if v == nil || v.Check != "refused" || !strings.Contains(v.CheckError, "measurement") {
				return false
			}
		}
		return true
	})
	for _, o := range n.Oracles {
		v := oracleView(t, ctx, o, p2)
		t.Logf("%s on provider-2: %s: %s", o.Name, v.Check, v.CheckError)
		require.Equal(t, "ok", oracleView(t, ctx, o, p1).Check, "%s still accepts provider-1", o.Name)
	}

	// A new key needs new votes: none comes. The chain keeps the claim confirmed before the
	// revocation, which the running provider no longer proves.
	restartProvider(t, ctx, p2)
	time.Sleep(5 * time.Second) // more than two of the oracles' attest intervals
	after, err := n.Attestation(ctx, p2)
	require.NoError(t, err)
	require.Equal(t, before.TLSKeyHash, after.TLSKeyHash, "no attestation of the new key")
	require.Equal(t, votesBySlot(before), votesBySlot(after), "no oracle voted again")
	for slot, v := range votesBySlot(after) {
		require.Equal(t, confirmed, v, "slot %d's vote is for the claim confirmed before the revocation", slot)
	}
	for _, o := range n.Oracles {
		v := oracleView(t, ctx, o, p2)
		require.Equal(t, "refused", v.Check, "%s: %s", o.Name, v.CheckError)
	}

	checkGatewayAvoids(t, ctx, n, p2, hex.EncodeToString(m2[:]))
}

// explorerProvider is the explorer API's view of p.
func explorerProvider(t *testing.T, ctx context.Context, n *demo.Network, p *demo.Provider) api.ProviderView {
	t.Helper()
	var v api.ProviderView
	if err := demo.GetJSON(ctx, n.ExplorerURL+"/api/v1/providers/"+p.Contract.StringRaw(), &v); err != nil {
		t.Logf("the explorer on %s: %v", p.Name, err)
	}
	return v
}

// oracleView is oracle o's view of provider p (nil: it does not know p).
func oracleView(t *testing.T, ctx context.Context, o *demo.Oracle, p *demo.Provider) *oracle.ProviderView {
	t.Helper()
	var vs []oracle.ProviderView
	require.NoError(t, demo.GetJSON(ctx, o.API+"/api/v1/providers", &vs))
	for i := range vs {
		if vs[i].Provider == p.Contract.StringRaw() {
			return &vs[i]
		}
	}
	return nil
}

func getPage(t *testing.T, ctx context.Context, url string) string {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", b)
	return string(b)
}

// checkGatewayAvoids: the gateway refuses p, naming why (want in one of its refusals), and
// answers from the other providers.
func checkGatewayAvoids(t *testing.T, ctx context.Context, n *demo.Network, p *demo.Provider, want string) {
	t.Helper()
	require.False(t, n.Config.NoGateway, "the check needs the network's gateway")
	var why []string
	eventually(t, "the gateway refusing "+p.Name, 30*time.Second, func() bool {
		ps, err := n.GatewayProviders(ctx)
		if err != nil {
			return false
		}
		for _, gp := range ps {
			if gp.Endpoint == p.Endpoint && !gp.Verified && gp.Verification != nil {
				why = gp.Verification.Refusals
				return strings.Contains(strings.Join(why, "; "), want)
			}
		}
		return false
	})
	t.Logf("the gateway says why it does not use %s: %v", p.Name, why)
	for i := range 3 {
		res, err := n.Chat(ctx, "And God said", 4, nil)
		require.NoError(t, err, "request %d", i)
		require.NotEqual(t, p.Endpoint, res.Record.Endpoint, "request %d answered by %s", i, p.Name)
	}
}
