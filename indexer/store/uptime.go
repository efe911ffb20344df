package store

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/indexer/state"
)

// Uptime commitments and the oracles' tables behind them.
//
//	U oracle lt                    Commitment: an uptime root the registry accepted (registry transaction lt)
//	Q oracle lt                    (empty) a commitment whose table is not verified yet
//	V oracle lt                    TableRecord: what became of fetching its table
//	W provider end oracle lt       a verified entry: epoch, start, probes ok and total, latency p50 and p90
//
// U and Q are written by Ingest with the registry transaction (so they are part of the replay: a
// store rebuilt from the chain holds the same ones); V and W by PutTable, once a table was fetched
// from an oracle's API and checked against its commitment. W sorts a provider's entries by the end
// of their epoch, so a window of time is one range.

const (
	pCommit  = 'U'
	pPending = 'Q'
	pTable   = 'V'
	pEntry   = 'W'
)

// Commitment is one SubmitUptimeRoot the registry accepted.
type Commitment struct {
	// Oracle is the committing oracle's wallet (raw).
	Oracle        string `json:"oracle"`
	Epoch         uint32 `json:"epoch"`
	Root          string `json:"root"`
	ProviderCount uint32 `json:"provider_count"`
	// CommittedAt is the registry transaction's time; LT and Tx name it.
	CommittedAt uint32 `json:"committed_at"`
	LT          uint64 `json:"lt"`
	Tx          string `json:"tx"`
}

// States of a commitment's table (TableRecord.State).
const (
	// TableVerified: every entry was checked against the commitment; the entries are stored.
	TableVerified = "verified"
	// TableRefused: the oracle served a table that does not match the commitment (nothing stored).
	TableRefused = "refused"
	// TableMissing: the oracle answered that it has no table for the epoch.
	TableMissing = "missing"
	// TableUnreachable: the oracle's API could not be read.
	TableUnreachable = "unreachable"
	// TableExpired: no verified table before the commitment was too old to matter (never tried again).
	TableExpired = "expired"
)

// TableRecord is what the indexer knows of a commitment's table.
type TableRecord struct {
	State string `json:"state"`
	// Error says why the last attempt failed (refused, missing, unreachable).
	Error string `json:"error,omitempty"`
	// Attempts counts the fetches; TriedAt is the last one's unix time.
	Attempts int    `json:"attempts"`
	TriedAt  uint32 `json:"tried_at"`
	// Source is the oracle API that served the table last.
	Source string `json:"source,omitempty"`
	// Verified tables: the epoch's span [Start, End) as the oracle states it (checked against the
	// commitment's time) and the number of entries.
	Start   uint32 `json:"start,omitempty"`
	End     uint32 `json:"end,omitempty"`
	Entries int    `json:"entries,omitempty"`
}

// Retry reports whether a table in this state may still become verified by fetching it again.
func (r *TableRecord) Retry() bool {
	return r == nil || (r.State != TableVerified && r.State != TableExpired)
}

// TableCounts are one oracle's commitments by the state of their table.
type TableCounts struct {
	Verified int `json:"verified"`
	// Refused counts the commitments whose table, as last served, did not match.
	Refused int `json:"refused"`
}

// UptimeRow is one verified entry of an oracle's table: a provider's probes in one epoch.
type UptimeRow struct {
	Provider string
	Oracle   string
	// LT is the commitment's registry transaction.
	LT                     uint64
	Epoch                  uint32
	Start, End             uint32
	ProbesOK, ProbesTotal  uint32
	LatencyP50, LatencyP90 uint32
}

const rowValueLen = 24

func (r UptimeRow) key() ([]byte, error) {
	pk, err := addrKey(r.Provider)
	if err != nil {
		return nil, err
	}
	ok, err := addrKey(r.Oracle)
	if err != nil {
		return nil, err
	}
	return key(pEntry, pk, be32(r.End), ok, be64(r.LT)), nil
}

func (r UptimeRow) value() []byte {
	v := make([]byte, 0, rowValueLen)
	for _, x := range []uint32{r.Epoch, r.Start, r.ProbesOK, r.ProbesTotal, r.LatencyP50, r.LatencyP90} {
		v = binary.BigEndian.AppendUint32(v, x)
	}
	return v
}

func rowFrom(k, v []byte) (UptimeRow, error) {
	if len(k) != 1+33+4+33+8 || len(v) != rowValueLen {
		return UptimeRow{}, fmt.Errorf("corrupt uptime entry under %x", k)
	}
	u := func(i int) uint32 { return binary.BigEndian.Uint32(v[4*i:]) }
	return UptimeRow{Provider: addrFromKey(k[1:34]), End: binary.BigEndian.Uint32(k[34:38]), Oracle: addrFromKey(k[38:71]),
		LT: binary.BigEndian.Uint64(k[71:79]), Epoch: u(0), Start: u(1), ProbesOK: u(2), ProbesTotal: u(3), LatencyP50: u(4), LatencyP90: u(5)}, nil
}

// commitment records an accepted SubmitUptimeRoot (an EvUptimeRoot of the registry) as a
// commitment whose table is pending.
func (w *writer) commitment(ev *state.Event) error {
	ok, err := addrKey(ev.Oracle)
	if err != nil {
		return err
	}
	c := Commitment{Oracle: ev.Oracle, Epoch: ev.Epoch, Root: ev.Root, CommittedAt: ev.Time, LT: ev.LT, Tx: ev.Tx}
	if ev.ProviderCount != nil {
		c.ProviderCount = *ev.ProviderCount
	}
	if err := setJSON(w.b, key(pCommit, ok, be64(ev.LT)), c); err != nil {
		return err
	}
	return w.b.Set(key(pPending, ok, be64(ev.LT)), nil, nil)
}

// Commitments calls fn with an oracle's commitments, oldest first (reverse: newest first), until fn
// returns false.
func (s *Store) Commitments(oracle string, reverse bool, fn func(Commitment) bool) error {
	ok, err := addrKey(oracle)
	if err != nil {
		return err
	}
	return scan(s.db, key(pCommit, ok), reverse, func(_, v []byte) (bool, error) {
		var c Commitment
		if err := json.Unmarshal(v, &c); err != nil {
			return false, err
		}
		return fn(c), nil
	})
}

// Commitment reads one commitment (ErrNotFound when the registry accepted none at lt from oracle).
func (s *Store) Commitment(oracle string, lt uint64) (*Commitment, error) {
	ok, err := addrKey(oracle)
	if err != nil {
		return nil, err
	}
	var c Commitment
	found, err := getJSON(s.db, key(pCommit, ok, be64(lt)), &c)
	if err != nil {
		return nil, err
	}
	if !found {
		return nil, ErrNotFound
	}
	return &c, nil
}

// Pending lists an oracle's commitments whose table is not verified yet (nor expired), oldest first.
func (s *Store) Pending(oracle string) ([]Commitment, error) {
	ok, err := addrKey(oracle)
	if err != nil {
		return nil, err
	}
	var out []Commitment
	err = scan(s.db, key(pPending, ok), false, func(k, _ []byte) (bool, error) {
		var c Commitment
		found, err := getJSON(s.db, key(pCommit, k[1:]), &c)
		if err != nil {
			return false, err
		}
		if !found {
			return false, fmt.Errorf("pending uptime commitment %x has no record", k)
		}
		out = append(out, c)
		return true, nil
	})
	return out, err
}

// Table reads what became of a commitment's table (nil: never fetched).
func (s *Store) Table(oracle string, lt uint64) (*TableRecord, error) {
	ok, err := addrKey(oracle)
	if err != nil {
		return nil, err
	}
	var r TableRecord
	found, err := getJSON(s.db, key(pTable, ok, be64(lt)), &r)
	if err != nil || !found {
		return nil, err
	}
	return &r, nil
}

// ErrNotPending is a table for a commitment that is not pending (already verified or expired).
var ErrNotPending = errors.New("uptime commitment is not pending")

// PutTable records what became of fetching c's table, and for a verified one its entries (rows),
// in one synced batch. A verified or expired commitment leaves the pending list; the per-oracle
// counts follow the state changes.
func (s *Store) PutTable(c Commitment, rec TableRecord, rows []UptimeRow) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	ok, err := addrKey(c.Oracle)
	if err != nil {
		return err
	}
	b := s.db.NewIndexedBatch()
	defer b.Close()
	if pending, err := has(b, key(pPending, ok, be64(c.LT))); err != nil {
		return err
	} else if !pending {
		return fmt.Errorf("%w: %s at lt %d", ErrNotPending, c.Oracle, c.LT)
	}
	var before TableRecord
	if _, err := getJSON(b, key(pTable, ok, be64(c.LT)), &before); err != nil {
		return err
	}
	if rec.State == TableVerified {
		for _, r := range rows {
			k, err := r.key()
			if err != nil {
				return err
			}
			if err := b.Set(k, r.value(), nil); err != nil {
				return err
			}
		}
	}
	if !rec.Retry() {
		if err := b.Delete(key(pPending, ok, be64(c.LT)), nil); err != nil {
			return err
		}
	}
	if err := setJSON(b, key(pTable, ok, be64(c.LT)), rec); err != nil {
		return err
	}
	counters := *s.counters.Load()
	if before.State != rec.State {
		tables := make(map[string]TableCounts, len(counters.Tables)+1)
		for k, v := range counters.Tables {
			tables[k] = v
		}
		t := tables[c.Oracle]
		t.Verified += boolInt(rec.State == TableVerified)
		t.Refused += boolInt(rec.State == TableRefused) - boolInt(before.State == TableRefused)
		tables[c.Oracle] = t
		counters.Tables = tables
		if err := setJSON(b, []byte{pCounter}, counters); err != nil {
			return err
		}
	}
	if err := s.commit(b); err != nil {
		return err
	}
	s.counters.Store(&counters)
	return nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// UptimeRows calls fn with provider's verified entries whose epoch ended in [from, to], by end,
// until fn returns false.
func (s *Store) UptimeRows(provider string, from, to uint32, fn func(UptimeRow) bool) error {
	pk, err := addrKey(provider)
	if err != nil {
		return err
	}
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: key(pEntry, pk, be32(from)), UpperBound: upper(key(pEntry, pk, be32(to)))})
	if err != nil {
		return err
	}
	defer it.Close()
	for ok := it.First(); ok; ok = it.Next() {
		r, err := rowFrom(it.Key(), it.Value())
		if err != nil {
			return err
		}
		if !fn(r) {
			break
		}
	}
	return it.Error()
}
