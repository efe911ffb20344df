package oracle_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/oracle"
)

// world is a block-mode devnet with a registry (quorum 2, sim allowed) and its actors.
type world struct {
	t   *testing.T
	ctx context.Context
	d   *devnet.Devnet
	reg *address.Address
	gov *ops.Ops
}

const blockInterval = 10 * time.Millisecond

func newWorld(t *testing.T, quorum uint8) *world {
	t.Helper()
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: blockInterval})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	t.Cleanup(cancel)
	w := &world{t: t, ctx: ctx, d: d}
	gw := w.wallet("gov", 100)
	w.gov = w.opsOf(gw, nil)
	p, err := w.gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250, ChallengePeriod: 3600,
		OracleQuorum: quorum, MaxAttestationLifetime: 24 * 3600}})
	require.NoError(t, err)
	_, err = w.gov.Send(ctx, p.Plan)
	require.NoError(t, err)
	w.reg = p.Address
	w.gov.Registry = w.reg
	w.govern(contracts.AddMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: simMeasurement(), Kind: contracts.MeasurementSim})
	return w
}

func simMeasurement() []byte {
	m := attest.SimMeasurement(attest.DevnetSimImage)
	return m[:]
}

// wallet is a deterministic V5R1 wallet funded with ton TON.
func (w *world) wallet(seed string, ton int64) *wallet.Wallet {
	w.t.Helper()
	s := sha256.Sum256([]byte("oracle test " + seed))
	wl, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, w.d.GlobalID())
	require.NoError(w.t, err)
	if ton > 0 {
		require.NoError(w.t, w.d.Fund(w.ctx, wl.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	return wl
}

func (w *world) clock() func(ctx context.Context) (time.Time, error) {
	return txmgr.DevnetClock(w.d.Client().(txmgr.DevnetClocked))
}

func (w *world) opsOf(wl *wallet.Wallet, reg *address.Address) *ops.Ops {
	w.t.Helper()
	m, err := txmgr.New(txmgr.Config{Chain: w.d.Client(), Signer: wl, PollInterval: 5 * time.Millisecond, Clock: w.clock()})
	require.NoError(w.t, err)
	return &ops.Ops{Chain: w.d.Client(), Sender: m, Registry: reg, Clock: w.clock()}
}

func (w *world) govern(msgs ...contracts.Message) {
	w.t.Helper()
	for _, msg := range msgs {
		p, err := w.gov.PlanGovern(w.ctx, msg, nil)
		require.NoError(w.t, err)
		_, err = w.gov.Send(w.ctx, p)
		require.NoError(w.t, err, msg.MessageName())
	}
}

// provider registers an owner with stake and the fake provider's endpoint; it returns the owner and
// the Provider contract.
func (w *world) provider(name string, fp *fakeProvider) (owner, contract *address.Address) {
	w.t.Helper()
	o := w.opsOf(w.wallet("owner "+name, 20), w.reg)
	p, err := o.PlanRegister(w.ctx, ops.RegisterInput{Stake: big.NewInt(5_000_000_000)})
	require.NoError(w.t, err)
	res, err := o.SendRegister(w.ctx, p)
	require.NoError(w.t, err)
	op, err := o.PlanOwnerOp(w.ctx, ops.OwnerOpInput{Op: ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: fp.URL}})
	require.NoError(w.t, err)
	_, err = o.SendOwnerOp(w.ctx, op)
	require.NoError(w.t, err)
	return o.Sender.Address(), res.Provider.Address
}

// oracleFixture is an oracle's wallet, key and data directory: what survives a restart.
type oracleFixture struct {
	wallet  *wallet.Wallet
	keyFile string
	dataDir string
	key     ed25519.PublicKey
}

// newOracle creates oracle i's wallet (funded) and key and adds it to the registry.
func (w *world) newOracle(i int, add bool) *oracleFixture {
	w.t.Helper()
	dir := w.t.TempDir()
	f := &oracleFixture{wallet: w.wallet("oracle "+string(rune('0'+i)), 20), keyFile: filepath.Join(dir, "keys", "oracle.key"), dataDir: filepath.Join(dir, "data")}
	k, err := keys.NewOracleKey(f.keyFile)
	require.NoError(w.t, err)
	f.key = k.Public().(ed25519.PublicKey)
	if add {
		w.govern(contracts.AddOracle{QueryID: ops.NewQueryID(), Wallet: f.wallet.Address(), PublicKey: f.key})
	}
	return f
}

// config is a fast oracle configuration for the tests.
func (w *world) config(f *oracleFixture) oracle.Config {
	c := oracle.DefaultConfig()
	c.Registry = w.reg.StringRaw()
	c.OracleKeyFile = f.keyFile
	c.DataDir = f.dataDir
	c.Listen = "127.0.0.1:0"
	c.AllowSim = true
	c.Refresh = 200 * time.Millisecond
	c.AttestInterval = 400 * time.Millisecond
	c.VoteLifetime = 10 * time.Minute
	c.RenewBefore = time.Minute
	c.ProbeInterval = 300 * time.Millisecond
	c.ProbeRetryMin = 100 * time.Millisecond
	c.ProbeRetryMax = time.Second
	c.ProbeTimeout = 3 * time.Second
	c.Tick = 40 * time.Millisecond
	c.Epoch = 2 * time.Second
	c.TxPerMinute = 6000
	c.MinBalance = "1"
	c.Chain = w.d.Client()
	c.ChainClock = w.clock()
	c.Wallet = f.wallet
	c.PollInterval = 5 * time.Millisecond
	c.LogLevel = "warn"
	return c
}

// start runs an oracle until the test ends (or Stop).
func (w *world) start(f *oracleFixture, edit func(*oracle.Config)) *oracle.Oracle {
	w.t.Helper()
	c := w.config(f)
	if edit != nil {
		edit(&c)
	}
	log := quiet
	if os.Getenv("ORACLE_TEST_LOG") != "" {
		log = nil
	}
	o, err := oracle.New(w.ctx, c, log, oracle.NewMetrics())
	require.NoError(w.t, err)
	require.NoError(w.t, o.Start(w.ctx))
	w.t.Cleanup(func() { _ = o.Stop(context.Background()) })
	return o
}

// votesBy counts the SubmitOracleVote transactions of oracle wallet o for providerOwner that the
// registry accepted.
func (w *world) votesBy(o, providerOwner *address.Address) int {
	w.t.Helper()
	txs, err := w.d.Transactions(w.reg, 1000, 0, nil)
	require.NoError(w.t, err)
	n := 0
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			continue
		}
		in := tx.IO.In.AsInternal()
		if !in.SrcAddr.Equals(o) || in.Body == nil {
			continue
		}
		m, err := contracts.Decode(in.Body)
		if err != nil {
			continue
		}
		v, ok := m.(contracts.SubmitOracleVote)
		if !ok || !v.ProviderOwner.Equals(providerOwner) {
			continue
		}
		if d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary); ok {
			if vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM); ok && vm.Success {
				n++
			}
		}
	}
	return n
}

func (w *world) attestation(provider *address.Address) *contracts.AttestationView {
	w.t.Helper()
	a, err := contracts.ProviderClient{Chain: w.d.Client(), Address: provider}.Attestation(w.ctx)
	require.NoError(w.t, err)
	return a
}

// eventually polls cond every 20 ms until it holds or the timeout passes.
func (w *world) eventually(what string, timeout time.Duration, cond func() bool) {
	w.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
