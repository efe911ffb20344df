package oracle

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/cocoon-go/cocoon/discover"
	"github.com/cocoon-go/cocoon/internal/pebblelog"
	"github.com/cocoon-go/cocoon/uptime"
)

// store is the oracle's Pebble database. Every write is one fsynced batch. Keys:
//
//	oracle/cursor                          → discover.Cursor: the newest registry transaction scanned
//	oracle/p/<provider raw>                → providerRecord: a Provider contract the registry deployed
//	oracle/v/<provider raw>                → voteRecord: the oracle's latest vote for it
//	oracle/probe/<epoch %08x>/<provider raw>/<unix ns %016x> → probeRecord
//	oracle/epoch/<epoch %08x>              → epochRecord: the table, its root and its commitment
//	txmgr/…                                → the transaction manager's journal (txmgr.NewJournalDB)
type store struct {
	db *pebble.DB
}

func openStore(dir string) (*store, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: pebblelog.Quiet{}})
	if err != nil {
		return nil, fmt.Errorf("failed to open the oracle's store in %q: %w", dir, err)
	}
	return &store{db: db}, nil
}

func (s *store) close() error { return s.db.Close() }

const (
	keyCursor   = "oracle/cursor"
	prefixProv  = "oracle/p/"
	prefixVote  = "oracle/v/"
	prefixProbe = "oracle/probe/"
	prefixEpoch = "oracle/epoch/"
)

func (s *store) get(key string, v any) (bool, error) {
	raw, closer, err := s.db.Get([]byte(key))
	if errors.Is(err, pebble.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("failed to read %s: %w", key, err)
	}
	defer closer.Close()
	if err := json.Unmarshal(raw, v); err != nil {
		return false, fmt.Errorf("corrupt record %s: %w", key, err)
	}
	return true, nil
}

// put writes key=v (JSON) durably.
func (s *store) put(key string, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to encode %s: %w", key, err)
	}
	if err := s.db.Set([]byte(key), raw, pebble.Sync); err != nil {
		return fmt.Errorf("failed to write %s: %w", key, err)
	}
	return nil
}

// scan calls fn with every key under prefix (without it) and its value, in key order.
func (s *store) scan(prefix string, fn func(key string, v []byte) error) error {
	lower := []byte(prefix)
	upper := append([]byte(prefix[:len(prefix)-1]), prefix[len(prefix)-1]+1)
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lower, UpperBound: upper})
	if err != nil {
		return err
	}
	for ok := it.First(); ok && err == nil; ok = it.Next() {
		err = fn(string(it.Key()[len(lower):]), it.Value())
	}
	return errors.Join(err, it.Error(), it.Close())
}

// ---------------------------------------------------------------- records

// providerRecord is a Provider contract found in the registry's transactions.
type providerRecord struct {
	Provider string `json:"provider"` // raw
	Owner    string `json:"owner"`    // raw
	FoundLT  uint64 `json:"found_lt"`
}

// voteState is what became of a vote.
type voteState string

const (
	votePending voteState = "pending" // recorded before sending; the journal has the message (or nothing went out)
	voteDone    voteState = "done"    // the provider applied it
	voteFailed  voteState = "failed"  // refused or given up: nothing stands
)

// voteRecord is the oracle's latest vote for a provider. It is written (fsynced) before the vote is
// sent, so a restart, even after kill -9, asks again for exactly the same vote (same claim, same
// validUntil, so the same transaction manager key) instead of a second one.
type voteRecord struct {
	Measurement    string `json:"measurement"` // hex
	EvidenceDigest string `json:"evidence_digest"`
	TLSKeyHash     string `json:"tls_key_hash"`
	ClaimHash      string `json:"claim_hash"`
	ValidUntil     uint32 `json:"valid_until"`
	// OracleEpoch is the registry's oracle epoch when the vote was planned: a later RemoveOracle voids
	// every vote cast before it (providers drop them), so the oracle votes again.
	OracleEpoch uint32    `json:"oracle_epoch"`
	Key         string    `json:"key"` // the transaction manager's request key
	State       voteState `json:"state"`
	At          time.Time `json:"at"`
	Error       string    `json:"error,omitempty"`
	TxLT        uint64    `json:"tx_lt,omitempty"`
}

// probeRecord is one probe's result.
type probeRecord struct {
	OK        bool   `json:"ok"`
	LatencyMs uint32 `json:"latency_ms"`
	Error     string `json:"error,omitempty"`
}

// epochRecord is an epoch's table as built, signed and committed.
type epochRecord struct {
	Epoch     uint32             `json:"epoch"`
	Entries   []uptime.EntryJSON `json:"entries"`
	Root      string             `json:"root"`
	Count     uint32             `json:"count"`
	Signature string             `json:"signature"`
	Commit    uptime.Commit      `json:"commit"`
	Key       string             `json:"key,omitempty"`
}

func (s *store) cursor() (discover.Cursor, error) {
	var c discover.Cursor
	_, err := s.get(keyCursor, &c)
	return c, err
}

// addProviders records new providers and the cursor in one batch.
func (s *store) addProviders(recs []providerRecord, c discover.Cursor) error {
	b := s.db.NewBatch()
	defer b.Close()
	for _, r := range recs {
		raw, _ := json.Marshal(r)
		if err := b.Set([]byte(prefixProv+r.Provider), raw, nil); err != nil {
			return err
		}
	}
	raw, _ := json.Marshal(c)
	if err := b.Set([]byte(keyCursor), raw, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return fmt.Errorf("failed to record providers: %w", err)
	}
	return nil
}

func (s *store) providers() ([]providerRecord, error) {
	var out []providerRecord
	err := s.scan(prefixProv, func(_ string, v []byte) error {
		var r providerRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append(out, r)
		return nil
	})
	return out, err
}

func (s *store) vote(provider string) (*voteRecord, error) {
	var r voteRecord
	ok, err := s.get(prefixVote+provider, &r)
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *store) putVote(provider string, r *voteRecord) error { return s.put(prefixVote+provider, r) }

func probeKey(epoch uint32, provider string, at time.Time) string {
	return fmt.Sprintf("%s%08x/%s/%016x", prefixProbe, epoch, provider, uint64(at.UnixNano()))
}

func (s *store) putProbe(epoch uint32, provider string, at time.Time, r probeRecord) error {
	return s.put(probeKey(epoch, provider, at), r)
}

// probesOf calls fn with every probe of epoch, by provider (raw) in key order.
func (s *store) probesOf(epoch uint32, fn func(provider string, r probeRecord) error) error {
	return s.scan(fmt.Sprintf("%s%08x/", prefixProbe, epoch), func(key string, v []byte) error {
		var r probeRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		provider := key[:len(key)-17] // "<raw>/<16 hex>"
		return fn(provider, r)
	})
}

func epochKey(n uint32) string { return fmt.Sprintf("%s%08x", prefixEpoch, n) }

func (s *store) epoch(n uint32) (*epochRecord, error) {
	var r epochRecord
	ok, err := s.get(epochKey(n), &r)
	if !ok || err != nil {
		return nil, err
	}
	return &r, nil
}

func (s *store) putEpoch(r *epochRecord) error { return s.put(epochKey(r.Epoch), r) }

// epochs lists the stored tables, newest first.
func (s *store) epochs() ([]*epochRecord, error) {
	var out []*epochRecord
	err := s.scan(prefixEpoch, func(_ string, v []byte) error {
		var r epochRecord
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		out = append([]*epochRecord{&r}, out...)
		return nil
	})
	return out, err
}

// prune deletes probes and tables of epochs before keepFrom.
func (s *store) prune(keepFrom uint32) error {
	b := s.db.NewBatch()
	defer b.Close()
	err := errors.Join(
		b.DeleteRange([]byte(prefixProbe), []byte(fmt.Sprintf("%s%08x", prefixProbe, keepFrom)), nil),
		b.DeleteRange([]byte(prefixEpoch), []byte(epochKey(keepFrom)), nil),
	)
	if err == nil {
		err = b.Commit(pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("failed to prune old epochs: %w", err)
	}
	return nil
}
