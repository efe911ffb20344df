package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/contracts"
)

var registryLine = regexp.MustCompile(`(?m)^registry: (\S+) \(raw (\S+)\)`)

// TestRegistryGovernanceOnDevnet deploys a registry with the CLI and governs it end to end over the
// devnet's HTTP API, reading every change back through `registry show`.
func TestRegistryGovernanceOnDevnet(t *testing.T) {
	t.Setenv(envMnemonic, "")
	t.Setenv(envRegistry, "")
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: testBlockInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx := context.Background()
	dir := t.TempDir()

	newFunded := func(name string) (string, *address.Address) {
		key := filepath.Join(dir, name+".key")
		out, err := runWalletCmd(t, "", "new", "--key-file", key)
		if err != nil {
			t.Fatal(err)
		}
		a := addressOf(t, out)
		if err := d.Fund(ctx, a, big.NewInt(50_000_000_000)); err != nil {
			t.Fatal(err)
		}
		return key, a
	}
	govKey, govAddr := newFunded("gov")
	otherKey, otherAddr := newFunded("other")
	registry := func(key string, args ...string) (string, error) {
		var out bytes.Buffer
		old := walletOut
		walletOut = &out
		defer func() { walletOut = old }()
		err := runRegistry(ctx, append(args, "--key-file", key, "--rpc", srv.URL))
		return out.String(), err
	}
	out, err := registry(govKey, "deploy", "--min-stake", "5", "--quorum", "1")
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, out)
	}
	m := registryLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "deploy: done") {
		t.Fatalf("deploy output:\n%s", out)
	}
	regAddr := m[2]
	t.Setenv(envRegistry, regAddr)

	out, err = registry(govKey, "show")
	if err != nil {
		t.Fatalf("show: %v\n%s", err, out)
	}
	for _, want := range []string{"network kind:       devnet", "pending governance: none", "min provider stake: 5 TON",
		"oracle quorum:      1", "measurements (0):", "models (0):", "oracles (0):", "unbonding period:   168h0m0s"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show lacks %q:\n%s", want, out)
		}
	}
	if !strings.Contains(out, "governance:         "+friendlyBounceable(govAddr)) {
		t.Fatalf("governance is not the deploying wallet:\n%s", out)
	}
	channelHash := hex.EncodeToString(contracts.ChannelCode().Hash())
	if !strings.Contains(out, "channels:           enabled, channel code hash "+channelHash+"\n") {
		t.Fatalf("a deployed registry should open channels:\n%s", out)
	}
	checkChannelAddress(t, d, address.MustParseRawAddr(regAddr), govAddr)

	// A registry deployed without channel code (as before channels existed) gets it with
	// set-channel-code, from governance only.
	oldReg := deployRegistryWithoutChannels(t, d, govAddr)
	if out, err := registry(govKey, "show", "--registry", oldReg.StringRaw()); err != nil || !strings.Contains(out, "channels:           disabled") {
		t.Fatalf("show of a registry without channel code: %v\n%s", err, out)
	}
	var code contracts.ExitCode
	if _, err := registry(otherKey, "set-channel-code", "--registry", oldReg.StringRaw()); !errors.As(err, &code) || code != contracts.ExitNotGovernance {
		t.Fatalf("set-channel-code from a non-governance wallet: %v", err)
	}
	if out, err := registry(govKey, "set-channel-code", "--registry", oldReg.StringRaw()); err != nil || !strings.Contains(out, "set-channel-code: done") {
		t.Fatalf("set-channel-code: %v\n%s", err, out)
	}
	if out, err := registry(govKey, "show", "--registry", oldReg.StringRaw()); err != nil || !strings.Contains(out, "channels:           enabled, channel code hash "+channelHash+"\n") {
		t.Fatalf("show after set-channel-code: %v\n%s", err, out)
	}
	checkChannelAddress(t, d, oldReg, govAddr)

	hash := strings.Repeat("ab", 32)
	steps := [][]string{
		{"allow-measurement", "--hash", hash, "--kind", "sim"},
		{"allow-measurement", "--hash", strings.Repeat("cd", 32), "--kind", "tdx"},
		{"revoke-measurement", "--hash", strings.Repeat("cd", 32)},
		{"add-model", "--id", "7", "--weights-hash", strings.Repeat("11", 32), "--name", "kjv-demo-1m"},
		{"add-oracle", "--oracle-wallet", otherAddr.String(), "--pubkey", strings.Repeat("22", 32)},
		{"params", "--quorum", "2", "--fee-bps", "250"},
	}
	for _, s := range steps {
		if out, err := registry(govKey, s...); err != nil || !strings.Contains(out, s[0]+": done") {
			t.Fatalf("%s: %v\n%s", s[0], err, out)
		}
	}
	out, err = registry(govKey, "show")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("show after governance:\n%s", out)
	for _, want := range []string{"measurements (1):\n  " + hash + " sim", `7 "kjv-demo-1m" weights ` + strings.Repeat("11", 32),
		"oracles (1):", "key " + strings.Repeat("22", 32), "oracle quorum:      2", "protocol fee:       250 bps", "min provider stake: 5 TON"} {
		if !strings.Contains(out, want) {
			t.Fatalf("show after governance lacks %q:\n%s", want, out)
		}
	}

	// The contract's refusals come back by name.
	_, err = registry(otherKey, "add-model", "--id", "8", "--weights-hash", strings.Repeat("33", 32), "--name", "x")
	if !errors.As(err, &code) || code != contracts.ExitNotGovernance {
		t.Fatalf("add-model from a non-governance wallet: %v", err)
	}
	_, err = registry(govKey, "allow-measurement", "--hash", hash, "--kind", "sim")
	if !errors.As(err, &code) || code != contracts.ExitMeasurementExists {
		t.Fatalf("duplicate measurement: %v", err)
	}

	if out, err := registry(govKey, "remove-oracle", "--oracle-wallet", otherAddr.String()); err != nil {
		t.Fatalf("remove-oracle: %v\n%s", err, out)
	}
	// Slashing a provider that was never registered: the registry accepts and forwards, the
	// forward bounces and the value is refunded; the command itself succeeds.
	if out, err := registry(govKey, "slash", "--provider-owner", otherAddr.String(), "--slash", "1", "--evidence", strings.Repeat("44", 32), "--value", "0.5"); err != nil {
		t.Fatalf("slash: %v\n%s", err, out)
	}

	// Governance handover: propose, the proposed wallet accepts, the old one is then refused.
	if out, err := registry(govKey, "transfer-governance", "--to", otherAddr.String()); err != nil {
		t.Fatalf("transfer-governance: %v\n%s", err, out)
	}
	out, _ = registry(govKey, "show")
	if !strings.Contains(out, "pending governance: "+friendlyBounceable(otherAddr)) {
		t.Fatalf("pending governance not shown:\n%s", out)
	}
	if out, err := registry(otherKey, "accept-governance"); err != nil {
		t.Fatalf("accept-governance: %v\n%s", err, out)
	}
	out, _ = registry(govKey, "show")
	if !strings.Contains(out, "governance:         "+friendlyBounceable(otherAddr)) || !strings.Contains(out, "pending governance: none") {
		t.Fatalf("handover not visible:\n%s", out)
	}
	if _, err := registry(govKey, "params", "--quorum", "1"); !errors.As(err, &code) || code != contracts.ExitNotGovernance {
		t.Fatalf("old governance after handover: %v", err)
	}
}

// checkChannelAddress checks that the registry's get_codes holds this build's channel code and
// that its get_channel_address agrees with the offline derivation.
func checkChannelAddress(t *testing.T, d *devnet.Devnet, reg, providerOwner *address.Address) {
	t.Helper()
	ctx := context.Background()
	codes, err := contracts.RegistryClient{Chain: d.Client(), Address: reg}.Codes(ctx)
	if err != nil || codes.ChannelCode == nil || !bytes.Equal(codes.ChannelCode.Hash(), contracts.ChannelCode().Hash()) {
		t.Fatalf("get_codes: %+v %v", codes, err)
	}
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5a}, 32)).Public().(ed25519.PublicKey)
	got, err := contracts.RegistryChannelAddress(ctx, d.Client(), reg, key, providerOwner)
	if err != nil || got == nil {
		t.Fatalf("get_channel_address: %v %v", got, err)
	}
	provider, err := contracts.ProviderAddress(contracts.ProviderCode(), reg, providerOwner)
	if err != nil {
		t.Fatal(err)
	}
	want, err := contracts.ChannelAddress(contracts.ChannelCode(), reg, key, provider)
	if err != nil || !got.Equals(want) {
		t.Fatalf("get_channel_address %v, offline %v (%v)", got, want, err)
	}
}

// deployRegistryWithoutChannels deploys straight onto the devnet a registry governed by gov with no
// channel code, as registries were before channels existed.
func deployRegistryWithoutChannels(t *testing.T, d *devnet.Devnet, gov *address.Address) *address.Address {
	t.Helper()
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 3600, Treasury: gov,
		ChallengePeriod: 3600, OracleQuorum: 1, MaxAttestationLifetime: 3600}
	init, reg, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(gov, contracts.NetworkDevnet, params, contracts.ProviderCode()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Deploy(context.Background(), init, big.NewInt(1_000_000_000), nil); err != nil {
		t.Fatal(err)
	}
	return reg
}

func friendlyBounceable(a *address.Address) string {
	c := a.Copy()
	c.SetBounce(true)
	return c.String()
}

// TestRegistryLinks checks the ton://transfer links printed for external signers.
func TestRegistryLinks(t *testing.T) {
	t.Setenv(envMnemonic, "")
	regAddr := address.MustParseRawAddr("0:" + strings.Repeat("77", 32))
	var out bytes.Buffer
	old := walletOut
	walletOut = &out
	defer func() { walletOut = old }()
	err := runRegistry(context.Background(), []string{"allow-measurement", "--link", "--registry", regAddr.StringRaw(),
		"--hash", strings.Repeat("ab", 32), "--kind", "tdx", "--value", "0.25", "--query-id", "42"})
	if err != nil {
		t.Fatal(err)
	}
	link := regexp.MustCompile(`ton://transfer/\S+`).FindString(out.String())
	u, err := url.Parse(link)
	if err != nil || u.Scheme != "ton" || u.Host != "transfer" {
		t.Fatalf("link %q: %v", link, err)
	}
	dst, err := address.ParseAddr(strings.TrimPrefix(u.Path, "/"))
	if err != nil || !dst.Equals(regAddr) || !dst.IsBounceable() {
		t.Fatalf("link destination %q", u.Path)
	}
	if u.Query().Get("amount") != "250000000" {
		t.Fatalf("amount %q", u.Query().Get("amount"))
	}
	boc, err := base64.URLEncoding.DecodeString(u.Query().Get("bin"))
	if err != nil {
		t.Fatal(err)
	}
	body, err := cell.FromBOC(boc)
	if err != nil {
		t.Fatal(err)
	}
	msg, err := contracts.DecodeAs[contracts.AddMeasurement](body)
	if err != nil || msg.QueryID != 42 || msg.Kind != contracts.MeasurementTDX || msg.MeasurementHash[0] != 0xab {
		t.Fatalf("decoded %+v %v", msg, err)
	}

	// A deploy link carries the StateInit and goes to the address it hashes to.
	out.Reset()
	gov := address.MustParseRawAddr("0:" + strings.Repeat("88", 32))
	if err := runRegistry(context.Background(), []string{"deploy", "--link", "--governance", gov.StringRaw()}); err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(regexp.MustCompile(`ton://transfer/\S+`).FindString(out.String()))
	initBOC, err := base64.URLEncoding.DecodeString(u.Query().Get("init"))
	if err != nil {
		t.Fatal(err)
	}
	initCell, _ := cell.FromBOC(initBOC)
	var si tlb.StateInit
	if err := tlb.LoadFromCell(&si, initCell.MustBeginParse()); err != nil {
		t.Fatal(err)
	}
	dst, _ = address.ParseAddr(strings.TrimPrefix(u.Path, "/"))
	if !bytes.Equal(initCell.Hash(), dst.Data()) || dst.IsBounceable() {
		t.Fatal("deploy link does not go (non-bounceable) to the StateInit's address")
	}
	st, err := contracts.DecodeRegistryStorage(si.Data)
	if err != nil || !st.Governance.Equals(gov) || st.NetworkKind != contracts.NetworkDevnet {
		t.Fatalf("deploy data: %+v %v", st, err)
	}
	if st.Catalog.ChannelCode == nil || !bytes.Equal(st.Catalog.ChannelCode.Hash(), contracts.ChannelCode().Hash()) {
		t.Fatal("the deployed registry's catalog lacks the channel code")
	}

	// set-channel-code as a link for a multisig governance.
	out.Reset()
	if err := runRegistry(context.Background(), []string{"set-channel-code", "--link", "--registry", regAddr.StringRaw(), "--query-id", "43"}); err != nil {
		t.Fatal(err)
	}
	u, _ = url.Parse(regexp.MustCompile(`ton://transfer/\S+`).FindString(out.String()))
	boc, err = base64.URLEncoding.DecodeString(u.Query().Get("bin"))
	if err != nil {
		t.Fatal(err)
	}
	body, err = cell.FromBOC(boc)
	if err != nil {
		t.Fatal(err)
	}
	scc, err := contracts.DecodeAs[contracts.SetChannelCode](body)
	if err != nil || scc.QueryID != 43 || !bytes.Equal(scc.ChannelCode.Hash(), contracts.ChannelCode().Hash()) {
		t.Fatalf("set-channel-code link: %+v %v", scc, err)
	}
}

func TestRegistryUsageErrors(t *testing.T) {
	t.Setenv(envMnemonic, "")
	t.Setenv(envRegistry, "")
	reg := "0:" + strings.Repeat("77", 32)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"show"}, // no registry
		{"allow-measurement", "--registry", reg, "--hash", "abcd", "--kind", "tdx", "--link"},
		{"allow-measurement", "--registry", reg, "--hash", strings.Repeat("ab", 32), "--kind", "sgx", "--link"},
		{"add-model", "--registry", reg, "--weights-hash", strings.Repeat("ab", 32), "--name", strings.Repeat("n", 65), "--link"},
		{"add-oracle", "--registry", reg, "--pubkey", strings.Repeat("ab", 32), "--link"},
		{"slash", "--registry", reg, "--provider-owner", reg, "--slash", "0", "--evidence", strings.Repeat("ab", 32), "--link"},
		{"params", "--registry", reg, "--link"},
		{"deploy", "--link"},
		{"deploy", "--link", "--governance", reg, "--fee-bps", "10001"},
		{"deploy", "--link", "--governance", reg, "--unbonding", "10s"},
		{"deploy", "--link", "--governance", reg, "--min-stake", "0.5"},
		{"deploy", "--link", "--governance", reg, "--quorum", "0"},
		{"show", "--registry", reg, "--value", "1.0000000001"},
	} {
		if err := runRegistry(context.Background(), args); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
}
