package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/big"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
)

func init() {
	register("wallet", "TON wallet: new, import, address, balance, send", runWallet)
}

// Where wallet commands write and read; tests swap them.
var (
	walletOut io.Writer = os.Stdout
	walletIn  io.Reader = os.Stdin
)

const (
	envMnemonic = keys.EnvMnemonic
	envKeyFile  = keys.EnvWalletKeyFile
	envNetwork  = "COCOON_NETWORK"
	envRPC      = "COCOON_RPC"
	envAPIKey   = "COCOON_TONCENTER_API_KEY"
)

const walletUsage = `usage: cocoon wallet <new|import|address|balance|send> [flags]

  new        create a wallet: a fresh 24-word mnemonic saved to the key file (0600)
  import     save an existing mnemonic (read from stdin or $` + envMnemonic + `) to the key file
  address    print the wallet address
  balance    print the balance and state of the wallet or of another address
  send       send TON: --to ADDRESS --amount TON [--comment TEXT] [--bounce auto|true|false]

The mnemonic comes from $` + envMnemonic + ` when set and --key-file is not given, otherwise from
the key file (default $` + envKeyFile + ` or ~/.config/cocoon/wallet.key), which must not be readable
by group or others. Run 'cocoon wallet <verb> -h' for the flags of each verb.`

func runWallet(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, walletUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "new":
		return walletNew(rest)
	case "import":
		return walletImport(rest)
	case "address":
		return walletAddress(rest)
	case "balance":
		return walletBalance(ctx, rest)
	case "send":
		return walletSend(ctx, rest)
	case "-h", "--help", "help":
		fmt.Fprintln(walletOut, walletUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, verb, walletUsage)
}

// walletFlags are the flags every verb shares.
type walletFlags struct {
	fs          *flag.FlagSet
	keyFile     string
	version     string
	network     string
	globalID    int
	rpc         string
	apiKey      string
	liteConfig  string
	keyFileSet  bool
	withNetwork bool
}

func newWalletFlags(verb string, withNetwork bool) *walletFlags {
	f := &walletFlags{fs: flag.NewFlagSet("wallet "+verb, flag.ContinueOnError), withNetwork: withNetwork}
	f.fs.SetOutput(io.Discard)
	f.fs.StringVar(&f.keyFile, "key-file", "", "mnemonic file (default $"+envKeyFile+" or ~/.config/cocoon/wallet.key)")
	f.fs.StringVar(&f.version, "version", "v5r1", "wallet contract version: v5r1 or v4r2")
	f.fs.StringVar(&f.network, "network", envOr(envNetwork, "devnet"), "devnet, testnet or mainnet (env "+envNetwork+")")
	f.fs.IntVar(&f.globalID, "global-id", 0, "network global id signed by V5R1 wallets (default: -239 devnet/mainnet, -3 testnet)")
	if withNetwork {
		f.fs.StringVar(&f.rpc, "rpc", os.Getenv(envRPC), "toncenter v2 URL (env "+envRPC+"; default per network)")
		f.fs.StringVar(&f.apiKey, "api-key", os.Getenv(envAPIKey), "toncenter API key (env "+envAPIKey+")")
		f.fs.StringVar(&f.liteConfig, "liteserver-config", "", "use liteservers from this global config file or URL (or \"testnet\"/\"mainnet\") instead of toncenter")
	}
	return f
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

// parse parses args and checks the shared flags; it returns the positional arguments.
func (f *walletFlags) parse(args []string) ([]string, error) {
	// Flags may follow positional arguments ("balance ADDR --network testnet"), so parse in rounds.
	var positional []string
	for {
		if err := f.fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				f.fs.SetOutput(walletOut)
				f.fs.Usage()
				return nil, err
			}
			return nil, fmt.Errorf("%w: %v", errUsage, err)
		}
		args = f.fs.Args()
		if len(args) == 0 {
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	f.fs.Visit(func(fl *flag.Flag) {
		if fl.Name == "key-file" {
			f.keyFileSet = true
		}
	})
	if _, ok := dial.Networks[f.network]; !ok {
		return nil, fmt.Errorf("%w: unknown network %q (want devnet, testnet or mainnet)", errUsage, f.network)
	}
	if _, err := wallet.ParseVersion(f.version); err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if f.withNetwork && f.rpc != "" && f.liteConfig != "" {
		return nil, fmt.Errorf("%w: give either --rpc or --liteserver-config, not both", errUsage)
	}
	if f.withNetwork && f.network == "devnet" && f.liteConfig != "" {
		return nil, fmt.Errorf("%w: the devnet has no liteservers; use --rpc", errUsage)
	}
	return positional, nil
}

func (f *walletFlags) globalIDValue() int32 {
	if f.globalID != 0 {
		return int32(f.globalID)
	}
	return dial.Networks[f.network].GlobalID
}

// keyFilePath is the key file to use: the flag, the environment, or the per-user default.
func (f *walletFlags) keyFilePath() (string, error) { return keys.WalletKeyFile(f.keyFile) }

// loadWallet reads the mnemonic from the environment or the key file and builds the wallet.
func (f *walletFlags) loadWallet() (*wallet.Wallet, error) {
	v, _ := wallet.ParseVersion(f.version)
	return keys.WalletSource{KeyFile: f.keyFile, KeyFileSet: f.keyFileSet, Version: v, GlobalID: f.globalIDValue()}.Wallet()
}

// tonFlag parses a TON amount flag (usage errors name it); positive demands more than zero.
func tonFlag(flagName, s string, positive bool) (*big.Int, error) {
	if s == "" {
		return nil, fmt.Errorf("%w: --%s is required", errUsage, flagName)
	}
	n, err := wallet.ParseTON(s)
	if err != nil {
		return nil, fmt.Errorf("%w: --%s: %v", errUsage, flagName, err)
	}
	if positive && n.Sign() == 0 {
		return nil, fmt.Errorf("%w: --%s must be more than 0 TON", errUsage, flagName)
	}
	return n, nil
}

// friendly renders an address the way wallets show it on this network.
func (f *walletFlags) friendly(a *address.Address, bounceable bool) string {
	return chain.Friendly(a, bounceable, dial.Networks[f.network].Testnet)
}

func (f *walletFlags) printAddress(w *wallet.Wallet) {
	fmt.Fprintf(walletOut, "address:    %s\n", f.friendly(w.Address(), false))
	fmt.Fprintf(walletOut, "bounceable: %s\n", f.friendly(w.Address(), true))
	fmt.Fprintf(walletOut, "raw:        %s\n", w.Address().StringRaw())
	fmt.Fprintf(walletOut, "version:    %s, network %s (global id %d)\n", w.Version(), f.network, f.globalIDValue())
}

func walletNew(args []string) error {
	f := newWalletFlags("new", false)
	show := f.fs.Bool("show-mnemonic", false, "also print the mnemonic (write it down; anyone who sees it owns the wallet)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: new takes no arguments", errUsage)
	}
	path, err := f.keyFilePath()
	if err != nil {
		return err
	}
	words := wallet.NewMnemonic()
	v, _ := wallet.ParseVersion(f.version)
	w, err := wallet.FromMnemonic(words, v, f.globalIDValue())
	if err != nil {
		return err
	}
	if err := keys.WriteMnemonic(path, words); err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "key file:   %s\n", path)
	f.printAddress(w)
	if *show {
		fmt.Fprintf(walletOut, "mnemonic:   %s\n", strings.Join(words, " "))
	}
	return nil
}

func walletImport(args []string) error {
	f := newWalletFlags("import", false)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: import reads the mnemonic from stdin or $%s, not from arguments (they end up in shell history)", errUsage, envMnemonic)
	}
	var words []string
	if env := os.Getenv(envMnemonic); env != "" {
		words = strings.Fields(env)
	} else {
		sc := bufio.NewScanner(io.LimitReader(walletIn, 1<<16))
		for sc.Scan() && len(words) < 24 {
			words = append(words, strings.Fields(sc.Text())...)
		}
		if err := sc.Err(); err != nil {
			return fmt.Errorf("failed to read mnemonic from stdin: %w", err)
		}
	}
	v, _ := wallet.ParseVersion(f.version)
	w, err := wallet.FromMnemonic(words, v, f.globalIDValue())
	if err != nil {
		return fmt.Errorf("failed to import: %w", err)
	}
	path, err := f.keyFilePath()
	if err != nil {
		return err
	}
	if err := keys.WriteMnemonic(path, words); err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "key file:   %s\n", path)
	f.printAddress(w)
	return nil
}

func walletAddress(args []string) error {
	f := newWalletFlags("address", false)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: address takes no arguments", errUsage)
	}
	w, err := f.loadWallet()
	if err != nil {
		return err
	}
	f.printAddress(w)
	return nil
}

// connect opens the chain client the flags select. The returned func releases it.
func (f *walletFlags) connect(ctx context.Context) (chain.Client, func(), error) {
	c, release, err := dial.Dial(ctx, dial.Config{Network: f.network, RPC: f.rpc, APIKey: f.apiKey, LiteserverConfig: f.liteConfig})
	var ce *dial.ConfigError
	if errors.As(err, &ce) {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, ce.Err)
	}
	return c, release, err
}

// parseAddress accepts user-friendly (EQ…/UQ…) and raw (0:hex) addresses. friendly reports
// whether the form carries a bounce flag.
func (f *walletFlags) parseAddress(s string) (a *address.Address, friendly bool, err error) {
	if a, err = chain.ParseAddress(s); err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUsage, err)
	}
	friendly = !strings.Contains(s, ":")
	if friendly && a.IsTestnetOnly() && !dial.Networks[f.network].Testnet {
		return nil, false, fmt.Errorf("%w: %s is a testnet-only address, but the network is %s", errUsage, s, f.network)
	}
	return a, friendly, nil
}

func walletBalance(ctx context.Context, args []string) error {
	f := newWalletFlags("balance", true)
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("%w: balance takes at most one address", errUsage)
	}
	var target *address.Address
	var own *wallet.Wallet
	if len(rest) == 1 {
		if target, _, err = f.parseAddress(rest[0]); err != nil {
			return err
		}
	} else {
		if own, err = f.loadWallet(); err != nil {
			return err
		}
		target = own.Address()
	}
	c, release, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	acc, err := c.GetAccount(ctx, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "address: %s\n", f.friendly(target, acc.State == chain.StateActive && own == nil))
	fmt.Fprintf(walletOut, "state:   %s\n", acc.State)
	fmt.Fprintf(walletOut, "balance: %s TON (%s nanoTON)\n", wallet.FormatTON(acc.Balance), acc.Balance)
	if own != nil && acc.State == chain.StateActive {
		st, err := own.State(ctx, c)
		if err != nil {
			return err
		}
		fmt.Fprintf(walletOut, "seqno:   %d\n", st.Seqno)
	}
	return nil
}

func walletSend(ctx context.Context, args []string) error {
	f := newWalletFlags("send", true)
	to := f.fs.String("to", "", "destination address (EQ…/UQ… or 0:hex)")
	amount := f.fs.String("amount", "", "amount in TON, a decimal with at most 9 decimals (e.g. 1.5)")
	comment := f.fs.String("comment", "", "text comment attached to the transfer")
	bounce := f.fs.String("bounce", "auto", "bounce flag: auto (from the address form; raw addresses bounce only to active accounts), true or false")
	noWait := f.fs.Bool("no-wait", false, "return once the message is accepted instead of waiting for the transaction and the transfer's arrival")
	timeout := f.fs.Duration("timeout", 2*time.Minute, "how long the signed message stays valid; one that expires unincluded is re-signed (twice at most)")
	rest, err := f.parse(args)
	if err != nil {
		return err
	}
	if len(rest) != 0 {
		return fmt.Errorf("%w: send takes flags only (got %q)", errUsage, rest)
	}
	if *to == "" || *amount == "" {
		return fmt.Errorf("%w: send needs --to and --amount", errUsage)
	}
	if *timeout <= 0 {
		return fmt.Errorf("%w: --timeout must be positive", errUsage)
	}
	dst, isFriendly, err := f.parseAddress(*to)
	if err != nil {
		return err
	}
	nano, err := wallet.ParseTON(*amount)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if nano.Sign() == 0 && *comment == "" {
		return fmt.Errorf("%w: sending 0 TON without a comment does nothing", errUsage)
	}
	var bounceMode *bool
	switch *bounce {
	case "auto":
	case "true", "false":
		b, _ := strconv.ParseBool(*bounce)
		bounceMode = &b
	default:
		return fmt.Errorf("%w: --bounce must be auto, true or false", errUsage)
	}
	w, err := f.loadWallet()
	if err != nil {
		return err
	}
	c, release, err := f.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	in := ops.TransferInput{To: dst, Amount: nano, Comment: *comment, Bounce: bounceMode}
	if bounceMode == nil && isFriendly {
		b := dst.IsBounceable()
		in.Bounce = &b
	}
	o, err := f.ops(ctx, c, w, nil, *timeout)
	if err != nil {
		return err
	}
	p, err := o.PlanTransfer(ctx, in)
	if err != nil {
		var ie *ops.InputError
		if errors.As(err, &ie) {
			return fmt.Errorf("%w: %v", errUsage, ie.Err)
		}
		return err
	}
	p.Follow.Timeout = *timeout
	if *noWait {
		p.Wait = ops.WaitAccepted
	}
	out, err := o.SendTransfer(ctx, p)
	if out != nil && out.Accepted {
		sent := out.Sent()
		fmt.Fprintf(walletOut, "sent %s TON to %s (bounce %t) from %s, seqno %d\n",
			wallet.FormatTON(nano), f.friendly(dst, p.Bounce), p.Bounce, f.friendly(w.Address(), false), sent.Seqno)
		if sent.Deploy {
			fmt.Fprintln(walletOut, "the message also deploys the wallet")
		}
		fmt.Fprintf(walletOut, "message hash: %s\n", hex.EncodeToString(sent.Hash))
		printResent("", out)
		if tx := out.Transaction; tx != nil {
			fmt.Fprintf(walletOut, "transaction: lt %d hash %s fees %s TON\n", tx.LT, hex.EncodeToString(tx.Hash), wallet.FormatTON(tx.TotalFees.Coins.Nano()))
		}
	}
	return err
}

// ops is the protocol operations a verb performs on registry (nil: none), reading through c (nil:
// plan only) and sending from w (nil: links only) through a transaction manager whose messages
// stay valid for ttl.
func (f *walletFlags) ops(ctx context.Context, c chain.Client, w *wallet.Wallet, registry *address.Address, ttl time.Duration) (*ops.Ops, error) {
	o := &ops.Ops{Chain: c, Registry: registry, Testnet: dial.Networks[f.network].Testnet}
	if c == nil {
		return o, nil
	}
	now := dial.Clock(ctx, f.network, c)
	o.Clock = func(context.Context) (time.Time, error) { return now(), nil }
	if w != nil {
		mgr, err := txmgr.New(txmgr.Config{Chain: c, Signer: w, TTL: ttl, MaxExpired: 2, PollInterval: dial.PollInterval(f.network), Clock: o.Clock})
		if err != nil {
			return nil, err
		}
		o.Sender = mgr
	}
	return o, nil
}

// printResent says so when the request needed more than one message (prefix starts the line).
func printResent(prefix string, out *txmgr.Outcome) {
	for _, a := range out.Attempts[1:] {
		fmt.Fprintf(walletOut, "%sre-signed (%s): seqno %d, message hash %s\n", prefix, a.Reason, a.Seqno, hex.EncodeToString(a.Hash))
	}
}
