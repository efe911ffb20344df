package ops_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// The operations on the Go devnet in block mode: every hop of a cascade lands in a later block,
// as on TON.
const blockInterval = 10 * time.Millisecond

func nano(ton string) *big.Int {
	n, err := wallet.ParseTON(ton)
	if err != nil {
		panic(err)
	}
	return n
}

// net is a block-mode devnet with the wallets of a test.
type net struct {
	t   *testing.T
	ctx context.Context
	d   *devnet.Devnet
}

func newNet(t *testing.T) *net {
	t.Helper()
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: blockInterval})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	return &net{t: t, ctx: ctx, d: d}
}

// actor is a funded wallet with its transaction manager and operations on registry.
type actor struct {
	*ops.Ops
	w *wallet.Wallet
}

// actor is a deterministic V5R1 wallet funded with ton TON, operating on registry reg.
func (n *net) actor(seed string, ton int64, reg *address.Address) *actor {
	n.t.Helper()
	s := sha256.Sum256([]byte("ops test " + seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, n.d.GlobalID())
	require.NoError(n.t, err)
	if ton > 0 {
		require.NoError(n.t, n.d.Fund(n.ctx, w.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	clock := txmgr.DevnetClock(n.d.Client().(txmgr.DevnetClocked))
	m, err := txmgr.New(txmgr.Config{Chain: n.d.Client(), Signer: w, PollInterval: 5 * time.Millisecond, Clock: clock})
	require.NoError(n.t, err)
	return &actor{Ops: &ops.Ops{Chain: n.d.Client(), Sender: m, Registry: reg, Clock: clock}, w: w}
}

func (a *actor) addr() *address.Address { return a.w.Address() }

// at is a's operations on another registry.
func (a *actor) at(reg *address.Address) *actor {
	o := *a.Ops
	o.Registry = reg
	return &actor{Ops: &o, w: a.w}
}

func (n *net) lastLT(a *address.Address) uint64 {
	n.t.Helper()
	acc, err := n.d.Account(a)
	require.NoError(n.t, err)
	return acc.LastTxLT
}

func (n *net) balance(a *address.Address) *big.Int {
	n.t.Helper()
	acc, err := n.d.Account(a)
	require.NoError(n.t, err)
	return acc.Balance
}

// received lists the values of the internal messages a received after afterLT, and the fees of
// its transactions.
func (n *net) received(a *address.Address, afterLT uint64) (values []*big.Int, fees *big.Int) {
	n.t.Helper()
	txs, err := n.d.Transactions(a, 100, 0, nil)
	require.NoError(n.t, err)
	fees = new(big.Int)
	for _, tx := range txs {
		if tx.LT <= afterLT {
			continue
		}
		fees.Add(fees, tx.TotalFees.Coins.Nano())
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal {
			values = append(values, tx.IO.In.AsInternal().Amount.Nano())
		}
	}
	return values, fees
}

// expectOnlyIncome checks that a received exactly want (one message) since afterLT and that its
// balance moved by that minus its own transactions' fees.
func (n *net) expectOnlyIncome(what string, a *address.Address, afterLT uint64, before, want *big.Int) {
	n.t.Helper()
	values, fees := n.received(a, afterLT)
	require.Len(n.t, values, 1, "%s received %v, want one message of %s", what, values, want)
	require.Zero(n.t, values[0].Cmp(want), "%s received %s, want %s", what, values[0], want)
	delta := new(big.Int).Sub(n.balance(a), before)
	require.Zero(n.t, delta.Cmp(new(big.Int).Sub(want, fees)), "%s balance moved by %s, want %s - fees %s", what, delta, want, fees)
}

// refused runs plan, which must be refused locally naming code (0: a refusal without an exit
// code), and checks that nothing left the sender's wallet: no transaction, nothing queued.
func (n *net) refused(a *actor, code contracts.ExitCode, plan func() error) *ops.Refusal {
	n.t.Helper()
	before := n.lastLT(a.addr())
	err := plan()
	var r *ops.Refusal
	require.ErrorAs(n.t, err, &r, "want a refusal naming %v", code)
	require.ErrorIs(n.t, err, ops.ErrRefused)
	require.Equal(n.t, code, r.Code, "refusal %v", err)
	if code != 0 {
		got, ok := contracts.AsExitCode(err)
		require.True(n.t, ok && got == code, "AsExitCode(%v) = %v", err, got)
		require.Contains(n.t, err.Error(), code.Error())
	}
	n.quiet(a, before)
	return r
}

// quiet checks that a's wallet sent nothing since its transaction at lt.
func (n *net) quiet(a *actor, lt uint64) {
	n.t.Helper()
	ext, _ := n.d.Pending()
	require.Zero(n.t, ext, "an external message is queued")
	require.NoError(n.t, n.d.WaitBlocks(n.ctx, 1))
	require.Equal(n.t, lt, n.lastLT(a.addr()), "the wallet sent something")
}

// contractRefused checks that err is the contract's refusal on contract with code.
func contractRefused(t *testing.T, err error, contract string, code contracts.ExitCode) *ops.ContractError {
	t.Helper()
	var ce *ops.ContractError
	require.ErrorAs(t, err, &ce, "want %s's refusal with %v", contract, code)
	require.Equal(t, contract, ce.Contract)
	require.NotNil(t, ce.Tx, "the %s's transaction was not found", contract)
	got, ok := contracts.AsExitCode(err)
	require.True(t, ok && got == code, "%v, want %v", err, code)
	require.False(t, errors.Is(err, ops.ErrRefused), "a contract's refusal is not a local one")
	return ce
}

// deployRegistry deploys a registry governed by gov (params edited by edit) and returns it.
func (n *net) deployRegistry(gov *actor, edit func(p *contracts.RegistryParams)) *address.Address {
	n.t.Helper()
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250,
		ChallengePeriod: 3600, OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600}
	if edit != nil {
		edit(&params)
	}
	p, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: params})
	require.NoError(n.t, err)
	_, err = gov.Send(n.ctx, p.Plan)
	require.NoError(n.t, err)
	return p.Address
}

// register registers a's provider with stake TON and returns its address.
func (n *net) register(a *actor, stake string) *address.Address {
	n.t.Helper()
	p, err := a.PlanRegister(n.ctx, ops.RegisterInput{Stake: nano(stake)})
	require.NoError(n.t, err)
	res, err := a.SendRegister(n.ctx, p)
	require.NoError(n.t, err)
	return res.Provider.Address
}

// governed is a registry deployed by a governance wallet funded with ton TON, and that wallet
// operating on it.
func (n *net) governed(ton int64) (*address.Address, *actor) {
	n.t.Helper()
	gov := n.actor("gov", ton, nil)
	reg := n.deployRegistry(gov, nil)
	return reg, gov.at(reg)
}

// govern sends governance messages from gov, each of which must go through.
func (n *net) govern(gov *actor, msgs ...contracts.Message) {
	n.t.Helper()
	for _, msg := range msgs {
		p, err := gov.PlanGovern(n.ctx, msg, nil)
		require.NoError(n.t, err)
		_, err = gov.Send(n.ctx, p)
		require.NoError(n.t, err, msg.MessageName())
	}
}
