package api

import (
	"math/big"
	"sort"
	"strconv"
	"time"

	"github.com/cocoon-go/cocoon/indexer/state"
)

// bucketSums adds up claims.
type bucketSums struct {
	claims             int
	prompt, completion uint64
	paid, fees, earned *big.Int
}

func newSums() *bucketSums {
	return &bucketSums{paid: new(big.Int), fees: new(big.Int), earned: new(big.Int)}
}

func (b *bucketSums) add(claims int, prompt, completion uint64, paid, fee, earned *big.Int) {
	b.claims += claims
	b.prompt += prompt
	b.completion += completion
	for _, p := range []struct{ dst, v *big.Int }{{b.paid, paid}, {b.fees, fee}, {b.earned, earned}} {
		if p.v != nil {
			p.dst.Add(p.dst, p.v)
		}
	}
}

// Flow is what was claimed over a period.
type Flow struct {
	Claims           int    `json:"claims"`
	PromptTokens     string `json:"prompt_tokens"`
	CompletionTokens string `json:"completion_tokens"`
	Tokens           string `json:"tokens" desc:"tokens served: prompt + completion"`
	Paid             Amount `json:"paid" desc:"TON paid out of channels (provider + fee)"`
	Fees             Amount `json:"fees" desc:"protocol fees to the treasury"`
	Earned           Amount `json:"earned" desc:"paid to providers"`
}

func (b *bucketSums) flow() Flow {
	tokens := new(big.Int).Add(new(big.Int).SetUint64(b.prompt), new(big.Int).SetUint64(b.completion))
	return Flow{Claims: b.claims, PromptTokens: u64(b.prompt), CompletionTokens: u64(b.completion), Tokens: tokens.String(),
		Paid: amount(b.paid), Fees: amount(b.fees), Earned: amount(b.earned)}
}

// SeriesPoint is one interval of a series.
type SeriesPoint struct {
	Start int64 `json:"start" desc:"the interval's start (unix seconds)"`
	Flow
}

// series fills n intervals of width seconds ending with index last (interval index = time / width).
func series(m map[uint32]*bucketSums, last uint32, n int, width uint32) []SeriesPoint {
	out := make([]SeriesPoint, 0, n)
	for i := n - 1; i >= 0; i-- {
		idx := int64(last) - int64(i)
		if idx < 0 {
			continue
		}
		b := m[uint32(idx)]
		if b == nil {
			b = newSums()
		}
		out = append(out, SeriesPoint{Start: idx * int64(width), Flow: b.flow()})
	}
	return out
}

// SeriesView is a time series of claims.
type SeriesView struct {
	Interval string        `json:"interval" desc:"hour or day"`
	Points   []SeriesPoint `json:"points" desc:"oldest first, the last one is the current interval"`
}

// Series is claims per hour or per day: points intervals up to now.
func (a *API) Series(interval, points string) (*SeriesView, error) {
	width, n, limit := uint32(3600), 48, 24*90
	switch interval {
	case "", "hour":
		interval = "hour"
	case "day":
		width, n, limit = 86400, 30, 365
	default:
		return nil, badRequest("interval must be hour or day, got %q", interval)
	}
	if points != "" {
		p, err := strconv.Atoi(points)
		if err != nil || p < 1 || p > limit {
			return nil, badRequest("points must be a whole number from 1 to %d for %s, got %q", limit, interval, points)
		}
		n = p
	}
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	last := s.now / width
	first := max(int64(last)-int64(n)+1, 0)
	m, err := a.sums(uint32(first)*width/3600, s.now/3600, width)
	if err != nil {
		return nil, err
	}
	return &SeriesView{Interval: interval, Points: series(m, last, n, width)}, nil
}

// sums adds up the hourly buckets fromHour..toHour into intervals of width seconds.
func (a *API) sums(fromHour, toHour, width uint32) (map[uint32]*bucketSums, error) {
	bs, err := a.cfg.Store.Buckets(fromHour, toHour)
	if err != nil {
		return nil, err
	}
	m := map[uint32]*bucketSums{}
	for _, b := range bs {
		idx := b.Hour * 3600 / width
		s := m[idx]
		if s == nil {
			s = newSums()
			m[idx] = s
		}
		s.add(b.Claims, b.PromptTokens, b.CompletionTokens, b.Paid, b.Fees, b.Earned)
	}
	return m, nil
}

// StatsView is the network's numbers.
type StatsView struct {
	Now       int64         `json:"now" desc:"the time the numbers are computed at"`
	Providers ProviderStats `json:"providers"`
	Channels  ChannelStats  `json:"channels"`
	Stake     Amount        `json:"stake" desc:"bonded stake of all providers"`
	Last24h   Flow          `json:"last_24h" desc:"claims in the last 24 hours"`
	Prev24h   Flow          `json:"previous_24h" desc:"claims in the 24 hours before those"`
	Total     Flow          `json:"total" desc:"claims since the registry was deployed"`
}

// ProviderStats counts providers now and 24 hours ago.
type ProviderStats struct {
	Registered     int `json:"registered"`
	Active         int `json:"active" desc:"effective status active"`
	Attested       int `json:"attested" desc:"is_attested now"`
	Eligible       int `json:"eligible" desc:"may serve clients now (see the provider's eligible)"`
	ActiveDayAgo   int `json:"active_24h_ago"`
	AttestedDayAgo int `json:"attested_24h_ago"`
}

// ChannelStats counts channels.
type ChannelStats struct {
	Total   int `json:"total"`
	Open    int `json:"open"`
	Closing int `json:"closing"`
}

// Stats is the network's numbers: providers, channels, stake, and claims in the last 24 hours,
// the 24 hours before and in total.
func (a *API) Stats() (*StatsView, error) {
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if c := a.statsCache; c != nil && c.now == s.now && (c.gen == s.gen || time.Since(c.built) < statsMaxAge) {
		a.mu.Unlock()
		return c.v, nil
	}
	a.mu.Unlock()
	v := &StatsView{Now: int64(s.now)}
	stake := new(big.Int)
	dayAgo := s.now - 86400
	for i, st := range s.states {
		pv := &s.views[i]
		v.Providers.Registered++
		stake.Add(stake, st.Provider.Stake)
		if pv.EffectiveStatus == "active" {
			v.Providers.Active++
		}
		if pv.Attestation.Attested {
			v.Providers.Attested++
		}
		if pv.Eligible {
			v.Providers.Eligible++
		}
		active, attested, err := a.providerAt(st, dayAgo)
		if err != nil {
			return nil, err
		}
		if active {
			v.Providers.ActiveDayAgo++
		}
		if attested {
			v.Providers.AttestedDayAgo++
		}
	}
	v.Stake = amount(stake)
	chans, err := a.cfg.Store.States(state.KindChannel)
	if err != nil {
		return nil, err
	}
	for _, c := range chans {
		if c.Channel == nil {
			continue
		}
		v.Channels.Total++
		switch c.Channel.Status {
		case state.ChannelOpen:
			v.Channels.Open++
		case state.ChannelClosing:
			v.Channels.Closing++
		}
	}
	hour := s.now / 3600
	m, err := a.sums(0, hour, 3600)
	if err != nil {
		return nil, err
	}
	last, prev, total := newSums(), newSums(), newSums()
	for h, b := range m {
		total.add(b.claims, b.prompt, b.completion, b.paid, b.fees, b.earned)
		switch {
		case h+24 > hour:
			last.add(b.claims, b.prompt, b.completion, b.paid, b.fees, b.earned)
		case h+48 > hour:
			prev.add(b.claims, b.prompt, b.completion, b.paid, b.fees, b.earned)
		}
	}
	v.Last24h, v.Prev24h, v.Total = last.flow(), prev.flow(), total.flow()
	a.mu.Lock()
	a.statsCache = &statsCache{gen: s.gen, now: s.now, built: time.Now(), v: v}
	a.mu.Unlock()
	return v, nil
}

// statsMaxAge is how long stats computed before the latest ingest are still served.
const statsMaxAge = 2 * time.Second

type statsCache struct {
	gen   uint64
	now   uint32
	built time.Time
	v     *StatsView
}

// timeline is what a provider's history says about its status over time: the stored status
// after each event that carries one, the jails, and the confirmed attestations' validUntil.
type timeline struct {
	status []timedValue // stored status
	jail   []timedValue // jailed until (0: unjailed)
	valid  []timedValue // confirmed claim valid until
}

type timedValue struct{ t, v uint32 }

func (tl *timeline) add(ev *state.Event) {
	if ev.Status != nil {
		tl.status = append(tl.status, timedValue{ev.Time, uint32(*ev.Status)})
	}
	switch ev.Type {
	case state.EvJailed, state.EvUnjailed:
		tl.jail = append(tl.jail, timedValue{ev.Time, ev.Until})
	case state.EvAttested, state.EvAttestationExtend:
		tl.valid = append(tl.valid, timedValue{ev.Time, ev.ValidUntil})
	}
}

// at is the last value at or before t (ok false when none).
func at(list []timedValue, t uint32) (uint32, bool) {
	i := sort.Search(len(list), func(i int) bool { return list[i].t > t })
	if i == 0 {
		return 0, false
	}
	return list[i-1].v, true
}

// providerAt tells whether a provider was active and attested at t, from its history.
func (a *API) providerAt(st *state.State, t uint32) (active, attested bool, err error) {
	h, err := a.history(st)
	if err != nil {
		return false, false, err
	}
	status, ok := at(h.timeline.status, t)
	if !ok {
		return false, false, nil
	}
	jailed, _ := at(h.timeline.jail, t)
	valid, _ := at(h.timeline.valid, t)
	return uint8(status) == state.StatusActive && t >= jailed, t < valid, nil
}
