package contracts

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"reflect"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/voucher"
)

// Payment channel: Go mirror of tolk/src/channel-messages.tolk and channel-storage.tolk (one
// channel per registry, client ed25519 key and Provider contract; docs/PROTOCOL.md "Channel
// contract"). Channel opcodes are 0x4348xxxx ("CH"); the registry's channel ops keep 0x5247xxxx
// and the provider's usage report 0x5052xxxx.
const (
	OpSetChannelCode   uint32 = 0x5247000f
	OpOpenChannel      uint32 = 0x52470012
	OpChannelUsage     uint32 = 0x50520005
	OpChannelInit      uint32 = 0x43480001
	OpClaim            uint32 = 0x43480010
	OpClaimRemainder   uint32 = 0x43480011
	OpStartClose       uint32 = 0x43480012
	OpFinalizeClose    uint32 = 0x43480013
	OpCooperativeClose uint32 = 0x43480014
	OpChannelPayout    uint32 = 0x43480020
	OpProtocolFee      uint32 = 0x43480021
	OpChannelRefund    uint32 = 0x43480022

	// Prefixes of the signed off-chain structures (not messages).
	MagicVoucher      uint32 = 0x766f7563 // "vouc"
	MagicCloseRequest uint32 = 0x636c6f73 // "clos"
)

// Channel exit codes (tolk/src/channel-errors.tolk, enum ChannelErrors; named in errors.go's
// exitCodeNames with the rest). The channel also throws ExitNotRegistry, ExitNotEnoughValue and
// ExitWrongOpcode.
const (
	ExitChannelsDisabled    ExitCode = 150 // OpenChannel while the registry has no channel code
	ExitChannelCodeMismatch ExitCode = 151 // SetChannelCode with other code than the compiled Channel
	ExitNotChannel          ExitCode = 152 // ChannelUsage from an address that is not the genuine channel
	ExitChannelNotOpen      ExitCode = 153 // the registry's ChannelInit has not arrived
	ExitInvalidSignature    ExitCode = 154 // voucher / close request not signed by the client key
	ExitWrongChannel        ExitCode = 155 // signed structure names another channel
	ExitVoucherNotNewer     ExitCode = 156 // amount lower than the accepted one, or equal with no token total higher
	ExitNothingToClaim      ExitCode = 157 // ClaimRemainder with nothing owed or nothing available
	ExitAlreadyClosing      ExitCode = 158 // StartClose while closing
	ExitNotClosing          ExitCode = 159 // FinalizeClose / CooperativeClose while not closing
	ExitChallengeNotOver    ExitCode = 160 // FinalizeClose before the deadline
	ExitWrongCloseNonce     ExitCode = 161 // CloseRequest.closeNonce differs from the channel's
	ExitNotPayee            ExitCode = 162 // CooperativeClose not from the provider owner
	ExitBadVoucher          ExitCode = 163 // voucher / close request cell with a wrong magic
)

// ChannelStatus is the lifecycle state of a Channel contract.
type ChannelStatus uint8

const (
	// ChannelUninit: deployed without the registry's ChannelInit; nothing can be claimed.
	ChannelUninit ChannelStatus = 0
	ChannelOpen   ChannelStatus = 1
	// ChannelClosing: StartClose accepted; FinalizeClose from the deadline on.
	ChannelClosing ChannelStatus = 2
)

func (s ChannelStatus) String() string {
	switch s {
	case ChannelUninit:
		return "uninit"
	case ChannelOpen:
		return "open"
	case ChannelClosing:
		return "closing"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ErrBadKey is an ed25519 key of the wrong size.
var ErrBadKey = errors.New("bad ed25519 key")

// ---------------------------------------------------------------- signed structures

// Voucher mirrors the Tolk Voucher struct: the cell a client signs (see package voucher, which
// builds the same bits and does the signing; ToVoucher/VoucherFrom convert).
type Voucher struct {
	_                tlb.Magic        `tlb:"#766f7563"`
	Channel          *address.Address `tlb:"addr std required" json:"channel"`
	Amount           tlb.Coins        `tlb:"." json:"amount"`
	PromptTokens     uint64           `tlb:"## 64" json:"promptTokens"`
	CompletionTokens uint64           `tlb:"## 64" json:"completionTokens"`
}

// CloseRequest is what the client signs to start closing: valid for one close (CloseNonce).
type CloseRequest struct {
	_       tlb.Magic        `tlb:"#636c6f73"`
	Channel *address.Address `tlb:"addr std required" json:"channel"`
	// CloseNonce must equal the channel's closeNonce (the number of completed closes).
	CloseNonce uint32 `tlb:"## 32" json:"closeNonce"`
	// RefundTo receives everything above the storage reserve at the end.
	RefundTo *address.Address `tlb:"addr std required" json:"refundTo"`
}

// VoucherFrom converts a voucher.Voucher to its message form.
func VoucherFrom(v voucher.Voucher) (*Voucher, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	return &Voucher{Channel: v.Channel, Amount: tlb.FromNanoTON(v.Amount), PromptTokens: v.PromptTokens, CompletionTokens: v.CompletionTokens}, nil
}

// ToVoucher converts back to a voucher.Voucher.
func (v Voucher) ToVoucher() voucher.Voucher {
	return voucher.Voucher{Channel: v.Channel, Amount: v.Amount.Nano(), PromptTokens: v.PromptTokens, CompletionTokens: v.CompletionTokens}
}

// Cell is the CloseRequest cell the client signs.
func (r *CloseRequest) Cell() (*cell.Cell, error) {
	if err := validateFields(reflect.ValueOf(r), "CloseRequest"); err != nil {
		return nil, fmt.Errorf("failed to encode close request: %w", err)
	}
	c, err := tlb.ToCell(r)
	if err != nil {
		return nil, fmt.Errorf("failed to encode close request: %w", err)
	}
	return c, nil
}

// Sign signs the close request with the channel's client key (ed25519 over the cell hash).
func (r *CloseRequest) Sign(priv ed25519.PrivateKey) ([]byte, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("%w: private key has %d bytes", ErrBadKey, len(priv))
	}
	c, err := r.Cell()
	if err != nil {
		return nil, err
	}
	return ed25519.Sign(priv, c.Hash()), nil
}

// ---------------------------------------------------------------- storage

// ChannelSetup is the cold part of the storage, one ref away: the registry (address preimage)
// and the terms the registry's first ChannelInit sets (zero / nil in the initial data); a later
// ChannelInit leaves them.
type ChannelSetup struct {
	// Registry is part of the address preimage: the only sender of ChannelInit.
	Registry *address.Address `tlb:"addr std required" json:"registry"`
	// PayoutTo (the provider owner) receives claims net of fee; nil until init.
	PayoutTo *address.Address `tlb:"addr std" json:"payoutTo"`
	// Treasury receives the protocol fee; nil until init.
	Treasury *address.Address `tlb:"addr std" json:"treasury"`
	// ChallengePeriod is the seconds between StartClose and FinalizeClose.
	ChallengePeriod uint32 `tlb:"## 32" json:"challengePeriod"`
}

// ClosingState exists while the channel is closing.
type ClosingState struct {
	RefundTo *address.Address `tlb:"addr std required" json:"refundTo"`
	// Deadline: FinalizeClose is allowed at or after this unix time.
	Deadline uint32 `tlb:"## 32" json:"deadline"`
}

// ChannelStorage is the Channel contract's data cell: the root holds everything a claim reads
// or writes.
//
// INVARIANT: Paid <= AcceptedAmount. Closing != nil iff Status == ChannelClosing. The accepted
// totals only grow, never reset (not even by a close): vouchers are cumulative over the channel's
// whole life, so an old voucher can never be replayed against a later deposit.
type ChannelStorage struct {
	// ClientKey is the ed25519 public key that signs vouchers and close requests.
	ClientKey []byte `tlb:"bits 256" json:"clientKey"`
	// Provider is the Provider contract notified of usage.
	Provider *address.Address `tlb:"addr std required" json:"provider"`
	Status   ChannelStatus    `tlb:"## 8" json:"status"`
	// ProtocolFeeBps INVARIANT: <= 10000; set by the first ChannelInit, 0 in the initial data.
	ProtocolFeeBps uint16 `tlb:"## 16" json:"protocolFeeBps"`
	CloseNonce     uint32 `tlb:"## 32" json:"closeNonce"`
	// AcceptedAmount is the largest accepted amount; AcceptedPrompt and AcceptedCompletion are the
	// largest token totals of the accepted vouchers (docs/PROTOCOL.md "Vouchers").
	AcceptedAmount     tlb.Coins `tlb:"." json:"acceptedAmount"`
	AcceptedPrompt     uint64    `tlb:"## 64" json:"acceptedPrompt"`
	AcceptedCompletion uint64    `tlb:"## 64" json:"acceptedCompletion"`
	// Paid is the part of AcceptedAmount already paid out (provider + fee).
	Paid    tlb.Coins     `tlb:"." json:"paid"`
	Setup   *ChannelSetup `tlb:"^" json:"setup"`
	Closing *ClosingState `tlb:"maybe ^" json:"closing"`
}

// DecodeChannelStorage parses a Channel account's data cell.
func DecodeChannelStorage(data *cell.Cell) (*ChannelStorage, error) {
	var st ChannelStorage
	if data == nil {
		return nil, fmt.Errorf("failed to decode channel storage: %w: no data", ErrMalformedBody)
	}
	if err := decodeExact(&st, data); err != nil {
		return nil, fmt.Errorf("failed to decode channel storage: %w", err)
	}
	// addr_none decodes as an empty address; nil is how Go says "not set yet".
	if st.Setup.PayoutTo != nil && st.Setup.PayoutTo.IsAddrNone() {
		st.Setup.PayoutTo = nil
	}
	if st.Setup.Treasury != nil && st.Setup.Treasury.IsAddrNone() {
		st.Setup.Treasury = nil
	}
	return &st, nil
}

// EncodeChannelStorage builds a Channel data cell.
func EncodeChannelStorage(st *ChannelStorage) (*cell.Cell, error) {
	if st == nil {
		return nil, errors.New("failed to encode channel storage: nil")
	}
	if err := validateFields(reflectValue(st), "ChannelStorage"); err != nil {
		return nil, fmt.Errorf("failed to encode channel storage: %w", err)
	}
	c, err := tlb.ToCell(st)
	if err != nil {
		return nil, fmt.Errorf("failed to encode channel storage: %w", err)
	}
	return c, nil
}

// ChannelInitData is the initial data a channel is deployed with (the address preimage,
// channelInitialData in channel-address.tolk): registry, client key and provider contract, every
// other field zero or nil.
func ChannelInitData(registry *address.Address, clientKey ed25519.PublicKey, provider *address.Address) (*cell.Cell, error) {
	if len(clientKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: client key has %d bytes, want %d", ErrBadKey, len(clientKey), ed25519.PublicKeySize)
	}
	return EncodeChannelStorage(&ChannelStorage{
		ClientKey:      append([]byte(nil), clientKey...),
		Provider:       provider,
		Status:         ChannelUninit,
		AcceptedAmount: tlb.ZeroCoins,
		Paid:           tlb.ZeroCoins,
		Setup:          &ChannelSetup{Registry: registry},
	})
}

// ChannelAddress is the channel of (registry, client key, provider contract), computed exactly
// as the registry and the provider do: StateInit{code: channelCode, data: ChannelInitData} in
// the basechain. provider is the Provider contract's address (ProviderAddress), not its owner.
func ChannelAddress(channelCode *cell.Cell, registry *address.Address, clientKey ed25519.PublicKey, provider *address.Address) (*address.Address, error) {
	if err := checkStdAddr("registry", registry); err != nil {
		return nil, err
	}
	if err := checkStdAddr("provider", provider); err != nil {
		return nil, err
	}
	data, err := ChannelInitData(registry, clientKey, provider)
	if err != nil {
		return nil, err
	}
	return AddressOf(channelCode, data)
}

// ---------------------------------------------------------------- messages

// OpenChannel (anyone → registry) deploys the channel of (registry, ClientKey, the provider of
// ProviderOwner) and deposits the attached value minus fees; on an existing channel it is only a
// top-up (the terms stay as the channel first opened).
type OpenChannel struct {
	_       tlb.Magic `tlb:"#52470012"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// ProviderOwner owns a Provider contract of this registry; it receives the claims.
	ProviderOwner *address.Address `tlb:"addr std required" json:"providerOwner"`
	// ClientKey is the client's ed25519 public key (32 bytes).
	ClientKey []byte `tlb:"bits 256" json:"clientKey"`
}

// SetChannelCode (governance → registry) enables channels with the compiled Channel code.
type SetChannelCode struct {
	_           tlb.Magic  `tlb:"#5247000f"`
	QueryID     uint64     `tlb:"## 64" json:"queryId"`
	ChannelCode *cell.Cell `tlb:"^" json:"channelCode"`
}

// ChannelInit (registry → channel) comes with the StateInit; the whole value is the deposit.
type ChannelInit struct {
	_       tlb.Magic `tlb:"#43480001"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// Opener sent OpenChannel: it gets the value back if this bounces.
	Opener          *address.Address `tlb:"addr std required" json:"opener"`
	PayoutTo        *address.Address `tlb:"addr std required" json:"payoutTo"`
	Treasury        *address.Address `tlb:"addr std required" json:"treasury"`
	ProtocolFeeBps  uint16           `tlb:"## 16" json:"protocolFeeBps"`
	ChallengePeriod uint32           `tlb:"## 32" json:"challengePeriod"`
}

// Claim (anyone → channel) pays the provider up to the voucher. Unused value returns to the
// sender through the provider's ChannelUsage handling.
type Claim struct {
	_       tlb.Magic `tlb:"#43480010"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	Voucher *Voucher  `tlb:"^" json:"voucher"`
	// Signature is ed25519 by the client key over the voucher cell's hash (64 bytes).
	Signature []byte `tlb:"bits 512" json:"signature"`
}

// ClaimRemainder (anyone → channel) pays what the accepted voucher still owes after a top-up.
type ClaimRemainder struct {
	_       tlb.Magic `tlb:"#43480011"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// StartClose (anyone → channel) starts the challenge period with the client's signed request.
type StartClose struct {
	_         tlb.Magic     `tlb:"#43480012"`
	QueryID   uint64        `tlb:"## 64" json:"queryId"`
	Request   *CloseRequest `tlb:"^" json:"request"`
	Signature []byte        `tlb:"bits 512" json:"signature"`
}

// FinalizeClose (anyone → channel), after the challenge period, refunds everything above the
// storage reserve to the request's RefundTo.
type FinalizeClose struct {
	_       tlb.Magic `tlb:"#43480013"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// CooperativeClose (provider owner → channel) ends the challenge period at once.
type CooperativeClose struct {
	_       tlb.Magic `tlb:"#43480014"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ChannelUsage (channel → provider) reports one claim as the channel's storage root before and after
// it (the cells the claim loaded and stored, so the channel creates no body cell); value = the
// claimed amount + the relayer's unused value. The provider accepts it only from the channel address
// derived from (its registry, Before.ClientKey, itself), adds the token deltas to its usage totals
// and pays the claimed amount minus the fee to its owner, the fee to the treasury and the rest to
// ExcessTo (Claimed gives the numbers). If it bounces (no Provider contract), the channel makes the
// same payments itself.
type ChannelUsage struct {
	_       tlb.Magic `tlb:"#50520005"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
	// ExcessTo relayed the claim: it gets the unused value (or the bounce refund).
	ExcessTo *address.Address `tlb:"addr std required" json:"excessTo"`
	Before   *ChannelStorage  `tlb:"^" json:"before"`
	After    *ChannelStorage  `tlb:"^" json:"after"`
}

// FeeBpsDenominator: protocol fees are in basis points of the claimed amount.
const FeeBpsDenominator = 10000

// ClaimFee is the protocol fee of paying pay on top of paid already paid:
// floor((paid+pay)*bps/10000) - floor(paid*bps/10000), so the fees of any sequence of payments add
// up to floor(total*bps/10000) (feeOf in tolk/src/channel-claims.tolk).
func ClaimFee(paid, pay *big.Int, bps uint16) *big.Int {
	b := big.NewInt(int64(bps))
	d := big.NewInt(FeeBpsDenominator)
	total := new(big.Int).Div(new(big.Int).Mul(new(big.Int).Add(paid, pay), b), d)
	return total.Sub(total, new(big.Int).Div(new(big.Int).Mul(paid, b), d))
}

// Claimed is what one claim moved, as the Provider contract computes it from a ChannelUsage report.
type Claimed struct {
	ClientKey        []byte
	PromptTokens     uint64
	CompletionTokens uint64
	// Amount is the nanoTON the claim paid out of the channel: Earned + Fee.
	Amount *big.Int
	// Earned goes to the provider owner, Fee to the treasury.
	Earned *big.Int
	Fee    *big.Int
}

// Claimed computes the usage and money of the reported claim (claimedBetween in
// tolk/src/channel-claims.tolk). A report whose totals go down is not from a genuine channel.
func (u ChannelUsage) Claimed() (*Claimed, error) {
	b, a := u.Before, u.After
	if b == nil || a == nil {
		return nil, fmt.Errorf("failed to read ChannelUsage: %w: missing storage root", ErrMalformedBody)
	}
	paidBefore, paidAfter := b.Paid.Nano(), a.Paid.Nano()
	if a.AcceptedPrompt < b.AcceptedPrompt || a.AcceptedCompletion < b.AcceptedCompletion || paidAfter.Cmp(paidBefore) < 0 {
		return nil, fmt.Errorf("failed to read ChannelUsage: %w: totals go down between the storage roots", ErrMalformedBody)
	}
	amount := new(big.Int).Sub(paidAfter, paidBefore)
	fee := ClaimFee(paidBefore, amount, b.ProtocolFeeBps)
	return &Claimed{
		ClientKey:        b.ClientKey,
		PromptTokens:     a.AcceptedPrompt - b.AcceptedPrompt,
		CompletionTokens: a.AcceptedCompletion - b.AcceptedCompletion,
		Amount:           amount,
		Earned:           new(big.Int).Sub(amount, fee),
		Fee:              fee,
	}, nil
}

// ChannelPayout (channel → payout address) carries the claimed amount minus the fee.
type ChannelPayout struct {
	_       tlb.Magic `tlb:"#43480020"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ProtocolFee (channel → treasury) carries the fee.
type ProtocolFee struct {
	_       tlb.Magic `tlb:"#43480021"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

// ChannelRefund (channel → refund address) carries the balance above the storage reserve.
type ChannelRefund struct {
	_       tlb.Magic `tlb:"#43480022"`
	QueryID uint64    `tlb:"## 64" json:"queryId"`
}

func (Voucher) Opcode() uint32          { return MagicVoucher }
func (CloseRequest) Opcode() uint32     { return MagicCloseRequest }
func (OpenChannel) Opcode() uint32      { return OpOpenChannel }
func (SetChannelCode) Opcode() uint32   { return OpSetChannelCode }
func (ChannelInit) Opcode() uint32      { return OpChannelInit }
func (Claim) Opcode() uint32            { return OpClaim }
func (ClaimRemainder) Opcode() uint32   { return OpClaimRemainder }
func (StartClose) Opcode() uint32       { return OpStartClose }
func (FinalizeClose) Opcode() uint32    { return OpFinalizeClose }
func (CooperativeClose) Opcode() uint32 { return OpCooperativeClose }
func (ChannelUsage) Opcode() uint32     { return OpChannelUsage }
func (ChannelPayout) Opcode() uint32    { return OpChannelPayout }
func (ProtocolFee) Opcode() uint32      { return OpProtocolFee }
func (ChannelRefund) Opcode() uint32    { return OpChannelRefund }

func (Voucher) MessageName() string          { return "Voucher" }
func (CloseRequest) MessageName() string     { return "CloseRequest" }
func (OpenChannel) MessageName() string      { return "OpenChannel" }
func (SetChannelCode) MessageName() string   { return "SetChannelCode" }
func (ChannelInit) MessageName() string      { return "ChannelInit" }
func (Claim) MessageName() string            { return "Claim" }
func (ClaimRemainder) MessageName() string   { return "ClaimRemainder" }
func (StartClose) MessageName() string       { return "StartClose" }
func (FinalizeClose) MessageName() string    { return "FinalizeClose" }
func (CooperativeClose) MessageName() string { return "CooperativeClose" }
func (ChannelUsage) MessageName() string     { return "ChannelUsage" }
func (ChannelPayout) MessageName() string    { return "ChannelPayout" }
func (ProtocolFee) MessageName() string      { return "ProtocolFee" }
func (ChannelRefund) MessageName() string    { return "ChannelRefund" }

// ChannelMessages lists a zero value of every channel-protocol message (not the signed
// structures Voucher and CloseRequest), ordered as in channel-messages.tolk.
func ChannelMessages() []Message {
	return []Message{OpenChannel{}, SetChannelCode{}, ChannelInit{}, Claim{}, ClaimRemainder{}, StartClose{},
		FinalizeClose{}, CooperativeClose{}, ChannelUsage{}, ChannelPayout{}, ProtocolFee{}, ChannelRefund{}}
}

// The channel messages share Decode's opcode table with the registry and provider messages;
// registerMessages panics on an opcode collision whichever file's init runs first.
func init() { registerMessages(ChannelMessages()...) }

// ---------------------------------------------------------------- builders

// NewClaim builds the Claim for a signed voucher.
func NewClaim(queryID uint64, s voucher.Signed) (Claim, error) {
	v, err := VoucherFrom(s.Voucher)
	if err != nil {
		return Claim{}, fmt.Errorf("failed to build claim: %w", err)
	}
	return Claim{QueryID: queryID, Voucher: v, Signature: append([]byte(nil), s.Signature[:]...)}, nil
}

// SignedVoucher is the voucher and signature a Claim carries, for voucher.Signed.Verify.
func (c Claim) SignedVoucher() (voucher.Signed, error) {
	if c.Voucher == nil || len(c.Signature) != voucher.SignatureSize {
		return voucher.Signed{}, fmt.Errorf("%w: claim without voucher or 64-byte signature", ErrMalformedBody)
	}
	s := voucher.Signed{Voucher: c.Voucher.ToVoucher()}
	copy(s.Signature[:], c.Signature)
	return s, nil
}

// NewStartClose signs a close request with the client key and wraps it in StartClose.
func NewStartClose(queryID uint64, req CloseRequest, clientKey ed25519.PrivateKey) (StartClose, error) {
	sig, err := req.Sign(clientKey)
	if err != nil {
		return StartClose{}, fmt.Errorf("failed to build start close: %w", err)
	}
	return StartClose{QueryID: queryID, Request: &req, Signature: sig}, nil
}

// NewOpenChannel builds OpenChannel for a client key.
func NewOpenChannel(queryID uint64, providerOwner *address.Address, clientKey ed25519.PublicKey) (OpenChannel, error) {
	if len(clientKey) != ed25519.PublicKeySize {
		return OpenChannel{}, fmt.Errorf("%w: client key has %d bytes, want %d", ErrBadKey, len(clientKey), ed25519.PublicKeySize)
	}
	return OpenChannel{QueryID: queryID, ProviderOwner: providerOwner, ClientKey: append([]byte(nil), clientKey...)}, nil
}

// ---------------------------------------------------------------- getters

// Channel get-method names, and the registry's channel getter.
const (
	MethodGetChannelData  = "get_channel_data"
	MethodGetChannelState = "get_channel_state"
	// MethodGetChannelAddress (registry) is the channel of (clientKey, the provider of
	// providerOwner), or null while the registry has no channel code.
	MethodGetChannelAddress = "get_channel_address"
	// MethodGetOpenChannelFee (registry) is what OpenChannel must carry beyond the deposit.
	MethodGetOpenChannelFee = "get_open_channel_fee"
)

// DecodeChannelAddress decodes the registry's get_channel_address: nil while channels are
// disabled.
func DecodeChannelAddress(res *chain.GetMethodResult) (*address.Address, error) {
	r, err := newStackReader(MethodGetChannelAddress, res)
	if err != nil {
		return nil, err
	}
	a, err := r.maybeAddress("channel address")
	if err != nil {
		return nil, err
	}
	return a, r.done()
}

// RegistryChannelAddress runs the registry's get_channel_address. ChannelAddress computes the
// same offline from the channel code.
func RegistryChannelAddress(ctx context.Context, c GetMethodRunner, registry *address.Address, clientKey ed25519.PublicKey, providerOwner *address.Address) (*address.Address, error) {
	if len(clientKey) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("%w: client key has %d bytes, want %d", ErrBadKey, len(clientKey), ed25519.PublicKeySize)
	}
	owner, err := addressArg(providerOwner)
	if err != nil {
		return nil, err
	}
	res, err := c.RunGetMethod(ctx, registry, MethodGetChannelAddress, new(big.Int).SetBytes(clientKey), owner)
	if err != nil {
		return nil, fmt.Errorf("failed to run %s on registry %s: %w", MethodGetChannelAddress, registry, err)
	}
	return DecodeChannelAddress(res)
}

// ChannelData is the result of get_channel_data: who the channel is between, and its terms.
type ChannelData struct {
	Registry  *address.Address
	ClientKey []byte
	Provider  *address.Address
	// PayoutTo and Treasury are nil until the registry's ChannelInit.
	PayoutTo        *address.Address
	Treasury        *address.Address
	ProtocolFeeBps  uint16
	ChallengePeriod uint32
}

// DecodeChannelData decodes get_channel_data.
func DecodeChannelData(res *chain.GetMethodResult) (*ChannelData, error) {
	r, err := newStackReader(MethodGetChannelData, res)
	if err != nil {
		return nil, err
	}
	var d ChannelData
	if d.Registry, err = r.address("registry"); err != nil {
		return nil, err
	}
	if d.ClientKey, err = r.hash("clientKey"); err != nil {
		return nil, err
	}
	if d.Provider, err = r.address("provider"); err != nil {
		return nil, err
	}
	if d.PayoutTo, err = r.maybeAddress("payoutTo"); err != nil {
		return nil, err
	}
	if d.Treasury, err = r.maybeAddress("treasury"); err != nil {
		return nil, err
	}
	fee, err := r.uint("protocolFeeBps", 16)
	if err != nil {
		return nil, err
	}
	period, err := r.uint("challengePeriod", 32)
	if err != nil {
		return nil, err
	}
	d.ProtocolFeeBps, d.ChallengePeriod = uint16(fee), uint32(period)
	return &d, r.done()
}

// ChannelState is the result of get_channel_state: the money and the close.
type ChannelState struct {
	Status     ChannelStatus
	CloseNonce uint32
	// AcceptedAmount is the largest accepted amount; AcceptedPrompt and AcceptedCompletion are the
	// largest token totals of the accepted vouchers (docs/PROTOCOL.md "Vouchers").
	AcceptedAmount     tlb.Coins
	AcceptedPrompt     uint64
	AcceptedCompletion uint64
	// Paid is the part of AcceptedAmount paid out; Owed = AcceptedAmount - Paid, claimable
	// with ClaimRemainder after a top-up.
	Paid tlb.Coins
	Owed tlb.Coins
	// Available is the balance above the storage reserve.
	Available tlb.Coins
	// RefundTo is nil and CloseDeadline 0 unless closing.
	RefundTo      *address.Address
	CloseDeadline uint32
	// ClaimCost is the least value a Claim or ClaimRemainder must carry under the current network
	// config (gas of the claim cascade and four forward fees of its largest message); the unused
	// part returns to the relayer.
	ClaimCost tlb.Coins
}

// Accepted is the channel's accepted state as a voucher.Voucher of channel ch, for
// voucher.CheckNewer / Accept against a voucher about to be claimed.
func (s *ChannelState) Accepted(ch *address.Address) voucher.Voucher {
	return voucher.Voucher{Channel: ch, Amount: s.AcceptedAmount.Nano(), PromptTokens: s.AcceptedPrompt, CompletionTokens: s.AcceptedCompletion}
}

// DecodeChannelState decodes get_channel_state.
func DecodeChannelState(res *chain.GetMethodResult) (*ChannelState, error) {
	r, err := newStackReader(MethodGetChannelState, res)
	if err != nil {
		return nil, err
	}
	var s ChannelState
	status, err := r.uint("status", 8)
	if err != nil {
		return nil, err
	}
	nonce, err := r.uint("closeNonce", 32)
	if err != nil {
		return nil, err
	}
	s.Status, s.CloseNonce = ChannelStatus(status), uint32(nonce)
	if s.AcceptedAmount, err = r.tonCoins("acceptedAmount"); err != nil {
		return nil, err
	}
	if s.AcceptedPrompt, err = r.uint("acceptedPrompt", 64); err != nil {
		return nil, err
	}
	if s.AcceptedCompletion, err = r.uint("acceptedCompletion", 64); err != nil {
		return nil, err
	}
	if s.Paid, err = r.tonCoins("paid"); err != nil {
		return nil, err
	}
	if s.Owed, err = r.tonCoins("owed"); err != nil {
		return nil, err
	}
	if s.Available, err = r.tonCoins("available"); err != nil {
		return nil, err
	}
	if s.RefundTo, err = r.maybeAddress("refundTo"); err != nil {
		return nil, err
	}
	deadline, err := r.uint("closeDeadline", 32)
	if err != nil {
		return nil, err
	}
	s.CloseDeadline = uint32(deadline)
	if s.ClaimCost, err = r.tonCoins("claimCost"); err != nil {
		return nil, err
	}
	return &s, r.done()
}

// ChannelClient reads a deployed Channel through its get-methods.
type ChannelClient struct {
	Chain   GetMethodRunner
	Address *address.Address
}

func (c ChannelClient) target() getterTarget { return getterTarget{c.Chain, c.Address, "channel"} }

// Data runs get_channel_data.
func (c ChannelClient) Data(ctx context.Context) (*ChannelData, error) {
	return callGetter(ctx, c.target(), MethodGetChannelData, DecodeChannelData)
}

// State runs get_channel_state.
func (c ChannelClient) State(ctx context.Context) (*ChannelState, error) {
	return callGetter(ctx, c.target(), MethodGetChannelState, DecodeChannelState)
}
