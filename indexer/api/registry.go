package api

import (
	"sort"

	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
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
	Attesting   int         `json:"attesting" desc:"providers whose confirmed attestation it currently vouches for"`
	Commitments int         `json:"commitments" desc:"uptime roots the registry accepted from it"`
	Tables      TableTotals `json:"tables" desc:"its uptime tables the indexer fetched, by outcome"`
}

// TableTotals count uptime tables by what checking them against their commitment found.
type TableTotals struct {
	Verified int `json:"verified" desc:"tables whose every entry verified against the on-chain root; their entries count in uptime"`
	Refused  int `json:"refused" desc:"commitments whose table, as last served, did not match the on-chain root (nothing of it is used)"`
}

// OracleSet is the oracle set and the registry's attestation parameters.
type OracleSet struct {
	Quorum                 uint8             `json:"quorum"`
	Epoch                  uint32            `json:"epoch" desc:"grows at every RemoveOracle; votes of an older epoch are void"`
	MaxAttestationLifetime uint32            `json:"max_attestation_lifetime"`
	Oracles                []OracleView      `json:"oracles" desc:"current oracles, by slot"`
	Removed                []OracleView      `json:"removed" desc:"oracles removed from the set"`
	Measurements           []MeasurementView `json:"measurements" desc:"the TEE measurements the registry allows"`
	UptimeRoots            []UptimeRoot      `json:"uptime_roots" desc:"each current oracle's latest uptime commitment (what get_uptime_root returns), by slot"`
}

// MeasurementView is an allowed TEE measurement.
type MeasurementView struct {
	Hash string `json:"hash"`
	Kind string `json:"kind" desc:"tdx, snp or sim (devnet only)"`
}

// UptimeRoot is an oracle's uptime commitment for an epoch (SubmitUptimeRoot) and what became of
// its table.
type UptimeRoot struct {
	Oracle        Addr      `json:"oracle"`
	Epoch         uint32    `json:"epoch" desc:"the oracle's epoch (its length is the oracle's)"`
	Root          string    `json:"root" desc:"Merkle root of the oracle's uptime table (hex)"`
	ProviderCount uint32    `json:"provider_count" desc:"entries in the table"`
	CommittedAt   int64     `json:"committed_at" desc:"time of the registry transaction that stored it"`
	Tx            *string   `json:"tx" desc:"that transaction; null only if the indexer holds the commitment from the storage alone"`
	Table         TableView `json:"table"`
}

// TableView is what the indexer made of the table behind a commitment.
type TableView struct {
	State    string  `json:"state" desc:"pending (not fetched yet: no --oracle-api serves the oracle, or not yet), verified, refused, missing (the oracle has none), unreachable, or expired (given up after 30 days)"`
	Error    *string `json:"error" desc:"why the last fetch failed"`
	Attempts int     `json:"attempts"`
	TriedAt  *int64  `json:"tried_at" desc:"the last fetch"`
	Start    *int64  `json:"start" desc:"verified: the epoch's first second as the oracle states it (checked: ended before the commitment)"`
	End      *int64  `json:"end" desc:"verified: the epoch's end (exclusive)"`
	Entries  int     `json:"entries" desc:"verified: providers in the table"`
}

// OracleDetail is one oracle, current or removed, with its uptime commitments.
type OracleDetail struct {
	OracleView
	Current       bool         `json:"current" desc:"in the oracle set now"`
	RemovedAt     *int64       `json:"removed_at" desc:"when RemoveOracle took it out; null while current"`
	LatestRoot    *UptimeRoot  `json:"latest_root" desc:"what get_uptime_root returns: its latest commitment; null before the first and once removed"`
	UptimeHistory []UptimeRoot `json:"uptime_history" desc:"its commitments, newest first (the last 200)"`
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
	for w, o := range r.Oracles {
		out.Oracles = append(out.Oracles, s.oracleView(w, o.PublicKey, o.Slot))
	}
	sort.Slice(out.Oracles, func(i, j int) bool { return out.Oracles[i].Slot < out.Oracles[j].Slot })
	for _, o := range out.Oracles {
		latest, err := a.latestRoot(o.Wallet.Raw, r.Oracles[o.Wallet.Raw].Uptime)
		if err != nil {
			return nil, err
		}
		if latest != nil {
			out.UptimeRoots = append(out.UptimeRoots, *latest)
		}
	}
	for w, t := range s.registry.Totals.Oracles {
		if _, current := r.Oracles[w]; current || t.RemovedAt == 0 {
			continue
		}
		out.Removed = append(out.Removed, s.oracleView(w, t.PublicKey, t.Slot))
	}
	sort.Slice(out.Removed, func(i, j int) bool { return out.Removed[i].Wallet.Raw < out.Removed[j].Wallet.Raw })
	for h, k := range r.Measurements {
		out.Measurements = append(out.Measurements, MeasurementView{Hash: h, Kind: state.MeasurementKindName(k)})
	}
	sort.Slice(out.Measurements, func(i, j int) bool { return out.Measurements[i].Hash < out.Measurements[j].Hash })
	return out, nil
}

// oracleView is what the snapshot knows of an oracle wallet.
func (s *snapshot) oracleView(wallet, key string, slot uint8) OracleView {
	v := OracleView{Wallet: *addr(wallet), PublicKey: key, Slot: slot}
	for i := range s.views {
		for _, o := range s.views[i].Attestation.Oracles {
			if o.Oracle != nil && o.Oracle.Raw == wallet && s.views[i].Attestation.Attested {
				v.Attesting++
			}
		}
	}
	if t := s.registry.Totals.Oracles[wallet]; t != nil {
		v.AddedAt, v.Votes, v.LastVote, v.Commitments = timePtr(t.AddedAt), t.Votes, timePtr(t.LastVote), t.Commitments
	}
	c := s.counters.Tables[wallet]
	v.Tables = TableTotals{Verified: c.Verified, Refused: c.Refused}
	return v
}

// Oracle is one oracle's page: current or removed, with its uptime commitments.
func (a *API) Oracle(address string) (*OracleDetail, error) {
	raw, err := parseAccount(address)
	if err != nil {
		return nil, err
	}
	return cached(a, "o"+raw, true, func() (*OracleDetail, error) {
		s, err := a.snap()
		if err != nil {
			return nil, err
		}
		var t *state.OracleTotals
		if s.registry != nil {
			t = s.registry.Totals.Oracles[raw]
		}
		if t == nil || s.w.reg == nil {
			return nil, notFound("%s was never one of the registry's oracles", address)
		}
		d := &OracleDetail{UptimeHistory: []UptimeRoot{}}
		if o, ok := s.w.reg.Oracles[raw]; ok {
			d.OracleView, d.Current = s.oracleView(raw, o.PublicKey, o.Slot), true
			if d.LatestRoot, err = a.latestRoot(raw, o.Uptime); err != nil {
				return nil, err
			}
		} else {
			d.OracleView, d.RemovedAt = s.oracleView(raw, t.PublicKey, t.Slot), timePtr(t.RemovedAt)
		}
		var ferr error
		err = a.cfg.Store.Commitments(raw, true, func(c store.Commitment) bool {
			var v UptimeRoot
			if v, ferr = a.uptimeRoot(c); ferr != nil {
				return false
			}
			d.UptimeHistory = append(d.UptimeHistory, v)
			return len(d.UptimeHistory) < maxHistory
		})
		if err == nil {
			err = ferr
		}
		return d, err
	})
}

// uptimeRoot renders a stored commitment with its table.
func (a *API) uptimeRoot(c store.Commitment) (UptimeRoot, error) {
	tx := c.Tx
	v := UptimeRoot{Oracle: *addr(c.Oracle), Epoch: c.Epoch, Root: c.Root, ProviderCount: c.ProviderCount, CommittedAt: int64(c.CommittedAt), Tx: &tx,
		Table: TableView{State: "pending"}}
	rec, err := a.cfg.Store.Table(c.Oracle, c.LT)
	if err != nil || rec == nil {
		return v, err
	}
	v.Table = TableView{State: rec.State, Attempts: rec.Attempts, TriedAt: timePtr(rec.TriedAt), Entries: rec.Entries}
	if rec.Error != "" {
		e := rec.Error
		v.Table.Error = &e
	}
	if rec.State == store.TableVerified {
		v.Table.Start, v.Table.End = timePtr(rec.Start), timePtr(rec.End)
	}
	return v, nil
}

// latestRoot is an oracle's commitment the registry holds (cur, nil: none) with its transaction:
// the oracle's newest stored commitment, which it is.
func (a *API) latestRoot(oracle string, cur *state.Commitment) (*UptimeRoot, error) {
	if cur == nil {
		return nil, nil
	}
	var newest *store.Commitment
	err := a.cfg.Store.Commitments(oracle, true, func(c store.Commitment) bool {
		newest = &c
		return false
	})
	if err != nil {
		return nil, err
	}
	if newest == nil || newest.Epoch != cur.Epoch || newest.Root != cur.Root {
		// Known from the storage only (a replay that missed it, counted as a mismatch).
		return &UptimeRoot{Oracle: *addr(oracle), Epoch: cur.Epoch, Root: cur.Root, ProviderCount: cur.ProviderCount,
			CommittedAt: int64(cur.CommittedAt), Table: TableView{State: "pending"}}, nil
	}
	v, err := a.uptimeRoot(*newest)
	return &v, err
}
