// Package oracle_test runs the oracle as it is deployed: `cocoon oracle run` processes against a
// devnet served over HTTP, voting for a `cocoon-provider run` process on the simulated TEE.
package oracle_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"fmt"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/demo"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

// build compiles the two binaries once into dir.
func build(t *testing.T, dir string) (cocoon, provider string) {
	t.Helper()
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	require.NoError(t, err)
	for _, b := range []struct{ out, pkg string }{{"cocoon", "./cmd/cocoon"}, {"cocoon-provider", "./cmd/cocoon-provider"}} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, b.out), b.pkg)
		cmd.Dir = strings.TrimSpace(string(root))
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "go build %s: %s", b.pkg, out)
	}
	return filepath.Join(dir, "cocoon"), filepath.Join(dir, "cocoon-provider")
}

// proc is a child process whose output is kept for the failure log.
type proc struct {
	name string
	cmd  *exec.Cmd
	mu   sync.Mutex
	out  bytes.Buffer
	done chan struct{}
}

func (p *proc) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.Write(b)
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

func start(t *testing.T, name string, env []string, bin string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p, p
	require.NoError(t, p.cmd.Start())
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.kill()
		if t.Failed() {
			t.Logf("---- %s output:\n%s", p.name, p.output())
		}
	})
	return p
}

// kill is kill -9.
func (p *proc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop is an interrupt, then a clean exit.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(os.Interrupt))
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("%s did not stop", p.name)
	}
	require.Equal(t, 0, p.cmd.ProcessState.ExitCode(), p.output())
}

// freeAddr is a loopback address with a port free now (the provider's endpoint goes on-chain before
// the daemon starts, as an operator's does).
func freeAddr(t *testing.T) string {
	t.Helper()
	port, err := demo.FreePort()
	require.NoError(t, err)
	return fmt.Sprintf("127.0.0.1:%d", port)
}

func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// TestOraclesE2E: three `cocoon oracle run` processes (quorum 2) and a `cocoon-provider run`
// process (simulated TEE) on a block-mode devnet served over HTTP.
//
//   - Oracle 0 is killed with SIGKILL while its vote waits in the mempool (blocks paused) and
//     restarted: the vote lands once. Killed and restarted again after it landed: no second vote.
//   - Oracle 1 joins with oracle 2 still down: the provider becomes attested with quorum 2.
//   - `cocoon oracle proof` checks the provider's uptime entry against oracle 0's root on-chain.
//   - The provider stops; after validUntil its attestation has lapsed and no oracle renewed it.
func TestOraclesE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("builds binaries and runs processes")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	cocoon, providerBin := build(t, dir)

	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: 20 * time.Millisecond})
	require.NoError(t, err)
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	rpc := srv.URL

	// governance: a devnet registry, quorum 2, the devnet's simulated image allowed
	actorWallet := func(w *wallet.Wallet, ton int64) *ops.Ops { return providertest.ActorOps(t, ctx, d, w, ton, nil) }
	actor := func(words []string, ton int64) *ops.Ops {
		w, err := wallet.FromMnemonic(words, wallet.V5R1, -239)
		require.NoError(t, err)
		return actorWallet(w, ton)
	}
	gov := actor(wallet.NewMnemonic(), 100)
	dp, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250, ChallengePeriod: 3600,
		OracleQuorum: 2, MaxAttestationLifetime: 24 * 3600}})
	require.NoError(t, err)
	_, err = gov.Send(ctx, dp.Plan)
	require.NoError(t, err)
	reg := dp.Address
	gov.Registry = reg
	govern := func(m contracts.Message) {
		p, err := gov.PlanGovern(ctx, m, nil)
		require.NoError(t, err)
		_, err = gov.Send(ctx, p)
		require.NoError(t, err)
	}
	sim := attest.SimMeasurement(attest.DevnetSimImage)
	govern(contracts.AddMeasurement{QueryID: 1, MeasurementHash: sim[:], Kind: contracts.MeasurementSim})

	// the provider: registered with its endpoint and a priced model, then a real cocoon-provider
	// process (`run --config`) forwarding to a fake upstream
	ownerWords := wallet.NewMnemonic()
	ow, err := wallet.FromMnemonic(ownerWords, wallet.V5R1, -239)
	require.NoError(t, err)
	ownerKey := filepath.Join(dir, "owner.key")
	require.NoError(t, keys.WriteMnemonic(ownerKey, ownerWords))
	owner := actorWallet(ow, 20)
	owner.Registry = reg
	rp, err := owner.PlanRegister(ctx, ops.RegisterInput{Stake: big.NewInt(5_000_000_000)})
	require.NoError(t, err)
	rres, err := owner.SendRegister(ctx, rp)
	require.NoError(t, err)
	providerAddr := rres.Provider.Address
	modelName, err := contracts.TextCell("oracle-test-model", contracts.MaxModelNameBytes)
	require.NoError(t, err)
	govern(contracts.AddModel{QueryID: 2, ModelID: 1, WeightsHash: bytes.Repeat([]byte{0x11}, 32), Name: modelName})
	listen := freeAddr(t)
	for _, o := range []ops.OwnerOp{
		{Kind: ops.SetEndpoint, Endpoint: "https://" + listen},
		{Kind: ops.SetPrice, ModelID: 1, PromptPrice: big.NewInt(1000), CompletionPrice: big.NewInt(2000)},
	} {
		op, err := owner.PlanOwnerOp(ctx, ops.OwnerOpInput{Op: o})
		require.NoError(t, err)
		_, err = owner.SendOwnerOp(ctx, op)
		require.NoError(t, err)
	}
	upstream := httptest.NewServer(&fakeupstream.Server{Models: []string{"fake-model"}})
	defer upstream.Close()
	pcfg := provider.DefaultConfig()
	pcfg.Network, pcfg.RPC = "devnet", rpc
	pcfg.Registry, pcfg.Owner, pcfg.WalletKeyFile = reg.StringRaw(), ow.Address().StringRaw(), ownerKey
	pcfg.DataDir, pcfg.Listen, pcfg.TEE = filepath.Join(dir, "provider"), listen, "sim"
	pcfg.Backend = provider.BackendConfig{Kind: "upstream", URL: upstream.URL + "/v1"}
	pcfg.Models = []provider.ModelConfig{{Name: "oracle-test-model", Upstream: "fake-model", ContextLength: 4096}}
	providerConfig := filepath.Join(dir, "provider.json")
	require.NoError(t, provider.WriteConfig(providerConfig, pcfg))
	prov := start(t, "provider", nil, providerBin, "run", "--config", providerConfig)
	eventually(t, "the provider serving", 60*time.Second, func() bool {
		return strings.Contains(prov.output(), "serving on https://"+listen+"/v1")
	})

	// three oracles: wallet files, keys from `cocoon oracle key new`, added to the registry
	type oracleFiles struct {
		wallet        *address.Address
		walletFile    string
		keyFile, data string
		listen        string
	}
	var ofs []oracleFiles
	for i := range 3 {
		words := wallet.NewMnemonic()
		w, err := wallet.FromMnemonic(words, wallet.V5R1, -239)
		require.NoError(t, err)
		require.NoError(t, d.Fund(ctx, w.Address(), big.NewInt(20_000_000_000)))
		f := oracleFiles{wallet: w.Address(), walletFile: filepath.Join(dir, fmt.Sprintf("o%d", i), "wallet.key"),
			keyFile: filepath.Join(dir, fmt.Sprintf("o%d", i), "oracle.key"), data: filepath.Join(dir, fmt.Sprintf("o%d", i), "data")}
		require.NoError(t, keys.WriteMnemonic(f.walletFile, words))
		out, err := exec.Command(cocoon, "oracle", "key", "new", "--out", f.keyFile).CombinedOutput()
		require.NoError(t, err, string(out))
		k, err := keys.ReadOracleKey(f.keyFile)
		require.NoError(t, err)
		require.Contains(t, string(out), fmt.Sprintf("public key: %x", k.Public()))
		govern(contracts.AddOracle{QueryID: uint64(10 + i), Wallet: w.Address(), PublicKey: k.Public().(ed25519.PublicKey)})
		ofs = append(ofs, f)
	}
	runOracle := func(i int) *proc {
		f := ofs[i]
		// a few flags from the environment, as an operator's unit file would set them
		env := []string{"COCOON_ORACLE_REGISTRY=" + reg.StringRaw(), "COCOON_ORACLE_RPC=" + rpc, "COCOON_ORACLE_ALLOW_SIM=true",
			"COCOON_WALLET_MNEMONIC="}
		return start(t, fmt.Sprintf("oracle %d", i), env, cocoon, "oracle", "run",
			"--key-file", f.walletFile, "--oracle-key-file", f.keyFile, "--data", f.data, "--listen", "127.0.0.1:0",
			"--refresh", "200ms", "--attest-interval", "500ms", "--vote-lifetime", "10m", "--renew-before", "1m",
			"--probe-interval", "300ms", "--probe-retry-min", "100ms", "--probe-retry-max", "1s", "--tick", "50ms",
			"--epoch", "2s", "--tx-per-minute", "600", "--log-level", "info")
	}
	votesBy := func(o *address.Address) int {
		txs, err := d.Transactions(reg, 1000, 0, nil)
		require.NoError(t, err)
		n := 0
		for _, tx := range txs {
			if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal || !tx.IO.In.AsInternal().SrcAddr.Equals(o) {
				continue
			}
			if m, err := contracts.Decode(tx.IO.In.AsInternal().Body); err == nil {
				if _, ok := m.(contracts.SubmitOracleVote); ok {
					n++
				}
			}
		}
		return n
	}
	attestation := func() *contracts.AttestationView {
		a, err := contracts.ProviderClient{Chain: d.Client(), Address: providerAddr}.Attestation(ctx)
		require.NoError(t, err)
		return a
	}

	// oracle 0 votes while blocks are paused; killed with its vote in the mempool, restarted
	d.PauseBlocks()
	o0 := runOracle(0)
	eventually(t, "oracle 0's vote waiting in the mempool", 60*time.Second, func() bool { ext, _ := d.Pending(); return ext > 0 })
	o0.kill()
	o0 = runOracle(0)
	time.Sleep(300 * time.Millisecond)
	d.ResumeBlocks()
	eventually(t, "oracle 0's vote on the provider", 60*time.Second, func() bool { return len(attestation().Votes) == 1 })
	eventually(t, "the restarted oracle 0 finished the vote its first process left in flight", 10*time.Second, func() bool {
		return strings.Contains(o0.output(), "finished a transaction left in flight")
	})
	require.False(t, attestation().Attested, "one vote of quorum 2")

	// oracle 1 joins, oracle 2 stays down: quorum 2 attests the provider
	o1 := runOracle(1)
	eventually(t, "the provider attested", 60*time.Second, func() bool { return attestation().Attested })
	require.Equal(t, sim[:], attestation().MeasurementHash)

	// oracle 0 killed and restarted after its vote landed: it does not vote again
	eventually(t, "oracle 0 recorded its vote", 10*time.Second, func() bool { return strings.Contains(o0.output(), `msg=voted`) })
	o0.kill()
	o0 = runOracle(0)
	eventually(t, "oracle 0 checked again after the restart", 30*time.Second, func() bool {
		return strings.Count(o0.output(), "provider checked") >= 1
	})
	time.Sleep(1500 * time.Millisecond)
	require.Equal(t, 1, votesBy(ofs[0].wallet), "oracle 0 voted once, whatever the kills")
	require.Equal(t, 1, votesBy(ofs[1].wallet))
	require.Zero(t, votesBy(ofs[2].wallet))

	// a client checks the provider's uptime entry against oracle 0's root on-chain
	apiRe := regexp.MustCompile(`part=api addr=([0-9.:]+)`)
	var api string
	eventually(t, "oracle 0's API address", 10*time.Second, func() bool {
		m := apiRe.FindAllStringSubmatch(o0.output(), -1)
		if len(m) > 0 {
			api = "http://" + m[len(m)-1][1]
		}
		return len(m) > 0
	})
	rc := contracts.RegistryClient{Chain: d.Client(), Address: reg}
	eventually(t, "oracle 0's uptime root on-chain", 30*time.Second, func() bool {
		u, err := rc.UptimeRoot(ctx, ofs[0].wallet)
		return err == nil && u.Found && u.ProviderCount == 1
	})
	var proofOut []byte
	eventually(t, "the proof checked against the chain", 20*time.Second, func() bool {
		// the root may move to the next epoch between the two reads: try again
		proofOut, err = exec.Command(cocoon, "oracle", "proof", "--api", api, "--provider", providerAddr.StringRaw(),
			"--registry", reg.StringRaw(), "--rpc", rpc).CombinedOutput()
		return err == nil
	})
	require.Contains(t, string(proofOut), "verified on-chain")
	require.Regexp(t, `provider `+providerAddr.StringRaw()+`: \d+ of \d+ probes ok`, string(proofOut))

	// the provider goes away: after validUntil the attestation has lapsed and nobody renewed it
	prov.kill()
	for _, o := range []*proc{o0, o1} {
		eventually(t, o.name+" sees the provider unreachable", 30*time.Second, func() bool {
			return strings.Contains(o.output(), "result=unreachable")
		})
	}
	d.AdvanceTime(11 * time.Minute)
	time.Sleep(time.Second)
	require.False(t, attestation().Attested)
	require.Equal(t, 1, votesBy(ofs[0].wallet))
	require.Equal(t, 1, votesBy(ofs[1].wallet))

	// an interrupt stops an oracle cleanly
	o1.stop(t)
}
