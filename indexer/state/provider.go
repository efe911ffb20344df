package state

import (
	"encoding/hex"
	"math"
	"math/big"
	"sort"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Provider mirrors contracts.ProviderStorage.
type Provider struct {
	Owner       string   `json:"owner"`
	Registry    string   `json:"registry"`
	Status      uint8    `json:"status"`
	Stake       *big.Int `json:"stake"`
	Unbonding   *big.Int `json:"unbonding"`
	UnlockAt    uint32   `json:"unlock_at"`
	JailedUntil uint32   `json:"jailed_until"`
	// Params is nil until the registry's first message.
	Params *ProviderParams `json:"params"`
	// Profile is nil until the owner sets an endpoint or a price.
	Profile     *Profile     `json:"profile"`
	Attestation *Attestation `json:"attestation"`
	Usage       *Usage       `json:"usage"`
}

// ProviderParams mirrors contracts.ProviderParams.
type ProviderParams struct {
	MinStake        *big.Int `json:"min_stake"`
	UnbondingPeriod uint32   `json:"unbonding_period"`
	Treasury        string   `json:"treasury"`
}

// Profile mirrors contracts.ProviderProfile.
type Profile struct {
	// Endpoint is "" until SetEndpoint.
	Endpoint string           `json:"endpoint"`
	Prices   map[uint32]Price `json:"prices"`
}

// Price is a model's price in nanoTON per 1M tokens.
type Price struct {
	Prompt     *big.Int `json:"prompt"`
	Completion *big.Int `json:"completion"`
}

// Attestation mirrors contracts.AttestationState.
type Attestation struct {
	Confirmed   *Record `json:"confirmed"`
	Round       uint32  `json:"round"`
	OracleEpoch uint32  `json:"oracle_epoch"`
	// Votes: oracle slot → that oracle's latest vote.
	Votes map[uint8]Vote `json:"votes"`
}

// Record mirrors contracts.AttestationRecord.
type Record struct {
	Measurement    string `json:"measurement"`
	EvidenceDigest string `json:"evidence_digest"`
	TLSKeyHash     string `json:"tls_key_hash"`
	ValidUntil     uint32 `json:"valid_until"`
	AttestedAt     uint32 `json:"attested_at"`
}

// ClaimHash is contracts.ClaimHash of the record's claim (hex).
func (r *Record) ClaimHash() string { return claimHash(r.Measurement, r.EvidenceDigest, r.TLSKeyHash) }

// Vote is one oracle's latest vote.
type Vote struct {
	ValidUntil uint32 `json:"valid_until"`
	ClaimHash  string `json:"claim_hash"`
	Round      uint32 `json:"round"`
}

// Usage mirrors contracts.UsageTotals.
type Usage struct {
	PromptTokens     uint64   `json:"prompt_tokens"`
	CompletionTokens uint64   `json:"completion_tokens"`
	Earned           *big.Int `json:"earned"`
}

// Status values (contracts.ProviderStatus).
const (
	StatusUnregistered = uint8(contracts.ProviderUnregistered)
	StatusActive       = uint8(contracts.ProviderActive)
	StatusPaused       = uint8(contracts.ProviderPaused)
	StatusExiting      = uint8(contracts.ProviderExiting)
	StatusJailed       = uint8(contracts.ProviderJailed)
	StatusSlashed      = uint8(contracts.ProviderSlashed)
)

// EffectiveStatus is get_provider_data's effectiveStatus at now: jailed while now < JailedUntil.
func (p *Provider) EffectiveStatus(now uint32) uint8 {
	if p.Status != StatusUnregistered && now < p.JailedUntil {
		return StatusJailed
	}
	return p.Status
}

// Attested is is_attested at now.
func (p *Provider) Attested(now uint32) bool {
	return p.Attestation != nil && p.Attestation.Confirmed != nil && now < p.Attestation.Confirmed.ValidUntil
}

func claimHash(measurement, digest, tlsKey string) string {
	m, _ := hex.DecodeString(measurement)
	d, _ := hex.DecodeString(digest)
	k, _ := hex.DecodeString(tlsKey)
	h, err := contracts.ClaimHash(m, d, k)
	if err != nil {
		return ""
	}
	return hex.EncodeToString(h)
}

func providerParamsFrom(p *contracts.ProviderParams) *ProviderParams {
	if p == nil {
		return nil
	}
	return &ProviderParams{MinStake: p.MinStake.Nano(), UnbondingPeriod: p.UnbondingPeriod, Treasury: rawAddr(p.Treasury)}
}

func providerFrom(st *contracts.ProviderStorage) (*Provider, error) {
	p := &Provider{
		Owner: rawAddr(st.Owner), Registry: rawAddr(st.Registry), Status: uint8(st.Status),
		Stake: st.Stake.Nano(), Unbonding: st.UnbondingAmount.Nano(), UnlockAt: st.UnlockAt, JailedUntil: st.JailedUntil,
		Params: providerParamsFrom(st.Params),
	}
	if st.Profile != nil {
		p.Profile = &Profile{Prices: map[uint32]Price{}}
		if st.Profile.Endpoint != nil && st.Profile.Endpoint.BitsSize() > 0 {
			p.Profile.Endpoint, _ = contracts.CellText(st.Profile.Endpoint)
		}
		prices, err := st.Profile.PriceList()
		if err != nil {
			return nil, err
		}
		for _, pr := range prices {
			p.Profile.Prices[pr.ModelID] = Price{Prompt: pr.PromptPricePerMillion.Nano(), Completion: pr.CompletionPricePerMillion.Nano()}
		}
	}
	if a := st.Attestation; a != nil {
		p.Attestation = &Attestation{Round: a.Round, OracleEpoch: a.OracleEpoch, Votes: map[uint8]Vote{}}
		if c := a.Confirmed; c != nil {
			p.Attestation.Confirmed = &Record{Measurement: hex.EncodeToString(c.MeasurementHash), EvidenceDigest: hex.EncodeToString(c.EvidenceDigest),
				TLSKeyHash: hex.EncodeToString(c.TLSKeyHash), ValidUntil: c.ValidUntil, AttestedAt: c.AttestedAt}
		}
		votes, err := contracts.VoteList(a.Votes)
		if err != nil {
			return nil, err
		}
		for _, v := range votes {
			p.Attestation.Votes[v.Slot] = Vote{ValidUntil: v.ValidUntil, ClaimHash: hex.EncodeToString(v.ClaimHash), Round: v.Round}
		}
	}
	if u := st.Usage; u != nil {
		p.Usage = &Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, Earned: u.Earned.Nano()}
	}
	return p, nil
}

// applyProvider applies a successful transaction of a provider (tolk/src/Provider.tolk).
func (s *State) applyProvider(e *emitter, tx *decode.Tx) {
	p, in, now := s.Provider, tx.In, tx.Now
	if in.Bounced || in.Decoded == nil {
		return // nothing a provider sends can bounce back; a top-up is surplus
	}
	stakeEvent := func(typ string, amount *big.Int) {
		e.add(Event{Type: typ, Amount: amount, Stake: new(big.Int).Set(p.Stake), Unbonding: new(big.Int).Set(p.Unbonding),
			Status: u8(p.Status), UnlockAt: p.UnlockAt})
	}
	switch m := in.Decoded.(type) {
	case contracts.ProviderRegistration:
		p.Params = providerParamsFrom(m.Params)
		p.Stake = add(p.Stake, m.StakeAmount.Nano())
		typ := EvStakeAdded
		if p.Status == StatusUnregistered {
			p.Status, typ = StatusActive, EvRegistered
			if s.Totals.RegisteredAt == 0 {
				s.Totals.RegisteredAt = now
			}
		} else {
			p.reactivateIfBonded(p.Params.MinStake, now)
		}
		stakeEvent(typ, m.StakeAmount.Nano())
	case contracts.ForwardedOracleVote:
		p.Params = providerParamsFrom(m.Params)
		s.applyVote(e, m, now)
	case contracts.ForwardedSlash:
		p.Params = providerParamsFrom(m.Params)
		amount := m.Amount.Nano()
		fromStake := minBig(amount, p.Stake)
		fromUnbonding := minBig(sub(amount, fromStake), p.Unbonding)
		p.Stake = sub(p.Stake, fromStake)
		p.Unbonding = sub(p.Unbonding, fromUnbonding)
		if (p.Status == StatusActive || p.Status == StatusPaused) && p.Stake.Cmp(p.Params.MinStake) < 0 {
			p.Status = StatusSlashed
		}
		stakeEvent(EvSlashed, add(fromStake, fromUnbonding))
		ev := &e.out[len(e.out)-1]
		ev.Requested, ev.EvidenceDigest = amount, hex.EncodeToString(m.EvidenceDigest)
	case contracts.ForwardedJail:
		p.Params = providerParamsFrom(m.Params)
		p.JailedUntil = m.Until
		if m.Until == 0 {
			e.add(Event{Type: EvUnjailed, Status: u8(p.Status)})
		} else {
			e.add(Event{Type: EvJailed, Until: m.Until, Status: u8(p.Status)})
		}
	case contracts.SetEndpoint:
		p.profile().Endpoint, _ = contracts.CellText(m.Endpoint)
		e.add(Event{Type: EvEndpoint, Endpoint: p.Profile.Endpoint})
	case contracts.SetModelPrice:
		price := Price{Prompt: m.PromptPricePerMillion.Nano(), Completion: m.CompletionPricePerMillion.Nano()}
		p.profile().Prices[m.ModelID] = price
		e.add(Event{Type: EvPrice, ModelID: u32(m.ModelID), Prompt: price.Prompt, Completion: price.Completion})
	case contracts.RemoveModelPrice:
		delete(p.profile().Prices, m.ModelID)
		e.add(Event{Type: EvPriceRemoved, ModelID: u32(m.ModelID)})
	case contracts.AddStake:
		p.Stake = add(p.Stake, m.Amount.Nano())
		if p.Params != nil {
			p.reactivateIfBonded(p.Params.MinStake, now)
		}
		stakeEvent(EvStakeAdded, m.Amount.Nano())
	case contracts.RequestUnstake:
		amount := m.Amount.Nano()
		p.Stake = sub(p.Stake, amount)
		p.Unbonding = add(p.Unbonding, amount)
		p.UnlockAt = now + p.Params.UnbondingPeriod
		stakeEvent(EvUnstakeRequested, amount)
	case contracts.WithdrawUnbonded:
		amount := p.Unbonding
		p.Unbonding, p.UnlockAt = zero(), 0
		stakeEvent(EvWithdrawn, amount)
	case contracts.PauseProvider:
		p.Status = StatusPaused
		e.add(Event{Type: EvPaused, Status: u8(p.Status)})
	case contracts.ResumeProvider:
		p.Status = StatusActive
		e.add(Event{Type: EvResumed, Status: u8(p.Status)})
	case contracts.ExitProvider:
		amount := p.Stake
		p.Unbonding = add(p.Unbonding, p.Stake)
		p.Stake = zero()
		p.UnlockAt = now + p.Params.UnbondingPeriod
		p.Status = StatusExiting
		stakeEvent(EvExited, amount)
	case contracts.ChannelUsage:
		c, err := m.Claimed()
		if err != nil {
			return
		}
		if p.Usage == nil {
			p.Usage = &Usage{Earned: zero()}
		}
		p.Usage.PromptTokens = satAdd(p.Usage.PromptTokens, c.PromptTokens)
		p.Usage.CompletionTokens = satAdd(p.Usage.CompletionTokens, c.CompletionTokens)
		p.Usage.Earned = add(p.Usage.Earned, c.Earned)
		e.add(Event{Type: EvUsage, Channel: in.Src, PromptTokens: c.PromptTokens, CompletionTokens: c.CompletionTokens,
			Amount: c.Amount, Earned: c.Earned, Fee: c.Fee, Counterparty: rawAddr(m.ExcessTo)})
	}
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

func (p *Provider) profile() *Profile {
	if p.Profile == nil {
		p.Profile = &Profile{Prices: map[uint32]Price{}}
	}
	return p.Profile
}

// reactivateIfBonded: exiting or slashed providers become active again once their stake reaches the
// minimum, but not while jailed.
func (p *Provider) reactivateIfBonded(minStake *big.Int, now uint32) {
	if (p.Status == StatusExiting || p.Status == StatusSlashed) && p.Stake.Cmp(minStake) >= 0 && now >= p.JailedUntil {
		p.Status = StatusActive
	}
}

// applyVote is the contract's applyVote (docs/PROTOCOL.md "Attestation votes"): the vote replaces its
// oracle's previous one, and a quorum of live votes for one claim (cast since the last switch, unless
// it is the confirmed claim) confirms it with the quorum-th largest validUntil.
func (s *State) applyVote(e *emitter, m contracts.ForwardedOracleVote, now uint32) {
	p := s.Provider
	if p.Attestation == nil {
		p.Attestation = &Attestation{OracleEpoch: m.OracleEpoch, Votes: map[uint8]Vote{}}
	}
	a := p.Attestation
	if a.OracleEpoch != m.OracleEpoch {
		a.Votes = map[uint8]Vote{}
		a.OracleEpoch = m.OracleEpoch
	}
	c := m.Claim
	measurement, digest, tlsKey := hex.EncodeToString(c.MeasurementHash), hex.EncodeToString(c.EvidenceDigest), hex.EncodeToString(c.TLSKeyHash)
	ch := claimHash(measurement, digest, tlsKey)
	a.Votes[m.OracleSlot] = Vote{ValidUntil: c.ValidUntil, ClaimHash: ch, Round: a.Round}
	e.add(Event{Type: EvVote, Oracle: rawAddr(m.OracleWallet), Slot: u8(m.OracleSlot), Epoch: m.OracleEpoch, Quorum: m.Quorum,
		ClaimHash: ch, Measurement: measurement, EvidenceDigest: digest, TLSKeyHash: tlsKey, ValidUntil: c.ValidUntil})

	extends := a.Confirmed != nil && a.Confirmed.ClaimHash() == ch
	var keys []uint64
	for slot, v := range a.Votes {
		counts := slot == m.OracleSlot
		if !counts && v.ValidUntil > now {
			counts = v.ClaimHash == ch && (extends || v.Round == a.Round)
		}
		if counts {
			keys = append(keys, uint64(v.ValidUntil)<<8|uint64(slot))
		}
	}
	if m.Quorum == 0 || len(keys) < int(m.Quorum) {
		return
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] > keys[j] })
	quorumValidUntil := uint32(keys[m.Quorum-1] >> 8)
	switch {
	case !extends:
		a.Round++
		a.Confirmed = &Record{Measurement: measurement, EvidenceDigest: digest, TLSKeyHash: tlsKey, ValidUntil: quorumValidUntil, AttestedAt: now}
		e.add(Event{Type: EvAttested, ClaimHash: ch, Measurement: measurement, EvidenceDigest: digest, TLSKeyHash: tlsKey,
			ValidUntil: quorumValidUntil, Round: a.Round})
	case quorumValidUntil > a.Confirmed.ValidUntil:
		a.Confirmed.ValidUntil, a.Confirmed.AttestedAt = quorumValidUntil, now
		e.add(Event{Type: EvAttestationExtend, ClaimHash: ch, ValidUntil: quorumValidUntil, Round: a.Round})
	}
}
