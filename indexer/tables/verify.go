package tables

import (
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/indexer/store"
	"github.com/cocoon-go/cocoon/uptime"
)

// Verified is a table that matched its commitment: the epoch's span and one row per entry.
type Verified struct {
	Start, End uint32
	Rows       []store.UptimeRow
}

// Verify checks an oracle's table against the commitment the registry accepted, trusting nothing the
// oracle says but the entries it checks:
//
//  1. the table is for the followed registry, the committing oracle and the committed epoch;
//  2. its epoch span is whole seconds, is epoch × epoch_seconds up to the next epoch, and ended no
//     later than the commitment's on-chain time (an oracle commits an epoch only after it ended);
//  3. the entries make a table (uptime.Build: each entry valid, no provider twice) of exactly the
//     committed provider count;
//  4. every entry, with its proof in that table, verifies against the committed root and count
//     (uptime.Verify), so the table is exactly the committed one.
//
// Every failure wraps ErrMismatch.
func Verify(c store.Commitment, registry *address.Address, t *uptime.TableResponse) (*Verified, error) {
	fail := func(format string, args ...any) (*Verified, error) {
		return nil, fmt.Errorf("%w: oracle %s, epoch %d: %s", ErrMismatch, c.Oracle, c.Epoch, fmt.Sprintf(format, args...))
	}
	if !sameAddr(t.Registry, registry.StringRaw()) {
		return fail("the table is for registry %q", t.Registry)
	}
	if !sameAddr(t.Oracle, c.Oracle) {
		return fail("the table is oracle %q's", t.Oracle)
	}
	if t.Epoch != c.Epoch {
		return fail("the table is for epoch %d", t.Epoch)
	}
	length := t.EpochSeconds
	start := int64(c.Epoch) * length
	if length <= 0 || !t.Start.Equal(time.Unix(start, 0)) || !t.End.Equal(time.Unix(start+length, 0)) {
		return fail("epoch of %d s from %s to %s is not epoch × length to the next", length, t.Start.Format(time.RFC3339), t.End.Format(time.RFC3339))
	}
	if start+length > int64(c.CommittedAt) {
		return fail("the epoch ends at %s, after its root was committed at %s", t.End.UTC().Format(time.RFC3339), time.Unix(int64(c.CommittedAt), 0).UTC().Format(time.RFC3339))
	}
	root, err := uptime.ParseHash(c.Root)
	if err != nil {
		return fail("the committed root: %v", err)
	}
	entries := make([]uptime.Entry, 0, len(t.Entries))
	for _, j := range t.Entries {
		e, err := j.Entry()
		if err != nil {
			return fail("%v", err)
		}
		entries = append(entries, e)
	}
	table, err := uptime.Build(c.Epoch, entries)
	if err != nil {
		return fail("%v", err)
	}
	if table.Count() != c.ProviderCount {
		return fail("%d entries, the commitment has %d", table.Count(), c.ProviderCount)
	}
	v := &Verified{Start: uint32(start), End: uint32(start + length), Rows: make([]store.UptimeRow, 0, len(table.Entries))}
	for i, e := range table.Entries {
		proof, err := table.Prove(i)
		if err != nil {
			return fail("%v", err)
		}
		if err := uptime.Verify(root, c.ProviderCount, c.Epoch, e, proof); err != nil {
			return fail("the entry of %s: %v", e.Provider.StringRaw(), err)
		}
		v.Rows = append(v.Rows, store.UptimeRow{Provider: e.Provider.StringRaw(), Oracle: c.Oracle, LT: c.LT, Epoch: c.Epoch, Start: v.Start, End: v.End,
			ProbesOK: e.ProbesOK, ProbesTotal: e.ProbesTotal, LatencyP50: e.LatencyP50Ms, LatencyP90: e.LatencyP90Ms})
	}
	return v, nil
}

// sameAddr compares an address as an oracle wrote it (raw or user-friendly) with a raw one.
func sameAddr(s, raw string) bool {
	a, err := address.ParseRawAddr(s)
	if err != nil {
		if a, err = address.ParseAddr(s); err != nil {
			return false
		}
	}
	return a.StringRaw() == raw
}
