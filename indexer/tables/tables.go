// Package tables fetches the oracles' uptime tables behind the uptime roots the registry accepted
// and keeps only what verifies against them: for every commitment (oracle, epoch, root, provider
// count) the follower stored, it asks the oracle's HTTP API for the epoch's table
// (GET /api/v1/epochs/{n}, docs/PROTOCOL.md "Oracle HTTP API"), checks every entry against the
// on-chain root and count with uptime.Verify, and stores the entries of a table that verifies whole.
// A table that does not is refused and counted, and nothing of it is stored: the explorer never shows
// an entry the chain does not vouch for.
//
// Oracle URLs are not on-chain, so the indexer is told them (--oracle-api); each API is asked which
// oracle it serves (GET /api/v1/epochs), and its tables are checked against that oracle's roots
// only, so an API that names the wrong oracle gets its tables refused, never attributed elsewhere.
package tables

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/indexer/store"
	"github.com/cocoon-go/cocoon/service/clock"
	"github.com/cocoon-go/cocoon/uptime"
)

// Errors of the checks.
var (
	// ErrMismatch is a table that does not match its on-chain commitment.
	ErrMismatch = errors.New("uptime table does not match the on-chain commitment")
	// ErrNoTable is an oracle that answered it has no table for the epoch (404).
	ErrNoTable = errors.New("the oracle has no table for the epoch")
)

// Metricer records what became of each fetch.
type Metricer interface {
	// RecordTable counts a fetched table by result: verified, refused, missing, unreachable.
	RecordTable(result string)
}

// NoopMetrics records nothing.
type NoopMetrics struct{}

// RecordTable does nothing.
func (NoopMetrics) RecordTable(string) {}

// Config configures a Fetcher.
type Config struct {
	Store    *store.Store
	Registry *address.Address
	// APIs are the oracles' API roots (http://host:port), in the order they are tried.
	APIs []string
	// Poll is the pause between passes (default 30 s); a table that could not be had is tried again
	// after Poll, doubling with every attempt up to an hour.
	Poll time.Duration
	// MaxAge: a commitment older than this without a verified table is given up (default 30 days,
	// the longest uptime window).
	MaxAge time.Duration
	// Now is the chain's clock (commitments' times are the chain's); default time.Now.
	Now   func() time.Time
	Clock clock.Clock
	// HTTP asks the oracles (default: a client with a 30 s timeout).
	HTTP    *http.Client
	Log     *slog.Logger
	Metrics Metricer
}

// maxBackoff bounds the wait before a table is asked for again.
const maxBackoff = time.Hour

// maxBody bounds an oracle's answer.
const maxBody = 64 << 20

// Fetcher fetches and verifies the tables. Run it, or call Pass.
type Fetcher struct {
	cfg Config

	mu sync.Mutex
	// oracleOf is what each API said it serves (raw wallet). REQUIRES mu.
	oracleOf map[string]string
}

// New builds a fetcher; it asks nothing yet.
func New(cfg Config) (*Fetcher, error) {
	if cfg.Store == nil || cfg.Registry == nil || len(cfg.APIs) == 0 {
		return nil, errors.New("uptime tables: a store, the registry and at least one oracle API are required")
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 30 * time.Second
	}
	if cfg.MaxAge <= 0 {
		cfg.MaxAge = 30 * 24 * time.Hour
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.System
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{Timeout: 30 * time.Second}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NoopMetrics{}
	}
	return &Fetcher{cfg: cfg, oracleOf: map[string]string{}}, nil
}

// Run runs a pass every Poll until ctx ends.
func (f *Fetcher) Run(ctx context.Context) error {
	for {
		if _, err := f.Pass(ctx); err != nil && ctx.Err() == nil {
			f.cfg.Log.Warn("uptime tables pass failed, retrying", "err", err)
		}
		if err := f.cfg.Clock.Sleep(ctx, f.cfg.Poll); err != nil {
			return err
		}
	}
}

// PassResult counts what one pass did.
type PassResult struct {
	Verified, Refused, Failed, Expired int
}

// Pass learns which oracle each API serves (once per API), then tries once every pending commitment
// of those oracles whose wait is over.
func (f *Fetcher) Pass(ctx context.Context) (PassResult, error) {
	var res PassResult
	sources := f.sources(ctx)
	now := f.cfg.Now()
	var errs []error
	for oracle, apis := range sources {
		pending, err := f.cfg.Store.Pending(oracle)
		if err != nil {
			return res, err
		}
		for _, c := range pending {
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			rec, err := f.cfg.Store.Table(c.Oracle, c.LT)
			if err != nil {
				return res, err
			}
			if now.Sub(time.Unix(int64(c.CommittedAt), 0)) > f.cfg.MaxAge {
				next := expired(rec, now)
				if err := f.cfg.Store.PutTable(c, next, nil); err != nil {
					return res, err
				}
				f.cfg.Metrics.RecordTable(next.State)
				res.Expired++
				continue
			}
			if rec != nil && now.Before(time.Unix(int64(rec.TriedAt), 0).Add(f.backoff(rec.Attempts))) {
				continue
			}
			next, rows := f.fetch(ctx, c, apis, rec, now)
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			f.cfg.Metrics.RecordTable(next.State)
			switch next.State {
			case store.TableVerified:
				res.Verified++
				f.cfg.Log.Info("uptime table verified", "oracle", c.Oracle, "epoch", c.Epoch, "providers", len(rows), "source", next.Source)
			case store.TableRefused:
				res.Refused++
				f.cfg.Log.Warn("uptime table refused: it does not match the root on-chain", "oracle", c.Oracle, "epoch", c.Epoch, "source", next.Source, "err", next.Error)
			default:
				res.Failed++
				f.cfg.Log.Debug("uptime table not fetched", "oracle", c.Oracle, "epoch", c.Epoch, "state", next.State, "err", next.Error)
			}
			if err := f.cfg.Store.PutTable(c, next, rows); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return res, errors.Join(errs...)
}

func expired(rec *store.TableRecord, now time.Time) store.TableRecord {
	next := store.TableRecord{State: store.TableExpired, TriedAt: uint32(now.Unix())}
	if rec != nil {
		next.Attempts, next.Error, next.Source = rec.Attempts, rec.Error, rec.Source
	}
	return next
}

// backoff is the wait after the n-th attempt: Poll, doubling, at most an hour.
func (f *Fetcher) backoff(n int) time.Duration {
	d := f.cfg.Poll
	for i := 1; i < n && d < maxBackoff; i++ {
		d *= 2
	}
	return min(d, maxBackoff)
}

// sources asks every API not identified yet which oracle it serves, and returns the APIs of each
// identified oracle, in configuration order.
func (f *Fetcher) sources(ctx context.Context) map[string][]string {
	out := map[string][]string{}
	for _, api := range f.cfg.APIs {
		f.mu.Lock()
		oracle, ok := f.oracleOf[api]
		f.mu.Unlock()
		if !ok {
			r, err := uptime.Client{BaseURL: api, HTTP: f.cfg.HTTP}.Epochs(ctx)
			if err != nil {
				f.cfg.Log.Warn("oracle API cannot be read; tried again next pass", "api", api, "err", err)
				continue
			}
			a, err := address.ParseRawAddr(r.Oracle)
			if err != nil {
				f.cfg.Log.Warn("oracle API names no oracle wallet", "api", api, "oracle", r.Oracle)
				continue
			}
			oracle = a.StringRaw()
			f.mu.Lock()
			f.oracleOf[api] = oracle
			f.mu.Unlock()
			f.cfg.Log.Info("oracle API", "api", api, "oracle", oracle)
		}
		out[oracle] = append(out[oracle], api)
	}
	return out
}

// Sources reports which oracle each API said it serves (APIs not asked successfully yet are absent).
func (f *Fetcher) Sources() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.oracleOf))
	for k, v := range f.oracleOf {
		out[k] = v
	}
	return out
}

// fetch asks each API of the oracle for c's table until one verifies, and returns the record of
// the last attempt (and the entries of a verified table).
func (f *Fetcher) fetch(ctx context.Context, c store.Commitment, apis []string, prev *store.TableRecord, now time.Time) (store.TableRecord, []store.UptimeRow) {
	rec := store.TableRecord{TriedAt: uint32(now.Unix()), Attempts: 1}
	if prev != nil {
		rec.Attempts = prev.Attempts + 1
	}
	for _, api := range apis {
		rec.Source = api
		t, err := f.get(ctx, api, c.Epoch)
		var v *Verified
		if err == nil {
			v, err = Verify(c, f.cfg.Registry, t)
		}
		switch {
		case err == nil:
			rec.State, rec.Error, rec.Start, rec.End, rec.Entries = store.TableVerified, "", v.Start, v.End, len(v.Rows)
			return rec, v.Rows
		case errors.Is(err, ErrMismatch):
			rec.State = store.TableRefused
		case errors.Is(err, ErrNoTable):
			rec.State = store.TableMissing
		default:
			rec.State = store.TableUnreachable
		}
		rec.Error = err.Error()
	}
	return rec, nil
}

// get asks api for the table of epoch: ErrNoTable on 404, ErrMismatch when the answer is no table.
func (f *Fetcher) get(ctx context.Context, api string, epoch uint32) (*uptime.TableResponse, error) {
	u, err := url.JoinPath(api, uptime.PathEpochs, strconv.FormatUint(uint64(epoch), 10))
	if err != nil {
		return nil, fmt.Errorf("bad oracle API URL %q: %w", api, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.cfg.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("failed to ask %s: %w", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	switch {
	case err != nil:
		return nil, fmt.Errorf("failed to read %s: %w", u, err)
	case resp.StatusCode == http.StatusNotFound:
		return nil, fmt.Errorf("%w: %s answered 404", ErrNoTable, u)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("%s answered %s", u, resp.Status)
	}
	var t uptime.TableResponse
	if err := json.Unmarshal(body, &t); err != nil {
		return nil, fmt.Errorf("%w: %s answered no table: %v", ErrMismatch, u, err)
	}
	return &t, nil
}
