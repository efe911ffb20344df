package ops

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/voucher"
)

// ---------------------------------------------------------------- reading

// ChannelView is a deployed channel as its getters show it.
type ChannelView struct {
	Address *address.Address
	Account *chain.Account
	Data    *contracts.ChannelData
	State   *contracts.ChannelState
}

// ReadChannel reads a deployed channel; an address without an active account is ErrNoChannel.
func (o *Ops) ReadChannel(ctx context.Context, ch *address.Address) (*ChannelView, error) {
	if err := o.needChain(); err != nil {
		return nil, err
	}
	acc, err := o.Chain.GetAccount(ctx, ch)
	if err != nil {
		return nil, err
	}
	if acc.State != chain.StateActive {
		return nil, fmt.Errorf("%w at %s: the account is %s", ErrNoChannel, ch.StringRaw(), acc.State)
	}
	cc := contracts.ChannelClient{Chain: o.Chain, Address: ch}
	data, err := cc.Data(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s (is it a channel?): %w", ch.StringRaw(), err)
	}
	st, err := cc.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s (is it a channel?): %w", ch.StringRaw(), err)
	}
	return &ChannelView{Address: ch, Account: acc, Data: data, State: st}, nil
}

// ChannelAddress is the registry's channel of (client key, the provider of providerOwner), from
// its get_channel_address: nil while the registry has no channel code.
func (o *Ops) ChannelAddress(ctx context.Context, clientKey ed25519.PublicKey, providerOwner *address.Address) (*address.Address, error) {
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	return contracts.RegistryChannelAddress(ctx, o.Chain, o.Registry, clientKey, providerOwner)
}

// requireInit refuses a channel the registry's ChannelInit has not reached.
func (v *ChannelView) requireInit() error {
	if v.State.Status == contracts.ChannelUninit {
		return refuse("channel", contracts.ExitChannelNotOpen, "channel %s was deployed without the registry's ChannelInit", v.Address.StringRaw())
	}
	return nil
}

// channelPlan is a message to the channel, waited for in the channel's transaction.
func channelPlan(op string, value *big.Int, body *cell.Cell, queryID uint64, ch *address.Address) *Plan {
	return newPlan(op, value, body, queryID, Hop{"channel", ch})
}

// ---------------------------------------------------------------- open and top up

// OpenInput opens a channel (or adds to its deposit when it exists: its terms stay as it first
// opened).
type OpenInput struct {
	// ProviderOwner owns the Provider contract the channel pays.
	ProviderOwner *address.Address
	// ClientKey signs vouchers and close requests.
	ClientKey ed25519.PublicKey
	// Deposit is what the channel holds for claims after opening (its available balance).
	Deposit *big.Int
	// Fee attached on top of the deposit (nil: the registry's get_open_channel_fee, exactly what
	// it checks). A fee below it is refused (118); more stays in the channel as deposit.
	Fee     *big.Int
	QueryID uint64
}

// OpenPlan is OpenChannel with what was found.
type OpenPlan struct {
	*Plan
	Channel, Provider *address.Address
	Deposit, Fee      *big.Int
	// RequiredFee is get_open_channel_fee.
	RequiredFee *big.Int
	// Exists: the channel is deployed already, so this only adds to its deposit.
	Exists bool
}

// PlanOpen plans OpenChannel. It refuses a registry without channel code (150), a fee below the
// registry's (118) and an owner without a Provider contract.
func (o *Ops) PlanOpen(ctx context.Context, in OpenInput) (*OpenPlan, error) {
	if err := o.needRegistry(); err != nil {
		return nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, err
	}
	if in.ProviderOwner == nil || in.Deposit == nil || in.Deposit.Sign() <= 0 {
		return nil, badInput("an open needs the provider owner and a deposit above 0 TON")
	}
	queryID := orNewQueryID(in.QueryID)
	msg, err := contracts.NewOpenChannel(queryID, in.ProviderOwner, in.ClientKey)
	if err != nil {
		return nil, &InputError{err}
	}
	rc := o.registryClient()
	need, err := rc.OpenChannelFee(ctx)
	if code, ok := contracts.AsExitCode(err); ok && code == contracts.ExitChannelsDisabled {
		return nil, refuse("registry", code, "registry %s has no channel code", o.Registry.StringRaw())
	}
	if err != nil {
		return nil, &FeeError{Getter: contracts.MethodGetOpenChannelFee, Err: err}
	}
	op := &OpenPlan{Deposit: new(big.Int).Set(in.Deposit), RequiredFee: need, Fee: need}
	if in.Fee != nil {
		if in.Fee.Cmp(need) < 0 {
			return nil, refuse("registry", contracts.ExitNotEnoughValue, "the open fee %s is below the registry's %s (%s)", TON(in.Fee), TON(need), contracts.MethodGetOpenChannelFee)
		}
		op.Fee = new(big.Int).Set(in.Fee)
	}
	if op.Provider, err = rc.ProviderAddress(ctx, in.ProviderOwner); err != nil {
		return nil, err
	}
	pacc, err := o.Chain.GetAccount(ctx, op.Provider)
	if err != nil {
		return nil, err
	}
	if pacc.State != chain.StateActive {
		return nil, refuse("registry", 0, "%s has no provider registered at registry %s (its Provider contract %s is %s)",
			o.Friendly(in.ProviderOwner, true), o.Friendly(o.Registry, true), op.Provider.StringRaw(), pacc.State)
	}
	if op.Channel, err = contracts.RegistryChannelAddress(ctx, o.Chain, o.Registry, in.ClientKey, in.ProviderOwner); err != nil {
		return nil, err
	}
	body, err := encode(msg)
	if err != nil {
		return nil, err
	}
	existing, err := o.Chain.GetAccount(ctx, op.Channel)
	if err != nil {
		return nil, err
	}
	op.Exists = existing.State == chain.StateActive
	op.Plan = newPlan("open", new(big.Int).Add(in.Deposit, op.Fee), body, queryID, Hop{"registry", o.Registry}, Hop{"channel", op.Channel})
	return op, nil
}

// ChannelResult is a channel operation that went through, with the channel's state after it
// (nil when Send did not wait).
type ChannelResult struct {
	*Sent
	After *contracts.ChannelState
}

// SendOpen sends an open and reads the channel after it.
func (o *Ops) SendOpen(ctx context.Context, p *OpenPlan) (*ChannelResult, error) {
	return o.sendAndRead(ctx, p.Plan, p.Channel)
}

func (o *Ops) sendAndRead(ctx context.Context, p *Plan, ch *address.Address) (*ChannelResult, error) {
	sent, err := o.Send(ctx, p)
	res := &ChannelResult{Sent: sent}
	if err != nil || sent.Last(p) == nil {
		return res, err
	}
	v, err := o.ReadChannel(ctx, ch)
	if err != nil {
		return res, err
	}
	res.After = v.State
	return res, nil
}

// TopUpInput adds to a channel's deposit with a plain transfer (anyone may; also while closing).
type TopUpInput struct {
	Channel *address.Address
	Amount  *big.Int
}

// PlanTopUp plans a top-up of a deployed channel (a transfer to a missing one would bounce,
// losing fees, or with a link could be sent non-bounceable and be lost): ErrNoChannel otherwise.
func (o *Ops) PlanTopUp(ctx context.Context, in TopUpInput) (*Plan, error) {
	if in.Channel == nil || in.Amount == nil || in.Amount.Sign() <= 0 {
		return nil, badInput("a top-up needs the channel and an amount above 0 TON")
	}
	if _, err := o.ReadChannel(ctx, in.Channel); err != nil {
		return nil, err
	}
	// No key: a top-up asked twice is two top-ups.
	return channelPlan("top-up", in.Amount, nil, 0, in.Channel), nil
}

// SendTopUp sends a top-up and reads the channel after it.
func (o *Ops) SendTopUp(ctx context.Context, p *Plan) (*ChannelResult, error) {
	return o.sendAndRead(ctx, p, p.To)
}

// ---------------------------------------------------------------- claims

// ClaimInput claims a client-signed voucher (anyone may relay it; the provider owner is paid).
type ClaimInput struct {
	// Channel, when given, must be the voucher's (else refused: 155).
	Channel *address.Address
	Voucher voucher.Signed
	// Value attached (nil: the channel's claimCost + ClaimMargin). Below claimCost is refused (118).
	Value *big.Int
	// QueryID 0 is derived from the voucher and the value: asking twice to claim one voucher
	// (while the first request is in flight, or after it went through) sends once.
	QueryID uint64
}

// ClaimRemainderInput claims what the accepted voucher still owes after a top-up.
type ClaimRemainderInput struct {
	Channel *address.Address
	Value   *big.Int
	// QueryID 0 is derived from the channel's paid, owed and available amounts: asked twice
	// before anything changed, it sends once; after a top-up it is a new request.
	QueryID uint64
}

// ClaimPlan is a Claim or ClaimRemainder with the channel as it was read.
type ClaimPlan struct {
	*Plan
	Channel *ChannelView
	// Voucher is the claimed voucher (nil for ClaimRemainder).
	Voucher *voucher.Signed
}

// PlanClaim plans a Claim after the channel's own checks: the voucher names this channel (155),
// the channel is open (153), the signature verifies under its client key (154, the chain's
// rule: voucher.Signed.Verify), the voucher is newer than the accepted one (156, voucher.CheckNewer)
// and the value covers claimCost (118).
func (o *Ops) PlanClaim(ctx context.Context, in ClaimInput) (*ClaimPlan, error) {
	s := in.Voucher
	ch := s.Channel
	if ch == nil {
		return nil, badInput("the voucher names no channel")
	}
	if in.Channel != nil && !in.Channel.Equals(ch) {
		return nil, refuse("channel", contracts.ExitWrongChannel, "the voucher is for channel %s, not %s", o.Friendly(ch, true), o.Friendly(in.Channel, true))
	}
	v, err := o.ReadChannel(ctx, ch)
	if err != nil {
		return nil, fmt.Errorf("the voucher names channel %s: %w", o.Friendly(ch, true), err)
	}
	if err := v.requireInit(); err != nil {
		return nil, err
	}
	if err := s.Verify(v.Data.ClientKey); err != nil {
		return nil, refuse("channel", contracts.ExitInvalidSignature, "the voucher's signature does not verify under the channel's client key %s (signed by another key, or altered)", hex.EncodeToString(v.Data.ClientKey))
	}
	if err := CheckNewer(v.State.Accepted(ch), s.Voucher); err != nil {
		return nil, err
	}
	value, err := claimValue(v.State, in.Value)
	if err != nil {
		return nil, err
	}
	queryID := in.QueryID
	if queryID == 0 {
		h, err := s.Hash()
		if err != nil {
			return nil, &InputError{err}
		}
		queryID = derivedQueryID([]byte("claim"), h, s.Signature[:], value.Bytes())
	}
	msg, err := contracts.NewClaim(queryID, s)
	if err != nil {
		return nil, &InputError{err}
	}
	body, err := encode(msg)
	if err != nil {
		return nil, err
	}
	signed := s
	signed.Voucher = s.Voucher.Copy()
	return &ClaimPlan{Plan: channelPlan("claim", value, body, queryID, ch), Channel: v, Voucher: &signed}, nil
}

// CheckNewer refuses, naming exit code 156, a voucher the channel would not accept after its
// accepted state (the contract's rule, voucher.CheckNewer: a higher amount, or the same amount
// with a token total above the accepted ones), saying why.
func CheckNewer(accepted, v voucher.Voucher) error {
	if voucher.CheckNewer(&accepted, &v) == nil {
		return nil
	}
	if v.Amount.Cmp(accepted.Amount) < 0 {
		return refuse("channel", contracts.ExitVoucherNotNewer, "voucher is not newer: amount %s < accepted %s (money orders vouchers, whatever the token totals)",
			TON(v.Amount), TON(accepted.Amount))
	}
	if v.PromptTokens == accepted.PromptTokens && v.CompletionTokens == accepted.CompletionTokens {
		return refuse("channel", contracts.ExitVoucherNotNewer, "voucher is not newer: it equals the accepted voucher (already claimed)")
	}
	return refuse("channel", contracts.ExitVoucherNotNewer, "voucher is not newer: amount %s equals the accepted one and no token total is above the accepted ones (promptTokens %d <= %d, completionTokens %d <= %d)",
		TON(v.Amount), v.PromptTokens, accepted.PromptTokens, v.CompletionTokens, accepted.CompletionTokens)
}

// claimValue is the value given, or claimCost + ClaimMargin; never below claimCost.
func claimValue(st *contracts.ChannelState, given *big.Int) (*big.Int, error) {
	cost := st.ClaimCost.Nano()
	if given == nil {
		return new(big.Int).Add(cost, big.NewInt(ClaimMargin)), nil
	}
	if given.Cmp(cost) < 0 {
		return nil, refuse("channel", contracts.ExitNotEnoughValue, "the value %s is below the channel's claim cost %s", TON(given), TON(cost))
	}
	return new(big.Int).Set(given), nil
}

// PlanClaimRemainder plans a ClaimRemainder: the channel is open (153), something is owed and
// available (157), the value covers claimCost (118).
func (o *Ops) PlanClaimRemainder(ctx context.Context, in ClaimRemainderInput) (*ClaimPlan, error) {
	if in.Channel == nil {
		return nil, badInput("claim-remainder needs the channel")
	}
	v, err := o.ReadChannel(ctx, in.Channel)
	if err != nil {
		return nil, err
	}
	if err := v.requireInit(); err != nil {
		return nil, err
	}
	st := v.State
	if st.Owed.Nano().Sign() == 0 || st.Available.Nano().Sign() == 0 {
		return nil, refuse("channel", contracts.ExitNothingToClaim, "nothing to claim: owed %s, available %s", TON(st.Owed.Nano()), TON(st.Available.Nano()))
	}
	value, err := claimValue(st, in.Value)
	if err != nil {
		return nil, err
	}
	queryID := in.QueryID
	if queryID == 0 {
		queryID = derivedQueryID([]byte("claim-remainder"), in.Channel.Data(), st.Paid.Nano().Bytes(), st.Owed.Nano().Bytes(), st.Available.Nano().Bytes())
	}
	body, err := encode(contracts.ClaimRemainder{QueryID: queryID})
	if err != nil {
		return nil, err
	}
	return &ClaimPlan{Plan: channelPlan("claim-remainder", value, body, queryID, in.Channel), Channel: v}, nil
}

// ClaimResult is what a claim paid, as the channel reported it to the Provider contract.
type ClaimResult struct {
	*Sent
	// Claimed is the claim's money and usage: paid out of the channel (earned by the provider
	// owner + the protocol fee to the treasury) and the token deltas.
	Claimed *contracts.Claimed
	// ProviderErr is the Provider contract's refusal of the usage report: the report bounced, the
	// channel paid owner and treasury itself, and the provider's usage totals miss this claim.
	ProviderErr error
	// After is the channel's state after the claim.
	After *contracts.ChannelState
	// ProviderUsage is the provider's usage totals after it (nil when they could not be read).
	ProviderUsage *contracts.UsageTotals
}

// SendClaim sends a Claim or ClaimRemainder, follows it to the Provider contract and reads what it
// paid, the channel after it and the provider's totals. A partial result comes with the error.
func (o *Ops) SendClaim(ctx context.Context, p *ClaimPlan) (*ClaimResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &ClaimResult{Sent: sent}
	tx := sent.Last(p.Plan)
	if err != nil || tx == nil {
		return res, err
	}
	report := outgoing(tx, contracts.OpChannelUsage)
	if report == nil {
		return res, fmt.Errorf("%s: the channel's transaction sent no usage report", p.Op)
	}
	usage, err := contracts.DecodeAs[contracts.ChannelUsage](report.Body)
	if err != nil {
		return res, fmt.Errorf("%s: failed to read the channel's usage report: %w", p.Op, err)
	}
	if res.Claimed, err = usage.Claimed(); err != nil {
		return res, fmt.Errorf("%s: %w", p.Op, err)
	}
	// Not a hop of the plan: the channel has paid whatever the Provider contract does with the report.
	provider := p.Channel.Data.Provider
	path := sent.Outcome.Cascade.Path(p.To, provider)
	if len(path) < 2 {
		why := sent.Outcome.Cascade.Err
		if why == nil {
			why = txmgr.ErrNotReached
		}
		return res, fmt.Errorf("%s: the channel reported the claim but the Provider contract's transaction did not show up: %w", p.Op, why)
	}
	res.ProviderErr = TxError(path[1].Tx)
	after, err := o.ReadChannel(ctx, p.To)
	if err != nil {
		return res, err
	}
	res.After = after.State
	if u, err := (contracts.ProviderClient{Chain: o.Chain, Address: provider}).Usage(ctx); err == nil {
		res.ProviderUsage = u
	}
	return res, nil
}

// ---------------------------------------------------------------- closing

// CloseInput starts a close with the client's key: after the challenge period anyone can
// finalize it and the deposit left goes to RefundTo.
type CloseInput struct {
	Channel   *address.Address
	ClientKey ed25519.PrivateKey
	// RefundTo receives the deposit left (nil: the sending wallet).
	RefundTo *address.Address
	// KeyName names the key in a refusal ("the key in client.channel"; "": "the client key").
	KeyName string
	// Value attached (nil: DefaultCloseValue).
	Value *big.Int
	// QueryID 0 is derived from the channel and its close nonce.
	QueryID uint64
}

// ClosePlan is a StartClose with the channel as it was read and the request's nonce.
type ClosePlan struct {
	*Plan
	Channel  *ChannelView
	Nonce    uint32
	RefundTo *address.Address
}

// PlanClose plans a StartClose: the channel is open (153; 158 when already closing) and the key is
// its client key (154). The request carries the channel's current close nonce (161 otherwise).
func (o *Ops) PlanClose(ctx context.Context, in CloseInput) (*ClosePlan, error) {
	if in.Channel == nil || len(in.ClientKey) != ed25519.PrivateKeySize {
		return nil, badInput("a close needs the channel and its client key")
	}
	refund := in.RefundTo
	if refund == nil {
		if o.Sender == nil {
			return nil, badInput("a close signed elsewhere needs the refund address")
		}
		refund = o.Sender.Address()
	}
	v, err := o.ReadChannel(ctx, in.Channel)
	if err != nil {
		return nil, err
	}
	if err := v.requireInit(); err != nil {
		return nil, err
	}
	pub := in.ClientKey.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, v.Data.ClientKey) {
		name := in.KeyName
		if name == "" {
			name = "the client key"
		}
		return nil, refuse("channel", contracts.ExitInvalidSignature, "%s (public %s) is not the channel's client key %s", name, hex.EncodeToString(pub), hex.EncodeToString(v.Data.ClientKey))
	}
	if v.State.Status == contracts.ChannelClosing {
		return nil, refuse("channel", contracts.ExitAlreadyClosing, "the channel is already closing (deadline %s)", Deadline(v.State).Format(time.RFC3339))
	}
	nonce := v.State.CloseNonce
	queryID := in.QueryID
	if queryID == 0 {
		queryID = derivedQueryID([]byte("close"), in.Channel.Data(), binary.BigEndian.AppendUint32(nil, nonce))
	}
	msg, err := contracts.NewStartClose(queryID, contracts.CloseRequest{Channel: in.Channel, CloseNonce: nonce, RefundTo: refund}, in.ClientKey)
	if err != nil {
		return nil, &InputError{err}
	}
	body, err := encode(msg)
	if err != nil {
		return nil, err
	}
	value := in.Value
	if value == nil {
		value = big.NewInt(DefaultCloseValue)
	}
	return &ClosePlan{Plan: channelPlan("close", value, body, queryID, in.Channel), Channel: v, Nonce: nonce, RefundTo: refund}, nil
}

// Deadline is when a closing channel may be finalized (unix 0 unless closing).
func Deadline(st *contracts.ChannelState) time.Time {
	return time.Unix(int64(st.CloseDeadline), 0).UTC()
}

// SendClose sends a StartClose and reads the channel after it (its close deadline).
func (o *Ops) SendClose(ctx context.Context, p *ClosePlan) (*ChannelResult, error) {
	return o.sendAndRead(ctx, p.Plan, p.To)
}

// FinalizeInput ends a close after the challenge period (anyone may): the deposit left goes to the
// close request's refund address.
type FinalizeInput struct {
	Channel *address.Address
	// NoCheck sends even when the chain's clock says the challenge period is not over (the
	// contract decides).
	NoCheck bool
	Value   *big.Int
	// QueryID 0 is a random one: a finalize refused (too early) may be asked again later.
	QueryID uint64
}

// CooperativeCloseInput ends a close at once, from the provider owner's wallet (the channel's
// payout address).
type CooperativeCloseInput struct {
	Channel *address.Address
	Value   *big.Int
	QueryID uint64
}

// EndClosePlan is a FinalizeClose or CooperativeClose with the channel as it was read.
type EndClosePlan struct {
	*Plan
	Channel *ChannelView
}

// PlanFinalize plans a FinalizeClose: the channel is closing (159) and its deadline has passed on
// the chain's clock (160, unless NoCheck).
func (o *Ops) PlanFinalize(ctx context.Context, in FinalizeInput) (*EndClosePlan, error) {
	v, err := o.readClosing(ctx, in.Channel)
	if err != nil {
		return nil, err
	}
	now, err := o.now(ctx)
	if err != nil {
		return nil, err
	}
	end := Deadline(v.State)
	if left := end.Sub(now); left > 0 && !in.NoCheck {
		return nil, refuse("channel", contracts.ExitChallengeNotOver, "the challenge period ends at %s, in %v (the provider may still claim until then; the provider owner can end it early with cooperative-close)",
			end.Format(time.RFC3339), left.Round(time.Second))
	}
	return o.endClosePlan("finalize", v, in.Value, in.QueryID, func(q uint64) contracts.Message { return contracts.FinalizeClose{QueryID: q} })
}

// PlanCooperativeClose plans a CooperativeClose: the channel is closing (159) and the sending
// wallet, when known, is its payout address (162).
func (o *Ops) PlanCooperativeClose(ctx context.Context, in CooperativeCloseInput) (*EndClosePlan, error) {
	v, err := o.readClosing(ctx, in.Channel)
	if err != nil {
		return nil, err
	}
	if o.Sender != nil && !o.Sender.Address().Equals(v.Data.PayoutTo) {
		return nil, refuse("channel", contracts.ExitNotPayee, "only the provider owner %s may end a close early, not wallet %s", o.Friendly(v.Data.PayoutTo, false), o.Friendly(o.Sender.Address(), false))
	}
	return o.endClosePlan("cooperative-close", v, in.Value, in.QueryID, func(q uint64) contracts.Message { return contracts.CooperativeClose{QueryID: q} })
}

func (o *Ops) readClosing(ctx context.Context, ch *address.Address) (*ChannelView, error) {
	if ch == nil {
		return nil, badInput("no channel address")
	}
	v, err := o.ReadChannel(ctx, ch)
	if err != nil {
		return nil, err
	}
	if v.State.Status != contracts.ChannelClosing {
		return nil, refuse("channel", contracts.ExitNotClosing, "the channel is %s, not closing", v.State.Status)
	}
	return v, nil
}

func (o *Ops) endClosePlan(op string, v *ChannelView, value *big.Int, queryID uint64, msg func(uint64) contracts.Message) (*EndClosePlan, error) {
	queryID = orNewQueryID(queryID)
	body, err := encode(msg(queryID))
	if err != nil {
		return nil, err
	}
	if value == nil {
		value = big.NewInt(DefaultCloseValue)
	}
	return &EndClosePlan{Plan: channelPlan(op, value, body, queryID, v.Address), Channel: v}, nil
}

// EndCloseResult is a close that ended: the refund it sent.
type EndCloseResult struct {
	*Sent
	// Refunded went to RefundTo (zero when nothing was above the reserve).
	Refunded *big.Int
	RefundTo *address.Address
}

// SendEndClose sends a FinalizeClose or CooperativeClose and reads the refund from the channel's
// transaction.
func (o *Ops) SendEndClose(ctx context.Context, p *EndClosePlan) (*EndCloseResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &EndCloseResult{Sent: sent, Refunded: new(big.Int), RefundTo: p.Channel.State.RefundTo}
	tx := sent.Last(p.Plan)
	if err != nil || tx == nil {
		return res, err
	}
	if m := outgoing(tx, contracts.OpChannelRefund); m != nil {
		res.Refunded = m.Amount.Nano()
	}
	return res, nil
}

// IsRefusal reports whether err is a local pre-check's refusal naming code.
func IsRefusal(err error, code contracts.ExitCode) bool {
	var r *Refusal
	return errors.As(err, &r) && r.Code == code
}
