package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/demo"
)

// TestOracleQuorumE2E: three oracles, quorum 2. A provider restarted with a new RA-TLS key needs
// a new attestation (its claim names the key). With one oracle down the other two attest it
// again; with two down the one left votes alone and the new key is not attested (the chain keeps
// the old claim, which the running provider no longer proves), and clients say why; an oracle
// back up makes the quorum again.
func TestOracleQuorumE2E(t *testing.T) {
	n, ctx := startNet(t, func(c *demo.Config) { c.NoGateway = false })
	p := n.Providers[0]
	o1, o2, o3 := n.Oracles[0], n.Oracles[1], n.Oracles[2]
	slots := map[*demo.Oracle]uint8{}
	rc := contracts.RegistryClient{Chain: n.Chain, Address: n.Registry}
	for _, o := range n.Oracles {
		l, err := rc.Oracle(ctx, o.Wallet)
		require.NoError(t, err)
		require.True(t, l.Found)
		slots[o] = l.Slot
	}

	// One oracle down: quorum still reached for the provider's new key.
	require.NoError(t, o3.Stop(20*time.Second))
	k1 := restartProvider(t, ctx, p)
	eventually(t, "the new key attested by two oracles", time.Minute, func() bool { return attestedKey(t, ctx, n, p) == k1 })
	a, err := n.Attestation(ctx, p)
	require.NoError(t, err)
	confirmed := claimHash(t, a)
	votes := votesBySlot(a)
	require.Equal(t, confirmed, votes[slots[o1]], "oracle-1 voted for the claim")
	require.Equal(t, confirmed, votes[slots[o2]], "oracle-2 voted for the claim")
	require.NotEqual(t, confirmed, votes[slots[o3]], "oracle-3 was down")

	// Two down: oracle-1 votes for the next key alone; it is not attested.
	require.NoError(t, o2.Stop(20*time.Second))
	k2 := restartProvider(t, ctx, p)
	require.NotEqual(t, k1, k2)
	eventually(t, "oracle-1's vote for the new key", time.Minute, func() bool {
		a, err := n.Attestation(ctx, p)
		require.NoError(t, err)
		v, ok := votesBySlot(a)[slots[o1]]
		return ok && !bytes.Equal(v, confirmed)
	})
	time.Sleep(3 * time.Second) // more than the oracles' attest interval: nothing else comes
	a, err = n.Attestation(ctx, p)
	require.NoError(t, err)
	require.Equal(t, k1, hex.EncodeToString(a.TLSKeyHash), "the chain still holds the old key's claim: no new attestation")
	require.Equal(t, confirmed, claimHash(t, a))
	checkClientSeesUnattested(t, ctx, n, p)

	// An oracle back: the quorum attests the running key.
	require.NoError(t, o2.Start(ctx))
	eventually(t, "the running key attested once oracle-2 is back", time.Minute, func() bool { return attestedKey(t, ctx, n, p) == k2 })
}

// restartProvider stops p gracefully and starts it again: a new RA-TLS key, whose hash it returns.
func restartProvider(t *testing.T, ctx context.Context, p *demo.Provider) string {
	t.Helper()
	old := p.TLSKeyHash()
	require.NoError(t, p.Stop(30*time.Second))
	require.NoError(t, p.Start(ctx))
	k := p.TLSKeyHash()
	require.NotEqual(t, old, k, "a new key at every start")
	return k
}

// attestedKey is the TLS key hash of p's confirmed attestation while it is attested ("" when not).
func attestedKey(t *testing.T, ctx context.Context, n *demo.Network, p *demo.Provider) string {
	a, err := n.Attestation(ctx, p)
	require.NoError(t, err)
	if !a.Attested {
		return ""
	}
	return hex.EncodeToString(a.TLSKeyHash)
}

func claimHash(t *testing.T, a *contracts.AttestationView) []byte {
	h, err := contracts.ClaimHash(a.MeasurementHash, a.EvidenceDigest, a.TLSKeyHash)
	require.NoError(t, err)
	return h
}

// votesBySlot is each oracle slot's vote: the claim hash it voted for.
func votesBySlot(a *contracts.AttestationView) map[uint8][]byte {
	out := map[uint8][]byte{}
	for _, v := range a.Votes {
		out[v.Slot] = v.ClaimHash
	}
	return out
}

// checkClientSeesUnattested: the gateway refuses p and says why.
func checkClientSeesUnattested(t *testing.T, ctx context.Context, n *demo.Network, p *demo.Provider) {
	t.Helper()
	require.False(t, n.Config.NoGateway, "the check needs the network's gateway")
	var why []string
	eventually(t, "the gateway refusing "+p.Name+" with its reasons", 30*time.Second, func() bool {
		ps, err := n.GatewayProviders(ctx)
		if err != nil {
			return false
		}
		for _, gp := range ps {
			if gp.Endpoint == p.Endpoint && !gp.Verified && gp.Verification != nil && len(gp.Verification.Refusals) > 0 {
				why = gp.Verification.Refusals
				return true
			}
		}
		return false
	})
	t.Logf("the gateway says why it does not use %s: %v", p.Name, why)
}
