package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/voucher"
)

// channelTestEnv is a devnet served over HTTP (COCOON_RPC points at it) and the CLI run against it.
type channelTestEnv struct {
	t   *testing.T
	d   *devnet.Devnet
	dir string
}

// run runs `cocoon channel args…` capturing its output.
func (e *channelTestEnv) run(args ...string) (string, error) {
	e.t.Helper()
	var out bytes.Buffer
	old := walletOut
	walletOut = &out
	defer func() { walletOut = old }()
	err := runChannel(context.Background(), args)
	return out.String(), err
}

// must runs the CLI and fails the test on an error.
func (e *channelTestEnv) must(args ...string) string {
	e.t.Helper()
	out, err := e.run(args...)
	if err != nil {
		e.t.Fatalf("channel %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// wallet creates a funded wallet key file.
func (e *channelTestEnv) wallet(name string, ton int64) (string, *address.Address) {
	e.t.Helper()
	key := filepath.Join(e.dir, name+".key")
	out, err := runWalletCmd(e.t, "", "new", "--key-file", key)
	if err != nil {
		e.t.Fatal(err)
	}
	a := addressOf(e.t, out)
	if err := e.d.Fund(context.Background(), a, new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))); err != nil {
		e.t.Fatal(err)
	}
	return key, a
}

// lastLT is an account's newest transaction LT: unchanged means nothing reached it.
func (e *channelTestEnv) lastLT(a *address.Address) uint64 {
	e.t.Helper()
	acc, err := e.d.Account(a)
	if err != nil {
		e.t.Fatal(err)
	}
	return acc.LastTxLT
}

func (e *channelTestEnv) balance(a *address.Address) *big.Int {
	e.t.Helper()
	acc, err := e.d.Account(a)
	if err != nil {
		e.t.Fatal(err)
	}
	return acc.Balance
}

// received returns the values of the internal messages a received after afterLT, and the fees its
// transactions paid.
func (e *channelTestEnv) received(a *address.Address, afterLT uint64) (values []*big.Int, fees *big.Int) {
	e.t.Helper()
	txs, err := e.d.Transactions(a, 100, 0, nil)
	if err != nil {
		e.t.Fatal(err)
	}
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

// expectOnlyIncome checks that a got exactly want (one message) since afterLT, and that its balance
// moved by that minus its own transactions' fees.
func (e *channelTestEnv) expectOnlyIncome(what string, a *address.Address, afterLT uint64, balBefore, want *big.Int) {
	e.t.Helper()
	values, fees := e.received(a, afterLT)
	if len(values) != 1 || values[0].Cmp(want) != 0 {
		e.t.Fatalf("%s received %v, want exactly one message of %s nanoTON", what, values, want)
	}
	delta := new(big.Int).Sub(e.balance(a), balBefore)
	if exp := new(big.Int).Sub(want, fees); delta.Cmp(exp) != 0 {
		e.t.Fatalf("%s balance moved by %s, want %s received - %s fees", what, delta, want, fees)
	}
}

var (
	channelTestAddrLine = regexp.MustCompile(`(?m)^channel:\s+(\S+)$`)
	channelTestPaid     = regexp.MustCompile(`(?m)^paid:\s+(\S+) TON = earned (\S+) TON to \S+ \+ fee (\S+) TON to \S+$`)
)

// field reads "name:   X TON" from show's output, in nanoTON.
func channelTestField(t *testing.T, out, name string) *big.Int {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(name) + `:\s+(\S+) TON`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no %q in:\n%s", name, out)
	}
	return channelTestNano(t, m[1])
}

func channelTestNano(t *testing.T, ton string) *big.Int {
	t.Helper()
	n, err := wallet.ParseTON(ton)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// expectRefused checks a local refusal: the named exit code, nothing sent from the wallet.
func (e *channelTestEnv) expectRefused(code contracts.ExitCode, wantText string, walletAddr *address.Address, args ...string) {
	e.t.Helper()
	before := e.lastLT(walletAddr)
	out, err := e.run(args...)
	var got contracts.ExitCode
	if !errors.Is(err, errChannelRefused) || !errors.As(err, &got) || got != code {
		e.t.Fatalf("channel %s: %v, want a local refusal naming %v\n%s", strings.Join(args, " "), err, code, out)
	}
	if errors.Is(err, errUsage) {
		e.t.Fatalf("a refusal is not a usage error: %v", err)
	}
	if !strings.Contains(err.Error(), wantText) || !strings.Contains(err.Error(), code.Error()) {
		e.t.Fatalf("error %q lacks %q or the exit code's name", err, wantText)
	}
	if e.lastLT(walletAddr) != before {
		e.t.Fatalf("channel %s sent something although refused", strings.Join(args, " "))
	}
}

// TestChannelOnDevnet drives a channel through its whole life with the CLI over the devnet's HTTP
// API: key, open, show, voucher, claim (money checked to the nanoTON), refusals, a voucher above
// the deposit, top-up, claim-remainder, close, finalize before and after the deadline, and a
// cooperative close.
func TestChannelOnDevnet(t *testing.T) {
	for _, env := range []string{envMnemonic, envRegistry, envNetwork, envKeyFile, channelEnvKeyFile} {
		t.Setenv(env, "")
	}
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: testBlockInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	t.Setenv(envRPC, srv.URL)
	ctx := context.Background()
	e := &channelTestEnv{t: t, d: d, dir: t.TempDir()}

	govKey, _ := e.wallet("gov", 10)
	ownerKey, ownerAddr := e.wallet("owner", 20)
	clientKeyW, clientAddr := e.wallet("client", 20)
	relayerKey, relayerAddr := e.wallet("relayer", 10)
	// The treasury is a plain address nobody deployed: what it receives is exactly what it is sent.
	th := sha256.Sum256([]byte("cocoon channel test treasury"))
	treasury := address.NewAddress(0, 0, th[:])

	// Registry (CLI) and a provider registered by its owner's wallet.
	var regOut bytes.Buffer
	walletOut = &regOut
	err = runRegistry(ctx, []string{"deploy", "--key-file", govKey, "--min-stake", "5", "--fee-bps", "250",
		"--treasury", treasury.StringRaw(), "--challenge", "1h"})
	walletOut = os.Stdout
	m := registryLine.FindStringSubmatch(regOut.String())
	if err != nil || m == nil {
		t.Fatalf("registry deploy: %v\n%s", err, regOut.String())
	}
	reg := address.MustParseRawAddr(m[2])
	t.Setenv(envRegistry, m[2])
	words, err := readKeyFile(ownerKey)
	if err != nil {
		t.Fatal(err)
	}
	ownerW, err := wallet.FromMnemonic(words, wallet.V5R1, -239)
	if err != nil {
		t.Fatal(err)
	}
	regBody, err := contracts.Encode(contracts.RegisterProvider{QueryID: 1, StakeAmount: tlb.MustFromTON("5")})
	if err != nil {
		t.Fatal(err)
	}
	testSend(t, d, ownerW, wallet.Transfer{To: reg, Amount: channelTestNano(t, "5.5"), Bounce: true, Body: regBody})
	provider, err := contracts.ProviderAddress(contracts.ProviderCode(), reg, ownerAddr)
	if err != nil {
		t.Fatal(err)
	}
	if pd, err := (contracts.ProviderClient{Chain: d.Client(), Address: provider}).Data(ctx); err != nil || pd.Status != contracts.ProviderActive {
		t.Fatalf("provider not registered: %+v %v", pd, err)
	}

	// Client key: created 0600, never overwritten, shown again from the file.
	keyFile := filepath.Join(e.dir, "keys", "client.channel")
	out := e.must("key", "new", "--out", keyFile)
	pubHex := regexp.MustCompile(`(?m)^public key: ([0-9a-f]{64})$`).FindStringSubmatch(out)
	if pubHex == nil {
		t.Fatalf("key new output:\n%s", out)
	}
	if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	if _, err := e.run("key", "new", "--out", keyFile); err == nil || !strings.Contains(err.Error(), "refusing to overwrite") {
		t.Fatalf("key new over an existing file: %v", err)
	}
	if out := e.must("key", "show", "--key-file", keyFile); !strings.Contains(out, pubHex[1]) {
		t.Fatalf("key show:\n%s", out)
	}
	clientPub, _ := hex.DecodeString(pubHex[1])

	// Open: an --open-fee below the registry's get_open_channel_fee is sent as given, refused by the
	// registry by name (the value comes back), and the error says what the fee is.
	rc := contracts.RegistryClient{Chain: d.Client(), Address: reg}
	openFee, err := rc.OpenChannelFee(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("open fee (get_open_channel_fee): %s TON", wallet.FormatTON(openFee))
	_, err = e.run("open", "--key-file", clientKeyW, "--provider-owner", ownerAddr.String(), "--deposit", "0.001",
		"--client-key-file", keyFile, "--open-fee", "0.01")
	var code contracts.ExitCode
	if !errors.As(err, &code) || code != contracts.ExitNotEnoughValue || errors.Is(err, errChannelRefused) ||
		!strings.Contains(err.Error(), "--open-fee 0.01 TON is below the registry's fee "+wallet.FormatTON(openFee)+" TON") {
		t.Fatalf("open with a too small fee: %v", err)
	}
	// A registry without channel code is refused before sending, by name.
	oldReg := deployRegistryWithoutChannels(t, d, ownerAddr)
	e.expectRefused(contracts.ExitChannelsDisabled, "has no channel code (governance enables channels with 'cocoon registry set-channel-code')", clientAddr,
		"open", "--registry", oldReg.String(), "--key-file", clientKeyW, "--provider-owner", ownerAddr.String(), "--deposit", "1", "--client-key-file", keyFile)
	clientLT := e.lastLT(clientAddr)
	if _, err := e.run("open", "--key-file", clientKeyW, "--provider-owner", relayerAddr.String(), "--deposit", "2", "--client-key-file", keyFile); !errors.Is(err, errChannelRefused) || !strings.Contains(fmt.Sprint(err), "has no provider registered") || e.lastLT(clientAddr) != clientLT {
		t.Fatalf("open with an owner that has no provider: %v", err)
	}
	// By default open attaches exactly deposit + get_open_channel_fee, which the registry accepts.
	regLT := e.lastLT(reg)
	out = e.must("open", "--key-file", clientKeyW, "--provider-owner", ownerAddr.String(), "--deposit", "2", "--client-key-file", keyFile)
	t.Logf("open:\n%s", out)
	openTotal := new(big.Int).Add(channelTestNano(t, "2"), openFee)
	if want := "attaching: " + wallet.FormatTON(openTotal) + " TON = deposit 2 TON + open fee " + wallet.FormatTON(openFee) + " TON (get_open_channel_fee)\n"; !strings.Contains(out, want) {
		t.Fatalf("open output lacks %q:\n%s", want, out)
	}
	if got, _ := e.received(reg, regLT); len(got) != 1 || got[0].Cmp(openTotal) != 0 {
		t.Fatalf("the registry received %v, want one message of exactly %s nanoTON", got, openTotal)
	}
	m = channelTestAddrLine.FindStringSubmatch(out)
	if m == nil || !strings.Contains(out, "open: done") {
		t.Fatalf("open output:\n%s", out)
	}
	ch, err := address.ParseAddr(m[1])
	if err != nil {
		t.Fatal(err)
	}
	want, err := contracts.ChannelAddress(contracts.ChannelCode(), reg, clientPub, provider)
	if err != nil || !want.Equals(ch) {
		t.Fatalf("open printed %s, offline derivation %s (%v)", ch, want, err)
	}
	chs := ch.String()

	// Show, by address and by (client key, provider owner): same channel, the deposit available.
	show := e.must("show", "--channel", chs)
	if byKey := e.must("show", "--client-key", pubHex[1], "--provider-owner", ownerAddr.String()); byKey != show {
		t.Fatalf("show by key differs:\n%s\nvs\n%s", byKey, show)
	}
	t.Logf("show:\n%s", show)
	for _, w := range []string{"status:           open", "client key:       " + pubHex[1], "protocol fee:     250 bps",
		"challenge period: 1h0m0s", "payout to:        " + friendlyBounceable(ownerAddr), "owed:             0 TON"} {
		if !strings.Contains(show, w) {
			t.Fatalf("show lacks %q:\n%s", w, show)
		}
	}
	avail := channelTestField(t, show, "available")
	if slack := new(big.Int).Sub(avail, channelTestNano(t, "2")); slack.Sign() < 0 || slack.Cmp(channelTestNano(t, "0.01")) > 0 {
		t.Fatalf("available %s after depositing 2 TON: the open fee should cover the costs, and not by much", avail)
	}
	if cc := channelTestField(t, show, "claim cost"); cc.Sign() <= 0 {
		t.Fatalf("claim cost %s", cc)
	}
	// A channel not opened yet shows its address.
	other, _, _ := ed25519.GenerateKey(nil)
	if out := e.must("show", "--client-key", hex.EncodeToString(other), "--provider-owner", ownerAddr.String()); !strings.Contains(out, "not opened yet") {
		t.Fatalf("show of an unopened channel:\n%s", out)
	}

	// Voucher and claim, relayed by a third party: exact money to owner and treasury, usage on the provider.
	h1 := strings.TrimSpace(e.must("voucher", "--channel", chs, "--amount", "0.3", "--prompt", "1500", "--completion", "700", "--client-key-file", keyFile))
	s1, err := voucher.DecodeHeader(h1)
	if err != nil || s1.Verify(clientPub) != nil || !s1.Channel.Equals(ch) || s1.PromptTokens != 1500 {
		t.Fatalf("voucher header %q: %+v %v", h1, s1, err)
	}
	ownerLT, ownerBal := e.lastLT(ownerAddr), e.balance(ownerAddr)
	treasuryLT, treasuryBal := e.lastLT(treasury), e.balance(treasury)
	out = e.must("claim", "--voucher", h1, "--key-file", relayerKey)
	t.Logf("claim:\n%s", out)
	pm := channelTestPaid.FindStringSubmatch(out)
	if pm == nil {
		t.Fatalf("claim output:\n%s", out)
	}
	earned, fee := channelTestNano(t, pm[2]), channelTestNano(t, pm[3])
	if pm[1] != "0.3" || earned.Cmp(channelTestNano(t, "0.2925")) != 0 || fee.Cmp(channelTestNano(t, "0.0075")) != 0 {
		t.Fatalf("claim paid %v (0.3 TON at 250 bps: 0.2925 earned, 0.0075 fee)", pm[1:])
	}
	if !strings.Contains(out, "usage:    +1500 prompt, +700 completion tokens") {
		t.Fatalf("claim usage:\n%s", out)
	}
	e.expectOnlyIncome("owner", ownerAddr, ownerLT, ownerBal, earned)
	e.expectOnlyIncome("treasury", treasury, treasuryLT, treasuryBal, fee)
	usage, err := contracts.ProviderClient{Chain: d.Client(), Address: provider}.Usage(ctx)
	if err != nil || usage.PromptTokens != 1500 || usage.CompletionTokens != 700 || usage.Earned.Nano().Cmp(earned) != 0 {
		t.Fatalf("provider usage %+v %v", usage, err)
	}

	// Refusals found before sending: each names the contract's code, and the relayer sends nothing.
	forged, err := voucher.Voucher{Channel: ch, Amount: channelTestNano(t, "0.4"), PromptTokens: 2000, CompletionTokens: 800}.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32)))
	if err != nil {
		t.Fatal(err)
	}
	fh, _ := voucher.EncodeHeader(&forged)
	e.expectRefused(contracts.ExitInvalidSignature, "does not verify under the channel's client key", relayerAddr, "claim", "--voucher", fh, "--key-file", relayerKey)
	e.expectRefused(contracts.ExitVoucherNotNewer, "voucher is not newer: it equals the accepted voucher", relayerAddr, "claim", "--voucher", h1, "--key-file", relayerKey)
	// money orders vouchers: a lower amount is refused whatever its tokens, the same amount needs a higher token total
	lower := strings.TrimSpace(e.must("voucher", "--channel", chs, "--amount", "0.2", "--prompt", "9000", "--completion", "9000", "--client-key-file", keyFile))
	e.expectRefused(contracts.ExitVoucherNotNewer, "voucher is not newer: amount 0.2 TON < accepted 0.3 TON", relayerAddr, "claim", "--voucher", lower, "--key-file", relayerKey)
	same := strings.TrimSpace(e.must("voucher", "--channel", chs, "--amount", "0.3", "--prompt", "10", "--completion", "700", "--client-key-file", keyFile))
	e.expectRefused(contracts.ExitVoucherNotNewer, "no token total is above the accepted ones (promptTokens 10 <= 1500, completionTokens 700 <= 700)", relayerAddr, "claim", "--voucher", same, "--key-file", relayerKey)
	elsewhere := address.NewAddress(0, 0, bytes.Repeat([]byte{0x42}, 32))
	hOther := strings.TrimSpace(e.must("voucher", "--channel", elsewhere.String(), "--amount", "1", "--prompt", "1", "--client-key-file", keyFile))
	e.expectRefused(contracts.ExitWrongChannel, "the voucher is for channel", relayerAddr, "claim", "--voucher", hOther, "--channel", chs, "--key-file", relayerKey)
	if _, err := e.run("claim", "--voucher", hOther, "--key-file", relayerKey); !errors.Is(err, errChannelMissing) {
		t.Fatalf("claim on a channel that does not exist: %v", err)
	}
	for _, bad := range []string{"abc", h1 + "x", strings.Replace(h1, ".", "", 1), h1[:len(h1)-3]} {
		if _, err := e.run("claim", "--voucher", bad, "--key-file", relayerKey); !errors.Is(err, errUsage) || !errors.Is(err, voucher.ErrBadHeader) {
			t.Fatalf("malformed header %q: %v", bad, err)
		}
	}

	// A claim as a link: the amount covers the claim cost and the body is the Claim for the voucher.
	h2 := strings.TrimSpace(e.must("voucher", "--channel", chs, "--amount", "5", "--prompt", "3000", "--completion", "1400", "--client-key-file", keyFile))
	e.expectRefused(contracts.ExitNotEnoughValue, "below the channel's claim cost", relayerAddr, "claim", "--voucher", h2, "--key-file", relayerKey, "--value", "0.001")
	out = e.must("claim", "--voucher", h2, "--link", "--query-id", "77")
	link, err := url.Parse(regexp.MustCompile(`ton://transfer/\S+`).FindString(out))
	if err != nil {
		t.Fatal(err)
	}
	cc := channelTestField(t, show, "claim cost")
	if amount, _ := new(big.Int).SetString(link.Query().Get("amount"), 10); amount == nil || amount.Cmp(new(big.Int).Add(cc, big.NewInt(channelClaimMargin))) != 0 {
		t.Fatalf("claim link amount %q, want claim cost %s + margin", link.Query().Get("amount"), cc)
	}
	boc, _ := base64.URLEncoding.DecodeString(link.Query().Get("bin"))
	body, err := cell.FromBOC(boc)
	if err != nil {
		t.Fatal(err)
	}
	if claim, err := contracts.DecodeAs[contracts.Claim](body); err != nil || claim.QueryID != 77 || claim.Voucher.PromptTokens != 3000 {
		t.Fatalf("claim link body: %+v %v", claim, err)
	}

	// A voucher above the deposit pays what is available; the rest stays owed.
	out = e.must("claim", "--voucher", h2, "--key-file", relayerKey)
	if !strings.Contains(out, "owed:     ") || !strings.Contains(out, "claim-remainder") {
		t.Fatalf("claim above the deposit should report what is owed:\n%s", out)
	}
	show = e.must("show", "--channel", chs)
	owed := channelTestField(t, show, "owed")
	paid := channelTestField(t, show, "paid")
	if channelTestField(t, show, "available").Sign() != 0 || owed.Sign() <= 0 || new(big.Int).Add(owed, paid).Cmp(channelTestNano(t, "5")) != 0 {
		t.Fatalf("after a claim above the deposit:\n%s", show)
	}
	e.expectRefused(contracts.ExitNothingToClaim, "nothing to claim", relayerAddr, "claim-remainder", "--channel", chs, "--key-file", relayerKey)

	// Top-up (here without waiting for the channel), then claim-remainder pays the rest with no new voucher.
	if _, err := e.run("top-up", "--channel", elsewhere.String(), "--amount", "4", "--key-file", clientKeyW); !errors.Is(err, errChannelMissing) {
		t.Fatalf("top-up of a channel that does not exist: %v", err)
	}
	out = e.must("top-up", "--channel", chs, "--amount", "4", "--key-file", clientKeyW, "--no-wait")
	if !strings.Contains(out, "top-up: sent 4 TON") || strings.Contains(out, "done") {
		t.Fatalf("top-up --no-wait:\n%s", out)
	}
	// The wallet's transaction is in; the channel's comes with the next block.
	if err := d.WaitBlocks(ctx, 1); err != nil {
		t.Fatal(err)
	}
	// The channel's own gas for the transfer comes out of it.
	if got := channelTestField(t, e.must("show", "--channel", chs), "available"); got.Cmp(channelTestNano(t, "4")) > 0 || got.Cmp(channelTestNano(t, "3.999")) < 0 {
		t.Fatalf("available %s after a 4 TON top-up of an emptied channel", got)
	}
	ownerLT, ownerBal = e.lastLT(ownerAddr), e.balance(ownerAddr)
	out = e.must("claim-remainder", "--channel", chs, "--key-file", relayerKey)
	pm = channelTestPaid.FindStringSubmatch(out)
	if pm == nil || channelTestNano(t, pm[1]).Cmp(owed) != 0 || !strings.Contains(out, "usage:    +0 prompt, +0 completion tokens") {
		t.Fatalf("claim-remainder should pay the %s owed:\n%s", owed, out)
	}
	e.expectOnlyIncome("owner", ownerAddr, ownerLT, ownerBal, channelTestNano(t, pm[2]))
	show = e.must("show", "--channel", chs)
	if channelTestField(t, show, "owed").Sign() != 0 || channelTestField(t, show, "paid").Cmp(channelTestNano(t, "5")) != 0 {
		t.Fatalf("after claim-remainder:\n%s", show)
	}
	e.expectRefused(contracts.ExitNothingToClaim, "nothing to claim", relayerAddr, "claim-remainder", "--channel", chs, "--key-file", relayerKey)

	// Close with the client's key; another key is refused before sending.
	otherKey := filepath.Join(e.dir, "other.channel")
	e.must("key", "new", "--out", otherKey)
	e.expectRefused(contracts.ExitInvalidSignature, "is not the channel's client key", clientAddr, "close", "--channel", chs, "--client-key-file", otherKey, "--key-file", clientKeyW)
	out = e.must("close", "--channel", chs, "--client-key-file", keyFile, "--refund-to", clientAddr.String(), "--key-file", clientKeyW)
	if !strings.Contains(out, "close: done") || !strings.Contains(e.must("show", "--channel", chs), "status:           closing") {
		t.Fatalf("close:\n%s", out)
	}
	e.expectRefused(contracts.ExitAlreadyClosing, "already closing", clientAddr, "close", "--channel", chs, "--client-key-file", keyFile, "--key-file", clientKeyW)

	// Finalize before the deadline: refused locally; with --no-check the contract refuses by name.
	e.expectRefused(contracts.ExitChallengeNotOver, "the challenge period ends at", relayerAddr, "finalize", "--channel", chs, "--key-file", relayerKey)
	_, err = e.run("finalize", "--channel", chs, "--key-file", relayerKey, "--no-check")
	if !errors.As(err, &code) || code != contracts.ExitChallengeNotOver || errors.Is(err, errChannelRefused) || !strings.Contains(err.Error(), "ChallengeNotOver") {
		t.Fatalf("finalize --no-check before the deadline: %v", err)
	}

	// After the challenge period (devnet clock, over its HTTP API) finalize refunds the client.
	devnetOut = io.Discard
	defer func() { devnetOut = os.Stdout }()
	if err := runDevnet(ctx, []string{"advance", "--rpc", srv.URL, "3601"}); err != nil {
		t.Fatal(err)
	}
	var clientBal *big.Int
	refundable := channelTestField(t, e.must("show", "--channel", chs), "available")
	clientLT, clientBal = e.lastLT(clientAddr), e.balance(clientAddr)
	out = e.must("finalize", "--channel", chs, "--key-file", relayerKey)
	rm := regexp.MustCompile(`refunded (\S+) TON to (\S+)`).FindStringSubmatch(out)
	// The refund is what was available less the hour's storage fee and the refund's forward fee.
	if rm == nil || rm[2] != clientAddr.String() {
		t.Fatalf("finalize output:\n%s", out)
	}
	refunded := channelTestNano(t, rm[1])
	if short := new(big.Int).Sub(refundable, refunded); short.Sign() < 0 || short.Cmp(channelTestNano(t, "0.001")) > 0 {
		t.Fatalf("finalize refunded %s of the %s available", refunded, refundable)
	}
	e.expectOnlyIncome("client", clientAddr, clientLT, clientBal, refunded)
	show = e.must("show", "--channel", chs)
	if !strings.Contains(show, "status:           open") || !strings.Contains(show, "close nonce:      1") || channelTestField(t, show, "available").Sign() != 0 {
		t.Fatalf("after finalize:\n%s", show)
	}
	e.expectRefused(contracts.ExitNotClosing, "not closing", relayerAddr, "finalize", "--channel", chs, "--key-file", relayerKey)

	// A second close (nonce 1) ended early by the provider owner; nobody else may.
	e.must("close", "--channel", chs, "--client-key-file", keyFile, "--key-file", clientKeyW)
	e.expectRefused(contracts.ExitNotPayee, "only the provider owner", relayerAddr, "cooperative-close", "--channel", chs, "--key-file", relayerKey)
	if out := e.must("cooperative-close", "--channel", chs, "--key-file", ownerKey); !strings.Contains(out, "cooperative-close: done") {
		t.Fatalf("cooperative-close:\n%s", out)
	}
	if show := e.must("show", "--channel", chs); !strings.Contains(show, "close nonce:      2") || !strings.Contains(show, "status:           open") {
		t.Fatalf("after cooperative-close:\n%s", show)
	}

	// Links for the client's own verbs: open carries deposit + fee and the OpenChannel body.
	out = e.must("open", "--link", "--provider-owner", ownerAddr.String(), "--deposit", "1", "--client-key", pubHex[1], "--query-id", "5")
	link, _ = url.Parse(regexp.MustCompile(`ton://transfer/\S+`).FindString(out))
	dst, err := address.ParseAddr(strings.TrimPrefix(link.Path, "/"))
	if err != nil || !dst.Equals(reg) {
		t.Fatalf("open link goes to %q", link.Path)
	}
	if want := new(big.Int).Add(channelTestNano(t, "1"), openFee); link.Query().Get("amount") != want.String() {
		t.Fatalf("open link amount %q, want deposit 1 TON + open fee %s:\n%s", link.Query().Get("amount"), openFee, out)
	}
	boc, _ = base64.URLEncoding.DecodeString(link.Query().Get("bin"))
	body, _ = cell.FromBOC(boc)
	if oc, err := contracts.DecodeAs[contracts.OpenChannel](body); err != nil || oc.QueryID != 5 || !bytes.Equal(oc.ClientKey, clientPub) || !oc.ProviderOwner.Equals(ownerAddr) {
		t.Fatalf("open link body: %+v %v", oc, err)
	}
	if !strings.Contains(out, "the channel exists") {
		t.Fatalf("open of an existing channel should say it tops up:\n%s", out)
	}
}

// TestChannelUsageErrors: missing and malformed flags are usage errors found before any network call.
func TestChannelUsageErrors(t *testing.T) {
	for _, env := range []string{envMnemonic, envRegistry, channelEnvKeyFile} {
		t.Setenv(env, "")
	}
	// Nothing listens here: reaching the network would fail differently.
	t.Setenv(envRPC, "http://127.0.0.1:1")
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "k")
	e := &channelTestEnv{t: t, dir: dir}
	e.must("key", "new", "--out", keyFile)
	addr := "0:" + strings.Repeat("77", 32)
	hexKey := strings.Repeat("ab", 32)
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"key"},
		{"key", "new"},
		{"key", "show"},
		{"key", "rotate", "--out", keyFile},
		{"open", "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey}, // no registry
		{"open", "--registry", addr, "--deposit", "1", "--client-key", hexKey},
		{"open", "--registry", addr, "--provider-owner", addr, "--client-key", hexKey},
		{"open", "--registry", addr, "--provider-owner", addr, "--deposit", "0", "--client-key", hexKey},
		{"open", "--registry", addr, "--provider-owner", addr, "--deposit", "1"},
		{"open", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", "abcd"},
		{"open", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey, "--client-key-file", keyFile},
		{"open", "--registry", addr, "--provider-owner", "nonsense", "--deposit", "1", "--client-key", hexKey},
		{"top-up", "--channel", addr},
		{"top-up", "--amount", "1"},
		{"show"},
		{"show", "--client-key", hexKey},
		{"show", "--channel", addr, "--client-key", hexKey},
		{"voucher", "--amount", "1", "--client-key-file", keyFile},
		{"voucher", "--channel", addr, "--client-key-file", keyFile},
		{"voucher", "--channel", addr, "--amount", "1"},
		{"voucher", "--channel", addr, "--amount", "1.0000000001", "--client-key-file", keyFile},
		{"voucher", "--channel", addr, "--amount", "1", "--prompt", "-1", "--client-key-file", keyFile},
		{"claim"},
		{"claim", "--voucher", "not-a-voucher"},
		{"claim", "--voucher", "a.b", "--value", "1"},
		{"claim-remainder"},
		{"claim-remainder", "--channel", addr, "--value", "x"},
		{"close", "--channel", addr},
		{"close", "--client-key-file", keyFile},
		{"close", "--channel", addr, "--client-key-file", keyFile, "--link"},
		{"finalize"},
		{"finalize", "--channel", addr, "--value", "0"},
		{"cooperative-close", "--channel", addr, "stray"},
	} {
		if _, err := e.run(args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// Open reads the registry's fee (and provider, and channel address) from the chain, even for a link.
	_, err := e.run("open", "--link", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey)
	if !errors.Is(err, errFeeUnread) || !strings.Contains(err.Error(), "get_open_channel_fee is read from the chain") || !strings.Contains(err.Error(), "--rpc") {
		t.Fatalf("open without a chain: %v", err)
	}
	// A usage error exits 2 through main's run.
	if code := run([]string{"channel", "claim"}, io.Discard, io.Discard); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
}

// TestChannelKeyFile checks the key file's format and that a readable-by-others file is refused.
func TestChannelKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "k")
	seed := bytes.Repeat([]byte{7}, 32)
	if err := channelWriteKey(path, seed); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	if strings.TrimSpace(string(raw)) != hex.EncodeToString(seed) {
		t.Fatalf("key file holds %q", raw)
	}
	priv, err := channelReadKey(path)
	if err != nil || !bytes.Equal(priv.Seed(), seed) {
		t.Fatalf("read back: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := channelReadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a world-readable key file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := channelReadKey(bad); err == nil || !strings.Contains(err.Error(), "32-byte seed") {
		t.Fatalf("a short key file: %v", err)
	}
	if _, err := channelReadKey(filepath.Join(dir, "missing")); err == nil || !strings.Contains(err.Error(), "cocoon channel key new") {
		t.Fatalf("a missing key file: %v", err)
	}
}

// The CLI's local voucher check refuses exactly what the channel refused in @ton/sandbox, case by
// case (the voucher-rule table of contracts/testdata/channel-fixtures.json).
func TestChannelCheckNewerMatchesContract(t *testing.T) {
	raw, err := os.ReadFile("../../contracts/testdata/channel-fixtures.json")
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		VoucherRule []struct {
			Name              string
			Accepted, Voucher map[string]string
			ExitCode          int
		} `json:"voucherRule"`
	}
	if err := json.Unmarshal(raw, &f); err != nil || len(f.VoucherRule) == 0 {
		t.Fatalf("voucher rule table: %v", err)
	}
	ch := address.NewAddress(0, 0, bytes.Repeat([]byte{0x5c}, 32))
	triple := func(m map[string]string) voucher.Voucher {
		amount, _ := new(big.Int).SetString(m["amount"], 10)
		p, _ := new(big.Int).SetString(m["promptTokens"], 10)
		c, _ := new(big.Int).SetString(m["completionTokens"], 10)
		return voucher.Voucher{Channel: ch, Amount: amount, PromptTokens: p.Uint64(), CompletionTokens: c.Uint64()}
	}
	for _, tc := range f.VoucherRule {
		err := channelCheckNewer(triple(tc.Accepted), triple(tc.Voucher))
		if tc.ExitCode == 0 && err != nil {
			t.Errorf("%s: the channel accepted it, the CLI refuses: %v", tc.Name, err)
		}
		if tc.ExitCode != 0 {
			if code, ok := contracts.AsExitCode(err); !ok || int(code) != tc.ExitCode || !errors.Is(err, errChannelRefused) {
				t.Errorf("%s: the channel refused it with %d, the CLI says %v", tc.Name, tc.ExitCode, err)
			}
		}
	}
}
