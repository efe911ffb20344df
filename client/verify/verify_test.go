package verify_test

import (
	"crypto/sha512"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/client/verify"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

func setup(t *testing.T) (*clienttest.Net, *verify.Verifier, func() *discover.Snapshot) {
	n := clienttest.NewNet(t)
	v, err := verify.New(verify.Config{Chain: n.Chain})
	require.NoError(t, err)
	src := &discover.Chain{Client: n.Chain, Registry: n.Registry, Clock: n.OpsClock()}
	return n, v, func() *discover.Snapshot {
		s, err := src.Discover(n.Ctx)
		require.NoError(t, err)
		return s
	}
}

func refusedFor(t *testing.T, r *verify.Report, want ...string) {
	t.Helper()
	require.False(t, r.OK, "report:\n%s", r)
	all := strings.Join(r.Refusals, "\n")
	for _, w := range want {
		require.Contains(t, all, w, "report:\n%s", r)
	}
	require.ErrorIs(t, r.Err(), verify.ErrRefused)
}

// An attested provider on a devnet with the sim measurement allowed: verified, shown as
// SIMULATED, with everything the report promises.
func TestVerifiedSimulatedProvider(t *testing.T) {
	n, v, snap := setup(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	s := snap()
	r := v.Verify(n.Ctx, s, s.Provider(p.Contract.String()))
	require.True(t, r.OK, "report:\n%s", r)
	require.NoError(t, r.Err())
	sim := attest.SimMeasurement(attest.DevnetSimImage)
	kh := p.Issuer.KeyHash()
	require.Equal(t, "sim", r.Kind)
	require.True(t, r.Simulated)
	require.Equal(t, "sim", r.AllowedKind)
	require.Equal(t, r.Measurement, r.ChainMeasurement)
	require.Equal(t, hexString(sim[:]), r.Measurement)
	require.Equal(t, r.TLSKeyHash, r.ChainTLSKeyHash)
	require.Len(t, r.TLSKeyHash, 64)
	require.Equal(t, strings.ToLower(r.TLSKeyHash), strings.ToLower(hexString(kh[:])))
	require.Equal(t, r.EvidenceDigest, r.ChainEvidence)
	require.Len(t, r.Nonce, 64)
	require.True(t, r.Attested)
	require.Equal(t, []string{n.Oracle.Address().String()}, r.Oracles)
	require.NotNil(t, r.PublicKey)
	require.Equal(t, "none (simulated)", r.TCBStatus)
	text := r.String()
	require.Contains(t, text, "VERIFIED")
	require.Contains(t, text, "SIMULATED, NOT A TEE")
	require.Contains(t, string(r.MarshalIndent()), `"simulated": true`)
	// The same by endpoint.
	require.True(t, v.VerifyEndpoint(n.Ctx, s, p.URL).OK)
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 0, 2*len(b))
	for _, x := range b {
		out = append(out, digits[x>>4], digits[x&15])
	}
	return string(out)
}

// The oracle attested another key than the one the provider's certificate carries.
func TestRefusesAKeyOtherThanTheAttestedOne(t *testing.T) {
	n, v, snap := setup(t)
	p := n.StartProvider(clienttest.ProviderOptions{NoVote: true})
	n.Attest(p, [32]byte{1, 2, 3})
	s := snap()
	refusedFor(t, v.Verify(n.Ctx, s, s.Provider(p.Contract.String())), "the certificate's key hash", "differs from the on-chain attested TLS key hash 0102030000")
}

// A measurement allowed when the oracle voted and revoked since: the confirmed attestation
// stands on-chain, the client refuses it now.
func TestRefusesAMeasurementRevokedSinceTheVote(t *testing.T) {
	n, v, snap := setup(t)
	image := sha512.Sum384([]byte("another image"))
	m := attest.SimMeasurement(image)
	n.Govern(contracts.AddMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: m[:], Kind: contracts.MeasurementSim})
	p := n.StartProvider(clienttest.ProviderOptions{Image: image})
	s := snap()
	require.True(t, v.Verify(n.Ctx, s, s.Provider(p.Contract.String())).OK)
	n.Govern(contracts.RevokeMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: m[:]})
	s = snap()
	r := v.Verify(n.Ctx, s, s.Provider(p.Contract.String()))
	require.True(t, r.Attested, "the confirmed attestation stays on-chain")
	refusedFor(t, r, "is not on the registry's allow-list now", "measurement not allowed")
}

func TestRefusesUnattestedUnderstakedAndDownProviders(t *testing.T) {
	n, v, snap := setup(t)
	unattested := n.StartProvider(clienttest.ProviderOptions{Name: "unattested", NoVote: true})
	down := n.StartProvider(clienttest.ProviderOptions{Name: "down"})
	down.Stop()
	low := n.StartProvider(clienttest.ProviderOptions{Name: "low", Stake: 6})
	p, err := n.Gov.PlanUpdateParams(n.Ctx, ops.UpdateParamsInput{Change: ops.ParamsChange{MinProviderStake: tlb.MustFromTON("8").Nano()}})
	require.NoError(t, err)
	_, err = n.Gov.Send(n.Ctx, p.Plan)
	require.NoError(t, err)
	s := snap()
	refusedFor(t, v.Verify(n.Ctx, s, s.Provider(unattested.Contract.String())), "no quorum-confirmed attestation")
	refusedFor(t, v.Verify(n.Ctx, s, s.Provider(down.Contract.String())), "RA-TLS evidence refused", "connection refused")
	r := v.Verify(n.Ctx, s, s.Provider(low.Contract.String()))
	refusedFor(t, r, "stake 6 TON is below the registry's current minimum 8 TON")
	require.Len(t, r.Refusals, 1, "only the stake: %v", r.Refusals)
	// An endpoint nobody registered.
	refusedFor(t, v.VerifyEndpoint(n.Ctx, s, "https://127.0.0.1:1"), "no provider registered")
}

// Simulated evidence is never accepted where the registry is not a devnet.
func TestRefusesSimulatedEvidenceOffADevnet(t *testing.T) {
	n, v, snap := setup(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	s := snap()
	s.Registry.Network = contracts.NetworkTestnet
	r := v.Verify(n.Ctx, s, s.Provider(p.Contract.String()))
	refusedFor(t, r, "SIMULATED TEE (not a TEE)", "sim is allowed on a devnet only")
	require.True(t, r.Simulated)
}
