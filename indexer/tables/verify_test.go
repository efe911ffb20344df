package tables

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/indexer/store"
	"github.com/cocoon-go/cocoon/uptime"
)

func addr(i int) *address.Address {
	h := sha256.Sum256([]byte{byte(i)})
	return address.NewAddress(0, 0, h[:])
}

// served is an oracle's table of epoch as its API serves it, and the commitment of its root.
func served(t *testing.T, registry, oracle *address.Address, epoch uint32, length int64, n int) (store.Commitment, *uptime.TableResponse) {
	t.Helper()
	var entries []uptime.Entry
	for i := range n {
		entries = append(entries, uptime.Entry{Provider: addr(i), ProbesOK: uint32(3 + i), ProbesTotal: 4 + uint32(i), LatencyP50Ms: 20, LatencyP90Ms: 30 + uint32(i)})
	}
	table, err := uptime.Build(epoch, entries)
	if err != nil {
		t.Fatal(err)
	}
	root := table.Root()
	start := time.Unix(int64(epoch)*length, 0).UTC()
	r := &uptime.TableResponse{Registry: registry.StringRaw(), Oracle: oracle.StringRaw(), Epoch: epoch, EpochSeconds: length,
		Start: start, End: start.Add(time.Duration(length) * time.Second), Root: hex.EncodeToString(root[:]), ProviderCount: table.Count()}
	for _, e := range table.Entries {
		r.Entries = append(r.Entries, e.ToJSON(epoch))
	}
	c := store.Commitment{Oracle: oracle.StringRaw(), Epoch: epoch, Root: hex.EncodeToString(root[:]), ProviderCount: table.Count(),
		CommittedAt: uint32(r.End.Unix()) + 20, LT: 77, Tx: "ab"}
	return c, r
}

// TestVerify: a table is accepted only when it is exactly the committed one, for this registry,
// oracle and epoch, over an epoch that ended before the commitment; anything else is ErrMismatch
// and yields no rows.
func TestVerify(t *testing.T) {
	registry, oracle := addr(100), addr(101)
	cases := []struct {
		name   string
		edit   func(c *store.Commitment, r *uptime.TableResponse)
		reason string // "": verifies
	}{
		{name: "the committed table"},
		{name: "served in another order", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Entries[0], r.Entries[4] = r.Entries[4], r.Entries[0]
		}},
		{name: "user-friendly addresses", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Registry, r.Oracle = registry.String(), oracle.String()
		}},
		{name: "a boosted entry", reason: "does not verify", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Entries[2].ProbesOK = r.Entries[2].ProbesTotal
		}},
		{name: "a lower latency", reason: "does not verify", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.Entries[1].LatencyP90Ms-- }},
		{name: "an entry left out", reason: "4 entries, the commitment has 5", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Entries = r.Entries[:4]
		}},
		{name: "an entry added", reason: "6 entries", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Entries = append(r.Entries, uptime.Entry{Provider: addr(9), ProbesOK: 1, ProbesTotal: 1}.ToJSON(r.Epoch))
		}},
		{name: "a provider twice", reason: "listed twice", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.Entries[3] = r.Entries[2] }},
		{name: "more successes than probes", reason: "successful probes", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.Entries[0].ProbesOK = 9
		}},
		{name: "the served root and count believed", reason: "does not verify", edit: func(c *store.Commitment, r *uptime.TableResponse) {
			c.Root = hex.EncodeToString(make([]byte, 32)) // the chain says otherwise than r.Root
		}},
		{name: "another epoch", reason: "for epoch", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.Epoch++ }},
		{name: "another oracle", reason: "oracle", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.Oracle = addr(5).StringRaw() }},
		{name: "another registry", reason: "registry", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.Registry = addr(6).StringRaw() }},
		{name: "an epoch span that is not the epoch's", reason: "not epoch × length", edit: func(_ *store.Commitment, r *uptime.TableResponse) {
			r.End = r.End.Add(time.Second)
		}},
		{name: "no epoch length", reason: "not epoch × length", edit: func(_ *store.Commitment, r *uptime.TableResponse) { r.EpochSeconds = 0 }},
		{name: "an epoch that ended after its commitment", reason: "after its root was committed", edit: func(c *store.Commitment, r *uptime.TableResponse) {
			c.CommittedAt = uint32(r.End.Unix()) - 1
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, r := served(t, registry, oracle, 440_000, 3600, 5)
			if tc.edit != nil {
				tc.edit(&c, r)
			}
			v, err := Verify(c, registry, r)
			if tc.reason == "" {
				if err != nil {
					t.Fatal(err)
				}
				if len(v.Rows) != 5 || v.Start != 440_000*3600 || v.End != v.Start+3600 {
					t.Fatalf("verified %+v", v)
				}
				for _, row := range v.Rows {
					if row.Oracle != oracle.StringRaw() || row.LT != 77 || row.Epoch != 440_000 || row.ProbesOK > row.ProbesTotal {
						t.Fatalf("row %+v", row)
					}
				}
				return
			}
			if !errors.Is(err, ErrMismatch) || v != nil {
				t.Fatalf("want ErrMismatch and nothing verified, got %v, %+v", err, v)
			}
			if !strings.Contains(err.Error(), tc.reason) {
				t.Fatalf("error %q does not say %q", err, tc.reason)
			}
		})
	}
}

// TestBackoff: a table that could not be had is asked for again after Poll, doubling, at most hourly.
func TestBackoff(t *testing.T) {
	f := &Fetcher{cfg: Config{Poll: 30 * time.Second}}
	for n, want := range map[int]time.Duration{1: 30 * time.Second, 2: time.Minute, 3: 2 * time.Minute, 7: 32 * time.Minute, 8: time.Hour, 30: time.Hour} {
		if got := f.backoff(n); got != want {
			t.Errorf("after attempt %d: %v, want %v", n, got, want)
		}
	}
}
