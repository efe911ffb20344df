package ops

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
)

// ---------------------------------------------------------------- lookup

// ProviderState is an owner's Provider contract as the chain shows it now.
type ProviderState struct {
	Owner   *address.Address
	Address *address.Address
	Account *chain.Account
	// Data is nil when the account is not active.
	Data *contracts.ProviderData
}

// NotRegisteredError is an owner without a registered provider: the Provider contract is not
// deployed, or the registry's registration has not reached it. It matches ErrNotRegistered.
type NotRegisteredError struct {
	Owner, Registry, Provider *address.Address
	Testnet                   bool
}

func (e *NotRegisteredError) Error() string {
	return fmt.Sprintf("%v for owner %s under registry %s (provider address %s)", ErrNotRegistered,
		chain.Friendly(e.Owner, false, e.Testnet), chain.Friendly(e.Registry, true, e.Testnet), chain.Friendly(e.Provider, true, e.Testnet))
}

func (e *NotRegisteredError) Unwrap() error { return ErrNotRegistered }

// LookupProvider finds owner's Provider contract through the registry's get_provider_address
// and reads its data. An owner without a registered provider is a *NotRegisteredError, returned
// with the state (Data nil when the account is not active); a registry address without an active
// account is ErrNoRegistry.
func (o *Ops) LookupProvider(ctx context.Context, owner *address.Address) (*ProviderState, error) {
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	racc, err := o.Chain.GetAccount(ctx, o.Registry)
	if err != nil {
		return nil, err
	}
	if racc.State != chain.StateActive {
		return nil, fmt.Errorf("%w at %s: the account is %s", ErrNoRegistry, o.Friendly(o.Registry, true), racc.State)
	}
	addr, err := o.registryClient().ProviderAddress(ctx, owner)
	if err != nil {
		return nil, err
	}
	st := &ProviderState{Owner: owner, Address: addr}
	if st.Account, err = o.Chain.GetAccount(ctx, addr); err != nil {
		return nil, err
	}
	notRegistered := &NotRegisteredError{Owner: owner, Registry: o.Registry, Provider: addr, Testnet: o.Testnet}
	if st.Account.State != chain.StateActive {
		return st, notRegistered
	}
	if st.Data, err = (contracts.ProviderClient{Chain: o.Chain, Address: addr}).Data(ctx); err != nil {
		return nil, err
	}
	if st.Data.Status == contracts.ProviderUnregistered {
		return st, notRegistered
	}
	return st, nil
}

// ProviderView is everything a provider's getters expose, with what the registry says about it.
type ProviderView struct {
	*ProviderState
	Params      *contracts.ProviderParams
	Profile     *contracts.Profile
	Attestation *contracts.AttestationView
	Usage       *contracts.UsageTotals
	// RegistryParams are the registry's current parameters (its minimum stake is the one
	// eligibility uses; the provider's own copy refreshes with its next registry message).
	RegistryParams *contracts.RegistryParams
	// Models is the registry's catalog (the names of the models the provider prices).
	Models []contracts.Model
	// MeasurementKind is the registry's kind for the confirmed measurement (0: no longer
	// allowed, or no attestation).
	MeasurementKind contracts.MeasurementKind
	// Now is the chain's clock when it was read.
	Now time.Time
}

// ReadProvider reads owner's provider (LookupProvider's errors) and what it needs from the registry.
func (o *Ops) ReadProvider(ctx context.Context, owner *address.Address) (*ProviderView, error) {
	st, err := o.LookupProvider(ctx, owner)
	if err != nil {
		return nil, err
	}
	pc := contracts.ProviderClient{Chain: o.Chain, Address: st.Address}
	rc := o.registryClient()
	v := &ProviderView{ProviderState: st}
	if v.Params, err = pc.Params(ctx); err != nil {
		return nil, err
	}
	if v.Profile, err = pc.Profile(ctx); err != nil {
		return nil, err
	}
	if v.Attestation, err = pc.Attestation(ctx); err != nil {
		return nil, err
	}
	if v.Usage, err = pc.Usage(ctx); err != nil {
		return nil, err
	}
	if v.RegistryParams, err = rc.Params(ctx); err != nil {
		return nil, err
	}
	if v.Models, err = rc.Models(ctx); err != nil {
		return nil, err
	}
	if v.Now, err = o.now(ctx); err != nil {
		return nil, err
	}
	if v.HasClaim() {
		if v.MeasurementKind, err = rc.MeasurementKind(ctx, v.Attestation.MeasurementHash); err != nil {
			return nil, err
		}
	}
	return v, nil
}

// Surplus is the balance above stake, unbonding stake and the storage reserve: top-ups and
// rounding, returned to the owner with the next owner operation (zero or negative: none).
func (v *ProviderView) Surplus() *big.Int {
	s := new(big.Int).Sub(v.Account.Balance, v.Data.Stake.Nano())
	s.Sub(s, v.Data.UnbondingAmount.Nano())
	return s.Sub(s, big.NewInt(contracts.StorageReserve))
}

// HasClaim: a claim was confirmed once (it may have expired since).
func (v *ProviderView) HasClaim() bool { return !isZero(v.Attestation.MeasurementHash) }

// Unlocked: the unbonding stake can be withdrawn now.
func (v *ProviderView) Unlocked() bool { return uint32(v.Now.Unix()) >= v.Data.UnlockAt }

// PendingVotes counts the live oracle votes for another claim than the confirmed one (all live
// votes when none is confirmed).
func (v *ProviderView) PendingVotes() int {
	a := v.Attestation
	confirmed, _ := contracts.ClaimHash(a.MeasurementHash, a.EvidenceDigest, a.TLSKeyHash)
	n := 0
	for _, vote := range a.Votes {
		if vote.ValidUntil > uint32(v.Now.Unix()) && (!v.HasClaim() || !bytes.Equal(vote.ClaimHash, confirmed)) {
			n++
		}
	}
	return n
}

func isZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// ---------------------------------------------------------------- register

// RegisterInput registers a provider (or adds stake to a registered one: registering again is a
// top-up).
type RegisterInput struct {
	// Owner is the wallet that registers (the registry registers the sender). Nil: the Sender; a
	// plan without Sender or Owner is a link whose signer's provider is not looked up.
	Owner *address.Address
	// Stake to bond, at least the registry's minimum (the registry refuses less with 119).
	Stake *big.Int
	// Fee attached on top of the stake (nil: the registry's get_register_fee(stake), exactly what
	// it checks). A fee below the getter's is refused (118); the provider returns more at once.
	Fee     *big.Int
	QueryID uint64
}

// RegisterPlan is RegisterProvider with what was found.
type RegisterPlan struct {
	*Plan
	Stake, Fee *big.Int
	// RequiredFee is get_register_fee(stake) (nil when the chain was not read); FeeFromGetter
	// says Fee is it.
	RequiredFee   *big.Int
	FeeFromGetter bool
	// Provider is the owner's provider (nil when the owner is unknown); Registered says it
	// exists already (Existing holds its state), so the stake is added.
	Provider   *ProviderState
	Registered bool
}

// PlanRegister plans RegisterProvider. It reads the registry's fee unless in.Fee is given and the
// owner is unknown (a link signed elsewhere needs no chain then).
func (o *Ops) PlanRegister(ctx context.Context, in RegisterInput) (*RegisterPlan, error) {
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if in.Stake == nil || in.Stake.Sign() <= 0 {
		return nil, badInput("a registration needs a stake above 0 TON")
	}
	owner := in.Owner
	if o.Sender != nil {
		if owner != nil && !owner.Equals(o.Sender.Address()) {
			return nil, badInput("the registry registers the sending wallet %s, not %s", o.Friendly(o.Sender.Address(), false), o.Friendly(owner, false))
		}
		owner = o.Sender.Address()
	}
	if owner != nil && owner.Workchain() != 0 {
		return nil, refuse("registry", contracts.ExitNotBasechain, "provider owner %s is not in the basechain", o.Friendly(owner, false))
	}
	rp := &RegisterPlan{Stake: new(big.Int).Set(in.Stake)}
	hops := []Hop{{"registry", o.Registry}}
	if owner != nil {
		st, err := o.LookupProvider(ctx, owner)
		if err != nil && !isNotRegistered(err) {
			return nil, err
		}
		rp.Provider, rp.Registered = st, err == nil
		hops = append(hops, Hop{"provider", st.Address})
	}
	if in.Fee == nil || o.Chain != nil {
		if err := o.needChain(); err != nil {
			return nil, err
		}
		need, err := o.registryClient().RegisterFee(ctx, in.Stake)
		switch {
		case err != nil && in.Fee == nil:
			return nil, &FeeError{Getter: contracts.MethodGetRegisterFee, Err: err}
		case err == nil:
			rp.RequiredFee = need
		}
	}
	switch {
	case in.Fee == nil:
		rp.Fee, rp.FeeFromGetter = rp.RequiredFee, true
	case rp.RequiredFee != nil && in.Fee.Cmp(rp.RequiredFee) < 0:
		return nil, refuse("registry", contracts.ExitNotEnoughValue, "the fee %s is below the %s the registry asks on top of this stake (%s)",
			TON(in.Fee), TON(rp.RequiredFee), contracts.MethodGetRegisterFee)
	default:
		rp.Fee = new(big.Int).Set(in.Fee)
	}
	queryID := orNewQueryID(in.QueryID)
	body, err := encode(contracts.RegisterProvider{QueryID: queryID, StakeAmount: tlb.FromNanoTON(in.Stake)})
	if err != nil {
		return nil, err
	}
	rp.Plan = newPlan("register", new(big.Int).Add(in.Stake, rp.Fee), body, queryID, hops...)
	return rp, nil
}

func isNotRegistered(err error) bool {
	var nr *NotRegisteredError
	return errors.As(err, &nr)
}

// RegisterResult is a registration that went through.
type RegisterResult struct {
	*Sent
	// Provider is the owner's provider after it (nil when the plan did not know the owner or did
	// not wait).
	Provider *ProviderState
}

// SendRegister sends a registration and reads the provider after it.
func (o *Ops) SendRegister(ctx context.Context, p *RegisterPlan) (*RegisterResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &RegisterResult{Sent: sent}
	if err != nil || sent.Last(p.Plan) == nil || p.Provider == nil {
		return res, err
	}
	st := &ProviderState{Owner: p.Provider.Owner, Address: p.Provider.Address}
	if st.Account, err = o.Chain.GetAccount(ctx, st.Address); err != nil {
		return res, err
	}
	if st.Data, err = (contracts.ProviderClient{Chain: o.Chain, Address: st.Address}).Data(ctx); err != nil {
		return res, err
	}
	res.Provider = st
	return res, nil
}

// ---------------------------------------------------------------- owner operations

// OwnerOpKind is an owner's operation on its Provider contract.
type OwnerOpKind int

const (
	SetEndpoint OwnerOpKind = iota + 1
	SetPrice
	RemovePrice
	AddStake
	Unstake
	Withdraw
	Pause
	Resume
	Exit
)

var ownerOpNames = map[OwnerOpKind]string{
	SetEndpoint: "set-endpoint", SetPrice: "set-price", RemovePrice: "remove-price", AddStake: "add-stake",
	Unstake: "unstake", Withdraw: "withdraw", Pause: "pause", Resume: "resume", Exit: "exit",
}

func (k OwnerOpKind) String() string {
	if n, ok := ownerOpNames[k]; ok {
		return n
	}
	return fmt.Sprintf("OwnerOpKind(%d)", int(k))
}

// OwnerOp is one owner → provider message.
type OwnerOp struct {
	Kind OwnerOpKind
	// Endpoint (SetEndpoint): the RA-TLS URL clients connect to (CheckEndpoint).
	Endpoint string
	// ModelID (SetPrice, RemovePrice) is the registry's model id; the prices (SetPrice) are
	// nanoTON per 1M tokens.
	ModelID                      uint32
	PromptPrice, CompletionPrice *big.Int
	// Amount (AddStake, Unstake) is the stake to add (attached on top of the value) or to move
	// to unbonding.
	Amount *big.Int
}

// Check applies what needs no chain: the endpoint rule, prices given, amounts above zero.
func (op OwnerOp) Check() error {
	switch op.Kind {
	case SetEndpoint:
		return CheckEndpoint(op.Endpoint)
	case SetPrice:
		if op.PromptPrice == nil || op.CompletionPrice == nil || op.PromptPrice.Sign() < 0 || op.CompletionPrice.Sign() < 0 {
			return badInput("set-price needs a prompt and a completion price of 0 TON or more")
		}
	case AddStake, Unstake:
		if op.Amount == nil || op.Amount.Sign() <= 0 {
			return refuse("provider", contracts.ExitZeroAmount, "%s needs an amount above 0 TON", op.Kind)
		}
	case RemovePrice, Withdraw, Pause, Resume, Exit:
	default:
		return badInput("unknown owner operation %d", int(op.Kind))
	}
	return nil
}

// Message is the op's message with queryID.
func (op OwnerOp) Message(queryID uint64) (contracts.Message, error) {
	if err := op.Check(); err != nil {
		return nil, err
	}
	switch op.Kind {
	case SetEndpoint:
		text, err := contracts.TextCell(op.Endpoint, contracts.MaxEndpointBytes)
		if err != nil {
			return nil, &InputError{err}
		}
		return contracts.SetEndpoint{QueryID: queryID, Endpoint: text}, nil
	case SetPrice:
		return contracts.SetModelPrice{QueryID: queryID, ModelID: op.ModelID,
			PromptPricePerMillion: tlb.FromNanoTON(op.PromptPrice), CompletionPricePerMillion: tlb.FromNanoTON(op.CompletionPrice)}, nil
	case RemovePrice:
		return contracts.RemoveModelPrice{QueryID: queryID, ModelID: op.ModelID}, nil
	case AddStake:
		return contracts.AddStake{QueryID: queryID, Amount: tlb.FromNanoTON(op.Amount)}, nil
	case Unstake:
		return contracts.RequestUnstake{QueryID: queryID, Amount: tlb.FromNanoTON(op.Amount)}, nil
	case Withdraw:
		return contracts.WithdrawUnbonded{QueryID: queryID}, nil
	case Pause:
		return contracts.PauseProvider{QueryID: queryID}, nil
	case Resume:
		return contracts.ResumeProvider{QueryID: queryID}, nil
	default: // Exit; Check refused the rest
		return contracts.ExitProvider{QueryID: queryID}, nil
	}
}

// OwnerOpInput is an owner operation to plan.
type OwnerOpInput struct {
	// Owner names the provider (nil: the Sender's). The contract refuses every sender but its
	// owner (130).
	Owner *address.Address
	Op    OwnerOp
	// Value attached for gas (nil: DefaultOwnerOpValue); AddStake attaches its amount on top.
	Value   *big.Int
	QueryID uint64
}

// OwnerOpPlan is an owner operation with the provider's state before it.
type OwnerOpPlan struct {
	*Plan
	Provider *ProviderState
}

// PlanOwnerOp plans an owner operation: the op's own checks, then (SetPrice) the model in the
// registry's catalog (ErrUnknownModel: the provider contract would price any id) and the owner's
// registered provider (*NotRegisteredError).
func (o *Ops) PlanOwnerOp(ctx context.Context, in OwnerOpInput) (*OwnerOpPlan, error) {
	queryID := orNewQueryID(in.QueryID)
	msg, err := in.Op.Message(queryID)
	if err != nil {
		return nil, err
	}
	body, err := encode(msg)
	if err != nil {
		return nil, err
	}
	owner := in.Owner
	if owner == nil {
		if o.Sender == nil {
			return nil, badInput("%s needs the provider owner's address", in.Op.Kind)
		}
		owner = o.Sender.Address()
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if in.Op.Kind == SetPrice {
		found, err := o.registryClient().Model(ctx, in.Op.ModelID)
		if err != nil {
			return nil, err
		}
		if !found.Found {
			return nil, fmt.Errorf("%w: model %d is not in registry %s", ErrUnknownModel, in.Op.ModelID, o.Friendly(o.Registry, true))
		}
	}
	st, err := o.LookupProvider(ctx, owner)
	if err != nil {
		return nil, err
	}
	value := in.Value
	if value == nil {
		value = big.NewInt(DefaultOwnerOpValue)
	}
	if in.Op.Kind == AddStake {
		value = new(big.Int).Add(value, in.Op.Amount)
	}
	return &OwnerOpPlan{Plan: newPlan(in.Op.Kind.String(), value, body, queryID, Hop{"provider", st.Address}), Provider: st}, nil
}

// OwnerOpResult is an owner operation that went through.
type OwnerOpResult struct {
	*Sent
	// Withdrawn is the stake a Withdraw paid out (nil otherwise).
	Withdrawn *big.Int
}

// SendOwnerOp sends an owner operation. A refusal is a *ContractError naming the provider's exit
// code; the plan's Provider is the state it refused from.
func (o *Ops) SendOwnerOp(ctx context.Context, p *OwnerOpPlan) (*OwnerOpResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &OwnerOpResult{Sent: sent}
	if err != nil {
		return res, err
	}
	if tx := sent.Last(p.Plan); tx != nil {
		for _, m := range outMessages(tx) {
			if sw, err := contracts.DecodeAs[contracts.StakeWithdrawn](m.Body); err == nil {
				res.Withdrawn = sw.Amount.Nano()
			}
		}
	}
	return res, nil
}

// ---------------------------------------------------------------- the endpoint rule

// EndpointError is an endpoint the provider contract (InvalidEndpoint, 134) or the clients that
// connect to it cannot use.
type EndpointError struct {
	Endpoint string
	// Problem completes a sentence about the endpoint ("must start with https:// …").
	Problem string
	// Quote: the endpoint is quoted in the sentence (every problem but the length).
	Quote bool
}

// Describe is the problem with the endpoint called subject (e.g. a flag's name).
func (e *EndpointError) Describe(subject string) string {
	if e.Quote {
		return fmt.Sprintf("%s %q %s", subject, e.Endpoint, e.Problem)
	}
	return subject + " " + e.Problem
}

func (e *EndpointError) Error() string { return e.Describe("endpoint") }

// Is matches ErrBadInput.
func (e *EndpointError) Is(target error) bool { return target == ErrBadInput }

// CheckEndpoint applies the contract's rule (isEndpointValid: 1..127 bytes in one cell) and what
// clients need to reach an RA-TLS listener: an absolute https URL with a host, without
// credentials, query or fragment.
func CheckEndpoint(s string) error {
	bad := func(problem string) error { return &EndpointError{Endpoint: s, Problem: problem, Quote: true} }
	if len(s) == 0 || len(s) > contracts.MaxEndpointBytes {
		return &EndpointError{Endpoint: s, Problem: fmt.Sprintf("is %d bytes; the provider contract takes 1..%d", len(s), contracts.MaxEndpointBytes)}
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return bad("contains spaces or control characters")
	}
	u, err := url.Parse(s)
	if err != nil {
		return bad(fmt.Sprintf("is not a URL: %v", err))
	}
	switch {
	case u.Scheme != "https":
		return bad("must start with https:// (clients reach providers over RA-TLS)")
	case u.Host == "" || u.Hostname() == "":
		return bad("has no host")
	case u.User != nil:
		return bad("must not carry credentials: it is public on-chain")
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return bad("must not have a query or fragment (clients append their own paths)")
	}
	return nil
}
