// Package decode turns a TON transaction of a Cocoon contract into the indexer's record of it: every
// message with its opcode, its name and its fields decoded by the contracts library, bounces with the
// message they return and the phase and exit code that bounced it, and the transaction's outcome
// (compute exit code, action result code, aborted, fees). A body no Cocoon message matches is kept
// as its raw BOC and flagged Unknown, never dropped.
//
// Decoding is pure: the same transaction always gives the same record, so a record can be stored,
// compared and rebuilt.
package decode

import (
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/contracts"
)

// Message types of Msg.Type.
const (
	Internal    = "internal"
	ExternalIn  = "external_in"
	ExternalOut = "external_out"
)

// Tx is one decoded transaction.
type Tx struct {
	// Account is the raw address ("0:<hex>") of the account the transaction belongs to.
	Account  string `json:"account"`
	LT       uint64 `json:"lt"`
	Hash     string `json:"hash"`
	PrevLT   uint64 `json:"prev_lt"`
	PrevHash string `json:"prev_hash"`
	// Now is the transaction's unix time.
	Now uint32 `json:"now"`
	// In is the inbound message; nil for a transaction without one (tick-tock, storage).
	In  *Msg  `json:"in"`
	Out []Msg `json:"out"`
	// ComputeSkipped: the compute phase did not run; ExitCode is then 0.
	ComputeSkipped bool `json:"compute_skipped"`
	ExitCode       int  `json:"exit_code"`
	// ActionCode is the action phase's result code (0: none or success).
	ActionCode int  `json:"action_code"`
	Aborted    bool `json:"aborted"`
	// Success: the compute phase ran and succeeded, the action phase too, nothing was rolled
	// back. Only successful transactions change a contract's state.
	Success bool `json:"success"`
	// Fees is the transaction's total fees in nanoTON.
	Fees string `json:"fees"`
}

// Msg is one message of a transaction.
type Msg struct {
	Type string `json:"type"`
	// Src and Dst are raw addresses; "" for none (an external message's source).
	Src string `json:"src,omitempty"`
	Dst string `json:"dst,omitempty"`
	// Value is nanoTON (internal messages; "0" otherwise).
	Value     string `json:"value"`
	Bounce    bool   `json:"bounce,omitempty"`
	Bounced   bool   `json:"bounced,omitempty"`
	CreatedLT uint64 `json:"created_lt,omitempty"`
	// Op is the body's 32-bit opcode as 0x%08x; "" for an empty body.
	Op string `json:"op,omitempty"`
	// Name is the Cocoon message's name; "" when the body is empty or unknown.
	Name string `json:"name,omitempty"`
	// Unknown: a non-empty body that is no Cocoon message (or does not parse as the one its
	// opcode names).
	Unknown bool `json:"unknown,omitempty"`
	// Body is the body as a base64 BOC ("" for an empty one): kept whole, known or not, so the
	// fields can be rendered again (Render) and nothing is ever lost.
	Body string `json:"body,omitempty"`
	// BounceOf describes the message a bounce returns (Bounced messages only).
	BounceOf *Bounce `json:"bounce_of,omitempty"`
	// Init is the StateInit the message deploys with, if any.
	Init *Init `json:"init,omitempty"`

	// Decoded is the typed message (nil when not decoded) and Fields its fields (Render); neither
	// is stored.
	Decoded contracts.Message `json:"-"`
	Fields  map[string]any    `json:"-"`
}

// Bounce is what a bounced message says about the message it returns.
type Bounce struct {
	// Op and Name are the original message's opcode and name (Name "" when unknown).
	Op   string `json:"op,omitempty"`
	Name string `json:"name,omitempty"`
	// Rich: the new bounce format (0xfffffffe) with the phase and exit code; the old one carries
	// only the first 256 bits of the original body.
	Rich bool `json:"rich"`
	// Phase is "compute" or "action" (rich bounces only); ExitCode the code that failed it.
	Phase    string `json:"phase,omitempty"`
	ExitCode int    `json:"exit_code,omitempty"`
	// Decoded is the original message when its whole body came back, and Fields its fields
	// (Render); neither is stored.
	Decoded contracts.Message `json:"-"`
	Fields  map[string]any    `json:"-"`
}

// Init is a message's StateInit: the code hash (what contract it deploys) and the initial data.
type Init struct {
	CodeHash string `json:"code_hash"`
	// Data is the initial data as a base64 BOC.
	Data string `json:"data,omitempty"`

	DataCell *cell.Cell `json:"-"`
}

// Bounce body prefixes.
const (
	opBounceOld  uint32 = 0xffffffff
	opBounceRich uint32 = 0xfffffffe
)

// ErrNoMessages is a transaction whose message list cannot be read.
var ErrNoMessages = errors.New("transaction messages do not parse")

// Transaction decodes tx of the account at.
func Transaction(at *address.Address, tx *tlb.Transaction) (*Tx, error) {
	out := &Tx{
		Account:  at.StringRaw(),
		LT:       tx.LT,
		Hash:     hex.EncodeToString(tx.Hash),
		PrevLT:   tx.PrevTxLT,
		PrevHash: hex.EncodeToString(tx.PrevTxHash),
		Now:      tx.Now,
		Fees:     tx.TotalFees.Coins.Nano().String(),
		Out:      []Msg{},
	}
	if tx.IO.In != nil {
		m := message(tx.IO.In)
		out.In = &m
	}
	if tx.IO.Out != nil {
		msgs, err := tx.IO.Out.ToSlice()
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrNoMessages, err)
		}
		for i := range msgs {
			out.Out = append(out.Out, message(&msgs[i]))
		}
	}
	if d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary); ok {
		out.Aborted = d.Aborted
		switch ph := d.ComputePhase.Phase.(type) {
		case tlb.ComputePhaseVM:
			out.ExitCode = int(ph.Details.ExitCode)
			out.Success = ph.Success && !d.Aborted
		case tlb.ComputePhaseSkipped:
			out.ComputeSkipped = true
		}
		if d.ActionPhase != nil && !d.ActionPhase.Success {
			out.ActionCode = int(d.ActionPhase.ResultCode)
			if out.ActionCode == 0 {
				out.ActionCode = -1
			}
			out.Success = false
		}
	}
	return out, nil
}

func message(m *tlb.Message) Msg {
	var out Msg
	var body *cell.Cell
	var init *tlb.StateInit
	switch m.MsgType {
	case tlb.MsgTypeInternal:
		in := m.AsInternal()
		out = Msg{Type: Internal, Src: raw(in.SrcAddr), Dst: raw(in.DstAddr), Value: in.Amount.Nano().String(),
			Bounce: in.Bounce, Bounced: in.Bounced, CreatedLT: in.CreatedLT}
		body, init = in.Body, in.StateInit
	case tlb.MsgTypeExternalIn:
		ex := m.AsExternalIn()
		out = Msg{Type: ExternalIn, Src: raw(ex.SrcAddr), Dst: raw(ex.DstAddr), Value: "0"}
		body, init = ex.Body, ex.StateInit
	case tlb.MsgTypeExternalOut:
		ex := m.AsExternalOut()
		out = Msg{Type: ExternalOut, Src: raw(ex.SrcAddr), Dst: raw(ex.DstAddr), Value: "0", CreatedLT: ex.CreatedLT}
		body, init = ex.Body, ex.StateInit
	}
	if init != nil {
		out.Init = &Init{}
		if init.Code != nil {
			out.Init.CodeHash = hex.EncodeToString(init.Code.Hash())
		}
		if init.Data != nil {
			out.Init.Data = base64.StdEncoding.EncodeToString(init.Data.ToBOC())
			out.Init.DataCell = init.Data
		}
	}
	decodeBody(&out, body)
	return out
}

// decodeBody fills the opcode, name and fields of m from body. Only an internal message's body can be
// a bounce.
func decodeBody(m *Msg, body *cell.Cell) {
	if body == nil || (body.BitsSize() == 0 && body.RefsNum() == 0) {
		return
	}
	m.Body = bocString(body)
	s, err := body.BeginParse()
	if err != nil {
		m.Unknown = true
		return
	}
	op, err := s.PreloadUInt(32)
	if err != nil {
		m.Unknown = true
		return
	}
	m.Op = OpString(uint32(op))
	if m.Bounced && (uint32(op) == opBounceOld || uint32(op) == opBounceRich) {
		m.BounceOf = bounceOf(body, uint32(op))
		m.Name = "Bounce"
		return
	}
	msg, err := contracts.Decode(body)
	if err != nil {
		m.Unknown = true
		if n, ok := OpName(uint32(op)); ok {
			m.Name = n
		}
		return
	}
	m.Name, m.Decoded = msg.MessageName(), msg
}

// Render decodes a stored message's body again (Decoded, and BounceOf.Decoded for a rich bounce)
// and fills Fields from it: records keep only the body, and the API renders fields when asked.
func Render(m *Msg) {
	if m.Body == "" {
		return
	}
	raw, err := base64.StdEncoding.DecodeString(m.Body)
	if err != nil {
		return
	}
	body, err := cell.FromBOC(raw)
	if err != nil {
		return
	}
	var again Msg
	again.Bounced = m.Bounced
	decodeBody(&again, body)
	if again.Decoded != nil {
		m.Decoded, m.Fields = again.Decoded, Fields(again.Decoded)
	}
	if m.BounceOf != nil && again.BounceOf != nil && again.BounceOf.Decoded != nil {
		m.BounceOf.Decoded, m.BounceOf.Fields = again.BounceOf.Decoded, Fields(again.BounceOf.Decoded)
	}
}

// bounceOf reads a bounce body: the old form (0xffffffff and the first 256 bits of the original
// body) or the rich one (0xfffffffe, the original body by reference, its value and time, the phase
// and the exit code).
func bounceOf(body *cell.Cell, op uint32) *Bounce {
	b := &Bounce{Rich: op == opBounceRich}
	s := body.MustBeginParse()
	_, _ = s.LoadUInt(32)
	if !b.Rich {
		if orig, err := s.LoadUInt(32); err == nil {
			b.Op = OpString(uint32(orig))
			b.Name, _ = OpName(uint32(orig))
		}
		return b
	}
	origCell, err := s.LoadRefCell()
	if err != nil {
		return b
	}
	if _, err := s.LoadRefCell(); err != nil { // value, created lt and time of the original
		return b
	}
	if phase, err := s.LoadUInt(8); err == nil {
		switch phase {
		case 0:
			b.Phase = "compute_skipped"
		case 1:
			b.Phase = "compute"
		case 2:
			b.Phase = "action"
		default:
			b.Phase = fmt.Sprintf("phase %d", phase)
		}
	}
	if code, err := s.LoadInt(32); err == nil {
		b.ExitCode = int(code)
	}
	os, err := origCell.BeginParse()
	if err != nil {
		return b
	}
	o, err := os.PreloadUInt(32)
	if err != nil {
		return b
	}
	b.Op = OpString(uint32(o))
	b.Name, _ = OpName(uint32(o))
	if msg, err := contracts.Decode(origCell); err == nil {
		b.Decoded = msg
	}
	return b
}

// OpString formats an opcode as the API shows it.
func OpString(op uint32) string { return fmt.Sprintf("0x%08x", op) }

var opNames = func() map[uint32]string {
	m := map[uint32]string{}
	for _, msg := range contracts.Messages() {
		m[msg.Opcode()] = msg.MessageName()
	}
	return m
}()

// OpName is the Cocoon message name of an opcode.
func OpName(op uint32) (string, bool) {
	n, ok := opNames[op]
	return n, ok
}

func raw(a *address.Address) string {
	if a == nil || a.Type() != address.StdAddress {
		return ""
	}
	return a.StringRaw()
}

func bocString(c *cell.Cell) string { return base64.StdEncoding.EncodeToString(c.ToBOC()) }

// Nano parses a decimal nanoTON string of a record ("0" when empty or bad).
func Nano(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return n
}
