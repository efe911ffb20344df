package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/service"
)

func init() {
	register("client", "use the network: chat, providers, verify, channels, balance, the OpenAI-compatible gateway", runClient)
}

const clientUsage = `usage: cocoon client <verb> [flags]

  gateway            serve the OpenAI-compatible API (--listen 127.0.0.1:8080) for any OpenAI program
  chat "PROMPT"      stream an answer from the best verified provider, then its provider, cost and receipt
  providers          every provider: prices, measured latency, uptime, attestation (verified or why not)
  verify ENDPOINT    the verification report of a provider (by endpoint or address)
  channels           the client's channels: deposit, owed, newest voucher, status
  open               --provider ADDRESS [--amount TON]: open a channel (or add to it)
  top-up             --provider ADDRESS --amount TON: add to a channel's deposit
  close              --provider ADDRESS: start closing a channel (the deposit left returns after the challenge period)
  finalize           --provider ADDRESS: after the challenge period, take the deposit left back
  balance            the wallet's balance and what the channels hold

Every verb takes the client's flags (-h lists them), each also from $COCOON_CLIENT_<FLAG>: the network,
--registry (or $COCOON_REGISTRY), the wallet (--key-file), the channel key and --data-dir (the store the
gateway uses too: stop the gateway before a verb that opens it). Providers are named by their Provider
contract address, their owner's address or their endpoint.`

// clientOut and clientErr are the verbs' output (tests replace them).
var (
	clientOut io.Writer = os.Stdout
	clientErr io.Writer = os.Stderr
)

func runClient(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprintln(clientOut, clientUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: a verb is required", errUsage)
		}
		return nil
	}
	verbs := map[string]func(context.Context, []string) error{
		"gateway": clientGateway, "chat": clientChat, "providers": clientProviders, "verify": clientVerify,
		"channels": clientChannels, "open": clientOpen, "top-up": clientTopUp, "close": clientClose, "finalize": clientFinalize,
		"balance": clientBalance,
	}
	run, ok := verbs[args[0]]
	if !ok {
		return fmt.Errorf("%w: unknown verb %q\n\n%s", errUsage, args[0], clientUsage)
	}
	return run(ctx, args[1:])
}

// clientVerb is a verb's flags: the client's settings and its own.
type clientVerb struct {
	fs       *flag.FlagSet
	settings client.Settings
}

func newClientVerb(name string) *clientVerb {
	v := &clientVerb{fs: flag.NewFlagSet("client "+name, flag.ContinueOnError), settings: client.DefaultSettings()}
	v.fs.SetOutput(clientErr)
	v.settings.AddFlags(v.fs)
	return v
}

// parse reads flags (positional arguments may come first or between) and the environment.
func (v *clientVerb) parse(args []string) ([]string, error) {
	var positional, flags []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if !strings.HasPrefix(a, "-") {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if f := v.fs.Lookup(name); f != nil && !strings.Contains(name, "=") && i+1 < len(args) {
			if bf, ok := f.Value.(interface{ IsBoolFlag() bool }); !ok || !bf.IsBoolFlag() {
				flags = append(flags, args[i+1])
				i++
			}
		}
	}
	if err := service.ParseFlags(v.fs, flags, gateway.EnvPrefix, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	positional = append(positional, v.fs.Args()...)
	if err := v.settings.Check(); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return positional, nil
}

// start parses args, which must hold want positional arguments (else the usage error says
// what), and opens the session, printing chain progress on stderr; needWallet refuses a session
// that cannot pay.
func (v *clientVerb) start(ctx context.Context, args []string, want int, what string, needWallet bool) (*client.Session, []string, error) {
	rest, err := v.parse(args)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != want {
		return nil, nil, fmt.Errorf("%w: %s", errUsage, what)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	sess, err := client.OpenSession(ctx, v.settings, log, func(line string) { fmt.Fprintln(clientErr, line) })
	if err != nil {
		return nil, nil, err
	}
	if needWallet && sess.WalletErr != nil {
		sess.Close()
		return nil, nil, fmt.Errorf("no wallet to pay with: %w", sess.WalletErr)
	}
	return sess, rest, nil
}

func clientGateway(ctx context.Context, args []string) error {
	cfg := gateway.DefaultConfig()
	fs := flag.NewFlagSet("client gateway", flag.ContinueOnError)
	fs.SetOutput(clientErr)
	cfg.AddFlags(fs)
	if err := service.ParseFlags(fs, args, gateway.EnvPrefix, os.LookupEnv); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: gateway takes no arguments", errUsage)
	}
	if err := cfg.Check(); err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	log, err := service.NewLogger(clientErr, "client", cfg.Config)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	for _, name := range service.UnknownEnv(fs, gateway.EnvPrefix, os.Environ()) {
		log.Warn("unknown environment variable ignored", "name", name)
	}
	var m gateway.Metricer = gateway.NoopMetrics{}
	if cfg.MetricsListen != "" {
		m = gateway.NewMetrics()
	}
	g, err := gateway.New(ctx, cfg, log, m)
	if err != nil {
		return err
	}
	return service.Run(ctx, startedGateway{g}, service.RunOptions{DrainTimeout: cfg.DrainTimeout, Log: log})
}

// startedGateway prints where the API is once the gateway has started.
type startedGateway struct{ *gateway.Gateway }

func (s startedGateway) Start(ctx context.Context) error {
	if err := s.Gateway.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(clientOut, "cocoon client gateway: OpenAI-compatible API on http://%s/v1\n", s.Addr())
	return nil
}

func clientChat(ctx context.Context, args []string) error {
	v := newClientVerb("chat")
	model := v.fs.String("model", "", "model name from the registry's catalog (default: the one verified providers serve, when there is one)")
	system := v.fs.String("system", "", "a system message before the prompt")
	maxTokens := v.fs.Int("max-tokens", 256, "most completion tokens")
	temperature := v.fs.Float64("temperature", -1, "sampling temperature (default: the provider's)")
	prov := v.fs.String("provider", "", "ask this provider first (address or endpoint)")
	only := v.fs.Bool("only", false, "with --provider: no other provider")
	sess, rest, err := v.start(ctx, args, 1, "chat takes the prompt as one argument", true)
	if err != nil {
		return err
	}
	defer sess.Close()
	fmt.Fprintln(clientErr, "discovering and verifying providers…")
	if err := sess.Client.Refresh(ctx); err != nil {
		return err
	}
	if *model == "" {
		switch *model, err = sess.Client.DefaultModel(ctx); {
		case errors.Is(err, client.ErrSeveralModels):
			return fmt.Errorf("%w: %v: choose one with --model", errUsage, err)
		case errors.Is(err, client.ErrNoModel):
			return fmt.Errorf("%v (see 'cocoon client providers')", err)
		case err != nil:
			return err
		}
	}
	var msgs []map[string]string
	if *system != "" {
		msgs = append(msgs, map[string]string{"role": "system", "content": *system})
	}
	msgs = append(msgs, map[string]string{"role": "user", "content": rest[0]})
	body := map[string]any{"model": *model, "messages": msgs, "max_tokens": *maxTokens, "stream": true, "stream_options": map[string]bool{"include_usage": true}}
	if *temperature >= 0 {
		body["temperature"] = *temperature
	}
	if *prov != "" {
		no := false
		prefs := route.Preferences{Order: []string{*prov}}
		if *only {
			prefs.AllowFallbacks = &no
		}
		body["provider"] = prefs
	}
	raw, _ := json.Marshal(body)
	req, err := route.ParseRequest(raw)
	if err != nil {
		return err
	}
	a, err := sess.Client.Do(ctx, client.Call{Path: "/v1/chat/completions", Request: req})
	if err != nil {
		return err
	}
	if a.Stream == nil {
		return fmt.Errorf("the provider refused the request (%d): %s", a.Status, strings.TrimSpace(string(a.Body)))
	}
	defer a.Stream.Close()
	for {
		data, err := a.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			fmt.Fprintln(clientOut)
			return fmt.Errorf("the answer broke off: %w", err)
		}
		var c openai.ChatCompletionChunk
		if json.Unmarshal(data, &c) == nil {
			for _, ch := range c.Choices {
				if ch.Delta.Content != nil {
					fmt.Fprint(clientOut, *ch.Delta.Content)
				}
			}
		}
	}
	fmt.Fprintln(clientOut)
	res := a.Result()
	rep := a.Provider.Report
	tee := rep.Kind
	if rep.Simulated {
		tee = "sim — SIMULATED, NOT A TEE"
	}
	fmt.Fprintf(clientErr, "\nprovider: %s (%s)\n", a.Provider.ID, a.Provider.Chain.Endpoint)
	fmt.Fprintf(clientErr, "attested: %s, measurement %s\n", tee, rep.Measurement)
	for _, at := range a.Attempts {
		fmt.Fprintf(clientErr, "failed over from %s: %s\n", at.Provider, at.Error)
	}
	if res != nil && res.Cost != nil {
		fmt.Fprintf(clientErr, "cost: %s TON (%s nanoTON) for %d prompt + %d completion tokens\n", payment.FormatTON(res.Cost), res.Cost, res.PromptTokens, res.CompletionTokens)
		state := "verified against the attested key and the on-chain prices"
		if !res.Verified {
			state = "REFUSED: " + res.Problem
		}
		fmt.Fprintf(clientErr, "receipt: %s\n  %s\n", res.Receipt, state)
	} else if res != nil {
		fmt.Fprintf(clientErr, "payment: %s\n", res.Problem)
	}
	fmt.Fprintf(clientErr, "request: %s\n", a.ID)
	return nil
}

func clientProviders(ctx context.Context, args []string) error {
	v := newClientVerb("providers")
	asJSON := v.fs.Bool("json", false, "print the reports as JSON")
	sess, _, err := v.start(ctx, args, 0, "providers takes no arguments", false)
	if err != nil {
		return err
	}
	defer sess.Close()
	if err := sess.Client.Refresh(ctx); err != nil {
		return err
	}
	ps := sess.Client.Providers()
	if *asJSON {
		var out []any
		for _, p := range ps {
			st, _ := sess.Client.Stats(p)
			out = append(out, map[string]any{"provider": p.ID, "endpoint": p.Chain.Endpoint, "verified": p.Verified(), "dropped": p.Dropped, "stats": st, "verification": p.Report})
		}
		b, _ := json.MarshalIndent(out, "", "  ")
		fmt.Fprintln(clientOut, string(b))
		return nil
	}
	snap := sess.Client.Snapshot()
	tw := tabwriter.NewWriter(clientOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "PROVIDER\tENDPOINT\tMODEL\tPROMPT TON/1M\tCOMPLETION TON/1M\tLATENCY\tUPTIME\tATTESTATION")
	for _, p := range ps {
		att := "verified"
		switch {
		case p.Dropped != "":
			att = "DROPPED: " + p.Dropped
		case !p.Report.OK:
			att = "refused: " + strings.Join(p.Report.Refusals, "; ")
		case p.Report.Simulated:
			att = "verified (SIMULATED TEE, devnet)"
		}
		latency := "-"
		if p.Report.ProbeMillis > 0 {
			latency = fmt.Sprintf("%.1f ms", p.Report.ProbeMillis)
		}
		// A one-shot command has measured nothing itself: uptime is the oracles' committed tables'.
		uptime := "-"
		if u := p.Chain.Uptime; u != nil && u.ProbesTotal > 0 {
			uptime = fmt.Sprintf("%.1f%% (%d oracles)", 100*u.Ratio(), u.Oracles)
		}
		ids := make([]uint32, 0, len(p.Chain.Prices))
		for id := range p.Chain.Prices {
			ids = append(ids, id)
		}
		sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
		if len(ids) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\t%s\t%s\n", p.ID, orDash(p.Chain.Endpoint), latency, uptime, att)
		}
		for _, id := range ids {
			pr := p.Chain.Prices[id]
			name := snap.Registry.ModelName(id)
			if name == "" {
				name = fmt.Sprintf("#%d", id)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", p.ID, orDash(p.Chain.Endpoint), name, payment.FormatTON(pr.Prompt), payment.FormatTON(pr.Completion), latency, uptime, att)
		}
	}
	if len(ps) == 0 {
		fmt.Fprintln(tw, "(the registry lists no provider)")
	}
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func clientVerify(ctx context.Context, args []string) error {
	v := newClientVerb("verify")
	asJSON := v.fs.Bool("json", false, "print the report as JSON")
	sess, rest, err := v.start(ctx, args, 1, "verify takes a provider's endpoint or address", false)
	if err != nil {
		return err
	}
	defer sess.Close()
	src := sess.Client
	if err := src.Refresh(ctx); err != nil {
		return err
	}
	snap := src.Snapshot()
	target := rest[0]
	if p := snap.Provider(target); p != nil {
		target = p.Endpoint
		if target == "" {
			target = rest[0]
		}
	}
	var rep = src.Verifier().VerifyEndpoint(ctx, snap, target)
	if p := snap.Provider(rest[0]); p != nil {
		rep = src.Verifier().Verify(ctx, snap, p)
	}
	if *asJSON {
		fmt.Fprintln(clientOut, string(rep.MarshalIndent()))
	} else {
		fmt.Fprint(clientOut, rep.String())
	}
	if !rep.OK {
		return errors.New("the provider is refused")
	}
	return nil
}

// providerOwner resolves --provider to its owner through the registry (by contract address,
// owner address or endpoint).
func providerOwner(ctx context.Context, sess *client.Session, id string) (owner, contract *address.Address, err error) {
	if id == "" {
		return nil, nil, fmt.Errorf("%w: --provider is required", errUsage)
	}
	if err := sess.Client.Refresh(ctx); err != nil {
		return nil, nil, err
	}
	p := sess.Client.Snapshot().Provider(id)
	if p == nil || p.Owner == nil {
		return nil, nil, fmt.Errorf("no provider %s in the registry (see 'cocoon client providers')", id)
	}
	return p.Owner, p.Address, nil
}

func clientChannels(ctx context.Context, args []string) error {
	v := newClientVerb("channels")
	sess, _, err := v.start(ctx, args, 0, "channels takes no arguments", false)
	if err != nil {
		return err
	}
	defer sess.Close()
	chans, err := sess.Payer.Channels(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(clientOut, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CHANNEL\tPROVIDER\tSTATUS\tDEPOSIT LEFT\tPAID\tOWED (RECEIPTS)\tVOUCHER\tNOTE")
	for _, c := range chans {
		ch, _ := address.ParseRawAddr(c.Record.Channel)
		prov, _ := address.ParseRawAddr(c.Record.Provider)
		owed, _ := new(big.Int).SetString(c.Record.Owed, 10)
		note := c.Record.Dropped
		if c.Err != nil {
			fmt.Fprintf(tw, "%s\t%s\t?\t-\t-\t%s\t%s\t%v\n", ch.String(), prov.String(), ton(owed), ton(c.Latest), c.Err)
			continue
		}
		if c.State.CloseDeadline != 0 {
			note = strings.TrimSpace(note + " close deadline " + ops.Deadline(c.State).Format(time.RFC3339))
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ch.String(), prov.String(), c.State.Status, ton(c.State.Available.Nano()), ton(c.State.Paid.Nano()),
			ton(owed), ton(c.Latest), note)
	}
	if len(chans) == 0 {
		fmt.Fprintln(tw, "(no channel yet: the first request to a provider opens one)")
	}
	return tw.Flush()
}

func ton(n *big.Int) string {
	if n == nil {
		return "-"
	}
	return wallet.FormatTON(n) + " TON"
}

// channelVerb is a verb on the channel to one provider.
func channelVerb(ctx context.Context, args []string, name string, amountRequired bool,
	do func(ctx context.Context, sess *client.Session, owner, ch *address.Address, amount *big.Int) error) error {
	v := newClientVerb(name)
	prov := v.fs.String("provider", "", "the provider (contract address, owner address or endpoint)")
	amountFlag := v.fs.String("amount", "", "TON")
	sess, _, err := v.start(ctx, args, 0, name+" takes flags only", true)
	if err != nil {
		return err
	}
	defer sess.Close()
	var amount *big.Int
	if *amountFlag != "" || amountRequired {
		if amount, err = tonFlag("amount", *amountFlag, true); err != nil {
			return err
		}
	}
	owner, contract, err := providerOwner(ctx, sess, *prov)
	if err != nil {
		return err
	}
	ch, err := sess.Payer.ChannelAddress(ctx, owner)
	if err != nil {
		return err
	}
	if name == "open" {
		// The channel in the store before anything is sent, as a first request records it:
		// `channels` lists it.
		if err := sess.Payer.Track(ch, contract, owner); err != nil {
			return err
		}
	}
	return withHints(do(ctx, sess, owner, ch, amount))
}

func clientOpen(ctx context.Context, args []string) error {
	return channelVerb(ctx, args, "open", false, func(ctx context.Context, sess *client.Session, owner, _ *address.Address, amount *big.Int) error {
		if amount == nil {
			amount, _ = wallet.ParseTON(sess.Settings.Deposit)
		}
		res, err := sess.Payer.Open(ctx, owner, amount)
		if err != nil {
			return err
		}
		fmt.Fprintf(clientOut, "channel %s open with %s TON (fee %s TON); it can pay %s TON\n", res.Channel.String(), wallet.FormatTON(res.Deposit),
			wallet.FormatTON(res.Fee), wallet.FormatTON(res.State.Available.Nano()))
		return nil
	})
}

func clientTopUp(ctx context.Context, args []string) error {
	return channelVerb(ctx, args, "top-up", true, func(ctx context.Context, sess *client.Session, _, ch *address.Address, amount *big.Int) error {
		st, err := sess.Payer.TopUp(ctx, ch, amount)
		if err != nil {
			return err
		}
		fmt.Fprintf(clientOut, "channel %s topped up by %s TON; it can pay %s TON\n", ch.String(), wallet.FormatTON(amount), wallet.FormatTON(st.Available.Nano()))
		return nil
	})
}

func clientClose(ctx context.Context, args []string) error {
	return channelVerb(ctx, args, "close", false, func(ctx context.Context, sess *client.Session, _, ch *address.Address, _ *big.Int) error {
		st, err := sess.Payer.Close(ctx, ch, nil)
		if err != nil {
			return err
		}
		fmt.Fprintf(clientOut, "channel %s closing; the provider may claim until %s, then 'cocoon client finalize' returns the deposit left\n",
			ch.String(), ops.Deadline(st).Format(time.RFC3339))
		return nil
	})
}

func clientFinalize(ctx context.Context, args []string) error {
	return channelVerb(ctx, args, "finalize", false, func(ctx context.Context, sess *client.Session, _, ch *address.Address, _ *big.Int) error {
		res, err := sess.Payer.Finalize(ctx, ch)
		if err != nil {
			return err
		}
		to := "-"
		if res.RefundTo != nil {
			to = chain.Friendly(res.RefundTo, false, sess.Net.Testnet)
		}
		fmt.Fprintf(clientOut, "channel %s closed: %s TON refunded to %s\n", ch.String(), wallet.FormatTON(res.Refunded), to)
		return nil
	})
}

func clientBalance(ctx context.Context, args []string) error {
	v := newClientVerb("balance")
	sess, _, err := v.start(ctx, args, 0, "balance takes no arguments", true)
	if err != nil {
		return err
	}
	defer sess.Close()
	acc, err := sess.Payer.Balance(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(clientOut, "wallet:   %s\nbalance:  %s TON\n", chain.Friendly(sess.Payer.Wallet(), false, sess.Net.Testnet), wallet.FormatTON(acc.Balance))
	chans, err := sess.Payer.Channels(ctx)
	if err != nil {
		return err
	}
	left, owed := new(big.Int), new(big.Int)
	for _, c := range chans {
		if c.State != nil {
			left.Add(left, c.State.Available.Nano())
		}
		if o, ok := new(big.Int).SetString(c.Record.Owed, 10); ok {
			owed.Add(owed, o)
		}
	}
	fmt.Fprintf(clientOut, "channels: %d, deposits left %s TON, owed in total %s TON\n", len(chans), wallet.FormatTON(left), wallet.FormatTON(owed))
	return nil
}
