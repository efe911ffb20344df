package ops

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"reflect"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
)

// ---------------------------------------------------------------- reading

// RegistryView is a registry as its getters show it.
type RegistryView struct {
	Address      *address.Address
	Account      *chain.Account
	Data         *contracts.RegistryData
	Params       *contracts.RegistryParams
	Measurements []contracts.Measurement
	Models       []contracts.Model
	Oracles      []contracts.Oracle
	Codes        *contracts.RegistryCodes
}

// ChannelsEnabled: the registry holds channel code (OpenChannel works).
func (v *RegistryView) ChannelsEnabled() bool { return v.Codes.ChannelCode != nil }

// ChannelCodeCurrent: the registry's channel code is this build's.
func (v *RegistryView) ChannelCodeCurrent() bool {
	return v.Codes.ChannelCode != nil && bytes.Equal(v.Codes.ChannelCode.Hash(), contracts.ChannelCode().Hash())
}

// ReadRegistry reads everything the registry's getters expose. A registry address without an
// active account is ErrNoRegistry.
func (o *Ops) ReadRegistry(ctx context.Context) (*RegistryView, error) {
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	acc, err := o.Chain.GetAccount(ctx, o.Registry)
	if err != nil {
		return nil, err
	}
	if acc.State != chain.StateActive {
		return nil, fmt.Errorf("%w at %s: the account is %s", ErrNoRegistry, o.Registry.StringRaw(), acc.State)
	}
	rc := o.registryClient()
	v := &RegistryView{Address: o.Registry, Account: acc}
	if v.Data, err = rc.Data(ctx); err != nil {
		return nil, err
	}
	if v.Params, err = rc.Params(ctx); err != nil {
		return nil, err
	}
	if v.Measurements, err = rc.Measurements(ctx); err != nil {
		return nil, err
	}
	if v.Models, err = rc.Models(ctx); err != nil {
		return nil, err
	}
	if v.Oracles, err = rc.Oracles(ctx); err != nil {
		return nil, err
	}
	if v.Codes, err = rc.Codes(ctx); err != nil {
		return nil, err
	}
	return v, nil
}

func (o *Ops) registryClient() contracts.RegistryClient {
	return contracts.RegistryClient{Chain: o.Chain, Address: o.Registry}
}

// ---------------------------------------------------------------- deploy

// DeployRegistryInput is a registry to deploy.
type DeployRegistryInput struct {
	// Governance (nil: the sending wallet).
	Governance *address.Address
	Kind       contracts.NetworkKind
	// Params are the initial parameters; a nil Treasury is the governance. They are checked as
	// UpdateParams would check them: the contract does not check its initial data.
	Params contracts.RegistryParams
	// NoChannels deploys without channel code (channels then wait for SetChannelCode); by default
	// the compiled Channel code goes into the catalog and channels work from the start.
	NoChannels bool
	// Value attached (nil: DefaultDeployValue).
	Value *big.Int
}

// DeployPlan is a registry's deploy.
type DeployPlan struct {
	*Plan
	// Address is the registry's: the hash of its StateInit.
	Address *address.Address
	Storage *contracts.RegistryStorage
}

// PlanDeployRegistry plans a registry's deploy (needs no chain). Parameters outside the bounds
// UpdateParams enforces are a *contracts.ParamsError.
func (o *Ops) PlanDeployRegistry(in DeployRegistryInput) (*DeployPlan, error) {
	gov := in.Governance
	if gov == nil {
		if o.Sender == nil {
			return nil, badInput("a deploy needs the governance address")
		}
		gov = o.Sender.Address()
	}
	params := in.Params
	if params.Treasury == nil {
		params.Treasury = gov
	}
	if err := params.Check(); err != nil {
		return nil, err
	}
	st := contracts.NewRegistryStorage(gov, in.Kind, params, contracts.ProviderCode())
	if !in.NoChannels {
		// The deploy data is not checked on-chain, so the channel code goes straight into the
		// catalog (SetChannelCode would accept only this same code).
		st.Catalog.ChannelCode = contracts.ChannelCode()
	}
	init, addr, err := contracts.RegistryDeploy(st)
	if err != nil {
		return nil, err
	}
	value := in.Value
	if value == nil {
		value = big.NewInt(DefaultDeployValue)
	}
	p := newPlan("deploy", value, nil, 0, Hop{"registry", addr})
	p.StateInit, p.Bounce, p.Key = init, false, "deploy/"+addr.StringRaw()
	return &DeployPlan{Plan: p, Address: addr, Storage: st}, nil
}

// ---------------------------------------------------------------- parameters

// ParamsChange names the parameters to change; nil fields keep their current value.
type ParamsChange struct {
	MinProviderStake       *big.Int
	UnbondingPeriod        *uint32
	ProtocolFeeBps         *uint16
	Treasury               *address.Address
	ChallengePeriod        *uint32
	OracleQuorum           *uint8
	MaxAttestationLifetime *uint32
}

func (c ParamsChange) empty() bool { return c == ParamsChange{} }

// UpdateParamsInput changes registry parameters.
type UpdateParamsInput struct {
	Change ParamsChange
	// Value attached (nil: DefaultGovernanceValue); QueryID 0 is a random one.
	Value   *big.Int
	QueryID uint64
}

// ParamsPlan is UpdateParams with the parameters it sets.
type ParamsPlan struct {
	*Plan
	Current, New *contracts.RegistryParams
}

// PlanUpdateParams reads the current parameters (the message replaces all of them), applies the
// change and checks the result as the registry does (a *contracts.ParamsError, exit code 103).
func (o *Ops) PlanUpdateParams(ctx context.Context, in UpdateParamsInput) (*ParamsPlan, error) {
	if in.Change.empty() {
		return nil, badInput("no parameter to change")
	}
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	cur, err := o.registryClient().Params(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read the current parameters: %w", err)
	}
	p := *cur
	c := in.Change
	if c.MinProviderStake != nil {
		p.MinProviderStake = tlb.FromNanoTON(c.MinProviderStake)
	}
	if c.UnbondingPeriod != nil {
		p.UnbondingPeriod = *c.UnbondingPeriod
	}
	if c.ChallengePeriod != nil {
		p.ChallengePeriod = *c.ChallengePeriod
	}
	if c.MaxAttestationLifetime != nil {
		p.MaxAttestationLifetime = *c.MaxAttestationLifetime
	}
	if c.ProtocolFeeBps != nil {
		p.ProtocolFeeBps = *c.ProtocolFeeBps
	}
	if c.OracleQuorum != nil {
		p.OracleQuorum = *c.OracleQuorum
	}
	if c.Treasury != nil {
		p.Treasury = c.Treasury
	}
	if err := p.Check(); err != nil {
		return nil, err
	}
	plan, err := o.PlanGovern(ctx, contracts.UpdateParams{QueryID: orNewQueryID(in.QueryID), Params: &p}, in.Value)
	if err != nil {
		return nil, err
	}
	return &ParamsPlan{Plan: plan, Current: cur, New: &p}, nil
}

// ---------------------------------------------------------------- governance

// governanceOps names each governance message's operation.
var governanceOps = map[reflect.Type]string{
	reflect.TypeFor[contracts.ProposeGovernance]():       "transfer-governance",
	reflect.TypeFor[contracts.AcceptGovernance]():        "accept-governance",
	reflect.TypeFor[contracts.UpdateParams]():            "params",
	reflect.TypeFor[contracts.AddMeasurement]():          "allow-measurement",
	reflect.TypeFor[contracts.RevokeMeasurement]():       "revoke-measurement",
	reflect.TypeFor[contracts.AddModel]():                "add-model",
	reflect.TypeFor[contracts.UpdateModel]():             "update-model",
	reflect.TypeFor[contracts.RemoveModel]():             "remove-model",
	reflect.TypeFor[contracts.AddOracle]():               "add-oracle",
	reflect.TypeFor[contracts.RemoveOracle]():            "remove-oracle",
	reflect.TypeFor[contracts.SlashProvider]():           "slash",
	reflect.TypeFor[contracts.JailProvider]():            "jail",
	reflect.TypeFor[contracts.UnjailProvider]():          "unjail",
	reflect.TypeFor[contracts.WithdrawRegistrySurplus](): "withdraw-surplus",
	reflect.TypeFor[contracts.SetChannelCode]():          "set-channel-code",
}

// GovernanceOp is the operation name of a governance message ("" when msg is not one).
func GovernanceOp(msg contracts.Message) string { return governanceOps[reflect.TypeOf(msg)] }

// PlanGovern plans a governance message to the registry, sent by the governance wallet (any
// other sender is refused by the registry with ExitNotGovernance). The message's own fields are
// checked where the registry's check needs no chain: a measurement kind (104), a model name (110),
// a slash amount (122), a jail period against the chain's clock when o has one (121), the channel
// code (151). A nil value is DefaultGovernanceValue.
func (o *Ops) PlanGovern(ctx context.Context, msg contracts.Message, value *big.Int) (*Plan, error) {
	op := GovernanceOp(msg)
	if op == "" {
		return nil, badInput("%s is not a governance message", msg.MessageName())
	}
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.checkGovernance(ctx, msg); err != nil {
		return nil, err
	}
	body, err := encode(msg)
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = big.NewInt(DefaultGovernanceValue)
	}
	queryID := reflect.ValueOf(msg).FieldByName("QueryID").Uint()
	return newPlan(op, value, body, queryID, Hop{"registry", o.Registry}), nil
}

// checkGovernance applies the registry's checks on a governance message's own fields.
func (o *Ops) checkGovernance(ctx context.Context, msg contracts.Message) error {
	switch m := msg.(type) {
	case contracts.AddMeasurement:
		if m.Kind < contracts.MeasurementTDX || m.Kind > contracts.MeasurementSim {
			return refuse("registry", contracts.ExitInvalidMeasurementKind, "measurement kind %d is not tdx (1), snp (2) or sim (3)", m.Kind)
		}
	case contracts.AddModel:
		return checkModelName(m.Name)
	case contracts.UpdateModel:
		return checkModelName(m.Name)
	case contracts.SlashProvider:
		if m.Amount.Nano().Sign() <= 0 {
			return refuse("registry", contracts.ExitInvalidSlashAmount, "a slash must take more than 0 TON")
		}
	case contracts.JailProvider:
		now, err := o.now(ctx)
		if err != nil {
			return err
		}
		if t := now.Unix(); int64(m.Until) <= t || int64(m.Until) > t+contracts.MaxJailSeconds {
			return refuse("registry", contracts.ExitInvalidJailPeriod, "a jail must end after now and at most 180 days ahead (until %d, now %d)", m.Until, t)
		}
	case contracts.SetChannelCode:
		if m.ChannelCode == nil || !bytes.Equal(m.ChannelCode.Hash(), contracts.ChannelCode().Hash()) {
			return refuse("registry", contracts.ExitChannelCodeMismatch, "the registry takes only the Channel code it was compiled for (hash %x)", contracts.ChannelCode().Hash())
		}
	}
	return nil
}

// checkModelName is the registry's model name rule: 1..64 bytes in one cell without refs.
func checkModelName(c *cell.Cell) error {
	if c == nil || c.RefsNum() != 0 || c.BitsSize() == 0 || c.BitsSize()%8 != 0 || c.BitsSize() > 8*contracts.MaxModelNameBytes {
		return refuse("registry", contracts.ExitInvalidModelName, "a model name is 1..%d bytes in one cell", contracts.MaxModelNameBytes)
	}
	return nil
}
