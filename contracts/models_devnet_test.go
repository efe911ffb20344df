package contracts_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/contracts"
)

// The model catalog on the Go devnet: names resolve to (id, weights hash) through get_models, and a
// name governance lists twice is refused until it is made unique again.
func TestResolveModelOnDevnet(t *testing.T) {
	d, err := devnet.Open(devnet.Config{Now: func() time.Time { return devnetNow }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	h := &harness{t: t, d: d}
	ctx := context.Background()
	gov := newActor(t, h, "governance")
	treasury := newActor(t, h, "treasury")
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("10"), UnbondingPeriod: 3600, Treasury: treasury.w.Address(),
		ChallengePeriod: 3600, OracleQuorum: 1, MaxAttestationLifetime: 3600}
	init, registry, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(gov.w.Address(), contracts.NetworkDevnet, params, contracts.ProviderCode()))
	require.NoError(t, err)
	allSucceeded(t, h.send(gov, registry, "1", nil, init))
	reg := contracts.RegistryClient{Chain: d.Client(), Address: registry}

	govSend := func(m contracts.Message) {
		t.Helper()
		allSucceeded(t, h.send(gov, registry, "0.1", encode(t, m), nil))
	}
	text := func(s string) *cell.Cell {
		c, err := contracts.TextCell(s, contracts.MaxModelNameBytes)
		require.NoError(t, err)
		return c
	}
	hash := func(b byte) []byte { return bytes.Repeat([]byte{b}, 32) }

	_, err = reg.ResolveModel(ctx, "llama-3.1-8b")
	require.ErrorIs(t, err, contracts.ErrUnknownModel, "empty catalog")

	govSend(contracts.AddModel{ModelID: 1, WeightsHash: hash(1), Name: text("llama-3.1-8b")})
	govSend(contracts.AddModel{ModelID: 7, WeightsHash: hash(7), Name: text("qwen2.5-7b")})
	m, err := reg.ResolveModel(ctx, "qwen2.5-7b")
	require.NoError(t, err)
	require.Equal(t, contracts.Model{ID: 7, WeightsHash: hash(7), Name: "qwen2.5-7b"}, m)
	m, err = reg.ResolveModel(ctx, "llama-3.1-8b")
	require.NoError(t, err)
	require.Equal(t, contracts.Model{ID: 1, WeightsHash: hash(1), Name: "llama-3.1-8b"}, m)

	// The contract accepts a second id with the same name; resolution refuses the name.
	govSend(contracts.AddModel{ModelID: 3, WeightsHash: hash(3), Name: text("qwen2.5-7b")})
	_, err = reg.ResolveModel(ctx, "qwen2.5-7b")
	var amb *contracts.AmbiguousModelError
	require.ErrorAs(t, err, &amb)
	require.Equal(t, []uint32{3, 7}, amb.IDs)
	_, err = reg.ResolveModel(ctx, "llama-3.1-8b")
	require.NoError(t, err, "other names stay usable")

	// Renaming one entry makes both names unique again; a removed entry is unknown.
	govSend(contracts.UpdateModel{ModelID: 3, WeightsHash: hash(4), Name: text("qwen2.5-7b-instruct")})
	m, err = reg.ResolveModel(ctx, "qwen2.5-7b-instruct")
	require.NoError(t, err)
	require.Equal(t, contracts.Model{ID: 3, WeightsHash: hash(4), Name: "qwen2.5-7b-instruct"}, m)
	m, err = reg.ResolveModel(ctx, "qwen2.5-7b")
	require.NoError(t, err)
	require.Equal(t, uint32(7), m.ID)
	govSend(contracts.RemoveModel{ModelID: 1})
	_, err = reg.ResolveModel(ctx, "llama-3.1-8b")
	var unknown *contracts.UnknownModelError
	require.ErrorAs(t, err, &unknown)
	require.Equal(t, "llama-3.1-8b", unknown.Name)
}
