package contracts

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"
	"sort"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// Provider message opcodes (0x5052xxxx, "PR"), as in tolk/src/messages.tolk, and the standard
// excesses opcode both contracts send.
const (
	OpProviderRegistration uint32 = 0x50520001
	OpForwardedOracleVote  uint32 = 0x50520002
	OpForwardedSlash       uint32 = 0x50520003
	OpForwardedJail        uint32 = 0x50520004
	OpSetEndpoint          uint32 = 0x50520010
	OpSetModelPrice        uint32 = 0x50520011
	OpRemoveModelPrice     uint32 = 0x50520012
	OpAddStake             uint32 = 0x50520013
	OpRequestUnstake       uint32 = 0x50520014
	OpWithdrawUnbonded     uint32 = 0x50520015
	OpPauseProvider        uint32 = 0x50520016
	OpResumeProvider       uint32 = 0x50520017
	OpExitProvider         uint32 = 0x50520018
	OpSlashedStake         uint32 = 0x50520020
	OpStakeWithdrawn       uint32 = 0x50520021
	OpReturnExcess         uint32 = 0xd53276db
)

// Text limits the contracts enforce (InvalidModelName, InvalidEndpoint).
const (
	MaxModelNameBytes = 64
	MaxEndpointBytes  = 127
)

// ProviderStatus is the lifecycle state of a Provider contract.
type ProviderStatus uint8

const (
	// ProviderUnregistered: deployed address, registry message not processed yet.
	ProviderUnregistered ProviderStatus = 0
	ProviderActive       ProviderStatus = 1
	// ProviderPaused: the owner stopped serving; stake stays bonded.
	ProviderPaused ProviderStatus = 2
	// ProviderExiting: all stake moved to unbonding.
	ProviderExiting ProviderStatus = 3
	// ProviderJailed: governance froze stake movements until JailedUntil. The contract never
	// stores it; get_provider_data reports it as EffectiveStatus while now < JailedUntil.
	ProviderJailed ProviderStatus = 4
	// ProviderSlashed: slashed below the minimum stake; add stake or exit.
	ProviderSlashed ProviderStatus = 5
)

func (s ProviderStatus) String() string {
	switch s {
	case ProviderUnregistered:
		return "unregistered"
	case ProviderActive:
		return "active"
	case ProviderPaused:
		return "paused"
	case ProviderExiting:
		return "exiting"
	case ProviderJailed:
		return "jailed"
	case ProviderSlashed:
		return "slashed"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ---------------------------------------------------------------- storage

// ProviderParams is the provider's copy of the registry parameters it enforces itself, refreshed
// by every registry → provider message.
type ProviderParams struct {
	MinStake        tlb.Coins        `tlb:"." json:"minStake"`
	UnbondingPeriod uint32           `tlb:"## 32" json:"unbondingPeriod"`
	Treasury        *address.Address `tlb:"addr std required" json:"treasury"`
}

// ModelPrice is a per-model price (the value of ProviderProfile.Models), nanoTON per 1M tokens.
type ModelPrice struct {
	PromptPricePerMillion     tlb.Coins `tlb:"." json:"promptPricePerMillion"`
	CompletionPricePerMillion tlb.Coins `tlb:"." json:"completionPricePerMillion"`
}

// ProviderProfile is what the owner publishes.
type ProviderProfile struct {
	// Endpoint is 1..127 bytes of URL, or an empty cell until SetEndpoint; see CellText.
	Endpoint *cell.Cell `tlb:"^" json:"endpoint"`
	// ModelCount INVARIANT: equals the number of entries in Models.
	ModelCount uint8 `tlb:"## 8" json:"modelCount"`
	// Models: uint32 model id → ModelPrice; see PriceList.
	Models *cell.Dictionary `tlb:"dict 32" json:"models"`
}

// AttestationRecord is the attestation a quorum of oracles confirmed.
type AttestationRecord struct {
	MeasurementHash []byte `tlb:"bits 256" json:"measurementHash"`
	EvidenceDigest  []byte `tlb:"bits 256" json:"evidenceDigest"`
	TLSKeyHash      []byte `tlb:"bits 256" json:"tlsKeyHash"`
	// ValidUntil is the quorum-th largest validUntil of the votes for this claim; never lowered.
	ValidUntil uint32 `tlb:"## 32" json:"validUntil"`
	// AttestedAt is when it was confirmed or last extended.
	AttestedAt uint32 `tlb:"## 32" json:"attestedAt"`
}

// OracleVote is one oracle's latest vote (the value of AttestationState.Votes).
type OracleVote struct {
	// ClaimHash is ClaimHash of the claim voted for.
	ClaimHash []byte `tlb:"bits 256" json:"claimHash"`
	// Round is AttestationState.Round when the vote was cast.
	Round uint32 `tlb:"## 32" json:"round"`
}

// AttestationState is the provider's attestation: the confirmed claim and each oracle's latest vote
// (docs/PROTOCOL.md "Attestation votes").
type AttestationState struct {
	// Confirmed is nil until a claim reached quorum.
	Confirmed *AttestationRecord `tlb:"maybe ^" json:"confirmed"`
	// Round grows each time Confirmed changes to another claim; only votes cast since can confirm
	// another claim.
	Round uint32 `tlb:"## 32" json:"round"`
	// OracleEpoch is the registry's oracle epoch of the votes held (a newer one voids them).
	OracleEpoch uint32 `tlb:"## 32" json:"oracleEpoch"`
	// Votes: uint40 key (validUntil << 8 | oracle slot) → OracleVote; see VoteList.
	Votes *cell.Dictionary `tlb:"dict 40" json:"votes"`
}

// UsageTotals are fed by payment channels.
type UsageTotals struct {
	PromptTokens     uint64 `tlb:"## 64" json:"promptTokens"`
	CompletionTokens uint64 `tlb:"## 64" json:"completionTokens"`
	// Earned is nanoTON after the protocol fee.
	Earned tlb.Coins `tlb:"." json:"earned"`
}

// ProviderStorage is the Provider contract's data cell.
type ProviderStorage struct {
	Owner    *address.Address `tlb:"addr std required" json:"owner"`
	Registry *address.Address `tlb:"addr std required" json:"registry"`
	Status   ProviderStatus   `tlb:"## 8" json:"status"`
	// Stake is the bonded stake.
	Stake tlb.Coins `tlb:"." json:"stake"`
	// UnbondingAmount INVARIANT: Stake + UnbondingAmount <= balance.
	UnbondingAmount tlb.Coins `tlb:"." json:"unbondingAmount"`
	// UnlockAt is when UnbondingAmount may leave.
	UnlockAt uint32 `tlb:"## 32" json:"unlockAt"`
	// JailedUntil: the status is ProviderJailed until this time (or a governance unjail).
	JailedUntil uint32 `tlb:"## 32" json:"jailedUntil"`
	// Params is nil until the registry's first message.
	Params *ProviderParams `tlb:"maybe ^" json:"params"`
	// Profile is nil until the owner sets an endpoint or a price.
	Profile     *ProviderProfile  `tlb:"maybe ^" json:"profile"`
	Attestation *AttestationState `tlb:"maybe ^" json:"attestation"`
	Usage       *UsageTotals      `tlb:"maybe ^" json:"usage"`
}

// DecodeProviderStorage parses a Provider account's data cell.
func DecodeProviderStorage(data *cell.Cell) (*ProviderStorage, error) {
	var st ProviderStorage
	if data == nil {
		return nil, fmt.Errorf("failed to decode provider storage: %w: no data", ErrMalformedBody)
	}
	if err := decodeExact(&st, data); err != nil {
		return nil, fmt.Errorf("failed to decode provider storage: %w", err)
	}
	return &st, nil
}

// EncodeProviderStorage builds a Provider data cell.
func EncodeProviderStorage(st *ProviderStorage) (*cell.Cell, error) {
	if st == nil {
		return nil, errors.New("failed to encode provider storage: nil")
	}
	if err := validateFields(reflectValue(st), "ProviderStorage"); err != nil {
		return nil, fmt.Errorf("failed to encode provider storage: %w", err)
	}
	c, err := tlb.ToCell(st)
	if err != nil {
		return nil, fmt.Errorf("failed to encode provider storage: %w", err)
	}
	return c, nil
}

// ProviderInitData is the initial data the Registry deploys a Provider with (the address
// preimage): owner and registry, every other field zero or null (calcProviderInitialData).
func ProviderInitData(registry, owner *address.Address) (*cell.Cell, error) {
	return EncodeProviderStorage(&ProviderStorage{
		Owner:           owner,
		Registry:        registry,
		Status:          ProviderUnregistered,
		Stake:           tlb.ZeroCoins,
		UnbondingAmount: tlb.ZeroCoins,
	})
}

// ProviderAddress is owner's Provider contract address under registry, computed exactly as the
// Registry does: StateInit{code: providerCode, data: ProviderInitData} in the basechain. Pass
// ProviderCode() unless the registry was deployed with other provider code (RegistryCodes).
func ProviderAddress(providerCode *cell.Cell, registry, owner *address.Address) (*address.Address, error) {
	if err := checkStdAddr("registry", registry); err != nil {
		return nil, err
	}
	if err := checkStdAddr("owner", owner); err != nil {
		return nil, err
	}
	data, err := ProviderInitData(registry, owner)
	if err != nil {
		return nil, err
	}
	return AddressOf(providerCode, data)
}

// ModelPriceEntry is one model a provider serves, with its prices.
type ModelPriceEntry struct {
	ModelID uint32
	ModelPrice
}

// PriceList decodes the provider's model prices, in model id order.
func (p *ProviderProfile) PriceList() ([]ModelPriceEntry, error) {
	var out []ModelPriceEntry
	err := forEachEntry(p.Models, 32, "model prices", func(key *cell.Slice, v *cell.Slice) error {
		id, err := key.LoadUInt(32)
		if err != nil {
			return err
		}
		var price ModelPrice
		if err := tlb.LoadFromCell(&price, v); err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		out = append(out, ModelPriceEntry{ModelID: uint32(id), ModelPrice: price})
		return nil
	})
	return out, err
}

// ErrBadClaim is a claim whose hashes are not 32 bytes each.
var ErrBadClaim = errors.New("bad attestation claim")

// ClaimHash is how a provider identifies what a vote is for: sha256 of the claim's measurement hash,
// evidence digest and TLS key hash (32 bytes each, big-endian), without its validUntil.
func ClaimHash(measurementHash, evidenceDigest, tlsKeyHash []byte) ([]byte, error) {
	h := sha256.New()
	for _, part := range [][]byte{measurementHash, evidenceDigest, tlsKeyHash} {
		if len(part) != 32 {
			return nil, fmt.Errorf("%w: claim hash part has %d bytes, want 32", ErrBadClaim, len(part))
		}
		h.Write(part)
	}
	return h.Sum(nil), nil
}

// Vote is one oracle's latest vote held by a provider.
type Vote struct {
	ValidUntil uint32
	// Slot is the oracle's OracleInfo.Slot (get_oracle).
	Slot uint8
	OracleVote
}

// VoteList decodes a provider's votes (AttestationState.Votes, or get_attestation's votes), the
// largest validUntil first. Votes whose validUntil has passed count for nothing.
func VoteList(votes *cell.Dictionary) ([]Vote, error) {
	var out []Vote
	err := forEachEntry(votes, 40, "votes", func(key *cell.Slice, v *cell.Slice) error {
		k, err := key.LoadUInt(40)
		if err != nil {
			return err
		}
		var ov OracleVote
		if err := tlb.LoadFromCell(&ov, v); err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		out = append(out, Vote{ValidUntil: uint32(k >> 8), Slot: uint8(k), OracleVote: ov})
		return nil
	})
	sort.Slice(out, func(i, j int) bool {
		if out[i].ValidUntil != out[j].ValidUntil {
			return out[i].ValidUntil > out[j].ValidUntil
		}
		return out[i].Slot > out[j].Slot
	})
	return out, err
}

// ---------------------------------------------------------------- messages

// ProviderRegistration (registry → provider) deploys the provider or tops its stake up. Owner is
// repeated so that a bounce can be refunded.
type ProviderRegistration struct {
	_           tlb.Magic        `tlb:"#50520001"`
	QueryID     uint64           `tlb:"## 64" json:"queryId"`
	Owner       *address.Address `tlb:"addr std required" json:"owner"`
	StakeAmount tlb.Coins        `tlb:"." json:"stakeAmount"`
	Params      *ProviderParams  `tlb:"^" json:"params"`
}

// ForwardedOracleVote (registry → provider) carries one oracle's vote.
type ForwardedOracleVote struct {
	_       tlb.Magic `tlb:"#50520002"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// OracleWallet gets the excess (or the refund on bounce).
	OracleWallet *address.Address `tlb:"addr std required" json:"oracleWallet"`
	// OracleSlot is the voter's place among the current oracles (OracleInfo.Slot).
	OracleSlot uint8 `tlb:"## 8" json:"oracleSlot"`
	// OracleEpoch is the registry's oracle epoch: a provider drops the votes of an older one.
	OracleEpoch uint32 `tlb:"## 32" json:"oracleEpoch"`
	// Quorum is the registry's oracleQuorum at forwarding time.
	Quorum uint8             `tlb:"## 8" json:"quorum"`
	Claim  *AttestationClaim `tlb:"^" json:"claim"`
	Params *ProviderParams   `tlb:"^" json:"params"`
}

// ForwardedSlash (registry → provider) slashes stake to the treasury.
type ForwardedSlash struct {
	_       tlb.Magic `tlb:"#50520003"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// ExcessTo (governance) gets the excess (or the refund on bounce).
	ExcessTo       *address.Address `tlb:"addr std required" json:"excessTo"`
	Amount         tlb.Coins        `tlb:"." json:"amount"`
	EvidenceDigest []byte           `tlb:"bits 256" json:"evidenceDigest"`
	Params         *ProviderParams  `tlb:"^" json:"params"`
}

// ForwardedJail (registry → provider) jails (Until > 0) or unjails (Until == 0) the provider.
type ForwardedJail struct {
	_        tlb.Magic        `tlb:"#50520004"`
	QueryID  uint64           `tlb:"## 64" json:"queryId"`
	ExcessTo *address.Address `tlb:"addr std required" json:"excessTo"`
	Until    uint32           `tlb:"## 32" json:"until"`
	Params   *ProviderParams  `tlb:"^" json:"params"`
}

// SetEndpoint (owner → provider) publishes the provider's URL.
type SetEndpoint struct {
	_       tlb.Magic `tlb:"#50520010"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// Endpoint: 1..127 bytes of UTF-8 URL, no refs; see TextCell.
	Endpoint *cell.Cell `tlb:"^" json:"endpoint"`
}

// SetModelPrice (owner → provider) adds or reprices a served model.
type SetModelPrice struct {
	_       tlb.Magic `tlb:"#50520011"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	ModelID uint32    `tlb:"## 32" json:"modelId"`
	// PromptPricePerMillion is nanoTON per 1M prompt tokens.
	PromptPricePerMillion tlb.Coins `tlb:"." json:"promptPricePerMillion"`
	// CompletionPricePerMillion is nanoTON per 1M completion tokens.
	CompletionPricePerMillion tlb.Coins `tlb:"." json:"completionPricePerMillion"`
}

// RemoveModelPrice (owner → provider) stops serving a model.
type RemoveModelPrice struct {
	_       tlb.Magic `tlb:"#50520012"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	ModelID uint32    `tlb:"## 32" json:"modelId"`
}

// AddStake (owner → provider) bonds more stake; the value must cover Amount + the fee.
type AddStake struct {
	_       tlb.Magic `tlb:"#50520013"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	Amount  tlb.Coins `tlb:"." json:"amount"`
}

// RequestUnstake (owner → provider) moves Amount of stake to unbonding; the unlock time becomes
// now + unbondingPeriod (a new request extends it).
type RequestUnstake struct {
	_       tlb.Magic `tlb:"#50520014"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	Amount  tlb.Coins `tlb:"." json:"amount"`
}

// WithdrawUnbonded (owner → provider) pays out unlocked unbonding stake and any surplus balance.
type WithdrawUnbonded struct {
	_       tlb.Magic `tlb:"#50520015"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// PauseProvider (owner → provider) stops serving; stake stays bonded.
type PauseProvider struct {
	_       tlb.Magic `tlb:"#50520016"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ResumeProvider (owner → provider) resumes serving.
type ResumeProvider struct {
	_       tlb.Magic `tlb:"#50520017"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ExitProvider (owner → provider) moves all stake to unbonding and stops serving.
type ExitProvider struct {
	_       tlb.Magic `tlb:"#50520018"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ReturnExcess is the standard excesses notification (as jettons): the unused attached value.
type ReturnExcess struct {
	_       tlb.Magic `tlb:"#d53276db"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// SlashedStake (provider → treasury) carries slashed stake.
type SlashedStake struct {
	_              tlb.Magic        `tlb:"#50520020"`
	QueryID        uint64           `tlb:"## 64" json:"queryId"`
	ProviderOwner  *address.Address `tlb:"addr std required" json:"providerOwner"`
	EvidenceDigest []byte           `tlb:"bits 256" json:"evidenceDigest"`
}

// StakeWithdrawn (provider → owner) pays out stake; Amount is the unbonded stake included (the
// rest of the value is surplus or excess).
type StakeWithdrawn struct {
	_       tlb.Magic `tlb:"#50520021"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	Amount  tlb.Coins `tlb:"." json:"amount"`
}

func (ProviderRegistration) Opcode() uint32 { return OpProviderRegistration }
func (ForwardedOracleVote) Opcode() uint32  { return OpForwardedOracleVote }
func (ForwardedSlash) Opcode() uint32       { return OpForwardedSlash }
func (ForwardedJail) Opcode() uint32        { return OpForwardedJail }
func (SetEndpoint) Opcode() uint32          { return OpSetEndpoint }
func (SetModelPrice) Opcode() uint32        { return OpSetModelPrice }
func (RemoveModelPrice) Opcode() uint32     { return OpRemoveModelPrice }
func (AddStake) Opcode() uint32             { return OpAddStake }
func (RequestUnstake) Opcode() uint32       { return OpRequestUnstake }
func (WithdrawUnbonded) Opcode() uint32     { return OpWithdrawUnbonded }
func (PauseProvider) Opcode() uint32        { return OpPauseProvider }
func (ResumeProvider) Opcode() uint32       { return OpResumeProvider }
func (ExitProvider) Opcode() uint32         { return OpExitProvider }
func (ReturnExcess) Opcode() uint32         { return OpReturnExcess }
func (SlashedStake) Opcode() uint32         { return OpSlashedStake }
func (StakeWithdrawn) Opcode() uint32       { return OpStakeWithdrawn }

func (ProviderRegistration) MessageName() string { return "ProviderRegistration" }
func (ForwardedOracleVote) MessageName() string  { return "ForwardedOracleVote" }
func (ForwardedSlash) MessageName() string       { return "ForwardedSlash" }
func (ForwardedJail) MessageName() string        { return "ForwardedJail" }
func (SetEndpoint) MessageName() string          { return "SetEndpoint" }
func (SetModelPrice) MessageName() string        { return "SetModelPrice" }
func (RemoveModelPrice) MessageName() string     { return "RemoveModelPrice" }
func (AddStake) MessageName() string             { return "AddStake" }
func (RequestUnstake) MessageName() string       { return "RequestUnstake" }
func (WithdrawUnbonded) MessageName() string     { return "WithdrawUnbonded" }
func (PauseProvider) MessageName() string        { return "PauseProvider" }
func (ResumeProvider) MessageName() string       { return "ResumeProvider" }
func (ExitProvider) MessageName() string         { return "ExitProvider" }
func (ReturnExcess) MessageName() string         { return "ReturnExcess" }
func (SlashedStake) MessageName() string         { return "SlashedStake" }
func (StakeWithdrawn) MessageName() string       { return "StakeWithdrawn" }

func init() {
	registerMessages(ProviderRegistration{}, ForwardedOracleVote{}, ForwardedSlash{}, ForwardedJail{},
		SetEndpoint{}, SetModelPrice{}, RemoveModelPrice{}, AddStake{}, RequestUnstake{},
		WithdrawUnbonded{}, PauseProvider{}, ResumeProvider{}, ExitProvider{}, ReturnExcess{},
		SlashedStake{}, StakeWithdrawn{})
}

// ---------------------------------------------------------------- getters

// Provider get-method names.
const (
	MethodGetProviderData   = "get_provider_data"
	MethodGetProviderParams = "get_provider_params"
	MethodGetProfile        = "get_profile"
	MethodGetModelPrice     = "get_model_price"
	MethodGetAttestation    = "get_attestation"
	MethodIsAttested        = "is_attested"
	MethodGetUsage          = "get_usage"
)

// ProviderData is the result of get_provider_data.
type ProviderData struct {
	Owner    *address.Address
	Registry *address.Address
	// Status is the stored status; EffectiveStatus is ProviderJailed while now < JailedUntil.
	Status          ProviderStatus
	EffectiveStatus ProviderStatus
	Stake           tlb.Coins
	UnbondingAmount tlb.Coins
	UnlockAt        uint32
	JailedUntil     uint32
}

// DecodeProviderData decodes get_provider_data.
func DecodeProviderData(res *chain.GetMethodResult) (*ProviderData, error) {
	r, err := newStackReader(MethodGetProviderData, res)
	if err != nil {
		return nil, err
	}
	var d ProviderData
	if d.Owner, err = r.address("owner"); err != nil {
		return nil, err
	}
	if d.Registry, err = r.address("registry"); err != nil {
		return nil, err
	}
	status, err := r.uint("status", 8)
	if err != nil {
		return nil, err
	}
	effective, err := r.uint("effectiveStatus", 8)
	if err != nil {
		return nil, err
	}
	d.Status, d.EffectiveStatus = ProviderStatus(status), ProviderStatus(effective)
	if d.Stake, err = r.tonCoins("stake"); err != nil {
		return nil, err
	}
	if d.UnbondingAmount, err = r.tonCoins("unbondingAmount"); err != nil {
		return nil, err
	}
	unlock, err := r.uint("unlockAt", 32)
	if err != nil {
		return nil, err
	}
	jailed, err := r.uint("jailedUntil", 32)
	if err != nil {
		return nil, err
	}
	d.UnlockAt, d.JailedUntil = uint32(unlock), uint32(jailed)
	return &d, r.done()
}

// DecodeProviderParams decodes get_provider_params. Before registration every field is zero and
// Treasury is nil.
func DecodeProviderParams(res *chain.GetMethodResult) (*ProviderParams, error) {
	r, err := newStackReader(MethodGetProviderParams, res)
	if err != nil {
		return nil, err
	}
	var p ProviderParams
	if p.MinStake, err = r.tonCoins("minStake"); err != nil {
		return nil, err
	}
	unbonding, err := r.uint("unbondingPeriod", 32)
	if err != nil {
		return nil, err
	}
	p.UnbondingPeriod = uint32(unbonding)
	if p.Treasury, err = r.maybeAddress("treasury"); err != nil {
		return nil, err
	}
	return &p, r.done()
}

// Profile is the result of get_profile.
type Profile struct {
	// Endpoint is empty until SetEndpoint.
	Endpoint   string
	ModelCount uint8
	Prices     []ModelPriceEntry
}

// DecodeProfile decodes get_profile.
func DecodeProfile(res *chain.GetMethodResult) (*Profile, error) {
	r, err := newStackReader(MethodGetProfile, res)
	if err != nil {
		return nil, err
	}
	var p Profile
	endpoint, err := r.maybeCell("endpoint")
	if err != nil {
		return nil, err
	}
	if endpoint != nil {
		if p.Endpoint, err = CellText(endpoint); err != nil {
			return nil, fmt.Errorf("%s: %w", MethodGetProfile, err)
		}
	}
	count, err := r.uint("modelCount", 8)
	if err != nil {
		return nil, err
	}
	p.ModelCount = uint8(count)
	models, err := r.maybeCell("models")
	if err != nil {
		return nil, err
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if models != nil {
		if p.Prices, err = (&ProviderProfile{Models: models.AsDict(32)}).PriceList(); err != nil {
			return nil, fmt.Errorf("%s: %w", MethodGetProfile, err)
		}
	}
	return &p, nil
}

// ModelPriceLookup is the result of get_model_price.
type ModelPriceLookup struct {
	Found bool
	// Prices are zero when not found.
	ModelPrice
}

// DecodeModelPrice decodes get_model_price.
func DecodeModelPrice(res *chain.GetMethodResult) (*ModelPriceLookup, error) {
	r, err := newStackReader(MethodGetModelPrice, res)
	if err != nil {
		return nil, err
	}
	var m ModelPriceLookup
	if m.Found, err = r.bool("found"); err != nil {
		return nil, err
	}
	if m.PromptPricePerMillion, err = r.tonCoins("promptPricePerMillion"); err != nil {
		return nil, err
	}
	if m.CompletionPricePerMillion, err = r.tonCoins("completionPricePerMillion"); err != nil {
		return nil, err
	}
	return &m, r.done()
}

// AttestationView is the result of get_attestation: the confirmed claim (zero if none) and the
// votes the provider holds.
type AttestationView struct {
	// Attested: a claim reached quorum and now < ValidUntil.
	Attested        bool
	MeasurementHash []byte
	EvidenceDigest  []byte
	TLSKeyHash      []byte
	ValidUntil      uint32
	AttestedAt      uint32
	Round           uint32
	// OracleEpoch is the registry's oracle epoch of Votes: if the registry's is newer
	// (RegistryData.OracleEpoch), they are void.
	OracleEpoch uint32
	// Votes, the largest validUntil first (see VoteList).
	Votes []Vote
}

// DecodeAttestation decodes get_attestation.
func DecodeAttestation(res *chain.GetMethodResult) (*AttestationView, error) {
	r, err := newStackReader(MethodGetAttestation, res)
	if err != nil {
		return nil, err
	}
	var v AttestationView
	if v.Attested, err = r.bool("attested"); err != nil {
		return nil, err
	}
	for _, h := range []struct {
		name string
		dst  *[]byte
	}{{"measurementHash", &v.MeasurementHash}, {"evidenceDigest", &v.EvidenceDigest}, {"tlsKeyHash", &v.TLSKeyHash}} {
		if *h.dst, err = r.hash(h.name); err != nil {
			return nil, err
		}
	}
	var nums [4]uint64
	for i, name := range []string{"validUntil", "attestedAt", "round", "oracleEpoch"} {
		if nums[i], err = r.uint(name, 32); err != nil {
			return nil, err
		}
	}
	v.ValidUntil, v.AttestedAt, v.Round, v.OracleEpoch = uint32(nums[0]), uint32(nums[1]), uint32(nums[2]), uint32(nums[3])
	votes, err := r.maybeCell("votes")
	if err != nil {
		return nil, err
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if votes != nil {
		if v.Votes, err = VoteList(votes.AsDict(40)); err != nil {
			return nil, fmt.Errorf("%s: %w", MethodGetAttestation, err)
		}
	}
	return &v, nil
}

// DecodeIsAttested decodes is_attested.
func DecodeIsAttested(res *chain.GetMethodResult) (bool, error) {
	r, err := newStackReader(MethodIsAttested, res)
	if err != nil {
		return false, err
	}
	b, err := r.bool("attested")
	if err != nil {
		return false, err
	}
	return b, r.done()
}

// DecodeUsage decodes get_usage.
func DecodeUsage(res *chain.GetMethodResult) (*UsageTotals, error) {
	r, err := newStackReader(MethodGetUsage, res)
	if err != nil {
		return nil, err
	}
	var u UsageTotals
	if u.PromptTokens, err = r.uint("promptTokens", 64); err != nil {
		return nil, err
	}
	if u.CompletionTokens, err = r.uint("completionTokens", 64); err != nil {
		return nil, err
	}
	if u.Earned, err = r.tonCoins("earned"); err != nil {
		return nil, err
	}
	return &u, r.done()
}

// ProviderClient reads a deployed Provider through its get-methods.
type ProviderClient struct {
	Chain   GetMethodRunner
	Address *address.Address
}

func (c ProviderClient) target() getterTarget { return getterTarget{c.Chain, c.Address, "provider"} }

// Data runs get_provider_data.
func (c ProviderClient) Data(ctx context.Context) (*ProviderData, error) {
	return callGetter(ctx, c.target(), MethodGetProviderData, DecodeProviderData)
}

// Params runs get_provider_params.
func (c ProviderClient) Params(ctx context.Context) (*ProviderParams, error) {
	return callGetter(ctx, c.target(), MethodGetProviderParams, DecodeProviderParams)
}

// Profile runs get_profile.
func (c ProviderClient) Profile(ctx context.Context) (*Profile, error) {
	return callGetter(ctx, c.target(), MethodGetProfile, DecodeProfile)
}

// ModelPrice runs get_model_price.
func (c ProviderClient) ModelPrice(ctx context.Context, modelID uint32) (*ModelPriceLookup, error) {
	return callGetter(ctx, c.target(), MethodGetModelPrice, DecodeModelPrice, new(big.Int).SetUint64(uint64(modelID)))
}

// Attestation runs get_attestation.
func (c ProviderClient) Attestation(ctx context.Context) (*AttestationView, error) {
	return callGetter(ctx, c.target(), MethodGetAttestation, DecodeAttestation)
}

// IsAttested runs is_attested.
func (c ProviderClient) IsAttested(ctx context.Context) (bool, error) {
	return callGetter(ctx, c.target(), MethodIsAttested, DecodeIsAttested)
}

// Usage runs get_usage.
func (c ProviderClient) Usage(ctx context.Context) (*UsageTotals, error) {
	return callGetter(ctx, c.target(), MethodGetUsage, DecodeUsage)
}
