package ops_test

import (
	"bytes"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// TestRegistryOperations: deploy, read, every governance verb, parameter changes, and the
// refusals (local ones send nothing, the registry's name its exit code).
func TestRegistryOperations(t *testing.T) {
	n := newNet(t)
	gov := n.actor("gov", 50, nil)
	other := n.actor("other", 50, nil)

	// Parameters outside the registry's bounds are refused before deploying (the contract does not
	// check its initial data).
	for name, edit := range map[string]func(p *contracts.RegistryParams){
		"stake":  func(p *contracts.RegistryParams) { p.MinProviderStake = tlb.MustFromTON("0.5") },
		"period": func(p *contracts.RegistryParams) { p.ChallengePeriod = 10 },
		"treasury": func(p *contracts.RegistryParams) {
			p.Treasury = address.MustParseRawAddr("-1:" + strings.Repeat("11", 32))
		},
	} {
		_, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Params: contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"),
			UnbondingPeriod: 60, ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 60}})
		require.NoError(t, err, "the base parameters are valid")
		params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 60}
		edit(&params)
		_, err = gov.PlanDeployRegistry(ops.DeployRegistryInput{Params: params})
		var pe *contracts.ParamsError
		require.ErrorAs(t, err, &pe, name)
		require.ErrorIs(t, err, contracts.ExitInvalidParams, name)
	}

	reg := n.deployRegistry(gov, nil)
	gov, other = gov.at(reg), other.at(reg)
	v, err := gov.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.True(t, v.Data.Governance.Equals(gov.addr()))
	require.True(t, v.Params.Treasury.Equals(gov.addr()), "the treasury defaults to the governance")
	require.True(t, v.ChannelsEnabled() && v.ChannelCodeCurrent(), "a deployed registry opens channels")
	require.Equal(t, contracts.NetworkDevnet, v.Data.NetworkKind)

	// Deploying the same registry again is the same key: the transaction manager answers with the
	// recorded outcome and sends nothing.
	again, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: *v.Params})
	require.NoError(t, err)
	require.Equal(t, reg.StringRaw(), again.Address.StringRaw())
	lt := n.lastLT(gov.addr())
	sent, err := gov.Send(n.ctx, again.Plan)
	require.NoError(t, err)
	require.True(t, sent.Outcome.Duplicate)
	require.Equal(t, lt, n.lastLT(gov.addr()))

	govern := func(a *actor, msg contracts.Message) (*ops.Sent, error) {
		t.Helper()
		p, err := a.PlanGovern(n.ctx, msg, nil)
		require.NoError(t, err)
		require.Equal(t, ops.GovernanceOp(msg), p.Op)
		return a.Send(n.ctx, p)
	}
	mustGovern := func(msg contracts.Message) {
		t.Helper()
		sent, err := govern(gov, msg)
		require.NoError(t, err, msg.MessageName())
		require.Len(t, sent.Txs, 1)
	}
	q := ops.NewQueryID
	hash := bytes.Repeat([]byte{0xab}, 32)
	name, err := contracts.TextCell("kjv-demo-1m", contracts.MaxModelNameBytes)
	require.NoError(t, err)
	mustGovern(contracts.AddMeasurement{QueryID: q(), MeasurementHash: hash, Kind: contracts.MeasurementSim})
	mustGovern(contracts.AddMeasurement{QueryID: q(), MeasurementHash: bytes.Repeat([]byte{0xcd}, 32), Kind: contracts.MeasurementTDX})
	mustGovern(contracts.RevokeMeasurement{QueryID: q(), MeasurementHash: bytes.Repeat([]byte{0xcd}, 32)})
	mustGovern(contracts.AddModel{QueryID: q(), ModelID: 7, WeightsHash: bytes.Repeat([]byte{0x11}, 32), Name: name})
	mustGovern(contracts.AddModel{QueryID: q(), ModelID: 8, WeightsHash: bytes.Repeat([]byte{0x22}, 32), Name: name})
	mustGovern(contracts.UpdateModel{QueryID: q(), ModelID: 8, WeightsHash: bytes.Repeat([]byte{0x33}, 32), Name: name})
	mustGovern(contracts.RemoveModel{QueryID: q(), ModelID: 8})
	mustGovern(contracts.AddOracle{QueryID: q(), Wallet: other.addr(), PublicKey: bytes.Repeat([]byte{0x22}, 32)})
	v, err = gov.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.Len(t, v.Measurements, 1)
	require.Equal(t, contracts.MeasurementSim, v.Measurements[0].Kind)
	require.Len(t, v.Models, 1)
	require.Equal(t, "kjv-demo-1m", v.Models[0].Name)
	require.Len(t, v.Oracles, 1)
	mustGovern(contracts.RemoveOracle{QueryID: q(), Wallet: other.addr()})

	// Parameters: only what is named changes; a value out of bounds is refused (103) before sending.
	quorum, fee := uint8(2), uint16(300)
	pp, err := gov.PlanUpdateParams(n.ctx, ops.UpdateParamsInput{Change: ops.ParamsChange{OracleQuorum: &quorum, ProtocolFeeBps: &fee}})
	require.NoError(t, err)
	require.Equal(t, v.Params.MinProviderStake.Nano(), pp.New.MinProviderStake.Nano())
	_, err = gov.Send(n.ctx, pp.Plan)
	require.NoError(t, err)
	v, err = gov.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.Equal(t, uint8(2), v.Params.OracleQuorum)
	require.Equal(t, uint16(300), v.Params.ProtocolFeeBps)
	require.Equal(t, uint32(60), v.Params.UnbondingPeriod)
	tooShort := uint32(59)
	_, err = gov.PlanUpdateParams(n.ctx, ops.UpdateParamsInput{Change: ops.ParamsChange{UnbondingPeriod: &tooShort}})
	require.ErrorIs(t, err, contracts.ExitInvalidParams)
	_, err = gov.PlanUpdateParams(n.ctx, ops.UpdateParamsInput{})
	require.ErrorIs(t, err, ops.ErrBadInput)

	// Local checks of a governance message's own fields: nothing is sent.
	badName := cell.BeginCell().MustStoreUInt(0, 4).EndCell()
	n.refused(gov, contracts.ExitInvalidMeasurementKind, func() error {
		_, err := gov.PlanGovern(n.ctx, contracts.AddMeasurement{QueryID: 1, MeasurementHash: hash, Kind: 4}, nil)
		return err
	})
	n.refused(gov, contracts.ExitInvalidModelName, func() error {
		_, err := gov.PlanGovern(n.ctx, contracts.AddModel{QueryID: 1, ModelID: 9, WeightsHash: hash, Name: badName}, nil)
		return err
	})
	n.refused(gov, contracts.ExitInvalidSlashAmount, func() error {
		_, err := gov.PlanGovern(n.ctx, contracts.SlashProvider{QueryID: 1, ProviderOwner: other.addr(), Amount: tlb.ZeroCoins, EvidenceDigest: hash}, nil)
		return err
	})
	now := n.d.Now()
	for _, until := range []time.Time{now.Add(-time.Minute), now.Add(181 * 24 * time.Hour)} {
		n.refused(gov, contracts.ExitInvalidJailPeriod, func() error {
			_, err := gov.PlanGovern(n.ctx, contracts.JailProvider{QueryID: 1, ProviderOwner: other.addr(), Until: uint32(until.Unix())}, nil)
			return err
		})
	}
	n.refused(gov, contracts.ExitChannelCodeMismatch, func() error {
		_, err := gov.PlanGovern(n.ctx, contracts.SetChannelCode{QueryID: 1, ChannelCode: contracts.ProviderCode()}, nil)
		return err
	})
	_, err = gov.PlanGovern(n.ctx, contracts.RegisterProvider{QueryID: 1, StakeAmount: tlb.MustFromTON("5")}, nil)
	require.ErrorIs(t, err, ops.ErrBadInput, "not a governance message")

	// The registry's own refusals come back by name, after the message left the wallet.
	_, err = govern(other, contracts.AddModel{QueryID: q(), ModelID: 9, WeightsHash: hash, Name: name})
	contractRefused(t, err, "registry", contracts.ExitNotGovernance)
	_, err = govern(gov, contracts.AddMeasurement{QueryID: q(), MeasurementHash: hash, Kind: contracts.MeasurementSim})
	contractRefused(t, err, "registry", contracts.ExitMeasurementExists)

	// Slash, jail and unjail a registered provider; a slash of a provider that does not exist
	// bounces and is refunded (the verb itself succeeds).
	owner := n.actor("owner", 50, reg)
	provider := n.register(owner, "10")
	mustGovern(contracts.SlashProvider{QueryID: q(), ProviderOwner: owner.addr(), Amount: tlb.MustFromTON("1"), EvidenceDigest: hash})
	mustGovern(contracts.SlashProvider{QueryID: q(), ProviderOwner: other.addr(), Amount: tlb.MustFromTON("1"), EvidenceDigest: hash})
	mustGovern(contracts.JailProvider{QueryID: q(), ProviderOwner: owner.addr(), Until: uint32(n.d.Now().Add(time.Hour).Unix())})
	st, err := owner.LookupProvider(n.ctx, owner.addr())
	require.NoError(t, err)
	require.Equal(t, contracts.ProviderJailed, st.Data.EffectiveStatus)
	require.Equal(t, nano("9"), st.Data.Stake.Nano())
	mustGovern(contracts.UnjailProvider{QueryID: q(), ProviderOwner: owner.addr()})
	st, err = owner.LookupProvider(n.ctx, owner.addr())
	require.NoError(t, err)
	require.True(t, st.Address.Equals(provider))
	require.Equal(t, contracts.ProviderActive, st.Data.EffectiveStatus)
	mustGovern(contracts.WithdrawRegistrySurplus{QueryID: q()})

	// A registry deployed without channel code gets it from its governance.
	p, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: *v.Params, NoChannels: true})
	require.NoError(t, err)
	_, err = gov.Send(n.ctx, p.Plan)
	require.NoError(t, err)
	old := gov.at(p.Address)
	ov, err := old.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.False(t, ov.ChannelsEnabled())
	sp, err := old.PlanGovern(n.ctx, contracts.SetChannelCode{QueryID: q(), ChannelCode: contracts.ChannelCode()}, nil)
	require.NoError(t, err)
	_, err = old.Send(n.ctx, sp)
	require.NoError(t, err)
	ov, err = old.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.True(t, ov.ChannelsEnabled() && ov.ChannelCodeCurrent())

	// Governance handover.
	mustGovern(contracts.ProposeGovernance{QueryID: q(), NewGovernance: other.addr()})
	_, err = govern(other, contracts.AcceptGovernance{QueryID: q()})
	require.NoError(t, err)
	v, err = gov.ReadRegistry(n.ctx)
	require.NoError(t, err)
	require.True(t, v.Data.Governance.Equals(other.addr()) && v.Data.PendingGovernance == nil)
	_, err = govern(gov, contracts.WithdrawRegistrySurplus{QueryID: q()})
	contractRefused(t, err, "registry", contracts.ExitNotGovernance)

	// No registry at an address.
	_, err = gov.at(address.MustParseRawAddr("0:" + strings.Repeat("99", 32))).ReadRegistry(n.ctx)
	require.ErrorIs(t, err, ops.ErrNoRegistry)
}

// TestFundsAndLinks: a value the wallet cannot pay is refused before signing; a plan renders as
// a ton://transfer link without a wallet (and, with the fee given, without a chain).
func TestFundsAndLinks(t *testing.T) {
	n := newNet(t)
	reg, gov := n.governed(10)
	poor := n.actor("poor", 1, reg)
	lt := n.lastLT(poor.addr())
	p, err := poor.PlanGovern(n.ctx, contracts.AcceptGovernance{QueryID: 3}, nano("2"))
	require.NoError(t, err)
	_, err = poor.Send(n.ctx, p)
	var fe *ops.FundsError
	require.ErrorAs(t, err, &fe)
	require.Equal(t, "wallet "+poor.Friendly(poor.addr(), false)+" holds 1 TON, not enough to attach 2 TON plus fees", err.Error())
	n.quiet(poor, lt)

	offline := &ops.Ops{Registry: reg}
	rp, err := offline.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("5"), Fee: nano("0.25"), QueryID: 3})
	require.NoError(t, err)
	require.Nil(t, rp.Provider, "the signer's provider is unknown")
	link, err := rp.Link(false)
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(link, "ton://transfer/"+offline.Friendly(reg, true)+"?amount=5250000000&bin="), link)
	_, err = offline.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano("5")})
	require.ErrorIs(t, err, ops.ErrNoChain, "the fee is read from the chain")
	n.refused(poor, contracts.ExitNotBasechain, func() error {
		_, err := offline.PlanRegister(n.ctx, ops.RegisterInput{Owner: address.MustParseRawAddr("-1:" + strings.Repeat("12", 32)), Stake: nano("5"), Fee: nano("1")})
		return err
	})

	dp, err := offline.PlanDeployRegistry(ops.DeployRegistryInput{Governance: gov.addr(), Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("1"), UnbondingPeriod: 60, ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 60}})
	require.NoError(t, err)
	link, err = dp.Link(true)
	require.NoError(t, err)
	tn := dp.Address.Copy()
	tn.SetBounce(false)
	tn.SetTestnetOnly(true)
	require.True(t, strings.HasPrefix(link, "ton://transfer/"+tn.String()+"?amount=500000000&init="), link)
	require.Equal(t, big.NewInt(ops.DefaultDeployValue), dp.Value)
	require.False(t, errors.Is(err, ops.ErrRefused))
}
