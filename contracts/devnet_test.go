package contracts_test

import (
	"bytes"
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
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// The Go API end to end on the Go devnet (tonutils-go's TVM): deploy a registry from Go-built
// data, send Go-encoded messages, and read everything back through the getter clients.

var devnetNow = time.Unix(1_800_000_000, 0)

type actor struct {
	w     *wallet.Wallet
	seqno uint32
}

type harness struct {
	t *testing.T
	d *devnet.Devnet
}

func newActor(t *testing.T, h *harness, seed string) *actor {
	s := sha256.Sum256([]byte(seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V4R2, h.d.GlobalID())
	require.NoError(t, err)
	require.NoError(t, h.d.Fund(context.Background(), w.Address(), big.NewInt(100_000_000_000)))
	return &actor{w: w}
}

func nano(ton string) *big.Int {
	n, err := wallet.ParseTON(ton)
	if err != nil {
		panic(err)
	}
	return n
}

// send has actor a send one internal message and returns every transaction of the cascade.
func (h *harness) send(a *actor, to *address.Address, value string, body *cell.Cell, init *tlb.StateInit) []*tlb.Transaction {
	h.t.Helper()
	signed, err := a.w.Sign(a.seqno, devnetNow.Add(time.Hour), a.seqno == 0,
		wallet.Transfer{To: to, Amount: nano(value), Bounce: init == nil, Body: body, StateInit: init})
	require.NoError(h.t, err)
	res, err := h.d.Send(context.Background(), signed.Message)
	require.NoError(h.t, err)
	a.seqno++
	return res.Transactions
}

// exitCodeAt is the compute-phase exit code of at's transaction in txs (0 when it succeeded).
func exitCodeAt(t *testing.T, txs []*tlb.Transaction, at *address.Address) contracts.ExitCode {
	t.Helper()
	for _, tx := range txs {
		if !bytes.Equal(tx.AccountAddr, at.Data()) {
			continue
		}
		d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
		require.True(t, ok)
		vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
		require.True(t, ok, "compute phase skipped")
		if vm.Success {
			return 0
		}
		return contracts.ExitCode(vm.Details.ExitCode)
	}
	t.Fatalf("no transaction on %s", at)
	return 0
}

func allSucceeded(t *testing.T, txs []*tlb.Transaction) {
	t.Helper()
	for _, tx := range txs {
		require.NoError(t, wallet.CheckSuccess(tx))
	}
}

func encode(t *testing.T, m contracts.Message) *cell.Cell {
	t.Helper()
	c, err := contracts.Encode(m)
	require.NoError(t, err)
	return c
}

func TestRegistryOnDevnet(t *testing.T) {
	d, err := devnet.Open(devnet.Config{Now: func() time.Time { return devnetNow }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	h := &harness{t: t, d: d}
	ctx := context.Background()
	gov := newActor(t, h, "governance")
	owner := newActor(t, h, "owner")
	treasury := newActor(t, h, "treasury")

	// Deploy the registry with data built in Go.
	params := contracts.RegistryParams{
		MinProviderStake:       tlb.MustFromTON("10"),
		UnbondingPeriod:        7 * 24 * 3600,
		ProtocolFeeBps:         250,
		Treasury:               treasury.w.Address(),
		ChallengePeriod:        24 * 3600,
		OracleQuorum:           1,
		MaxAttestationLifetime: 24 * 3600,
	}
	init, registry, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(gov.w.Address(), contracts.NetworkDevnet, params, contracts.ProviderCode()))
	require.NoError(t, err)
	allSucceeded(t, h.send(gov, registry, "1", nil, init))

	measurement := bytes.Repeat([]byte{0x3c}, 32)
	name, err := contracts.TextCell("llama-3.1-8b", contracts.MaxModelNameBytes)
	require.NoError(t, err)
	allSucceeded(t, h.send(gov, registry, "0.1", encode(t, contracts.AddMeasurement{QueryID: 1, MeasurementHash: measurement, Kind: contracts.MeasurementSim}), nil))
	allSucceeded(t, h.send(gov, registry, "0.1", encode(t, contracts.AddModel{QueryID: 2, ModelID: 1, WeightsHash: measurement, Name: name}), nil))

	// A rejected message comes back as a named exit code.
	txs := h.send(owner, registry, "5.1", encode(t, contracts.RegisterProvider{QueryID: 3, StakeAmount: tlb.MustFromTON("5")}), nil)
	code := exitCodeAt(t, txs, registry)
	require.True(t, errors.Is(code, contracts.ExitStakeBelowMinimum), "got %v", code)

	allSucceeded(t, h.send(owner, registry, "10.5", encode(t, contracts.RegisterProvider{QueryID: 4, StakeAmount: tlb.MustFromTON("10")}), nil))

	// The registry's getter and the offline derivation agree, and the provider is there.
	reg := contracts.RegistryClient{Chain: d.Client(), Address: registry}
	provAddr, err := reg.ProviderAddress(ctx, owner.w.Address())
	require.NoError(t, err)
	offline, err := contracts.ProviderAddress(contracts.ProviderCode(), registry, owner.w.Address())
	require.NoError(t, err)
	require.Equal(t, offline.StringRaw(), provAddr.StringRaw())

	endpoint, err := contracts.TextCell("https://gpu.example:8443", contracts.MaxEndpointBytes)
	require.NoError(t, err)
	allSucceeded(t, h.send(owner, provAddr, "0.1", encode(t, contracts.SetEndpoint{QueryID: 5, Endpoint: endpoint}), nil))
	allSucceeded(t, h.send(owner, provAddr, "0.1", encode(t, contracts.SetModelPrice{QueryID: 6, ModelID: 1,
		PromptPricePerMillion: tlb.MustFromTON("0.1"), CompletionPricePerMillion: tlb.MustFromTON("0.3")}), nil))

	rd, err := reg.Data(ctx)
	require.NoError(t, err)
	require.True(t, rd.Governance.Equals(gov.w.Address()))
	require.Nil(t, rd.PendingGovernance)
	require.Equal(t, contracts.NetworkDevnet, rd.NetworkKind)
	require.Equal(t, uint16(1), rd.ModelCount)

	rp, err := reg.Params(ctx)
	require.NoError(t, err)
	require.Equal(t, params.MinProviderStake.Nano(), rp.MinProviderStake.Nano())
	require.True(t, rp.Treasury.Equals(treasury.w.Address()))
	require.Equal(t, params.MaxAttestationLifetime, rp.MaxAttestationLifetime)

	kind, err := reg.MeasurementKind(ctx, measurement)
	require.NoError(t, err)
	require.Equal(t, contracts.MeasurementSim, kind)
	kind, err = reg.MeasurementKind(ctx, make([]byte, 32))
	require.NoError(t, err)
	require.Equal(t, contracts.MeasurementKind(0), kind)

	model, err := reg.Model(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, contracts.ModelLookup{Found: true, WeightsHash: measurement, Name: "llama-3.1-8b"}, *model)
	model, err = reg.Model(ctx, 2)
	require.NoError(t, err)
	require.False(t, model.Found)

	ms, err := reg.Measurements(ctx)
	require.NoError(t, err)
	require.Equal(t, []contracts.Measurement{{Hash: measurement, Kind: contracts.MeasurementSim}}, ms)
	oracles, err := reg.Oracles(ctx)
	require.NoError(t, err)
	require.Empty(t, oracles)
	o, err := reg.Oracle(ctx, owner.w.Address())
	require.NoError(t, err)
	require.False(t, o.Found)
	codes, err := reg.Codes(ctx)
	require.NoError(t, err)
	require.Equal(t, contracts.ProviderCode().Hash(), codes.ProviderCode.Hash())

	prov := contracts.ProviderClient{Chain: d.Client(), Address: provAddr}
	pd, err := prov.Data(ctx)
	require.NoError(t, err)
	require.True(t, pd.Owner.Equals(owner.w.Address()))
	require.True(t, pd.Registry.Equals(registry))
	require.Equal(t, contracts.ProviderActive, pd.Status)
	require.Equal(t, nano("10"), pd.Stake.Nano())

	profile, err := prov.Profile(ctx)
	require.NoError(t, err)
	require.Equal(t, "https://gpu.example:8443", profile.Endpoint)
	require.Len(t, profile.Prices, 1)
	require.Equal(t, nano("0.3"), profile.Prices[0].CompletionPricePerMillion.Nano())
	price, err := prov.ModelPrice(ctx, 1)
	require.NoError(t, err)
	require.True(t, price.Found)
	attested, err := prov.IsAttested(ctx)
	require.NoError(t, err)
	require.False(t, attested)
	usage, err := prov.Usage(ctx)
	require.NoError(t, err)
	require.Zero(t, usage.PromptTokens)

	// The account data decodes as storage, and agrees with the getters.
	acc, err := d.Client().GetAccount(ctx, provAddr)
	require.NoError(t, err)
	st, err := contracts.DecodeProviderStorage(acc.Data)
	require.NoError(t, err)
	require.Equal(t, pd.Stake.Nano(), st.Stake.Nano())
	require.Equal(t, uint8(1), st.Profile.ModelCount)
}
