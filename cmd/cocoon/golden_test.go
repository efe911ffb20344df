package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"flag"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// The CLI's tests are transcripts: each scenario runs verbs in-process, exactly as `cocoon …` runs
// them, over a devnet in block mode served on its toncenter HTTP API, and compares what they print
// (stdout, the error line on stderr, the exit code) with testdata/<scenario>.golden. What the
// operations do on-chain (money to the nanoTON, refusals before sending) is tested in
// contracts/ops; here only the printing is.
//
//	go test ./cmd/cocoon -run Golden -update   rewrites the transcripts
var update = flag.Bool("update", false, "rewrite testdata/*.golden with what the verbs print now")

// testBlockInterval is the block time of the devnets the verbs run on: block mode, so every verb
// meets what it meets on TON (a message not yet included when sendBoc answers, each hop of its
// cascade a block later), with blocks short enough to keep the tests fast.
const testBlockInterval = 10 * time.Millisecond

// goldenNow is the devnet's base clock, frozen: blocks, deadlines and storage fees do not depend
// on when the test runs (AdvanceTime still moves it).
var goldenNow = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// goldenMnemonics are the test wallets' words (the wallets hold devnet TON only).
var goldenMnemonics = map[string]string{
	"gov":     "screen salute diamond avoid able slot trophy ahead convince olive pioneer unveil lady holiday gospel front repeat lizard kick snake elephant happy crowd permit",
	"owner":   "else aim afraid injury offer jealous palm repeat able grit conduct main toss humor social soap today hawk dinosaur elder since rug abstract link",
	"other":   "above tiger unable tourist evoke snack select atom frame patch vote better popular lady tilt unhappy relief glass give around zone tornado example humor",
	"client":  "honey boss update meat spend leave fresh quote match payment during shoot key poverty craft hello gather glimpse dream shoot rate between diamond dune",
	"relayer": "outdoor happy wide leg luggage toe author life dinosaur flame mad palace nothing upon label parent describe direct upon gaze trial asset rebuild shine",
	"spare":   "tooth monkey safe song divide camp uncover ride distance found anchor liquid average laugh bottom minimum found drink frown pipe leisure open basket merry",
}

// script is one scenario: a devnet, a working directory with the key files, and the transcript.
type script struct {
	t   *testing.T
	ctx context.Context
	d   *devnet.Devnet
	rpc string
	log bytes.Buffer
}

// newScript starts a block-mode devnet with a frozen clock, served over HTTP ($COCOON_RPC), and
// runs the scenario in a fresh directory with no COCOON_* variables set.
func newScript(t *testing.T, withDevnet bool) *script {
	for _, env := range []string{envMnemonic, envKeyFile, envNetwork, envRPC, envAPIKey, envRegistry, channelEnvKeyFile} {
		t.Setenv(env, "")
	}
	t.Chdir(t.TempDir())
	s := &script{t: t, ctx: context.Background()}
	if withDevnet {
		d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: testBlockInterval, Now: func() time.Time { return goldenNow }})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = d.Close() })
		srv := httptest.NewServer(d.Handler())
		t.Cleanup(srv.Close)
		s.d, s.rpc = d, srv.URL
		t.Setenv(envRPC, srv.URL)
	}
	return s
}

// replace replaces text that differs between runs (a random key) in the transcript so far.
func (s *script) replace(old, with string) {
	log := strings.ReplaceAll(s.log.String(), old, with)
	s.log.Reset()
	s.log.WriteString(log)
}

// note adds a comment line to the transcript.
func (s *script) note(text string) { s.log.WriteString("# " + text + "\n") }

// cocoon runs `cocoon args…` (stdin from in) and records it; it returns stdout and the exit code.
func (s *script) cocoonIn(in string, args ...string) (string, int) {
	s.t.Helper()
	var out, errOut bytes.Buffer
	oldOut, oldIn, oldDevnet := walletOut, walletIn, devnetOut
	walletOut, walletIn, devnetOut = &out, strings.NewReader(in), &out
	code := run(args, &out, &errOut)
	walletOut, walletIn, devnetOut = oldOut, oldIn, oldDevnet
	s.log.WriteString("$ cocoon " + strings.Join(args, " ") + "\n")
	s.log.WriteString(out.String())
	for _, line := range strings.Split(strings.TrimRight(errOut.String(), "\n"), "\n") {
		if line != "" {
			s.log.WriteString("! " + line + "\n")
		}
	}
	if code != 0 {
		s.log.WriteString("[exit " + strconv.Itoa(code) + "]\n")
	}
	return out.String(), code
}

func (s *script) cocoon(args ...string) (string, int) {
	s.t.Helper()
	return s.cocoonIn("", args...)
}

// ok runs a verb that must succeed.
func (s *script) ok(args ...string) string {
	s.t.Helper()
	out, code := s.cocoon(args...)
	if code != 0 {
		s.t.Fatalf("cocoon %s: exit %d\n%s", strings.Join(args, " "), code, s.log.String())
	}
	return out
}

// fails runs a verb that must exit with code.
func (s *script) fails(code int, args ...string) {
	s.t.Helper()
	if _, got := s.cocoon(args...); got != code {
		s.t.Fatalf("cocoon %s: exit %d, want %d\n%s", strings.Join(args, " "), got, code, s.log.String())
	}
}

// wallet imports a named test wallet into NAME.key and funds it with ton TON (none when 0).
func (s *script) wallet(name string, ton int64) *address.Address {
	s.t.Helper()
	out, code := s.cocoonIn(goldenMnemonics[name]+"\n", "wallet", "import", "--key-file", name+".key")
	if code != 0 {
		s.t.Fatalf("import %s:\n%s", name, s.log.String())
	}
	m := regexp.MustCompile(`(?m)^address:\s+(\S+)$`).FindStringSubmatch(out)
	a, err := address.ParseAddr(m[1])
	if err != nil {
		s.t.Fatal(err)
	}
	if ton > 0 {
		s.fund(a, ton)
	}
	return a
}

func (s *script) fund(a *address.Address, ton int64) {
	s.t.Helper()
	if err := s.d.Fund(s.ctx, a, new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))); err != nil {
		s.t.Fatal(err)
	}
}

// channelKey writes a channel key file holding the seed of byte b.
func (s *script) channelKey(name string, b byte) ed25519.PublicKey {
	s.t.Helper()
	seed := bytes.Repeat([]byte{b}, 32)
	if err := os.WriteFile(name, []byte(hex.EncodeToString(seed)+"\n"), 0o600); err != nil {
		s.t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)
}

// send sends one transfer from the named test wallet as setup no verb covers, and waits for its
// whole cascade.
func (s *script) send(name string, tr wallet.Transfer) {
	s.t.Helper()
	w, err := wallet.FromMnemonic(strings.Fields(goldenMnemonics[name]), wallet.V5R1, -239)
	if err != nil {
		s.t.Fatal(err)
	}
	m, err := txmgr.New(txmgr.Config{Chain: s.d.Client(), Signer: w, PollInterval: 10 * time.Millisecond,
		Clock: txmgr.DevnetClock(s.d.Client().(txmgr.DevnetClocked))})
	if err != nil {
		s.t.Fatal(err)
	}
	if _, err := m.Send(s.ctx, txmgr.Request{Transfers: []wallet.Transfer{tr}, Follow: txmgr.FollowAll()}); err != nil {
		s.t.Fatal(err)
	}
}

// deployWithoutChannels deploys straight onto the devnet a registry governed by gov with no
// channel code, as registries were before channels existed.
func (s *script) deployWithoutChannels(gov *address.Address) *address.Address {
	s.t.Helper()
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 3600, Treasury: gov,
		ChallengePeriod: 3600, OracleQuorum: 1, MaxAttestationLifetime: 3600}
	init, reg, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(gov, contracts.NetworkDevnet, params, contracts.ProviderCode()))
	if err != nil {
		s.t.Fatal(err)
	}
	if _, _, err := s.d.Deploy(s.ctx, init, big.NewInt(1_000_000_000), nil); err != nil {
		s.t.Fatal(err)
	}
	return reg
}

// Normalization: what differs between runs (the HTTP port, transaction LTs and hashes, message
// hashes, durations relative to the wall clock) becomes a placeholder.
var goldenMasks = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`http://127\.0\.0\.1:\d+`), "http://RPC"},
	{regexp.MustCompile(`lt \d+ hash [0-9a-f]{64}`), "lt LT hash HASH"},
	{regexp.MustCompile(`message hash:? [0-9a-f]{64}`), "message hash HASH"},
	{regexp.MustCompile(`\(in -?[0-9hms.]+\)`), "(in DURATION)"},
	{regexp.MustCompile(`\(-?[0-9hms.]+ ago\)`), "(DURATION ago)"},
	{regexp.MustCompile(`, in -?[0-9hms.]+ \(`), ", in DURATION ("},
}

// check compares the transcript with testdata/name.golden (or rewrites it with -update).
func (s *script) check(name string) {
	s.t.Helper()
	got := s.log.String()
	for _, m := range goldenMasks {
		got = m.re.ReplaceAllString(got, m.with)
	}
	path := filepath.Join(goldenDir, name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			s.t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		s.t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				s.t.Fatalf("%s differs from the transcript at line %d:\n got: %s\nwant: %s\n(run with -update to accept; whole transcript:\n%s)", path, i+1, g, w, got)
			}
		}
	}
}

// goldenDir is testdata/ of this package, found before the scenario changes directory.
var goldenDir = func() string {
	wd, err := os.Getwd()
	if err != nil {
		panic(err)
	}
	return filepath.Join(wd, "testdata")
}()
