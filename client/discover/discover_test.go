package discover_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/contracts"
)

// The registry's transactions name every Provider contract it deployed; a small page size makes
// the scan page through them, and a second Discover reads only what is new.
func TestChainFindsEveryProvider(t *testing.T) {
	n := clienttest.NewNet(t)
	a := n.StartProvider(clienttest.ProviderOptions{Name: "a"})
	b := n.StartProvider(clienttest.ProviderOptions{Name: "b", NoVote: true})
	src := &discover.Chain{Client: n.Chain, Registry: n.Registry, PageSize: 2, Clock: n.OpsClock()}
	snap, err := src.Discover(n.Ctx)
	require.NoError(t, err)
	require.Len(t, snap.Providers, 2)
	require.Equal(t, contracts.NetworkDevnet, snap.Registry.Network)
	require.Len(t, snap.Registry.Measurements, 1)
	m, err := snap.Registry.Model(clienttest.ModelName)
	require.NoError(t, err)

	pa := snap.Provider(a.Contract.String())
	require.NotNil(t, pa)
	require.NoError(t, pa.Err)
	require.True(t, pa.Owner.Equals(a.Owner.Address()))
	require.Equal(t, a.URL, pa.Endpoint)
	require.Equal(t, contracts.ProviderActive, pa.Status)
	prices, ok := pa.Serves(m.ID)
	require.True(t, ok)
	require.Zero(t, prices.Prompt.Cmp(clienttest.PromptPrice))
	require.Zero(t, prices.Completion.Cmp(clienttest.CompletionPrice))
	require.True(t, pa.Attestation.Attested)
	kh := a.Issuer.KeyHash()
	require.Equal(t, kh[:], pa.Attestation.TLSKeyHash)
	require.Len(t, pa.Oracles, 1)
	require.True(t, pa.Oracles[0].Equals(n.Oracle.Address()))
	// Found by owner and by endpoint too.
	require.Same(t, pa, snap.Provider(a.Owner.Address().String()))
	require.Same(t, pa, snap.Provider(a.URL))

	pb := snap.Provider(b.Contract.StringRaw())
	require.NotNil(t, pb)
	require.False(t, pb.Attestation.Attested)
	require.Empty(t, pb.Oracles)

	c := n.StartProvider(clienttest.ProviderOptions{Name: "c"})
	snap, err = src.Discover(n.Ctx)
	require.NoError(t, err)
	require.Len(t, snap.Providers, 3)
	require.True(t, snap.Providers[2].Address.Equals(c.Contract), "providers keep their registration order")

	// A fresh source finds the same three from scratch.
	again, err := (&discover.Chain{Client: n.Chain, Registry: n.Registry}).Discover(n.Ctx)
	require.NoError(t, err)
	require.Len(t, again.Providers, 3)
}

func TestChainRefusesAMissingRegistry(t *testing.T) {
	n := clienttest.NewNet(t)
	_, err := (&discover.Chain{Client: n.Chain, Registry: n.Oracle.Address()}).Discover(n.Ctx)
	require.ErrorIs(t, err, discover.ErrNoRegistry)
}
