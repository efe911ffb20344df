package contracts

import (
	"errors"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

func addrSlice(a *address.Address) *cell.Slice {
	return cell.BeginCell().MustStoreAddr(a).EndCell().MustBeginParse()
}

func TestStackReader(t *testing.T) {
	owner := address.NewAddress(0, 0, make([]byte, 32))
	c := cell.BeginCell().MustStoreUInt(7, 8).EndCell()
	res := &chain.GetMethodResult{Stack: []any{
		big.NewInt(42), big.NewInt(-1), big.NewInt(0), addrSlice(owner), nil, addrSlice(address.NewAddressNone()), c, nil, big.NewInt(-5),
	}}
	r, err := newStackReader("m", res)
	require.NoError(t, err)
	n, err := r.uint("n", 32)
	require.NoError(t, err)
	require.Equal(t, uint64(42), n)
	b, err := r.bool("t")
	require.NoError(t, err)
	require.True(t, b)
	b, err = r.bool("f")
	require.NoError(t, err)
	require.False(t, b)
	a, err := r.address("owner")
	require.NoError(t, err)
	require.True(t, a.Equals(owner))
	a, err = r.maybeAddress("null")
	require.NoError(t, err)
	require.Nil(t, a)
	a, err = r.maybeAddress("addr_none")
	require.NoError(t, err)
	require.Nil(t, a)
	got, err := r.maybeCell("cell")
	require.NoError(t, err)
	require.Equal(t, c.Hash(), got.Hash())
	got, err = r.maybeCell("null")
	require.NoError(t, err)
	require.Nil(t, got)
	i, err := r.int("i", 8)
	require.NoError(t, err)
	require.Equal(t, int64(-5), i)
	require.NoError(t, r.done())
}

func TestStackReaderShapeErrors(t *testing.T) {
	owner := address.NewAddress(0, 0, make([]byte, 32))
	longAddr := cell.BeginCell().MustStoreAddr(owner).MustStoreUInt(1, 1).EndCell().MustBeginParse()
	cases := []struct {
		name  string
		stack []any
		read  func(r *stackReader) error
	}{
		{"missing value", nil, func(r *stackReader) error { _, err := r.bigInt("x"); return err }},
		{"cell for int", []any{cell.BeginCell().EndCell()}, func(r *stackReader) error { _, err := r.bigInt("x"); return err }},
		{"negative uint", []any{big.NewInt(-1)}, func(r *stackReader) error { _, err := r.uint("x", 32); return err }},
		{"uint overflow", []any{big.NewInt(256)}, func(r *stackReader) error { _, err := r.uint("x", 8); return err }},
		{"int overflow", []any{big.NewInt(128)}, func(r *stackReader) error { _, err := r.int("x", 8); return err }},
		{"bool 2", []any{big.NewInt(2)}, func(r *stackReader) error { _, err := r.bool("x"); return err }},
		{"coins negative", []any{big.NewInt(-3)}, func(r *stackReader) error { _, err := r.coins("x"); return err }},
		{"null cell", []any{nil}, func(r *stackReader) error { _, err := r.cell("x"); return err }},
		{"int for address", []any{big.NewInt(1)}, func(r *stackReader) error { _, err := r.address("x"); return err }},
		{"address with tail", []any{longAddr}, func(r *stackReader) error { _, err := r.address("x"); return err }},
		{"addr_none for address", []any{addrSlice(address.NewAddressNone())}, func(r *stackReader) error { _, err := r.address("x"); return err }},
		{"left over", []any{big.NewInt(1), big.NewInt(2)}, func(r *stackReader) error {
			if _, err := r.bigInt("x"); err != nil {
				return err
			}
			return r.done()
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r, err := newStackReader("get_x", &chain.GetMethodResult{Stack: tc.stack})
			require.NoError(t, err)
			err = tc.read(r)
			require.True(t, errors.Is(err, ErrStackShape), "%v", err)
			require.Contains(t, err.Error(), "get_x")
		})
	}

	_, err := newStackReader("get_x", &chain.GetMethodResult{ExitCode: 11})
	var gm *chain.GetMethodError
	require.True(t, errors.As(err, &gm))
	code, ok := AsExitCode(err)
	require.True(t, ok)
	require.Equal(t, ExitCode(11), code)
}

func TestDecodeProviderAddress(t *testing.T) {
	p := address.NewAddress(0, 0, append(make([]byte, 31), 9))
	got, err := DecodeProviderAddress(&chain.GetMethodResult{Stack: []any{addrSlice(p)}})
	require.NoError(t, err)
	require.True(t, got.Equals(p))

	_, err = DecodeProviderAddress(&chain.GetMethodResult{Stack: []any{addrSlice(p), big.NewInt(1)}})
	require.ErrorIs(t, err, ErrStackShape)
}
