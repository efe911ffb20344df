package state

import (
	"encoding/hex"
	"math/big"
	"math/bits"
	"strings"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Registry mirrors contracts.RegistryStorage (addresses raw, hashes hex).
type Registry struct {
	Governance string `json:"governance"`
	// PendingGovernance is "" when no handover is in progress.
	PendingGovernance string         `json:"pending_governance"`
	NetworkKind       uint8          `json:"network_kind"`
	OracleSlots       uint64         `json:"oracle_slots"`
	OracleEpoch       uint32         `json:"oracle_epoch"`
	Params            RegistryParams `json:"params"`
	// Measurements: hash (hex) → kind.
	Measurements map[string]uint8 `json:"measurements"`
	// Oracles: wallet (raw) → key and slot.
	Oracles map[string]Oracle `json:"oracles"`
	// Models: id → catalog entry.
	Models           map[uint32]Model `json:"models"`
	ProviderCodeHash string           `json:"provider_code_hash"`
	// ChannelCodeHash is "" while channels are disabled.
	ChannelCodeHash string `json:"channel_code_hash"`
}

// RegistryParams mirrors contracts.RegistryParams.
type RegistryParams struct {
	MinProviderStake       *big.Int `json:"min_provider_stake"`
	UnbondingPeriod        uint32   `json:"unbonding_period"`
	ProtocolFeeBps         uint16   `json:"protocol_fee_bps"`
	Treasury               string   `json:"treasury"`
	ChallengePeriod        uint32   `json:"challenge_period"`
	OracleQuorum           uint8    `json:"oracle_quorum"`
	MaxAttestationLifetime uint32   `json:"max_attestation_lifetime"`
}

// Oracle is one member of the oracle set (contracts.OracleInfo).
type Oracle struct {
	PublicKey string `json:"public_key"`
	Slot      uint8  `json:"slot"`
	// Uptime is the oracle's latest uptime commitment; nil before its first SubmitUptimeRoot.
	Uptime *Commitment `json:"uptime"`
}

// Commitment mirrors contracts.UptimeCommitment (root hex).
type Commitment struct {
	Epoch         uint32 `json:"epoch"`
	Root          string `json:"root"`
	ProviderCount uint32 `json:"provider_count"`
	// CommittedAt is the unix time of the registry transaction that stored it.
	CommittedAt uint32 `json:"committed_at"`
}

func commitmentFrom(u *contracts.UptimeCommitment) *Commitment {
	if u == nil {
		return nil
	}
	return &Commitment{Epoch: u.Epoch, Root: hex.EncodeToString(u.Root), ProviderCount: u.ProviderCount, CommittedAt: u.CommittedAt}
}

// Model is one catalog entry.
type Model struct {
	WeightsHash string `json:"weights_hash"`
	Name        string `json:"name"`
}

// OracleBySlot finds the current oracle holding slot ("" when none).
func (r *Registry) OracleBySlot(slot uint8) string {
	for w, o := range r.Oracles {
		if o.Slot == slot {
			return w
		}
	}
	return ""
}

func rawAddr(a *address.Address) string {
	if a == nil || a.IsAddrNone() {
		return ""
	}
	return a.StringRaw()
}

func paramsFrom(p *contracts.RegistryParams) RegistryParams {
	return RegistryParams{
		MinProviderStake: p.MinProviderStake.Nano(), UnbondingPeriod: p.UnbondingPeriod, ProtocolFeeBps: p.ProtocolFeeBps,
		Treasury: rawAddr(p.Treasury), ChallengePeriod: p.ChallengePeriod, OracleQuorum: p.OracleQuorum,
		MaxAttestationLifetime: p.MaxAttestationLifetime,
	}
}

func registryFrom(st *contracts.RegistryStorage) (*Registry, error) {
	r := &Registry{
		Governance: rawAddr(st.Governance), PendingGovernance: rawAddr(st.PendingGovernance),
		NetworkKind: uint8(st.NetworkKind), OracleSlots: st.OracleSlots, OracleEpoch: st.OracleEpoch,
		Params:       paramsFrom(st.Params),
		Measurements: map[string]uint8{}, Oracles: map[string]Oracle{}, Models: map[uint32]Model{},
	}
	ms, err := st.MeasurementList()
	if err != nil {
		return nil, err
	}
	for _, m := range ms {
		r.Measurements[hex.EncodeToString(m.Hash)] = uint8(m.Kind)
	}
	os, err := st.OracleList()
	if err != nil {
		return nil, err
	}
	for _, o := range os {
		r.Oracles[o.Wallet.StringRaw()] = Oracle{PublicKey: hex.EncodeToString(o.PublicKey), Slot: o.Slot, Uptime: commitmentFrom(o.Uptime)}
	}
	if st.Catalog != nil {
		models, err := st.Catalog.ModelList()
		if err != nil {
			return nil, err
		}
		for _, m := range models {
			r.Models[m.ID] = Model{WeightsHash: hex.EncodeToString(m.WeightsHash), Name: m.Name}
		}
		if st.Catalog.ProviderCode != nil {
			r.ProviderCodeHash = hex.EncodeToString(st.Catalog.ProviderCode.Hash())
		}
		if st.Catalog.ChannelCode != nil {
			r.ChannelCodeHash = hex.EncodeToString(st.Catalog.ChannelCode.Hash())
		}
	}
	return r, nil
}

// applyRegistry applies a successful transaction of the registry (tolk/src/Registry.tolk).
func (s *State) applyRegistry(e *emitter, tx *decode.Tx) {
	r, in := s.Registry, tx.In
	if in.Bounced || in.Decoded == nil {
		return // a refund of a bounced forward, or a top-up: storage unchanged
	}
	emit := true
	switch m := in.Decoded.(type) {
	case contracts.SubmitOracleVote:
		emit = false
		if t := s.oracleTotals(in.Src); t != nil {
			t.Votes++
			t.LastVote = tx.Now
		}
	case contracts.SubmitUptimeRoot:
		// The registry accepted it, so the sender is an oracle and the epoch is above its last.
		emit = false
		c := commitmentFrom(&contracts.UptimeCommitment{Epoch: m.Epoch, Root: m.Root, ProviderCount: m.ProviderCount, CommittedAt: tx.Now})
		if o, ok := r.Oracles[in.Src]; ok {
			o.Uptime = c
			r.Oracles[in.Src] = o
		}
		s.oracleTotals(in.Src).Commitments++
		e.add(Event{Type: EvUptimeRoot, Oracle: in.Src, Epoch: c.Epoch, Root: c.Root, ProviderCount: u32(c.ProviderCount)})
	case contracts.RegisterProvider, contracts.OpenChannel:
		emit = false // forwarded: the provider's or channel's history records the effect
	case contracts.SlashProvider, contracts.JailProvider, contracts.UnjailProvider, contracts.WithdrawRegistrySurplus:
		// governance acts recorded here; the provider's history records the effect
	case contracts.ProposeGovernance:
		r.PendingGovernance = rawAddr(m.NewGovernance)
	case contracts.AcceptGovernance:
		r.Governance, r.PendingGovernance = in.Src, ""
	case contracts.UpdateParams:
		r.Params = paramsFrom(m.Params)
	case contracts.AddMeasurement:
		r.Measurements[hex.EncodeToString(m.MeasurementHash)] = uint8(m.Kind)
	case contracts.RevokeMeasurement:
		delete(r.Measurements, hex.EncodeToString(m.MeasurementHash))
	case contracts.AddModel:
		name, _ := contracts.CellText(m.Name)
		r.Models[m.ModelID] = Model{WeightsHash: hex.EncodeToString(m.WeightsHash), Name: name}
		if s.Totals.Models == nil {
			s.Totals.Models = map[uint32]uint32{}
		}
		if _, seen := s.Totals.Models[m.ModelID]; !seen {
			s.Totals.Models[m.ModelID] = tx.Now
		}
	case contracts.UpdateModel:
		name, _ := contracts.CellText(m.Name)
		r.Models[m.ModelID] = Model{WeightsHash: hex.EncodeToString(m.WeightsHash), Name: name}
	case contracts.RemoveModel:
		delete(r.Models, m.ModelID)
	case contracts.AddOracle:
		slot := uint8(bits.TrailingZeros64(^r.OracleSlots))
		w := rawAddr(m.Wallet)
		r.Oracles[w] = Oracle{PublicKey: hex.EncodeToString(m.PublicKey), Slot: slot}
		r.OracleSlots |= 1 << slot
		if s.Totals.Oracles == nil {
			s.Totals.Oracles = map[string]*OracleTotals{}
		}
		s.Totals.Oracles[w] = &OracleTotals{AddedAt: tx.Now, PublicKey: hex.EncodeToString(m.PublicKey), Slot: slot}
	case contracts.RemoveOracle:
		w := rawAddr(m.Wallet)
		if o, ok := r.Oracles[w]; ok {
			r.OracleSlots &^= 1 << o.Slot
			delete(r.Oracles, w)
		}
		r.OracleEpoch++
		if t := s.oracleTotals(w); t != nil {
			t.RemovedAt = tx.Now
		}
	case contracts.SetChannelCode:
		r.ChannelCodeHash = hex.EncodeToString(m.ChannelCode.Hash())
	default:
		emit = false
	}
	if emit {
		e.add(Event{Type: EvRegistry, Op: in.Name, Fields: decode.Fields(in.Decoded), Counterparty: in.Src})
	}
}

func (s *State) oracleTotals(wallet string) *OracleTotals {
	if s.Totals.Oracles == nil {
		s.Totals.Oracles = map[string]*OracleTotals{}
	}
	t, ok := s.Totals.Oracles[wallet]
	if !ok {
		t = &OracleTotals{}
		s.Totals.Oracles[wallet] = t
	}
	return t
}

// MeasurementKindName names a measurement kind.
func MeasurementKindName(k uint8) string {
	return strings.ToLower(contracts.MeasurementKind(k).String())
}
