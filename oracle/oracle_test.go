package oracle_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"io"
	"math/big"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/oracle"
	"github.com/cocoon-go/cocoon/uptime"
)

// TestAttestation: three oracles, quorum 2, on a block-mode devnet, against simulated providers.
// With one oracle down, a provider with good evidence becomes attested by the other two; the third
// joins later and adds its vote. A measurement off the allow-list, a certificate whose evidence binds
// another key, fresh evidence binding another key, evidence replayed for an old nonce and an expired
// certificate never get a vote. An oracle restarted on its store does not vote again for the claim it
// voted for. Removing an oracle voids the votes cast before: the others vote again. Before their votes
// run out the oracles renew them, once. When the provider goes away, its attestation lapses at
// validUntil and nobody renews it.
func TestAttestation(t *testing.T) {
	w := newWorld(t, 2)
	good := newFakeProvider(t, honest)
	goodOwner, goodProvider := w.provider("good", good)
	bad := map[string]*fakeProvider{
		"disallowed measurement":     newFakeProvider(t, otherImage),
		"certificate key differs":    newFakeProvider(t, foreignCertEvidence),
		"fresh evidence another key": newFakeProvider(t, foreignFreshEvidence),
		"replayed old nonce":         newFakeProvider(t, replay),
		"expired certificate":        newFakeProvider(t, expiredCert),
	}
	badOwners := map[string]*address.Address{}
	badProviders := map[string]*address.Address{}
	for name, fp := range bad {
		badOwners[name], badProviders[name] = w.provider(name, fp)
	}
	fx := []*oracleFixture{w.newOracle(0, true), w.newOracle(1, true), w.newOracle(2, true)}

	// oracle 2 is down: 0 and 1 make the quorum
	o0 := w.start(fx[0], nil)
	o1 := w.start(fx[1], nil)
	w.eventually("the good provider attested by two oracles", 30*time.Second, func() bool { return w.attestation(goodProvider).Attested })
	a := w.attestation(goodProvider)
	require.Equal(t, simMeasurement(), a.MeasurementHash)
	view := providerView(t, o0, goodProvider)
	require.Equal(t, "ok", view.Check)
	require.NotNil(t, view.Claim)
	require.Equal(t, hex.EncodeToString(a.EvidenceDigest), view.Claim.EvidenceDigest, "the vote is for the certificate's evidence digest")
	require.Equal(t, hex.EncodeToString(a.TLSKeyHash), view.Claim.TLSKeyHash)
	require.InDelta(t, w.d.Now().Add(10*time.Minute).Unix(), int64(a.ValidUntil), 30, "validUntil = now + the oracles' vote lifetime")

	// the third oracle comes up and votes too
	o2 := w.start(fx[2], nil)
	w.eventually("three votes", 30*time.Second, func() bool { return len(w.attestation(goodProvider).Votes) == 3 })

	// the bad providers were checked (refused) by every oracle and never got a vote
	for _, o := range []*oracle.Oracle{o0, o1, o2} {
		for name, p := range badProviders {
			w.eventually(name+" refused", 10*time.Second, func() bool { return providerView(t, o, p).Check == "refused" })
		}
	}
	for name, p := range badProviders {
		a := w.attestation(p)
		require.False(t, a.Attested, name)
		require.Empty(t, a.Votes, name)
		for _, f := range fx {
			require.Zero(t, w.votesBy(f.wallet.Address(), badOwners[name]), name)
		}
		t.Logf("%s: %s", name, providerView(t, o0, p).CheckError)
	}
	require.Contains(t, providerView(t, o0, badProviders["disallowed measurement"]).CheckError, "measurement not allowed")
	require.Contains(t, providerView(t, o0, badProviders["replayed old nonce"]).CheckError, "report data")
	require.Contains(t, providerView(t, o0, badProviders["expired certificate"]).CheckError, "not valid at verification time")

	// restart oracle 0 on its store: it finds its vote (store and chain) and does not vote again
	require.Equal(t, 1, w.votesBy(fx[0].wallet.Address(), goodOwner))
	require.NoError(t, o0.Stop(context.Background()))
	o0 = w.start(fx[0], nil)
	w.eventually("the restarted oracle checked the provider", 10*time.Second, func() bool { return providerView(t, o0, goodProvider).Check == "ok" })
	time.Sleep(time.Second) // a few more checks
	for _, f := range fx {
		require.Equal(t, 1, w.votesBy(f.wallet.Address(), goodOwner), "one vote per oracle for the claim")
	}
	require.Equal(t, "done", providerView(t, o0, goodProvider).Vote.State)

	// governance removes oracle 2: the votes cast before are void (oracle epoch 1), so oracles 0 and 1
	// vote again under the new epoch; oracle 2, outside the set, does not
	w.govern(contracts.RemoveOracle{QueryID: 99, Wallet: fx[2].wallet.Address()})
	w.eventually("two votes under oracle epoch 1", 30*time.Second, func() bool {
		a := w.attestation(goodProvider)
		return a.OracleEpoch == 1 && len(a.Votes) == 2
	})
	require.Equal(t, []int{2, 2, 1}, []int{w.votesBy(fx[0].wallet.Address(), goodOwner), w.votesBy(fx[1].wallet.Address(), goodOwner),
		w.votesBy(fx[2].wallet.Address(), goodOwner)})

	// renewal: once an oracle's vote has less than --renew-before left, it votes again and the
	// confirmed validUntil grows
	before := w.attestation(goodProvider).ValidUntil
	w.d.AdvanceTime(9*time.Minute + 30*time.Second)
	w.eventually("the attestation renewed", 30*time.Second, func() bool { return w.attestation(goodProvider).ValidUntil > before })
	require.True(t, w.attestation(goodProvider).Attested)
	w.eventually("both oracles renewed", 10*time.Second, func() bool {
		return w.votesBy(fx[0].wallet.Address(), goodOwner) == 3 && w.votesBy(fx[1].wallet.Address(), goodOwner) == 3
	})
	time.Sleep(500 * time.Millisecond)
	require.Equal(t, []int{3, 3, 1}, []int{w.votesBy(fx[0].wallet.Address(), goodOwner), w.votesBy(fx[1].wallet.Address(), goodOwner),
		w.votesBy(fx[2].wallet.Address(), goodOwner)}, "one renewal each")

	// the provider goes away; its attestation runs out at validUntil and nobody renews it
	good.Stop()
	for _, o := range []*oracle.Oracle{o0, o1} {
		w.eventually("the provider seen unreachable", 10*time.Second, func() bool { return providerView(t, o, goodProvider).Check == "unreachable" })
	}
	w.d.AdvanceTime(11 * time.Minute)
	time.Sleep(time.Second)
	require.False(t, w.attestation(goodProvider).Attested, "lapsed after validUntil")
	require.Equal(t, []int{3, 3, 1}, []int{w.votesBy(fx[0].wallet.Address(), goodOwner), w.votesBy(fx[1].wallet.Address(), goodOwner),
		w.votesBy(fx[2].wallet.Address(), goodOwner)}, "no vote for a provider that cannot be verified")
}

func providerView(t *testing.T, o *oracle.Oracle, p *address.Address) oracle.ProviderView {
	t.Helper()
	for _, v := range o.Providers() {
		if v.Provider == p.StringRaw() {
			return v
		}
	}
	return oracle.ProviderView{}
}

// TestUptime: an oracle probes two providers (one goes down), builds the epoch's table, commits its
// root on-chain and serves it; a client checks a provider's entry with the proof against the on-chain
// root and count, and the table's signature with the key the registry lists for the oracle.
func TestUptime(t *testing.T) {
	w := newWorld(t, 1)
	up := newFakeProvider(t, honest)
	down := newFakeProvider(t, honest)
	_, upProvider := w.provider("up", up)
	_, downProvider := w.provider("down", down)
	down.Stop()
	f := w.newOracle(0, true)
	o := w.start(f, nil)

	rc := contracts.RegistryClient{Chain: w.d.Client(), Address: w.reg}
	var commit *contracts.UptimeLookup
	w.eventually("an uptime root with both providers on-chain", 30*time.Second, func() bool {
		u, err := rc.UptimeRoot(w.ctx, f.wallet.Address())
		require.NoError(t, err)
		commit = u
		return u.Found && u.ProviderCount == 2
	})
	client := uptime.Client{BaseURL: "http://" + o.APIAddr()}
	for _, p := range []struct {
		addr *address.Address
		up   bool
	}{{upProvider, true}, {downProvider, false}} {
		proof, err := client.Proof(w.ctx, commit.Epoch, p.addr)
		require.NoError(t, err)
		e, err := proof.VerifyAgainst(commit.Epoch, commit.Root, commit.ProviderCount)
		require.NoError(t, err)
		require.True(t, e.Provider.Equals(p.addr))
		require.NotZero(t, e.ProbesTotal)
		if p.up {
			require.Equal(t, e.ProbesTotal, e.ProbesOK)
			require.NotZero(t, e.LatencyP90Ms+1)
		} else {
			require.Zero(t, e.ProbesOK)
			require.Zero(t, e.LatencyP50Ms)
		}
		// a tampered entry does not verify against the chain
		proof.Entry.LatencyP90Ms++
		_, err = proof.VerifyAgainst(commit.Epoch, commit.Root, commit.ProviderCount)
		require.ErrorIs(t, err, uptime.ErrProof)
	}
	var table *uptime.TableResponse
	w.eventually("the oracle recorded its commitment", 10*time.Second, func() bool {
		var err error
		table, err = client.Table(w.ctx, commit.Epoch)
		require.NoError(t, err)
		return table.Commit.State == "done"
	})
	require.Len(t, table.Entries, 2)
	require.Equal(t, hex.EncodeToString(commit.Root), table.Root)
	require.NotZero(t, table.Commit.TxLT)
	// The commitment's transaction is found in the wallet's history too: what the oracle records
	// when an attempt whose outcome it did not see went through (a timeout, a restart).
	lt, hash := o.FindUptimeTx(w.ctx, commit.Epoch, commit.Root)
	require.Equal(t, table.Commit.TxLT, lt)
	require.Equal(t, table.Commit.TxHash, hex.EncodeToString(hash))
	other := bytes.Clone(commit.Root)
	other[0] ^= 1
	lt, _ = o.FindUptimeTx(w.ctx, commit.Epoch, other)
	require.Zero(t, lt, "a root the oracle did not commit")
	listed, err := rc.Oracle(w.ctx, f.wallet.Address())
	require.NoError(t, err)
	require.NoError(t, uptime.VerifySignature(listed.PublicKey, w.reg, f.wallet.Address(), commit.Epoch, uptime.Hash(commit.Root), commit.ProviderCount, table.Signature))
	epochs, err := client.Epochs(w.ctx)
	require.NoError(t, err)
	require.NotEmpty(t, epochs.Epochs)
	require.Equal(t, int64(2), epochs.EpochSeconds)
	// the next epoch's root replaces it on-chain (epochs only grow)
	w.eventually("a later epoch committed", 15*time.Second, func() bool {
		u, err := rc.UptimeRoot(w.ctx, f.wallet.Address())
		require.NoError(t, err)
		return u.Epoch > commit.Epoch
	})
	resp, err := http.Get("http://" + o.APIAddr() + "/api/v1/epochs/1/proof/" + upProvider.StringRaw())
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, string(body))
	require.True(t, strings.Contains(string(body), "no table"))
}

// TestHealth: a wallet below --min-balance and a wallet outside the oracle set fail /healthz with
// what to do, and the low balance shows in the metrics before any vote fails.
func TestHealth(t *testing.T) {
	w := newWorld(t, 1)
	f := w.newOracle(0, false) // not added to the registry
	o := w.start(f, func(c *oracle.Config) {
		c.MetricsListen = "127.0.0.1:0"
		c.MinBalance = "100" // the wallet holds 20
	})
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + o.OpsAddr() + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	code, body := get("/healthz")
	require.Equal(t, http.StatusServiceUnavailable, code)
	require.Contains(t, body, "below --min-balance 100 TON")
	require.Contains(t, body, "not in the registry's oracle set")
	_, metrics := get("/metrics")
	require.Contains(t, metrics, "cocoon_oracle_wallet_balance_low 1")
	require.Contains(t, metrics, "cocoon_oracle_wallet_balance_nanoton 2e+10")

	w.govern(contracts.AddOracle{QueryID: 1, Wallet: f.wallet.Address(), PublicKey: f.key})
	require.NoError(t, w.d.Fund(w.ctx, f.wallet.Address(), big.NewInt(100_000_000_000)))
	w.eventually("healthy", 10*time.Second, func() bool { c, _ := get("/healthz"); return c == http.StatusOK })
	_, metrics = get("/metrics")
	require.Contains(t, metrics, "cocoon_oracle_wallet_balance_low 0")
	require.True(t, o.Health(w.ctx).OK())
}
