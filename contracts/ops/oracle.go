package ops

import (
	"context"
	"encoding/binary"
	"fmt"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
)

// OracleVoteInput is an oracle's vote that a provider runs the attested claim.
type OracleVoteInput struct {
	// Oracle is the voting wallet (nil: the Sender; give it to plan a vote signed elsewhere).
	Oracle        *address.Address
	ProviderOwner *address.Address
	Claim         contracts.AttestationClaim
	// Value attached (nil: DefaultVoteValue); the provider returns what it does not spend.
	Value *big.Int
	// QueryID 0 is derived from the provider, the claim and its validity: the same vote asked
	// twice is sent once.
	QueryID uint64
}

// VotePlan is SubmitOracleVote with what the registry said about the voter.
type VotePlan struct {
	*Plan
	// Slot is the oracle's place in a provider's votes; Epoch the registry's oracle epoch (the
	// provider drops votes cast under an older one).
	Slot  uint8
	Epoch uint32
	// Provider is the provider voted on.
	Provider *ProviderState
}

// PlanOracleVote plans SubmitOracleVote from the oracle's wallet after the registry's checks: the sender is an oracle (114), the measurement is allowed (115), the claim is valid now
// (116) and not longer than the registry's maxAttestationLifetime (117) on the chain's clock. The
// provider must be registered (a vote for anyone else bounces back).
func (o *Ops) PlanOracleVote(ctx context.Context, in OracleVoteInput) (*VotePlan, error) {
	if in.ProviderOwner == nil {
		return nil, badInput("a vote needs the provider's owner")
	}
	_, me, err := o.oracleMember(ctx, in.Oracle, "a vote", "the vote")
	if err != nil {
		return nil, err
	}
	rc := o.registryClient()
	c := in.Claim
	kind, err := rc.MeasurementKind(ctx, c.MeasurementHash)
	if err != nil {
		return nil, err
	}
	if kind == 0 {
		return nil, refuse("registry", contracts.ExitMeasurementNotAllowed, "measurement %x is not on the registry's allow-list", c.MeasurementHash)
	}
	params, err := rc.Params(ctx)
	if err != nil {
		return nil, err
	}
	data, err := rc.Data(ctx)
	if err != nil {
		return nil, err
	}
	now, err := o.now(ctx)
	if err != nil {
		return nil, err
	}
	t := now.Unix()
	until := time.Unix(int64(c.ValidUntil), 0).UTC()
	if int64(c.ValidUntil) <= t {
		return nil, refuse("registry", contracts.ExitAttestationExpired, "the claim's validity ended at %s", until.Format(time.RFC3339))
	}
	if int64(c.ValidUntil) > t+int64(params.MaxAttestationLifetime) {
		return nil, refuse("registry", contracts.ExitAttestationTooLong, "the claim is valid until %s, beyond the registry's longest attestation (%v from now)",
			until.Format(time.RFC3339), time.Duration(params.MaxAttestationLifetime)*time.Second)
	}
	st, err := o.LookupProvider(ctx, in.ProviderOwner)
	if err != nil {
		return nil, err
	}
	queryID := in.QueryID
	if queryID == 0 {
		hash, err := contracts.ClaimHash(c.MeasurementHash, c.EvidenceDigest, c.TLSKeyHash)
		if err != nil {
			return nil, &InputError{err}
		}
		queryID = derivedQueryID([]byte("vote"), st.Address.Data(), hash, binary.BigEndian.AppendUint32(nil, c.ValidUntil))
	}
	claim := c
	body, err := encode(contracts.SubmitOracleVote{QueryID: queryID, ProviderOwner: in.ProviderOwner, Claim: &claim})
	if err != nil {
		return nil, err
	}
	value := in.Value
	if value == nil {
		value = big.NewInt(DefaultVoteValue)
	}
	p := newPlan("vote", value, body, queryID, Hop{"registry", o.Registry}, Hop{"provider", st.Address})
	return &VotePlan{Plan: p, Slot: me.Slot, Epoch: data.OracleEpoch, Provider: st}, nil
}

// VoteResult is a vote the provider applied, with its attestation after it.
type VoteResult struct {
	*Sent
	Attestation *contracts.AttestationView
}

// SendOracleVote sends a vote and reads the provider's attestation after it.
func (o *Ops) SendOracleVote(ctx context.Context, p *VotePlan) (*VoteResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &VoteResult{Sent: sent}
	if err != nil || sent.Last(p.Plan) == nil {
		return res, err
	}
	res.Attestation, err = contracts.ProviderClient{Chain: o.Chain, Address: p.Provider.Address}.Attestation(ctx)
	return res, err
}

// oracleMember resolves the wallet an oracle message comes from (named, or the Sender's) and checks
// it is one of the registry's oracles (114). a and the name the message in errors ("a vote", "the vote").
func (o *Ops) oracleMember(ctx context.Context, named *address.Address, a, the string) (*address.Address, *contracts.OracleLookup, error) {
	who := named
	if who == nil {
		if o.Sender == nil {
			return nil, nil, fmt.Errorf("%w: %s is sent from the oracle's wallet", ErrNoSender, a)
		}
		who = o.Sender.Address()
	}
	if o.Sender != nil && !who.Equals(o.Sender.Address()) {
		return nil, nil, badInput("the registry takes %s of the sending wallet %s, not %s", the, o.Friendly(o.Sender.Address(), false), o.Friendly(who, false))
	}
	if err := o.needRegistry(); err != nil {
		return nil, nil, err
	}
	if err := o.needChain(); err != nil {
		return nil, nil, err
	}
	me, err := o.registryClient().Oracle(ctx, who)
	if err != nil {
		return nil, nil, err
	}
	if !me.Found {
		return nil, nil, refuse("registry", contracts.ExitNotOracle, "wallet %s is not one of the registry's oracles", o.Friendly(who, false))
	}
	return who, me, nil
}

// DefaultUptimeValue: SubmitUptimeRoot (GAS_REGISTRY_UPTIME is 12,000 gas; the registry returns the rest).
const DefaultUptimeValue = 20_000_000

// UptimeRootInput is an oracle's commitment of its uptime table of one epoch.
type UptimeRootInput struct {
	// Oracle is the committing wallet (nil: the Sender; give it to plan a commitment signed elsewhere).
	Oracle        *address.Address
	Epoch         uint32
	Root          []byte
	ProviderCount uint32
	// Value attached (nil: DefaultUptimeValue); the registry returns what it does not spend.
	Value *big.Int
	// QueryID 0 is derived from the epoch, root and count: the same commitment asked twice is sent once.
	QueryID uint64
}

// UptimePlan is SubmitUptimeRoot with the oracle's commitment before it.
type UptimePlan struct {
	*Plan
	// Previous is the oracle's latest commitment now (Found false: none yet).
	Previous *contracts.UptimeLookup
}

// PlanUptimeRoot plans SubmitUptimeRoot after the registry's checks: the sender is an oracle (114)
// and the epoch is above its last committed one (123).
func (o *Ops) PlanUptimeRoot(ctx context.Context, in UptimeRootInput) (*UptimePlan, error) {
	if len(in.Root) != 32 {
		return nil, badInput("an uptime root is 32 bytes, got %d", len(in.Root))
	}
	who, _, err := o.oracleMember(ctx, in.Oracle, "an uptime root", "the commitment")
	if err != nil {
		return nil, err
	}
	rc := o.registryClient()
	prev, err := rc.UptimeRoot(ctx, who)
	if err != nil {
		return nil, err
	}
	if prev.Found && in.Epoch <= prev.Epoch {
		return nil, refuse("registry", contracts.ExitUptimeEpochNotNewer, "the oracle already committed epoch %d (now asked for epoch %d)", prev.Epoch, in.Epoch)
	}
	queryID := in.QueryID
	if queryID == 0 {
		queryID = derivedQueryID([]byte("uptime"), binary.BigEndian.AppendUint32(nil, in.Epoch), in.Root, binary.BigEndian.AppendUint32(nil, in.ProviderCount))
	}
	body, err := encode(contracts.SubmitUptimeRoot{QueryID: queryID, Epoch: in.Epoch, Root: in.Root, ProviderCount: in.ProviderCount})
	if err != nil {
		return nil, err
	}
	value := in.Value
	if value == nil {
		value = big.NewInt(DefaultUptimeValue)
	}
	p := newPlan("uptime", value, body, queryID, Hop{"registry", o.Registry})
	return &UptimePlan{Plan: p, Previous: prev}, nil
}

// UptimeResult is a commitment the registry stored, as its getter reads it after.
type UptimeResult struct {
	*Sent
	Commitment *contracts.UptimeLookup
}

// SendUptimeRoot sends a commitment and reads the oracle's commitment after it.
func (o *Ops) SendUptimeRoot(ctx context.Context, p *UptimePlan) (*UptimeResult, error) {
	sent, err := o.Send(ctx, p.Plan)
	res := &UptimeResult{Sent: sent}
	if err != nil || sent.Last(p.Plan) == nil {
		return res, err
	}
	res.Commitment, err = o.registryClient().UptimeRoot(ctx, o.Sender.Address())
	return res, err
}
