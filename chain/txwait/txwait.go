// Package txwait waits for transactions over any chain.Client: poll an account until a transaction
// newer than a known logical time matches a predicate.
package txwait

import (
	"bytes"
	"context"
	"fmt"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
)

// Client is the part of chain.Client that waiting needs.
type Client interface {
	GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error)
	GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error)
}

// Options tune Wait; the zero value polls every 500 ms in pages of 16.
type Options struct {
	Interval time.Duration
	PageSize int
}

// Wait polls addr until it has a transaction with LT > afterLT for which match returns true, and
// returns the oldest such transaction. A nil match accepts any transaction. It stops with ctx.
func Wait(ctx context.Context, c Client, addr *address.Address, afterLT uint64, match func(*tlb.Transaction) bool, opts Options) (*tlb.Transaction, error) {
	if opts.Interval <= 0 {
		opts.Interval = 500 * time.Millisecond
	}
	if opts.PageSize <= 0 {
		opts.PageSize = 16
	}
	// INVARIANT: every transaction with afterLT < LT <= seen has been checked and did not match.
	seen := afterLT
	for {
		acc, err := c.GetAccount(ctx, addr)
		if err != nil {
			return nil, fmt.Errorf("failed to wait for a transaction on %s: %w", addr.StringRaw(), err)
		}
		if acc.LastTxLT > seen {
			fresh, err := Above(ctx, c, addr, seen, acc.LastTxLT, acc.LastTxHash, opts.PageSize)
			if err != nil {
				return nil, fmt.Errorf("failed to wait for a transaction on %s: %w", addr.StringRaw(), err)
			}
			for i := len(fresh) - 1; i >= 0; i-- { // oldest first
				if match == nil || match(fresh[i]) {
					return fresh[i], nil
				}
			}
			seen = acc.LastTxLT
		}
		t := time.NewTimer(opts.Interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("failed to wait for a transaction on %s after lt %d: %w", addr.StringRaw(), afterLT, ctx.Err())
		case <-t.C:
		}
	}
}

// Above lists addr's transactions with LT > after, newest first, walking back from the one at
// (lt, hash) (usually the account's last) in pages of page.
func Above(ctx context.Context, c Client, addr *address.Address, after, lt uint64, hash []byte, page int) ([]*tlb.Transaction, error) {
	var out []*tlb.Transaction
	for lt > after {
		txs, err := c.GetTransactions(ctx, addr, page, lt, hash)
		if err != nil {
			return nil, err
		}
		if len(txs) == 0 {
			return out, nil
		}
		for _, tx := range txs {
			if tx.LT <= after {
				return out, nil
			}
			out = append(out, tx)
		}
		last := txs[len(txs)-1]
		if last.PrevTxLT == 0 {
			return out, nil
		}
		lt, hash = last.PrevTxLT, last.PrevTxHash
	}
	return out, nil
}

// ExternalBody matches a transaction whose inbound message is an external one carrying exactly
// this body: how a wallet finds the transaction its signed message caused.
func ExternalBody(bodyHash []byte) func(*tlb.Transaction) bool {
	return func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeExternalIn {
			return false
		}
		ext := tx.IO.In.AsExternalIn()
		return ext != nil && ext.Body != nil && bytes.Equal(ext.Body.Hash(), bodyHash)
	}
}

// InternalFrom matches a transaction caused by an internal message from src.
func InternalFrom(src *address.Address) func(*tlb.Transaction) bool {
	return func(tx *tlb.Transaction) bool {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			return false
		}
		in := tx.IO.In.AsInternal()
		return in != nil && in.SrcAddr != nil && in.SrcAddr.Equals(src)
	}
}
