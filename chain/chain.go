// Package chain is the one small interface through which everything off-chain talks to TON.
//
// It has three implementations: a toncenter-v2 HTTP client, a liteserver client (tonutils-go
// liteclient) and the local devnet (chain/devnet), in-process or over its toncenter-v2 HTTP API.
// Code that uses the chain declares the subset it needs; this file holds the shared types.
package chain

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Client is the whole chain interface.
type Client interface {
	// SendExternal submits an external inbound message (a full Message cell, usually signed
	// for a wallet) and returns the message's cell hash.
	SendExternal(ctx context.Context, msg *cell.Cell) ([]byte, error)
	// RunGetMethod runs a get-method on the account's current state. A non-zero TVM exit code
	// (other than 0 and 1) is returned as *GetMethodError.
	RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*GetMethodResult, error)
	// GetAccount reads the current state of an account; a never-used address is StateNonexist, not an error.
	GetAccount(ctx context.Context, addr *address.Address) (*Account, error)
	// GetTransactions lists an account's transactions, newest first, starting at (fromLT, fromHash)
	// inclusive, or at the newest one when fromLT is 0.
	GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error)
}

// AccountState is the lifecycle state of an account.
type AccountState string

const (
	StateNonexist AccountState = "nonexist"
	StateUninit   AccountState = "uninit"
	StateActive   AccountState = "active"
	StateFrozen   AccountState = "frozen"
)

// Account is the part of an account's state that off-chain code reads.
type Account struct {
	Address *address.Address
	State   AccountState
	// Balance in nanoTON; zero (never nil) for a nonexistent account.
	Balance *big.Int
	// Code and Data are nil unless State is StateActive.
	Code, Data *cell.Cell
	// LastTxLT and LastTxHash identify the newest transaction; zero and nil when there is none.
	LastTxLT   uint64
	LastTxHash []byte
}

// GetMethodResult is a finished get-method run.
type GetMethodResult struct {
	ExitCode int
	GasUsed  int64
	// Stack holds the returned values bottom first, as tonutils-go types: *big.Int, *cell.Cell,
	// *cell.Slice, *cell.Builder, []any (tuple) or nil.
	Stack []any
}

// GetMethodError is a get-method that ended with a non-success TVM exit code.
type GetMethodError struct {
	Method   string
	ExitCode int
}

func (e *GetMethodError) Error() string {
	return fmt.Sprintf("get-method %s failed with exit code %d", e.Method, e.ExitCode)
}

// Sentinel errors every implementation maps its failures onto, so callers can branch on them.
var (
	// ErrMalformed is input the chain refuses to parse: a bad BOC, address or method.
	ErrMalformed = errors.New("malformed request")
	// ErrRejected is an external message that no account accepted.
	ErrRejected = errors.New("external message rejected")
	// ErrNotFound is a transaction or block that does not exist.
	ErrNotFound = errors.New("not found")
)
