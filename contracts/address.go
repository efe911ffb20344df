package contracts

import (
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Workchain is where every Cocoon contract lives: the basechain.
const Workchain = 0

// ErrBadAddress is an address a contract cannot hold: not a standard (267-bit) basechain address.
var ErrBadAddress = errors.New("bad address")

// StateInit builds the StateInit cell of a contract: code and data only, no split depth, no
// tick-tock, no libraries — the shape Tolk's createMessage/AutoDeployAddress builds, so the
// address derived from it matches the one computed on-chain.
func StateInit(code, data *cell.Cell) (*cell.Cell, error) {
	if code == nil || data == nil {
		return nil, errors.New("failed to build StateInit: code and data are required")
	}
	c, err := tlb.ToCell(tlb.StateInit{Code: code, Data: data})
	if err != nil {
		return nil, fmt.Errorf("failed to build StateInit: %w", err)
	}
	return c, nil
}

// AddressOf is the basechain address of a contract with this code and initial data: the
// representation hash of its StateInit cell. The address is bounceable, as contract addresses are.
func AddressOf(code, data *cell.Cell) (*address.Address, error) {
	si, err := StateInit(code, data)
	if err != nil {
		return nil, err
	}
	return address.NewAddress(0, Workchain, si.Hash()), nil
}

// checkStdAddr rejects anything but a standard basechain address, which is all Cocoon
// contracts accept (a contract would throw on the rest, later and less clearly).
func checkStdAddr(what string, a *address.Address) error {
	if a == nil {
		return fmt.Errorf("%w: %s is missing", ErrBadAddress, what)
	}
	if a.Type() != address.StdAddress || a.Anycast() != nil {
		return fmt.Errorf("%w: %s must be a standard address, got %s", ErrBadAddress, what, a.StringRaw())
	}
	if a.Workchain() != Workchain {
		return fmt.Errorf("%w: %s must be in workchain %d, got %d", ErrBadAddress, what, Workchain, a.Workchain())
	}
	return nil
}
