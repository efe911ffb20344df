package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/service"
)

const providerInitHelp = `usage: cocoon provider init --dir DIR --owner ADDRESS [flags]

Writes DIR/provider.json, the configuration 'cocoon-provider run --config DIR/provider.json' serves
with (listen address, backend, the model and its prices, settlement threshold, data directory), and
a new settlement wallet DIR/wallet.key (its mnemonic, 0600) that pays the claims' fees, unless
--wallet-key-file names one. Nothing is overwritten. It then prints the on-chain steps that let the
provider serve: register and stake, publish the endpoint, price the model.

flags:
`

// providerInit is `cocoon provider init`.
func providerInit(_ context.Context, args []string) error {
	fs := flag.NewFlagSet("provider init", flag.ContinueOnError)
	fs.SetOutput(walletOut)
	fs.Usage = func() { fmt.Fprint(fs.Output(), providerInitHelp); fs.PrintDefaults() }
	def := provider.DefaultConfig()
	var in provider.InitInput
	fs.StringVar(&in.Dir, "dir", "", "directory for provider.json, wallet.key and the data directory (required)")
	fs.StringVar(&in.Network, "network", envOr(envNetwork, "devnet"), "devnet, testnet or mainnet ($"+envNetwork+")")
	fs.StringVar(&in.RPC, "rpc", os.Getenv(envRPC), "toncenter v2 URL ($"+envRPC+"; default: the network's)")
	fs.StringVar(&in.Registry, "registry", os.Getenv(envRegistry), "registry address ($"+envRegistry+")")
	fs.StringVar(&in.Owner, "owner", "", "the provider owner's address: the wallet that registers and stakes (default: the configured wallet's)")
	fs.StringVar(&in.WalletKeyFile, "wallet-key-file", "", "settle with this existing mnemonic file instead of a new wallet (e.g. the owner's)")
	fs.StringVar(&in.Listen, "listen", def.Listen, "host:port of the RA-TLS API")
	fs.StringVar(&in.MetricsListen, "metrics-listen", "", "host:port for /metrics and /healthz (empty: off)")
	fs.StringVar(&in.TEE, "tee", def.TEE, "auto (TDX or SEV-SNP), tdx, snp, or sim (SIMULATED: devnet registries only)")
	kind := fs.String("backend", "embedded", "embedded (the pure-Go engine) or upstream (vLLM, SGLang, … in the VM)")
	model := fs.String("model", "default", "embedded: the GGUF file, or default for the demo model")
	threads := fs.Int("threads", 0, "embedded: engine threads (0: all cores)")
	chatTemplate := fs.String("chat-template", "", "embedded: chat template family ("+strings.Join(embedded.Families, ", ")+"; default: from the GGUF)")
	upstreamURL := fs.String("upstream-url", "", "upstream: the server's OpenAI API root, e.g. http://127.0.0.1:8000/v1")
	fs.StringVar(&in.Model.Name, "model-name", "", "the model's name in the registry's catalog (default with the demo model: its name)")
	fs.StringVar(&in.Model.Upstream, "upstream-model", "", "upstream: the server's name for the model (default: --model-name)")
	fs.IntVar(&in.Model.ContextLength, "context-length", 0, "upstream: the model's context window in tokens")
	fs.StringVar(&in.Model.PromptPriceTON, "prompt-price", "", "TON per 1M prompt tokens you mean to charge (set on-chain with set-price)")
	fs.StringVar(&in.Model.CompletionPriceTON, "completion-price", "", "TON per 1M completion tokens")
	fs.StringVar(&in.ThresholdTON, "threshold", def.Settlement.ThresholdTON, "claim a channel once this much TON is unclaimed (keeps claim fees under 0.05%)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if in.Dir == "" {
		return fmt.Errorf("%w: --dir is required", errUsage)
	}
	if in.Owner == "" {
		w, err := keys.WalletSource{}.Wallet()
		if err != nil {
			return fmt.Errorf("%w: give the owner's address with --owner (no wallet to take it from: %v)", errUsage, err)
		}
		in.Owner = w.Address().StringRaw()
	}
	in.Backend = provider.BackendConfig{Kind: *kind}
	switch *kind {
	case "embedded":
		in.Backend.Model, in.Backend.Threads, in.Backend.ChatTemplate = *model, *threads, *chatTemplate
	case "upstream":
		in.Backend.URL = *upstreamURL
	}
	res, err := provider.Init(in)
	var fe *service.FieldError
	if errors.As(err, &fe) {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err != nil {
		return err
	}
	reg := ""
	if in.Registry != os.Getenv(envRegistry) {
		reg = " --registry " + in.Registry
	}
	w := chain.Friendly(res.Wallet, false, res.Testnet)
	fmt.Fprintf(walletOut, "wrote %s\n", res.ConfigPath)
	if res.NewWallet {
		fmt.Fprintf(walletOut, "settlement wallet %s (mnemonic in %s): fund it with ~1 TON, it pays the claims' fees (about 0.017 TON each)\n", w, res.WalletKeyFile)
	} else {
		fmt.Fprintf(walletOut, "settlement wallet %s (%s)\n", w, res.WalletKeyFile)
	}
	m := res.Config.Models[0]
	pp, cp := m.PromptPriceTON, m.CompletionPriceTON
	if pp == "" {
		pp = "TON"
	}
	if cp == "" {
		cp = "TON"
	}
	fmt.Fprintf(walletOut, "next, from the owner's wallet %s (add --link to approve each in a wallet app from a QR code):\n", in.Owner)
	fmt.Fprintf(walletOut, "  cocoon provider register%s --stake TON\n", reg)
	fmt.Fprintf(walletOut, "  cocoon provider set-endpoint%s --url https://HOST:PORT   (this daemon listens on %s)\n", reg, res.Config.Listen)
	fmt.Fprintf(walletOut, "  cocoon provider set-price%s --model-id ID --prompt %s --completion %s   (ID: %q in 'cocoon registry show')\n", reg, pp, cp, m.Name)
	fmt.Fprintf(walletOut, "then, in the VM:\n  cocoon-provider run --config %s\n", res.ConfigPath)
	return nil
}
