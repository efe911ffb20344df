package api

import (
	"math/big"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
	"github.com/cocoon-go/cocoon/indexer/state"
)

// History lengths a profile or channel page returns at most (newest kept).
const (
	maxHistory = 200
	maxTxs     = 50
)

// ProviderDetail is a provider's profile with its history.
type ProviderDetail struct {
	ProviderView
	Params              *ProviderParamsView `json:"params" desc:"the registry parameters the provider enforces (its copy); null before registration"`
	PriceHistory        []PriceChange       `json:"price_history" desc:"every price change, oldest first"`
	AttestationTimeline []AttestationEntry  `json:"attestation_timeline" desc:"votes and confirmations, oldest first (the last 200)"`
	StakeHistory        []StakeEntry        `json:"stake_history" desc:"stake, status and jail changes, oldest first (the last 200)"`
	UsageHistory        []UsageEntry        `json:"usage_history" desc:"claims its channels reported, newest first (the last 200)"`
	Earnings            []SeriesPoint       `json:"earnings" desc:"claims paid to this provider per day, the last 30 days"`
	UptimeHistory       []UptimeDay         `json:"uptime_history" desc:"uptime per day, the last 30 days, oldest first"`
	UptimeEntries       []UptimeEntry       `json:"uptime_entries" desc:"its entries in the oracles' verified tables, newest first (the last 50)"`
	ChannelList         []ChannelSummary    `json:"channel_list" desc:"its payment channels"`
	Transactions        []TxSummary         `json:"transactions" desc:"its newest transactions (at most 50)"`
}

// ProviderParamsView is a provider's copy of the registry parameters.
type ProviderParamsView struct {
	MinStake        Amount `json:"min_stake"`
	UnbondingPeriod uint32 `json:"unbonding_period"`
	Treasury        *Addr  `json:"treasury"`
}

// PriceChange is one SetModelPrice or RemoveModelPrice.
type PriceChange struct {
	Time       int64   `json:"time"`
	LT         uint64  `json:"lt"`
	Tx         string  `json:"tx"`
	ModelID    uint32  `json:"model_id"`
	Name       *string `json:"name"`
	Prompt     *Amount `json:"prompt_per_million" desc:"null when removed"`
	Completion *Amount `json:"completion_per_million" desc:"null when removed"`
	Removed    bool    `json:"removed"`
}

// AttestationEntry is an oracle vote or a confirmation.
type AttestationEntry struct {
	Time        int64   `json:"time"`
	LT          uint64  `json:"lt"`
	Tx          string  `json:"tx"`
	Type        string  `json:"type" desc:"vote, attested (a claim confirmed by a quorum) or attestation_extended"`
	Oracle      *Addr   `json:"oracle" desc:"the voting oracle's wallet (votes)"`
	Slot        *uint8  `json:"slot"`
	ClaimHash   string  `json:"claim_hash"`
	Measurement *string `json:"measurement"`
	ValidUntil  int64   `json:"valid_until"`
	Round       *uint32 `json:"round" desc:"the attestation round a confirmation opened or extended"`
}

// StakeEntry is a change of stake, status or jail.
type StakeEntry struct {
	Time      int64   `json:"time"`
	LT        uint64  `json:"lt"`
	Tx        string  `json:"tx"`
	Type      string  `json:"type" desc:"registered, stake_added, unstake_requested, withdrawn, exited, slashed, jailed, unjailed, paused, resumed"`
	Amount    *Amount `json:"amount" desc:"what moved (slashed: what was taken)"`
	Stake     *Amount `json:"stake" desc:"bonded stake after it"`
	Unbonding *Amount `json:"unbonding" desc:"unbonding stake after it"`
	Status    *string `json:"status" desc:"stored status after it"`
	UnlockAt  *int64  `json:"unlock_at"`
	Until     *int64  `json:"until" desc:"jail end (jailed)"`
}

// UsageEntry is one claim a channel reported to the provider.
type UsageEntry struct {
	Time             int64  `json:"time"`
	LT               uint64 `json:"lt"`
	Tx               string `json:"tx"`
	Channel          *Addr  `json:"channel"`
	PromptTokens     string `json:"prompt_tokens"`
	CompletionTokens string `json:"completion_tokens"`
	Amount           Amount `json:"amount" desc:"paid out of the channel"`
	Earned           Amount `json:"earned" desc:"to the owner"`
	Fee              Amount `json:"fee" desc:"to the treasury"`
}

// ChannelSummary is a channel in a list.
type ChannelSummary struct {
	Address   Addr   `json:"address"`
	Provider  *Addr  `json:"provider"`
	ClientKey string `json:"client_key"`
	Status    string `json:"status" desc:"uninit, open or closing"`
	Deposited Amount `json:"deposited" desc:"every deposit and top-up"`
	Paid      Amount `json:"paid" desc:"claimed out of it (provider + fee)"`
	Owed      Amount `json:"owed" desc:"accepted but not paid yet (deposit ran short)"`
	Claims    int    `json:"claims"`
	OpenedAt  *int64 `json:"opened_at"`
}

// TxSummary is a transaction in a list.
type TxSummary struct {
	Hash     string  `json:"hash"`
	LT       uint64  `json:"lt"`
	Time     int64   `json:"time"`
	Account  Addr    `json:"account"`
	Op       *string `json:"op" desc:"the inbound message's name (or opcode when unknown); null for an empty body"`
	From     *Addr   `json:"from"`
	Value    Amount  `json:"value"`
	Success  bool    `json:"success"`
	ExitCode int     `json:"exit_code"`
	ExitName *string `json:"exit_name" desc:"the contract's name for a non-zero exit code"`
}

// Provider is one provider's profile and history.
func (a *API) Provider(address string) (*ProviderDetail, error) {
	st, err := a.account(address, state.KindProvider)
	if err != nil {
		return nil, err
	}
	return cached(a, "p"+st.Address, true, func() (*ProviderDetail, error) { return a.provider(st) })
}

// providerHistory is what a provider's page reads from its history: it changes only with the
// store, so it is computed once per store generation.
type providerHistory struct {
	prices   []PriceChange
	attest   []AttestationEntry
	stake    []StakeEntry
	usage    []UsageEntry
	earned   map[uint32]*bucketSums // by day
	channels []ChannelSummary
	txs      []TxSummary
	timeline timeline
}

func (a *API) history(st *state.State) (*providerHistory, error) {
	return cached(a, "h"+st.Address, false, func() (*providerHistory, error) {
		var reg *state.Registry
		if r, err := a.cfg.Store.State(a.cfg.Registry.StringRaw()); err == nil {
			reg = r.Registry
		}
		w := world{reg: reg}
		h := &providerHistory{prices: []PriceChange{}, attest: []AttestationEntry{}, stake: []StakeEntry{}, usage: []UsageEntry{},
			earned: map[uint32]*bucketSums{}, channels: []ChannelSummary{}}
		var usage []state.Event
		err := a.cfg.Store.Events(st.Address, false, func(ev *state.Event) bool {
			h.timeline.add(ev)
			t, lt, tx := int64(ev.Time), ev.LT, ev.Tx
			switch ev.Type {
			case state.EvPrice, state.EvPriceRemoved:
				h.prices = append(h.prices, PriceChange{Time: t, LT: lt, Tx: tx, ModelID: *ev.ModelID, Name: w.modelName(*ev.ModelID),
					Prompt: amountPtr(ev.Prompt), Completion: amountPtr(ev.Completion), Removed: ev.Type == state.EvPriceRemoved})
			case state.EvVote, state.EvAttested, state.EvAttestationExtend:
				e := AttestationEntry{Time: t, LT: lt, Tx: tx, Type: ev.Type, Oracle: addr(ev.Oracle), Slot: ev.Slot, ClaimHash: ev.ClaimHash, ValidUntil: int64(ev.ValidUntil)}
				if ev.Measurement != "" {
					m := ev.Measurement
					e.Measurement = &m
				}
				if ev.Type != state.EvVote {
					r := ev.Round
					e.Round = &r
				}
				h.attest = appendBounded(h.attest, e)
			case state.EvUsage:
				day := ev.Time / 86400
				b := h.earned[day]
				if b == nil {
					b = newSums()
					h.earned[day] = b
				}
				b.add(1, ev.PromptTokens, ev.CompletionTokens, ev.Amount, ev.Fee, ev.Earned)
				if len(usage) == 2*maxHistory {
					usage = append(usage[:0], usage[maxHistory:]...)
				}
				usage = append(usage, *ev)
			case state.EvEndpoint:
			default:
				e := StakeEntry{Time: t, LT: lt, Tx: tx, Type: ev.Type, Amount: amountPtr(ev.Amount), Stake: amountPtr(ev.Stake),
					Unbonding: amountPtr(ev.Unbonding), UnlockAt: timePtr(ev.UnlockAt), Until: timePtr(ev.Until)}
				if ev.Status != nil {
					n := statusName(*ev.Status)
					e.Status = &n
				}
				h.stake = appendBounded(h.stake, e)
			}
			return true
		})
		if err != nil {
			return nil, err
		}
		for i := len(usage) - 1; i >= 0 && len(h.usage) < maxHistory; i-- {
			ev := usage[i]
			h.usage = append(h.usage, UsageEntry{Time: int64(ev.Time), LT: ev.LT, Tx: ev.Tx, Channel: addr(ev.Channel),
				PromptTokens: u64(ev.PromptTokens), CompletionTokens: u64(ev.CompletionTokens), Amount: amount(ev.Amount), Earned: amount(ev.Earned), Fee: amount(ev.Fee)})
		}
		chans, err := a.cfg.Store.ChannelsOf(st.Address)
		if err != nil {
			return nil, err
		}
		for _, c := range chans {
			cs, err := a.cfg.Store.State(c)
			if err != nil || cs.Channel == nil {
				continue
			}
			h.channels = append(h.channels, channelSummary(cs, a.openedAt(c)))
		}
		if h.txs, err = a.txSummaries(st.Address); err != nil {
			return nil, err
		}
		return h, nil
	})
}

func (a *API) provider(st *state.State) (*ProviderDetail, error) {
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	h, err := a.history(st)
	if err != nil {
		return nil, err
	}
	d := &ProviderDetail{ProviderView: s.w.provider(st, len(h.channels)), PriceHistory: h.prices, AttestationTimeline: h.attest,
		StakeHistory: h.stake, UsageHistory: h.usage, ChannelList: h.channels, Transactions: h.txs,
		Earnings: series(h.earned, s.now/86400, 30, 86400)}
	if d.UptimeHistory, d.UptimeEntries, err = a.uptimeDetail(st.Address, s.now); err != nil {
		return nil, err
	}
	if p := st.Provider.Params; p != nil {
		d.Params = &ProviderParamsView{MinStake: amount(p.MinStake), UnbondingPeriod: p.UnbondingPeriod, Treasury: addr(p.Treasury)}
	}
	return d, nil
}

func appendBounded[T any](list []T, v T) []T {
	if len(list) == maxHistory {
		list = append(list[:0], list[1:]...)
	}
	return append(list, v)
}

func (a *API) openedAt(channel string) uint32 {
	acct, err := a.cfg.Store.Account(channel)
	if err != nil {
		return 0
	}
	return acct.DiscoveredAt
}

func channelSummary(st *state.State, openedAt uint32) ChannelSummary {
	c := st.Channel
	return ChannelSummary{Address: *addr(st.Address), Provider: addr(c.Provider), ClientKey: c.ClientKey, Status: channelStatusName(c.Status),
		Deposited: amount(st.Totals.Deposited), Paid: amount(c.Paid), Owed: amount(c.Owed()), Claims: st.Totals.Claims, OpenedAt: timePtr(openedAt)}
}

func (a *API) txSummaries(account string) ([]TxSummary, error) {
	txs, err := a.cfg.Store.Txs(account, 0, maxTxs)
	if err != nil {
		return nil, err
	}
	out := make([]TxSummary, 0, len(txs))
	for _, tx := range txs {
		out = append(out, txSummary(tx))
	}
	return out, nil
}

func txSummary(tx *decode.Tx) TxSummary {
	s := TxSummary{Hash: tx.Hash, LT: tx.LT, Time: int64(tx.Now), Account: *addr(tx.Account), Value: amount(nil), Success: tx.Success,
		ExitCode: tx.ExitCode, ExitName: exitName(tx.ExitCode)}
	if in := tx.In; in != nil {
		s.Op = msgLabel(in)
		s.From = addr(in.Src)
		s.Value = decode.AmountFrom(in.Value)
	}
	return s
}

// msgLabel names a message: its name, "bounced <name>", or its opcode when unknown.
func msgLabel(m *decode.Msg) *string {
	var l string
	switch {
	case m.BounceOf != nil && m.BounceOf.Name != "":
		l = "bounced " + m.BounceOf.Name
	case m.BounceOf != nil:
		l = "bounced " + m.BounceOf.Op
	case m.Name != "":
		l = m.Name
	case m.Op != "":
		l = m.Op
	default:
		return nil
	}
	return &l
}

func exitName(code int) *string {
	if code == 0 || code == 1 {
		return nil
	}
	n := contracts.ExitCode(code).String()
	if !contracts.ExitCode(code).Known() {
		n = tvmExitName(code)
	}
	return &n
}

// tvmExitName names TVM's own exit codes.
func tvmExitName(code int) string {
	switch code {
	case 2:
		return "stack underflow"
	case 3:
		return "stack overflow"
	case 4:
		return "integer overflow"
	case 5:
		return "range check error"
	case 6:
		return "invalid opcode"
	case 7:
		return "type check error"
	case 8:
		return "cell overflow"
	case 9:
		return "cell underflow"
	case 10:
		return "dictionary error"
	case 13:
		return "out of gas"
	case -14:
		return "out of gas"
	}
	return "exit code " + big.NewInt(int64(code)).String()
}
