package route

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/payment"
)

// Sorts a request may ask for.
const (
	SortPrice      = "price"
	SortLatency    = "latency"
	SortThroughput = "throughput"
)

// Preferences is OpenRouter's provider routing object. Providers are named by their Provider
// contract address, their owner's address (raw or user-friendly) or their endpoint URL.
type Preferences struct {
	// Order is tried first, in this order.
	Order []string `json:"order,omitempty"`
	// Only restricts the request to these providers.
	Only []string `json:"only,omitempty"`
	// Ignore excludes these providers.
	Ignore []string `json:"ignore,omitempty"`
	// Sort orders the rest: "price", "latency" or "throughput" (default: Score).
	Sort string `json:"sort,omitempty"`
	// MaxPrice excludes providers above these prices.
	MaxPrice *MaxPrice `json:"max_price,omitempty"`
	// AllowFallbacks false tries only the first provider (or only those in Order); default true.
	AllowFallbacks *bool `json:"allow_fallbacks,omitempty"`
}

// MaxPrice is in TON per 1M tokens, as decimal numbers.
type MaxPrice struct {
	Prompt     *json.Number `json:"prompt,omitempty"`
	Completion *json.Number `json:"completion,omitempty"`
}

// Check reports a routing object that cannot be honoured.
func (p *Preferences) Check() error {
	switch p.Sort {
	case "", SortPrice, SortLatency, SortThroughput:
	default:
		return &ParamError{Param: routingField + ".sort", Message: fmt.Sprintf("Invalid 'provider.sort': %q (want price, latency or throughput).", p.Sort)}
	}
	if p.MaxPrice != nil {
		for name, v := range map[string]*json.Number{"prompt": p.MaxPrice.Prompt, "completion": p.MaxPrice.Completion} {
			if v == nil {
				continue
			}
			if _, err := wallet.ParseTON(v.String()); err != nil {
				return &ParamError{Param: routingField + ".max_price." + name, Message: fmt.Sprintf("Invalid 'provider.max_price.%s': %v.", name, err)}
			}
		}
	}
	return nil
}

// Fallbacks reports whether providers after the first (or after Order) may be tried.
func (p *Preferences) Fallbacks() bool {
	return p == nil || p.AllowFallbacks == nil || *p.AllowFallbacks
}

// maxNano is a MaxPrice field in nanoTON (nil: no bound).
func maxNano(v *json.Number) *big.Int {
	if v == nil {
		return nil
	}
	n, err := wallet.ParseTON(v.String())
	if err != nil {
		return nil
	}
	return n
}

// Candidate is a verified provider that serves the requested model.
type Candidate struct {
	// ID is the Provider contract's address (user-friendly); Names are every name it matches.
	ID     string
	Names  []string
	Prices payment.Prices
	Stats  Stats
	// Refuses are the request fields this provider's backend refused before (unsupported).
	Refuses map[string]bool
}

func (c *Candidate) named(names []string) bool {
	for _, n := range names {
		if slices.Contains(c.Names, n) {
			return true
		}
	}
	return false
}

// price is the sum of a candidate's prompt and completion price (nanoTON per 1M tokens).
func (c *Candidate) price() *big.Int { return new(big.Int).Add(c.Prices.Prompt, c.Prices.Completion) }

// Plan orders the candidates for a request: those the preferences exclude are left out with the
// reason, Order comes first, then the sort (default: Score), and last the providers whose backend
// refused one of the request's fields before (tried only when no other serves it, so the app
// still gets a provider's own refusal).
func Plan(cands []Candidate, prefs *Preferences, features []string) (ordered []Candidate, excluded map[string]string) {
	excluded = map[string]string{}
	var p Preferences
	if prefs != nil {
		p = *prefs
	}
	maxPrompt, maxCompletion := (*big.Int)(nil), (*big.Int)(nil)
	if p.MaxPrice != nil {
		maxPrompt, maxCompletion = maxNano(p.MaxPrice.Prompt), maxNano(p.MaxPrice.Completion)
	}
	var keep, refusing []Candidate
	for _, c := range cands {
		switch {
		case len(p.Only) > 0 && !c.named(p.Only):
			excluded[c.ID] = "not in the request's provider.only"
		case c.named(p.Ignore):
			excluded[c.ID] = "in the request's provider.ignore"
		case maxPrompt != nil && c.Prices.Prompt.Cmp(maxPrompt) > 0:
			excluded[c.ID] = fmt.Sprintf("prompt price %s TON per 1M tokens is above provider.max_price.prompt", payment.FormatTON(c.Prices.Prompt))
		case maxCompletion != nil && c.Prices.Completion.Cmp(maxCompletion) > 0:
			excluded[c.ID] = fmt.Sprintf("completion price %s TON per 1M tokens is above provider.max_price.completion", payment.FormatTON(c.Prices.Completion))
		case refused(c, features) != "":
			refusing = append(refusing, c)
		default:
			keep = append(keep, c)
		}
	}
	sortCandidates(keep, p.Sort)
	sortCandidates(refusing, p.Sort)
	var first []Candidate
	for _, name := range p.Order {
		for i := 0; i < len(keep); i++ {
			if keep[i].named([]string{name}) {
				first = append(first, keep[i])
				keep = append(keep[:i], keep[i+1:]...)
				break
			}
		}
	}
	ordered = append(append(first, keep...), refusing...)
	if !p.Fallbacks() {
		switch {
		case len(p.Order) > 0:
			for _, c := range ordered[len(first):] {
				excluded[c.ID] = "not in provider.order, and provider.allow_fallbacks is false"
			}
			ordered = first
		case len(ordered) > 1:
			for _, c := range ordered[1:] {
				excluded[c.ID] = "a fallback, and provider.allow_fallbacks is false"
			}
			ordered = ordered[:1]
		}
	}
	return ordered, excluded
}

func refused(c Candidate, features []string) string {
	for _, f := range features {
		if c.Refuses[f] {
			return f
		}
	}
	return ""
}

// sortCandidates orders by the requested sort, or by Score; ties by ID.
func sortCandidates(cs []Candidate, by string) {
	scores := Scores(cs)
	sort.SliceStable(cs, func(i, j int) bool {
		a, b := &cs[i], &cs[j]
		switch by {
		case SortPrice:
			if c := a.price().Cmp(b.price()); c != 0 {
				return c < 0
			}
		case SortLatency:
			if a.Stats.TTFT != b.Stats.TTFT {
				return less(a.Stats.TTFT, b.Stats.TTFT)
			}
		case SortThroughput:
			if a.Stats.TokensPerSecond != b.Stats.TokensPerSecond {
				return a.Stats.TokensPerSecond > b.Stats.TokensPerSecond
			}
		}
		if scores[a.ID] != scores[b.ID] {
			return scores[a.ID] < scores[b.ID]
		}
		return a.ID < b.ID
	})
}

// less orders durations with 0 (unmeasured) last.
func less(a, b time.Duration) bool {
	switch {
	case a == 0:
		return false
	case b == 0:
		return true
	}
	return a < b
}

// Scores are the default ranking, lower first: price relative to the cheapest candidate, times
// (1 + time to first token in seconds), divided by uptime (at least 0.05). A candidate not
// measured yet counts with the median latency of those measured, and the oracles' uptime (1
// without oracle data).
func Scores(cs []Candidate) map[string]float64 {
	out := make(map[string]float64, len(cs))
	if len(cs) == 0 {
		return out
	}
	cheapest := cs[0].price()
	var ttfts []time.Duration
	for i := range cs {
		if p := cs[i].price(); p.Cmp(cheapest) < 0 {
			cheapest = p
		}
		if t := cs[i].Stats.TTFT; t > 0 {
			ttfts = append(ttfts, t)
		}
	}
	var median time.Duration
	if len(ttfts) > 0 {
		slices.Sort(ttfts)
		median = ttfts[len(ttfts)/2]
	}
	base, _ := new(big.Float).SetInt(new(big.Int).Add(cheapest, big.NewInt(1))).Float64()
	for i := range cs {
		c := &cs[i]
		p, _ := new(big.Float).SetInt(new(big.Int).Add(c.price(), big.NewInt(1))).Float64()
		ttft := c.Stats.TTFT
		if ttft == 0 {
			ttft = median
		}
		up := c.Stats.Uptime
		if c.Stats.Requests == 0 {
			up = 1
			if c.Stats.OracleProbes > 0 {
				up = c.Stats.OracleUptime
			}
		}
		out[c.ID] = p / base * (1 + ttft.Seconds()) / math.Max(up, 0.05)
	}
	return out
}

// Stats are what the client measured of a provider.
type Stats struct {
	// TTFT and Total are moving averages of the time to the first content and to the end of an
	// answer (0: not measured).
	TTFT, Total time.Duration
	// TokensPerSecond is a moving average of completion tokens over generation time.
	TokensPerSecond float64
	// Uptime is a moving average of answered (1) and failed (0) requests and probes.
	Uptime float64
	// Requests and Failures count what was tried.
	Requests, Failures int
	// OracleUptime is the fraction of the oracles' probes that succeeded in their latest committed
	// tables, OracleProbes how many there were (0: no oracle data). It stands in for Uptime until
	// the client has measured the provider itself.
	OracleUptime float64
	OracleProbes uint32
	// LastError is the latest failure ("" when none).
	LastError string
}

// Tracker keeps Stats and refused fields per provider. Safe for concurrent use.
type Tracker struct {
	mu sync.Mutex
	// by provider ID. REQUIRES mu.
	stats   map[string]*Stats
	refuses map[string]map[string]bool
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{stats: map[string]*Stats{}, refuses: map[string]map[string]bool{}}
}

// alpha is the weight of a new observation in the moving averages.
const alpha = 0.2

func ewma(old, v float64, first bool) float64 {
	if first {
		return v
	}
	return old + alpha*(v-old)
}

// Success records an answer: its time to first content, its total time and completion tokens.
func (t *Tracker) Success(id string, ttft, total time.Duration, completion int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(id)
	first := s.TTFT == 0
	s.TTFT = time.Duration(ewma(float64(s.TTFT), float64(ttft), first))
	s.Total = time.Duration(ewma(float64(s.Total), float64(total), first))
	if gen := total - ttft; completion > 1 && gen > 0 {
		tps := float64(completion-1) / gen.Seconds()
		s.TokensPerSecond = ewma(s.TokensPerSecond, tps, s.TokensPerSecond == 0)
	}
	s.Uptime = ewma(s.Uptime, 1, s.Requests == 0)
	s.Requests++
}

// Failure records a failed request or probe.
func (t *Tracker) Failure(id string, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(id)
	s.Uptime = ewma(s.Uptime, 0, s.Requests == 0)
	s.Requests++
	s.Failures++
	s.LastError = err.Error()
}

// Probe records a reachability check (a verification) without a latency.
func (t *Tracker) Probe(id string, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(id)
	v := 0.0
	if ok {
		v = 1
	}
	s.Uptime = ewma(s.Uptime, v, s.Requests == 0)
	s.Requests++
}

// Refuse records that a provider's backend refused a request field.
func (t *Tracker) Refuse(id, field string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.refuses[id] == nil {
		t.refuses[id] = map[string]bool{}
	}
	t.refuses[id][field] = true
}

// Get returns a provider's stats and refused fields.
func (t *Tracker) Get(id string) (Stats, map[string]bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	s := t.get(id)
	r := map[string]bool{}
	for f := range t.refuses[id] {
		r[f] = true
	}
	return *s, r
}

// REQUIRES: t.mu held.
func (t *Tracker) get(id string) *Stats {
	s := t.stats[id]
	if s == nil {
		s = &Stats{}
		t.stats[id] = s
	}
	return s
}

// TopField is the top-level request field a parameter path names ("response_format.type" →
// "response_format", "messages[0].content" → "messages").
func TopField(param string) string {
	if i := strings.IndexAny(param, ".["); i >= 0 {
		return param[:i]
	}
	return param
}
