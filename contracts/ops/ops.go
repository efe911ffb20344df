// Package ops is the Cocoon protocol's chain operations as a library: what the provider daemon, the
// client SDK and gateway, the oracle daemon and the CLI do to the Registry, Provider and Channel
// contracts, once, with typed inputs and results.
//
// Every operation comes in two steps. Plan… reads what it needs from the chain, applies the local
// pre-checks (a refusal names the exit code the contract would give, and nothing is sent) and
// returns a Plan: destination, value, body, StateInit, the contracts whose transactions follow,
// and the request key. A Plan can be shown as a ton://transfer link (Plan.Link) for a wallet or
// hardware signer elsewhere, or sent: Send… sends it through the wallet's transaction manager
// (chain/txmgr) under a key derived from what is asked, follows the cascade it causes to the
// contracts that matter, and decodes the result (what a claim paid, the channel's state after it,
// what a close refunded, …).
//
// Money rules every operation keeps: the value attached is never below what the contract's fee
// getters ask (get_register_fee, get_open_channel_fee, a channel's claimCost), and nothing is
// signed when the wallet's balance does not exceed the value (wallets send with "ignore errors":
// an unaffordable transfer would be skipped, its fee lost).
//
// The package keeps package contracts free of the transaction manager: contracts holds the
// message, storage and getter bindings (what the indexer needs), ops the operations.
package ops

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// Default values attached to messages, in nanoTON. The contracts return what they do not spend.
const (
	// DefaultGovernanceValue: a governance message to the registry (several times GAS_REGISTRY_ADMIN).
	DefaultGovernanceValue = 100_000_000
	// DefaultDeployValue: a registry's deploy (its storage and first transaction).
	DefaultDeployValue = 500_000_000
	// DefaultOwnerOpValue: an owner operation on a Provider contract (several times GAS_PROVIDER_OWNER_OP).
	DefaultOwnerOpValue = 50_000_000
	// DefaultCloseValue: StartClose, FinalizeClose and CooperativeClose (the channel's close cost is
	// GAS_CHANNEL_CLOSE and two forward fees).
	DefaultCloseValue = 50_000_000
	// ClaimMargin is added to a channel's claimCost by default: the cost is a bound the contract
	// checks with the config of the block that runs the claim; the unused part comes back.
	ClaimMargin = 10_000_000
	// DefaultVoteValue: SubmitOracleVote, enough for the provider's share with 64 oracles.
	DefaultVoteValue = 100_000_000
)

// Errors of the operations.
var (
	// ErrRefused is a local pre-check that found what the contract would refuse: nothing was sent.
	ErrRefused = errors.New("refused before sending")
	// ErrBadInput is an input no contract could accept (a missing address, a zero amount).
	ErrBadInput = errors.New("bad operation input")
	// ErrNoSender is a Send on Ops without a Sender, or a plan that needs the sending wallet.
	ErrNoSender = errors.New("no sending wallet")
	// ErrNoChain is a plan that needs to read the chain on Ops without a Chain.
	ErrNoChain = errors.New("no chain access")
	// ErrNotRegistered: the owner has no provider the registry initialised.
	ErrNotRegistered = errors.New("no registered provider")
	// ErrUnknownModel: a price for a model id the registry's catalog does not list.
	ErrUnknownModel = errors.New("model not in the registry")
	// ErrNoChannel: a channel address with no deployed channel behind it.
	ErrNoChannel = errors.New("no channel")
	// ErrNoRegistry: the registry address has no active account.
	ErrNoRegistry = errors.New("no registry")
)

// Sender sends a wallet's requests: *txmgr.Manager.
type Sender interface {
	Address() *address.Address
	Send(ctx context.Context, req txmgr.Request) (*txmgr.Outcome, error)
}

var _ Sender = (*txmgr.Manager)(nil)

// Ops performs operations against one registry, reading through Chain and sending from Sender's
// wallet. The zero values of its optional fields plan only: without Sender nothing is sent (links),
// without Chain only what needs no reads can be planned.
type Ops struct {
	Chain    chain.Client
	Sender   Sender
	Registry *address.Address
	// Clock is the chain's clock (nil: the wall clock): deadlines and attestation validity are
	// judged by it. On a devnet it is the devnet's (it can run ahead of the wall clock).
	Clock func(ctx context.Context) (time.Time, error)
	// Testnet renders user-friendly addresses in messages with the testnet-only flag.
	Testnet bool
}

// WithSender is o sending from s.
func (o Ops) WithSender(s Sender) *Ops {
	o.Sender = s
	return &o
}

func (o *Ops) now(ctx context.Context) (time.Time, error) {
	if o.Clock == nil {
		return time.Now(), nil
	}
	return o.Clock(ctx)
}

// Friendly renders an address the way wallets show it on o's network.
func (o *Ops) Friendly(a *address.Address, bounceable bool) string {
	return chain.Friendly(a, bounceable, o.Testnet)
}

func (o *Ops) needChain() error {
	if o.Chain == nil {
		return fmt.Errorf("%w: the operation reads the chain", ErrNoChain)
	}
	return nil
}

func (o *Ops) needRegistry() error {
	if o.Registry == nil {
		return fmt.Errorf("%w: no registry address", ErrBadInput)
	}
	return nil
}

// TON renders nanoTON as "1.5 TON".
func TON(nano *big.Int) string { return wallet.FormatTON(nano) + " TON" }

// NewQueryID is a random query id (63 bits, as wallets make them).
func NewQueryID() uint64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return binary.BigEndian.Uint64(b[:]) >> 1
}

// derivedQueryID is a query id that names what is asked: the same request gets the same id, and
// so the same transaction manager key (asking twice sends once).
func derivedQueryID(parts ...[]byte) uint64 {
	h := sha256.New()
	for _, p := range parts {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(p)))
		h.Write(n[:])
		h.Write(p)
	}
	return binary.BigEndian.Uint64(h.Sum(nil)) >> 1
}

func orNewQueryID(q uint64) uint64 {
	if q == 0 {
		return NewQueryID()
	}
	return q
}

// ---------------------------------------------------------------- plans

// Hop is a contract whose transaction an operation waits for.
type Hop struct {
	// Contract names it in messages: "registry", "provider" or "channel".
	Contract string
	Address  *address.Address
}

// Wait says how long Send waits.
type Wait int

const (
	// WaitCascade (the default) follows the cascade to every hop and two levels below the last,
	// so that what is read next sees it settled.
	WaitCascade Wait = iota
	// WaitWallet returns once the wallet's transaction is in.
	WaitWallet
	// WaitAccepted returns once a node accepted the message (the transaction manager finishes the
	// request at its next Send).
	WaitAccepted
)

// Plan is one message from a wallet, ready to send or to sign elsewhere.
type Plan struct {
	// Op names what is asked ("register", "claim", …): every error of Send starts with it.
	Op        string
	To        *address.Address
	Value     *big.Int
	Body      *cell.Cell
	StateInit *tlb.StateInit
	Bounce    bool
	// Hops are the transactions to wait for, in order: Hops[0] is on To, caused by the wallet's
	// message, and each later one is caused by a message from the one before.
	Hops []Hop
	// QueryID is the body's query id (0 when the body has none).
	QueryID uint64
	// Key is the transaction manager's request key ("" for a random one).
	Key  string
	Wait Wait
	// Follow overrides how far Send follows the cascade (zero: Hops and two levels below).
	Follow txmgr.Follow
}

// newPlan is a bounceable message to hops[0] keyed by op, destination and query id.
func newPlan(op string, value *big.Int, body *cell.Cell, queryID uint64, hops ...Hop) *Plan {
	p := &Plan{Op: op, To: hops[0].Address, Value: new(big.Int).Set(value), Body: body, Bounce: true, Hops: hops, QueryID: queryID}
	if queryID != 0 {
		p.Key = fmt.Sprintf("%s/%s/%d", op, p.To.StringRaw(), queryID)
	}
	return p
}

// Transfer is the plan's wallet transfer.
func (p *Plan) Transfer() wallet.Transfer {
	return wallet.Transfer{To: p.To, Amount: p.Value, Bounce: p.Bounce, Body: p.Body, StateInit: p.StateInit}
}

// Link renders the plan as a ton://transfer deep link (amount in nanoTON, body and StateInit as
// URL-safe base64 BOCs) for a wallet elsewhere.
func (p *Plan) Link(testnet bool) (string, error) {
	q := []string{"amount=" + p.Value.String()}
	if p.Body != nil {
		q = append(q, "bin="+url.QueryEscape(base64.URLEncoding.EncodeToString(p.Body.ToBOCWithFlags(false))))
	}
	if p.StateInit != nil {
		c, err := tlb.ToCell(p.StateInit)
		if err != nil {
			return "", fmt.Errorf("failed to serialize state init: %w", err)
		}
		q = append(q, "init="+url.QueryEscape(base64.URLEncoding.EncodeToString(c.ToBOCWithFlags(false))))
	}
	return "ton://transfer/" + chain.Friendly(p.To, p.Bounce, testnet) + "?" + strings.Join(q, "&"), nil
}

// ---------------------------------------------------------------- errors

// Refusal is a local pre-check's finding: the contract would refuse the message (with Code, when
// it is one of the contracts' codes), so nothing was sent. It matches ErrRefused and, with
// errors.As or contracts.AsExitCode, its exit code.
type Refusal struct {
	// Contract is the one that would refuse ("registry", "provider", "channel").
	Contract string
	// Code is its exit code; 0 when the contract would accept the message but it could not do
	// what was asked (e.g. a channel opened for an owner without a provider).
	Code contracts.ExitCode
	// Reason says what was found, in plain words.
	Reason string
}

func (r *Refusal) Error() string {
	if r.Code == 0 {
		return fmt.Sprintf("%v: %s", ErrRefused, r.Reason)
	}
	return fmt.Sprintf("%v: %s; the %s would fail with %v", ErrRefused, r.Reason, r.Contract, r.Code)
}

func (r *Refusal) Unwrap() []error {
	if r.Code == 0 {
		return []error{ErrRefused}
	}
	return []error{ErrRefused, r.Code}
}

func refuse(contract string, code contracts.ExitCode, format string, args ...any) *Refusal {
	return &Refusal{Contract: contract, Code: code, Reason: fmt.Sprintf(format, args...)}
}

// FundsError is a wallet whose balance does not exceed the value to send: nothing was signed.
type FundsError struct {
	Wallet  *address.Address
	Balance *big.Int
	Amount  *big.Int
	// Testnet renders the wallet's address for a testnet.
	Testnet bool
	// Attach: the value is attached to a contract message (else sent as a transfer).
	Attach bool
}

func (e *FundsError) Error() string {
	verb := "send"
	if e.Attach {
		verb = "attach"
	}
	return fmt.Sprintf("wallet %s holds %s TON, not enough to %s %s TON plus fees",
		chain.Friendly(e.Wallet, false, e.Testnet), wallet.FormatTON(e.Balance), verb, wallet.FormatTON(e.Amount))
}

// ContractError is a hop of a sent plan that failed (Err is the contract's ExitCode, or the
// action phase's failure) or did not show up (Tx is nil, Err says why). The wallet's transaction
// went through: the message left the wallet.
type ContractError struct {
	Op       string
	Contract string
	Address  *address.Address
	Tx       *tlb.Transaction
	Err      error
}

func (e *ContractError) Error() string {
	if e.Tx == nil {
		return fmt.Sprintf("%s: the message left the wallet but the %s's transaction did not show up: %v", e.Op, e.Contract, e.Err)
	}
	return fmt.Sprintf("%s: the %s refused it: %v", e.Op, e.Contract, e.Err)
}

func (e *ContractError) Unwrap() error { return e.Err }

// FeeError is a fee getter that could not be run, so the value to attach is unknown. Its Error is
// the getter's error.
type FeeError struct {
	// Getter is the get-method ("get_register_fee").
	Getter string
	Err    error
}

func (e *FeeError) Error() string { return e.Err.Error() }
func (e *FeeError) Unwrap() error { return e.Err }

// TxError is nil when tx succeeded; else the contract's exit code (a contracts.ExitCode) or the
// action phase's failure.
func TxError(tx *tlb.Transaction) error {
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return nil
	}
	if vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM); ok && !vm.Success {
		return contracts.ExitCode(vm.Details.ExitCode)
	}
	return wallet.CheckSuccess(tx)
}

// ---------------------------------------------------------------- sending

// Sent is what became of a plan that was sent.
type Sent struct {
	// Outcome is the transaction manager's: the message(s) signed, the wallet's transaction, the
	// cascade followed.
	Outcome *txmgr.Outcome
	// Txs are the transactions of the plan's hops, in order, as far as they were reached (none
	// with WaitWallet or WaitAccepted).
	Txs []*tlb.Transaction
}

// Seqno is the wallet seqno of the message that went out.
func (s *Sent) Seqno() uint32 { return s.Outcome.Sent().Seqno }

// Last is the last hop's transaction (nil when not reached).
func (s *Sent) Last(p *Plan) *tlb.Transaction {
	if s == nil || len(s.Txs) < len(p.Hops) || len(s.Txs) == 0 {
		return nil
	}
	return s.Txs[len(s.Txs)-1]
}

// checkFunds refuses a value the wallet cannot pay with fees on top.
func (o *Ops) checkFunds(ctx context.Context, value *big.Int, attach bool) error {
	if o.Sender == nil {
		return ErrNoSender
	}
	if err := o.needChain(); err != nil {
		return err
	}
	own, err := o.Chain.GetAccount(ctx, o.Sender.Address())
	if err != nil {
		return err
	}
	if own.Balance.Cmp(value) <= 0 {
		return &FundsError{Wallet: o.Sender.Address(), Balance: own.Balance, Amount: new(big.Int).Set(value), Testnet: o.Testnet, Attach: attach}
	}
	return nil
}

// Send sends p from the wallet and, unless p.Wait says otherwise, follows the cascade to its hops'
// transactions. It returns what it sent (nil when nothing was) with: a *FundsError before signing,
// the transaction manager's error (prefixed with the op) when the wallet's transaction failed or
// was not found, or a *ContractError naming the hop that failed or did not show up.
func (o *Ops) Send(ctx context.Context, p *Plan) (*Sent, error) {
	if err := o.checkFunds(ctx, p.Value, true); err != nil {
		return nil, err
	}
	req := txmgr.Request{Key: p.Key, Transfers: []wallet.Transfer{p.Transfer()}, NoWait: p.Wait == WaitAccepted}
	if p.Wait == WaitCascade {
		req.Follow = p.Follow
		if req.Follow.MaxDepth == 0 && !req.Follow.All && len(req.Follow.Until) == 0 {
			// The whole cascade, so that what is read afterwards sees every hop settled: the
			// named hops, and what they sent on, one level or two.
			req.Follow = txmgr.Follow{All: true, MaxDepth: len(p.Hops) + 2}
		}
	}
	out, err := o.Sender.Send(ctx, req)
	if errors.Is(err, txmgr.ErrNotSent) {
		return nil, fmt.Errorf("%s: %w: the wallet's transaction sent no message", p.Op, wallet.ErrFailed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p.Op, err)
	}
	sent := &Sent{Outcome: out}
	if p.Wait != WaitCascade {
		return sent, nil
	}
	addrs := make([]*address.Address, len(p.Hops))
	for i, h := range p.Hops {
		addrs[i] = h.Address
	}
	path := out.Cascade.Path(addrs...)
	for i, h := range p.Hops {
		if i >= len(path) {
			why := out.Cascade.Err
			if why == nil {
				why = txmgr.ErrNotReached
			}
			return sent, &ContractError{Op: p.Op, Contract: h.Contract, Address: h.Address, Err: why}
		}
		tx := path[i].Tx
		sent.Txs = append(sent.Txs, tx)
		if err := TxError(tx); err != nil {
			return sent, &ContractError{Op: p.Op, Contract: h.Contract, Address: h.Address, Tx: tx, Err: err}
		}
	}
	return sent, nil
}

// outMessages lists a transaction's outgoing internal messages.
func outMessages(tx *tlb.Transaction) []*tlb.InternalMessage {
	if tx == nil || tx.IO.Out == nil {
		return nil
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		return nil
	}
	var out []*tlb.InternalMessage
	for i := range msgs {
		if msgs[i].MsgType == tlb.MsgTypeInternal {
			out = append(out, msgs[i].AsInternal())
		}
	}
	return out
}

// outgoing finds tx's outgoing message whose body starts with opcode.
func outgoing(tx *tlb.Transaction, opcode uint32) *tlb.InternalMessage {
	for _, m := range outMessages(tx) {
		if m.Body == nil {
			continue
		}
		s, err := m.Body.BeginParse()
		if err != nil {
			continue
		}
		if op, err := s.LoadUInt(32); err == nil && uint32(op) == opcode {
			return m
		}
	}
	return nil
}

// InputError is an input no contract could accept; it matches ErrBadInput and reads as Err.
type InputError struct{ Err error }

func (e *InputError) Error() string        { return e.Err.Error() }
func (e *InputError) Unwrap() error        { return e.Err }
func (e *InputError) Is(target error) bool { return target == ErrBadInput }

func badInput(format string, args ...any) error { return &InputError{fmt.Errorf(format, args...)} }

// encode encodes a message; a field the message cannot hold is an InputError.
func encode(msg contracts.Message) (*cell.Cell, error) {
	body, err := contracts.Encode(msg)
	if err != nil {
		return nil, &InputError{err}
	}
	return body, nil
}
