package api

import (
	"sort"

	"github.com/cocoon-go/cocoon/indexer/state"
)

// ModelView is a catalog entry with the providers that serve it.
type ModelView struct {
	ID                uint32  `json:"id"`
	Name              string  `json:"name"`
	WeightsHash       string  `json:"weights_hash" desc:"sha256 of the GGUF file (hex)"`
	AddedAt           *int64  `json:"added_at"`
	Providers         int     `json:"providers" desc:"providers with a price for it"`
	EligibleProviders int     `json:"eligible_providers" desc:"of those, the ones that may serve now"`
	MinPrompt         *Amount `json:"min_prompt_per_million" desc:"lowest prompt price among eligible providers"`
	MinCompletion     *Amount `json:"min_completion_per_million" desc:"lowest completion price among eligible providers"`
}

// ModelList is the model catalog.
type ModelList struct {
	Models []ModelView `json:"models" desc:"by id"`
}

// Models lists the registry's model catalog.
func (a *API) Models() (*ModelList, error) {
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	out := &ModelList{Models: []ModelView{}}
	if s.w.reg == nil {
		return out, nil
	}
	ids := make([]uint32, 0, len(s.w.reg.Models))
	for id := range s.w.reg.Models {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	for _, id := range ids {
		m := s.w.reg.Models[id]
		v := ModelView{ID: id, Name: m.Name, WeightsHash: m.WeightsHash}
		if t, ok := s.registry.Totals.Models[id]; ok {
			v.AddedAt = timePtr(t)
		}
		for i := range s.views {
			pv := &s.views[i]
			for _, pm := range pv.Models {
				if pm.ModelID != id {
					continue
				}
				v.Providers++
				if !pv.Eligible {
					continue
				}
				v.EligibleProviders++
				if v.MinPrompt == nil || nanoOf(pm.Prompt).Cmp(nanoOf(*v.MinPrompt)) < 0 {
					p := pm.Prompt
					v.MinPrompt = &p
				}
				if v.MinCompletion == nil || nanoOf(pm.Completion).Cmp(nanoOf(*v.MinCompletion)) < 0 {
					c := pm.Completion
					v.MinCompletion = &c
				}
			}
		}
		out.Models = append(out.Models, v)
	}
	return out, nil
}

// OracleView is a member of the oracle set.
type OracleView struct {
	Wallet    Addr   `json:"wallet"`
	PublicKey string `json:"public_key"`
	Slot      uint8  `json:"slot" desc:"its place in a provider's votes (0..63)"`
	AddedAt   *int64 `json:"added_at"`
	Votes     int    `json:"votes" desc:"votes the registry forwarded for it"`
	LastVote  *int64 `json:"last_vote"`
	// Attesting counts the providers whose confirmed claim it currently vouches for.
	Attesting int `json:"attesting" desc:"providers whose confirmed attestation it currently vouches for"`
}

// OracleSet is the oracle set and the registry's attestation parameters.
type OracleSet struct {
	Quorum                 uint8             `json:"quorum"`
	Epoch                  uint32            `json:"epoch" desc:"grows at every RemoveOracle; votes of an older epoch are void"`
	MaxAttestationLifetime uint32            `json:"max_attestation_lifetime"`
	Oracles                []OracleView      `json:"oracles" desc:"current oracles, by slot"`
	Removed                []OracleView      `json:"removed" desc:"oracles removed from the set"`
	Measurements           []MeasurementView `json:"measurements" desc:"the TEE measurements the registry allows"`
	// Uptime roots arrive with the oracle daemon; empty until then.
	UptimeRoots []UptimeRoot `json:"uptime_roots" desc:"uptime commitments oracles posted: empty until the protocol has them"`
}

// MeasurementView is an allowed TEE measurement.
type MeasurementView struct {
	Hash string `json:"hash"`
	Kind string `json:"kind" desc:"tdx, snp or sim (devnet only)"`
}

// UptimeRoot is an oracle's uptime commitment for an epoch (reserved: no contract message carries
// one yet).
type UptimeRoot struct {
	Oracle Addr   `json:"oracle"`
	Epoch  uint32 `json:"epoch"`
	Root   string `json:"root"`
	Time   int64  `json:"time"`
}

// Oracles is the oracle set with what each oracle did.
func (a *API) Oracles() (*OracleSet, error) {
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	out := &OracleSet{Oracles: []OracleView{}, Removed: []OracleView{}, Measurements: []MeasurementView{}, UptimeRoots: []UptimeRoot{}}
	r := s.w.reg
	if r == nil {
		return out, nil
	}
	out.Quorum, out.Epoch, out.MaxAttestationLifetime = r.Params.OracleQuorum, r.OracleEpoch, r.Params.MaxAttestationLifetime
	attesting := map[string]int{}
	for i := range s.views {
		for _, o := range s.views[i].Attestation.Oracles {
			if o.Oracle != nil && s.views[i].Attestation.Attested {
				attesting[o.Oracle.Raw]++
			}
		}
	}
	totals := s.registry.Totals.Oracles
	view := func(wallet string, key string, slot uint8) OracleView {
		v := OracleView{Wallet: *addr(wallet), PublicKey: key, Slot: slot, Attesting: attesting[wallet]}
		if t := totals[wallet]; t != nil {
			v.AddedAt, v.Votes, v.LastVote = timePtr(t.AddedAt), t.Votes, timePtr(t.LastVote)
		}
		return v
	}
	for w, o := range r.Oracles {
		out.Oracles = append(out.Oracles, view(w, o.PublicKey, o.Slot))
	}
	sort.Slice(out.Oracles, func(i, j int) bool { return out.Oracles[i].Slot < out.Oracles[j].Slot })
	for w, t := range totals {
		if _, current := r.Oracles[w]; current || t.RemovedAt == 0 {
			continue
		}
		out.Removed = append(out.Removed, view(w, t.PublicKey, t.Slot))
	}
	sort.Slice(out.Removed, func(i, j int) bool { return out.Removed[i].Wallet.Raw < out.Removed[j].Wallet.Raw })
	for h, k := range r.Measurements {
		out.Measurements = append(out.Measurements, MeasurementView{Hash: h, Kind: state.MeasurementKindName(k)})
	}
	sort.Slice(out.Measurements, func(i, j int) bool { return out.Measurements[i].Hash < out.Measurements[j].Hash })
	return out, nil
}
