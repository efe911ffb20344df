// Package state is the indexer's replay of the Cocoon contracts: the storage of a Registry, Provider
// or Channel contract as the transactions ingested so far left it, and the history events each
// transaction adds (stake moved, price set, vote cast, claim paid, …).
//
// A State starts from the StateInit that deployed the contract and applies every successful
// transaction in order, with the contract's own rules (tolk/src). It is a pure function of the
// account's transactions, so an interrupted ingestion resumed from its cursor gives the same
// states and events as one that was never interrupted. The follower also decodes the contract's
// real storage whenever it has caught up with an account (FromData) and replaces a state that
// differs (Equal), so a rule the replay got wrong can never leave the current state wrong; the
// mismatch is counted and logged.
package state

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/contracts"
)

// Kind is which contract an account holds.
type Kind string

const (
	KindRegistry Kind = "registry"
	KindProvider Kind = "provider"
	KindChannel  Kind = "channel"
)

// Valid reports whether k is one of the three contract kinds.
func (k Kind) Valid() bool { return k == KindRegistry || k == KindProvider || k == KindChannel }

// State is one contract's replayed storage and the indexer's own totals of its history.
type State struct {
	Kind    Kind   `json:"kind"`
	Address string `json:"address"`
	// LT is the last transaction applied (0: none yet).
	LT uint64 `json:"lt"`
	// Balance is the account's balance at Checked (the last reconciliation), else nil.
	Balance *big.Int `json:"balance,omitempty"`
	// Checked is the LT at which the state was last reconciled with the contract's storage.
	Checked uint64 `json:"checked_lt,omitempty"`
	// Exactly one of these is set once the contract's StateInit or storage was seen; all are nil
	// for an account not deployed yet.
	Registry *Registry `json:"registry,omitempty"`
	Provider *Provider `json:"provider,omitempty"`
	Channel  *Channel  `json:"channel,omitempty"`
	// Totals are sums over the history (not contract storage; never reconciled).
	Totals Totals `json:"totals"`
}

// Totals are the indexer's sums over an account's history.
type Totals struct {
	Transactions int `json:"transactions"`
	Failed       int `json:"failed"`
	// Channel: deposits (ChannelInit values and top-ups), refunds, claims.
	Deposited *big.Int `json:"deposited,omitempty"`
	Deposits  int      `json:"deposits,omitempty"`
	Refunded  *big.Int `json:"refunded,omitempty"`
	Closes    int      `json:"closes,omitempty"`
	Claims    int      `json:"claims,omitempty"`
	Fees      *big.Int `json:"fees,omitempty"`
	// Provider: the time of its first registration; channels reporting usage.
	RegisteredAt uint32 `json:"registered_at,omitempty"`
	// Registry: per oracle wallet, when it was added and its votes; per model id, when added.
	Oracles map[string]*OracleTotals `json:"oracles,omitempty"`
	Models  map[uint32]uint32        `json:"models,omitempty"`
}

// OracleTotals is what the registry saw of one oracle.
type OracleTotals struct {
	PublicKey string `json:"public_key,omitempty"`
	Slot      uint8  `json:"slot"`
	AddedAt   uint32 `json:"added_at"`
	RemovedAt uint32 `json:"removed_at,omitempty"`
	Votes     int    `json:"votes"`
	LastVote  uint32 `json:"last_vote,omitempty"`
	// Commitments counts its uptime roots the registry accepted.
	Commitments int `json:"commitments,omitempty"`
}

// New is the state of an account not seen yet.
func New(kind Kind, address string) *State { return &State{Kind: kind, Address: address} }

// Deployed reports whether the contract's storage is known.
func (s *State) Deployed() bool { return s.Registry != nil || s.Provider != nil || s.Channel != nil }

// storage is the part of s that mirrors the contract's storage.
func (s *State) storage() any {
	switch {
	case s.Registry != nil:
		return s.Registry
	case s.Provider != nil:
		return s.Provider
	case s.Channel != nil:
		return s.Channel
	}
	return nil
}

// Equal reports whether a and b hold the same contract storage (totals and balance aside).
func Equal(a, b *State) bool {
	ja, err1 := json.Marshal(a.storage())
	jb, err2 := json.Marshal(b.storage())
	return err1 == nil && err2 == nil && bytes.Equal(ja, jb)
}

// FromData decodes a contract's storage cell (an account's data, or a StateInit's) as kind.
func FromData(kind Kind, data *cell.Cell) (*State, error) {
	s := &State{Kind: kind}
	switch kind {
	case KindRegistry:
		st, err := contracts.DecodeRegistryStorage(data)
		if err != nil {
			return nil, err
		}
		if s.Registry, err = registryFrom(st); err != nil {
			return nil, err
		}
	case KindProvider:
		st, err := contracts.DecodeProviderStorage(data)
		if err != nil {
			return nil, err
		}
		if s.Provider, err = providerFrom(st); err != nil {
			return nil, err
		}
	case KindChannel:
		st, err := contracts.DecodeChannelStorage(data)
		if err != nil {
			return nil, err
		}
		s.Channel = channelFrom(st)
	default:
		return nil, fmt.Errorf("unknown contract kind %q", kind)
	}
	return s, nil
}

// Reconcile replaces s's storage with real's (its FromData), keeping s's totals, and reports
// whether they differed.
func (s *State) Reconcile(real *State) bool {
	differ := !Equal(s, real)
	s.Registry, s.Provider, s.Channel = real.Registry, real.Provider, real.Channel
	return differ
}

// Clone is a deep copy (through JSON: states are small).
func (s *State) Clone() *State {
	b, err := json.Marshal(s)
	if err != nil {
		panic("state: " + err.Error())
	}
	var c State
	if err := json.Unmarshal(b, &c); err != nil {
		panic("state: " + err.Error())
	}
	return &c
}

func add(a, b *big.Int) *big.Int {
	out := new(big.Int)
	if a != nil {
		out.Set(a)
	}
	if b != nil {
		out.Add(out, b)
	}
	return out
}

func sub(a, b *big.Int) *big.Int {
	if b == nil {
		return add(a, nil)
	}
	return add(a, new(big.Int).Neg(b))
}

func minBig(a, b *big.Int) *big.Int {
	if a.Cmp(b) < 0 {
		return new(big.Int).Set(a)
	}
	return new(big.Int).Set(b)
}

func zero() *big.Int { return new(big.Int) }
