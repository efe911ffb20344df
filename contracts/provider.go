package contracts

import (
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
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
	// ProviderJailed: governance froze stake movements until JailedUntil.
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

// AttestationRecord is the last attestation round that reached quorum.
type AttestationRecord struct {
	MeasurementHash []byte `tlb:"bits 256" json:"measurementHash"`
	EvidenceDigest  []byte `tlb:"bits 256" json:"evidenceDigest"`
	TLSKeyHash      []byte `tlb:"bits 256" json:"tlsKeyHash"`
	// ValidUntil is the smallest validUntil of the round's votes.
	ValidUntil uint32 `tlb:"## 32" json:"validUntil"`
	// AttestedAt is when quorum was reached.
	AttestedAt uint32 `tlb:"## 32" json:"attestedAt"`
}

// AttestationRound collects votes for one (measurement, evidence digest, TLS key) triple.
type AttestationRound struct {
	MeasurementHash []byte `tlb:"bits 256" json:"measurementHash"`
	EvidenceDigest  []byte `tlb:"bits 256" json:"evidenceDigest"`
	TLSKeyHash      []byte `tlb:"bits 256" json:"tlsKeyHash"`
	// ValidUntil is the smallest validUntil over the votes so far.
	ValidUntil uint32 `tlb:"## 32" json:"validUntil"`
	// VoteCount INVARIANT: equals the number of entries in Votes.
	VoteCount uint8 `tlb:"## 8" json:"voteCount"`
	// Votes: uint256 oracle public key → uint32 vote time; see VoteList.
	Votes *cell.Dictionary `tlb:"dict 256" json:"votes"`
}

// AttestationState is the provider's attestation.
type AttestationState struct {
	// Confirmed is nil until a round reached quorum.
	Confirmed *AttestationRecord `tlb:"maybe ^" json:"confirmed"`
	// Round is nil when no votes are being collected.
	Round *AttestationRound `tlb:"maybe ^" json:"round"`
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

// Vote is one oracle vote in an attestation round.
type Vote struct {
	OracleKey []byte
	VotedAt   uint32
}

// VoteList decodes the round's votes, in key order.
func (r *AttestationRound) VoteList() ([]Vote, error) {
	var out []Vote
	err := forEachEntry(r.Votes, 256, "votes", func(key *cell.Slice, v *cell.Slice) error {
		k, err := key.LoadSlice(256)
		if err != nil {
			return err
		}
		at, err := v.LoadUInt(32)
		if err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		out = append(out, Vote{OracleKey: k, VotedAt: uint32(at)})
		return nil
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
	// OracleKey identifies the voter inside the round.
	OracleKey []byte `tlb:"bits 256" json:"oracleKey"`
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
