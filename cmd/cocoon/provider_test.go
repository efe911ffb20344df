package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"flag"
	"io"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// providerTestCLI runs `cocoon <cmd>` in-process with walletOut captured.
func providerTestCLI(run func(context.Context, []string) error, args ...string) (string, error) {
	var out bytes.Buffer
	old := walletOut
	walletOut = &out
	defer func() { walletOut = old }()
	err := run(context.Background(), args)
	return out.String(), err
}

// providerTestExit asserts that err names the contract exit code want (and says which contract refused).
func providerTestExit(t *testing.T, step string, err error, refuser string, want contracts.ExitCode) {
	t.Helper()
	code, ok := contracts.AsExitCode(err)
	if !ok || code != want {
		t.Fatalf("%s: %v, want exit code %d (%s)", step, err, int32(want), want)
	}
	if msg := "the " + refuser + " refused it: contract exit code " + strconv.Itoa(int(want)) + " (" + want.String() + ")"; !strings.Contains(err.Error(), msg) {
		t.Fatalf("%s: error %q does not say %q", step, err, msg)
	}
}

// providerTestLink parses the ton://transfer link in out.
func providerTestLink(t *testing.T, out string) (dst *address.Address, amount string, body *cell.Cell) {
	t.Helper()
	u, err := url.Parse(regexp.MustCompile(`ton://transfer/\S+`).FindString(out))
	if err != nil || u.Scheme != "ton" || u.Host != "transfer" {
		t.Fatalf("no ton://transfer link in:\n%s", out)
	}
	if dst, err = address.ParseAddr(strings.TrimPrefix(u.Path, "/")); err != nil || !dst.IsBounceable() {
		t.Fatalf("link destination %q: %v", u.Path, err)
	}
	boc, err := base64.URLEncoding.DecodeString(u.Query().Get("bin"))
	if err != nil {
		t.Fatal(err)
	}
	if body, err = cell.FromBOC(boc); err != nil {
		t.Fatal(err)
	}
	return dst, u.Query().Get("amount"), body
}

// providerTestWallet loads the wallet in a key file written by 'cocoon wallet new'.
func providerTestWallet(t *testing.T, keyFile string) *wallet.Wallet {
	t.Helper()
	words, err := readKeyFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.FromMnemonic(words, wallet.V5R1, -239)
	if err != nil {
		t.Fatal(err)
	}
	return w
}

// TestProviderOnDevnet runs the whole provider lifecycle through the CLI against a devnet over its
// HTTP API: a registry deployed with `registry deploy`, then register, show, endpoint, prices,
// stake movements, pause/resume and exit, refusals named by exit code, and ton:// links.
func TestProviderOnDevnet(t *testing.T) {
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
	oldDevnetOut := devnetOut
	devnetOut = io.Discard
	defer func() { devnetOut = oldDevnetOut }()

	newFunded := func(name string, ton int64) (string, *address.Address) {
		key := filepath.Join(dir, name+".key")
		out, err := runWalletCmd(t, "", "new", "--key-file", key)
		if err != nil {
			t.Fatal(err)
		}
		a := addressOf(t, out)
		if err := d.Fund(ctx, a, new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))); err != nil {
			t.Fatal(err)
		}
		return key, a
	}
	govKey, _ := newFunded("gov", 10)
	ownerKey, ownerAddr := newFunded("owner", 100)
	otherKey, _ := newFunded("other", 10)
	provider := func(key string, args ...string) (string, error) {
		return providerTestCLI(providerRun, append(args, "--key-file", key, "--rpc", srv.URL)...)
	}
	balance := func(a *address.Address) *big.Int {
		acc, err := d.Account(a)
		if err != nil {
			t.Fatal(err)
		}
		return acc.Balance
	}
	lastLT := func(a *address.Address) uint64 {
		acc, err := d.Account(a)
		if err != nil {
			t.Fatal(err)
		}
		return acc.LastTxLT
	}
	nano := func(s string) *big.Int {
		n, err := wallet.ParseTON(s)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	show := func(want ...string) string {
		t.Helper()
		out, err := provider(ownerKey, "show")
		if err != nil {
			t.Fatalf("show: %v\n%s", err, out)
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Fatalf("show lacks %q:\n%s", w, out)
			}
		}
		return out
	}
	step := func(key string, args ...string) string {
		t.Helper()
		out, err := provider(key, args...)
		if err != nil || !strings.Contains(out, args[0]+": done in ") {
			t.Fatalf("%q: %v\n%s", args, err, out)
		}
		return out
	}

	out, err := providerTestCLI(runRegistry, "deploy", "--min-stake", "5", "--unbonding", "1m", "--key-file", govKey, "--rpc", srv.URL)
	if err != nil {
		t.Fatalf("registry deploy: %v\n%s", err, out)
	}
	m := registryLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("registry deploy output:\n%s", out)
	}
	regAddr := address.MustParseRawAddr(m[2])
	t.Setenv(envRegistry, m[2])
	out, err = providerTestCLI(runRegistry, "add-model", "--id", "7", "--weights-hash", strings.Repeat("11", 32), "--name", "kjv-demo-1m",
		"--key-file", govKey, "--rpc", srv.URL)
	if err != nil {
		t.Fatalf("registry add-model: %v\n%s", err, out)
	}
	provAddr, err := contracts.ProviderAddress(contracts.ProviderCode(), regAddr, ownerAddr)
	if err != nil {
		t.Fatal(err)
	}

	if _, err := provider(ownerKey, "show"); !errors.Is(err, providerErrNotRegistered) {
		t.Fatalf("show before register: %v", err)
	}
	if _, err := provider(ownerKey, "pause"); !errors.Is(err, providerErrNotRegistered) {
		t.Fatalf("pause before register: %v", err)
	}

	// Registration: the registry's refusals by name; a --value below the registry's fee says what the fee is.
	_, err = provider(ownerKey, "register", "--stake", "4")
	providerTestExit(t, "stake below the minimum", err, "registry", contracts.ExitStakeBelowMinimum)
	rc := contracts.RegistryClient{Chain: d.Client(), Address: regAddr}
	fee, err := rc.RegisterFee(ctx, nano("10"))
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("registration fee (get_register_fee): %s TON", wallet.FormatTON(fee))
	_, err = provider(ownerKey, "register", "--stake", "10", "--value", "0.01")
	providerTestExit(t, "fee too low", err, "registry", contracts.ExitNotEnoughValue)
	if want := "the registry asks for " + wallet.FormatTON(fee) + " TON on top of this stake (get_register_fee), --value gave 0.01 TON"; !strings.Contains(err.Error(), want) {
		t.Fatalf("fee too low: %v, want it to say %q", err, want)
	}
	// By default the CLI attaches exactly stake + get_register_fee(stake), and the registry accepts it.
	before, regLT := balance(ownerAddr), lastLT(regAddr)
	out = step(ownerKey, "register", "--stake", "10")
	total := new(big.Int).Add(nano("10"), fee)
	if want := "attaching: " + wallet.FormatTON(total) + " TON = stake 10 TON + fee " + wallet.FormatTON(fee) + " TON (get_register_fee)\n"; !strings.Contains(out, want) {
		t.Fatalf("register output lacks %q:\n%s", want, out)
	}
	if got, _ := (&channelTestEnv{t: t, d: d}).received(regAddr, regLT); len(got) != 1 || got[0].Cmp(total) != 0 {
		t.Fatalf("the registry received %v, want one message of exactly %s nanoTON", got, total)
	}
	provLine := "provider: " + friendlyBounceable(provAddr)
	if !strings.Contains(out, provLine+" (raw ") || !strings.Contains(out, provLine+" active, stake 10 TON") {
		t.Fatalf("register output lacks the provider address %s:\n%s", provAddr, out)
	}
	// The owner pays the stake, the 0.02 TON reserve and fees; the rest of the attached value comes back.
	spent := new(big.Int).Sub(before, balance(ownerAddr))
	if spent.Cmp(nano("10.02")) <= 0 || spent.Cmp(new(big.Int).Add(nano("10.01"), fee)) >= 0 {
		t.Fatalf("registration cost %s TON (fee %s)", wallet.FormatTON(spent), wallet.FormatTON(fee))
	}
	show("provider:          "+friendlyBounceable(provAddr)+" (raw "+provAddr.StringRaw()+")", "status:            active\n", "stake:             10 TON (minimum 5 TON)\n",
		"unbonding:         none\n", "unbonding period:  1m0s\n", "endpoint:          not set", "models (0)", "attestation:       not attested",
		"usage:             0 prompt tokens, 0 completion tokens, earned 0 TON\n")

	// Endpoint: bad URLs are refused before anything is signed.
	step(ownerKey, "set-endpoint", "--url", "https://provider.example:8443/cocoon")
	show("endpoint:          https://provider.example:8443/cocoon\n")
	walletLT, provLT := lastLT(ownerAddr), lastLT(provAddr)
	for _, bad := range []string{"http://provider.example", "https://" + strings.Repeat("a", 120) + ".example", "provider.example:443", "https://x.example/?a=b"} {
		if _, err := provider(ownerKey, "set-endpoint", "--url", bad); !errors.Is(err, errUsage) {
			t.Fatalf("set-endpoint %q: %v, want a usage error", bad, err)
		}
	}
	// Unknown model: refused locally against the registry's catalog.
	if _, err := provider(ownerKey, "set-price", "--model-id", "99", "--prompt", "1", "--completion", "1"); !errors.Is(err, providerErrUnknownModel) {
		t.Fatalf("set-price for an unknown model: %v", err)
	}
	if lastLT(ownerAddr) != walletLT || lastLT(provAddr) != provLT {
		t.Fatal("a locally refused command sent something")
	}

	// Prices.
	step(ownerKey, "set-price", "--model-id", "7", "--prompt", "0.1", "--completion", "0.25")
	show("models (1), TON per 1M tokens:\n  7 \"kjv-demo-1m\" prompt 0.1 TON, completion 0.25 TON\n")
	_, err = provider(ownerKey, "remove-price", "--model-id", "8")
	providerTestExit(t, "remove-price of an unpriced model", err, "provider", contracts.ExitModelPriceNotFound)
	step(ownerKey, "remove-price", "--model-id", "7")
	show("models (0)")

	// Stake: add, unstake (the minimum holds), withdraw only after the unbonding period.
	step(ownerKey, "add-stake", "--amount", "2")
	show("stake:             12 TON")
	_, err = provider(ownerKey, "unstake", "--amount", "8")
	providerTestExit(t, "unstake below the minimum", err, "provider", contracts.ExitStakeWouldDropBelowMinimum)
	step(ownerKey, "unstake", "--amount", "3")
	show("stake:             9 TON", "unbonding:         3 TON, unlocks ")
	_, err = provider(ownerKey, "withdraw")
	providerTestExit(t, "withdraw before unlock", err, "provider", contracts.ExitUnbondingLocked)
	if !strings.Contains(err.Error(), "the unbonding stake unlocks at ") {
		t.Fatalf("withdraw before unlock does not say when: %v", err)
	}
	if _, err := providerTestCLI(runDevnet, "advance", "--rpc", srv.URL, "61"); err != nil {
		t.Fatalf("devnet advance: %v", err)
	}
	show("unbonding:         3 TON, unlocked since ")
	before = balance(ownerAddr)
	out = step(ownerKey, "withdraw")
	if !strings.Contains(out, "withdraw: 3 TON of unbonded stake paid to ") {
		t.Fatalf("withdraw output:\n%s", out)
	}
	txs, err := d.Transactions(provAddr, 1, 0, nil)
	if err != nil || len(txs) != 1 {
		t.Fatalf("provider transactions: %v", err)
	}
	paid, ok := providerWithdrawn(txs[0])
	if !ok || paid.Cmp(nano("3")) != 0 {
		t.Fatalf("StakeWithdrawn carries %v (%v), want exactly 3 TON", paid, ok)
	}
	if got := new(big.Int).Sub(balance(ownerAddr), before); got.Cmp(nano("2.99")) <= 0 || got.Cmp(nano("3")) >= 0 {
		t.Fatalf("the owner's balance grew by %s TON, want 3 TON minus fees", wallet.FormatTON(got))
	}
	show("stake:             9 TON", "unbonding:         none\n")

	// Attestation as show prints it: one oracle (quorum 1) votes for a sim measurement.
	measurement, evidence, tlsKey := bytes.Repeat([]byte{0xab}, 32), bytes.Repeat([]byte{0xcd}, 32), bytes.Repeat([]byte{0xef}, 32)
	oracle := providerTestWallet(t, otherKey)
	for _, args := range [][]string{
		{"allow-measurement", "--hash", hex.EncodeToString(measurement), "--kind", "sim"},
		{"add-oracle", "--oracle-wallet", oracle.Address().String(), "--pubkey", strings.Repeat("22", 32)},
	} {
		if out, err := providerTestCLI(runRegistry, append(args, "--key-file", govKey, "--rpc", srv.URL)...); err != nil {
			t.Fatalf("registry %s: %v\n%s", args[0], err, out)
		}
	}
	validUntil := uint32(d.Now().Add(time.Hour).Unix())
	vote, err := contracts.Encode(contracts.SubmitOracleVote{QueryID: 9, ProviderOwner: ownerAddr, Claim: &contracts.AttestationClaim{
		MeasurementHash: measurement, EvidenceDigest: evidence, TLSKeyHash: tlsKey, ValidUntil: validUntil}})
	if err != nil {
		t.Fatal(err)
	}
	provLT = lastLT(provAddr)
	testSend(t, d, oracle, wallet.Transfer{To: regAddr, Amount: nano("0.1"), Bounce: true, Body: vote})
	if _, err := txwait.Wait(ctx, d.Client(), provAddr, provLT, txwait.InternalFrom(regAddr), txwait.Options{Interval: 10 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	out = show("attestation:       attested until "+time.Unix(int64(validUntil), 0).UTC().Format(time.DateTime)+" UTC (in ",
		"  measurement:     "+hex.EncodeToString(measurement)+" (sim)\n", "  evidence digest: "+hex.EncodeToString(evidence)+"\n",
		"  tls key hash:    "+hex.EncodeToString(tlsKey)+"\n")
	if strings.Contains(out, "pending votes:") {
		t.Fatalf("the vote for the confirmed claim is shown as pending:\n%s", out)
	}

	// Status changes; the contract's refusals come back by name.
	step(ownerKey, "pause")
	show("status:            paused\n")
	_, err = provider(ownerKey, "pause")
	providerTestExit(t, "pause twice", err, "provider", contracts.ExitInvalidStatus)
	_, err = provider(otherKey, "resume", "--owner", ownerAddr.String())
	providerTestExit(t, "resume from another wallet", err, "provider", contracts.ExitNotOwner)
	if !strings.Contains(err.Error(), "the provider's owner is "+ownerAddr.String()) {
		t.Fatalf("the refusal does not name the owner: %v", err)
	}
	step(ownerKey, "resume")
	show("status:            active\n")
	step(ownerKey, "exit")
	show("status:            exiting\n", "stake:             0 TON", "unbonding:         9 TON, unlocks ")
	// Registering again is a top-up: the exiting provider is active again with the new stake.
	out = step(ownerKey, "register", "--stake", "5")
	if !strings.Contains(out, "(already registered, exiting, stake 0 TON: the stake is added)") || !strings.Contains(out, provLine+" active, stake 5 TON") {
		t.Fatalf("register as a top-up:\n%s", out)
	}
	show("status:            active\n", "stake:             5 TON", "unbonding:         9 TON, unlocks ")

	// Links for an owner who signs elsewhere: no wallet here, --owner names the provider.
	noKey := filepath.Join(dir, "absent.key")
	out, err = provider(noKey, "set-endpoint", "--link", "--owner", ownerAddr.String(), "--url", "https://p.example", "--query-id", "5")
	if err != nil {
		t.Fatalf("set-endpoint --link: %v\n%s", err, out)
	}
	dst, amount, body := providerTestLink(t, out)
	msg, err := contracts.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	se, ok := msg.(contracts.SetEndpoint)
	if !ok || se.QueryID != 5 || !dst.Equals(provAddr) || amount != "50000000" {
		t.Fatalf("set-endpoint link: %T %+v to %s amount %s", msg, msg, dst, amount)
	}
	if text, err := contracts.CellText(se.Endpoint); err != nil || text != "https://p.example" {
		t.Fatalf("link endpoint %q %v", text, err)
	}
	out, err = provider(noKey, "add-stake", "--link", "--owner", ownerAddr.String(), "--amount", "2", "--query-id", "6")
	if err != nil {
		t.Fatalf("add-stake --link: %v\n%s", err, out)
	}
	dst, amount, body = providerTestLink(t, out)
	as, err := contracts.DecodeAs[contracts.AddStake](body)
	if err != nil || as.QueryID != 6 || as.Amount.Nano().Cmp(nano("2")) != 0 || !dst.Equals(provAddr) || amount != "2050000000" {
		t.Fatalf("add-stake link: %+v %v to %s amount %s", as, err, dst, amount)
	}
	out, err = provider(noKey, "register", "--link", "--stake", "6", "--query-id", "7")
	if err != nil {
		t.Fatalf("register --link: %v\n%s", err, out)
	}
	dst, amount, body = providerTestLink(t, out)
	msg, err = contracts.Decode(body)
	rp, ok := msg.(contracts.RegisterProvider)
	fee6, err := rc.RegisterFee(ctx, nano("6"))
	if err != nil {
		t.Fatal(err)
	}
	wantAmount := new(big.Int).Add(nano("6"), fee6)
	if err != nil || !ok || rp.QueryID != 7 || rp.StakeAmount.Nano().Cmp(nano("6")) != 0 || !dst.Equals(regAddr) || amount != wantAmount.String() {
		t.Fatalf("register link: %+v %v to %s amount %s (want %s)", msg, err, dst, amount, wantAmount)
	}
	// A link needs to know whose provider it addresses.
	if _, err := provider(noKey, "pause", "--link"); !errors.Is(err, errUsage) {
		t.Fatalf("pause --link without --owner or wallet: %v", err)
	}
}

// TestProviderStorageReserve checks the reserve show subtracts against tolk/src/fees-management.tolk.
func TestProviderStorageReserve(t *testing.T) {
	src, err := os.ReadFile("../../tolk/src/fees-management.tolk")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^const MIN_TONS_FOR_STORAGE = ton\("([0-9.]+)"\)$`).FindSubmatch(src)
	if m == nil || string(m[1]) != wallet.FormatTON(big.NewInt(providerStorageReserve)) {
		t.Fatalf("fees-management.tolk MIN_TONS_FOR_STORAGE = %q, the CLI assumes %s TON", m, wallet.FormatTON(big.NewInt(providerStorageReserve)))
	}
}

// TestProviderRegisterLinkOffline: a register link with --value needs no chain; without --value the
// error says that the fee is read from the chain and how to do without it.
func TestProviderRegisterLinkOffline(t *testing.T) {
	t.Setenv(envMnemonic, "")
	t.Setenv(envRPC, "http://127.0.0.1:1") // nothing listens here
	reg := address.MustParseRawAddr("0:" + strings.Repeat("77", 32))
	out, err := providerTestCLI(providerRun, "register", "--registry", reg.StringRaw(), "--link", "--stake", "5", "--value", "0.25", "--query-id", "3")
	if err != nil {
		t.Fatalf("register --link --value without a chain: %v\n%s", err, out)
	}
	dst, amount, body := providerTestLink(t, out)
	rp, err := contracts.DecodeAs[contracts.RegisterProvider](body)
	if err != nil || rp.QueryID != 3 || rp.StakeAmount.Nano().Cmp(big.NewInt(5_000_000_000)) != 0 || !dst.Equals(reg) || amount != "5250000000" {
		t.Fatalf("register link: %+v %v to %s amount %s", rp, err, dst, amount)
	}
	out, err = providerTestCLI(providerRun, "register", "--registry", reg.StringRaw(), "--link", "--stake", "5")
	if !errors.Is(err, errFeeUnread) || !strings.Contains(err.Error(), "get_register_fee is read from the chain") ||
		!strings.Contains(err.Error(), "--rpc") || !strings.Contains(err.Error(), "give --value TON") || strings.Contains(out, "ton://") {
		t.Fatalf("register --link without a chain or --value: %v\n%s", err, out)
	}
}

func TestProviderEndpointRules(t *testing.T) {
	for _, ok := range []string{"https://provider.example", "https://provider.example:8443/cocoon", "https://10.0.0.7:443",
		"https://[2001:db8::1]:8443", "https://" + strings.Repeat("a", 127-len("https://"))} {
		if err := providerCheckEndpoint(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "https://" + strings.Repeat("a", 128-len("https://")), "http://provider.example",
		"provider.example", "https://", "https://:8443", "https://user:pw@provider.example", "https://provider.example/#x",
		"https://provider.example/?q", "https://provider .example", "https://provider.example/\n", "ftp://provider.example"} {
		if err := providerCheckEndpoint(bad); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", bad, err)
		}
	}
}

func TestProviderUsageErrors(t *testing.T) {
	t.Setenv(envMnemonic, "")
	t.Setenv(envRegistry, "")
	reg := "0:" + strings.Repeat("77", 32)
	owner := "0:" + strings.Repeat("66", 32)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"show"}, // no registry
		{"register", "--registry", reg, "--link"},
		{"register", "--registry", reg, "--link", "--stake", "0"},
		{"register", "--registry", reg, "--link", "--stake", "-1"},
		{"register", "--registry", reg, "--link", "--stake", "5", "--owner", "-1:" + strings.Repeat("66", 32)},
		{"set-endpoint", "--registry", reg, "--link", "--owner", owner},
		{"set-endpoint", "--registry", reg, "--link", "--owner", owner, "--url", "http://x.example"},
		{"set-price", "--registry", reg, "--link", "--owner", owner, "--prompt", "1", "--completion", "1"},
		{"set-price", "--registry", reg, "--link", "--owner", owner, "--model-id", "4294967296", "--prompt", "1", "--completion", "1"},
		{"set-price", "--registry", reg, "--link", "--owner", owner, "--model-id", "1", "--prompt", "1"},
		{"set-price", "--registry", reg, "--link", "--owner", owner, "--model-id", "1", "--prompt", "0.0000000001", "--completion", "1"},
		{"remove-price", "--registry", reg, "--link", "--owner", owner},
		{"add-stake", "--registry", reg, "--link", "--owner", owner},
		{"add-stake", "--registry", reg, "--link", "--owner", owner, "--amount", "0"},
		{"unstake", "--registry", reg, "--link", "--owner", owner, "--amount", "x"},
		{"pause", "--registry", reg, "--link", "--owner", owner, "extra"},
		{"withdraw", "--registry", reg, "--link", "--owner", owner, "--url", "https://x.example"},
	} {
		if _, err := providerTestCLI(providerRun, args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	if out, err := providerTestCLI(providerRun, "register", "-h"); err != nil && !errors.Is(err, flag.ErrHelp) || !strings.Contains(out, "storage reserve") {
		t.Errorf("register -h: %v\n%s", err, out)
	}
}
