package contracts

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// Registry message opcodes (0x5247xxxx, "RG"), as in tolk/src/messages.tolk.
const (
	OpProposeGovernance       uint32 = 0x52470001
	OpAcceptGovernance        uint32 = 0x52470002
	OpUpdateParams            uint32 = 0x52470003
	OpAddMeasurement          uint32 = 0x52470004
	OpRevokeMeasurement       uint32 = 0x52470005
	OpAddModel                uint32 = 0x52470006
	OpUpdateModel             uint32 = 0x52470007
	OpRemoveModel             uint32 = 0x52470008
	OpAddOracle               uint32 = 0x52470009
	OpRemoveOracle            uint32 = 0x5247000a
	OpSlashProvider           uint32 = 0x5247000b
	OpJailProvider            uint32 = 0x5247000c
	OpUnjailProvider          uint32 = 0x5247000d
	OpWithdrawRegistrySurplus uint32 = 0x5247000e
	OpRegisterProvider        uint32 = 0x52470010
	OpSubmitOracleVote        uint32 = 0x52470011
	OpSubmitUptimeRoot        uint32 = 0x52470013
	OpRefundBounced           uint32 = 0x52470020
)

// NetworkKind is fixed when a registry is deployed; only a devnet registry accepts simulated TEEs.
type NetworkKind uint8

const (
	NetworkDevnet  NetworkKind = 0
	NetworkTestnet NetworkKind = 1
	NetworkMainnet NetworkKind = 2
)

func (k NetworkKind) String() string {
	switch k {
	case NetworkDevnet:
		return "devnet"
	case NetworkTestnet:
		return "testnet"
	case NetworkMainnet:
		return "mainnet"
	}
	return fmt.Sprintf("network(%d)", uint8(k))
}

// MeasurementKind is the TEE technology an allowed measurement hash belongs to.
type MeasurementKind uint8

const (
	MeasurementTDX MeasurementKind = 1
	MeasurementSNP MeasurementKind = 2
	// MeasurementSim is the simulated TEE: accepted only by a NetworkDevnet registry.
	MeasurementSim MeasurementKind = 3
)

func (k MeasurementKind) String() string {
	switch k {
	case MeasurementTDX:
		return "tdx"
	case MeasurementSNP:
		return "snp"
	case MeasurementSim:
		return "sim"
	}
	return fmt.Sprintf("measurement-kind(%d)", uint8(k))
}

// ---------------------------------------------------------------- storage

// RegistryParams are the governance-tunable parameters (Registry storage, UpdateParams).
type RegistryParams struct {
	MinProviderStake tlb.Coins `tlb:"." json:"minProviderStake"`
	// UnbondingPeriod in seconds.
	UnbondingPeriod uint32 `tlb:"## 32" json:"unbondingPeriod"`
	// ProtocolFeeBps is at most 10000.
	ProtocolFeeBps uint16 `tlb:"## 16" json:"protocolFeeBps"`
	// Treasury receives slashed stake, protocol fees and registry surplus.
	Treasury *address.Address `tlb:"addr std required" json:"treasury"`
	// ChallengePeriod in seconds: the payment channel close challenge window.
	ChallengePeriod uint32 `tlb:"## 32" json:"challengePeriod"`
	// OracleQuorum is the number (>= 1) of distinct oracle votes one evidence digest needs.
	OracleQuorum uint8 `tlb:"## 8" json:"oracleQuorum"`
	// MaxAttestationLifetime in seconds: a vote's validUntil is at most now + this.
	MaxAttestationLifetime uint32 `tlb:"## 32" json:"maxAttestationLifetime"`
}

// ModelInfo is a registry catalog entry (the value of RegistryCatalog.Models).
type ModelInfo struct {
	WeightsHash []byte `tlb:"bits 256" json:"weightsHash"`
	// Name is a cell of 1..64 bytes of UTF-8 and no refs; see TextCell.
	Name *cell.Cell `tlb:"^" json:"name"`
}

// UptimeCommitment is an oracle's latest uptime commitment (SubmitUptimeRoot), kept in its OracleInfo.
type UptimeCommitment struct {
	// Epoch is the oracle's epoch number the table covers.
	Epoch uint32 `tlb:"## 32" json:"epoch"`
	// Root is the Merkle root of the oracle's uptime table of that epoch (package uptime).
	Root []byte `tlb:"bits 256" json:"root"`
	// ProviderCount is the number of leaves in the table.
	ProviderCount uint32 `tlb:"## 32" json:"providerCount"`
	// CommittedAt is the unix time of the registry's transaction.
	CommittedAt uint32 `tlb:"## 32" json:"committedAt"`
}

// OracleInfo is the value of RegistryStorage.Oracles.
type OracleInfo struct {
	// PublicKey is the ed25519 key the oracle signs off-chain reports with.
	PublicKey []byte `tlb:"bits 256" json:"publicKey"`
	// Slot (0..63, unique among the current oracles) is the oracle's place in a provider's votes.
	Slot uint8 `tlb:"## 8" json:"slot"`
	// Uptime is nil until the oracle's first SubmitUptimeRoot; it leaves with the oracle.
	Uptime *UptimeCommitment `tlb:"maybe ^" json:"uptime"`
}

// RegistryCatalog is the rarely-read registry state, one ref away from the root.
type RegistryCatalog struct {
	// ProviderCode is the code the registry deploys Provider contracts with.
	ProviderCode *cell.Cell `tlb:"^" json:"providerCode"`
	// ChannelCode is nil until the Channel contract exists.
	ChannelCode *cell.Cell `tlb:"maybe ^" json:"channelCode"`
	// ModelCount INVARIANT: equals the number of entries in Models.
	ModelCount uint16 `tlb:"## 16" json:"modelCount"`
	// Models: uint32 model id → ModelInfo; see ModelList.
	Models *cell.Dictionary `tlb:"dict 32" json:"models"`
}

// RegistryStorage is the Registry contract's data cell.
type RegistryStorage struct {
	Governance *address.Address `tlb:"addr std required" json:"governance"`
	// PendingGovernance is nil (addr_none on-chain) when no handover is in progress.
	PendingGovernance *address.Address `tlb:"addr std" json:"pendingGovernance"`
	NetworkKind       NetworkKind      `tlb:"## 8" json:"networkKind"`
	// OracleCount INVARIANT: equals the number of entries in Oracles.
	OracleCount uint16 `tlb:"## 16" json:"oracleCount"`
	// OracleSlots INVARIANT: bit i is set iff an oracle has slot i.
	OracleSlots uint64 `tlb:"## 64" json:"oracleSlots"`
	// OracleEpoch grows at every RemoveOracle; providers drop the votes cast under an older one.
	OracleEpoch uint32          `tlb:"## 32" json:"oracleEpoch"`
	Params      *RegistryParams `tlb:"^" json:"params"`
	// Measurements: uint256 measurement hash → uint8 MeasurementKind; see MeasurementList.
	Measurements *cell.Dictionary `tlb:"dict 256" json:"measurements"`
	// Oracles: oracle wallet address (267-bit key) → OracleInfo; see OracleList.
	Oracles *cell.Dictionary `tlb:"dict 267" json:"oracles"`
	Catalog *RegistryCatalog `tlb:"^" json:"catalog"`
}

// DecodeRegistryStorage parses a Registry account's data cell.
func DecodeRegistryStorage(data *cell.Cell) (*RegistryStorage, error) {
	var st RegistryStorage
	if data == nil {
		return nil, fmt.Errorf("failed to decode registry storage: %w: no data", ErrMalformedBody)
	}
	if err := decodeExact(&st, data); err != nil {
		return nil, fmt.Errorf("failed to decode registry storage: %w", err)
	}
	if st.PendingGovernance != nil && st.PendingGovernance.IsAddrNone() {
		st.PendingGovernance = nil
	}
	return &st, nil
}

// EncodeRegistryStorage builds a Registry data cell, e.g. the initial data of a new registry.
func EncodeRegistryStorage(st *RegistryStorage) (*cell.Cell, error) {
	if st == nil {
		return nil, errors.New("failed to encode registry storage: nil")
	}
	if err := validateFields(reflectValue(st), "RegistryStorage"); err != nil {
		return nil, fmt.Errorf("failed to encode registry storage: %w", err)
	}
	c, err := tlb.ToCell(st)
	if err != nil {
		return nil, fmt.Errorf("failed to encode registry storage: %w", err)
	}
	return c, nil
}

// NewRegistryStorage is the initial data of a registry: no pending governance, no measurements,
// oracles or models, and no channel code yet.
func NewRegistryStorage(governance *address.Address, network NetworkKind, params RegistryParams, providerCode *cell.Cell) *RegistryStorage {
	return &RegistryStorage{
		Governance:  governance,
		NetworkKind: network,
		Params:      &params,
		Catalog:     &RegistryCatalog{ProviderCode: providerCode},
	}
}

// RegistryDeploy returns what deploys a registry with initial storage st (see NewRegistryStorage)
// and the embedded Registry code: the StateInit to attach to the first message, and the address.
// The contract does not check its initial data, so this refuses a treasury outside the basechain
// (the registry would refuse to pass it to any provider or channel: ExitInvalidParams).
func RegistryDeploy(st *RegistryStorage) (*tlb.StateInit, *address.Address, error) {
	if st == nil || st.Params == nil || st.Params.Treasury == nil || st.Params.Treasury.Workchain() != 0 {
		return nil, nil, fmt.Errorf("registry deploy data: the treasury must be a basechain address: %w", ExitInvalidParams)
	}
	data, err := EncodeRegistryStorage(st)
	if err != nil {
		return nil, nil, err
	}
	code := RegistryCode()
	addr, err := AddressOf(code, data)
	if err != nil {
		return nil, nil, err
	}
	return &tlb.StateInit{Code: code, Data: data}, addr, nil
}

// Measurement is one allowed TEE measurement.
type Measurement struct {
	Hash []byte
	Kind MeasurementKind
}

// MeasurementList decodes the allowed measurements, in key order.
func (st *RegistryStorage) MeasurementList() ([]Measurement, error) {
	var out []Measurement
	err := forEachEntry(st.Measurements, 256, "measurements", func(key *cell.Slice, v *cell.Slice) error {
		h, err := key.LoadSlice(256)
		if err != nil {
			return err
		}
		kind, err := v.LoadUInt(8)
		if err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		out = append(out, Measurement{Hash: h, Kind: MeasurementKind(kind)})
		return nil
	})
	return out, err
}

// Oracle is one member of the oracle set.
type Oracle struct {
	Wallet    *address.Address
	PublicKey []byte
	Slot      uint8
	// Uptime is the oracle's latest uptime commitment (nil: none yet).
	Uptime *UptimeCommitment
}

// OracleList decodes the oracle set, in key order.
func (st *RegistryStorage) OracleList() ([]Oracle, error) {
	var out []Oracle
	err := forEachEntry(st.Oracles, 267, "oracles", func(key *cell.Slice, v *cell.Slice) error {
		w, err := key.LoadAddr()
		if err != nil {
			return err
		}
		var info OracleInfo
		if err := tlb.LoadFromCell(&info, v); err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		out = append(out, Oracle{Wallet: w, PublicKey: info.PublicKey, Slot: info.Slot, Uptime: info.Uptime})
		return nil
	})
	return out, err
}

// Model is one catalog entry.
type Model struct {
	ID          uint32
	WeightsHash []byte
	Name        string
}

// ModelList decodes the model catalog, in model id order.
func (c *RegistryCatalog) ModelList() ([]Model, error) {
	var out []Model
	err := forEachEntry(c.Models, 32, "models", func(key *cell.Slice, v *cell.Slice) error {
		id, err := key.LoadUInt(32)
		if err != nil {
			return err
		}
		var info ModelInfo
		if err := tlb.LoadFromCell(&info, v); err != nil {
			return err
		}
		if v.BitsLeft() != 0 || v.RefsNum() != 0 {
			return errors.New("value has extra data")
		}
		name, err := CellText(info.Name)
		if err != nil {
			return err
		}
		out = append(out, Model{ID: uint32(id), WeightsHash: info.WeightsHash, Name: name})
		return nil
	})
	return out, err
}

// ---------------------------------------------------------------- messages

// ProposeGovernance (governance → registry) starts a governance handover.
type ProposeGovernance struct {
	_             tlb.Magic        `tlb:"#52470001"`
	QueryID       uint64           `tlb:"## 64" json:"queryId"`
	NewGovernance *address.Address `tlb:"addr std required" json:"newGovernance"`
}

// AcceptGovernance is sent by the proposed address to complete the handover.
type AcceptGovernance struct {
	_       tlb.Magic `tlb:"#52470002"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// UpdateParams (governance → registry) replaces the parameters; bounds are checked on-chain.
type UpdateParams struct {
	_       tlb.Magic       `tlb:"#52470003"`
	QueryID uint64          `tlb:"## 64" json:"queryId"`
	Params  *RegistryParams `tlb:"^" json:"params"`
}

// AddMeasurement (governance → registry) allows a TEE measurement.
type AddMeasurement struct {
	_               tlb.Magic       `tlb:"#52470004"`
	QueryID         uint64          `tlb:"## 64" json:"queryId"`
	MeasurementHash []byte          `tlb:"bits 256" json:"measurementHash"`
	Kind            MeasurementKind `tlb:"## 8" json:"kind"`
}

// RevokeMeasurement (governance → registry) removes an allowed measurement.
type RevokeMeasurement struct {
	_               tlb.Magic `tlb:"#52470005"`
	QueryID         uint64    `tlb:"## 64" json:"queryId"`
	MeasurementHash []byte    `tlb:"bits 256" json:"measurementHash"`
}

// AddModel (governance → registry) adds a catalog entry.
type AddModel struct {
	_           tlb.Magic `tlb:"#52470006"`
	QueryID     uint64    `tlb:"## 64" json:"queryId"`
	ModelID     uint32    `tlb:"## 32" json:"modelId"`
	WeightsHash []byte    `tlb:"bits 256" json:"weightsHash"`
	// Name: 1..64 bytes of UTF-8, no refs; see TextCell.
	Name *cell.Cell `tlb:"^" json:"name"`
}

// UpdateModel (governance → registry) replaces a catalog entry.
type UpdateModel struct {
	_           tlb.Magic  `tlb:"#52470007"`
	QueryID     uint64     `tlb:"## 64" json:"queryId"`
	ModelID     uint32     `tlb:"## 32" json:"modelId"`
	WeightsHash []byte     `tlb:"bits 256" json:"weightsHash"`
	Name        *cell.Cell `tlb:"^" json:"name"`
}

// RemoveModel (governance → registry) removes a catalog entry.
type RemoveModel struct {
	_       tlb.Magic `tlb:"#52470008"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	ModelID uint32    `tlb:"## 32" json:"modelId"`
}

// AddOracle (governance → registry) adds an oracle to the set.
type AddOracle struct {
	_       tlb.Magic `tlb:"#52470009"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// Wallet is the only address allowed to submit this oracle's votes.
	Wallet *address.Address `tlb:"addr std required" json:"wallet"`
	// PublicKey is the ed25519 key the oracle signs off-chain reports with.
	PublicKey []byte `tlb:"bits 256" json:"publicKey"`
}

// RemoveOracle (governance → registry) removes an oracle from the set.
type RemoveOracle struct {
	_       tlb.Magic        `tlb:"#5247000a"`
	QueryID uint64           `tlb:"## 64" json:"queryId"`
	Wallet  *address.Address `tlb:"addr std required" json:"wallet"`
}

// SlashProvider (governance → registry) slashes part of a provider's stake (then of its
// unbonding stake) to the treasury.
type SlashProvider struct {
	_             tlb.Magic        `tlb:"#5247000b"`
	QueryID       uint64           `tlb:"## 64" json:"queryId"`
	ProviderOwner *address.Address `tlb:"addr std required" json:"providerOwner"`
	Amount        tlb.Coins        `tlb:"." json:"amount"`
	// EvidenceDigest is the digest of the off-chain evidence justifying the slash.
	EvidenceDigest []byte `tlb:"bits 256" json:"evidenceDigest"`
}

// JailProvider (governance → registry) freezes a provider's stake movements until Until (unix time).
type JailProvider struct {
	_             tlb.Magic        `tlb:"#5247000c"`
	QueryID       uint64           `tlb:"## 64" json:"queryId"`
	ProviderOwner *address.Address `tlb:"addr std required" json:"providerOwner"`
	Until         uint32           `tlb:"## 32" json:"until"`
}

// UnjailProvider (governance → registry) lifts a jail early.
type UnjailProvider struct {
	_             tlb.Magic        `tlb:"#5247000d"`
	QueryID       uint64           `tlb:"## 64" json:"queryId"`
	ProviderOwner *address.Address `tlb:"addr std required" json:"providerOwner"`
}

// WithdrawRegistrySurplus (governance → registry) sends the balance above the storage reserve
// to the treasury.
type WithdrawRegistrySurplus struct {
	_       tlb.Magic `tlb:"#5247000e"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// RegisterProvider (anyone → registry) registers or tops up the sender's Provider contract.
// The attached value must cover StakeAmount + the registration fee.
type RegisterProvider struct {
	_           tlb.Magic `tlb:"#52470010"`
	QueryID     uint64    `tlb:"## 64" json:"queryId"`
	StakeAmount tlb.Coins `tlb:"." json:"stakeAmount"`
}

// AttestationClaim is what an oracle vouches for in a vote.
type AttestationClaim struct {
	MeasurementHash []byte `tlb:"bits 256" json:"measurementHash"`
	// EvidenceDigest is the hash of the evidence bundle the oracle verified.
	EvidenceDigest []byte `tlb:"bits 256" json:"evidenceDigest"`
	// TLSKeyHash is the hash of the RA-TLS public key bound by the quote.
	TLSKeyHash []byte `tlb:"bits 256" json:"tlsKeyHash"`
	// ValidUntil (unix time) must be in (now, now + maxAttestationLifetime].
	ValidUntil uint32 `tlb:"## 32" json:"validUntil"`
}

// SubmitOracleVote (oracle wallet → registry) votes for a provider's attestation.
type SubmitOracleVote struct {
	_             tlb.Magic         `tlb:"#52470011"`
	QueryID       uint64            `tlb:"## 64" json:"queryId"`
	ProviderOwner *address.Address  `tlb:"addr std required" json:"providerOwner"`
	Claim         *AttestationClaim `tlb:"^" json:"claim"`
}

// SubmitUptimeRoot (oracle wallet → registry) commits the Merkle root of the oracle's uptime table of
// one epoch (docs/PROTOCOL.md "Uptime commitments"). Epochs only grow per oracle.
type SubmitUptimeRoot struct {
	_       tlb.Magic `tlb:"#52470013"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	Epoch   uint32    `tlb:"## 32" json:"epoch"`
	// Root is the table's Merkle root (32 bytes).
	Root          []byte `tlb:"bits 256" json:"root"`
	ProviderCount uint32 `tlb:"## 32" json:"providerCount"`
}

// RefundBounced (registry → owner/oracle/governance) returns the value of a forwarded message
// the provider bounced.
type RefundBounced struct {
	_       tlb.Magic `tlb:"#52470020"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

func (ProposeGovernance) Opcode() uint32       { return OpProposeGovernance }
func (AcceptGovernance) Opcode() uint32        { return OpAcceptGovernance }
func (UpdateParams) Opcode() uint32            { return OpUpdateParams }
func (AddMeasurement) Opcode() uint32          { return OpAddMeasurement }
func (RevokeMeasurement) Opcode() uint32       { return OpRevokeMeasurement }
func (AddModel) Opcode() uint32                { return OpAddModel }
func (UpdateModel) Opcode() uint32             { return OpUpdateModel }
func (RemoveModel) Opcode() uint32             { return OpRemoveModel }
func (AddOracle) Opcode() uint32               { return OpAddOracle }
func (RemoveOracle) Opcode() uint32            { return OpRemoveOracle }
func (SlashProvider) Opcode() uint32           { return OpSlashProvider }
func (JailProvider) Opcode() uint32            { return OpJailProvider }
func (UnjailProvider) Opcode() uint32          { return OpUnjailProvider }
func (WithdrawRegistrySurplus) Opcode() uint32 { return OpWithdrawRegistrySurplus }
func (RegisterProvider) Opcode() uint32        { return OpRegisterProvider }
func (SubmitOracleVote) Opcode() uint32        { return OpSubmitOracleVote }
func (SubmitUptimeRoot) Opcode() uint32        { return OpSubmitUptimeRoot }
func (RefundBounced) Opcode() uint32           { return OpRefundBounced }

func (ProposeGovernance) MessageName() string       { return "ProposeGovernance" }
func (AcceptGovernance) MessageName() string        { return "AcceptGovernance" }
func (UpdateParams) MessageName() string            { return "UpdateParams" }
func (AddMeasurement) MessageName() string          { return "AddMeasurement" }
func (RevokeMeasurement) MessageName() string       { return "RevokeMeasurement" }
func (AddModel) MessageName() string                { return "AddModel" }
func (UpdateModel) MessageName() string             { return "UpdateModel" }
func (RemoveModel) MessageName() string             { return "RemoveModel" }
func (AddOracle) MessageName() string               { return "AddOracle" }
func (RemoveOracle) MessageName() string            { return "RemoveOracle" }
func (SlashProvider) MessageName() string           { return "SlashProvider" }
func (JailProvider) MessageName() string            { return "JailProvider" }
func (UnjailProvider) MessageName() string          { return "UnjailProvider" }
func (WithdrawRegistrySurplus) MessageName() string { return "WithdrawRegistrySurplus" }
func (RegisterProvider) MessageName() string        { return "RegisterProvider" }
func (SubmitOracleVote) MessageName() string        { return "SubmitOracleVote" }
func (SubmitUptimeRoot) MessageName() string        { return "SubmitUptimeRoot" }
func (RefundBounced) MessageName() string           { return "RefundBounced" }

func init() {
	registerMessages(ProposeGovernance{}, AcceptGovernance{}, UpdateParams{}, AddMeasurement{},
		RevokeMeasurement{}, AddModel{}, UpdateModel{}, RemoveModel{}, AddOracle{}, RemoveOracle{},
		SlashProvider{}, JailProvider{}, UnjailProvider{}, WithdrawRegistrySurplus{},
		RegisterProvider{}, SubmitOracleVote{}, SubmitUptimeRoot{}, RefundBounced{})
}

// ---------------------------------------------------------------- getters

// GetMethodRunner is the part of chain.Client the getter helpers need.
type GetMethodRunner interface {
	RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error)
}

// Registry get-method names.
const (
	MethodGetRegistryData    = "get_registry_data"
	MethodGetRegistryParams  = "get_registry_params"
	MethodGetProviderAddress = "get_provider_address"
	MethodGetMeasurementKind = "get_measurement_kind"
	MethodGetModel           = "get_model"
	MethodGetOracle          = "get_oracle"
	// MethodGetUptimeRoot is an oracle's latest uptime commitment (argument: its wallet).
	MethodGetUptimeRoot   = "get_uptime_root"
	MethodGetMeasurements = "get_measurements"
	MethodGetModels       = "get_models"
	MethodGetOracles      = "get_oracles"
	MethodGetCodes        = "get_codes"
	// MethodGetRegisterFee is what RegisterProvider must carry beyond the stake (argument).
	MethodGetRegisterFee = "get_register_fee"
)

// RegistryData is the result of get_registry_data.
type RegistryData struct {
	Governance *address.Address
	// PendingGovernance is nil when no handover is in progress.
	PendingGovernance *address.Address
	NetworkKind       NetworkKind
	OracleCount       uint16
	ModelCount        uint16
	// OracleEpoch: a provider's votes held under an older epoch are void (AttestationView.OracleEpoch).
	OracleEpoch uint32
}

// DecodeRegistryData decodes get_registry_data.
func DecodeRegistryData(res *chain.GetMethodResult) (*RegistryData, error) {
	r, err := newStackReader(MethodGetRegistryData, res)
	if err != nil {
		return nil, err
	}
	var d RegistryData
	if d.Governance, err = r.address("governance"); err != nil {
		return nil, err
	}
	if d.PendingGovernance, err = r.maybeAddress("pendingGovernance"); err != nil {
		return nil, err
	}
	kind, err := r.uint("networkKind", 8)
	if err != nil {
		return nil, err
	}
	d.NetworkKind = NetworkKind(kind)
	oracles, err := r.uint("oracleCount", 16)
	if err != nil {
		return nil, err
	}
	models, err := r.uint("modelCount", 16)
	if err != nil {
		return nil, err
	}
	epoch, err := r.uint("oracleEpoch", 32)
	if err != nil {
		return nil, err
	}
	d.OracleCount, d.ModelCount, d.OracleEpoch = uint16(oracles), uint16(models), uint32(epoch)
	return &d, r.done()
}

// DecodeRegistryParams decodes get_registry_params.
func DecodeRegistryParams(res *chain.GetMethodResult) (*RegistryParams, error) {
	r, err := newStackReader(MethodGetRegistryParams, res)
	if err != nil {
		return nil, err
	}
	var p RegistryParams
	minStake, err := r.coins("minProviderStake")
	if err != nil {
		return nil, err
	}
	p.MinProviderStake = tlb.FromNanoTON(minStake)
	unbonding, err := r.uint("unbondingPeriod", 32)
	if err != nil {
		return nil, err
	}
	fee, err := r.uint("protocolFeeBps", 16)
	if err != nil {
		return nil, err
	}
	if p.Treasury, err = r.address("treasury"); err != nil {
		return nil, err
	}
	challenge, err := r.uint("challengePeriod", 32)
	if err != nil {
		return nil, err
	}
	quorum, err := r.uint("oracleQuorum", 8)
	if err != nil {
		return nil, err
	}
	lifetime, err := r.uint("maxAttestationLifetime", 32)
	if err != nil {
		return nil, err
	}
	p.UnbondingPeriod, p.ProtocolFeeBps, p.ChallengePeriod = uint32(unbonding), uint16(fee), uint32(challenge)
	p.OracleQuorum, p.MaxAttestationLifetime = uint8(quorum), uint32(lifetime)
	return &p, r.done()
}

// DecodeProviderAddress decodes get_provider_address.
func DecodeProviderAddress(res *chain.GetMethodResult) (*address.Address, error) {
	r, err := newStackReader(MethodGetProviderAddress, res)
	if err != nil {
		return nil, err
	}
	a, err := r.address("provider address")
	if err != nil {
		return nil, err
	}
	return a, r.done()
}

// DecodeMeasurementKind decodes get_measurement_kind: the kind, or 0 when the measurement is
// not allowed.
func DecodeMeasurementKind(res *chain.GetMethodResult) (MeasurementKind, error) {
	r, err := newStackReader(MethodGetMeasurementKind, res)
	if err != nil {
		return 0, err
	}
	k, err := r.uint("kind", 8)
	if err != nil {
		return 0, err
	}
	return MeasurementKind(k), r.done()
}

// ModelLookup is the result of get_model.
type ModelLookup struct {
	Found bool
	// WeightsHash and Name are zero when not found.
	WeightsHash []byte
	Name        string
}

// DecodeModel decodes get_model.
func DecodeModel(res *chain.GetMethodResult) (*ModelLookup, error) {
	r, err := newStackReader(MethodGetModel, res)
	if err != nil {
		return nil, err
	}
	var m ModelLookup
	if m.Found, err = r.bool("found"); err != nil {
		return nil, err
	}
	if m.WeightsHash, err = r.hash("weightsHash"); err != nil {
		return nil, err
	}
	name, err := r.maybeCell("name")
	if err != nil {
		return nil, err
	}
	if name != nil {
		if m.Name, err = CellText(name); err != nil {
			return nil, fmt.Errorf("%s: %w", MethodGetModel, err)
		}
	}
	if m.Found != (name != nil) {
		return nil, fmt.Errorf("%s: %w: found=%v but name present=%v", MethodGetModel, ErrStackShape, m.Found, name != nil)
	}
	return &m, r.done()
}

// OracleLookup is the result of get_oracle.
type OracleLookup struct {
	Found bool
	// PublicKey and Slot are zero when not found.
	PublicKey []byte
	Slot      uint8
}

// DecodeOracle decodes get_oracle.
func DecodeOracle(res *chain.GetMethodResult) (*OracleLookup, error) {
	r, err := newStackReader(MethodGetOracle, res)
	if err != nil {
		return nil, err
	}
	var o OracleLookup
	if o.Found, err = r.bool("found"); err != nil {
		return nil, err
	}
	if o.PublicKey, err = r.hash("publicKey"); err != nil {
		return nil, err
	}
	slot, err := r.uint("slot", 8)
	if err != nil {
		return nil, err
	}
	o.Slot = uint8(slot)
	return &o, r.done()
}

// UptimeLookup is the result of get_uptime_root.
type UptimeLookup struct {
	// Found is false when the wallet is not an oracle or has committed nothing yet (the rest is zero).
	Found bool
	UptimeCommitment
}

// DecodeUptimeRoot decodes get_uptime_root.
func DecodeUptimeRoot(res *chain.GetMethodResult) (*UptimeLookup, error) {
	r, err := newStackReader(MethodGetUptimeRoot, res)
	if err != nil {
		return nil, err
	}
	var u UptimeLookup
	if u.Found, err = r.bool("found"); err != nil {
		return nil, err
	}
	epoch, err := r.uint("epoch", 32)
	if err != nil {
		return nil, err
	}
	if u.Root, err = r.hash("root"); err != nil {
		return nil, err
	}
	count, err := r.uint("providerCount", 32)
	if err != nil {
		return nil, err
	}
	at, err := r.uint("committedAt", 32)
	if err != nil {
		return nil, err
	}
	u.Epoch, u.ProviderCount, u.CommittedAt = uint32(epoch), uint32(count), uint32(at)
	return &u, r.done()
}

// decodeDict reads a getter that returns one whole dictionary (null when empty).
func decodeDict(method string, res *chain.GetMethodResult, keyBits uint) (*cell.Dictionary, error) {
	r, err := newStackReader(method, res)
	if err != nil {
		return nil, err
	}
	c, err := r.maybeCell("dict")
	if err != nil {
		return nil, err
	}
	if err := r.done(); err != nil {
		return nil, err
	}
	if c == nil {
		return cell.NewDict(keyBits), nil
	}
	return c.AsDict(keyBits), nil
}

// DecodeMeasurements decodes get_measurements: every allowed measurement, in hash order.
func DecodeMeasurements(res *chain.GetMethodResult) ([]Measurement, error) {
	d, err := decodeDict(MethodGetMeasurements, res, 256)
	if err != nil {
		return nil, err
	}
	return (&RegistryStorage{Measurements: d}).MeasurementList()
}

// DecodeModels decodes get_models: the catalog, in model id order.
func DecodeModels(res *chain.GetMethodResult) ([]Model, error) {
	d, err := decodeDict(MethodGetModels, res, 32)
	if err != nil {
		return nil, err
	}
	return (&RegistryCatalog{Models: d}).ModelList()
}

// DecodeOracles decodes get_oracles: the oracle set, in address order.
func DecodeOracles(res *chain.GetMethodResult) ([]Oracle, error) {
	d, err := decodeDict(MethodGetOracles, res, 267)
	if err != nil {
		return nil, err
	}
	return (&RegistryStorage{Oracles: d}).OracleList()
}

// RegistryCodes is the result of get_codes.
type RegistryCodes struct {
	ProviderCode *cell.Cell
	// ChannelCode is nil until the Channel contract exists.
	ChannelCode *cell.Cell
}

// DecodeCodes decodes get_codes.
func DecodeCodes(res *chain.GetMethodResult) (*RegistryCodes, error) {
	r, err := newStackReader(MethodGetCodes, res)
	if err != nil {
		return nil, err
	}
	var c RegistryCodes
	if c.ProviderCode, err = r.cell("providerCode"); err != nil {
		return nil, err
	}
	if c.ChannelCode, err = r.maybeCell("channelCode"); err != nil {
		return nil, err
	}
	return &c, r.done()
}

// RegistryClient reads a deployed Registry through its get-methods.
type RegistryClient struct {
	Chain   GetMethodRunner
	Address *address.Address
}

func (c RegistryClient) target() getterTarget { return getterTarget{c.Chain, c.Address, "registry"} }

// Data runs get_registry_data.
func (c RegistryClient) Data(ctx context.Context) (*RegistryData, error) {
	return callGetter(ctx, c.target(), MethodGetRegistryData, DecodeRegistryData)
}

// Params runs get_registry_params.
func (c RegistryClient) Params(ctx context.Context) (*RegistryParams, error) {
	return callGetter(ctx, c.target(), MethodGetRegistryParams, DecodeRegistryParams)
}

// RegisterFee runs get_register_fee: what RegisterProvider must carry on top of stake under the
// network's current config (the provider's storage reserve, both contracts' gas and the deploy
// message's forward fee). The registry refuses less with ExitNotEnoughValue.
func (c RegistryClient) RegisterFee(ctx context.Context, stake *big.Int) (*big.Int, error) {
	if stake == nil || stake.Sign() < 0 {
		return nil, fmt.Errorf("failed to run %s: stake must be a non-negative amount", MethodGetRegisterFee)
	}
	return callGetter(ctx, c.target(), MethodGetRegisterFee, decodeFee(MethodGetRegisterFee), new(big.Int).Set(stake))
}

// OpenChannelFee runs get_open_channel_fee: what OpenChannel must carry on top of the deposit
// under the network's current config. A registry without channel code fails with
// ExitChannelsDisabled.
func (c RegistryClient) OpenChannelFee(ctx context.Context) (*big.Int, error) {
	return callGetter(ctx, c.target(), MethodGetOpenChannelFee, decodeFee(MethodGetOpenChannelFee))
}

// decodeFee decodes a getter returning one amount of nanoTON.
func decodeFee(method string) func(*chain.GetMethodResult) (*big.Int, error) {
	return func(res *chain.GetMethodResult) (*big.Int, error) {
		r, err := newStackReader(method, res)
		if err != nil {
			return nil, err
		}
		fee, err := r.coins("fee")
		if err != nil {
			return nil, err
		}
		return fee, r.done()
	}
}

// ProviderAddress runs get_provider_address. The package-level ProviderAddress computes the
// same offline.
func (c RegistryClient) ProviderAddress(ctx context.Context, owner *address.Address) (*address.Address, error) {
	arg, err := addressArg(owner)
	if err != nil {
		return nil, err
	}
	return callGetter(ctx, c.target(), MethodGetProviderAddress, DecodeProviderAddress, arg)
}

// MeasurementKind runs get_measurement_kind: 0 when the measurement is not allowed.
func (c RegistryClient) MeasurementKind(ctx context.Context, measurementHash []byte) (MeasurementKind, error) {
	arg, err := hashArg(measurementHash)
	if err != nil {
		return 0, err
	}
	return callGetter(ctx, c.target(), MethodGetMeasurementKind, DecodeMeasurementKind, arg)
}

// Model runs get_model.
func (c RegistryClient) Model(ctx context.Context, modelID uint32) (*ModelLookup, error) {
	return callGetter(ctx, c.target(), MethodGetModel, DecodeModel, new(big.Int).SetUint64(uint64(modelID)))
}

// Oracle runs get_oracle.
func (c RegistryClient) Oracle(ctx context.Context, wallet *address.Address) (*OracleLookup, error) {
	arg, err := addressArg(wallet)
	if err != nil {
		return nil, err
	}
	return callGetter(ctx, c.target(), MethodGetOracle, DecodeOracle, arg)
}

// UptimeRoot runs get_uptime_root: the oracle's latest uptime commitment.
func (c RegistryClient) UptimeRoot(ctx context.Context, oracle *address.Address) (*UptimeLookup, error) {
	arg, err := addressArg(oracle)
	if err != nil {
		return nil, err
	}
	return callGetter(ctx, c.target(), MethodGetUptimeRoot, DecodeUptimeRoot, arg)
}

// Measurements runs get_measurements.
func (c RegistryClient) Measurements(ctx context.Context) ([]Measurement, error) {
	return callGetter(ctx, c.target(), MethodGetMeasurements, DecodeMeasurements)
}

// Models runs get_models.
func (c RegistryClient) Models(ctx context.Context) ([]Model, error) {
	return callGetter(ctx, c.target(), MethodGetModels, DecodeModels)
}

// Oracles runs get_oracles.
func (c RegistryClient) Oracles(ctx context.Context) ([]Oracle, error) {
	return callGetter(ctx, c.target(), MethodGetOracles, DecodeOracles)
}

// Codes runs get_codes.
func (c RegistryClient) Codes(ctx context.Context) (*RegistryCodes, error) {
	return callGetter(ctx, c.target(), MethodGetCodes, DecodeCodes)
}

// addressArg is an address as a get-method argument: a slice holding a standard address.
func addressArg(a *address.Address) (*cell.Slice, error) {
	if a == nil || a.Type() != address.StdAddress {
		return nil, fmt.Errorf("%w: get-method argument must be a standard address", ErrBadAddress)
	}
	b := cell.BeginCell()
	if err := b.StoreAddr(a); err != nil {
		return nil, fmt.Errorf("failed to encode address argument: %w", err)
	}
	return b.EndCell().BeginParse()
}

// hashArg is a 32-byte hash as a uint256 get-method argument.
func hashArg(h []byte) (*big.Int, error) {
	if len(h) != 32 {
		return nil, fmt.Errorf("hash argument must be 32 bytes, got %d", len(h))
	}
	return new(big.Int).SetBytes(h), nil
}
