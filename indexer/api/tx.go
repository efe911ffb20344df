package api

import (
	"encoding/hex"
	"errors"
	"strings"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/indexer/decode"
	"github.com/cocoon-go/cocoon/indexer/store"
)

// TxView is a decoded transaction.
type TxView struct {
	Hash           string    `json:"hash"`
	LT             uint64    `json:"lt"`
	PrevLT         uint64    `json:"prev_lt"`
	Time           int64     `json:"time"`
	Account        Addr      `json:"account"`
	Kind           *string   `json:"kind" desc:"registry, provider or channel"`
	In             *MsgView  `json:"in" desc:"the inbound message"`
	Out            []MsgView `json:"out" desc:"the messages it sent"`
	Success        bool      `json:"success" desc:"compute and action phases succeeded: the contract's state changed"`
	ComputeSkipped bool      `json:"compute_skipped"`
	ExitCode       int       `json:"exit_code" desc:"compute phase exit code"`
	ExitName       *string   `json:"exit_name" desc:"the contract's name for the exit code (errors.tolk), or TVM's"`
	ActionCode     int       `json:"action_code" desc:"action phase result code (0: none or success)"`
	Aborted        bool      `json:"aborted"`
	Fees           Amount    `json:"fees"`
}

// MsgView is a decoded message.
type MsgView struct {
	Type      string         `json:"type" desc:"internal, external_in or external_out"`
	Src       *Addr          `json:"src"`
	Dst       *Addr          `json:"dst"`
	Value     Amount         `json:"value"`
	Bounce    bool           `json:"bounce"`
	Bounced   bool           `json:"bounced"`
	CreatedLT uint64         `json:"created_lt"`
	Op        *string        `json:"op" desc:"opcode (0x%08x); null for an empty body"`
	Name      *string        `json:"name" desc:"Cocoon message name, \"Bounce\" for a bounce; null when empty or unknown"`
	Fields    map[string]any `json:"fields" desc:"decoded fields (addresses as {raw, friendly}, money as {nano, ton}); null when not decoded"`
	Unknown   bool           `json:"unknown" desc:"a body no Cocoon message matches (kept raw)"`
	Raw       *string        `json:"raw" desc:"the body as base64 BOC when it was not decoded"`
	BounceOf  *BounceView    `json:"bounce_of" desc:"what a bounce returns"`
	Init      *InitView      `json:"init" desc:"the StateInit it deploys"`
	Tx        *string        `json:"tx" desc:"hash of the indexed transaction on the other side (receiver of an outgoing message, sender of the inbound one)"`
}

// BounceView is the message a bounce returns.
type BounceView struct {
	Op       *string        `json:"op"`
	Name     *string        `json:"name"`
	Rich     bool           `json:"rich" desc:"new bounce format: phase and exit code included"`
	Phase    *string        `json:"phase" desc:"compute or action"`
	ExitCode *int           `json:"exit_code"`
	ExitName *string        `json:"exit_name"`
	Fields   map[string]any `json:"fields" desc:"the returned message's fields when it came back whole"`
}

// InitView is a deployed StateInit.
type InitView struct {
	CodeHash string  `json:"code_hash"`
	Contract *string `json:"contract" desc:"registry, provider or channel when the code is the embedded Cocoon code"`
}

// TxDetail is a transaction and the cascade it belongs to.
type TxDetail struct {
	Transaction TxView `json:"transaction"`
	Trace       Trace  `json:"trace"`
}

// Trace is a cascade of indexed transactions: sender → contract → contract.
type Trace struct {
	Root     string      `json:"root" desc:"hash of the first indexed transaction of the cascade"`
	Origin   *Addr       `json:"origin" desc:"the account (a wallet) whose message started the cascade"`
	Nodes    []TraceNode `json:"nodes" desc:"parents before children; messages to accounts not indexed (wallets) are in each transaction's out"`
	Complete bool        `json:"complete" desc:"false when cut at 256 transactions"`
}

// TraceNode is one transaction of a trace.
type TraceNode struct {
	Parent int    `json:"parent" desc:"index of the transaction whose message caused it; -1 for the root"`
	Depth  int    `json:"depth"`
	Tx     TxView `json:"tx"`
}

const maxTrace = 256

var codeNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range contracts.Names {
		if c, err := contracts.Code(n); err == nil {
			m[hex.EncodeToString(c.Hash())] = string(n)
		}
	}
	return m
}()

func strPtr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

func (a *API) kindOf(account string) *string {
	acct, err := a.cfg.Store.Account(account)
	if err != nil {
		return nil
	}
	k := string(acct.Kind)
	return &k
}

func (a *API) txView(tx *decode.Tx) TxView {
	v := TxView{Hash: tx.Hash, LT: tx.LT, PrevLT: tx.PrevLT, Time: int64(tx.Now), Account: *addr(tx.Account), Kind: a.kindOf(tx.Account),
		Out: []MsgView{}, Success: tx.Success, ComputeSkipped: tx.ComputeSkipped, ExitCode: tx.ExitCode, ExitName: exitName(tx.ExitCode),
		ActionCode: tx.ActionCode, Aborted: tx.Aborted, Fees: decode.AmountFrom(tx.Fees)}
	if tx.In != nil {
		m := msgView(tx.In)
		if tx.In.Type == decode.Internal && tx.In.Src != "" {
			if p, err := a.cfg.Store.Sent(tx.In.Src, tx.In.CreatedLT); err == nil {
				m.Tx = &p.Hash
			}
		}
		v.In = &m
	}
	for i := range tx.Out {
		m := msgView(&tx.Out[i])
		if tx.Out[i].Type == decode.Internal {
			if c, err := a.cfg.Store.Received(tx.Account, tx.Out[i].CreatedLT); err == nil {
				m.Tx = &c.Hash
			}
		}
		v.Out = append(v.Out, m)
	}
	return v
}

func msgView(m *decode.Msg) MsgView {
	decode.Render(m)
	v := MsgView{Type: m.Type, Src: addr(m.Src), Dst: addr(m.Dst), Value: decode.AmountFrom(m.Value), Bounce: m.Bounce, Bounced: m.Bounced,
		CreatedLT: m.CreatedLT, Op: strPtr(m.Op), Name: strPtr(m.Name), Fields: m.Fields, Unknown: m.Unknown}
	if m.Fields == nil && (m.BounceOf == nil || m.BounceOf.Fields == nil) {
		v.Raw = strPtr(m.Body)
	}
	if b := m.BounceOf; b != nil {
		bv := &BounceView{Op: strPtr(b.Op), Name: strPtr(b.Name), Rich: b.Rich, Phase: strPtr(b.Phase), Fields: b.Fields}
		if b.Rich {
			code := b.ExitCode
			bv.ExitCode, bv.ExitName = &code, exitName(code)
		}
		v.BounceOf = bv
	}
	if m.Init != nil {
		v.Init = &InitView{CodeHash: m.Init.CodeHash}
		if n, ok := codeNames[strings.ToLower(m.Init.CodeHash)]; ok {
			v.Init.Contract = &n
		}
	}
	return v
}

// Tx is a transaction by hash (hex) with the cascade it belongs to.
func (a *API) Tx(hash string) (*TxDetail, error) {
	hash = strings.ToLower(hash)
	if b, err := hex.DecodeString(hash); err != nil || len(b) != 32 {
		return nil, badRequest("transaction hash must be 64 hex digits, got %q", hash)
	}
	tx, err := a.cfg.Store.Tx(hash)
	if errors.Is(err, store.ErrNotFound) {
		return nil, notFound("no indexed transaction has hash %s", hash)
	}
	if err != nil {
		return nil, err
	}
	trace, err := a.trace(tx)
	if err != nil {
		return nil, err
	}
	return &TxDetail{Transaction: a.txView(tx), Trace: trace}, nil
}

// trace walks from tx up to the first indexed transaction of its cascade, then down through every
// message to an indexed account.
func (a *API) trace(tx *decode.Tx) (Trace, error) {
	root := tx
	for range maxTrace {
		in := root.In
		if in == nil || in.Type != decode.Internal || in.Src == "" {
			break
		}
		parent, err := a.cfg.Store.Sent(in.Src, in.CreatedLT)
		if errors.Is(err, store.ErrNotFound) {
			break
		}
		if err != nil {
			return Trace{}, err
		}
		root = parent
	}
	t := Trace{Root: root.Hash, Complete: true, Nodes: []TraceNode{}}
	if root.In != nil {
		t.Origin = addr(root.In.Src)
	}
	type item struct {
		tx            *decode.Tx
		parent, depth int
	}
	queue := []item{{tx: root, parent: -1}}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		if len(t.Nodes) == maxTrace {
			t.Complete = false
			break
		}
		idx := len(t.Nodes)
		t.Nodes = append(t.Nodes, TraceNode{Parent: it.parent, Depth: it.depth, Tx: a.txView(it.tx)})
		for _, m := range it.tx.Out {
			if m.Type != decode.Internal {
				continue
			}
			child, err := a.cfg.Store.Received(it.tx.Account, m.CreatedLT)
			if errors.Is(err, store.ErrNotFound) {
				continue
			}
			if err != nil {
				return Trace{}, err
			}
			queue = append(queue, item{tx: child, parent: idx, depth: it.depth + 1})
		}
	}
	return t, nil
}
