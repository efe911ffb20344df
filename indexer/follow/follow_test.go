package follow_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
	"github.com/cocoon-go/cocoon/indexer/state"
	"github.com/cocoon-go/cocoon/indexer/store"
)

func sync(t *testing.T, n *indexertest.Net, registry *address.Address, cfg follow.Config) *store.Store {
	t.Helper()
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	cfg.Chain, cfg.Store, cfg.Registry = n.D.Client(), st, registry
	f, err := follow.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Sync(context.Background()); err != nil {
		t.Fatal(err)
	}
	return st
}

func dump(t *testing.T, s *store.Store) []string {
	t.Helper()
	var out []string
	if err := s.Each(func(k, v []byte) error {
		out = append(out, fmt.Sprintf("%x=%s", k, v))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

// The scenario of every operation on a block-mode devnet, followed to its end: every contract's
// replayed state equals its storage (no reconciliation had to correct one); a follower that
// holds at most 4 transactions in memory and lists 3 at a time (so it drops pages and reads them
// again) writes the same store, key for key; and ingesting every transaction a second time
// changes nothing.
func TestFollowScenario(t *testing.T) {
	n := indexertest.New(t, indexertest.Options{BlockInterval: 10 * time.Millisecond})
	w := indexertest.Scenario(n)
	st := sync(t, n, w.Registry, follow.Config{})
	c, err := st.Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.Mismatches != 0 {
		t.Fatalf("%d replayed states differed from the contracts' storage", c.Mismatches)
	}
	if c.Unknown != w.UnknownBodies {
		t.Fatalf("%d unknown bodies counted, the scenario sent %d", c.Unknown, w.UnknownBodies)
	}
	for _, k := range []state.Kind{state.KindRegistry, state.KindProvider, state.KindChannel} {
		states, err := st.States(k)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range states {
			if s.Checked != s.LT || s.Balance == nil {
				t.Fatalf("%s %s was not checked against its storage at its last transaction", k, s.Address)
			}
		}
	}
	want := dump(t, st)

	small := sync(t, n, w.Registry, follow.Config{PageSize: 3, MaxBacklog: 4, BatchSize: 2, Workers: 1})
	if got := dump(t, small); !slices.Equal(want, got) {
		t.Fatalf("a follower with small pages wrote another store: %d keys vs %d", len(got), len(want))
	}

	accts, err := st.Accounts("")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		txs, err := n.D.Transactions(address.MustParseRawAddr(a.Address), 10_000, 0, nil)
		if err != nil {
			t.Fatal(err)
		}
		slices.Reverse(txs)
		res, err := st.Ingest(store.Batch{Account: a, Txs: txs})
		if err != nil {
			t.Fatal(err)
		}
		if res.Ingested != 0 || res.Skipped != len(txs) {
			t.Fatalf("%s: ingesting its %d transactions again ingested %d", a.Address, len(txs), res.Ingested)
		}
	}
	if got := dump(t, st); !slices.Equal(want, got) {
		t.Fatal("ingesting the transactions again changed the store")
	}
}
