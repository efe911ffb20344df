package clienttest

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"io"
	"log/slog"
	"math/big"
	"net/url"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
)

// BlockInterval of the test devnet: block mode, every hop of a cascade in a later block.
const BlockInterval = 10 * time.Millisecond

// ModelName is the catalog name of the model every test provider serves (id ModelID).
const (
	ModelName = "clienttest-model"
	ModelID   = 1
)

// Default test prices (nanoTON per 1M tokens): 0.1 TON prompt, 0.2 TON completion.
var (
	PromptPrice     = big.NewInt(100_000_000)
	CompletionPrice = big.NewInt(200_000_000)
)

// Net is a devnet with a registry: the sim measurement of attest.DevnetSimImage allowed, the
// model ModelName, and one oracle (quorum 1) that attests the providers it starts.
type Net struct {
	T        testing.TB
	Ctx      context.Context
	Devnet   *devnet.Devnet
	Chain    chain.Client
	Registry *address.Address
	Gov      *Actor
	Oracle   *Actor
	seeds    atomic.Int64
}

// Actor is a funded wallet with its transaction manager and operations on the registry.
type Actor struct {
	*ops.Ops
	Wallet  *wallet.Wallet
	Manager *txmgr.Manager
}

// Address is the actor's wallet address.
func (a *Actor) Address() *address.Address { return a.Wallet.Address() }

// NewNet starts a devnet and deploys the registry. Everything stops with the test.
func NewNet(t testing.TB) *Net {
	t.Helper()
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: BlockInterval})
	must(t, err)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	t.Cleanup(cancel)
	n := &Net{T: t, Ctx: ctx, Devnet: d, Chain: d.Client()}
	n.Gov = n.Actor("gov", 1000)
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250,
		ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600}
	plan, err := n.Gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: params})
	must(t, err)
	_, err = n.Gov.Send(ctx, plan.Plan)
	must(t, err)
	n.Registry = plan.Address
	n.Gov.Registry = n.Registry
	n.Oracle = n.Actor("oracle", 100)
	sim := attest.SimMeasurement(attest.DevnetSimImage)
	n.Govern(contracts.AddMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: sim[:], Kind: contracts.MeasurementSim})
	n.AddModel(ModelID, ModelName, sha256.Sum256([]byte(ModelName)))
	n.Govern(contracts.AddOracle{QueryID: ops.NewQueryID(), Wallet: n.Oracle.Address(), PublicKey: n.Oracle.Wallet.PublicKey()})
	return n
}

// AddModel adds a model to the registry's catalog.
func (n *Net) AddModel(id uint32, name string, weights [32]byte) {
	n.T.Helper()
	nameCell, err := contracts.TextCell(name, contracts.MaxModelNameBytes)
	must(n.T, err)
	n.Govern(contracts.AddModel{QueryID: ops.NewQueryID(), ModelID: id, WeightsHash: weights[:], Name: nameCell})
}

// Govern sends a governance message from the registry's governance.
func (n *Net) Govern(msg contracts.Message) {
	n.T.Helper()
	p, err := n.Gov.PlanGovern(n.Ctx, msg, nil)
	must(n.T, err)
	_, err = n.Gov.Send(n.Ctx, p)
	must(n.T, err)
}

// Actor is a fresh deterministic wallet funded with ton TON.
func (n *Net) Actor(name string, ton int64) *Actor {
	n.T.Helper()
	s := sha256.Sum256([]byte("clienttest " + name + string(rune('A'+n.seeds.Add(1)))))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, n.Devnet.GlobalID())
	must(n.T, err)
	return n.ActorOf(w, ton)
}

// ActorOf is w funded with ton TON, with its transaction manager and operations on the registry.
func (n *Net) ActorOf(w *wallet.Wallet, ton int64) *Actor {
	n.T.Helper()
	if ton > 0 {
		must(n.T, n.Devnet.Fund(n.Ctx, w.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	m, err := txmgr.New(txmgr.Config{Chain: n.Chain, Signer: w, PollInterval: 5 * time.Millisecond, Clock: n.Clock()})
	must(n.T, err)
	return &Actor{Ops: &ops.Ops{Chain: n.Chain, Sender: m, Registry: n.Registry, Clock: n.OpsClock()}, Wallet: w, Manager: m}
}

// Clock is the devnet's clock for transaction managers.
func (n *Net) Clock() txmgr.Clock { return txmgr.DevnetClock(n.Chain.(txmgr.DevnetClocked)) }

// OpsClock is the devnet's clock for operations.
func (n *Net) OpsClock() func(context.Context) (time.Time, error) {
	return func(context.Context) (time.Time, error) { return n.Devnet.Now(), nil }
}

// ProviderOptions shape a test provider.
type ProviderOptions struct {
	// Name seeds the owner's wallet.
	Name string
	// Image is the simulated TEE image it runs (zero: the allowed devnet image).
	Image [48]byte
	// Prices for ModelID (nil: PromptPrice and CompletionPrice).
	Prompt, Completion *big.Int
	// NoVote leaves it unattested.
	NoVote bool
	// Stake in TON (0: 10).
	Stake int64
	// Models the backend serves (nil: ModelName).
	Models []string
}

// TestProvider is a running test provider with its owner.
type TestProvider struct {
	*Provider
	Owner    *Actor
	Contract *address.Address
	// Image is the simulated TEE image it runs.
	Image [48]byte
}

// StartProvider starts a provider, registers it (stake), publishes its endpoint and prices, and
// has the oracle attest its key.
func (n *Net) StartProvider(o ProviderOptions) *TestProvider {
	n.T.Helper()
	if o.Name == "" {
		o.Name = "provider"
	}
	if o.Stake == 0 {
		o.Stake = 10
	}
	if o.Prompt == nil {
		o.Prompt, o.Completion = PromptPrice, CompletionPrice
	}
	if o.Models == nil {
		o.Models = []string{ModelName}
	}
	owner := n.Actor(o.Name, o.Stake+20)
	var self atomic.Pointer[address.Address]
	p, err := StartProvider(n.Ctx, ProviderConfig{Chain: n.Chain, Registry: n.Registry, Image: o.Image, Script: NewScript(o.Models...),
		Self: func() *address.Address { return self.Load() }})
	must(n.T, err)
	n.T.Cleanup(p.Stop)
	tp := &TestProvider{Provider: p, Owner: owner, Image: o.Image}
	if tp.Image == ([48]byte{}) {
		tp.Image = attest.DevnetSimImage
	}
	reg, err := owner.PlanRegister(n.Ctx, ops.RegisterInput{Stake: new(big.Int).Mul(big.NewInt(o.Stake), big.NewInt(1_000_000_000))})
	must(n.T, err)
	res, err := owner.SendRegister(n.Ctx, reg)
	must(n.T, err)
	tp.Contract = res.Provider.Address
	self.Store(tp.Contract)
	n.OwnerOp(owner, ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: p.URL})
	n.OwnerOp(owner, ops.OwnerOp{Kind: ops.SetPrice, ModelID: ModelID, PromptPrice: o.Prompt, CompletionPrice: o.Completion})
	if !o.NoVote {
		n.Attest(tp, p.Issuer.KeyHash())
	}
	return tp
}

// OwnerOp runs an owner operation.
func (n *Net) OwnerOp(owner *Actor, op ops.OwnerOp) {
	n.T.Helper()
	p, err := owner.PlanOwnerOp(n.Ctx, ops.OwnerOpInput{Op: op})
	must(n.T, err)
	_, err = owner.Send(n.Ctx, p.Plan)
	must(n.T, err)
}

// Attest has the oracle vote for the provider's evidence with the given TLS key hash (a test
// gives another key to make the on-chain key differ from the served one).
func (n *Net) Attest(tp *TestProvider, keyHash [32]byte) {
	n.T.Helper()
	n.Vote(tp.Owner.Address(), tp.Issuer.Evidence(), attest.SimMeasurement(tp.Image), keyHash)
}

// Vote has the oracle vote, as an oracle does, for a provider's claim: the measurement, the digest
// of its certificate evidence (DER) and the TLS key hash, valid for 12 hours.
func (n *Net) Vote(owner *address.Address, evidence []byte, measurement, keyHash [32]byte) {
	n.T.Helper()
	ev, err := attest.ParseEvidence(evidence)
	must(n.T, err)
	digest, err := ev.Digest()
	must(n.T, err)
	plan, err := n.Oracle.PlanOracleVote(n.Ctx, ops.OracleVoteInput{ProviderOwner: owner, Claim: contracts.AttestationClaim{
		MeasurementHash: measurement[:], EvidenceDigest: digest[:], TLSKeyHash: keyHash[:], ValidUntil: uint32(n.Devnet.Now().Add(12 * time.Hour).Unix())}})
	must(n.T, err)
	_, err = n.Oracle.SendOracleVote(n.Ctx, plan)
	must(n.T, err)
}

// Serve serves the devnet's toncenter API on 127.0.0.1 and returns its URL.
func (n *Net) Serve() string {
	n.T.Helper()
	s := &devnet.Server{Devnet: n.Devnet, Listen: "127.0.0.1:0", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	must(n.T, s.Start(n.Ctx))
	n.T.Cleanup(func() { _ = s.Stop(context.Background()) })
	u := url.URL{Scheme: "http", Host: s.Addr()}
	return u.String()
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// MnemonicWallet writes a new wallet's mnemonic to dir/wallet.key (0600), funds it with ton TON
// and returns the file: what a user's key file is.
func (n *Net) MnemonicWallet(dir string, ton int64) (string, *wallet.Wallet) {
	n.T.Helper()
	words := wallet.NewMnemonic()
	path := filepath.Join(dir, "wallet.key")
	must(n.T, keys.WriteMnemonic(path, words))
	w, err := wallet.FromMnemonic(words, wallet.V5R1, n.Devnet.GlobalID())
	must(n.T, err)
	if ton > 0 {
		must(n.T, n.Devnet.Fund(n.Ctx, w.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	return path, w
}
