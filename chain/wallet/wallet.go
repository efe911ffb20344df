// Package wallet signs transfers from standard TON wallets (V5R1 and V4R2) and reads their state
// over any chain.Client. Sending goes through the transaction manager (chain/txmgr), which owns
// the seqno: one serialized sender per wallet.
//
// Messages are built here rather than by tonutils-go's wallet.Wallet because that type reads the
// wall clock for valid_until and fetches seqno through a liteserver API; the devnet has its own
// clock and every chain.Client can answer a get-method, so both are explicit inputs instead.
// Code, StateInit and addresses still come from tonutils-go, so the contracts are the standard ones.
package wallet

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// Version is a wallet contract version.
type Version string

const (
	V5R1 Version = "v5r1"
	V4R2 Version = "v4r2"
)

// Network global ids: V5R1 signs them into every message.
const (
	MainnetGlobalID int32 = -239
	TestnetGlobalID int32 = -3
)

var (
	// ErrVersion is a wallet version this package does not handle.
	ErrVersion = errors.New("unsupported wallet version")
	// ErrMnemonic is a mnemonic that is not a valid 24-word TON mnemonic.
	ErrMnemonic = errors.New("invalid mnemonic")
	// ErrTooManyMessages is more transfers than the wallet sends in one message.
	ErrTooManyMessages = errors.New("too many transfers in one message")
	// ErrFailed is a wallet transaction whose compute or action phase failed.
	ErrFailed = errors.New("wallet transaction failed")
)

// ParseVersion accepts "v5r1" (also "v5", "w5") and "v4r2" (also "v4"), case-insensitively.
func ParseVersion(s string) (Version, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "v5r1", "v5", "w5", "v5r1final":
		return V5R1, nil
	case "v4r2", "v4":
		return V4R2, nil
	}
	return "", fmt.Errorf("%w %q (want v5r1 or v4r2)", ErrVersion, s)
}

// NewMnemonic generates a fresh 24-word TON mnemonic.
func NewMnemonic() []string { return tonwallet.NewSeed() }

// KeyFromMnemonic derives the ed25519 key of a TON (not BIP-39) mnemonic without a password.
func KeyFromMnemonic(words []string) (ed25519.PrivateKey, error) {
	if len(words) != 24 {
		return nil, fmt.Errorf("%w: want 24 words, got %d", ErrMnemonic, len(words))
	}
	k, err := tonwallet.SeedToPrivateKeyWithOptions(words)
	if err != nil {
		// tonutils-go's message quotes the offending word; a mnemonic never goes into logs.
		return nil, fmt.Errorf("%w: a word is not in the TON word list, or the words are not a TON mnemonic (BIP-39 and password-protected mnemonics are not supported)", ErrMnemonic)
	}
	return k, nil
}

// Wallet is an offline signer for one wallet contract on one network.
type Wallet struct {
	key       ed25519.PrivateKey
	version   Version
	globalID  int32
	subwallet uint32
	addr      *address.Address
	stateInit *tlb.StateInit
}

// New builds the wallet of key; globalID matters for V5R1 only (it is part of its wallet id).
func New(key ed25519.PrivateKey, v Version, globalID int32) (*Wallet, error) {
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("failed to build wallet: private key has %d bytes, want %d", len(key), ed25519.PrivateKeySize)
	}
	w := &Wallet{key: key, version: v, globalID: globalID}
	var cfg tonwallet.VersionConfig
	switch v {
	case V5R1:
		cfg = tonwallet.ConfigV5R1Final{NetworkGlobalID: globalID, Workchain: 0}
		w.subwallet = 0
	case V4R2:
		cfg = tonwallet.V4R2
		w.subwallet = tonwallet.DefaultSubwallet
	default:
		return nil, fmt.Errorf("failed to build wallet: %w %q", ErrVersion, v)
	}
	pub := key.Public().(ed25519.PublicKey)
	si, err := tonwallet.GetStateInit(pub, cfg, w.subwallet)
	if err != nil {
		return nil, fmt.Errorf("failed to build wallet state init: %w", err)
	}
	siCell, err := tlb.ToCell(si)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize wallet state init: %w", err)
	}
	w.stateInit = si
	w.addr = address.NewAddress(0, 0, siCell.Hash())
	return w, nil
}

// FromMnemonic is KeyFromMnemonic followed by New.
func FromMnemonic(words []string, v Version, globalID int32) (*Wallet, error) {
	k, err := KeyFromMnemonic(words)
	if err != nil {
		return nil, err
	}
	return New(k, v, globalID)
}

// Address is the wallet's address (bounceable flag set, as tonutils-go does by default).
func (w *Wallet) Address() *address.Address { return w.addr.Copy() }

// PublicKey is the wallet's ed25519 public key.
func (w *Wallet) PublicKey() ed25519.PublicKey { return w.key.Public().(ed25519.PublicKey) }

// Version is the wallet contract version.
func (w *Wallet) Version() Version { return w.version }

// StateInit is the code and initial data that deploy the wallet.
func (w *Wallet) StateInit() *tlb.StateInit { return w.stateInit }

// Transfer is one outgoing internal message.
type Transfer struct {
	To     *address.Address
	Amount *big.Int // nanoTON
	Bounce bool
	// Body is the message body (nil for none); Comment builds a text comment body instead.
	Body      *cell.Cell
	StateInit *tlb.StateInit
	// Mode is the send mode; 0 means pay fees separately and ignore errors (3), the wallet default.
	Mode uint8
}

// Comment builds a text comment body (op 0 followed by the UTF-8 text, in snake cells).
func Comment(text string) (*cell.Cell, error) {
	c, err := tonwallet.CreateCommentCell(text)
	if err != nil {
		return nil, fmt.Errorf("failed to build comment: %w", err)
	}
	return c, nil
}

func (t Transfer) message() (uint8, *cell.Cell, error) {
	if t.To == nil {
		return 0, nil, fmt.Errorf("transfer has no destination")
	}
	if t.Amount == nil || t.Amount.Sign() < 0 {
		return 0, nil, fmt.Errorf("transfer amount must be zero or positive nanoTON")
	}
	msg := &tlb.InternalMessage{
		IHRDisabled: true,
		Bounce:      t.Bounce,
		DstAddr:     t.To,
		Amount:      tlb.FromNanoTON(t.Amount),
		Body:        t.Body,
		StateInit:   t.StateInit,
	}
	if msg.Body == nil {
		msg.Body = cell.BeginCell().EndCell()
	}
	c, err := tlb.ToCell(msg)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to serialize transfer: %w", err)
	}
	mode := t.Mode
	if mode == 0 {
		mode = tonwallet.PayGasSeparately + tonwallet.IgnoreErrors
	}
	return mode, c, nil
}

// Signed is a signed external message ready for chain.Client.SendExternal.
type Signed struct {
	Message *cell.Cell // the whole external Message cell
	Body    *cell.Cell // the signed body; its hash identifies the resulting transaction
}

// Sign builds the signed external message for transfers at seqno, valid until validUntil.
// withStateInit attaches the wallet's StateInit, which deploys it (seqno must then be 0).
func (w *Wallet) Sign(seqno uint32, validUntil time.Time, withStateInit bool, transfers ...Transfer) (*Signed, error) {
	vu := validUntil.Unix()
	if vu <= 0 || vu > int64(^uint32(0)) {
		return nil, fmt.Errorf("failed to sign: valid-until %v does not fit 32 bits", validUntil)
	}
	var body *cell.Cell
	var err error
	switch w.version {
	case V5R1:
		body, err = w.bodyV5R1(seqno, uint32(vu), transfers)
	case V4R2:
		body, err = w.bodyV4R2(seqno, uint32(vu), transfers)
	default:
		err = fmt.Errorf("%w %q", ErrVersion, w.version)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to sign: %w", err)
	}
	ext := &tlb.ExternalMessage{DstAddr: w.addr, Body: body}
	if withStateInit {
		ext.StateInit = w.stateInit
	}
	msg, err := tlb.ToCell(ext)
	if err != nil {
		return nil, fmt.Errorf("failed to serialize external message: %w", err)
	}
	return &Signed{Message: msg, Body: body}, nil
}

// bodyV5R1: signed_request$_ prefix:0x7369676e wallet_id:int32 valid_until:uint32 seqno:uint32
// actions:(Maybe ^OutList) has_other_actions:(## 1) … signature:bits512 (signature last).
func (w *Wallet) bodyV5R1(seqno, validUntil uint32, transfers []Transfer) (*cell.Cell, error) {
	if len(transfers) > 255 {
		return nil, fmt.Errorf("%w: V5R1 sends at most 255, got %d", ErrTooManyMessages, len(transfers))
	}
	msgs := make([]*tonwallet.Message, 0, len(transfers))
	for i, t := range transfers {
		mode, c, err := t.message()
		if err != nil {
			return nil, fmt.Errorf("transfer %d: %w", i, err)
		}
		var im tlb.InternalMessage
		if err := tlb.Parse(&im, c); err != nil {
			return nil, fmt.Errorf("transfer %d: %w", i, err)
		}
		msgs = append(msgs, &tonwallet.Message{Mode: mode, InternalMessage: &im})
	}
	var actions *cell.Builder
	if len(msgs) == 0 {
		actions = cell.BeginCell().MustStoreUInt(0, 1).MustStoreUInt(0, 1) // no actions, no extended actions
	} else {
		var err error
		if actions, err = tonwallet.PackV5OutActions(msgs); err != nil {
			return nil, fmt.Errorf("failed to pack actions: %w", err)
		}
	}
	id := tonwallet.V5R1ID{NetworkGlobalID: w.globalID, WorkChain: 0, SubwalletNumber: uint16(w.subwallet)}
	payload := cell.BeginCell().
		MustStoreUInt(0x7369676e, 32).
		MustStoreUInt(uint64(id.Serialized()), 32).
		MustStoreUInt(uint64(validUntil), 32).
		MustStoreUInt(uint64(seqno), 32).
		MustStoreBuilder(actions)
	sig := payload.EndCell().Sign(w.key)
	return cell.BeginCell().MustStoreBuilder(payload).MustStoreSlice(sig, 512).EndCell(), nil
}

// bodyV4R2: signature:bits512 subwallet_id:uint32 valid_until:uint32 seqno:uint32 op:int8(0)
// then (mode:uint8 ^MessageRelaxed) per transfer (signature first).
func (w *Wallet) bodyV4R2(seqno, validUntil uint32, transfers []Transfer) (*cell.Cell, error) {
	if len(transfers) > 4 {
		return nil, fmt.Errorf("%w: V4R2 sends at most 4, got %d", ErrTooManyMessages, len(transfers))
	}
	payload := cell.BeginCell().
		MustStoreUInt(uint64(w.subwallet), 32).
		MustStoreUInt(uint64(validUntil), 32).
		MustStoreUInt(uint64(seqno), 32).
		MustStoreInt(0, 8)
	for i, t := range transfers {
		mode, c, err := t.message()
		if err != nil {
			return nil, fmt.Errorf("transfer %d: %w", i, err)
		}
		payload.MustStoreUInt(uint64(mode), 8).MustStoreRef(c)
	}
	sig := payload.EndCell().Sign(w.key)
	return cell.BeginCell().MustStoreSlice(sig, 512).MustStoreBuilder(payload).EndCell(), nil
}

// Message is one wallet message before it is signed: what a signer (this package's mnemonic key,
// or a remote or hardware signer) is asked to sign.
type Message struct {
	Seqno uint32
	// ValidUntil is when the wallet stops accepting the message, on the chain's clock.
	ValidUntil time.Time
	// Deploy attaches the wallet's StateInit, which deploys it (Seqno must then be 0).
	Deploy    bool
	Transfers []Transfer
}

// SignMessage is Sign for a Message: the signer interface of the transaction manager (chain/txmgr).
func (w *Wallet) SignMessage(_ context.Context, m Message) (*Signed, error) {
	return w.Sign(m.Seqno, m.ValidUntil, m.Deploy, m.Transfers...)
}

// MaxTransfers is how many transfers one message of this wallet carries: 255 for V5R1, 4 for V4R2.
func (w *Wallet) MaxTransfers() int {
	if w.version == V4R2 {
		return 4
	}
	return 255
}

// StateClient is the part of chain.Client that reading a wallet's state needs.
type StateClient interface {
	GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error)
	RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error)
}

// State is what a sender needs to know about a wallet account before signing.
type State struct {
	Account  *chain.Account
	Deployed bool
	Seqno    uint32
}

// State reads the wallet's account and, when it is deployed, its seqno.
func (w *Wallet) State(ctx context.Context, c StateClient) (*State, error) {
	return ReadState(ctx, c, w.addr)
}

// ReadState reads any standard wallet's account and, when it is deployed, its seqno (get-method
// "seqno"). The seqno is read before the account, so the account is at least as new as the seqno:
// every transaction that counted in the seqno is at or below Account.LastTxLT.
func ReadState(ctx context.Context, c StateClient, addr *address.Address) (*State, error) {
	var seqno uint32
	res, seqnoErr := c.RunGetMethod(ctx, addr, "seqno")
	if seqnoErr == nil {
		if len(res.Stack) != 1 {
			return nil, fmt.Errorf("failed to read wallet seqno: %d values returned, want 1", len(res.Stack))
		}
		n, ok := res.Stack[0].(*big.Int)
		if !ok || n.Sign() < 0 || !n.IsUint64() || n.Uint64() > uint64(^uint32(0)) {
			return nil, fmt.Errorf("failed to read wallet seqno: got %v", res.Stack[0])
		}
		seqno = uint32(n.Uint64())
	}
	acc, err := c.GetAccount(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("failed to read wallet account: %w", err)
	}
	st := &State{Account: acc, Deployed: acc.State == chain.StateActive}
	if !st.Deployed {
		return st, nil
	}
	if seqnoErr != nil {
		return nil, fmt.Errorf("failed to read wallet seqno: %w", seqnoErr)
	}
	st.Seqno = seqno
	return st, nil
}

// CheckSuccess returns ErrFailed (with the exit codes) when an ordinary transaction's compute or
// action phase failed or was skipped.
func CheckSuccess(tx *tlb.Transaction) error {
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		if p, isPtr := tx.Description.(*tlb.TransactionDescriptionOrdinary); isPtr && p != nil {
			d, ok = *p, true
		}
	}
	if !ok {
		return nil
	}
	switch ph := d.ComputePhase.Phase.(type) {
	case tlb.ComputePhaseVM:
		if !ph.Success {
			return fmt.Errorf("%w: lt %d: compute phase exit code %d", ErrFailed, tx.LT, ph.Details.ExitCode)
		}
	case tlb.ComputePhaseSkipped:
		return fmt.Errorf("%w: lt %d: compute phase skipped (%s)", ErrFailed, tx.LT, ph.Reason.Type)
	}
	if d.ActionPhase != nil && !d.ActionPhase.Success {
		return fmt.Errorf("%w: lt %d: action phase result code %d", ErrFailed, tx.LT, d.ActionPhase.ResultCode)
	}
	if d.Aborted {
		return fmt.Errorf("%w: lt %d: aborted", ErrFailed, tx.LT)
	}
	return nil
}
