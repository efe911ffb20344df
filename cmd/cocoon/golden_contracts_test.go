package main

import (
	"bytes"
	"encoding/hex"
	"math/big"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

var goldenRegistryLine = regexp.MustCompile(`(?m)^registry: (\S+) \(raw (\S+)\)`)

// deploy deploys a registry with `registry deploy` and makes it $COCOON_REGISTRY.
func (s *script) deploy(args ...string) *address.Address {
	s.t.Helper()
	out := s.ok(append([]string{"registry", "deploy"}, args...)...)
	m := goldenRegistryLine.FindStringSubmatch(out)
	if m == nil {
		s.t.Fatalf("deploy printed no registry:\n%s", out)
	}
	s.t.Setenv(envRegistry, m[2])
	return address.MustParseRawAddr(m[2])
}

// TestGoldenRegistry: deploy, show and every governance verb, the registry's refusals, a registry
// without channel code, the governance handover, and links for other signers.
func TestGoldenRegistry(t *testing.T) {
	s := newScript(t, true)
	gov := s.wallet("gov", 50)
	other := s.wallet("other", 50)
	s.deploy("--key-file", "gov.key", "--min-stake", "5", "--quorum", "1")
	s.ok("registry", "show")

	s.note("a registry deployed without channel code gets it from its governance only")
	old := s.deployWithoutChannels(gov)
	s.ok("registry", "show", "--registry", old.StringRaw())
	s.fails(1, "registry", "set-channel-code", "--registry", old.StringRaw(), "--key-file", "other.key")
	s.ok("registry", "set-channel-code", "--registry", old.StringRaw(), "--key-file", "gov.key")
	s.ok("registry", "show", "--registry", old.StringRaw())

	hash := strings.Repeat("ab", 32)
	s.ok("registry", "allow-measurement", "--hash", hash, "--kind", "sim", "--key-file", "gov.key")
	s.ok("registry", "allow-measurement", "--hash", strings.Repeat("cd", 32), "--kind", "tdx", "--key-file", "gov.key")
	s.ok("registry", "revoke-measurement", "--hash", strings.Repeat("cd", 32), "--key-file", "gov.key")
	s.ok("registry", "add-model", "--id", "7", "--weights-hash", strings.Repeat("11", 32), "--name", "kjv-demo-1m", "--key-file", "gov.key")
	s.ok("registry", "add-oracle", "--oracle-wallet", other.String(), "--pubkey", strings.Repeat("22", 32), "--key-file", "gov.key")
	s.ok("registry", "params", "--quorum", "2", "--fee-bps", "250", "--key-file", "gov.key")
	s.ok("registry", "show")

	s.note("the registry's refusals, by name")
	s.fails(1, "registry", "add-model", "--id", "8", "--weights-hash", strings.Repeat("33", 32), "--name", "x", "--key-file", "other.key")
	s.fails(1, "registry", "allow-measurement", "--hash", hash, "--kind", "sim", "--key-file", "gov.key")
	s.fails(2, "registry", "params", "--unbonding", "10s", "--key-file", "gov.key")
	s.ok("registry", "remove-oracle", "--oracle-wallet", other.String(), "--key-file", "gov.key")
	s.note("slashing a provider that was never registered: the forward bounces and is refunded")
	s.ok("registry", "slash", "--provider-owner", other.String(), "--slash", "1", "--evidence", strings.Repeat("44", 32), "--value", "0.5", "--key-file", "gov.key")

	s.note("governance handover")
	s.ok("registry", "transfer-governance", "--to", other.String(), "--key-file", "gov.key")
	s.ok("registry", "show")
	s.ok("registry", "accept-governance", "--key-file", "other.key")
	s.ok("registry", "show")
	s.fails(1, "registry", "params", "--quorum", "1", "--key-file", "gov.key")
	s.ok("registry", "show", "--no-wait")

	s.note("links for another signer (a multisig): no wallet, no chain")
	t.Setenv(envRPC, "http://127.0.0.1:1")
	reg := "0:" + strings.Repeat("77", 32)
	s.ok("registry", "allow-measurement", "--link", "--registry", reg, "--hash", hash, "--kind", "tdx", "--value", "0.25", "--query-id", "42")
	s.ok("registry", "deploy", "--link", "--governance", "0:"+strings.Repeat("88", 32))
	s.ok("registry", "set-channel-code", "--link", "--registry", reg, "--query-id", "43")
	s.ok("registry", "transfer-governance", "--link", "--registry", reg, "--to", other.String(), "--query-id", "44")
	s.check("registry")
}

// TestGoldenProvider: the provider lifecycle through its owner's wallet: register (the fee, a
// stake below the minimum, a top-up), show, endpoint, prices, stake movements with their
// refusals and hints, an attestation, pause, resume, exit, and links.
func TestGoldenProvider(t *testing.T) {
	s := newScript(t, true)
	s.wallet("gov", 10)
	owner := s.wallet("owner", 100)
	s.wallet("other", 10)
	oracle := s.wallet("spare", 10)
	reg := s.deploy("--min-stake", "5", "--unbonding", "1m", "--key-file", "gov.key")
	s.ok("registry", "add-model", "--id", "7", "--weights-hash", strings.Repeat("11", 32), "--name", "kjv-demo-1m", "--key-file", "gov.key")

	s.fails(1, "provider", "show", "--key-file", "owner.key")
	s.fails(1, "provider", "pause", "--key-file", "owner.key")
	s.note("registration: the registry's refusal by name; a fee below get_register_fee; then exactly stake + fee")
	s.fails(1, "provider", "register", "--stake", "4", "--key-file", "owner.key")
	s.fails(1, "provider", "register", "--stake", "10", "--value", "0.01", "--key-file", "owner.key")
	s.fails(2, "provider", "register", "--stake", "10", "--owner", reg.StringRaw(), "--key-file", "owner.key")
	s.ok("provider", "register", "--stake", "10", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")

	s.note("endpoint and prices; an unknown model is refused before signing")
	s.ok("provider", "set-endpoint", "--url", "https://provider.example:8443/cocoon", "--key-file", "owner.key")
	s.fails(2, "provider", "set-endpoint", "--url", "http://provider.example", "--key-file", "owner.key")
	s.fails(1, "provider", "set-price", "--model-id", "99", "--prompt", "1", "--completion", "1", "--key-file", "owner.key")
	s.ok("provider", "set-price", "--model-id", "7", "--prompt", "0.1", "--completion", "0.25", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")
	s.fails(1, "provider", "remove-price", "--model-id", "8", "--key-file", "owner.key")
	s.ok("provider", "remove-price", "--model-id", "7", "--key-file", "owner.key")

	s.note("stake: add, unstake within the minimum, withdraw after the unbonding period")
	s.ok("provider", "add-stake", "--amount", "2", "--key-file", "owner.key")
	s.fails(1, "provider", "unstake", "--amount", "8", "--key-file", "owner.key")
	s.ok("provider", "unstake", "--amount", "3", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")
	s.fails(1, "provider", "withdraw", "--key-file", "owner.key")
	s.ok("devnet", "advance", "--rpc", s.rpc, "61")
	s.ok("provider", "show", "--key-file", "owner.key")
	s.ok("provider", "withdraw", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")

	s.note("an oracle (quorum 1) votes for a sim measurement; show prints the attestation")
	measurement := bytes.Repeat([]byte{0xab}, 32)
	s.ok("registry", "allow-measurement", "--hash", hex.EncodeToString(measurement), "--kind", "sim", "--key-file", "gov.key")
	s.ok("registry", "add-oracle", "--oracle-wallet", oracle.String(), "--pubkey", strings.Repeat("22", 32), "--key-file", "gov.key")
	vote, err := contracts.Encode(contracts.SubmitOracleVote{QueryID: 9, ProviderOwner: owner, Claim: &contracts.AttestationClaim{
		MeasurementHash: measurement, EvidenceDigest: bytes.Repeat([]byte{0xcd}, 32), TLSKeyHash: bytes.Repeat([]byte{0xef}, 32),
		ValidUntil: uint32(s.d.Now().Add(time.Hour).Unix())}})
	if err != nil {
		t.Fatal(err)
	}
	s.send("spare", wallet.Transfer{To: reg, Amount: big.NewInt(100_000_000), Bounce: true, Body: vote})
	s.ok("provider", "show", "--key-file", "owner.key")

	s.note("status changes; the contract's refusals come back by name, with what explains them")
	s.ok("provider", "pause", "--key-file", "owner.key")
	s.fails(1, "provider", "pause", "--key-file", "owner.key")
	s.fails(1, "provider", "resume", "--owner", owner.String(), "--key-file", "other.key")
	s.ok("provider", "resume", "--key-file", "owner.key")
	s.ok("provider", "exit", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")
	s.note("registering again is a top-up: the exiting provider is active again")
	s.ok("provider", "register", "--stake", "5", "--key-file", "owner.key")
	s.ok("provider", "show", "--key-file", "owner.key")
	s.ok("provider", "show", "--owner", owner.StringRaw())
	s.ok("provider", "pause", "--no-wait", "--key-file", "owner.key")
	// The wallet's, the provider's and the excess' blocks, plus one if a block was being produced
	// when the message arrived: the register link below reads the status the pause leaves.
	if err := s.d.WaitBlocks(s.ctx, 4); err != nil {
		t.Fatal(err)
	}

	s.note("links for an owner who signs elsewhere: no wallet, --owner names the provider")
	s.ok("provider", "set-endpoint", "--link", "--owner", owner.String(), "--url", "https://p.example", "--query-id", "5", "--key-file", "absent.key")
	s.ok("provider", "add-stake", "--link", "--owner", owner.String(), "--amount", "2", "--query-id", "6", "--key-file", "absent.key")
	s.ok("provider", "register", "--link", "--stake", "6", "--query-id", "7", "--key-file", "absent.key")
	s.ok("provider", "register", "--link", "--owner", owner.String(), "--stake", "6", "--query-id", "8", "--key-file", "absent.key")
	s.fails(2, "provider", "pause", "--link", "--key-file", "absent.key")
	s.check("provider")
}

// TestGoldenChannel drives a channel through its life: key, open (fees, refusals), show, vouchers,
// claims and every local refusal, a voucher above the deposit, top-up, claim-remainder, close,
// finalize before and after the deadline, a cooperative close, and links.
func TestGoldenChannel(t *testing.T) {
	s := newScript(t, true)
	s.wallet("gov", 10)
	owner := s.wallet("owner", 20)
	client := s.wallet("client", 20)
	relayer := s.wallet("relayer", 10)
	treasury := address.NewAddress(0, 0, bytes.Repeat([]byte{0x7e}, 32))
	s.deploy("--key-file", "gov.key", "--min-stake", "5", "--fee-bps", "250", "--treasury", treasury.StringRaw(), "--challenge", "1h")
	s.ok("provider", "register", "--stake", "5", "--key-file", "owner.key")

	s.note("the client's channel key: created 0600, never overwritten")
	out := s.ok("channel", "key", "new", "--out", "keys/random.channel")
	m := regexp.MustCompile(`(?m)^public key: ([0-9a-f]{64})$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("key new:\n%s", out)
	}
	s.replace(m[1], "RANDOM-PUBLIC-KEY")
	s.fails(1, "channel", "key", "new", "--out", "keys/random.channel")
	pub := s.channelKey("client.channel", 0x5c)
	s.ok("channel", "key", "show", "--key-file", "client.channel")
	s.channelKey("other.channel", 0x77)

	s.note("open: refusals before sending, then exactly deposit + get_open_channel_fee")
	s.fails(1, "channel", "open", "--key-file", "client.key", "--provider-owner", owner.String(), "--deposit", "0.001", "--client-key-file", "client.channel", "--open-fee", "0.01")
	oldReg := s.deployWithoutChannels(owner)
	s.fails(1, "channel", "open", "--registry", oldReg.String(), "--key-file", "client.key", "--provider-owner", owner.String(), "--deposit", "1", "--client-key-file", "client.channel")
	s.fails(1, "channel", "open", "--key-file", "client.key", "--provider-owner", relayer.String(), "--deposit", "2", "--client-key-file", "client.channel")
	out = s.ok("channel", "open", "--key-file", "client.key", "--provider-owner", owner.String(), "--deposit", "2", "--client-key-file", "client.channel")
	ch := regexp.MustCompile(`(?m)^channel:\s+(\S+)$`).FindStringSubmatch(out)[1]
	s.ok("channel", "show", "--channel", ch)
	s.ok("channel", "show", "--client-key", hex.EncodeToString(pub), "--provider-owner", owner.String())
	s.ok("channel", "show", "--client-key", strings.Repeat("12", 32), "--provider-owner", owner.String())

	s.note("a voucher and its claim, relayed by a third party")
	h1 := strings.TrimSpace(s.ok("channel", "voucher", "--channel", ch, "--amount", "0.3", "--prompt", "1500", "--completion", "700", "--client-key-file", "client.channel"))
	s.ok("channel", "claim", "--voucher", h1, "--key-file", "relayer.key")

	s.note("refusals found before sending, each naming the channel's exit code")
	other := strings.TrimSpace(s.ok("channel", "voucher", "--channel", ch, "--amount", "0.4", "--prompt", "2000", "--completion", "800", "--client-key-file", "other.channel"))
	s.fails(1, "channel", "claim", "--voucher", other, "--key-file", "relayer.key")
	s.fails(1, "channel", "claim", "--voucher", h1, "--key-file", "relayer.key")
	lower := strings.TrimSpace(s.ok("channel", "voucher", "--channel", ch, "--amount", "0.2", "--prompt", "9000", "--completion", "9000", "--client-key-file", "client.channel"))
	s.fails(1, "channel", "claim", "--voucher", lower, "--key-file", "relayer.key")
	same := strings.TrimSpace(s.ok("channel", "voucher", "--channel", ch, "--amount", "0.3", "--prompt", "10", "--completion", "700", "--client-key-file", "client.channel"))
	s.fails(1, "channel", "claim", "--voucher", same, "--key-file", "relayer.key")
	elsewhere := address.NewAddress(0, 0, bytes.Repeat([]byte{0x42}, 32))
	hOther := strings.TrimSpace(s.ok("channel", "voucher", "--channel", elsewhere.String(), "--amount", "1", "--prompt", "1", "--client-key-file", "client.channel"))
	s.fails(1, "channel", "claim", "--voucher", hOther, "--channel", ch, "--key-file", "relayer.key")
	s.fails(1, "channel", "claim", "--voucher", hOther, "--key-file", "relayer.key")
	for _, bad := range []string{"abc", h1 + "x", strings.Replace(h1, ".", "", 1), h1[:len(h1)-3]} {
		s.fails(2, "channel", "claim", "--voucher", bad, "--key-file", "relayer.key")
	}

	s.note("a claim as a link, then a voucher above the deposit: it pays what is available")
	h2 := strings.TrimSpace(s.ok("channel", "voucher", "--channel", ch, "--amount", "5", "--prompt", "3000", "--completion", "1400", "--client-key-file", "client.channel"))
	s.fails(1, "channel", "claim", "--voucher", h2, "--key-file", "relayer.key", "--value", "0.001")
	s.ok("channel", "claim", "--voucher", h2, "--link", "--query-id", "77")
	s.ok("channel", "claim", "--voucher", h2, "--key-file", "relayer.key")
	s.ok("channel", "show", "--channel", ch)
	s.fails(1, "channel", "claim-remainder", "--channel", ch, "--key-file", "relayer.key")

	s.note("top-up (without waiting for the channel), then claim-remainder pays the rest")
	s.fails(1, "channel", "top-up", "--channel", elsewhere.String(), "--amount", "4", "--key-file", "client.key")
	s.ok("channel", "top-up", "--channel", ch, "--amount", "4", "--key-file", "client.key", "--no-wait")
	// The wallet's and the channel's blocks, plus one if a block was being produced meanwhile.
	if err := s.d.WaitBlocks(s.ctx, 3); err != nil {
		t.Fatal(err)
	}
	s.ok("channel", "top-up", "--channel", ch, "--amount", "0.5", "--key-file", "client.key")
	s.ok("channel", "claim-remainder", "--channel", ch, "--key-file", "relayer.key")
	s.ok("channel", "show", "--channel", ch)
	s.fails(1, "channel", "claim-remainder", "--channel", ch, "--key-file", "relayer.key")

	s.note("close with the client's key; another key is refused before sending")
	s.fails(1, "channel", "close", "--channel", ch, "--client-key-file", "other.channel", "--key-file", "client.key")
	s.ok("channel", "close", "--channel", ch, "--client-key-file", "client.channel", "--refund-to", client.String(), "--key-file", "client.key")
	s.fails(1, "channel", "close", "--channel", ch, "--client-key-file", "client.channel", "--key-file", "client.key")
	s.note("finalize before the deadline: refused locally; with --no-check the contract refuses by name")
	s.fails(1, "channel", "finalize", "--channel", ch, "--key-file", "relayer.key")
	s.fails(1, "channel", "finalize", "--channel", ch, "--key-file", "relayer.key", "--no-check")
	s.ok("devnet", "advance", "--rpc", s.rpc, "3601")
	s.ok("channel", "finalize", "--channel", ch, "--key-file", "relayer.key")
	s.ok("channel", "show", "--channel", ch)
	s.fails(1, "channel", "finalize", "--channel", ch, "--key-file", "relayer.key")

	s.note("a second close ended early by the provider owner; nobody else may")
	s.ok("channel", "close", "--channel", ch, "--client-key-file", "client.channel", "--key-file", "client.key")
	s.fails(1, "channel", "cooperative-close", "--channel", ch, "--key-file", "relayer.key")
	s.ok("channel", "cooperative-close", "--channel", ch, "--key-file", "owner.key")
	s.ok("channel", "show", "--channel", ch)

	s.note("links for the client's own verbs")
	s.ok("channel", "open", "--link", "--provider-owner", owner.String(), "--deposit", "1", "--client-key", hex.EncodeToString(pub), "--query-id", "5")
	s.ok("channel", "close", "--link", "--channel", ch, "--client-key-file", "client.channel", "--refund-to", client.String(), "--query-id", "6")
	s.ok("channel", "top-up", "--link", "--channel", ch, "--amount", "1")
	s.check("channel")
}
