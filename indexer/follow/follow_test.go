package follow_test

import (
	"context"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/indexer/follow"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
	"github.com/cocoon-go/cocoon/indexer/store"
)

func TestScenarioReplayMatchesStorage(t *testing.T) {
	n := indexertest.New(t, indexertest.Options{BlockInterval: 10 * time.Millisecond})
	t0 := time.Now()
	w := indexertest.Scenario(n)
	t.Logf("scenario took %v", time.Since(t0))
	st, err := store.Open(t.TempDir(), store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	f, err := follow.New(follow.Config{Chain: n.D.Client(), Store: st, Registry: w.Registry})
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	c, _ := st.Counters()
	t.Logf("ingested %d, counters %+v", got, c)
	if c.Mismatches != 0 {
		t.Fatalf("%d mismatches", c.Mismatches)
	}
	if c.Unknown != w.UnknownBodies {
		t.Fatalf("unknown %d want %d", c.Unknown, w.UnknownBodies)
	}
}
