package voucher

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func testKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func testVoucher() Voucher {
	return Voucher{
		Channel:          address.NewAddress(0, 0, bytes.Repeat([]byte{0xc7}, 32)),
		Amount:           big.NewInt(1_234_567_890),
		PromptTokens:     100_000,
		CompletionTokens: 25_000,
	}
}

// tlbVoucher is the voucher layout written independently with tonutils-go's tlb tags: Cell must
// produce the same bits as this generic encoder.
type tlbVoucher struct {
	_                tlb.Magic        `tlb:"#766f7563"`
	Channel          *address.Address `tlb:"addr"`
	Amount           tlb.Coins        `tlb:"."`
	PromptTokens     uint64           `tlb:"## 64"`
	CompletionTokens uint64           `tlb:"## 64"`
}

func TestCellMatchesTLB(t *testing.T) {
	for _, v := range []Voucher{
		testVoucher(),
		{Channel: address.NewAddress(0, 0xff, bytes.Repeat([]byte{1}, 32)), Amount: new(big.Int)},
		{Channel: address.NewAddress(0, 0, make([]byte, 32)), Amount: new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1)), PromptTokens: ^uint64(0), CompletionTokens: ^uint64(0)},
	} {
		got, err := v.Cell()
		require.NoError(t, err)
		h, err := v.Hash()
		require.NoError(t, err)
		require.Equal(t, got.Hash(), h, "direct hash")
		want, err := tlb.ToCell(tlbVoucher{Channel: v.Channel, Amount: tlb.FromNanoTON(v.Amount), PromptTokens: v.PromptTokens, CompletionTokens: v.CompletionTokens})
		require.NoError(t, err)
		require.Equal(t, want.Hash(), got.Hash(), "got %s\nwant %s", got.Dump(), want.Dump())
		require.Zero(t, got.RefsNum())

		back, err := Parse(got)
		require.NoError(t, err)
		require.Equal(t, v.Channel.StringRaw(), back.Channel.StringRaw())
		require.Zero(t, v.Amount.Cmp(back.Amount))
		require.Equal(t, v.PromptTokens, back.PromptTokens)
		require.Equal(t, v.CompletionTokens, back.CompletionTokens)
		again, err := back.Cell()
		require.NoError(t, err)
		require.Equal(t, got.Hash(), again.Hash())

		fromBOC, err := ParseBOC(got.ToBOCWithFlags(true, true, true))
		require.NoError(t, err)
		require.Equal(t, back, fromBOC)
	}
}

func TestCheckRejects(t *testing.T) {
	std := address.NewAddress(0, 0, make([]byte, 32))
	for name, v := range map[string]Voucher{
		"no channel":    {Amount: big.NewInt(1)},
		"addr none":     {Channel: address.NewAddressNone(), Amount: big.NewInt(1)},
		"var address":   {Channel: address.NewAddressVar(0, 0, 256, make([]byte, 32)), Amount: big.NewInt(1)},
		"extern":        {Channel: address.NewAddressExt(0, 8, []byte{1}), Amount: big.NewInt(1)},
		"anycast":       {Channel: std.Copy().WithAnycast(address.NewAnycast(1, []byte{0x80})), Amount: big.NewInt(1)},
		"short data":    {Channel: address.NewAddress(0, 0, make([]byte, 31)), Amount: big.NewInt(1)},
		"no amount":     {Channel: std},
		"negative":      {Channel: std, Amount: big.NewInt(-1)},
		"amount 2^120":  {Channel: std, Amount: new(big.Int).Lsh(big.NewInt(1), 120)},
		"amount 2^1000": {Channel: std, Amount: new(big.Int).Lsh(big.NewInt(1), 1000)},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Cell()
			require.ErrorIs(t, err, ErrInvalid)
			_, err = v.Sign(testKey(1))
			require.ErrorIs(t, err, ErrInvalid)
		})
	}
	v := testVoucher()
	_, err := v.Sign(ed25519.PrivateKey(make([]byte, 32)))
	require.ErrorIs(t, err, ErrInvalid)
}

func TestParseRejects(t *testing.T) {
	good := testVoucher()
	goodCell, err := good.Cell()
	require.NoError(t, err)
	bits := func(c *cell.Cell) *cell.Builder { return c.ToBuilder() }
	// fields builds a voucher cell from parts so each test breaks exactly one thing.
	fields := func(magic uint64, addrTag uint64, amount func(b *cell.Builder)) *cell.Cell {
		b := cell.BeginCell().MustStoreUInt(magic, 32).MustStoreUInt(addrTag, 3).MustStoreInt(0, 8)
		b.MustStoreSlice(make([]byte, 32), 256)
		amount(b)
		return b.MustStoreUInt(1, 64).MustStoreUInt(2, 64).EndCell()
	}
	coins := func(b *cell.Builder) { b.MustStoreBigCoins(big.NewInt(5)) }
	cases := map[string]struct {
		c    *cell.Cell
		want string
	}{
		"nil":          {nil, "no cell"},
		"empty":        {cell.BeginCell().EndCell(), "too short for the magic"},
		"wrong magic":  {fields(0x766f7564, 0b100, coins), "magic 0x766f7564"},
		"anycast":      {fields(uint64(Magic), 0b101, coins), "has anycast"},
		"addr none":    {cell.BeginCell().MustStoreUInt(uint64(Magic), 32).MustStoreUInt(0, 2).EndCell(), "addr_none, want addr_std"},
		"addr var":     {fields(uint64(Magic), 0b110, coins), "addr_var"},
		"addr extern":  {fields(uint64(Magic), 0b010, coins), "addr_extern"},
		"leading zero": {fields(uint64(Magic), 0b100, func(b *cell.Builder) { b.MustStoreUInt(2, 4).MustStoreUInt(5, 16) }), "shortest encoding"},
		"amount cut": {cell.BeginCell().MustStoreUInt(uint64(Magic), 32).MustStoreUInt(0b100, 3).MustStoreInt(0, 8).
			MustStoreSlice(make([]byte, 32), 256).MustStoreUInt(15, 4).MustStoreUInt(1, 64).EndCell(), "amount claims 15 bytes"},
		"extra bit": {bits(goodCell).MustStoreUInt(0, 1).EndCell(), "1 bits after the last field"},
		"extra ref": {bits(goodCell).MustStoreRef(cell.BeginCell().EndCell()).EndCell(), "1 refs"},
		"truncated": {cell.BeginCell().MustStoreSlice(goodCell.MustBeginParse().MustLoadSlice(goodCell.BitsSize()-1), goodCell.BitsSize()-1).EndCell(),
			"truncated completion tokens"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.c)
			require.ErrorIs(t, err, ErrMalformed)
			require.ErrorContains(t, err, tc.want)
		})
	}

	_, err = ParseBOC(make([]byte, maxBOCLen+1))
	require.ErrorIs(t, err, ErrMalformed)
	_, err = ParseBOC([]byte{1, 2, 3})
	require.ErrorIs(t, err, ErrMalformed)
	two := cell.ToBOCWithFlags([]*cell.Cell{goodCell, goodCell}, false)
	_, err = ParseBOC(two)
	require.ErrorIs(t, err, ErrMalformed)

	// The same bits with level mask 1 in the cell's descriptor: tonutils-go reads it as an
	// ordinary cell of level 1, whose hash differs. Parse must refuse it, or one voucher would
	// have two encodings (and two hashes).
	leveled := levelMaskBOC(t, goodCell)
	c, err := cell.FromBOC(leveled)
	require.NoError(t, err)
	require.Equal(t, 1, c.Level())
	require.NotEqual(t, goodCell.Hash(), c.Hash())
	_, err = ParseBOC(leveled)
	require.ErrorIs(t, err, ErrMalformed)
	require.ErrorContains(t, err, "level 1")
}

// levelMaskBOC is c (no refs) in a BOC without index or CRC whose cell descriptor d1 says level
// mask 1 (0x20): b5ee9c72 01 01 01 01 00 <size> 00 20 <d2> <data>.
func levelMaskBOC(t testing.TB, c *cell.Cell) []byte {
	t.Helper()
	boc := c.ToBOCWithFlags(false)
	const d1 = 11 // magic 4, flags 1, offset size 1, cells 1, roots 1, absent 1, total size 1, root index 1
	if len(boc) <= d1 || boc[d1] != 0 {
		t.Fatalf("unexpected BOC layout %x", boc)
	}
	boc[d1] = 0x20
	return boc
}

func TestSignVerify(t *testing.T) {
	key := testKey(7)
	pub := key.Public().(ed25519.PublicKey)
	v := testVoucher()
	s, err := v.Sign(key)
	require.NoError(t, err)
	require.NoError(t, s.Verify(pub))

	// The signature is TON's standard one over the cell hash (tonutils-go's cell.Sign is the
	// reference @ton/crypto agrees with; contracts/channel_fixtures_test.go checks @ton/crypto
	// bytes directly).
	c, err := v.Cell()
	require.NoError(t, err)
	require.Equal(t, c.Sign(key), s.Signature[:])
	again, err := v.Sign(key)
	require.NoError(t, err)
	require.Equal(t, s.Signature, again.Signature, "ed25519 is deterministic")

	// The signed copy does not alias the caller's voucher.
	v.Amount.SetInt64(1)
	require.NoError(t, s.Verify(pub))

	other := testKey(8).Public().(ed25519.PublicKey)
	require.ErrorIs(t, s.Verify(other), ErrBadSignature)
	require.ErrorIs(t, s.Verify(pub[:31]), ErrBadPublicKey)

	mutations := map[string]func(s *Signed){
		"amount":     func(s *Signed) { s.Amount = new(big.Int).Add(s.Amount, big.NewInt(1)) },
		"prompt":     func(s *Signed) { s.PromptTokens++ },
		"completion": func(s *Signed) { s.CompletionTokens-- },
		"channel":    func(s *Signed) { s.Channel = address.NewAddress(0, 0, bytes.Repeat([]byte{0xc8}, 32)) },
		"workchain":  func(s *Signed) { s.Channel = address.NewAddress(0, 0xff, s.Channel.Data()) },
		"sig bit":    func(s *Signed) { s.Signature[10] ^= 1 },
		"sig S + L":  func(s *Signed) { addL(s.Signature[32:]) },
	}
	for name, mutate := range mutations {
		t.Run(name, func(t *testing.T) {
			m := s
			m.Voucher = s.Copy()
			mutate(&m)
			require.ErrorIs(t, m.Verify(pub), ErrBadSignature)
		})
	}
	bad := s
	bad.Voucher = s.Copy()
	bad.Channel = nil
	require.ErrorIs(t, bad.Verify(pub), ErrInvalid)
}

// addL adds the group order L to a little-endian scalar: the non-canonical twin of a valid S,
// which RFC 8032 and CHKSIGNU both refuse (malleability).
func addL(s []byte) {
	l := []byte{0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
		0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10}
	carry := 0
	for i := range s {
		x := int(s[i]) + int(l[i]) + carry
		s[i] = byte(x)
		carry = x >> 8
	}
}

func TestCompare(t *testing.T) {
	base := testVoucher() // amount 1234567890, prompt 100000, completion 25000
	with := func(f func(v *Voucher)) *Voucher {
		v := base.Copy()
		f(&v)
		return &v
	}
	const max64 = ^uint64(0)
	cases := []struct {
		name  string
		next  *Voucher
		order Ordering
		err   error
		msg   string
		after [2]uint64 // token totals the channel stores when it accepts next
	}{
		{"same", with(func(v *Voucher) {}), Same, ErrNotNewer, "no token total is higher", [2]uint64{}},
		{"amount up", with(func(v *Voucher) { v.Amount.Add(v.Amount, big.NewInt(1)) }), Newer, nil, "", [2]uint64{100000, 25000}},
		{"prompt up", with(func(v *Voucher) { v.PromptTokens++ }), Newer, nil, "", [2]uint64{100001, 25000}},
		{"completion up", with(func(v *Voucher) { v.CompletionTokens++ }), Newer, nil, "", [2]uint64{100000, 25001}},
		{"all up", with(func(v *Voucher) { v.Amount.SetInt64(2e9); v.PromptTokens++; v.CompletionTokens++ }), Newer, nil, "", [2]uint64{100001, 25001}},
		{"amount down", with(func(v *Voucher) { v.Amount.SetInt64(1) }), Older, ErrWentBackwards, "amount 1 < previous 1234567890", [2]uint64{}},
		{"amount down tokens up", with(func(v *Voucher) { v.Amount.SetInt64(1); v.PromptTokens, v.CompletionTokens = max64, max64 }), Older, ErrWentBackwards, "amount 1 < previous", [2]uint64{}},
		{"prompt down", with(func(v *Voucher) { v.PromptTokens-- }), Older, ErrNotNewer, "prompt 99999 <= 100000", [2]uint64{}},
		{"completion down", with(func(v *Voucher) { v.CompletionTokens = 0 }), Older, ErrNotNewer, "completion 0 <= 25000", [2]uint64{}},
		// money orders vouchers: a higher amount is accepted whatever its tokens; the stored totals keep the larger
		{"tokens down amount up", with(func(v *Voucher) { v.Amount.SetInt64(2e9); v.CompletionTokens-- }), Newer, nil, "", [2]uint64{100000, 25000}},
		{"tokens zero amount up", with(func(v *Voucher) { v.Amount.SetInt64(2e9); v.PromptTokens, v.CompletionTokens = 0, 0 }), Newer, nil, "", [2]uint64{100000, 25000}},
		// same amount, mixed tokens: a report-only update either way
		{"same amount mixed", with(func(v *Voucher) { v.PromptTokens++; v.CompletionTokens-- }), Conflicting, nil, "", [2]uint64{100001, 25000}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			o, err := Compare(&base, tc.next)
			require.NoError(t, err)
			require.Equal(t, tc.order, o, o.String())
			err = CheckNewer(&base, tc.next)
			after, aerr := Accept(&base, tc.next)
			if tc.err == nil {
				require.NoError(t, err)
				require.NoError(t, aerr)
				require.True(t, IsNewer(&base, tc.next))
				require.Zero(t, after.Amount.Cmp(tc.next.Amount))
				require.Equal(t, tc.after, [2]uint64{after.PromptTokens, after.CompletionTokens})
			} else {
				require.ErrorIs(t, err, tc.err)
				require.ErrorContains(t, err, tc.msg)
				require.ErrorIs(t, aerr, tc.err)
				require.False(t, IsNewer(&base, tc.next))
			}
			// Compare is antisymmetric
			back, err := Compare(tc.next, &base)
			require.NoError(t, err)
			require.Equal(t, map[Ordering]Ordering{Same: Same, Newer: Older, Older: Newer, Conflicting: Conflicting}[tc.order], back)
		})
	}

	other := with(func(v *Voucher) { v.Channel = address.NewAddress(0, 0, make([]byte, 32)); v.PromptTokens++ })
	_, err := Compare(&base, other)
	require.ErrorIs(t, err, ErrChannelMismatch)
	require.ErrorIs(t, CheckNewer(&base, other), ErrChannelMismatch)
	require.False(t, IsNewer(&base, other), "a voucher of another channel is never newer")
	require.False(t, IsNewer(&base, with(func(v *Voucher) { v.Amount = nil })), "a voucher without an amount is never newer")
	require.ErrorIs(t, CheckNewer(&base, other), ErrChannelMismatch)
	_, err = Compare(nil, &base)
	require.ErrorIs(t, err, ErrInvalid)
	require.ErrorIs(t, CheckNewer(&base, &Voucher{Channel: base.Channel}), ErrInvalid)
	_, err = Accept(&base, nil)
	require.ErrorIs(t, err, ErrInvalid)
}

// The attack the rule exists for: whatever the client signs and has accepted first, the largest
// amount it signed stays acceptable.
func TestLargestAmountStaysClaimable(t *testing.T) {
	base := testVoucher()
	genuine := base.Copy() // 1234567890 nanoTON, 100k, 25k
	absurd := Voucher{Channel: base.Channel, Amount: new(big.Int), PromptTokens: ^uint64(0), CompletionTokens: ^uint64(0)}
	st, err := Accept(nil, &absurd)
	require.NoError(t, err)
	st, err = Accept(&st, &genuine)
	require.NoError(t, err)
	require.Zero(t, st.Amount.Cmp(genuine.Amount))
	require.Equal(t, [2]uint64{^uint64(0), ^uint64(0)}, [2]uint64{st.PromptTokens, st.CompletionTokens})
}

func TestOwed(t *testing.T) {
	prev := testVoucher()
	next := prev.Copy()
	next.Amount.Add(next.Amount, big.NewInt(700))
	next.PromptTokens += 30
	d, err := Owed(&prev, &next)
	require.NoError(t, err)
	require.Equal(t, "700", d.Amount.String())
	require.Equal(t, uint64(30), d.PromptTokens)
	require.Zero(t, d.CompletionTokens)

	d, err = Owed(nil, &prev)
	require.NoError(t, err)
	require.Equal(t, prev.Amount.String(), d.Amount.String())
	require.Equal(t, prev.PromptTokens, d.PromptTokens)
	require.Equal(t, prev.CompletionTokens, d.CompletionTokens)

	// a higher amount with lower tokens: the tokens add nothing, never a negative delta
	lower := next.Copy()
	lower.Amount.Add(lower.Amount, big.NewInt(1))
	lower.PromptTokens, lower.CompletionTokens = 0, 0
	d, err = Owed(&next, &lower)
	require.NoError(t, err)
	require.Equal(t, "1", d.Amount.String())
	require.Zero(t, d.PromptTokens)
	require.Zero(t, d.CompletionTokens)

	_, err = Owed(&next, &prev)
	require.True(t, errors.Is(err, ErrWentBackwards))
	_, err = Owed(&prev, &prev)
	require.ErrorIs(t, err, ErrNotNewer)
	_, err = Owed(&prev, nil)
	require.ErrorIs(t, err, ErrInvalid)
	zero := Voucher{Channel: prev.Channel, Amount: new(big.Int)}
	_, err = Owed(nil, &zero)
	require.ErrorIs(t, err, ErrNotNewer)
}

// voi's signer (used by Sign) and crypto/ed25519 give the same bytes for many keys and vouchers.
func TestSignMatchesStdlib(t *testing.T) {
	for i := 0; i < 32; i++ {
		key := testKey(byte(i))
		v := testVoucher()
		v.PromptTokens = uint64(i) * 7919
		s, err := v.Sign(key)
		require.NoError(t, err)
		h, err := v.Hash()
		require.NoError(t, err)
		require.Equal(t, ed25519.Sign(key, h), s.Signature[:])
	}
}

// Hash (computed directly) equals the cell's hash for every amount length and workchain.
func TestHashMatchesCell(t *testing.T) {
	amount := new(big.Int)
	for l := 0; l <= 15; l++ {
		for _, wc := range []byte{0, 0xff, 0x7f} {
			v := Voucher{Channel: address.NewAddress(0, wc, bytes.Repeat([]byte{byte(l*17 + 1)}, 32)), Amount: amount,
				PromptTokens: uint64(l) * 0x0123456789, CompletionTokens: ^uint64(l)}
			c, err := v.Cell()
			require.NoError(t, err)
			h, err := v.Hash()
			require.NoError(t, err)
			require.Equal(t, c.Hash(), h, "amount of %d bytes, workchain %d", l, int8(wc))
		}
		amount = new(big.Int).Add(new(big.Int).Lsh(amount, 8), big.NewInt(int64(0x80+l)))
	}
}
