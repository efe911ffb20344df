package contracts

import (
	"bytes"
	"crypto/sha256"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// VoteList decodes the (validUntil << 8 | slot) keys, orders the largest validUntil first (then the
// larger slot, the contract's iteration order) and refuses values with extra data.
func TestVoteList(t *testing.T) {
	d := cell.NewDict(40)
	put := func(validUntil uint32, slot uint8, fill byte, round uint32) {
		key := cell.BeginCell().MustStoreUInt(uint64(validUntil)<<8|uint64(slot), 40).EndCell()
		val := cell.BeginCell().MustStoreSlice(bytes.Repeat([]byte{fill}, 32), 256).MustStoreUInt(uint64(round), 32).EndCell()
		require.NoError(t, d.Set(key, val))
	}
	put(1_800_000_100, 3, 0xaa, 1)
	put(1_800_003_600, 0, 0xbb, 2)
	put(1_800_003_600, 63, 0xaa, 2)
	votes, err := VoteList(d)
	require.NoError(t, err)
	require.Len(t, votes, 3)
	var got [][3]uint32
	for _, v := range votes {
		got = append(got, [3]uint32{v.ValidUntil, uint32(v.Slot), v.Round})
	}
	require.Equal(t, [][3]uint32{{1_800_003_600, 63, 2}, {1_800_003_600, 0, 2}, {1_800_000_100, 3, 1}}, got)
	require.Equal(t, bytes.Repeat([]byte{0xbb}, 32), votes[1].ClaimHash)

	empty, err := VoteList(cell.NewDict(40))
	require.NoError(t, err)
	require.Empty(t, empty)

	bad := cell.NewDict(40)
	require.NoError(t, bad.Set(cell.BeginCell().MustStoreUInt(1<<8, 40).EndCell(),
		cell.BeginCell().MustStoreSlice(make([]byte, 32), 256).MustStoreUInt(0, 32).MustStoreUInt(1, 1).EndCell()))
	_, err = VoteList(bad)
	require.Error(t, err)
}

// ClaimHash is sha256 over the three 32-byte hashes; TestFixtureGetters proves it equals the hash the
// contract stores for a vote.
func TestClaimHash(t *testing.T) {
	m, e, k := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32), bytes.Repeat([]byte{3}, 32)
	h, err := ClaimHash(m, e, k)
	require.NoError(t, err)
	want := sha256.Sum256(append(append(append([]byte{}, m...), e...), k...))
	require.Equal(t, want[:], h)
	_, err = ClaimHash(m, e, k[:31])
	require.ErrorIs(t, err, ErrBadClaim)
}
