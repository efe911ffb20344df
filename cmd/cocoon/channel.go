package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/voucher"
)

func init() {
	register("channel", "payment channels: client key, open, show, vouchers, claims and closes", runChannel)
}

// channelEnvKeyFile names the client's channel key file when --client-key-file is not given.
const channelEnvKeyFile = "COCOON_CHANNEL_KEY_FILE"

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

// channelClaimMargin is added to the channel's claimCost by default: the cost is a bound the
// contract checks with the config of the block that runs the claim; the unused part comes back.
const channelClaimMargin = 10_000_000 // 0.01 TON

var (
	// errChannelRefused is a local check that found what the contract would refuse; nothing was sent.
	errChannelRefused = errors.New("refused before sending")
	// errChannelMissing is a channel address with no deployed channel behind it.
	errChannelMissing = errors.New("no channel")
)

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
		var b [8]byte
		_, _ = rand.Read(b[:])
		c.queryID = binary.BigEndian.Uint64(b[:]) >> 1
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
	if args[0] == "new" {
		pub, p, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return fmt.Errorf("failed to generate a channel key: %w", err)
		}
		if err := channelWriteKey(path, p.Seed()); err != nil {
			return err
		}
		fmt.Fprintf(walletOut, "key file:   %s\n", path)
		fmt.Fprintf(walletOut, "public key: %s\n", hex.EncodeToString(pub))
		return nil
	}
	priv, err := channelReadKey(path)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "public key: %s\n", hex.EncodeToString(priv.Public().(ed25519.PublicKey)))
	return nil
}

// channelWriteKey creates path (mode 0600, its directory 0700) holding the seed in hex; it never
// overwrites a file.
func channelWriteKey(path string, seed []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("failed to create key directory: %w", err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("key file %s already exists: refusing to overwrite a channel key (vouchers signed with it would become unclaimable by you); move it away first", path)
	}
	if err != nil {
		return fmt.Errorf("failed to create key file: %w", err)
	}
	_, werr := fmt.Fprintln(fh, hex.EncodeToString(seed))
	if err := errors.Join(werr, fh.Sync(), fh.Close()); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("failed to write key file: %w", err)
	}
	return nil
}

// channelReadKey reads a channel key file (32-byte ed25519 seed in hex), refusing one that group or
// others can read or write.
func channelReadKey(path string) (ed25519.PrivateKey, error) {
	raw, err := readPrivateFile(path, "channel key file",
		fmt.Sprintf("create one with 'cocoon channel key new --out %s'", path), "it signs payments")
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("channel key file %s does not hold a 32-byte seed in hex (64 hex digits)", path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
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
		priv, err := channelReadKey(k.file)
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
	return channelReadKey(k.file)
}

// ---------------------------------------------------------------- chain reads

// channelView is a channel as its getters show it.
type channelView struct {
	addr    *address.Address
	account *chain.Account
	data    *contracts.ChannelData
	state   *contracts.ChannelState
}

// channelLoad reads a deployed channel; errChannelMissing when no contract is there.
func channelLoad(ctx context.Context, cl chain.Client, ch *address.Address) (*channelView, error) {
	acc, err := cl.GetAccount(ctx, ch)
	if err != nil {
		return nil, err
	}
	if acc.State != chain.StateActive {
		return nil, fmt.Errorf("%w at %s: the account is %s (open it with 'cocoon channel open')", errChannelMissing, ch.StringRaw(), acc.State)
	}
	cc := contracts.ChannelClient{Chain: cl, Address: ch}
	data, err := cc.Data(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s (is it a channel?): %w", ch.StringRaw(), err)
	}
	st, err := cc.State(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to read channel %s (is it a channel?): %w", ch.StringRaw(), err)
	}
	return &channelView{addr: ch, account: acc, data: data, state: st}, nil
}

// channelRefuse reports a local check's finding as the contract's exit code; nothing is sent.
func channelRefuse(code contracts.ExitCode, format string, args ...any) error {
	return fmt.Errorf("%w: %s; the channel would fail with %w", errChannelRefused, fmt.Sprintf(format, args...), code)
}

// requireInit refuses a channel the registry's ChannelInit has not reached.
func (v *channelView) requireInit() error {
	if v.state.Status == contracts.ChannelUninit {
		return channelRefuse(contracts.ExitChannelNotOpen, "channel %s was deployed without the registry's ChannelInit", v.addr.StringRaw())
	}
	return nil
}

// ---------------------------------------------------------------- sending

func (c *channelCmd) sender() sender { return sender{c.walletFlags, c.link, c.noWait} }

// send sends value and body from the wallet to the channel ch and waits for its transaction, or
// prints a link for signer with --link. It returns the transaction, nil with --link or --no-wait.
func (c *channelCmd) send(ctx context.Context, cl chain.Client, w *wallet.Wallet, ch *address.Address, value *big.Int, body *cell.Cell, signer string) (*tlb.Transaction, error) {
	txs, err := c.sender().send(ctx, cl, w, outgoing{what: c.verb, signer: signer, value: value, body: body, hops: []contractHop{{"channel", ch}}})
	if err != nil || len(txs) == 0 {
		return nil, err
	}
	return txs[0], nil
}

// connectWallet opens the chain and, unless --link, loads the wallet.
func (c *channelCmd) connectWallet(ctx context.Context) (chain.Client, *wallet.Wallet, func(), error) {
	var w *wallet.Wallet
	if !c.link {
		var err error
		if w, err = c.loadWallet(); err != nil {
			return nil, nil, nil, err
		}
	}
	cl, release, err := c.connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return cl, w, release, nil
}

// channelOutMessages lists a transaction's outgoing internal messages.
func channelOutMessages(tx *tlb.Transaction) []*tlb.InternalMessage {
	if tx == nil || tx.IO.Out == nil {
		return nil
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		return nil
	}
	var out []*tlb.InternalMessage
	for i := range msgs {
		if msgs[i].MsgType == tlb.MsgTypeInternal {
			out = append(out, msgs[i].AsInternal())
		}
	}
	return out
}

// channelOutgoing finds the outgoing message whose body starts with opcode.
func channelOutgoing(tx *tlb.Transaction, opcode uint32) *tlb.InternalMessage {
	for _, m := range channelOutMessages(tx) {
		if m.Body == nil {
			continue
		}
		s, err := m.Body.BeginParse()
		if err != nil {
			continue
		}
		if op, err := s.LoadUInt(32); err == nil && uint32(op) == opcode {
			return m
		}
	}
	return nil
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
	var override *big.Int
	if *openFee != "" {
		if override, err = tonFlag("open-fee", *openFee, false); err != nil {
			return err
		}
	}
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()

	rc := contracts.RegistryClient{Chain: cl, Address: reg}
	need, err := rc.OpenChannelFee(ctx)
	if code, ok := contracts.AsExitCode(err); ok && code == contracts.ExitChannelsDisabled {
		return fmt.Errorf("%w: registry %s has no channel code (governance enables channels with 'cocoon registry set-channel-code'); it would fail with %w",
			errChannelRefused, reg.StringRaw(), contracts.ExitChannelsDisabled)
	}
	if err != nil {
		return feeUnread(contracts.MethodGetOpenChannelFee, c.friendly(reg, true), err, ", even with --link (open also reads the provider and the channel's address)")
	}
	fee, source := need, contracts.MethodGetOpenChannelFee
	if override != nil {
		fee, source = override, "--open-fee; the registry asks for "+channelFormat(need)
	}
	provider, err := rc.ProviderAddress(ctx, ownerAddr)
	if err != nil {
		return err
	}
	pacc, err := cl.GetAccount(ctx, provider)
	if err != nil {
		return err
	}
	if pacc.State != chain.StateActive {
		return fmt.Errorf("%w: %s has no provider registered at registry %s (its Provider contract %s is %s)",
			errChannelRefused, c.friendly(ownerAddr, true), c.friendly(reg, true), provider.StringRaw(), pacc.State)
	}
	ch, err := contracts.RegistryChannelAddress(ctx, cl, reg, pub, ownerAddr)
	if err != nil {
		return err
	}
	msg, err := contracts.NewOpenChannel(c.queryID, ownerAddr, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	body, err := contracts.Encode(msg)
	if err != nil {
		return err
	}
	value := new(big.Int).Add(dep, fee)
	existing, err := cl.GetAccount(ctx, ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "channel:   %s\n", c.friendly(ch, true))
	fmt.Fprintf(walletOut, "attaching: %s = deposit %s + open fee %s (%s)\n", channelFormat(value), channelFormat(dep), channelFormat(fee), source)
	if existing.State == chain.StateActive {
		fmt.Fprintln(walletOut, "the channel exists: this only adds to its deposit (its terms stay as it first opened)")
	}
	txs, err := c.sender().send(ctx, cl, w, outgoing{what: "open", signer: "the client's wallet", value: value, body: body,
		hops: []contractHop{{"registry", reg}, {"channel", ch}}})
	if code, ok := contracts.AsExitCode(err); ok && code == contracts.ExitNotEnoughValue && len(txs) == 1 && fee.Cmp(need) < 0 {
		return fmt.Errorf("%w: --open-fee %s is below the registry's fee %s (%s); leave --open-fee out to attach exactly that",
			err, channelFormat(fee), channelFormat(need), contracts.MethodGetOpenChannelFee)
	}
	if err != nil || len(txs) == 0 {
		return err
	}
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "status:    %s, available %s\n", v.state.Status, channelFormat(v.state.Available.Nano()))
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
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()
	// A plain transfer to a missing channel would bounce (losing fees) or, with --link, could be
	// sent non-bounceable and be lost: check that the channel is there.
	if _, err := channelLoad(ctx, cl, ch); err != nil {
		return err
	}
	tx, err := c.send(ctx, cl, w, ch, n, nil, "any wallet")
	if err != nil || tx == nil {
		return err
	}
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "top-up: available %s, owed %s\n", channelFormat(v.state.Available.Nano()), channelFormat(v.state.Owed.Nano()))
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
	if ch == nil {
		if ch, err = contracts.RegistryChannelAddress(ctx, cl, reg, pub, ownerAddr); err != nil {
			return err
		}
		if ch == nil {
			return fmt.Errorf("registry %s has no channel code: it opens no channels", reg.StringRaw())
		}
	}
	acc, err := cl.GetAccount(ctx, ch)
	if err != nil {
		return err
	}
	o := walletOut
	fmt.Fprintf(o, "channel:          %s\n", c.friendly(ch, true))
	if acc.State != chain.StateActive {
		fmt.Fprintf(o, "state:            %s (not opened yet)\n", acc.State)
		return nil
	}
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	d, s := v.data, v.state
	orNone := func(a *address.Address) string {
		if a == nil {
			return "none"
		}
		return c.friendly(a, true)
	}
	fmt.Fprintf(o, "registry:         %s\n", orNone(d.Registry))
	fmt.Fprintf(o, "client key:       %s\n", hex.EncodeToString(d.ClientKey))
	fmt.Fprintf(o, "provider:         %s\n", orNone(d.Provider))
	fmt.Fprintf(o, "payout to:        %s\n", orNone(d.PayoutTo))
	fmt.Fprintf(o, "treasury:         %s\n", orNone(d.Treasury))
	fmt.Fprintf(o, "protocol fee:     %d bps\n", d.ProtocolFeeBps)
	fmt.Fprintf(o, "challenge period: %v\n", time.Duration(d.ChallengePeriod)*time.Second)
	fmt.Fprintf(o, "status:           %s\n", s.Status)
	fmt.Fprintf(o, "close nonce:      %d\n", s.CloseNonce)
	fmt.Fprintf(o, "balance:          %s\n", channelFormat(acc.Balance))
	fmt.Fprintf(o, "accepted:         %s, %d prompt + %d completion tokens\n", channelFormat(s.AcceptedAmount.Nano()), s.AcceptedPrompt, s.AcceptedCompletion)
	fmt.Fprintf(o, "paid:             %s\n", channelFormat(s.Paid.Nano()))
	fmt.Fprintf(o, "owed:             %s\n", channelFormat(s.Owed.Nano()))
	fmt.Fprintf(o, "available:        %s\n", channelFormat(s.Available.Nano()))
	fmt.Fprintf(o, "claim cost:       %s\n", channelFormat(s.ClaimCost.Nano()))
	if s.Status == contracts.ChannelClosing {
		deadline := time.Unix(int64(s.CloseDeadline), 0).UTC()
		fmt.Fprintf(o, "closing:          refund to %s, deadline %s\n", orNone(s.RefundTo), deadline.Format(time.RFC3339))
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

// channelCheckNewer explains why the channel would refuse v after its accepted state (the
// contract's rule, voucher.CheckNewer: a higher amount, or the same amount with a token total above
// the accepted ones).
func channelCheckNewer(accepted, v voucher.Voucher) error {
	if voucher.CheckNewer(&accepted, &v) == nil {
		return nil
	}
	if v.Amount.Cmp(accepted.Amount) < 0 {
		return channelRefuse(contracts.ExitVoucherNotNewer, "voucher is not newer: amount %s < accepted %s (money orders vouchers, whatever the token totals)",
			channelFormat(v.Amount), channelFormat(accepted.Amount))
	}
	if v.PromptTokens == accepted.PromptTokens && v.CompletionTokens == accepted.CompletionTokens {
		return channelRefuse(contracts.ExitVoucherNotNewer, "voucher is not newer: it equals the accepted voucher (already claimed)")
	}
	return channelRefuse(contracts.ExitVoucherNotNewer, "voucher is not newer: amount %s equals the accepted one and no token total is above the accepted ones (promptTokens %d <= %d, completionTokens %d <= %d)",
		channelFormat(v.Amount), v.PromptTokens, accepted.PromptTokens, v.CompletionTokens, accepted.CompletionTokens)
}

// channelClaimValue is --value, or "auto": the channel's claimCost plus a margin.
func (c *channelCmd) claimValue(st *contracts.ChannelState) (*big.Int, error) {
	cost := st.ClaimCost.Nano()
	if c.value == valueAuto {
		return new(big.Int).Add(cost, big.NewInt(channelClaimMargin)), nil
	}
	n, err := tonFlag("value", c.value, true)
	if err != nil {
		return nil, err
	}
	if n.Cmp(cost) < 0 {
		return nil, channelRefuse(contracts.ExitNotEnoughValue, "--value %s is below the channel's claim cost %s", channelFormat(n), channelFormat(cost))
	}
	return n, nil
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
	ch := s.Channel
	if c.channel != "" {
		want, err := c.channelAddr()
		if err != nil {
			return err
		}
		if !want.Equals(ch) {
			return channelRefuse(contracts.ExitWrongChannel, "the voucher is for channel %s, not %s", c.friendly(ch, true), c.friendly(want, true))
		}
	}
	if c.value != valueAuto {
		if _, err := tonFlag("value", c.value, true); err != nil {
			return err
		}
	}
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return fmt.Errorf("the voucher names channel %s: %w", c.friendly(ch, true), err)
	}
	if err := v.requireInit(); err != nil {
		return err
	}
	if err := s.Verify(v.data.ClientKey); err != nil {
		return channelRefuse(contracts.ExitInvalidSignature, "the voucher's signature does not verify under the channel's client key %s (signed by another key, or altered)", hex.EncodeToString(v.data.ClientKey))
	}
	if err := channelCheckNewer(v.state.Accepted(ch), s.Voucher); err != nil {
		return err
	}
	value, err := c.claimValue(v.state)
	if err != nil {
		return err
	}
	msg, err := contracts.NewClaim(c.queryID, s)
	if err != nil {
		return err
	}
	body, err := contracts.Encode(msg)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "voucher:  %s, %d prompt + %d completion tokens (cumulative) on %s\n",
		channelFormat(s.Amount), s.PromptTokens, s.CompletionTokens, c.friendly(ch, true))
	return c.claimAndReport(ctx, cl, w, v, value, body)
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
	if c.value != valueAuto {
		if _, err := tonFlag("value", c.value, true); err != nil {
			return err
		}
	}
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	if err := v.requireInit(); err != nil {
		return err
	}
	st := v.state
	if st.Owed.Nano().Sign() == 0 || st.Available.Nano().Sign() == 0 {
		return channelRefuse(contracts.ExitNothingToClaim, "nothing to claim: owed %s, available %s", channelFormat(st.Owed.Nano()), channelFormat(st.Available.Nano()))
	}
	value, err := c.claimValue(st)
	if err != nil {
		return err
	}
	body, err := contracts.Encode(contracts.ClaimRemainder{QueryID: c.queryID})
	if err != nil {
		return err
	}
	return c.claimAndReport(ctx, cl, w, v, value, body)
}

// claimAndReport sends a Claim or ClaimRemainder, follows it to the Provider contract and prints
// what it paid: the usage report the channel sent (the same numbers the provider pays out), the
// channel's state and the provider's usage totals afterwards.
func (c *channelCmd) claimAndReport(ctx context.Context, cl chain.Client, w *wallet.Wallet, v *channelView, value *big.Int, body *cell.Cell) error {
	provider := v.data.Provider
	pBefore, err := cl.GetAccount(ctx, provider)
	if err != nil {
		return err
	}
	tx, err := c.send(ctx, cl, w, v.addr, value, body, "any wallet (the unused value returns to it)")
	if err != nil || tx == nil {
		return err
	}
	report := channelOutgoing(tx, contracts.OpChannelUsage)
	if report == nil {
		return fmt.Errorf("%s: the channel's transaction sent no usage report", c.verb)
	}
	usage, err := contracts.DecodeAs[contracts.ChannelUsage](report.Body)
	if err != nil {
		return fmt.Errorf("%s: failed to read the channel's usage report: %w", c.verb, err)
	}
	got, err := usage.Claimed()
	if err != nil {
		return fmt.Errorf("%s: %w", c.verb, err)
	}
	fmt.Fprintf(walletOut, "paid:     %s = earned %s to %s + fee %s to %s\n", channelFormat(got.Amount),
		channelFormat(got.Earned), c.friendly(v.data.PayoutTo, true), channelFormat(got.Fee), c.friendly(v.data.Treasury, true))
	fmt.Fprintf(walletOut, "usage:    +%d prompt, +%d completion tokens\n", got.PromptTokens, got.CompletionTokens)
	// Not a hop of the send: the channel has paid whatever the Provider contract does with the report.
	ptx, err := c.sender().await(ctx, cl, provider, pBefore.LastTxLT, v.addr)
	if err != nil {
		return fmt.Errorf("%s: the channel reported the claim but the Provider contract's transaction did not show up: %w", c.verb, err)
	}
	if err := contractOutcome(ptx); err != nil {
		// The report bounced: the channel pays owner and treasury itself; the totals miss this claim.
		fmt.Fprintf(walletOut, "provider: the Provider contract refused the report (%v); the channel paid directly and the provider's usage totals do not include this claim\n", err)
	}
	after, err := channelLoad(ctx, cl, v.addr)
	if err != nil {
		return err
	}
	st := after.state
	fmt.Fprintf(walletOut, "channel:  accepted %s, paid %s, owed %s, available %s\n", channelFormat(st.AcceptedAmount.Nano()),
		channelFormat(st.Paid.Nano()), channelFormat(st.Owed.Nano()), channelFormat(st.Available.Nano()))
	if st.Owed.Nano().Sign() > 0 {
		fmt.Fprintf(walletOut, "owed:     %s exceeds the deposit; after a top-up run 'cocoon channel claim-remainder --channel %s'\n",
			channelFormat(st.Owed.Nano()), c.friendly(v.addr, true))
	}
	if u, err := (contracts.ProviderClient{Chain: cl, Address: provider}).Usage(ctx); err == nil {
		fmt.Fprintf(walletOut, "provider: total %d prompt + %d completion tokens, earned %s\n", u.PromptTokens, u.CompletionTokens, channelFormat(u.Earned.Nano()))
	}
	return nil
}

// ---------------------------------------------------------------- closing

const channelCloseValueHelp = "TON attached for the channel's gas; the unused part comes back"

func channelClose(ctx context.Context, args []string) error {
	c := newChannelCmd("close")
	c.addChannel()
	refundTo := c.fs.String("refund-to", "", "address that receives the remaining deposit (default: the wallet; required with --link)")
	var key channelClientKey
	c.addClientKey(&key, false)
	c.addSend("0.05", channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	value, err := tonFlag("value", c.value, true)
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
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()
	if refund == nil {
		refund = w.Address()
	}
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	if err := v.requireInit(); err != nil {
		return err
	}
	pub := priv.Public().(ed25519.PublicKey)
	if !bytes.Equal(pub, v.data.ClientKey) {
		return channelRefuse(contracts.ExitInvalidSignature, "the key in %s (public %s) is not the channel's client key %s", key.file, hex.EncodeToString(pub), hex.EncodeToString(v.data.ClientKey))
	}
	if v.state.Status == contracts.ChannelClosing {
		return channelRefuse(contracts.ExitAlreadyClosing, "the channel is already closing (deadline %s)", time.Unix(int64(v.state.CloseDeadline), 0).UTC().Format(time.RFC3339))
	}
	msg, err := contracts.NewStartClose(c.queryID, contracts.CloseRequest{Channel: ch, CloseNonce: v.state.CloseNonce, RefundTo: refund}, priv)
	if err != nil {
		return err
	}
	body, err := contracts.Encode(msg)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "close:    request nonce %d, refund to %s\n", v.state.CloseNonce, c.friendly(refund, false))
	tx, err := c.send(ctx, cl, w, ch, value, body, "any wallet")
	if err != nil || tx == nil {
		return err
	}
	after, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	deadline := time.Unix(int64(after.state.CloseDeadline), 0).UTC()
	fmt.Fprintf(walletOut, "close: closing until %s, then 'cocoon channel finalize --channel %s'\n", deadline.Format(time.RFC3339), c.friendly(ch, true))
	return nil
}

func channelFinalize(ctx context.Context, args []string) error {
	c := newChannelCmd("finalize")
	c.addChannel()
	noCheck := c.fs.Bool("no-check", false, "send even if the local clock says the challenge period is not over (the contract decides)")
	c.addSend("0.05", channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	return c.endClose(ctx, *noCheck, contracts.FinalizeClose{QueryID: c.queryID})
}

func channelCooperativeClose(ctx context.Context, args []string) error {
	c := newChannelCmd("cooperative-close")
	c.addChannel()
	c.addSend("0.05", channelCloseValueHelp)
	if err := c.parseCmd(args); err != nil {
		return err
	}
	return c.endClose(ctx, false, contracts.CooperativeClose{QueryID: c.queryID})
}

// endClose sends FinalizeClose or CooperativeClose after checking what the channel checks, and
// prints the refund.
func (c *channelCmd) endClose(ctx context.Context, noCheck bool, msg contracts.Message) error {
	ch, err := c.channelAddr()
	if err != nil {
		return err
	}
	value, err := tonFlag("value", c.value, true)
	if err != nil {
		return err
	}
	cl, w, release, err := c.connectWallet(ctx)
	if err != nil {
		return err
	}
	defer release()
	v, err := channelLoad(ctx, cl, ch)
	if err != nil {
		return err
	}
	st := v.state
	if st.Status != contracts.ChannelClosing {
		return channelRefuse(contracts.ExitNotClosing, "the channel is %s, not closing (start with 'cocoon channel close')", st.Status)
	}
	deadline := time.Unix(int64(st.CloseDeadline), 0).UTC()
	signer := "any wallet"
	switch msg.(type) {
	case contracts.FinalizeClose:
		now := chainClock(ctx, c.walletFlags, cl)()
		if left := deadline.Sub(now); left > 0 && !noCheck {
			return channelRefuse(contracts.ExitChallengeNotOver, "the challenge period ends at %s, in %v (the provider may still claim until then; the provider owner can end it early with cooperative-close)",
				deadline.Format(time.RFC3339), left.Round(time.Second))
		}
	case contracts.CooperativeClose:
		signer = "the provider owner's wallet " + c.friendly(v.data.PayoutTo, false)
		if w != nil && !w.Address().Equals(v.data.PayoutTo) {
			return channelRefuse(contracts.ExitNotPayee, "only the provider owner %s may end a close early, not wallet %s", c.friendly(v.data.PayoutTo, false), c.friendly(w.Address(), false))
		}
	}
	body, err := contracts.Encode(msg)
	if err != nil {
		return err
	}
	tx, err := c.send(ctx, cl, w, ch, value, body, signer)
	if err != nil || tx == nil {
		return err
	}
	refunded := new(big.Int)
	if m := channelOutgoing(tx, contracts.OpChannelRefund); m != nil {
		refunded = m.Amount.Nano()
	}
	fmt.Fprintf(walletOut, "%s: refunded %s to %s\n", c.verb, channelFormat(refunded), c.friendly(st.RefundTo, false))
	return nil
}
