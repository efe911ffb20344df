// Package api is the indexer's REST API (docs/PROTOCOL.md "Indexer API"): providers, models,
// channels, oracles, network statistics and decoded transactions with the cascade they caused,
// read from the store, with the OpenAPI document at /api/openapi.json generated from the same
// view types the handlers answer with. The web explorer renders these same views.
package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
)

// Metricer records the API's requests.
type Metricer interface {
	RecordRequest(route string, status int, d time.Duration)
}

// NoopMetrics records nothing.
type NoopMetrics struct{}

// RecordRequest does nothing.
func (NoopMetrics) RecordRequest(string, int, time.Duration) {}

// Status is the follower's state, for /api/v1/status.
type Status struct {
	Synced    bool
	LastRound time.Time
}

// Config configures the API.
type Config struct {
	Store *store.Store
	// Registry is the followed registry's address.
	Registry *address.Address
	// Now is the clock (default time.Now). Views use the later of it and the newest transaction
	// ingested, so a devnet whose clock runs ahead is seen at its own time.
	Now func() time.Time
	// Status reports the follower (nil: unknown).
	Status  func() Status
	Log     *slog.Logger
	Metrics Metricer
}

// API answers the indexer's REST requests.
type API struct {
	cfg Config

	responses responseCache

	mu         sync.Mutex
	cache      *snapshot               // REQUIRES mu
	statsCache *statsCache             // REQUIRES mu
	uptimes    *uptimeCache            // REQUIRES mu
	details    map[string]*cachedValue // REQUIRES mu: pages and histories by key
}

// New builds the API.
func New(cfg Config) *API {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NoopMetrics{}
	}
	return &API{cfg: cfg}
}

// Error is an API failure: its HTTP status and a stable code.
type Error struct {
	Status  int    `json:"-"`
	Code    string `json:"code" desc:"bad_request, not_found or internal"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Message }

// ErrorBody is what a failure answers.
type ErrorBody struct {
	Error *Error `json:"error"`
}

func badRequest(format string, args ...any) error {
	return &Error{Status: http.StatusBadRequest, Code: "bad_request", Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) error {
	return &Error{Status: http.StatusNotFound, Code: "not_found", Message: fmt.Sprintf(format, args...)}
}

// AsError maps any error to an *Error (internal failures become 500 without their details).
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Code: "not_found", Message: "not found"}
	}
	return &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error"}
}

// parseAccount reads an address from a path, raw or user-friendly.
func parseAccount(s string) (string, error) {
	a, err := chain.ParseAddress(s)
	if err != nil {
		return "", badRequest("%v", err)
	}
	return a.StringRaw(), nil
}

// account reads a followed account of kind.
func (a *API) account(s string, kind state.Kind) (*state.State, error) {
	raw, err := parseAccount(s)
	if err != nil {
		return nil, err
	}
	acct, err := a.cfg.Store.Account(raw)
	if errors.Is(err, store.ErrNotFound) || (err == nil && acct.Kind != kind) {
		return nil, notFound("no %s %s is indexed", kind, s)
	}
	if err != nil {
		return nil, err
	}
	st, err := a.cfg.Store.State(raw)
	if errors.Is(err, store.ErrNotFound) {
		st = state.New(kind, raw)
	} else if err != nil {
		return nil, err
	}
	if (kind == state.KindProvider && st.Provider == nil) || (kind == state.KindChannel && st.Channel == nil) {
		return nil, notFound("%s %s has not been deployed yet", kind, s)
	}
	return st, nil
}

// Handler serves the API under /api/. Answers are cached whole (see responseCache).
func (a *API) Handler() http.Handler {
	mux := http.NewServeMux()
	route := func(pattern string, timed bool, fn func(r *http.Request) (any, error)) {
		name := strings.TrimPrefix(pattern, "GET ")
		mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
			t0 := time.Now()
			status, body := a.responses.get(a, r.URL.RequestURI(), timed, func() (int, []byte) {
				v, err := fn(r)
				status := http.StatusOK
				if err != nil {
					e := AsError(err)
					if e.Status == http.StatusInternalServerError {
						a.cfg.Log.Error("api request failed", "path", r.URL.Path, "err", err)
					}
					status, v = e.Status, ErrorBody{Error: e}
				}
				b, err := json.Marshal(v)
				if err != nil {
					a.cfg.Log.Error("api answer failed to encode", "path", r.URL.Path, "err", err)
					return http.StatusInternalServerError, []byte(`{"error":{"code":"internal","message":"internal error"}}`)
				}
				return status, append(b, '\n')
			})
			writeBody(w, status, body)
			a.cfg.Metrics.RecordRequest(name, status, time.Since(t0))
		})
	}
	route("GET /api/openapi.json", false, func(*http.Request) (any, error) { return OpenAPI(), nil })
	route("GET /api/v1/status", true, func(*http.Request) (any, error) { return a.Status() })
	route("GET /api/v1/providers", true, func(r *http.Request) (any, error) {
		q, err := ParseProviderQuery(r.URL.Query())
		if err != nil {
			return nil, err
		}
		return a.Providers(q)
	})
	route("GET /api/v1/providers/{address}", true, func(r *http.Request) (any, error) { return a.Provider(r.PathValue("address")) })
	route("GET /api/v1/models", true, func(*http.Request) (any, error) { return a.Models() })
	route("GET /api/v1/channels", false, func(r *http.Request) (any, error) { return a.Channels(r.URL.Query().Get("provider")) })
	route("GET /api/v1/channels/{address}", false, func(r *http.Request) (any, error) { return a.Channel(r.PathValue("address")) })
	route("GET /api/v1/oracles", true, func(*http.Request) (any, error) { return a.Oracles() })
	route("GET /api/v1/oracles/{address}", true, func(r *http.Request) (any, error) { return a.Oracle(r.PathValue("address")) })
	route("GET /api/v1/stats", true, func(*http.Request) (any, error) { return a.Stats() })
	route("GET /api/v1/stats/series", true, func(r *http.Request) (any, error) {
		return a.Series(r.URL.Query().Get("interval"), r.URL.Query().Get("points"))
	})
	route("GET /api/v1/tx/{hash}", false, func(r *http.Request) (any, error) { return a.Tx(r.PathValue("hash")) })
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		status, e := http.StatusNotFound, &Error{Status: http.StatusNotFound, Code: "not_found", Message: "no such API path: " + r.URL.Path}
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			status, e = http.StatusMethodNotAllowed, &Error{Status: http.StatusMethodNotAllowed, Code: "method_not_allowed", Message: "the API is read-only: GET only"}
		}
		writeJSON(w, status, ErrorBody{Error: e})
		a.cfg.Metrics.RecordRequest("other", status, 0)
	})
	return mux
}

// responseCache keeps each URL's encoded answer for the store generation (and, for answers that
// depend on the time, the second) it was computed at. A timed answer up to staleFor seconds old
// is still served while one request computes the new one in the background, so requests do not
// queue behind a recomputation every second; a new store generation is always computed before
// it is served. Identical requests arriving together compute once.
type responseCache struct {
	mu      sync.Mutex
	entries map[string]*response // REQUIRES mu
}

type response struct {
	gen        uint64
	now        uint32
	status     int
	body       []byte
	done       chan struct{} // closed once status and body are set
	refreshing bool          // REQUIRES responseCache.mu
}

const (
	staleFor     = 2
	maxResponses = 4096
)

func (c *responseCache) get(a *API, key string, timed bool, compute func() (int, []byte)) (int, []byte) {
	counters, err := a.cfg.Store.Counters()
	if err != nil {
		return compute()
	}
	gen, now := a.cfg.Store.Generation(), uint32(0)
	if timed {
		now = a.now(counters)
	}
	c.mu.Lock()
	if e, ok := c.entries[key]; ok && e.gen == gen && now >= e.now && now-e.now <= staleFor {
		if e.now != now && !e.refreshing {
			select {
			case <-e.done:
				e.refreshing = true
				go c.fill(key, gen, now, compute)
			default:
			}
		}
		c.mu.Unlock()
		<-e.done
		return e.status, e.body
	}
	e := c.newEntry(key, gen, now)
	c.mu.Unlock()
	e.status, e.body = compute()
	close(e.done)
	return e.status, e.body
}

// fill computes key's answer into a new entry that replaces the stale one once ready.
func (c *responseCache) fill(key string, gen uint64, now uint32, compute func() (int, []byte)) {
	e := &response{gen: gen, now: now, done: make(chan struct{})}
	e.status, e.body = compute()
	close(e.done)
	c.mu.Lock()
	if old, ok := c.entries[key]; !ok || old.gen <= gen {
		c.entries[key] = e
	}
	c.mu.Unlock()
}

// newEntry starts an entry. REQUIRES c.mu held.
func (c *responseCache) newEntry(key string, gen uint64, now uint32) *response {
	if c.entries == nil || len(c.entries) >= maxResponses {
		c.entries = map[string]*response{}
	}
	e := &response{gen: gen, now: now, done: make(chan struct{})}
	c.entries[key] = e
	return e
}

func writeBody(w http.ResponseWriter, status int, body []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Access-Control-Allow-Origin", "*")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	_ = enc.Encode(v)
}

// StatusView is the indexer's own state.
type StatusView struct {
	Registry  Addr   `json:"registry"`
	Synced    bool   `json:"synced" desc:"the last round found nothing new: every followed account is caught up"`
	LastRound *int64 `json:"last_round" desc:"when the follower last finished a pass over every account"`
	Accounts  struct {
		Providers int `json:"providers"`
		Channels  int `json:"channels"`
	} `json:"accounts" desc:"followed contracts besides the registry"`
	Transactions  int         `json:"transactions"`
	Failed        int         `json:"failed" desc:"transactions whose compute or action phase failed"`
	Bounced       int         `json:"bounced" desc:"transactions caused by a bounced message"`
	UnknownBodies int         `json:"unknown_bodies" desc:"message bodies no Cocoon message matches, kept raw"`
	Mismatches    int         `json:"mismatches" desc:"replayed states that differed from the contract's storage and were replaced by it"`
	LastTxTime    *int64      `json:"last_tx_time" desc:"time of the newest transaction ingested"`
	UptimeTables  TableTotals `json:"uptime_tables" desc:"the oracles' uptime tables fetched (--oracle-api), all oracles"`
	Now           int64       `json:"now" desc:"the time the views are computed at"`
}

// Status reports the indexer's own state.
func (a *API) Status() (*StatusView, error) {
	c, err := a.cfg.Store.Counters()
	if err != nil {
		return nil, err
	}
	v := &StatusView{Registry: *addr(a.cfg.Registry.StringRaw()), Transactions: c.Transactions, Failed: c.Failed,
		Bounced: c.Bounced, UnknownBodies: c.Unknown, Mismatches: c.Mismatches, LastTxTime: timePtr(c.LastTime)}
	v.Now = int64(a.now(c))
	for _, t := range c.Tables {
		v.UptimeTables.Verified += t.Verified
		v.UptimeTables.Refused += t.Refused
	}
	if a.cfg.Status != nil {
		s := a.cfg.Status()
		v.Synced = s.Synced
		if !s.LastRound.IsZero() {
			t := s.LastRound.Unix()
			v.LastRound = &t
		}
	}
	for _, k := range []state.Kind{state.KindProvider, state.KindChannel} {
		accts, err := a.cfg.Store.Accounts(k)
		if err != nil {
			return nil, err
		}
		if k == state.KindProvider {
			v.Accounts.Providers = len(accts)
		} else {
			v.Accounts.Channels = len(accts)
		}
	}
	return v, nil
}

// cachedValue is a computed view, the store generation and time it was computed for, and, while
// it is being computed, the channel its waiters wait on.
type cachedValue struct {
	gen  uint64
	now  uint32
	v    any
	err  error
	done chan struct{}
}

// maxDetails bounds the detail cache; it is emptied when full.
const maxDetails = 4096

// cached returns the value under key computed for the store's current generation (and, when
// timed, the current second), or computes it with fn: once, however many requests ask at the same
// time (the others wait for it). Views are pure functions of the store and the time, so a view
// computed for the same generation and second is the same view.
func cached[T any](a *API, key string, timed bool, fn func() (T, error)) (T, error) {
	var zero T
	c, err := a.cfg.Store.Counters()
	if err != nil {
		return zero, err
	}
	gen, now := a.cfg.Store.Generation(), uint32(0)
	if timed {
		now = a.now(c)
	}
	a.mu.Lock()
	if v, ok := a.details[key]; ok && v.gen == gen && v.now == now {
		a.mu.Unlock()
		<-v.done
		if v.err != nil {
			return zero, v.err
		}
		return v.v.(T), nil
	}
	if a.details == nil || len(a.details) >= maxDetails {
		a.details = map[string]*cachedValue{}
	}
	cv := &cachedValue{gen: gen, now: now, done: make(chan struct{})}
	a.details[key] = cv
	a.mu.Unlock()
	v, err := fn()
	cv.v, cv.err = v, err
	close(cv.done)
	if err != nil {
		a.mu.Lock()
		if a.details[key] == cv {
			delete(a.details, key)
		}
		a.mu.Unlock()
	}
	return v, err
}

// now is the views' time: the clock, or the newest transaction's time when that is later.
func (a *API) now(c store.Counters) uint32 {
	return max(uint32(a.cfg.Now().Unix()), c.LastTime)
}
