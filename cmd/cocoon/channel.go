package main

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/voucher"
)

func init() {
	register("channel", "payment channels: client key, open, show, vouchers, claims and closes", runChannel)
}

// channelEnvKeyFile names the client's channel key file when --client-key-file is not given.
const channelEnvKeyFile = keys.EnvChannelKeyFile

const channelUsage = `usage: cocoon channel <verb> [flags]

client:
  key new            --out FILE: a fresh ed25519 channel key (seed, hex, mode 0600); prints the public key
  key show           --key-file FILE: print the public key
  open               --provider-owner ADDRESS --deposit TON (--client-key-file FILE | --client-key HEX)
                     deploys the channel through the registry; attaches the deposit plus the registry's
                     open fee (get_open_channel_fee; needs the chain, also with --link)
  top-up             --channel ADDRESS --amount TON: add to the deposit (plain transfer)
  voucher            --channel ADDRESS --amount TON --prompt N --completion N --client-key-file FILE
                     signs cumulative totals offline; prints the X-Cocoon-Voucher header value
  close              --channel ADDRESS --client-key-file FILE [--refund-to ADDRESS]: start the challenge period
  finalize           --channel ADDRESS: after the challenge period, refund the rest (anyone may send it)
provider:
  claim              --voucher HEADER [--channel ADDRESS]: check the voucher, claim it, print what was paid
  claim-remainder    --channel ADDRESS: claim what the accepted voucher still owes after a top-up
  cooperative-close  --channel ADDRESS: end a close at once (from the provider owner's wallet)
anyone:
  show               --channel ADDRESS, or (--client-key HEX | --client-key-file FILE) --provider-owner ADDRESS

Sending verbs pay from the wallet (see 'cocoon wallet'; --key-file is the wallet, --client-key-file the
channel key) and wait for the channel's transaction and what it causes, or with --link print a
ton://transfer link for another signer; --no-wait returns once the wallet has sent. Local checks
(signature, ordering, status, deadline) refuse what the contract would refuse, naming its exit code,
before anything is sent. The registry comes from --registry or $` + envRegistry + `; the channel key
file from --client-key-file or $` + channelEnvKeyFile + `.`

func runChannel(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, channelUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "key":
		return channelKey(rest)
	case "open":
		return channelOpen(ctx, rest)
	case "top-up":
		return channelTopUp(ctx, rest)
	case "show":
		return channelShow(ctx, rest)
	case "voucher":
		return channelVoucher(rest)
	case "claim":
		return channelClaim(ctx, rest)
	case "claim-remainder":
		return channelClaimRemainder(ctx, rest)
	case "close":
		return channelClose(ctx, rest)
	case "finalize":
		return channelFinalize(ctx, rest)
	case "cooperative-close":
		return channelCooperativeClose(ctx, rest)
	case "-h", "--help", "help":
		fmt.Fprintln(walletOut, channelUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, verb, channelUsage)
}

// ---------------------------------------------------------------- flags

// channelCmd is one channel verb's flags: the wallet and network ones plus what the verb adds.
type channelCmd struct {
	*walletFlags
	verb     string
	registry string
	channel  string
	// Sending verbs only (addSend).
	link    bool
	noWait  bool
	queryID uint64
	value   string
}

func newChannelCmd(verb string) *channelCmd {
	c := &channelCmd{walletFlags: newWalletFlags(verb, true), verb: verb}
	c.fs.Init("channel "+verb, flag.ContinueOnError)
	return c
}

func (c *channelCmd) addRegistry() {
	c.fs.StringVar(&c.registry, "registry", os.Getenv(envRegistry), "registry address (env "+envRegistry+")")
}

func (c *channelCmd) addChannel() {
	c.fs.StringVar(&c.channel, "channel", "", "the channel's address")
}

// addSend adds the flags of a verb that sends a message; defValue is --value's default.
func (c *channelCmd) addSend(defValue, valueHelp string) {
	c.fs.BoolVar(&c.link, "link", false, "print a ton://transfer link to sign elsewhere instead of sending")
	c.fs.BoolVar(&c.noWait, "no-wait", false, "return once the wallet has sent, without waiting for the channel")
	c.fs.Uint64Var(&c.queryID, "query-id", 0, "query id (default: random)")
	if defValue != "" {
		c.fs.StringVar(&c.value, "value", defValue, valueHelp)
	}
}

// parseCmd parses the flags; the verbs take no positional arguments.
func (c *channelCmd) parseCmd(args []string) error {
	rest, err := c.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	if c.queryID == 0 {
		c.queryID = ops.NewQueryID()
	}
	return nil
}

// address parses a required address flag.
func (c *channelCmd) address(flagName, s string) (*address.Address, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: %s needs --%s", errUsage, c.verb, flagName)
	}
	a, _, err := c.parseAddress(s)
	if err != nil {
		return nil, fmt.Errorf("--%s: %w", flagName, err)
	}
	return a, nil
}

// channelAddr is the --channel flag, required.
func (c *channelCmd) channelAddr() (*address.Address, error) { return c.address("channel", c.channel) }

// registryAddr is --registry or $COCOON_REGISTRY, required.
func (c *channelCmd) registryAddr() (*address.Address, error) {
	if c.registry == "" {
		return nil, fmt.Errorf("%w: give the registry address with --registry or $%s", errUsage, envRegistry)
	}
	return c.address("registry", c.registry)
}

func channelFormat(nano *big.Int) string { return wallet.FormatTON(nano) + " TON" }

// ---------------------------------------------------------------- client key

// channelKey handles `key new` and `key show`.
func channelKey(args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: key needs new or show\n%s", errUsage, channelUsage)
	}
	fs := flag.NewFlagSet("channel key "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var path string
	switch args[0] {
	case "new":
		fs.StringVar(&path, "out", "", "file to create (mode 0600; never overwritten)")
	case "show":
		fs.StringVar(&path, "key-file", os.Getenv(channelEnvKeyFile), "channel key file (env "+channelEnvKeyFile+")")
		fs.StringVar(&path, "client-key-file", os.Getenv(channelEnvKeyFile), "same as --key-file")
	default:
		return fmt.Errorf("%w: unknown key verb %q (want new or show)", errUsage, args[0])
	}
	if err := fs.Parse(args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(walletOut)
			fs.Usage()
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if path == "" {
		if args[0] == "new" {
			return fmt.Errorf("%w: key new needs --out FILE", errUsage)
		}
		return fmt.Errorf("%w: key show needs --key-file FILE (or $%s)", errUsage, channelEnvKeyFile)
	}
	var priv ed25519.PrivateKey
	var err error
	if args[0] == "new" {
		if priv, err = keys.NewChannelKey(path); err != nil {
			return err
		}
		fmt.Fprintf(walletOut, "key file:   %s\n", path)
	} else if priv, err = keys.ReadChannelKey(path); err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "public key: %s\n", hex.EncodeToString(priv.Public().(ed25519.PublicKey)))
	return nil
}

// channelClientKey holds --client-key HEX and --client-key-file FILE.
type channelClientKey struct {
	hexKey string
	file   string
}

func (c *channelCmd) addClientKey(k *channelClientKey, withHex bool) {
	if withHex {
		c.fs.StringVar(&k.hexKey, "client-key", "", "the client's channel public key, 64 hex digits")
	}
	c.fs.StringVar(&k.file, "client-key-file", os.Getenv(channelEnvKeyFile), "the client's channel key file (env "+channelEnvKeyFile+")")
}

// isSet reports whether the flag was given on the command line.
func (c *channelCmd) isSet(name string) bool {
	set := false
	c.fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// clientPublic returns the client's public key from --client-key, or else from the key file;
// given is false when there is neither.
func (c *channelCmd) clientPublic(k *channelClientKey) (pub ed25519.PublicKey, given bool, err error) {
	switch {
	case k.hexKey != "" && c.isSet("client-key-file"):
		return nil, true, fmt.Errorf("%w: give either --client-key or --client-key-file, not both", errUsage)
	case k.hexKey != "":
		b, err := hex.DecodeString(strings.TrimPrefix(k.hexKey, "0x"))
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, true, fmt.Errorf("%w: --client-key must be 64 hex digits (a 32-byte ed25519 public key)", errUsage)
		}
		return b, true, nil
	case k.file != "":
		priv, err := keys.ReadChannelKey(k.file)
		if err != nil {
			return nil, true, err
		}
		return priv.Public().(ed25519.PublicKey), true, nil
	}
	return nil, false, nil
}

// private reads --client-key-file, required.
func (k *channelClientKey) private(verb string) (ed25519.PrivateKey, error) {
	if k.file == "" {
		return nil, fmt.Errorf("%w: %s needs --client-key-file FILE (or $%s)", errUsage, verb, channelEnvKeyFile)
	}
	return keys.ReadChannelKey(k.file)
}

// ---------------------------------------------------------------- sending

func (c *channelCmd) deliverer() deliverer { return deliverer{c.walletFlags, c.link, c.noWait} }

// session is the operations of a channel verb: the chain, and the wallet unless --link.
func (c *channelCmd) session(ctx context.Context, registry *address.Address) (*ops.Ops, func(), error) {
	return c.deliverer().session(ctx, registry, false)
}

// plainValue is --value, a positive TON amount.
func (c *channelCmd) plainValue() (*big.Int, error) { return tonFlag("value", c.value, true) }

// claimValue is --value: nil for "auto" (the channel's claimCost + a margin).
func (c *channelCmd) claimValue() (*big.Int, error) {
	if c.value == valueAuto {
		return nil, nil
	}
	return tonFlag("value", c.value, true)
}

// ---------------------------------------------------------------- open, top-up

func channelOpen(ctx context.Context, args []string) error {
	c := newChannelCmd("open")
	c.addRegistry()
	owner := c.fs.String("provider-owner", "", "the provider's owner address (the channel pays its Provider contract's owner)")
	deposit := c.fs.String("deposit", "", "TON the channel holds for claims after opening (its 'available')")
	openFee := c.fs.String("open-fee", "", "TON attached on top of the deposit for the storage reserve, gas and forwarding (default: the registry's "+
		contracts.MethodGetOpenChannelFee+", exactly what it checks; more stays in the channel as deposit, less is refused with exit code 118)")
	var key channelClientKey
	c.addClientKey(&key, true)
	c.addSend("", "")
	if err := c.parseCmd(args); err != nil {
		return err
	}
	reg, err := c.registryAddr()
	if err != nil {
		return err
	}
	ownerAddr, err := c.address("provider-owner", *owner)
	if err != nil {
		return err
	}
	dep, err := tonFlag("deposit", *deposit, true)
	if err != nil {
		return err
	}
	pub, given, err := c.clientPublic(&key)
	if err != nil {
		return err
	}
	if !given {
		return fmt.Errorf("%w: open needs the client key: --client-key-file FILE or --client-key HEX", errUsage)
	}
	var fee *big.Int
	if *openFee != "" {
		if fee, err = tonFlag("open-fee", *openFee, false); err != nil {
			return err
		}
	}
	o, release, err := c.session(ctx, reg)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanOpen(ctx, ops.OpenInput{ProviderOwner: ownerAddr, ClientKey: pub, Deposit: dep, Fee: fee, QueryID: c.queryID})
	var fe *ops.FeeError
	if errors.As(err, &fe) {
		return feeUnread(fe, c.friendly(reg, true), ", even with --link (open also reads the provider and the channel's address)")
	}
	if err != nil {
		return withHints(usageOf(err))
	}
	source := contracts.MethodGetOpenChannelFee
	if fee != nil {
		source = "--open-fee; the registry asks for " + channelFormat(p.RequiredFee)
	}
	fmt.Fprintf(walletOut, "channel:   %s\n", c.friendly(p.Channel, true))
	fmt.Fprintf(walletOut, "attaching: %s = deposit %s + open fee %s (%s)\n", channelFormat(p.Value), channelFormat(dep), channelFormat(p.Fee), source)
	if p.Exists {
		fmt.Fprintln(walletOut, "the channel exists: this only adds to its deposit (its terms stay as it first opened)")
	}
	if send, err := c.deliverer().offerLink(ctx, o, p.Plan, "the client's wallet"); !send {
		return err
	}
	res, err := o.SendOpen(ctx, p)
	if err := c.deliverer().report(o, p.Plan, res.Sent, err, false); err != nil || res.After == nil {
		return err
	}
	fmt.Fprintf(walletOut, "status:    %s, available %s\n", res.After.Status, channelFormat(res.After.Available.Nano()))
	return nil
}

func channelTopUp(ctx context.Context, args []string) error {
	c := newChannelCmd("top-up")
	c.addChannel()
	amount := c.fs.String("amount", "", "TON to add to the deposit")
	c.addSend("", "")
	if err := c.parseCmd(args); err != nil {
		return err
	}
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	n, err := tonFlag("amount", *amount, true)
	if err != nil {
		return err
	}
	o, release, err := c.session(ctx, nil)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanTopUp(ctx, ops.TopUpInput{Channel: ch, Amount: n})
	if err != nil {
		return withHints(err)
	}
	if send, err := c.deliverer().offerLink(ctx, o, p, "any wallet"); !send {
		return err
	}
	res, err := o.SendTopUp(ctx, p)
	if err := c.deliverer().report(o, p, res.Sent, err, false); err != nil || res.After == nil {
		return err
	}
	fmt.Fprintf(walletOut, "top-up: available %s, owed %s\n", channelFormat(res.After.Available.Nano()), channelFormat(res.After.Owed.Nano()))
	return nil
}

// ---------------------------------------------------------------- show

func channelShow(ctx context.Context, args []string) error {
	c := newChannelCmd("show")
	c.addRegistry()
	c.addChannel()
	owner := c.fs.String("provider-owner", "", "the provider's owner address (with a client key, instead of --channel)")
	var key channelClientKey
	c.addClientKey(&key, true)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	var ch, reg, ownerAddr *address.Address
	var pub ed25519.PublicKey
	var err error
	if c.channel != "" {
		if *owner != "" || c.isSet("client-key") || c.isSet("client-key-file") {
			return fmt.Errorf("%w: give either --channel or a client key with --provider-owner, not both", errUsage)
		}
		if ch, err = c.channelAddr(); err != nil {
			return err
		}
	} else {
		var given bool
		if pub, given, err = c.clientPublic(&key); err != nil {
			return err
		}
		if !given || *owner == "" {
			return fmt.Errorf("%w: show needs --channel ADDRESS, or --provider-owner with --client-key or --client-key-file", errUsage)
		}
		if reg, err = c.registryAddr(); err != nil {
			return err
		}
		if ownerAddr, err = c.address("provider-owner", *owner); err != nil {
			return err
		}
	}
	cl, release, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	o, err := c.ops(ctx, cl, nil, reg, 0)
	if err != nil {
		return err
	}
	if ch == nil {
		if ch, err = o.ChannelAddress(ctx, pub, ownerAddr); err != nil {
			return err
		}
		if ch == nil {
			return fmt.Errorf("registry %s has no channel code: it opens no channels", reg.StringRaw())
		}
	}
	out := walletOut
	fmt.Fprintf(out, "channel:          %s\n", c.friendly(ch, true))
	v, err := o.ReadChannel(ctx, ch)
	if errors.Is(err, ops.ErrNoChannel) {
		acc, err := cl.GetAccount(ctx, ch)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "state:            %s (not opened yet)\n", acc.State)
		return nil
	}
	if err != nil {
		return err
	}
	d, s := v.Data, v.State
	orNone := func(a *address.Address) string {
		if a == nil {
			return "none"
		}
		return c.friendly(a, true)
	}
	fmt.Fprintf(out, "registry:         %s\n", orNone(d.Registry))
	fmt.Fprintf(out, "client key:       %s\n", hex.EncodeToString(d.ClientKey))
	fmt.Fprintf(out, "provider:         %s\n", orNone(d.Provider))
	fmt.Fprintf(out, "payout to:        %s\n", orNone(d.PayoutTo))
	fmt.Fprintf(out, "treasury:         %s\n", orNone(d.Treasury))
	fmt.Fprintf(out, "protocol fee:     %d bps\n", d.ProtocolFeeBps)
	fmt.Fprintf(out, "challenge period: %v\n", time.Duration(d.ChallengePeriod)*time.Second)
	fmt.Fprintf(out, "status:           %s\n", s.Status)
	fmt.Fprintf(out, "close nonce:      %d\n", s.CloseNonce)
	fmt.Fprintf(out, "balance:          %s\n", channelFormat(v.Account.Balance))
	fmt.Fprintf(out, "accepted:         %s, %d prompt + %d completion tokens\n", channelFormat(s.AcceptedAmount.Nano()), s.AcceptedPrompt, s.AcceptedCompletion)
	fmt.Fprintf(out, "paid:             %s\n", channelFormat(s.Paid.Nano()))
	fmt.Fprintf(out, "owed:             %s\n", channelFormat(s.Owed.Nano()))
	fmt.Fprintf(out, "available:        %s\n", channelFormat(s.Available.Nano()))
	fmt.Fprintf(out, "claim cost:       %s\n", channelFormat(s.ClaimCost.Nano()))
	if s.Status == contracts.ChannelClosing {
		fmt.Fprintf(out, "closing:          refund to %s, deadline %s\n", orNone(s.RefundTo), ops.Deadline(s).Format(time.RFC3339))
	}
	return nil
}

// ---------------------------------------------------------------- vouchers and claims

func channelVoucher(args []string) error {
	c := newChannelCmd("voucher")
	c.addChannel()
	amount := c.fs.String("amount", "", "cumulative TON owed over the channel's whole life")
	prompt := c.fs.Uint64("prompt", 0, "cumulative prompt tokens")
	completion := c.fs.Uint64("completion", 0, "cumulative completion tokens")
	var key channelClientKey
	c.addClientKey(&key, false)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	n, err := tonFlag("amount", *amount, false)
	if err != nil {
		return err
	}
	priv, err := key.private("voucher")
	if err != nil {
		return err
	}
	v := voucher.Voucher{Channel: ch, Amount: n, PromptTokens: *prompt, CompletionTokens: *completion}
	s, err := v.Sign(priv)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	h, err := voucher.EncodeHeader(&s)
	if err != nil {
		return err
	}
	fmt.Fprintln(walletOut, h)
	return nil
}

const channelClaimValueHelp = "TON attached: 'auto' is the channel's claimCost + 0.01; the unused part comes back"

func channelClaim(ctx context.Context, args []string) error {
	c := newChannelCmd("claim")
	c.addChannel()
	header := c.fs.String("voucher", "", "the signed voucher: an "+voucher.HeaderVoucher+" header value")
	c.addSend(valueAuto, channelClaimValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	if *header == "" {
		return fmt.Errorf("%w: claim needs --voucher (the %s header value)", errUsage, voucher.HeaderVoucher)
	}
	s, err := voucher.DecodeHeader(strings.TrimSpace(*header))
	if err != nil {
		return fmt.Errorf("%w: --voucher: %w", errUsage, err)
	}
	in := ops.ClaimInput{Voucher: s, QueryID: c.queryID}
	if c.channel != "" {
		if in.Channel, err = c.channelAddr(); err != nil {
			return err
		}
	}
	if in.Value, err = c.claimValue(); err != nil {
		return err
	}
	var o *ops.Ops
	if in.Channel != nil && !in.Channel.Equals(s.Channel) {
		// The plan refuses it before reading anything: no wallet or chain needed.
		o = &ops.Ops{Testnet: dial.Networks[c.network].Testnet}
	} else {
		var release func()
		if o, release, err = c.session(ctx, nil); err != nil {
			return err
		}
		defer release()
	}
	p, err := o.PlanClaim(ctx, in)
	if err != nil {
		return withHints(err)
	}
	fmt.Fprintf(walletOut, "voucher:  %s, %d prompt + %d completion tokens (cumulative) on %s\n",
		channelFormat(s.Amount), s.PromptTokens, s.CompletionTokens, c.friendly(s.Channel, true))
	return c.claimAndReport(ctx, o, p)
}

func channelClaimRemainder(ctx context.Context, args []string) error {
	c := newChannelCmd("claim-remainder")
	c.addChannel()
	c.addSend(valueAuto, channelClaimValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	value, err := c.claimValue()
	if err != nil {
		return err
	}
	o, release, err := c.session(ctx, nil)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanClaimRemainder(ctx, ops.ClaimRemainderInput{Channel: ch, Value: value, QueryID: c.queryID})
	if err != nil {
		return withHints(err)
	}
	return c.claimAndReport(ctx, o, p)
}

// claimAndReport sends a Claim or ClaimRemainder and prints what it paid: the usage report the
// channel sent (the same numbers the provider pays out), the channel's state and the provider's
// usage totals afterwards.
func (c *channelCmd) claimAndReport(ctx context.Context, o *ops.Ops, p *ops.ClaimPlan) error {
	if send, err := c.deliverer().offerLink(ctx, o, p.Plan, "any wallet (the unused value returns to it)"); !send {
		return err
	}
	res, err := o.SendClaim(ctx, p)
	rerr := c.deliverer().report(o, p.Plan, res.Sent, err, false)
	var ce *ops.ContractError
	if res.Sent == nil || errors.As(err, &ce) || p.Wait != ops.WaitCascade {
		return rerr
	}
	if got := res.Claimed; got != nil {
		data := p.Channel.Data
		fmt.Fprintf(walletOut, "paid:     %s = earned %s to %s + fee %s to %s\n", channelFormat(got.Amount),
			channelFormat(got.Earned), c.friendly(data.PayoutTo, true), channelFormat(got.Fee), c.friendly(data.Treasury, true))
		fmt.Fprintf(walletOut, "usage:    +%d prompt, +%d completion tokens\n", got.PromptTokens, got.CompletionTokens)
	}
	if err != nil {
		return err
	}
	if res.ProviderErr != nil {
		// The report bounced: the channel pays owner and treasury itself; the totals miss this claim.
		fmt.Fprintf(walletOut, "provider: the Provider contract refused the report (%v); the channel paid directly and the provider's usage totals do not include this claim\n", res.ProviderErr)
	}
	st := res.After
	fmt.Fprintf(walletOut, "channel:  accepted %s, paid %s, owed %s, available %s\n", channelFormat(st.AcceptedAmount.Nano()),
		channelFormat(st.Paid.Nano()), channelFormat(st.Owed.Nano()), channelFormat(st.Available.Nano()))
	if st.Owed.Nano().Sign() > 0 {
		fmt.Fprintf(walletOut, "owed:     %s exceeds the deposit; after a top-up run 'cocoon channel claim-remainder --channel %s'\n",
			channelFormat(st.Owed.Nano()), c.friendly(p.To, true))
	}
	if u := res.ProviderUsage; u != nil {
		fmt.Fprintf(walletOut, "provider: total %d prompt + %d completion tokens, earned %s\n", u.PromptTokens, u.CompletionTokens, channelFormat(u.Earned.Nano()))
	}
	return nil
}

// ---------------------------------------------------------------- closing

const channelCloseValueHelp = "TON attached for the channel's gas; the unused part comes back"

var channelCloseValue = wallet.FormatTON(big.NewInt(ops.DefaultCloseValue))

func channelClose(ctx context.Context, args []string) error {
	c := newChannelCmd("close")
	c.addChannel()
	refundTo := c.fs.String("refund-to", "", "address that receives the remaining deposit (default: the wallet; required with --link)")
	var key channelClientKey
	c.addClientKey(&key, false)
	c.addSend(channelCloseValue, channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	value, err := c.plainValue()
	if err != nil {
		return err
	}
	priv, err := key.private("close")
	if err != nil {
		return err
	}
	var refund *address.Address
	if *refundTo != "" {
		if refund, err = c.address("refund-to", *refundTo); err != nil {
			return err
		}
	} else if c.link {
		return fmt.Errorf("%w: close --link needs --refund-to", errUsage)
	}
	o, release, err := c.session(ctx, nil)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanClose(ctx, ops.CloseInput{Channel: ch, ClientKey: priv, RefundTo: refund, KeyName: "the key in " + key.file, Value: value, QueryID: c.queryID})
	if err != nil {
		return withHints(err)
	}
	fmt.Fprintf(walletOut, "close:    request nonce %d, refund to %s\n", p.Nonce, c.friendly(p.RefundTo, false))
	if send, err := c.deliverer().offerLink(ctx, o, p.Plan, "any wallet"); !send {
		return err
	}
	res, err := o.SendClose(ctx, p)
	if err := c.deliverer().report(o, p.Plan, res.Sent, err, false); err != nil || res.After == nil {
		return err
	}
	fmt.Fprintf(walletOut, "close: closing until %s, then 'cocoon channel finalize --channel %s'\n", ops.Deadline(res.After).Format(time.RFC3339), c.friendly(ch, true))
	return nil
}

func channelFinalize(ctx context.Context, args []string) error {
	c := newChannelCmd("finalize")
	c.addChannel()
	noCheck := c.fs.Bool("no-check", false, "send even if the local clock says the challenge period is not over (the contract decides)")
	c.addSend(channelCloseValue, channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	return c.endClose(ctx, func(o *ops.Ops, ch *address.Address, value *big.Int) (*ops.EndClosePlan, error) {
		return o.PlanFinalize(ctx, ops.FinalizeInput{Channel: ch, NoCheck: *noCheck, Value: value, QueryID: c.queryID})
	})
}

func channelCooperativeClose(ctx context.Context, args []string) error {
	c := newChannelCmd("cooperative-close")
	c.addChannel()
	c.addSend(channelCloseValue, channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	return c.endClose(ctx, func(o *ops.Ops, ch *address.Address, value *big.Int) (*ops.EndClosePlan, error) {
		return o.PlanCooperativeClose(ctx, ops.CooperativeCloseInput{Channel: ch, Value: value, QueryID: c.queryID})
	})
}

// endClose plans FinalizeClose or CooperativeClose, sends it and prints the refund.
func (c *channelCmd) endClose(ctx context.Context, plan func(*ops.Ops, *address.Address, *big.Int) (*ops.EndClosePlan, error)) error {
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	value, err := c.plainValue()
	if err != nil {
		return err
	}
	o, release, err := c.session(ctx, nil)
	if err != nil {
		return err
	}
	defer release()
	p, err := plan(o, ch, value)
	if err != nil {
		return withHints(err)
	}
	signer := "any wallet"
	if p.Op == "cooperative-close" {
		signer = "the provider owner's wallet " + c.friendly(p.Channel.Data.PayoutTo, false)
	}
	if send, err := c.deliverer().offerLink(ctx, o, p.Plan, signer); !send {
		return err
	}
	res, err := o.SendEndClose(ctx, p)
	if err := c.deliverer().report(o, p.Plan, res.Sent, err, false); err != nil || p.Wait != ops.WaitCascade {
		return err
	}
	fmt.Fprintf(walletOut, "%s: refunded %s to %s\n", c.verb, channelFormat(res.Refunded), c.friendly(res.RefundTo, false))
	return nil
}
