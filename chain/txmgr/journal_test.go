package txmgr_test

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/txmgr"
)

// Both journals keep entries by key, list only the pending ones (oldest first) and prune finished
// entries past retention, never pending ones.
func TestJournals(t *testing.T) {
	db, err := txmgr.OpenJournal(filepath.Join(t.TempDir(), "journal"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	w := fresh(1)
	for name, j := range map[string]txmgr.Journal{"memory": txmgr.NewMemJournal(), "pebble": db.For(w)} {
		t.Run(name, func(t *testing.T) {
			now := time.Now()
			put := func(key string, state txmgr.EntryState, age time.Duration) {
				t.Helper()
				if err := j.Put(&txmgr.Entry{Key: key, State: state, Created: now.Add(-age)}); err != nil {
					t.Fatal(err)
				}
			}
			put("b", txmgr.StatePending, time.Hour)
			put("a", txmgr.StatePending, 2*time.Hour)
			put("old-done", txmgr.StateDone, 48*time.Hour)
			put("old-failed", txmgr.StateFailed, 48*time.Hour)
			put("old-pending", txmgr.StatePending, 48*time.Hour)
			put("new-done", txmgr.StateDone, time.Minute)
			put("b", txmgr.StateDone, time.Hour) // b finishes
			pending, err := j.Pending()
			if err != nil || len(pending) != 2 || pending[0].Key != "old-pending" || pending[1].Key != "a" {
				t.Fatalf("pending: %v %v", keys(pending), err)
			}
			if err := j.Prune(now.Add(-24 * time.Hour)); err != nil {
				t.Fatal(err)
			}
			for key, want := range map[string]bool{"a": true, "b": true, "old-done": false, "old-failed": false, "old-pending": true, "new-done": true} {
				if _, ok, err := j.Get(key); err != nil || ok != want {
					t.Errorf("%s after prune: present %v (%v), want %v", key, ok, err, want)
				}
			}
			if err := j.Delete("a"); err != nil {
				t.Fatal(err)
			}
			if pending, _ := j.Pending(); len(pending) != 1 {
				t.Fatalf("pending after delete: %v", keys(pending))
			}
		})
	}
}

func keys(es []*txmgr.Entry) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Key)
	}
	return out
}
