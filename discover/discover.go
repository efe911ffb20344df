// Package discover finds the Provider contracts of a registry from the chain alone.
//
// The registry keeps no map of providers (each lives at an address derived from the registry and its
// owner), so nothing on-chain lists them. Every registration passes through the registry, though: a
// RegisterProvider it accepts sends ProviderRegistration, with the Provider contract's StateInit, to
// the owner's Provider contract. Scan reads the registry's transactions (chain.Client's
// GetTransactions, paged from the newest back to a cursor) and reports each such message: the owner
// and the Provider contract it went to. A provider registered twice (a top-up) is reported twice;
// callers keep a set. What a provider is now (status, endpoint, attestation) is read from its getters
// (contracts.ProviderClient, contracts/ops ReadProvider).
//
// The oracle daemon and the client SDK both use it; each keeps its own cursor (the newest registry
// transaction scanned) so that a restart resumes where it stopped.
package discover

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
)

// DefaultPage is how many transactions one GetTransactions call asks for.
const DefaultPage = 100

// Chain is the part of chain.Client that Scan needs.
type Chain interface {
	GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error)
	GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error)
}

// Cursor names the newest registry transaction already scanned; the zero Cursor scans from the
// registry's first transaction.
type Cursor struct {
	LT   uint64 `json:"lt"`
	Hash []byte `json:"hash"`
}

// Registration is one ProviderRegistration the registry sent.
type Registration struct {
	Owner    *address.Address
	Provider *address.Address
	// LT and Time are the registry transaction's logical time and unix time.
	LT   uint64
	Time uint32
}

// ErrNoRegistry is a registry address without an active account.
var ErrNoRegistry = errors.New("no registry at that address")

// Scan reads the registry's transactions after cursor and returns the registrations they sent,
// oldest first, and the cursor of the newest transaction read. page is the GetTransactions page size
// (0: DefaultPage). A registry with no new transaction returns (nil, cursor).
func Scan(ctx context.Context, c Chain, registry *address.Address, after Cursor, page int) ([]Registration, Cursor, error) {
	if page <= 0 {
		page = DefaultPage
	}
	acc, err := c.GetAccount(ctx, registry)
	if err != nil {
		return nil, after, fmt.Errorf("failed to read the registry: %w", err)
	}
	if acc.State != chain.StateActive {
		return nil, after, fmt.Errorf("%w: %s is %s", ErrNoRegistry, registry.StringRaw(), acc.State)
	}
	if acc.LastTxLT == 0 || (acc.LastTxLT == after.LT && bytes.Equal(acc.LastTxHash, after.Hash)) {
		return nil, after, nil
	}
	if acc.LastTxLT < after.LT {
		return nil, after, fmt.Errorf("the registry's last transaction (lt %d) is older than the cursor (lt %d): another network or a reset devnet?", acc.LastTxLT, after.LT)
	}
	newest := Cursor{LT: acc.LastTxLT, Hash: acc.LastTxHash}
	var found []Registration
	lt, hash := acc.LastTxLT, acc.LastTxHash
pages:
	for {
		txs, err := c.GetTransactions(ctx, registry, page, lt, hash)
		if err != nil {
			return nil, after, fmt.Errorf("failed to list the registry's transactions at lt %d: %w", lt, err)
		}
		if len(txs) == 0 {
			return nil, after, fmt.Errorf("the registry's transaction at lt %d is not available (a node without archival history?)", lt)
		}
		for _, tx := range txs {
			found = append(found, registrations(tx)...)
			lt, hash = tx.PrevTxLT, tx.PrevTxHash
			if lt <= after.LT {
				// the transaction before is the cursor's, or there is none
				if after.LT != 0 && (lt != after.LT || !bytes.Equal(hash, after.Hash)) {
					return nil, after, fmt.Errorf("the registry's transactions do not lead back to the cursor's (lt %d) but to another hash or time: another network or a reset devnet?", after.LT)
				}
				break pages
			}
		}
	}
	slices.Reverse(found)
	return found, newest, nil
}

// registrations are the ProviderRegistration messages of one registry transaction (none when it
// failed: a failed transaction sends nothing).
func registrations(tx *tlb.Transaction) []Registration {
	if tx.IO.Out == nil {
		return nil
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		return nil
	}
	var out []Registration
	for i := range msgs {
		if msgs[i].MsgType != tlb.MsgTypeInternal {
			continue
		}
		m := msgs[i].AsInternal()
		if m.Body == nil {
			continue
		}
		decoded, err := contracts.Decode(m.Body)
		if err != nil {
			continue
		}
		reg, ok := decoded.(contracts.ProviderRegistration)
		if !ok {
			continue
		}
		out = append(out, Registration{Owner: reg.Owner, Provider: m.DstAddr, LT: tx.LT, Time: tx.Now})
	}
	return out
}
