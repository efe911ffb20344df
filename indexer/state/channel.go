package state

import (
	"encoding/hex"
	"math/big"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Channel mirrors contracts.ChannelStorage (with its setup and closing cells).
type Channel struct {
	ClientKey          string   `json:"client_key"`
	Provider           string   `json:"provider"`
	Registry           string   `json:"registry"`
	Status             uint8    `json:"status"`
	ProtocolFeeBps     uint16   `json:"protocol_fee_bps"`
	CloseNonce         uint32   `json:"close_nonce"`
	AcceptedAmount     *big.Int `json:"accepted_amount"`
	AcceptedPrompt     uint64   `json:"accepted_prompt"`
	AcceptedCompletion uint64   `json:"accepted_completion"`
	Paid               *big.Int `json:"paid"`
	// PayoutTo and Treasury are "" until the registry's ChannelInit.
	PayoutTo        string `json:"payout_to"`
	Treasury        string `json:"treasury"`
	ChallengePeriod uint32 `json:"challenge_period"`
	// Closing is nil unless the channel is closing.
	Closing *Closing `json:"closing"`
}

// Closing mirrors contracts.ClosingState.
type Closing struct {
	RefundTo string `json:"refund_to"`
	Deadline uint32 `json:"deadline"`
}

// Channel status values (contracts.ChannelStatus).
const (
	ChannelUninit  = uint8(contracts.ChannelUninit)
	ChannelOpen    = uint8(contracts.ChannelOpen)
	ChannelClosing = uint8(contracts.ChannelClosing)
)

// ChannelReserve is what a channel keeps for storage (MIN_TONS_FOR_STORAGE): available = balance − it.
var ChannelReserve = big.NewInt(20_000_000)

func channelFrom(st *contracts.ChannelStorage) *Channel {
	c := &Channel{
		ClientKey: hex.EncodeToString(st.ClientKey), Provider: rawAddr(st.Provider), Status: uint8(st.Status),
		ProtocolFeeBps: st.ProtocolFeeBps, CloseNonce: st.CloseNonce, AcceptedAmount: st.AcceptedAmount.Nano(),
		AcceptedPrompt: st.AcceptedPrompt, AcceptedCompletion: st.AcceptedCompletion, Paid: st.Paid.Nano(),
	}
	if st.Setup != nil {
		c.Registry, c.PayoutTo, c.Treasury, c.ChallengePeriod = rawAddr(st.Setup.Registry), rawAddr(st.Setup.PayoutTo), rawAddr(st.Setup.Treasury), st.Setup.ChallengePeriod
	}
	if st.Closing != nil {
		c.Closing = &Closing{RefundTo: rawAddr(st.Closing.RefundTo), Deadline: st.Closing.Deadline}
	}
	return c
}

// Owed is what the accepted voucher still owes (acceptedAmount − paid).
func (c *Channel) Owed() *big.Int { return sub(c.AcceptedAmount, c.Paid) }

// applyChannel applies a successful transaction of a channel (tolk/src/Channel.tolk).
func (s *State) applyChannel(e *emitter, tx *decode.Tx) {
	c, in := s.Channel, tx.In
	value := decode.Nano(in.Value)
	if in.Bounced {
		// Only the usage report is bounceable: the channel pays the claim itself.
		if in.BounceOf != nil {
			if u, ok := in.BounceOf.Decoded.(contracts.ChannelUsage); ok {
				if cl, err := u.Claimed(); err == nil {
					e.add(Event{Type: EvUsageBounced, Amount: cl.Amount, Earned: cl.Earned, Fee: cl.Fee, Counterparty: rawAddr(u.ExcessTo)})
				}
			}
		}
		return
	}
	if in.Decoded == nil {
		if in.Op == "" { // an empty body: a top-up by anyone, in any status
			s.deposit(e, EvDeposit, value, in.Src)
		}
		return
	}
	switch m := in.Decoded.(type) {
	case contracts.ChannelInit:
		if c.Status == ChannelUninit {
			c.PayoutTo, c.Treasury, c.ChallengePeriod = rawAddr(m.PayoutTo), rawAddr(m.Treasury), m.ChallengePeriod
			c.ProtocolFeeBps, c.Status = m.ProtocolFeeBps, ChannelOpen
			s.deposit(e, EvOpened, value, rawAddr(m.Opener))
		} else {
			s.deposit(e, EvDeposit, value, rawAddr(m.Opener))
		}
	case contracts.Claim, contracts.ClaimRemainder:
		out := outNamed(tx, "ChannelUsage")
		if out == nil {
			return
		}
		u, ok := out.Decoded.(contracts.ChannelUsage)
		if !ok || u.After == nil {
			return
		}
		cl, err := u.Claimed()
		if err != nil {
			return
		}
		a := u.After
		c.AcceptedAmount, c.AcceptedPrompt, c.AcceptedCompletion, c.Paid = a.AcceptedAmount.Nano(), a.AcceptedPrompt, a.AcceptedCompletion, a.Paid.Nano()
		s.Totals.Claims++
		s.Totals.Fees = add(s.Totals.Fees, cl.Fee)
		_, remainder := m.(contracts.ClaimRemainder)
		e.add(Event{Type: EvClaim, Amount: cl.Amount, Fee: cl.Fee, Earned: cl.Earned, PromptTokens: cl.PromptTokens,
			CompletionTokens: cl.CompletionTokens, Voucher: new(big.Int).Set(c.AcceptedAmount), Paid: new(big.Int).Set(c.Paid),
			Remainder: remainder, Counterparty: in.Src, Channel: s.Address})
	case contracts.StartClose:
		c.Status = ChannelClosing
		c.Closing = &Closing{RefundTo: rawAddr(m.Request.RefundTo), Deadline: tx.Now + c.ChallengePeriod}
		e.add(Event{Type: EvCloseStarted, Counterparty: c.Closing.RefundTo, Deadline: c.Closing.Deadline})
	case contracts.FinalizeClose, contracts.CooperativeClose:
		refundTo := ""
		if c.Closing != nil {
			refundTo = c.Closing.RefundTo
		}
		c.Status, c.Closing = ChannelOpen, nil
		c.CloseNonce++
		refund := zero()
		if r := outNamed(tx, "ChannelRefund"); r != nil {
			refund = decode.Nano(r.Value)
		}
		s.Totals.Closes++
		s.Totals.Refunded = add(s.Totals.Refunded, refund)
		_, coop := m.(contracts.CooperativeClose)
		e.add(Event{Type: EvClosed, Amount: refund, Counterparty: refundTo, Cooperative: coop})
	}
}

func (s *State) deposit(e *emitter, typ string, value *big.Int, from string) {
	s.Totals.Deposits++
	s.Totals.Deposited = add(s.Totals.Deposited, value)
	e.add(Event{Type: typ, Amount: value, Counterparty: from})
}
