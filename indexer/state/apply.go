package state

import (
	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Apply applies tx, the account's next transaction, and returns the events it adds to the history.
// A failed transaction changes nothing but the totals; a successful one that deploys the contract
// starts the storage from its StateInit.
func (s *State) Apply(tx *decode.Tx) []Event {
	s.LT = tx.LT
	s.Totals.Transactions++
	if !tx.Success {
		s.Totals.Failed++
		return nil
	}
	in := tx.In
	if in == nil || in.Type != decode.Internal {
		return nil
	}
	if !s.Deployed() && in.Init != nil && in.Init.DataCell != nil {
		if init, err := FromData(s.Kind, in.Init.DataCell); err == nil {
			s.Registry, s.Provider, s.Channel = init.Registry, init.Provider, init.Channel
		}
	}
	if !s.Deployed() {
		return nil
	}
	e := &emitter{tx: tx}
	switch {
	case s.Registry != nil:
		s.applyRegistry(e, tx)
	case s.Provider != nil:
		s.applyProvider(e, tx)
	case s.Channel != nil:
		s.applyChannel(e, tx)
	}
	return e.out
}

// outNamed returns the first outgoing message named name.
func outNamed(tx *decode.Tx, name string) *decode.Msg {
	for i := range tx.Out {
		if tx.Out[i].Name == name {
			return &tx.Out[i]
		}
	}
	return nil
}
