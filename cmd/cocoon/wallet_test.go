package main

import (
	"bytes"
	"context"
	"errors"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// runWalletCmd runs `cocoon wallet args…` capturing its output.
func runWalletCmd(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	oldOut, oldIn := walletOut, walletIn
	walletOut, walletIn = &out, strings.NewReader(stdin)
	defer func() { walletOut, walletIn = oldOut, oldIn }()
	err := runWallet(context.Background(), args)
	return out.String(), err
}

var addrLine = regexp.MustCompile(`(?m)^address:\s+(\S+)$`)

func addressOf(t *testing.T, out string) *address.Address {
	t.Helper()
	m := addrLine.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no address in output:\n%s", out)
	}
	a, err := address.ParseAddr(m[1])
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestWalletNewAndAddress(t *testing.T) {
	t.Setenv(envMnemonic, "")
	dir := t.TempDir()
	key := filepath.Join(dir, "sub", "w.key")
	out, err := runWalletCmd(t, "", "new", "--key-file", key)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out, "mnemonic") {
		t.Fatal("mnemonic printed without --show-mnemonic")
	}
	st, err := os.Stat(key)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode(), err)
	}
	if st, _ := os.Stat(filepath.Dir(key)); st.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode %v", st.Mode())
	}
	created := addressOf(t, out)
	if created.IsBounceable() {
		t.Fatal("wallet address should be shown non-bounceable")
	}
	// The address derives from the saved words.
	raw, _ := os.ReadFile(key)
	w, err := wallet.FromMnemonic(strings.Fields(string(raw)), wallet.V5R1, wallet.MainnetGlobalID)
	if err != nil || !w.Address().Equals(created) {
		t.Fatalf("key file does not hold the wallet's mnemonic: %v", err)
	}
	out, err = runWalletCmd(t, "", "address", "--key-file", key)
	if err != nil || !addressOf(t, out).Equals(created) {
		t.Fatalf("address: %v\n%s", err, out)
	}
	// Never overwrite a key.
	if _, err := runWalletCmd(t, "", "new", "--key-file", key); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrite: %v", err)
	}
	// V4R2 and testnet give other addresses; testnet ones are marked testnet-only.
	out, err = runWalletCmd(t, "", "address", "--key-file", key, "--version", "v4r2")
	if err != nil || addressOf(t, out).Equals(created) {
		t.Fatalf("v4r2 address: %v", err)
	}
	out, err = runWalletCmd(t, "", "address", "--key-file", key, "--network", "testnet")
	if err != nil || !addressOf(t, out).IsTestnetOnly() || addressOf(t, out).Equals(created) {
		t.Fatalf("testnet address: %v\n%s", err, out)
	}
	// --show-mnemonic prints it.
	out, err = runWalletCmd(t, "", "new", "--key-file", filepath.Join(dir, "w2.key"), "--show-mnemonic")
	if err != nil || len(strings.Fields(strings.SplitN(out, "mnemonic:", 2)[1])) != 24 {
		t.Fatalf("show mnemonic: %v\n%s", err, out)
	}
}

func TestWalletKeyFilePermissions(t *testing.T) {
	t.Setenv(envMnemonic, "")
	key := filepath.Join(t.TempDir(), "w.key")
	if err := os.WriteFile(key, []byte(strings.Join(wallet.NewMnemonic(), " ")), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := runWalletCmd(t, "", "address", "--key-file", key)
	if err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key file: %v", err)
	}
	if err := os.Chmod(key, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := runWalletCmd(t, "", "address", "--key-file", key); err != nil {
		t.Fatal(err)
	}
	_, err = runWalletCmd(t, "", "address", "--key-file", filepath.Join(t.TempDir(), "missing"))
	if err == nil || !strings.Contains(err.Error(), "cocoon wallet new") {
		t.Fatalf("missing key file: %v", err)
	}
}

func TestWalletImportAndEnv(t *testing.T) {
	words := wallet.NewMnemonic()
	want, _ := wallet.FromMnemonic(words, wallet.V5R1, wallet.MainnetGlobalID)
	t.Setenv(envMnemonic, "")
	key := filepath.Join(t.TempDir(), "imported.key")
	// Words over several lines, as people paste them.
	stdin := strings.Join(words[:12], " ") + "\n" + strings.Join(words[12:], "\n") + "\n"
	out, err := runWalletCmd(t, stdin, "import", "--key-file", key)
	if err != nil || !addressOf(t, out).Equals(want.Address()) {
		t.Fatalf("import: %v\n%s", err, out)
	}
	if strings.Contains(out, words[0]+" "+words[1]) {
		t.Fatal("import printed the mnemonic")
	}
	if _, err := runWalletCmd(t, "not a mnemonic", "import", "--key-file", filepath.Join(t.TempDir(), "bad.key")); !errors.Is(err, wallet.ErrMnemonic) {
		t.Fatalf("bad mnemonic: %v", err)
	}
	if _, err := runWalletCmd(t, "", "import", "--key-file", key, "word"); !errors.Is(err, errUsage) {
		t.Fatalf("mnemonic as argument: %v", err)
	}
	// The environment variable wins over the default key file, but not over an explicit --key-file.
	other := wallet.NewMnemonic()
	t.Setenv(envMnemonic, strings.Join(other, " "))
	t.Setenv(envKeyFile, key)
	wOther, _ := wallet.FromMnemonic(other, wallet.V5R1, wallet.MainnetGlobalID)
	out, err = runWalletCmd(t, "", "address")
	if err != nil || !addressOf(t, out).Equals(wOther.Address()) {
		t.Fatalf("env mnemonic: %v", err)
	}
	out, err = runWalletCmd(t, "", "address", "--key-file", key)
	if err != nil || !addressOf(t, out).Equals(want.Address()) {
		t.Fatalf("explicit key file: %v", err)
	}
}

func TestWalletUsageErrors(t *testing.T) {
	t.Setenv(envMnemonic, strings.Join(wallet.NewMnemonic(), " "))
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"address", "--network", "moon"},
		{"address", "--version", "v3r2"},
		{"address", "extra"},
		{"send", "--to", "0:" + strings.Repeat("00", 32)},
		{"send", "--amount", "1"},
		{"send", "--to", "0:" + strings.Repeat("00", 32), "--amount", "0.0000000001"},
		{"send", "--to", "0:" + strings.Repeat("00", 32), "--amount", "-1"},
		{"send", "--to", "0:" + strings.Repeat("00", 32), "--amount", "1", "--bounce", "maybe"},
		{"send", "--to", "not-an-address", "--amount", "1"},
		{"send", "--to", "0:" + strings.Repeat("00", 32), "--amount", "0"},
		{"send", "--to", "0:" + strings.Repeat("00", 32), "--amount", "1", "--rpc", "http://x", "--liteserver-config", "y"},
		{"balance", "--liteserver-config", "y"}, // devnet has no liteservers
		{"balance", "a", "b"},
	} {
		if _, err := runWalletCmd(t, "", args...); !errors.Is(err, errUsage) {
			t.Errorf("%q: %v, want a usage error", args, err)
		}
	}
	// A testnet-only address on mainnet is refused.
	testnetAddr := address.MustParseRawAddr("0:" + strings.Repeat("11", 32))
	testnetAddr.SetTestnetOnly(true)
	if _, err := runWalletCmd(t, "", "send", "--network", "mainnet", "--to", testnetAddr.String(), "--amount", "1"); !errors.Is(err, errUsage) {
		t.Errorf("testnet address on mainnet: %v", err)
	}
	// Through main's dispatcher a usage error exits 2.
	var o, e bytes.Buffer
	if code := run([]string{"wallet", "send"}, &o, &e); code != 2 {
		t.Errorf("exit code %d, want 2", code)
	}
}

// TestWalletEndToEndOnDevnet drives the wallet commands against the devnet's toncenter API over
// HTTP, as a user would with `cocoon devnet` running.
func TestWalletEndToEndOnDevnet(t *testing.T) {
	t.Setenv(envMnemonic, "")
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: testBlockInterval})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	ctx := context.Background()
	key := filepath.Join(t.TempDir(), "w.key")
	out, err := runWalletCmd(t, "", "new", "--key-file", key)
	if err != nil {
		t.Fatal(err)
	}
	me := addressOf(t, out)
	net := []string{"--key-file", key, "--network", "devnet", "--rpc", srv.URL}
	cmd := func(args ...string) (string, error) { return runWalletCmd(t, "", append(args, net...)...) }

	if _, err := cmd("send", "--to", me.StringRaw(), "--amount", "1"); err == nil || !strings.Contains(err.Error(), "not enough") {
		t.Fatalf("send from an empty wallet: %v", err)
	}
	if err := d.Fund(ctx, me, big.NewInt(10_000_000_000)); err != nil {
		t.Fatal(err)
	}
	out, err = cmd("balance")
	if err != nil || !strings.Contains(out, "state:   uninit") || !strings.Contains(out, "balance: 10 TON (10000000000 nanoTON)") {
		t.Fatalf("balance before deploy: %v\n%s", err, out)
	}

	// First send deploys the wallet; a raw destination that does not exist gets a non-bounceable transfer.
	fresh := address.MustParseRawAddr("0:" + strings.Repeat("5a", 32))
	out, err = cmd("send", "--to", fresh.StringRaw(), "--amount", "1.5", "--comment", "first")
	if err != nil {
		t.Fatalf("send: %v\n%s", err, out)
	}
	if !strings.Contains(out, "deploys the wallet") || !strings.Contains(out, "(bounce false)") || !strings.Contains(out, "transaction: lt") {
		t.Fatalf("send output:\n%s", out)
	}
	out, err = cmd("balance", fresh.StringRaw())
	if err != nil || !strings.Contains(out, "balance: 1.5 TON") || !strings.Contains(out, "state:   uninit") {
		t.Fatalf("receiver: %v\n%s", err, out)
	}
	txs, err := d.Client().GetTransactions(ctx, fresh, 1, 0, nil)
	if err != nil || len(txs) != 1 {
		t.Fatalf("receiver transactions: %v", err)
	}
	body, _ := txs[0].IO.In.AsInternal().Body.BeginParse()
	if body.MustLoadUInt(32) != 0 || body.MustLoadStringSnake() != "first" {
		t.Fatal("comment not delivered")
	}
	out, err = cmd("balance")
	if err != nil || !strings.Contains(out, "state:   active") || !strings.Contains(out, "seqno:   1") {
		t.Fatalf("balance after deploy: %v\n%s", err, out)
	}

	// With the devnet clock an hour ahead, the wallet signs against the devnet's time.
	d.AdvanceTime(time.Hour)
	bounceTo := address.MustParseRawAddr("0:" + strings.Repeat("6b", 32))
	before, _ := d.Client().GetAccount(ctx, me)
	out, err = cmd("send", "--to", bounceTo.StringRaw(), "--amount", "2", "--bounce", "true", "--timeout", "1m")
	if err != nil || !strings.Contains(out, "(bounce true)") {
		t.Fatalf("bounceable send: %v\n%s", err, out)
	}
	if _, err := txwait.Wait(ctx, d.Client(), me, before.LastTxLT+1, func(tx *tlb.Transaction) bool {
		return tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeInternal && tx.IO.In.AsInternal().Bounced
	}, txwait.Options{Interval: time.Millisecond}); err != nil {
		t.Fatalf("bounce did not come back: %v", err)
	}
	after, _ := d.Client().GetAccount(ctx, me)
	if lost := new(big.Int).Sub(before.Balance, after.Balance); lost.Sign() <= 0 || lost.Cmp(big.NewInt(100_000_000)) > 0 {
		t.Fatalf("a bounced 2 TON transfer cost %s nanoTON", lost)
	}
	// More than the balance is refused before signing.
	if _, err := cmd("send", "--to", fresh.StringRaw(), "--amount", "100"); err == nil || !strings.Contains(err.Error(), "not enough") {
		t.Fatalf("overspend: %v", err)
	}
}
