// Package indexertest builds Cocoon networks on the Go devnet for the indexer's tests and
// benchmarks: a registry with funded actors that send every kind of message through transaction
// managers (chain/txmgr), as daemons do, and the scenario that exercises every operation of the
// three contracts (Scenario), bounces and failures included.
package indexertest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/uptime"
)

// Options configure a Net.
type Options struct {
	// BlockInterval is the devnet's block time (0: instant mode).
	BlockInterval time.Duration
	// DataDir persists the devnet ("": memory).
	DataDir string
	// NoSync skips the devnet's fsyncs (history generation for benchmarks).
	NoSync bool
}

// Net is a devnet with a registry, and the actors that use it.
type Net struct {
	T        testing.TB
	Ctx      context.Context
	D        *devnet.Devnet
	Gov      *Actor
	Treasury *Actor
	Registry *address.Address
	query    atomic.Uint64
}

// Actor is a funded V5R1 wallet with its transaction manager.
type Actor struct {
	Name string
	W    *wallet.Wallet
	M    *txmgr.Manager
}

// Address is the actor's wallet address.
func (a *Actor) Address() *address.Address { return a.W.Address() }

// TON is n TON in nanoTON (n may be fractional: "0.05").
func TON(n string) *big.Int {
	v, err := wallet.ParseTON(n)
	if err != nil {
		panic(err)
	}
	return v
}

// Params are the registry parameters the nets deploy with: short periods so tests can pass them by
// advancing the clock, a 2.5% fee, a quorum of two.
func (n *Net) Params() contracts.RegistryParams {
	return contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("10"), UnbondingPeriod: 120, ProtocolFeeBps: 250,
		Treasury: n.Treasury.Address(), ChallengePeriod: 300, OracleQuorum: 2, MaxAttestationLifetime: 24 * 3600,
	}
}

// New opens a devnet and funds the governance and treasury wallets; the registry is not deployed
// yet (DeployRegistry).
func New(t testing.TB, o Options) *Net {
	t.Helper()
	d, err := devnet.Open(devnet.Config{BlockInterval: o.BlockInterval, DataDir: o.DataDir, NoSync: o.NoSync})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(func() { cancel(); _ = d.Close() })
	n := &Net{T: t, Ctx: ctx, D: d}
	n.Gov = n.Actor("governance", "1000")
	n.Treasury = n.Actor("treasury", "1")
	return n
}

// Actor is a deterministic wallet named name, funded with ton TON.
func (n *Net) Actor(name, ton string) *Actor {
	n.T.Helper()
	seed := sha256.Sum256([]byte("indexertest/" + name))
	w, err := wallet.New(ed25519.NewKeyFromSeed(seed[:]), wallet.V5R1, n.D.GlobalID())
	if err != nil {
		n.T.Fatal(err)
	}
	if err := n.D.Fund(n.Ctx, w.Address(), TON(ton)); err != nil {
		n.T.Fatal(err)
	}
	poll := 5 * time.Millisecond
	if n.D.BlockInterval() > 0 {
		poll = n.D.BlockInterval() / 2
	}
	m, err := txmgr.New(txmgr.Config{Chain: n.D.Client(), Signer: w, Clock: func(context.Context) (time.Time, error) { return n.D.Now(), nil },
		PollInterval: poll, ResubmitInterval: time.Second, TTL: 5 * time.Minute})
	if err != nil {
		n.T.Fatal(err)
	}
	return &Actor{Name: name, W: w, M: m}
}

// QueryID is a fresh query id.
func (n *Net) QueryID() uint64 { return n.query.Add(1) }

// Encode encodes a message body.
func (n *Net) Encode(m contracts.Message) *cell.Cell {
	n.T.Helper()
	c, err := contracts.Encode(m)
	if err != nil {
		n.T.Fatal(err)
	}
	return c
}

// Send has a send value to to with body (nil: none) and init, and follows the whole cascade.
func (n *Net) Send(a *Actor, to *address.Address, value *big.Int, body *cell.Cell, init *tlb.StateInit) *txmgr.Outcome {
	n.T.Helper()
	return n.SendMany(a, wallet.Transfer{To: to, Amount: value, Bounce: init == nil, Body: body, StateInit: init})
}

// SendMany has a send several transfers in one wallet message and follows the whole cascade.
func (n *Net) SendMany(a *Actor, transfers ...wallet.Transfer) *txmgr.Outcome {
	n.T.Helper()
	out, err := a.M.Send(n.Ctx, txmgr.Request{Transfers: transfers, Follow: txmgr.Follow{All: true, MaxTxs: 4096, MaxDepth: 16}})
	if err != nil {
		n.T.Fatalf("%s: %v", a.Name, err)
	}
	if out.Cascade == nil || !out.Cascade.Complete {
		n.T.Fatalf("%s: cascade not followed to its end: %+v", a.Name, out.Cascade)
	}
	return out
}

// Msg sends an encoded message and follows the cascade.
func (n *Net) Msg(a *Actor, to *address.Address, value string, m contracts.Message) *txmgr.Outcome {
	n.T.Helper()
	return n.Send(a, to, TON(value), n.Encode(m), nil)
}

// ExitCodeAt is the compute exit code of the cascade's first transaction on at (-1000 when none).
func ExitCodeAt(out *txmgr.Outcome, at *address.Address) int {
	h := out.Cascade.Find(at)
	if h == nil {
		return -1000
	}
	return h.ExitCode
}

// Succeeded fails the test unless every hop of the cascade succeeded (a hop whose compute phase
// was skipped is a plain credit to an account without code: a wallet not deployed yet).
func (n *Net) Succeeded(out *txmgr.Outcome) {
	n.T.Helper()
	for _, h := range out.Cascade.Hops {
		if h.ComputeSkipped {
			continue
		}
		if err := h.Err(); err != nil {
			n.T.Fatalf("hop failed: %v", err)
		}
	}
}

// DeployRegistry deploys the registry with Params (channels disabled until SetChannelCode).
func (n *Net) DeployRegistry() *address.Address {
	n.T.Helper()
	init, addr, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(n.Gov.Address(), contracts.NetworkDevnet, n.Params(), contracts.ProviderCode()))
	if err != nil {
		n.T.Fatal(err)
	}
	n.Succeeded(n.Send(n.Gov, addr, TON("2"), nil, init))
	n.Registry = addr
	return addr
}

// Gover sends a governance message to the registry.
func (n *Net) Gover(m contracts.Message) *txmgr.Outcome {
	n.T.Helper()
	return n.Msg(n.Gov, n.Registry, "0.3", m)
}

// ProviderOf is owner's Provider contract address.
func (n *Net) ProviderOf(owner *Actor) *address.Address {
	a, err := contracts.ProviderAddress(contracts.ProviderCode(), n.Registry, owner.Address())
	if err != nil {
		n.T.Fatal(err)
	}
	return a
}

// Register registers (or tops up) owner's provider with stake TON.
func (n *Net) Register(owner *Actor, stake string) *txmgr.Outcome {
	n.T.Helper()
	fee, err := contracts.RegistryClient{Chain: n.D.Client(), Address: n.Registry}.RegisterFee(n.Ctx, TON(stake))
	if err != nil {
		n.T.Fatal(err)
	}
	body := n.Encode(contracts.RegisterProvider{QueryID: n.QueryID(), StakeAmount: tlb.MustFromTON(stake)})
	return n.Send(owner, n.Registry, new(big.Int).Add(TON(stake), new(big.Int).Add(fee, TON("0.05"))), body, nil)
}

// Owner sends an owner operation to owner's provider.
func (n *Net) Owner(owner *Actor, m contracts.Message) *txmgr.Outcome {
	n.T.Helper()
	return n.Msg(owner, n.ProviderOf(owner), "0.1", m)
}

// Vote has oracle vote for owner's provider: the claim (measurement, evidence digest, TLS key)
// valid until validUntil.
func (n *Net) Vote(oracle, owner *Actor, measurement, digest, tlsKey []byte, validUntil uint32) *txmgr.Outcome {
	n.T.Helper()
	return n.Msg(oracle, n.Registry, "0.5", contracts.SubmitOracleVote{QueryID: n.QueryID(), ProviderOwner: owner.Address(),
		Claim: &contracts.AttestationClaim{MeasurementHash: measurement, EvidenceDigest: digest, TLSKeyHash: tlsKey, ValidUntil: validUntil}})
}

// Ops is the protocol operations (contracts/ops) on the registry sent from a's wallet, through a's
// transaction manager, on the devnet's clock.
func (n *Net) Ops(a *Actor) *ops.Ops {
	return &ops.Ops{Chain: n.D.Client(), Sender: a.M, Registry: n.Registry, Clock: func(context.Context) (time.Time, error) { return n.D.Now(), nil }}
}

// UptimeTable is a table of count made-up providers for epoch (the scenario's oracles probe nobody).
func UptimeTable(epoch uint32, count int) *uptime.Table {
	entries := make([]uptime.Entry, count)
	for i := range entries {
		h := sha256.Sum256([]byte("indexertest/uptime/" + itoa(i)))
		entries[i] = uptime.Entry{Provider: address.NewAddress(0, 0, h[:]), ProbesOK: uint32(90 + i), ProbesTotal: 96, LatencyP50Ms: 40, LatencyP90Ms: 80}
	}
	t, err := uptime.Build(epoch, entries)
	if err != nil {
		panic(err)
	}
	return t
}

// PlanUptime plans oracle's commitment of table (ops.PlanUptimeRoot, the registry's checks included).
func (n *Net) PlanUptime(oracle *Actor, t *uptime.Table) (*ops.UptimePlan, error) {
	root := t.Root()
	return n.Ops(oracle).PlanUptimeRoot(n.Ctx, ops.UptimeRootInput{Epoch: t.Epoch, Root: root[:], ProviderCount: t.Count()})
}

// CommitUptime has oracle commit table's root (ops.PlanUptimeRoot, then ops.SendUptimeRoot) and
// fails the test unless the registry stored it.
func (n *Net) CommitUptime(oracle *Actor, t *uptime.Table) {
	n.T.Helper()
	p, err := n.PlanUptime(oracle, t)
	if err != nil {
		n.T.Fatalf("%s: %v", oracle.Name, err)
	}
	res, err := n.Ops(oracle).SendUptimeRoot(n.Ctx, p)
	if err != nil {
		n.T.Fatalf("%s: %v", oracle.Name, err)
	}
	if c := res.Commitment; !c.Found || c.Epoch != t.Epoch {
		n.T.Fatalf("%s: the registry holds %+v after committing epoch %d", oracle.Name, c, t.Epoch)
	}
}

// Client is a payment-channel client: a wallet and an ed25519 channel key.
type Client struct {
	*Actor
	Key ed25519.PrivateKey
}

// NewClient makes a funded client with a deterministic channel key.
func (n *Net) NewClient(name, ton string) *Client {
	n.T.Helper()
	seed := sha256.Sum256([]byte("indexertest/channel/" + name))
	return &Client{Actor: n.Actor(name, ton), Key: ed25519.NewKeyFromSeed(seed[:])}
}

// ChannelOf is the channel of client c with owner's provider.
func (n *Net) ChannelOf(c *Client, owner *address.Address) *address.Address {
	prov, err := contracts.ProviderAddress(contracts.ProviderCode(), n.Registry, owner)
	if err != nil {
		n.T.Fatal(err)
	}
	a, err := contracts.ChannelAddress(contracts.ChannelCode(), n.Registry, c.Key.Public().(ed25519.PublicKey), prov)
	if err != nil {
		n.T.Fatal(err)
	}
	return a
}

// Open opens (or tops up through the registry) c's channel with owner's provider with deposit TON.
func (n *Net) Open(c *Client, owner *address.Address, deposit string) *txmgr.Outcome {
	n.T.Helper()
	fee, err := contracts.RegistryClient{Chain: n.D.Client(), Address: n.Registry}.OpenChannelFee(n.Ctx)
	if err != nil {
		n.T.Fatal(err)
	}
	m, err := contracts.NewOpenChannel(n.QueryID(), owner, c.Key.Public().(ed25519.PublicKey))
	if err != nil {
		n.T.Fatal(err)
	}
	return n.Send(c.Actor, n.Registry, new(big.Int).Add(TON(deposit), fee), n.Encode(m), nil)
}

// ClaimMsg is the Claim of c's voucher for channel ch: amount TON, cumulative token totals.
func (n *Net) ClaimMsg(c *Client, ch *address.Address, amount string, prompt, completion uint64) contracts.Claim {
	n.T.Helper()
	return n.ClaimNano(c, ch, TON(amount), prompt, completion)
}

// ClaimNano is ClaimMsg with the amount in nanoTON.
func (n *Net) ClaimNano(c *Client, ch *address.Address, amount *big.Int, prompt, completion uint64) contracts.Claim {
	n.T.Helper()
	s, err := voucherOf(ch, amount, prompt, completion).Sign(c.Key)
	if err != nil {
		n.T.Fatal(err)
	}
	m, err := contracts.NewClaim(n.QueryID(), s)
	if err != nil {
		n.T.Fatal(err)
	}
	return m
}

// StartCloseMsg is c's signed request to close ch (nonce: the channel's closeNonce).
func (n *Net) StartCloseMsg(c *Client, ch *address.Address, nonce uint32) contracts.StartClose {
	n.T.Helper()
	m, err := contracts.NewStartClose(n.QueryID(), contracts.CloseRequest{Channel: ch, CloseNonce: nonce, RefundTo: c.Address()}, c.Key)
	if err != nil {
		n.T.Fatal(err)
	}
	return m
}
