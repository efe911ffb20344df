package contracts

import (
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// ErrStackShape is a get-method result whose stack does not have the number or the types of
// values its decoder expects: usually a client built against a different contract version.
var ErrStackShape = errors.New("unexpected get-method stack")

// stackReader walks a get-method result bottom first, the order in which Tolk flattens a getter's
// return value (the first struct field is the bottom of the stack). Every read names the method
// and the position so that a shape mismatch says exactly where the decoder and contract disagree.
type stackReader struct {
	method string
	stack  []any
	pos    int
}

func newStackReader(method string, res *chain.GetMethodResult) (*stackReader, error) {
	if res == nil {
		return nil, fmt.Errorf("%s: %w: no result", method, ErrStackShape)
	}
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return nil, &chain.GetMethodError{Method: method, ExitCode: res.ExitCode}
	}
	return &stackReader{method: method, stack: res.Stack}, nil
}

func (r *stackReader) errorf(what string, v any) error {
	// Called right after the value was read, so it sits at pos-1.
	return fmt.Errorf("%s: %w: value %d (%s) is %s", r.method, ErrStackShape, r.pos-1, what, describeStackValue(v))
}

func describeStackValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case *big.Int:
		return "int " + x.String()
	case *cell.Cell:
		return "a cell"
	case *cell.Slice:
		return "a slice"
	case *cell.Builder:
		return "a builder"
	case []any:
		return fmt.Sprintf("a tuple of %d", len(x))
	default:
		return fmt.Sprintf("an unexpected %T", v)
	}
}

// traceStackRead, when set (tests only), sees the name of every value a decoder reads, in order.
var traceStackRead func(method, what string)

// next returns the next value; reading past the end is a shape error.
func (r *stackReader) next(what string) (any, error) {
	if traceStackRead != nil {
		traceStackRead(r.method, what)
	}
	if r.pos >= len(r.stack) {
		return nil, fmt.Errorf("%s: %w: want %s at %d, stack has only %d values", r.method, ErrStackShape, what, r.pos, len(r.stack))
	}
	v := r.stack[r.pos]
	r.pos++
	return v, nil
}

// done fails when values are left over: a longer stack means a different getter shape.
func (r *stackReader) done() error {
	if r.pos != len(r.stack) {
		return fmt.Errorf("%s: %w: %d values, decoder reads %d", r.method, ErrStackShape, len(r.stack), r.pos)
	}
	return nil
}

func toBig(v any) (*big.Int, bool) {
	switch x := v.(type) {
	case *big.Int:
		if x == nil {
			return nil, false
		}
		return new(big.Int).Set(x), true
	case int64:
		return big.NewInt(x), true
	case int:
		return big.NewInt(int64(x)), true
	case uint64:
		return new(big.Int).SetUint64(x), true
	}
	return nil, false
}

func (r *stackReader) bigInt(what string) (*big.Int, error) {
	v, err := r.next(what)
	if err != nil {
		return nil, err
	}
	n, ok := toBig(v)
	if !ok {
		return nil, r.errorf(what+", want int", v)
	}
	return n, nil
}

// uint reads an int that must fit in bits unsigned bits.
func (r *stackReader) uint(what string, bits int) (uint64, error) {
	n, err := r.bigInt(what)
	if err != nil {
		return 0, err
	}
	if n.Sign() < 0 || n.BitLen() > bits || bits > 64 {
		return 0, r.errorf(fmt.Sprintf("%s, want uint%d", what, bits), n)
	}
	return n.Uint64(), nil
}

// int reads an int that must fit in bits signed bits (bits <= 64).
func (r *stackReader) int(what string, bits int) (int64, error) {
	n, err := r.bigInt(what)
	if err != nil {
		return 0, err
	}
	limit := new(big.Int).Lsh(big.NewInt(1), uint(bits-1))
	if bits > 64 || n.Cmp(limit) >= 0 || n.Cmp(new(big.Int).Neg(limit)) < 0 {
		return 0, r.errorf(fmt.Sprintf("%s, want int%d", what, bits), n)
	}
	return n.Int64(), nil
}

// coins reads a non-negative int that fits TON's VarUInteger 16 (at most 120 bits).
func (r *stackReader) coins(what string) (*big.Int, error) {
	n, err := r.bigInt(what)
	if err != nil {
		return nil, err
	}
	if n.Sign() < 0 || n.BitLen() > 120 {
		return nil, r.errorf(what+", want coins", n)
	}
	return n, nil
}

// bool reads a TVM boolean: -1 is true, 0 is false, anything else is a shape error.
func (r *stackReader) bool(what string) (bool, error) {
	n, err := r.bigInt(what)
	if err != nil {
		return false, err
	}
	switch n.Int64() {
	case -1:
		if n.IsInt64() {
			return true, nil
		}
	case 0:
		if n.IsInt64() {
			return false, nil
		}
	}
	return false, r.errorf(what+", want bool (-1 or 0)", n)
}

// asCell accepts a cell or a whole-cell slice; toncenter-style APIs do not tell them apart.
func asCell(v any) (*cell.Cell, bool) {
	switch x := v.(type) {
	case *cell.Cell:
		return x, x != nil
	case *cell.Slice:
		if x == nil {
			return nil, false
		}
		c, err := x.ToCell()
		return c, err == nil
	}
	return nil, false
}

func (r *stackReader) cell(what string) (*cell.Cell, error) {
	v, err := r.next(what)
	if err != nil {
		return nil, err
	}
	c, ok := asCell(v)
	if !ok {
		return nil, r.errorf(what+", want cell", v)
	}
	return c, nil
}

// maybeCell reads a cell or null (a Tolk `cell?` or an empty `map`).
func (r *stackReader) maybeCell(what string) (*cell.Cell, error) {
	v, err := r.next(what)
	if err != nil {
		return nil, err
	}
	if v == nil {
		return nil, nil
	}
	c, ok := asCell(v)
	if !ok {
		return nil, r.errorf(what+", want cell or null", v)
	}
	return c, nil
}

// address reads a slice holding exactly one MsgAddressInt, as Tolk returns `address`.
func (r *stackReader) address(what string) (*address.Address, error) {
	v, err := r.next(what)
	if err != nil {
		return nil, err
	}
	a, err := sliceAddress(v)
	if err == nil && a.IsAddrNone() {
		err = errors.New("want an address, got addr_none")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w: value %d (%s): %v", r.method, ErrStackShape, r.pos-1, what, err)
	}
	return a, nil
}

// maybeAddress reads an address or null (a Tolk `address?`); addr_none also reads as nil.
func (r *stackReader) maybeAddress(what string) (*address.Address, error) {
	if r.pos < len(r.stack) {
		v := r.stack[r.pos]
		if v == nil {
			r.pos++
			return nil, nil
		}
		if a, err := sliceAddress(v); err == nil && a.IsAddrNone() {
			r.pos++
			return nil, nil
		}
	}
	return r.address(what)
}

func sliceAddress(v any) (*address.Address, error) {
	var s *cell.Slice
	switch x := v.(type) {
	case *cell.Slice:
		if x == nil {
			return nil, errors.New("want address slice, got null")
		}
		s = x.Copy()
	case *cell.Cell:
		if x == nil {
			return nil, errors.New("want address slice, got null")
		}
		var err error
		if s, err = x.BeginParse(); err != nil {
			return nil, fmt.Errorf("failed to parse address cell: %w", err)
		}
	default:
		return nil, fmt.Errorf("want address slice, got %s", describeStackValue(v))
	}
	a, err := s.LoadAddr()
	if err != nil {
		return nil, fmt.Errorf("failed to load address: %w", err)
	}
	if s.BitsLeft() != 0 || s.RefsNum() != 0 {
		return nil, fmt.Errorf("address slice has %d extra bits and %d refs", s.BitsLeft(), s.RefsNum())
	}
	return a, nil
}

// hash reads a uint256 as 32 big-endian bytes.
func (r *stackReader) hash(what string) ([]byte, error) {
	n, err := r.bigInt(what)
	if err != nil {
		return nil, err
	}
	if n.Sign() < 0 || n.BitLen() > 256 {
		return nil, r.errorf(what+", want uint256", n)
	}
	return n.FillBytes(make([]byte, 32)), nil
}

// tonCoins reads coins as tlb.Coins in nanoTON.
func (r *stackReader) tonCoins(what string) (tlb.Coins, error) {
	n, err := r.coins(what)
	if err != nil {
		return tlb.Coins{}, err
	}
	return tlb.FromNanoTON(n), nil
}
