// Package uptime is the oracles' uptime table and its Merkle commitment: what an oracle commits
// on-chain (the Registry's SubmitUptimeRoot) and serves over HTTP, and what a client checks.
//
// An oracle probes every active provider during an epoch (a fixed span of unix time, see Epoch) and
// then builds one Entry per provider it probed. The entries, sorted by provider address, are the
// leaves of a binary Merkle tree; the root and the number of leaves go on-chain. Anyone holding an
// entry, its Proof and the on-chain (root, count) can check that the oracle committed exactly that
// entry at exactly that place, without the rest of the table (Verify).
//
// Hashing (docs/PROTOCOL.md "Uptime tables and their Merkle root"):
//
//	leaf = SHA-256(0x00 || "cocoon/v1/uptime" || epoch:u32 || workchain:i8 || address:32 ||
//	               probesOK:u32 || probesTotal:u32 || latencyP50ms:u32 || latencyP90ms:u32)
//	node = SHA-256(0x01 || left || right)
//	root = SHA-256(0x02 || "cocoon/v1/uptime" || epoch:u32 || count:u32 || top)
//
// integers big-endian. The tree is built level by level: adjacent nodes are paired left to right,
// and the last node of a level with an odd count is carried up unchanged (never paired with itself,
// so no two tables share a root by duplication). top is the single node left (the leaf itself for one
// leaf, 32 zero bytes for none). The root binds the epoch and the leaf count, so a proof checks
// against exactly the (root, providerCount) committed on-chain. The 0x00 / 0x01 / 0x02 prefixes keep
// leaves, nodes and roots apart.
package uptime

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// Domain is the leaf's domain-separation tag (after the 0x00 leaf prefix).
const Domain = "cocoon/v1/uptime"

const (
	leafPrefix = 0x00
	nodePrefix = 0x01
	rootPrefix = 0x02
)

// Errors of Verify and Build.
var (
	// ErrProof is a proof that does not lead from the entry to the root.
	ErrProof = errors.New("uptime proof does not verify")
	// ErrTable is a table that cannot be committed (duplicate or missing providers, bad counts).
	ErrTable = errors.New("invalid uptime table")
)

// Hash is a SHA-256 digest.
type Hash = [32]byte

// Entry is one provider's row of an oracle's table for an epoch.
type Entry struct {
	// Provider is the Provider contract's address (the leaf holds its workchain and hash).
	Provider *address.Address
	// ProbesOK of ProbesTotal probes succeeded during the epoch.
	ProbesOK    uint32
	ProbesTotal uint32
	// LatencyP50Ms and LatencyP90Ms are the nearest-rank percentiles of the successful probes'
	// durations, in whole milliseconds (0 when none succeeded).
	LatencyP50Ms uint32
	LatencyP90Ms uint32
}

// Check reports an entry no table may hold.
func (e Entry) Check() error {
	switch {
	case e.Provider == nil || e.Provider.Type() != address.StdAddress:
		return fmt.Errorf("%w: entry without a standard provider address", ErrTable)
	case e.ProbesOK > e.ProbesTotal:
		return fmt.Errorf("%w: %s has %d successful probes of %d", ErrTable, e.Provider.StringRaw(), e.ProbesOK, e.ProbesTotal)
	case e.LatencyP50Ms > e.LatencyP90Ms:
		return fmt.Errorf("%w: %s has p50 %d ms above p90 %d ms", ErrTable, e.Provider.StringRaw(), e.LatencyP50Ms, e.LatencyP90Ms)
	}
	return nil
}

// Leaf is the entry's leaf hash in the table of epoch.
func (e Entry) Leaf(epoch uint32) Hash {
	b := make([]byte, 0, 1+len(Domain)+4+1+32+16)
	b = append(b, leafPrefix)
	b = append(b, Domain...)
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = append(b, byte(int8(e.Provider.Workchain())))
	b = append(b, e.Provider.Data()...)
	b = binary.BigEndian.AppendUint32(b, e.ProbesOK)
	b = binary.BigEndian.AppendUint32(b, e.ProbesTotal)
	b = binary.BigEndian.AppendUint32(b, e.LatencyP50Ms)
	b = binary.BigEndian.AppendUint32(b, e.LatencyP90Ms)
	return sha256.Sum256(b)
}

func node(l, r Hash) Hash {
	var b [1 + 64]byte
	b[0] = nodePrefix
	copy(b[1:], l[:])
	copy(b[33:], r[:])
	return sha256.Sum256(b[:])
}

// rootOf is the committed root over the top node of a tree of count leaves.
func rootOf(epoch, count uint32, top Hash) Hash {
	b := make([]byte, 0, 1+len(Domain)+8+32)
	b = append(b, rootPrefix)
	b = append(b, Domain...)
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = binary.BigEndian.AppendUint32(b, count)
	b = append(b, top[:]...)
	return sha256.Sum256(b)
}

// CompareProviders orders entries as the table does: by workchain, then by address hash bytes.
func CompareProviders(a, b *address.Address) int {
	if c := cmp.Compare(a.Workchain(), b.Workchain()); c != 0 {
		return c
	}
	return bytes.Compare(a.Data(), b.Data())
}

// Table is an oracle's uptime table of one epoch: its entries in leaf order.
type Table struct {
	Epoch uint32
	// Entries INVARIANT: sorted by CompareProviders, no provider twice (Build enforces it).
	Entries []Entry
	levels  [][]Hash // levels[0] are the leaves, the last level holds the root
}

// Build sorts entries into a table and computes its tree. It refuses a provider listed twice and
// entries that fail Check.
func Build(epoch uint32, entries []Entry) (*Table, error) {
	if len(entries) > math.MaxUint32 {
		return nil, fmt.Errorf("%w: %d entries", ErrTable, len(entries))
	}
	es := slices.Clone(entries)
	for _, e := range es {
		if err := e.Check(); err != nil {
			return nil, err
		}
	}
	slices.SortFunc(es, func(a, b Entry) int { return CompareProviders(a.Provider, b.Provider) })
	for i := 1; i < len(es); i++ {
		if CompareProviders(es[i-1].Provider, es[i].Provider) == 0 {
			return nil, fmt.Errorf("%w: provider %s listed twice", ErrTable, es[i].Provider.StringRaw())
		}
	}
	t := &Table{Epoch: epoch, Entries: es}
	leaves := make([]Hash, len(es))
	for i, e := range es {
		leaves[i] = e.Leaf(epoch)
	}
	t.levels = [][]Hash{leaves}
	for level := leaves; len(level) > 1; {
		next := make([]Hash, 0, (len(level)+1)/2)
		for i := 0; i+1 < len(level); i += 2 {
			next = append(next, node(level[i], level[i+1]))
		}
		if len(level)%2 == 1 {
			next = append(next, level[len(level)-1])
		}
		t.levels = append(t.levels, next)
		level = next
	}
	return t, nil
}

// Count is the number of leaves (the on-chain providerCount).
func (t *Table) Count() uint32 { return uint32(len(t.Entries)) }

// Root is the committed root: the tree's top node bound to the epoch and the leaf count.
func (t *Table) Root() Hash {
	var top Hash
	if len(t.Entries) > 0 {
		top = t.levels[len(t.levels)-1][0]
	}
	return rootOf(t.Epoch, t.Count(), top)
}

// Find is the index of provider's entry, or -1.
func (t *Table) Find(provider *address.Address) int {
	i, ok := slices.BinarySearchFunc(t.Entries, provider, func(e Entry, p *address.Address) int { return CompareProviders(e.Provider, p) })
	if !ok {
		return -1
	}
	return i
}

// Proof is the path from one leaf to the root: the index of the leaf among Count leaves and the
// sibling hashes from the leaf's level up (levels where the node is carried up have none).
type Proof struct {
	Index    uint32
	Count    uint32
	Siblings []Hash
}

// Prove returns the proof of the entry at index i.
func (t *Table) Prove(i int) (Proof, error) {
	if i < 0 || i >= len(t.Entries) {
		return Proof{}, fmt.Errorf("%w: no entry %d in a table of %d", ErrTable, i, len(t.Entries))
	}
	p := Proof{Index: uint32(i), Count: t.Count()}
	idx := i
	for _, level := range t.levels[:len(t.levels)-1] {
		switch {
		case idx%2 == 1:
			p.Siblings = append(p.Siblings, level[idx-1])
		case idx+1 < len(level):
			p.Siblings = append(p.Siblings, level[idx+1])
		}
		idx /= 2
	}
	return p, nil
}

// Verify checks that entry, at the proof's place among count leaves, is in the table of epoch whose
// root is root: what a client does with the on-chain (root, providerCount) of an oracle
// (get_uptime_root) and the entry and proof the oracle serves. count must be the on-chain count, not
// the proof's own (a proof for another count is refused).
func Verify(root Hash, count uint32, epoch uint32, entry Entry, p Proof) error {
	if err := entry.Check(); err != nil {
		return err
	}
	if p.Count != count {
		return fmt.Errorf("%w: proof for a table of %d entries, the commitment has %d", ErrProof, p.Count, count)
	}
	if count == 0 || p.Index >= count {
		return fmt.Errorf("%w: index %d outside a table of %d entries", ErrProof, p.Index, count)
	}
	h := entry.Leaf(epoch)
	idx, n, used := p.Index, count, 0
	next := func() (Hash, bool) {
		if used >= len(p.Siblings) {
			return Hash{}, false
		}
		used++
		return p.Siblings[used-1], true
	}
	for n > 1 {
		switch {
		case idx%2 == 1:
			s, ok := next()
			if !ok {
				return fmt.Errorf("%w: too few sibling hashes", ErrProof)
			}
			h = node(s, h)
		case idx+1 < n:
			s, ok := next()
			if !ok {
				return fmt.Errorf("%w: too few sibling hashes", ErrProof)
			}
			h = node(h, s)
		}
		idx /= 2
		n = (n + 1) / 2
	}
	if used != len(p.Siblings) {
		return fmt.Errorf("%w: %d sibling hashes, the path needs %d", ErrProof, len(p.Siblings), used)
	}
	if h = rootOf(epoch, count, h); h != root {
		return fmt.Errorf("%w: the path leads to root %x, the commitment is %x", ErrProof, h, root)
	}
	return nil
}

// Epoch is the epoch of unix time t for epochs of length d: floor(t / d). Epoch n covers
// [n·d, (n+1)·d).
func Epoch(t time.Time, d time.Duration) uint32 {
	return uint32(t.Unix() / int64(d/time.Second))
}

// EpochStart is the first second of epoch n.
func EpochStart(n uint32, d time.Duration) time.Time {
	return time.Unix(int64(n)*int64(d/time.Second), 0).UTC()
}

// Percentile is the nearest-rank p-th percentile (0 < p ≤ 100) of sorted (ascending) values: the
// value at rank ceil(p/100 · n); 0 when values is empty.
func Percentile(sorted []uint32, p int) uint32 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100
	return sorted[max(rank, 1)-1]
}
