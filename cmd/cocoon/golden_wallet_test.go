package main

import (
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// TestGoldenWallet: the wallet verbs: import, address (versions, networks), key files and the
// environment, balance, send (deploying the wallet, non-bounceable to nobody, bounceable and
// bounced, more than the balance).
func TestGoldenWallet(t *testing.T) {
	s := newScript(t, true)
	s.note("a wallet from its words; the address in every form")
	gov := s.wallet("gov", 0)
	s.ok("wallet", "address", "--key-file", "gov.key")
	s.ok("wallet", "address", "--key-file", "gov.key", "--version", "v4r2")
	s.ok("wallet", "address", "--key-file", "gov.key", "--network", "testnet")
	if _, code := s.cocoonIn(goldenMnemonics["gov"], "wallet", "import", "--key-file", "gov.key"); code != 1 {
		t.Fatal("import over an existing key file")
	}
	s.fails(1, "wallet", "address", "--key-file", "missing.key")
	if err := os.Chmod("gov.key", 0o644); err != nil {
		t.Fatal(err)
	}
	s.fails(1, "wallet", "address", "--key-file", "gov.key")
	if err := os.Chmod("gov.key", 0o600); err != nil {
		t.Fatal(err)
	}
	s.note("$COCOON_WALLET_MNEMONIC wins over $COCOON_WALLET_KEY_FILE, not over --key-file")
	t.Setenv(envMnemonic, goldenMnemonics["other"])
	t.Setenv(envKeyFile, "gov.key")
	s.ok("wallet", "address")
	s.ok("wallet", "address", "--key-file", "gov.key")
	t.Setenv(envMnemonic, "")
	s.ok("wallet", "address")
	t.Setenv(envKeyFile, "")
	s.fails(1, "wallet", "import", "--key-file", "bad.key")

	s.note("balance and send on the devnet")
	s.fails(1, "wallet", "send", "--key-file", "gov.key", "--to", gov.StringRaw(), "--amount", "1")
	s.ok("wallet", "balance", "--key-file", "gov.key")
	s.fund(gov, 10)
	s.ok("wallet", "balance", "--key-file", "gov.key")
	fresh := address.MustParseRawAddr("0:" + strings.Repeat("5a", 32))
	s.ok("wallet", "send", "--key-file", "gov.key", "--to", fresh.StringRaw(), "--amount", "1.5", "--comment", "first")
	s.ok("wallet", "balance", fresh.StringRaw())
	s.ok("wallet", "balance", "--key-file", "gov.key")
	s.note("the devnet clock an hour ahead: messages are signed against it")
	s.d.AdvanceTime(time.Hour)
	bounceTo := address.MustParseRawAddr("0:" + strings.Repeat("6b", 32))
	s.ok("wallet", "send", "--key-file", "gov.key", "--to", bounceTo.StringRaw(), "--amount", "2", "--bounce", "true", "--timeout", "1m")
	s.ok("wallet", "balance", "--key-file", "gov.key")
	s.fails(1, "wallet", "send", "--key-file", "gov.key", "--to", fresh.StringRaw(), "--amount", "100")
	s.ok("wallet", "send", "--key-file", "gov.key", "--to", fresh.String(), "--amount", "0.5", "--no-wait")

	s.note(newWalletNote)
	out, _ := s.cocoon("wallet", "new", "--key-file", "keys/new.key")
	if st, err := os.Stat("keys/new.key"); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	if st, err := os.Stat("keys"); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("key directory mode: %v %v", st, err)
	}
	if strings.Contains(out, "mnemonic") {
		t.Fatal("the mnemonic was printed without --show-mnemonic")
	}
	s.fails(1, "wallet", "new", "--key-file", "keys/new.key")
	s.maskAddresses()
	s.check("wallet")
}

const newWalletNote = "a new wallet (its words are random: the address is masked)"

// maskAddresses replaces the addresses of the random wallet in the transcript from newWalletNote on.
func (s *script) maskAddresses() {
	log := s.log.String()
	i := strings.LastIndex(log, newWalletNote)
	tail := regexp.MustCompile(`0:[0-9a-f]{64}`).ReplaceAllString(log[i:], "0:RAW")
	tail = regexp.MustCompile(`[A-Za-z0-9_-]{48}`).ReplaceAllString(tail, "ADDRESS")
	s.log.Reset()
	s.log.WriteString(log[:i] + tail)
}

// TestGoldenUsage: bad command lines exit 2 with a usage error, before any network call (nothing
// listens at $COCOON_RPC).
func TestGoldenUsage(t *testing.T) {
	s := newScript(t, false)
	t.Setenv(envRPC, "http://127.0.0.1:1")
	s.channelKey("k", 7)
	addr := "0:" + strings.Repeat("77", 32)
	owner := "0:" + strings.Repeat("66", 32)
	hexKey := strings.Repeat("ab", 32)
	testnetAddr := address.MustParseRawAddr("0:" + strings.Repeat("11", 32))
	testnetAddr.SetTestnetOnly(true)
	t.Setenv(envMnemonic, goldenMnemonics["spare"])
	for _, args := range [][]string{
		{},
		{"no-such-command"},
		{"version", "extra"},
		{"wallet"},
		{"wallet", "frobnicate"},
		{"wallet", "address", "--network", "moon"},
		{"wallet", "address", "--version", "v3r2"},
		{"wallet", "address", "extra"},
		{"wallet", "import", "--key-file", "x.key", "word"},
		{"wallet", "send", "--to", addr},
		{"wallet", "send", "--amount", "1"},
		{"wallet", "send", "--to", addr, "--amount", "0.0000000001"},
		{"wallet", "send", "--to", addr, "--amount", "-1"},
		{"wallet", "send", "--to", addr, "--amount", "1", "--bounce", "maybe"},
		{"wallet", "send", "--to", "not-an-address", "--amount", "1"},
		{"wallet", "send", "--to", addr, "--amount", "0"},
		{"wallet", "send", "--to", addr, "--amount", "1", "--rpc", "http://x", "--liteserver-config", "y"},
		{"wallet", "send", "--network", "mainnet", "--to", testnetAddr.String(), "--amount", "1"},
		{"wallet", "balance", "--liteserver-config", "y"},
		{"wallet", "balance", "a", "b"},
		{"registry"},
		{"registry", "frobnicate"},
		{"registry", "show"},
		{"registry", "allow-measurement", "--registry", addr, "--hash", "abcd", "--kind", "tdx", "--link"},
		{"registry", "allow-measurement", "--registry", addr, "--hash", hexKey, "--kind", "sgx", "--link"},
		{"registry", "add-model", "--registry", addr, "--weights-hash", hexKey, "--name", strings.Repeat("n", 65), "--link"},
		{"registry", "add-oracle", "--registry", addr, "--pubkey", hexKey, "--link"},
		{"registry", "slash", "--registry", addr, "--provider-owner", addr, "--slash", "0", "--evidence", hexKey, "--link"},
		{"registry", "params", "--registry", addr, "--link"},
		{"registry", "deploy", "--link"},
		{"registry", "deploy", "--link", "--governance", addr, "--fee-bps", "10001"},
		{"registry", "deploy", "--link", "--governance", addr, "--unbonding", "10s"},
		{"registry", "deploy", "--link", "--governance", addr, "--min-stake", "0.5"},
		{"registry", "deploy", "--link", "--governance", addr, "--quorum", "0"},
		{"registry", "deploy", "--link", "--governance", addr, "--treasury", "-1:" + strings.Repeat("77", 32)},
		{"registry", "show", "--registry", addr, "--value", "1.0000000001"},
		{"provider"},
		{"provider", "frobnicate"},
		{"provider", "show"},
		{"provider", "register", "--registry", addr, "--link"},
		{"provider", "register", "--registry", addr, "--link", "--stake", "0"},
		{"provider", "register", "--registry", addr, "--link", "--stake", "-1"},
		{"provider", "register", "--registry", addr, "--link", "--stake", "5", "--owner", "-1:" + strings.Repeat("66", 32)},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner, "--url", "http://x.example"},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner, "--url", "https://" + strings.Repeat("a", 120) + ".example"},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner, "--url", "provider.example:443"},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner, "--url", "https://x.example/?a=b"},
		{"provider", "set-endpoint", "--registry", addr, "--link", "--owner", owner, "--url", "https://user:pw@x.example"},
		{"provider", "set-price", "--registry", addr, "--link", "--owner", owner, "--prompt", "1", "--completion", "1"},
		{"provider", "set-price", "--registry", addr, "--link", "--owner", owner, "--model-id", "4294967296", "--prompt", "1", "--completion", "1"},
		{"provider", "set-price", "--registry", addr, "--link", "--owner", owner, "--model-id", "1", "--prompt", "1"},
		{"provider", "set-price", "--registry", addr, "--link", "--owner", owner, "--model-id", "1", "--prompt", "0.0000000001", "--completion", "1"},
		{"provider", "remove-price", "--registry", addr, "--link", "--owner", owner},
		{"provider", "add-stake", "--registry", addr, "--link", "--owner", owner},
		{"provider", "add-stake", "--registry", addr, "--link", "--owner", owner, "--amount", "0"},
		{"provider", "unstake", "--registry", addr, "--link", "--owner", owner, "--amount", "x"},
		{"provider", "pause", "--registry", addr, "--link", "--owner", owner, "extra"},
		{"provider", "withdraw", "--registry", addr, "--link", "--owner", owner, "--url", "https://x.example"},
		{"channel"},
		{"channel", "frobnicate"},
		{"channel", "key"},
		{"channel", "key", "new"},
		{"channel", "key", "show"},
		{"channel", "key", "rotate", "--out", "k"},
		{"channel", "open", "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey},
		{"channel", "open", "--registry", addr, "--deposit", "1", "--client-key", hexKey},
		{"channel", "open", "--registry", addr, "--provider-owner", addr, "--client-key", hexKey},
		{"channel", "open", "--registry", addr, "--provider-owner", addr, "--deposit", "0", "--client-key", hexKey},
		{"channel", "open", "--registry", addr, "--provider-owner", addr, "--deposit", "1"},
		{"channel", "open", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", "abcd"},
		{"channel", "open", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey, "--client-key-file", "k"},
		{"channel", "open", "--registry", addr, "--provider-owner", "nonsense", "--deposit", "1", "--client-key", hexKey},
		{"channel", "top-up", "--channel", addr},
		{"channel", "top-up", "--amount", "1"},
		{"channel", "show"},
		{"channel", "show", "--client-key", hexKey},
		{"channel", "show", "--channel", addr, "--client-key", hexKey},
		{"channel", "voucher", "--amount", "1", "--client-key-file", "k"},
		{"channel", "voucher", "--channel", addr, "--client-key-file", "k"},
		{"channel", "voucher", "--channel", addr, "--amount", "1"},
		{"channel", "voucher", "--channel", addr, "--amount", "1.0000000001", "--client-key-file", "k"},
		{"channel", "voucher", "--channel", addr, "--amount", "1", "--prompt", "-1", "--client-key-file", "k"},
		{"channel", "claim"},
		{"channel", "claim", "--voucher", "not-a-voucher"},
		{"channel", "claim", "--voucher", "a.b", "--value", "1"},
		{"channel", "claim-remainder"},
		{"channel", "claim-remainder", "--channel", addr, "--value", "x"},
		{"channel", "close", "--channel", addr},
		{"channel", "close", "--client-key-file", "k"},
		{"channel", "close", "--channel", addr, "--client-key-file", "k", "--link"},
		{"channel", "finalize"},
		{"channel", "finalize", "--channel", addr, "--value", "0"},
		{"channel", "cooperative-close", "--channel", addr, "stray"},
		{"devnet", "frobnicate"},
	} {
		s.fails(2, args...)
	}
	s.note("reading a fee needs the chain, even for a link")
	s.fails(1, "channel", "open", "--link", "--registry", addr, "--provider-owner", addr, "--deposit", "1", "--client-key", hexKey)
	s.fails(1, "provider", "register", "--registry", addr, "--link", "--stake", "5")
	s.note("a register link with the fee given needs no chain")
	s.ok("provider", "register", "--registry", addr, "--link", "--stake", "5", "--value", "0.25", "--query-id", "3")
	s.note("help")
	s.ok("provider", "register", "-h")
	s.ok("channel", "help")
	s.check("usage")
}
