package discover_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/discover"
)

func actor(t *testing.T, ctx context.Context, d *devnet.Devnet, seed string, reg *address.Address) *ops.Ops {
	t.Helper()
	s := sha256.Sum256([]byte("discover test " + seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, d.GlobalID())
	require.NoError(t, err)
	require.NoError(t, d.Fund(ctx, w.Address(), big.NewInt(50_000_000_000)))
	m, err := txmgr.New(txmgr.Config{Chain: d.Client(), Signer: w, PollInterval: 5 * time.Millisecond})
	require.NoError(t, err)
	return &ops.Ops{Chain: d.Client(), Sender: m, Registry: reg}
}

// TestScan: every registration the registry sent, oldest first, over several pages, then only the
// new ones from the cursor; a top-up is reported again; another registry's cursor is refused.
func TestScan(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	d, err := devnet.Open(devnet.Config{GlobalID: -239})
	require.NoError(t, err)
	defer d.Close()
	gov := actor(t, ctx, d, "gov", nil)
	plan, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("1"), UnbondingPeriod: 60, ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 3600}})
	require.NoError(t, err)
	_, err = gov.Send(ctx, plan.Plan)
	require.NoError(t, err)
	reg := plan.Address

	_, cur, err := discover.Scan(ctx, d.Client(), reg, discover.Cursor{}, 0)
	require.NoError(t, err)
	register := func(o *ops.Ops) *address.Address {
		p, err := o.PlanRegister(ctx, ops.RegisterInput{Stake: big.NewInt(1_000_000_000)})
		require.NoError(t, err)
		res, err := o.SendRegister(ctx, p)
		require.NoError(t, err)
		return res.Provider.Address
	}
	var owners []*ops.Ops
	var providers []*address.Address
	for _, name := range []string{"a", "b", "c"} {
		o := actor(t, ctx, d, name, reg)
		owners = append(owners, o)
		providers = append(providers, register(o))
	}
	register(owners[0]) // a top-up: reported again

	all, newest, err := discover.Scan(ctx, d.Client(), reg, discover.Cursor{}, 2)
	require.NoError(t, err)
	require.Len(t, all, 4)
	for i, want := range []int{0, 1, 2, 0} {
		require.True(t, all[i].Provider.Equals(providers[want]), "registration %d", i)
		require.True(t, all[i].Owner.Equals(owners[want].Sender.Address()))
		if i > 0 {
			require.Less(t, all[i-1].LT, all[i].LT, "oldest first")
		}
	}
	got, _, err := discover.Scan(ctx, d.Client(), reg, cur, 1)
	require.NoError(t, err)
	require.Equal(t, all, got, "the same from the cursor taken before")

	none, same, err := discover.Scan(ctx, d.Client(), reg, newest, 0)
	require.NoError(t, err)
	require.Empty(t, none)
	require.Equal(t, newest, same)

	late := actor(t, ctx, d, "late", reg)
	p := register(late)
	got, _, err = discover.Scan(ctx, d.Client(), reg, newest, 0)
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.True(t, got[0].Provider.Equals(p))

	_, _, err = discover.Scan(ctx, d.Client(), reg, discover.Cursor{LT: newest.LT, Hash: make([]byte, 32)}, 0)
	require.ErrorContains(t, err, "another network")
	_, _, err = discover.Scan(ctx, d.Client(), owners[0].Sender.Address(), discover.Cursor{}, 0)
	require.NoError(t, err, "a wallet is an active account too: nothing found, no error")
	_, _, err = discover.Scan(ctx, d.Client(), address.NewAddress(0, 0, make([]byte, 32)), discover.Cursor{}, 0)
	require.ErrorIs(t, err, discover.ErrNoRegistry)
}
