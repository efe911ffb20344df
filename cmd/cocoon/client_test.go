package main

import (
	"bytes"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/client/clienttest"
)

// The client verbs against a served block-mode devnet and a paid test provider: chat opens a
// channel on first use (progress on stderr) and prints the provider, cost and verified receipt;
// providers, verify, channels, balance, top-up, close and finalize print what they say.
func TestClientVerbs(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	unattested := n.StartProvider(clienttest.ProviderOptions{Name: "unattested", NoVote: true})
	dear := n.StartProvider(clienttest.ProviderOptions{Name: "dear", Prompt: big.NewInt(500_000_000), Completion: big.NewInt(900_000_000)})
	rpc := n.Serve()
	dir := t.TempDir()
	keyFile, w := n.MnemonicWallet(dir, 20)
	common := []string{"--rpc", rpc, "--registry", n.Registry.String(), "--key-file", keyFile, "--data-dir", dir + "/client", "--tdx-collateral", "none"}

	cli := func(wantCode int, args ...string) (string, string) {
		t.Helper()
		var out, errb bytes.Buffer
		clientOut, clientErr = &out, &errb
		defer func() { clientOut, clientErr = nil, nil }()
		code := run(append(append([]string{"client"}, args...), common...), &out, &errb)
		require.Equal(t, wantCode, code, "stdout:\n%s\nstderr:\n%s", out.String(), errb.String())
		return out.String(), errb.String()
	}

	out, errs := cli(0, "chat", "hello there", "--max-tokens", "5")
	require.Equal(t, "In the beginning God created\n", out)
	require.Contains(t, errs, "opening a channel to ")
	require.Contains(t, errs, "provider: "+p.Contract.String())
	require.Contains(t, errs, "attested: sim — SIMULATED, NOT A TEE")
	require.Contains(t, errs, "cost: 0.0000014 TON (1400 nanoTON) for 4 prompt + 5 completion tokens")
	require.Contains(t, errs, "verified against the attested key and the on-chain prices")

	out, _ = cli(0, "providers")
	require.Contains(t, out, "PROVIDER")
	require.Regexp(t, p.Contract.String()+`.*`+clienttest.ModelName+`\s+0\.1\s+0\.2\s+[0-9.]+ ms\s+-\s+verified \(SIMULATED TEE, devnet\)`, out)
	require.Contains(t, out, unattested.Contract.String())
	require.Contains(t, out, "refused: no quorum-confirmed attestation")

	out, _ = cli(0, "verify", p.URL)
	require.Contains(t, out, "VERIFIED")
	require.Contains(t, out, "SIMULATED, NOT A TEE")
	out, _ = cli(1, "verify", unattested.Contract.String())
	require.Contains(t, out, "REFUSED")

	out, _ = cli(0, "channels")
	require.Contains(t, out, "open")
	require.Contains(t, out, "0.0000014 TON") // owed by the receipts

	out, _ = cli(0, "top-up", "--provider", p.Contract.String(), "--amount", "0.5")
	require.Contains(t, out, "topped up by 0.5 TON")
	out, _ = cli(0, "balance")
	require.Contains(t, out, "wallet:   "+chain.Friendly(w.Address(), false, false))
	require.Contains(t, out, "channels: 1, deposits left 1.5")

	// open: a channel before any request, with the amount asked.
	out, _ = cli(0, "open", "--provider", dear.Contract.String(), "--amount", "0.7")
	require.Regexp(t, `channel \S+ open with 0\.7 TON \(fee [0-9.]+ TON\)`, out)
	out, _ = cli(0, "channels")
	require.Contains(t, out, dear.Contract.String())

	out, _ = cli(0, "close", "--provider", p.URL)
	require.Contains(t, out, "closing; the provider may claim until")
	_, errs = cli(1, "finalize", "--provider", p.URL)
	require.Contains(t, errs, "challenge period ends")
	n.Devnet.AdvanceTime(61 * time.Second)
	out, _ = cli(0, "finalize", "--provider", p.URL)
	require.Contains(t, out, "TON refunded to")

	_, errs = cli(2, "chat")
	require.Contains(t, errs, "chat takes the prompt")
	_, errs = cli(2, "nope")
	require.True(t, strings.Contains(errs, `unknown verb "nope"`), errs)
}
