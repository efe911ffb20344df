package ops_test

import (
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// TestProviderOperations: registration (exact fee, top-up), the owner operations, the reads, and
// every refusal: the local ones send nothing, the contract's are named.
func TestProviderOperations(t *testing.T) {
	n := newNet(t)
	reg, gov := n.governed(20)
	owner := n.actor("owner", 100, reg)
	other := n.actor("other", 20, reg)
	name, err := contracts.TextCell("kjv-demo-1m", contracts.MaxModelNameBytes)
	require.NoError(t, err)
	n.govern(gov, contracts.AddModel{QueryID: 1, ModelID: 7, WeightsHash: make([]byte, 32), Name: name})

	_, err = owner.LookupProvider(n.ctx, owner.addr())
	var nr *ops.NotRegisteredError
	require.ErrorAs(t, err, &nr)
	require.ErrorIs(t, err, ops.ErrNotRegistered)
	_, err = owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.Pause}})
	require.ErrorIs(t, err, ops.ErrNotRegistered)

	// Registration attaches exactly stake + get_register_fee(stake); less is refused before sending.
	need, err := contracts.RegistryClient{Chain: n.d.Client(), Address: reg}.RegisterFee(n.ctx, nano("10"))
	require.NoError(t, err)
	n.refused(owner, contracts.ExitNotEnoughValue, func() error {
		_, err := owner.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("10"), Fee: new(big.Int).Sub(need, big.NewInt(1))})
		return err
	})
	_, err = owner.PlanRegister(n.ctx, ops.RegisterInput{Owner: other.addr(), Stake: nano("10")})
	require.ErrorIs(t, err, ops.ErrBadInput, "the registry registers the sender")
	rp, err := owner.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("10")})
	require.NoError(t, err)
	require.True(t, rp.FeeFromGetter && rp.Fee.Cmp(need) == 0 && !rp.Registered)
	require.Equal(t, new(big.Int).Add(nano("10"), need), rp.Value)
	regLT := n.lastLT(reg)
	res, err := owner.SendRegister(n.ctx, rp)
	require.NoError(t, err)
	require.Len(t, res.Txs, 2, "registry and provider")
	require.Equal(t, contracts.ProviderActive, res.Provider.Data.Status)
	require.Equal(t, nano("10"), res.Provider.Data.Stake.Nano())
	got, _ := n.received(reg, regLT)
	require.Len(t, got, 1)
	require.Zero(t, got[0].Cmp(rp.Value), "the registry received %s, want %s", got[0], rp.Value)
	provider := res.Provider.Address

	// The registry's refusal of a stake below its minimum comes back by name.
	small, err := other.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("4")})
	require.NoError(t, err)
	_, err = other.SendRegister(n.ctx, small)
	contractRefused(t, err, "registry", contracts.ExitStakeBelowMinimum)

	ownerOp := func(a *actor, op ops.OwnerOp) (*ops.OwnerOpResult, error) {
		t.Helper()
		p, err := a.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Owner: owner.addr(), Op: op})
		require.NoError(t, err)
		require.Equal(t, op.Kind.String(), p.Op)
		require.True(t, p.Provider.Address.Equals(provider))
		return a.SendOwnerOp(n.ctx, p)
	}
	mustOp := func(op ops.OwnerOp) *ops.OwnerOpResult {
		t.Helper()
		res, err := ownerOp(owner, op)
		require.NoError(t, err, op.Kind.String())
		return res
	}
	view := func() *ops.ProviderView {
		t.Helper()
		v, err := owner.ReadProvider(n.ctx, owner.addr())
		require.NoError(t, err)
		return v
	}

	// Endpoint: the rule is applied before anything is read or sent.
	mustOp(ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "https://provider.example:8443/cocoon"})
	require.Equal(t, "https://provider.example:8443/cocoon", view().Profile.Endpoint)
	lt := n.lastLT(owner.addr())
	_, err = owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "http://provider.example"}})
	var ee *ops.EndpointError
	require.ErrorAs(t, err, &ee)
	require.ErrorIs(t, err, ops.ErrBadInput)
	// Prices: a model the registry does not list is refused locally (the contract would price it).
	_, err = owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.SetPrice, ModelID: 99, PromptPrice: nano("1"), CompletionPrice: nano("1")}})
	require.ErrorIs(t, err, ops.ErrUnknownModel)
	require.Contains(t, err.Error(), "model 99 is not in registry "+owner.Friendly(reg, true))
	n.refused(owner, contracts.ExitZeroAmount, func() error {
		_, err := owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.Unstake, Amount: new(big.Int)}})
		return err
	})
	n.quiet(owner, lt)
	mustOp(ops.OwnerOp{Kind: ops.SetPrice, ModelID: 7, PromptPrice: nano("0.1"), CompletionPrice: nano("0.25")})
	v := view()
	require.Len(t, v.Profile.Prices, 1)
	require.Equal(t, nano("0.25"), v.Profile.Prices[0].CompletionPricePerMillion.Nano())
	_, err = ownerOp(owner, ops.OwnerOp{Kind: ops.RemovePrice, ModelID: 8})
	contractRefused(t, err, "provider", contracts.ExitModelPriceNotFound)
	mustOp(ops.OwnerOp{Kind: ops.RemovePrice, ModelID: 7})
	require.Empty(t, view().Profile.Prices)

	// Stake: add (attached on top of the value), unstake within the minimum, withdraw after unlock.
	ap, err := owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.AddStake, Amount: nano("2")}})
	require.NoError(t, err)
	require.Equal(t, nano("2.05"), ap.Value)
	_, err = owner.SendOwnerOp(n.ctx, ap)
	require.NoError(t, err)
	require.Equal(t, nano("12"), view().Data.Stake.Nano())
	_, err = ownerOp(owner, ops.OwnerOp{Kind: ops.Unstake, Amount: nano("8")})
	contractRefused(t, err, "provider", contracts.ExitStakeWouldDropBelowMinimum)
	mustOp(ops.OwnerOp{Kind: ops.Unstake, Amount: nano("3")})
	v = view()
	require.Equal(t, nano("9"), v.Data.Stake.Nano())
	require.Equal(t, nano("3"), v.Data.UnbondingAmount.Nano())
	require.False(t, v.Unlocked())
	_, err = ownerOp(owner, ops.OwnerOp{Kind: ops.Withdraw})
	contractRefused(t, err, "provider", contracts.ExitUnbondingLocked)
	n.d.AdvanceTime(61 * time.Second)
	require.True(t, view().Unlocked())
	before := n.balance(owner.addr())
	w := mustOp(ops.OwnerOp{Kind: ops.Withdraw})
	require.Equal(t, nano("3"), w.Withdrawn, "StakeWithdrawn carries the unbonding stake")
	if gain := new(big.Int).Sub(n.balance(owner.addr()), before); gain.Cmp(nano("2.99")) <= 0 || gain.Cmp(nano("3")) >= 0 {
		t.Fatalf("the owner gained %s, want 3 TON minus fees", gain)
	}

	// Status: pause twice is refused by name, another wallet is not the owner.
	mustOp(ops.OwnerOp{Kind: ops.Pause})
	require.Equal(t, contracts.ProviderPaused, view().Data.Status)
	_, err = ownerOp(owner, ops.OwnerOp{Kind: ops.Pause})
	contractRefused(t, err, "provider", contracts.ExitInvalidStatus)
	_, err = ownerOp(other, ops.OwnerOp{Kind: ops.Resume})
	contractRefused(t, err, "provider", contracts.ExitNotOwner)
	mustOp(ops.OwnerOp{Kind: ops.Resume})
	mustOp(ops.OwnerOp{Kind: ops.Exit})
	v = view()
	require.Equal(t, contracts.ProviderExiting, v.Data.Status)
	require.Equal(t, nano("9"), v.Data.UnbondingAmount.Nano())

	// Registering again is a top-up: the exiting provider is active again.
	rp, err = owner.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("5")})
	require.NoError(t, err)
	require.True(t, rp.Registered)
	require.Equal(t, contracts.ProviderExiting, rp.Provider.Data.EffectiveStatus)
	res, err = owner.SendRegister(n.ctx, rp)
	require.NoError(t, err)
	require.Equal(t, contracts.ProviderActive, res.Provider.Data.Status)

	// A stray top-up is surplus, returned with the next owner operation.
	v = view()
	require.LessOrEqual(t, v.Surplus().Sign(), 0, "no surplus after an owner operation: %s", v.Surplus())
	require.NoError(t, n.d.Fund(n.ctx, provider, nano("1")))
	require.NoError(t, n.d.WaitBlocks(n.ctx, 2))
	require.Equal(t, 1, view().Surplus().Cmp(nano("0.99")))
	require.Zero(t, view().PendingVotes())

	// Links need the owner: without a wallet or an owner address the plan cannot know the provider.
	offline := &ops.Ops{Chain: n.d.Client(), Registry: reg}
	_, err = offline.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.Pause}})
	require.ErrorIs(t, err, ops.ErrBadInput)
	lp, err := offline.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Owner: owner.addr(), Op: ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "https://p.example"}, QueryID: 5})
	require.NoError(t, err)
	link, err := lp.Link(false)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "ton://transfer/"+offline.Friendly(provider, true)+"?amount=50000000&bin="), link)
	require.False(t, errors.Is(err, ops.ErrRefused))
}

// TestCheckEndpoint is the endpoint rule: the contract's length, and what clients can reach.
func TestCheckEndpoint(t *testing.T) {
	for _, ok := range []string{"https://provider.example", "https://provider.example:8443/cocoon", "https://10.0.0.7:443",
		"https://[2001:db8::1]:8443", "https://" + strings.Repeat("a", 127-len("https://"))} {
		require.NoError(t, ops.CheckEndpoint(ok), ok)
	}
	for bad, problem := range map[string]string{
		"": "endpoint is 0 bytes; the provider contract takes 1..127",
		"https://" + strings.Repeat("a", 128-len("https://")): "endpoint is 128 bytes; the provider contract takes 1..127",
		"http://provider.example":                             `endpoint "http://provider.example" must start with https:// (clients reach providers over RA-TLS)`,
		"provider.example":                                    "must start with https://",
		"https://":                                            "has no host",
		"https://:8443":                                       "has no host",
		"https://user:pw@provider.example":                    "must not carry credentials: it is public on-chain",
		"https://provider.example/#x":                         "must not have a query or fragment",
		"https://provider.example/?q":                         "must not have a query or fragment",
		"https://provider .example":                           "contains spaces or control characters",
		"https://provider.example/\n":                         "contains spaces or control characters",
		"ftp://provider.example":                              "must start with https://",
	} {
		err := ops.CheckEndpoint(bad)
		var ee *ops.EndpointError
		require.ErrorAs(t, err, &ee, bad)
		require.ErrorIs(t, err, ops.ErrBadInput)
		require.Contains(t, err.Error(), problem)
		require.True(t, strings.HasPrefix(ee.Describe("--url"), "--url "), ee.Describe("--url"))
	}
}
