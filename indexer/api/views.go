package api

import (
	"math/big"
	"sort"
	"strconv"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
	"github.com/cocoon-go/cocoon/indexer/state"
)

// The API's conventions: money is an Amount (exact nanoTON as a decimal string and TON as a
// decimal string), addresses an Addr (raw and user-friendly), times unix seconds, 64-bit counters
// decimal strings; a field that has no value yet is null, never omitted.

// Addr is an address in raw ("0:<hex>") and user-friendly (bounceable base64url) form.
type Addr = decode.Addr

// Amount is an amount of nanoTON: "nano" exact, "ton" the same in TON.
type Amount = decode.Amount

func addr(raw string) *Addr { return decode.AddrFromRaw(raw) }

func amount(n *big.Int) Amount { return decode.AmountOf(n) }

func amountPtr(n *big.Int) *Amount {
	if n == nil {
		return nil
	}
	a := amount(n)
	return &a
}

func u64(v uint64) string { return strconv.FormatUint(v, 10) }

func timePtr(t uint32) *int64 {
	if t == 0 {
		return nil
	}
	v := int64(t)
	return &v
}

// statusName names a provider status.
func statusName(s uint8) string { return contracts.ProviderStatus(s).String() }

func channelStatusName(s uint8) string { return contracts.ChannelStatus(s).String() }

// ---------------------------------------------------------------- providers

// ProviderView is a provider as the list and the profile show it.
type ProviderView struct {
	Address Addr  `json:"address" desc:"the Provider contract"`
	Owner   *Addr `json:"owner" desc:"the owner's wallet: receives payouts, sends owner operations"`
	// Status is the stored status; EffectiveStatus is "jailed" while a jail lasts.
	Status          string          `json:"status" desc:"stored status: unregistered, active, paused, exiting, slashed"`
	EffectiveStatus string          `json:"effective_status" desc:"status as clients must read it: jailed while now < jailed_until"`
	JailedUntil     *int64          `json:"jailed_until" desc:"end of the current or last jail; null if never jailed"`
	Endpoint        *string         `json:"endpoint" desc:"the provider's URL; null until SetEndpoint"`
	Stake           Amount          `json:"stake" desc:"bonded stake"`
	Unbonding       Amount          `json:"unbonding" desc:"stake waiting for unlock_at"`
	UnlockAt        *int64          `json:"unlock_at" desc:"when the unbonding stake can be withdrawn; null when none"`
	Balance         *Amount         `json:"balance" desc:"contract balance at the last check against the chain; null before it"`
	Models          []ProviderModel `json:"models" desc:"models served with prices, by model id"`
	Attestation     AttestationView `json:"attestation"`
	Eligible        bool            `json:"eligible" desc:"may serve clients now (docs/PROTOCOL.md \"Who may serve\"): effective status active, stake >= the registry's minimum, attested, measurement still allowed"`
	Uptime          Uptime          `json:"uptime"`
	Usage           UsageView       `json:"usage"`
	RegisteredAt    *int64          `json:"registered_at" desc:"time of the first registration"`
	Channels        int             `json:"channels" desc:"payment channels opened with this provider"`
}

// ProviderModel is one model a provider serves.
type ProviderModel struct {
	ModelID uint32 `json:"model_id"`
	// Name is the registry catalog's name; null when the catalog no longer lists the id.
	Name       *string `json:"name" desc:"the registry catalog's name; null when the catalog does not list the id"`
	Prompt     Amount  `json:"prompt_per_million" desc:"price of 1M prompt tokens"`
	Completion Amount  `json:"completion_per_million" desc:"price of 1M completion tokens"`
}

// AttestationView is a provider's confirmed attestation and the oracles that vouch for it.
type AttestationView struct {
	Attested bool `json:"attested" desc:"is_attested: a quorum-confirmed claim and now < valid_until"`
	// Claim is nil when no claim was ever confirmed.
	Claim      *ClaimView   `json:"claim" desc:"the confirmed claim; null when none was ever confirmed"`
	ValidUntil *int64       `json:"valid_until"`
	AttestedAt *int64       `json:"attested_at" desc:"when the claim was confirmed or last extended"`
	Round      uint32       `json:"round"`
	Oracles    []OracleVote `json:"oracles" desc:"the live votes of current oracles for the confirmed claim, longest first"`
}

// ClaimView is an attestation claim.
type ClaimView struct {
	Measurement        string  `json:"measurement" desc:"TEE measurement hash (hex)"`
	MeasurementKind    *string `json:"measurement_kind" desc:"tdx, snp or sim from the registry's allow-list; null when no longer allowed"`
	MeasurementAllowed bool    `json:"measurement_allowed"`
	EvidenceDigest     string  `json:"evidence_digest"`
	TLSKeyHash         string  `json:"tls_key_hash"`
	ClaimHash          string  `json:"claim_hash"`
}

// OracleVote is one oracle's vote held by a provider.
type OracleVote struct {
	Oracle     *Addr  `json:"oracle" desc:"the oracle's wallet; null when the slot is no longer held"`
	Slot       uint8  `json:"slot"`
	ValidUntil int64  `json:"valid_until"`
	ClaimHash  string `json:"claim_hash"`
}

// UsageView is what a provider's channels reported (Provider contract's usage totals).
type UsageView struct {
	PromptTokens     string `json:"prompt_tokens"`
	CompletionTokens string `json:"completion_tokens"`
	Tokens           string `json:"tokens" desc:"prompt + completion"`
	Earned           Amount `json:"earned" desc:"paid to the owner, after the protocol fee"`
}

// ---------------------------------------------------------------- conversions

// world is what the views of one moment need: the registry and the chain's time.
type world struct {
	now uint32
	reg *state.Registry
	// uptime by provider (raw); a provider missing has no measurement.
	uptime map[string]Uptime
}

func (w world) modelName(id uint32) *string {
	if w.reg == nil {
		return nil
	}
	if m, ok := w.reg.Models[id]; ok {
		n := m.Name
		return &n
	}
	return nil
}

func (w world) provider(st *state.State, channels int) ProviderView {
	p := st.Provider
	v := ProviderView{
		Address: *addr(st.Address), Owner: addr(p.Owner), Status: statusName(p.Status),
		EffectiveStatus: statusName(p.EffectiveStatus(w.now)), JailedUntil: timePtr(p.JailedUntil),
		Stake: amount(p.Stake), Unbonding: amount(p.Unbonding), Balance: amountPtr(st.Balance),
		Models: []ProviderModel{}, Attestation: w.attestation(p), RegisteredAt: timePtr(st.Totals.RegisteredAt),
		Channels: channels, Usage: UsageView{PromptTokens: "0", CompletionTokens: "0", Tokens: "0", Earned: amount(nil)},
		Uptime: w.uptime[st.Address],
	}
	if p.Unbonding != nil && p.Unbonding.Sign() > 0 {
		v.UnlockAt = timePtr(p.UnlockAt)
	}
	if p.Profile != nil {
		if p.Profile.Endpoint != "" {
			e := p.Profile.Endpoint
			v.Endpoint = &e
		}
		ids := make([]uint32, 0, len(p.Profile.Prices))
		for id := range p.Profile.Prices {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		for _, id := range ids {
			pr := p.Profile.Prices[id]
			v.Models = append(v.Models, ProviderModel{ModelID: id, Name: w.modelName(id), Prompt: amount(pr.Prompt), Completion: amount(pr.Completion)})
		}
	}
	if u := p.Usage; u != nil {
		total := new(big.Int).Add(new(big.Int).SetUint64(u.PromptTokens), new(big.Int).SetUint64(u.CompletionTokens))
		v.Usage = UsageView{PromptTokens: u64(u.PromptTokens), CompletionTokens: u64(u.CompletionTokens), Tokens: total.String(), Earned: amount(u.Earned)}
	}
	v.Eligible = v.EffectiveStatus == "active" && v.Attestation.Attested && v.Attestation.Claim != nil &&
		v.Attestation.Claim.MeasurementAllowed && w.reg != nil && p.Stake.Cmp(w.reg.Params.MinProviderStake) >= 0
	return v
}

func (w world) attestation(p *state.Provider) AttestationView {
	v := AttestationView{Attested: p.Attested(w.now), Oracles: []OracleVote{}}
	a := p.Attestation
	if a == nil {
		return v
	}
	v.Round = a.Round
	c := a.Confirmed
	if c == nil {
		return v
	}
	ch := c.ClaimHash()
	v.Claim = &ClaimView{Measurement: c.Measurement, EvidenceDigest: c.EvidenceDigest, TLSKeyHash: c.TLSKeyHash, ClaimHash: ch}
	if w.reg != nil {
		if k, ok := w.reg.Measurements[c.Measurement]; ok {
			name := state.MeasurementKindName(k)
			v.Claim.MeasurementKind, v.Claim.MeasurementAllowed = &name, true
		}
	}
	v.ValidUntil, v.AttestedAt = timePtr(c.ValidUntil), timePtr(c.AttestedAt)
	epochOK := w.reg == nil || a.OracleEpoch == w.reg.OracleEpoch
	for slot, vote := range a.Votes {
		if vote.ClaimHash != ch || vote.ValidUntil <= w.now || !epochOK {
			continue
		}
		ov := OracleVote{Slot: slot, ValidUntil: int64(vote.ValidUntil), ClaimHash: vote.ClaimHash}
		if w.reg != nil {
			ov.Oracle = addr(w.reg.OracleBySlot(slot))
		}
		v.Oracles = append(v.Oracles, ov)
	}
	sort.Slice(v.Oracles, func(i, j int) bool {
		if v.Oracles[i].ValidUntil != v.Oracles[j].ValidUntil {
			return v.Oracles[i].ValidUntil > v.Oracles[j].ValidUntil
		}
		return v.Oracles[i].Slot < v.Oracles[j].Slot
	})
	return v
}

// TotalTokens is a provider's tokens served as a number, for sorting.
func (v *ProviderView) totalTokens() *big.Int {
	n, _ := new(big.Int).SetString(v.Usage.Tokens, 10)
	if n == nil {
		return new(big.Int)
	}
	return n
}
