package voucher

import (
	"crypto/ed25519"
	"encoding/base64"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestHeaderRoundTrip(t *testing.T) {
	key := testKey(3)
	// The longest voucher: every field at its maximum.
	long := Voucher{
		Channel:          address.NewAddress(0, 0xff, make([]byte, 32)),
		Amount:           new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1)),
		PromptTokens:     ^uint64(0),
		CompletionTokens: ^uint64(0),
	}
	for _, v := range []Voucher{testVoucher(), long, {Channel: long.Channel, Amount: new(big.Int)}} {
		s, err := v.Sign(key)
		require.NoError(t, err)
		h, err := EncodeHeader(&s)
		require.NoError(t, err)
		require.LessOrEqual(t, len(h), MaxHeaderLen)
		require.NotContains(t, h, "=")
		back, err := DecodeHeader(h)
		require.NoError(t, err)
		require.Equal(t, s.Signature, back.Signature)
		require.NoError(t, back.Verify(key.Public().(ed25519.PublicKey)))
		require.Equal(t, s.Channel.StringRaw(), back.Channel.StringRaw())
		require.Zero(t, s.Amount.Cmp(back.Amount))
	}

	// Other BOC forms of the same cell (with CRC and index, as @ton/core writes by default) decode too.
	s, err := testVoucher().Sign(key)
	require.NoError(t, err)
	c, err := s.Cell()
	require.NoError(t, err)
	h := base64.RawURLEncoding.EncodeToString(c.ToBOCWithFlags(true, true, true)) + "." + base64.RawURLEncoding.EncodeToString(s.Signature[:])
	back, err := DecodeHeader(h)
	require.NoError(t, err)
	require.NoError(t, back.Verify(key.Public().(ed25519.PublicKey)))
}

func TestDecodeHeaderRejects(t *testing.T) {
	s, err := testVoucher().Sign(testKey(3))
	require.NoError(t, err)
	good, err := EncodeHeader(&s)
	require.NoError(t, err)
	bocPart, sigPart, _ := strings.Cut(good, ".")
	enc := base64.RawURLEncoding.EncodeToString
	c, err := s.Cell()
	require.NoError(t, err)
	withRef := enc(c.ToBuilder().MustStoreRef(cell.BeginCell().EndCell()).EndCell().ToBOC())

	cases := map[string]struct{ value, want string }{
		"empty":           {"", "no '.' found"},
		"no dot":          {bocPart, "no '.' found"},
		"three parts":     {good + ".AA", "more than two"},
		"too long":        {strings.Repeat("A", MaxHeaderLen+1), "at most"},
		"padded":          {bocPart + "=." + sigPart, "voucher BOC is not unpadded base64url"},
		"std base64":      {strings.ReplaceAll(strings.ReplaceAll(bocPart, "-", "+"), "_", "/") + "+." + sigPart, "voucher BOC is not unpadded base64url"},
		"short signature": {bocPart + "." + sigPart[:len(sigPart)-3], "signature has 62 bytes"},
		"long signature":  {bocPart + "." + sigPart + "AA", "signature has 66 bytes"},
		"bad signature":   {bocPart + ".!" + sigPart[1:], "signature is not unpadded base64url"},
		"not a BOC":       {enc([]byte("hello")) + "." + sigPart, "malformed voucher"},
		"extra ref":       {withRef + "." + sigPart, "1 refs"},
		"swapped":         {sigPart + "." + bocPart, "signature has"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := DecodeHeader(tc.value)
			require.ErrorIs(t, err, ErrBadHeader)
			require.ErrorContains(t, err, tc.want)
		})
	}
	_, err = EncodeHeader(&Signed{})
	require.ErrorIs(t, err, ErrInvalid)
}
