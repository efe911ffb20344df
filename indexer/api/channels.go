package api

import (
	"math/big"

	"github.com/cocoon-go/cocoon/indexer/state"
)

// ChannelView is a payment channel's state.
type ChannelView struct {
	Address         Addr         `json:"address"`
	Provider        *Addr        `json:"provider" desc:"the Provider contract it pays"`
	PayoutTo        *Addr        `json:"payout_to" desc:"the provider owner paid by claims; null before ChannelInit"`
	Treasury        *Addr        `json:"treasury" desc:"receives the protocol fee; null before ChannelInit"`
	ClientKey       string       `json:"client_key" desc:"the client's ed25519 key (hex) that signs vouchers"`
	Status          string       `json:"status" desc:"uninit, open or closing"`
	CloseNonce      uint32       `json:"close_nonce" desc:"completed closes"`
	ProtocolFeeBps  uint16       `json:"protocol_fee_bps"`
	ChallengePeriod uint32       `json:"challenge_period" desc:"seconds between StartClose and FinalizeClose"`
	Accepted        VoucherView  `json:"accepted" desc:"the channel's accepted voucher totals"`
	Paid            Amount       `json:"paid"`
	Owed            Amount       `json:"owed" desc:"accepted - paid: claimable after a top-up"`
	Balance         *Amount      `json:"balance" desc:"balance at the last check against the chain; null before it"`
	Available       *Amount      `json:"available" desc:"balance above the 0.02 TON storage reserve; null before the first check"`
	Closing         *ClosingView `json:"closing" desc:"null unless closing"`
	Deposited       Amount       `json:"deposited" desc:"sum of every deposit and top-up"`
	Refunded        Amount       `json:"refunded" desc:"sum of every close refund"`
	Fees            Amount       `json:"fees" desc:"protocol fees of its claims"`
	Claims          int          `json:"claims"`
	OpenedAt        *int64       `json:"opened_at"`
}

// VoucherView is a voucher's cumulative totals.
type VoucherView struct {
	Amount           Amount `json:"amount"`
	PromptTokens     string `json:"prompt_tokens"`
	CompletionTokens string `json:"completion_tokens"`
}

// ClosingView is a close in progress.
type ClosingView struct {
	RefundTo *Addr `json:"refund_to"`
	Deadline int64 `json:"deadline" desc:"FinalizeClose is accepted from this time"`
}

// ChannelDetail is a channel with its history.
type ChannelDetail struct {
	ChannelView
	Deposits       []DepositEntry `json:"deposits" desc:"oldest first"`
	ClaimList      []ClaimEntry   `json:"claim_list" desc:"oldest first (the last 200)"`
	Closes         []CloseEntry   `json:"closes" desc:"close requests and completed closes, oldest first"`
	BouncedReports []ClaimEntry   `json:"bounced_reports" desc:"usage reports the Provider contract bounced: the channel paid the claim itself"`
	Transactions   []TxSummary    `json:"transactions" desc:"its newest transactions (at most 50)"`
}

// DepositEntry is a deposit or top-up.
type DepositEntry struct {
	Time    int64  `json:"time"`
	LT      uint64 `json:"lt"`
	Tx      string `json:"tx"`
	Amount  Amount `json:"amount"`
	From    *Addr  `json:"from" desc:"who opened (through the registry) or sent the top-up"`
	Opening bool   `json:"opening" desc:"the ChannelInit that opened the channel"`
}

// ClaimEntry is one claim.
type ClaimEntry struct {
	Time             int64   `json:"time"`
	LT               uint64  `json:"lt"`
	Tx               string  `json:"tx"`
	Amount           Amount  `json:"amount" desc:"paid out of the channel by this claim"`
	Fee              Amount  `json:"fee"`
	Earned           Amount  `json:"earned"`
	PromptTokens     string  `json:"prompt_tokens" desc:"tokens this claim added"`
	CompletionTokens string  `json:"completion_tokens"`
	Voucher          *Amount `json:"voucher" desc:"the accepted amount after it"`
	PaidTotal        *Amount `json:"paid_total" desc:"the channel's paid total after it"`
	Relayer          *Addr   `json:"relayer" desc:"who sent it (gets the unused value back)"`
	Remainder        bool    `json:"remainder" desc:"a ClaimRemainder (no new voucher)"`
}

// CloseEntry is a StartClose or a completed close.
type CloseEntry struct {
	Time        int64   `json:"time"`
	LT          uint64  `json:"lt"`
	Tx          string  `json:"tx"`
	Type        string  `json:"type" desc:"close_started or closed"`
	RefundTo    *Addr   `json:"refund_to"`
	Deadline    *int64  `json:"deadline"`
	Refund      *Amount `json:"refund" desc:"what the close refunded (closed)"`
	Cooperative bool    `json:"cooperative" desc:"closed at once by the provider owner"`
}

func channelView(st *state.State, openedAt uint32) ChannelView {
	c := st.Channel
	v := ChannelView{
		Address: *addr(st.Address), Provider: addr(c.Provider), PayoutTo: addr(c.PayoutTo), Treasury: addr(c.Treasury),
		ClientKey: c.ClientKey, Status: channelStatusName(c.Status), CloseNonce: c.CloseNonce, ProtocolFeeBps: c.ProtocolFeeBps,
		ChallengePeriod: c.ChallengePeriod,
		Accepted:        VoucherView{Amount: amount(c.AcceptedAmount), PromptTokens: u64(c.AcceptedPrompt), CompletionTokens: u64(c.AcceptedCompletion)},
		Paid:            amount(c.Paid), Owed: amount(c.Owed()), Balance: amountPtr(st.Balance),
		Deposited: amount(st.Totals.Deposited), Refunded: amount(st.Totals.Refunded), Fees: amount(st.Totals.Fees),
		Claims: st.Totals.Claims, OpenedAt: timePtr(openedAt),
	}
	if st.Balance != nil {
		avail := new(big.Int).Sub(st.Balance, state.ChannelReserve)
		if avail.Sign() < 0 {
			avail.SetInt64(0)
		}
		v.Available = amountPtr(avail)
	}
	if c.Closing != nil {
		v.Closing = &ClosingView{RefundTo: addr(c.Closing.RefundTo), Deadline: int64(c.Closing.Deadline)}
	}
	return v
}

func claimEntry(ev *state.Event) ClaimEntry {
	return ClaimEntry{Time: int64(ev.Time), LT: ev.LT, Tx: ev.Tx, Amount: amount(ev.Amount), Fee: amount(ev.Fee), Earned: amount(ev.Earned),
		PromptTokens: u64(ev.PromptTokens), CompletionTokens: u64(ev.CompletionTokens), Voucher: amountPtr(ev.Voucher),
		PaidTotal: amountPtr(ev.Paid), Relayer: addr(ev.Counterparty), Remainder: ev.Remainder}
}

// Channel is one channel with its history.
func (a *API) Channel(address string) (*ChannelDetail, error) {
	st, err := a.account(address, state.KindChannel)
	if err != nil {
		return nil, err
	}
	return cached(a, "c"+st.Address, false, func() (*ChannelDetail, error) { return a.channel(st) })
}

func (a *API) channel(st *state.State) (*ChannelDetail, error) {
	d := &ChannelDetail{ChannelView: channelView(st, a.openedAt(st.Address)), Deposits: []DepositEntry{}, ClaimList: []ClaimEntry{},
		Closes: []CloseEntry{}, BouncedReports: []ClaimEntry{}}
	err := a.cfg.Store.Events(st.Address, false, func(ev *state.Event) bool {
		t, lt, tx := int64(ev.Time), ev.LT, ev.Tx
		switch ev.Type {
		case state.EvOpened, state.EvDeposit:
			d.Deposits = appendBounded(d.Deposits, DepositEntry{Time: t, LT: lt, Tx: tx, Amount: amount(ev.Amount), From: addr(ev.Counterparty), Opening: ev.Type == state.EvOpened})
		case state.EvClaim:
			d.ClaimList = appendBounded(d.ClaimList, claimEntry(ev))
		case state.EvUsageBounced:
			d.BouncedReports = appendBounded(d.BouncedReports, claimEntry(ev))
		case state.EvCloseStarted, state.EvClosed:
			e := CloseEntry{Time: t, LT: lt, Tx: tx, Type: ev.Type, RefundTo: addr(ev.Counterparty), Deadline: timePtr(ev.Deadline), Cooperative: ev.Cooperative}
			if ev.Type == state.EvClosed {
				e.Refund = amountPtr(ev.Amount)
			}
			d.Closes = appendBounded(d.Closes, e)
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	if d.Transactions, err = a.txSummaries(st.Address); err != nil {
		return nil, err
	}
	return d, nil
}

// ChannelList is a list of channels.
type ChannelList struct {
	Channels []ChannelSummary `json:"channels"`
}

// Channels lists the channels of a provider (address, raw or user-friendly), or every channel.
func (a *API) Channels(provider string) (*ChannelList, error) {
	var addrs []string
	if provider != "" {
		st, err := a.account(provider, state.KindProvider)
		if err != nil {
			return nil, err
		}
		if addrs, err = a.cfg.Store.ChannelsOf(st.Address); err != nil {
			return nil, err
		}
	} else {
		accts, err := a.cfg.Store.Accounts(state.KindChannel)
		if err != nil {
			return nil, err
		}
		for _, ac := range accts {
			addrs = append(addrs, ac.Address)
		}
	}
	out := &ChannelList{Channels: []ChannelSummary{}}
	for _, c := range addrs {
		st, err := a.cfg.Store.State(c)
		if err != nil || st.Channel == nil {
			continue
		}
		out.Channels = append(out.Channels, channelSummary(st, a.openedAt(c)))
	}
	return out, nil
}
