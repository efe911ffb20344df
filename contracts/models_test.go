package contracts

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// catalogRunner answers get_models with a fixed stack (or fails), as a chain would.
type catalogRunner struct {
	stack []any
	err   error
}

func (r catalogRunner) RunGetMethod(_ context.Context, _ *address.Address, method string, _ ...any) (*chain.GetMethodResult, error) {
	if r.err != nil {
		return nil, r.err
	}
	if method != MethodGetModels {
		return nil, errors.New("unexpected get-method " + method)
	}
	return &chain.GetMethodResult{Stack: r.stack}, nil
}

// catalogEntry is one raw catalog value: weights hash, the name cell as a ref, and extra bits if any.
type catalogEntry struct {
	id    uint32
	hash  byte
	name  *cell.Cell
	extra bool
}

func catalogCell(t *testing.T, entries ...catalogEntry) *cell.Cell {
	t.Helper()
	d := cell.NewDict(32)
	for _, e := range entries {
		b := cell.BeginCell().MustStoreSlice(bytes.Repeat([]byte{e.hash}, 32), 256).MustStoreRef(e.name)
		if e.extra {
			b.MustStoreUInt(1, 1)
		}
		require.NoError(t, d.SetIntKey(big.NewInt(int64(e.id)), b.EndCell()))
	}
	return d.AsCell()
}

func nameCell(t *testing.T, s string) *cell.Cell {
	t.Helper()
	c, err := TextCell(s, MaxModelNameBytes)
	require.NoError(t, err)
	return c
}

func TestResolveModelDecoding(t *testing.T) {
	llama := catalogEntry{id: 1, hash: 0xaa, name: nameCell(t, "llama-3.1-8b")}
	qwen := catalogEntry{id: 2, hash: 0xbb, name: nameCell(t, "qwen2.5-7b")}
	qwenAgain := catalogEntry{id: 9, hash: 0xcc, name: nameCell(t, "qwen2.5-7b")}
	qwenFirst := catalogEntry{id: 0, hash: 0xdd, name: nameCell(t, "qwen2.5-7b")}
	halfByte := catalogEntry{id: 3, hash: 0xee, name: cell.BeginCell().MustStoreUInt(5, 4).EndCell()}
	cases := []struct {
		name    string
		stack   []any
		lookup  string
		want    Model
		wantErr error
		ids     []uint32 // of an AmbiguousModelError
	}{
		{"found", []any{catalogCell(t, llama, qwen)}, "qwen2.5-7b", Model{ID: 2, WeightsHash: bytes.Repeat([]byte{0xbb}, 32), Name: "qwen2.5-7b"}, nil, nil},
		{"found first id", []any{catalogCell(t, llama, qwen)}, "llama-3.1-8b", Model{ID: 1, WeightsHash: bytes.Repeat([]byte{0xaa}, 32), Name: "llama-3.1-8b"}, nil, nil},
		{"empty catalog", []any{nil}, "llama-3.1-8b", Model{}, ErrUnknownModel, nil},
		{"not listed", []any{catalogCell(t, llama, qwen)}, "gpt-4o", Model{}, ErrUnknownModel, nil},
		{"names are exact bytes", []any{catalogCell(t, llama)}, "Llama-3.1-8B", Model{}, ErrUnknownModel, nil},
		{"name listed twice", []any{catalogCell(t, llama, qwen, qwenAgain)}, "qwen2.5-7b", Model{}, ErrAmbiguousModel, []uint32{2, 9}},
		{"name listed three times", []any{catalogCell(t, qwenAgain, qwen, qwenFirst, llama)}, "qwen2.5-7b", Model{}, ErrAmbiguousModel, []uint32{0, 2, 9}},
		{"the other name of an ambiguous catalog", []any{catalogCell(t, llama, qwen, qwenAgain)}, "llama-3.1-8b", Model{ID: 1, WeightsHash: bytes.Repeat([]byte{0xaa}, 32), Name: "llama-3.1-8b"}, nil, nil},
		{"name not whole bytes", []any{catalogCell(t, llama, halfByte)}, "llama-3.1-8b", Model{}, ErrMalformedBody, nil},
		{"value with extra bits", []any{catalogCell(t, catalogEntry{id: 4, hash: 1, name: nameCell(t, "m"), extra: true})}, "m", Model{}, ErrMalformedBody, nil},
		{"not a dictionary", []any{big.NewInt(7)}, "m", Model{}, ErrStackShape, nil},
		{"two values", []any{nil, nil}, "m", Model{}, ErrStackShape, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			reg := RegistryClient{Chain: catalogRunner{stack: c.stack}, Address: address.NewAddress(0, 0, make([]byte, 32))}
			got, err := reg.ResolveModel(context.Background(), c.lookup)
			if c.wantErr != nil {
				require.ErrorIs(t, err, c.wantErr)
				var amb *AmbiguousModelError
				if c.ids != nil {
					require.ErrorAs(t, err, &amb)
					require.Equal(t, c.ids, amb.IDs)
					require.Equal(t, c.lookup, amb.Name)
				}
				var unknown *UnknownModelError
				if errors.Is(err, ErrUnknownModel) {
					require.ErrorAs(t, err, &unknown)
					require.Equal(t, c.lookup, unknown.Name)
					require.NotErrorIs(t, err, ErrAmbiguousModel)
				}
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
		})
	}
	down := errors.New("liteserver down")
	_, err := RegistryClient{Chain: catalogRunner{err: down}, Address: address.NewAddress(0, 0, make([]byte, 32))}.ResolveModel(context.Background(), "m")
	require.ErrorIs(t, err, down)
	require.NotErrorIs(t, err, ErrUnknownModel)
}

func TestModelErrorsText(t *testing.T) {
	require.Equal(t, `model "m" is not in the registry's catalog`, (&UnknownModelError{Name: "m"}).Error())
	require.Equal(t, `model name "m" is listed under ids [2 9] in the registry's catalog; refusing an ambiguous name`,
		(&AmbiguousModelError{Name: "m", IDs: []uint32{2, 9}}).Error())
}
