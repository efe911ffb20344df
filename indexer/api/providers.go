package api

import (
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/url"
	"sort"
	"strconv"
	"strings"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
)

// snapshot is every provider's view at one moment, computed once per store generation and second.
type snapshot struct {
	gen      uint64
	now      uint32
	w        world
	counters store.Counters
	registry *state.State
	states   []*state.State // providers, in address order
	views    []ProviderView // same order
	byAddr   map[string]int
}

func (a *API) snap() (*snapshot, error) {
	c, err := a.cfg.Store.Counters()
	if err != nil {
		return nil, err
	}
	gen, now := a.cfg.Store.Generation(), a.now(c)
	a.mu.Lock()
	defer a.mu.Unlock()
	if s := a.cache; s != nil && s.gen == gen && s.now == now {
		return s, nil
	}
	s := &snapshot{gen: gen, now: now, counters: c, byAddr: map[string]int{}}
	reg, err := a.cfg.Store.State(a.cfg.Registry.StringRaw())
	if err == nil {
		s.registry = reg
	}
	s.w = world{now: now}
	if s.registry != nil {
		s.w.reg = s.registry.Registry
	}
	all, err := a.cfg.Store.States(state.KindProvider)
	if err != nil {
		return nil, err
	}
	addrs := make([]string, 0, len(all))
	for _, st := range all {
		if st.Provider != nil {
			addrs = append(addrs, st.Address)
		}
	}
	if s.w.uptime, err = a.uptimesLocked(gen, now, addrs); err != nil {
		return nil, err
	}
	for _, st := range all {
		if st.Provider == nil {
			continue
		}
		chans, err := a.cfg.Store.ChannelsOf(st.Address)
		if err != nil {
			return nil, err
		}
		s.byAddr[st.Address] = len(s.states)
		s.states = append(s.states, st)
		s.views = append(s.views, s.w.provider(st, len(chans)))
	}
	a.cache = s
	return s, nil
}

// ProviderQuery is what /api/v1/providers filters and sorts by.
type ProviderQuery struct {
	// Model is a model id or catalog name ("" for any).
	Model string
	// Attested filters on the attestation (nil: both).
	Attested *bool
	// Status filters on the effective status ("" for any).
	Status string
	// MaxPrice is the highest completion price per 1M tokens, in nanoTON (nil: no limit).
	MaxPrice *big.Int
	// Sort is price, uptime, tokens or stake; Order asc or desc (default: price asc, the others desc).
	Sort, Order string
	Limit       int
	Cursor      string
}

// Sort keys of the providers list.
var providerSorts = []string{"price", "uptime", "tokens", "stake"}

// ParseProviderQuery reads the list's query parameters.
func ParseProviderQuery(v url.Values) (ProviderQuery, error) {
	q := ProviderQuery{Model: v.Get("model"), Status: v.Get("status"), Sort: v.Get("sort"), Order: v.Get("order"), Limit: 50, Cursor: v.Get("cursor")}
	if s := v.Get("attested"); s != "" {
		b, err := strconv.ParseBool(s)
		if err != nil {
			return q, badRequest("attested must be true or false, got %q", s)
		}
		q.Attested = &b
	}
	if s := v.Get("max_price"); s != "" {
		n, err := wallet.ParseTON(s)
		if err != nil {
			return q, badRequest("max_price is TON per 1M completion tokens (e.g. 0.5): %v", err)
		}
		q.MaxPrice = n
	}
	if q.Sort == "" {
		q.Sort = "tokens"
	}
	if !contains(providerSorts, q.Sort) {
		return q, badRequest("sort must be one of %s, got %q", strings.Join(providerSorts, ", "), q.Sort)
	}
	switch q.Order {
	case "":
		q.Order = "desc"
		if q.Sort == "price" {
			q.Order = "asc"
		}
	case "asc", "desc":
	default:
		return q, badRequest("order must be asc or desc, got %q", q.Order)
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 200 {
			return q, badRequest("limit must be a whole number from 1 to 200, got %q", s)
		}
		q.Limit = n
	}
	if q.Status != "" && !contains([]string{"unregistered", "active", "paused", "exiting", "jailed", "slashed"}, q.Status) {
		return q, badRequest("status must be unregistered, active, paused, exiting, jailed or slashed, got %q", q.Status)
	}
	return q, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ProviderPage is one page of the providers list.
type ProviderPage struct {
	Providers []ProviderListItem `json:"providers"`
	// NextCursor continues the list; null on the last page.
	NextCursor *string `json:"next_cursor" desc:"pass as cursor for the next page; null on the last page"`
	Total      int     `json:"total" desc:"providers matching the filters, over all pages"`
}

// ProviderListItem is a provider with the price the list filtered and sorted it by.
type ProviderListItem struct {
	ProviderView
	Price *ListPrice `json:"price" desc:"the model filter's price, else the lowest completion price; null when no model is priced"`
}

// ListPrice is the price one list entry is ranked by.
type ListPrice struct {
	ModelID    uint32 `json:"model_id"`
	Prompt     Amount `json:"prompt_per_million"`
	Completion Amount `json:"completion_per_million"`
}

// listCursor is a position in a sorted list: the last entry's sort key and address.
type listCursor struct {
	Key  string `json:"k"`
	Null bool   `json:"n"`
	Addr string `json:"a"`
}

type listEntry struct {
	item ProviderListItem
	key  *big.Int // nil sorts last
	addr string
}

// Providers lists providers (see ProviderQuery).
func (a *API) Providers(q ProviderQuery) (*ProviderPage, error) {
	s, err := a.snap()
	if err != nil {
		return nil, err
	}
	var modelID *uint32
	if q.Model != "" {
		id, err := s.resolveModel(q.Model)
		if err != nil {
			return nil, err
		}
		modelID = &id
	}
	var entries []listEntry
	for i := range s.views {
		v := s.views[i]
		if q.Attested != nil && v.Attestation.Attested != *q.Attested {
			continue
		}
		if q.Status != "" && v.EffectiveStatus != q.Status {
			continue
		}
		price := listPrice(&v, modelID)
		if modelID != nil && price == nil {
			continue
		}
		if q.MaxPrice != nil && (price == nil || nanoOf(price.Completion).Cmp(q.MaxPrice) > 0) {
			continue
		}
		e := listEntry{item: ProviderListItem{ProviderView: v, Price: price}, addr: v.Address.Raw}
		switch q.Sort {
		case "price":
			if price != nil {
				e.key = nanoOf(price.Completion)
			}
		case "uptime":
			if v.Uptime.Week != nil {
				e.key = big.NewInt(int64(*v.Uptime.Week * 1e6))
			}
		case "tokens":
			e.key = v.totalTokens()
		case "stake":
			e.key = nanoOf(v.Stake)
		}
		entries = append(entries, e)
	}
	desc := q.Order == "desc"
	less := func(x, y listEntry) int { return compareEntries(x.key, x.addr, y.key, y.addr, desc) }
	sort.SliceStable(entries, func(i, j int) bool { return less(entries[i], entries[j]) < 0 })
	start := 0
	if q.Cursor != "" {
		c, err := decodeCursor(q.Cursor)
		if err != nil {
			return nil, err
		}
		var ck *big.Int
		if !c.Null {
			ck, _ = new(big.Int).SetString(c.Key, 10)
		}
		start = sort.Search(len(entries), func(i int) bool {
			return compareEntries(entries[i].key, entries[i].addr, ck, c.Addr, desc) > 0
		})
	}
	page := &ProviderPage{Providers: []ProviderListItem{}, Total: len(entries)}
	end := min(start+q.Limit, len(entries))
	for _, e := range entries[start:end] {
		page.Providers = append(page.Providers, e.item)
	}
	if end < len(entries) {
		last := entries[end-1]
		c := listCursor{Addr: last.addr, Null: last.key == nil}
		if last.key != nil {
			c.Key = last.key.String()
		}
		b, _ := json.Marshal(c)
		cur := base64.RawURLEncoding.EncodeToString(b)
		page.NextCursor = &cur
	}
	return page, nil
}

// compareEntries orders list entries: by key (nulls last, whatever the order), then address.
func compareEntries(k1 *big.Int, a1 string, k2 *big.Int, a2 string, desc bool) int {
	switch {
	case k1 == nil && k2 != nil:
		return 1
	case k1 != nil && k2 == nil:
		return -1
	case k1 != nil && k2 != nil:
		if c := k1.Cmp(k2); c != 0 {
			if desc {
				return -c
			}
			return c
		}
	}
	return strings.Compare(a1, a2)
}

func decodeCursor(s string) (listCursor, error) {
	var c listCursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || json.Unmarshal(b, &c) != nil || c.Addr == "" {
		return c, badRequest("cursor %q is not one this API returned", s)
	}
	return c, nil
}

func nanoOf(a Amount) *big.Int {
	n, ok := new(big.Int).SetString(a.Nano, 10)
	if !ok {
		return new(big.Int)
	}
	return n
}

// listPrice is the model's price (model set) or the lowest completion price.
func listPrice(v *ProviderView, model *uint32) *ListPrice {
	var best *ProviderModel
	for i := range v.Models {
		m := &v.Models[i]
		if model != nil {
			if m.ModelID == *model {
				best = m
				break
			}
			continue
		}
		if best == nil || nanoOf(m.Completion).Cmp(nanoOf(best.Completion)) < 0 {
			best = m
		}
	}
	if best == nil {
		return nil
	}
	return &ListPrice{ModelID: best.ModelID, Prompt: best.Prompt, Completion: best.Completion}
}

// resolveModel reads a model filter: an id, or a name in the registry's catalog.
func (s *snapshot) resolveModel(m string) (uint32, error) {
	if id, err := strconv.ParseUint(m, 10, 32); err == nil {
		return uint32(id), nil
	}
	var ids []uint32
	if s.w.reg != nil {
		for id, info := range s.w.reg.Models {
			if info.Name == m {
				ids = append(ids, id)
			}
		}
	}
	switch len(ids) {
	case 1:
		return ids[0], nil
	case 0:
	default:
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		return 0, badRequest("model name %q is listed under several ids %v: filter by id", m, ids)
	}
	return 0, badRequest("model %q is neither a model id nor a name in the registry's catalog", m)
}
