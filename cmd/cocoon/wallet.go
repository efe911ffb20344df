package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/liteserver"
	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
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
	envMnemonic = "COCOON_WALLET_MNEMONIC"
	envKeyFile  = "COCOON_WALLET_KEY_FILE"
	envNetwork  = "COCOON_NETWORK"
	envRPC      = "COCOON_RPC"
	envAPIKey   = "COCOON_TONCENTER_API_KEY"
)

// Networks the wallet knows, with their global id (V5R1 signs it) and default toncenter URL.
var networks = map[string]struct {
	globalID int32
	rpc      string
	testnet  bool
}{
	"devnet":  {globalID: wallet.MainnetGlobalID, rpc: "http://127.0.0.1:8081"},
	"testnet": {globalID: wallet.TestnetGlobalID, rpc: "https://testnet.toncenter.com", testnet: true},
	"mainnet": {globalID: wallet.MainnetGlobalID, rpc: "https://toncenter.com"},
}

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
	if _, ok := networks[f.network]; !ok {
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
	return networks[f.network].globalID
}

// keyFilePath is the key file to use: the flag, the environment, or the per-user default.
func (f *walletFlags) keyFilePath() (string, error) {
	if f.keyFile != "" {
		return f.keyFile, nil
	}
	if p := os.Getenv(envKeyFile); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("failed to find a place for the key file (give --key-file): %w", err)
	}
	return filepath.Join(dir, "cocoon", "wallet.key"), nil
}

// loadWallet reads the mnemonic from the environment or the key file and builds the wallet.
func (f *walletFlags) loadWallet() (*wallet.Wallet, error) {
	v, _ := wallet.ParseVersion(f.version)
	var words []string
	if env := os.Getenv(envMnemonic); env != "" && !f.keyFileSet {
		words = strings.Fields(env)
	} else {
		path, err := f.keyFilePath()
		if err != nil {
			return nil, err
		}
		if words, err = readKeyFile(path); err != nil {
			return nil, err
		}
	}
	w, err := wallet.FromMnemonic(words, v, f.globalIDValue())
	if err != nil {
		return nil, fmt.Errorf("failed to load wallet: %w", err)
	}
	return w, nil
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

// readKeyFile reads a mnemonic file, refusing one that group or others can read or write.
func readKeyFile(path string) ([]string, error) {
	raw, err := readPrivateFile(path, "wallet key file",
		fmt.Sprintf("create one with 'cocoon wallet new' or 'cocoon wallet import', or set $%s", envMnemonic),
		"it holds your mnemonic")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(raw)), nil
}

// readPrivateFile reads a secret file (a wallet mnemonic, a channel key), refusing one that is
// missing (create says how to make one), not a regular file, or readable or writable by group or
// others (holds says what the secret is for).
func readPrivateFile(path, kind, create, holds string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s at %s: %s", kind, path, create)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", kind, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", kind, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has permissions %04o: %s and must be private to you (chmod 600 %s)", kind, path, perm, holds, path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", kind, err)
	}
	return raw, nil
}

// writeKeyFile creates path with mode 0600 (its directory 0700); it never overwrites a file.
func writeKeyFile(path string, words []string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("failed to create key directory: %w", err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("key file %s already exists: refusing to overwrite a key; move it away first", path)
	}
	if err != nil {
		return fmt.Errorf("failed to create key file: %w", err)
	}
	_, werr := fmt.Fprintln(fh, strings.Join(words, " "))
	if err := errors.Join(werr, fh.Sync(), fh.Close()); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("failed to write key file: %w", err)
	}
	return nil
}

// friendly renders an address the way wallets show it on this network.
func (f *walletFlags) friendly(a *address.Address, bounceable bool) string {
	c := a.Copy()
	c.SetBounce(bounceable)
	c.SetTestnetOnly(networks[f.network].testnet)
	return c.String()
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
	if err := writeKeyFile(path, words); err != nil {
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
	if err := writeKeyFile(path, words); err != nil {
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
	if f.liteConfig != "" {
		cfg := f.liteConfig
		switch cfg { // shorthands for the public configs
		case "testnet":
			cfg = "https://ton.org/testnet-global.config.json"
		case "mainnet":
			cfg = "https://ton.org/global.config.json"
		}
		c, err := liteserver.Dial(ctx, liteserver.Config{GlobalConfig: cfg})
		if err != nil {
			return nil, nil, err
		}
		return c, c.Close, nil
	}
	url := f.rpc
	if url == "" {
		url = networks[f.network].rpc
	}
	cfg := toncenter.Config{URL: url, APIKey: f.apiKey}
	if f.network != "devnet" && f.apiKey == "" {
		cfg.RequestsPerSecond = 1 // toncenter's limit without an API key
	}
	c, err := toncenter.New(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, func() {}, nil
}

// parseAddress accepts user-friendly (EQ…/UQ…) and raw (0:hex) addresses. friendly reports
// whether the form carries a bounce flag.
func (f *walletFlags) parseAddress(s string) (a *address.Address, friendly bool, err error) {
	if a, err = chain.ParseAddress(s); err != nil {
		return nil, false, fmt.Errorf("%w: %v", errUsage, err)
	}
	friendly = !strings.Contains(s, ":")
	if friendly && a.IsTestnetOnly() && !networks[f.network].testnet {
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

	// Wallets send with "ignore errors", so an unaffordable transfer would be skipped silently.
	own, err := c.GetAccount(ctx, w.Address())
	if err != nil {
		return err
	}
	if own.Balance.Cmp(nano) <= 0 {
		return fmt.Errorf("wallet %s holds %s TON, not enough to send %s TON plus fees", f.friendly(w.Address(), false), wallet.FormatTON(own.Balance), wallet.FormatTON(nano))
	}
	tr := wallet.Transfer{To: dst, Amount: nano}
	switch {
	case bounceMode != nil:
		tr.Bounce = *bounceMode
	case isFriendly:
		tr.Bounce = dst.IsBounceable()
	default:
		acc, err := c.GetAccount(ctx, dst)
		if err != nil {
			return err
		}
		tr.Bounce = acc.State == chain.StateActive
	}
	if *comment != "" {
		if tr.Body, err = wallet.Comment(*comment); err != nil {
			return fmt.Errorf("%w: %v", errUsage, err)
		}
	}
	mgr, err := f.txManager(ctx, c, w, *timeout)
	if err != nil {
		return err
	}
	req := txmgr.Request{Transfers: []wallet.Transfer{tr}, NoWait: *noWait}
	if !*noWait {
		// Until the transfer arrives (and, bounced, comes back): a script reads balances next.
		req.Follow = txmgr.Follow{All: true, MaxDepth: 2, Timeout: *timeout}
	}
	out, err := mgr.Send(ctx, req)
	if out != nil && out.Accepted {
		sent := out.Sent()
		fmt.Fprintf(walletOut, "sent %s TON to %s (bounce %t) from %s, seqno %d\n",
			wallet.FormatTON(nano), f.friendly(dst, tr.Bounce), tr.Bounce, f.friendly(w.Address(), false), sent.Seqno)
		if sent.Deploy {
			fmt.Fprintln(walletOut, "the message also deploys the wallet")
		}
		fmt.Fprintf(walletOut, "message hash: %s\n", hex.EncodeToString(sent.Hash))
		printResent("", out)
		if tx := out.Transaction; tx != nil {
			fmt.Fprintf(walletOut, "transaction: lt %d hash %s fees %s TON\n", tx.LT, hex.EncodeToString(tx.Hash), wallet.FormatTON(tx.TotalFees.Coins.Nano()))
			if errors.Is(err, txmgr.ErrNotSent) {
				err = fmt.Errorf("%w: the wallet's transaction sent no message (not enough balance for the amount plus fees?)", wallet.ErrFailed)
			}
		}
	}
	return err
}

// txManager is the transaction manager a command sends through: one request per command, so no
// journal (the command waits for its request and prints what became of it); messages valid for ttl
// on the chain's clock, re-signed when another sender took the seqno and at most twice when they
// expire unincluded.
func (f *walletFlags) txManager(ctx context.Context, c chain.Client, w *wallet.Wallet, ttl time.Duration) (*txmgr.Manager, error) {
	now := chainClock(ctx, f, c)
	return txmgr.New(txmgr.Config{Chain: c, Signer: w, TTL: ttl, MaxExpired: 2, PollInterval: f.pollInterval(),
		Clock: func(context.Context) (time.Time, error) { return now(), nil }})
}

// pollInterval is how often a command reads the chain while it waits: often on a local devnet,
// once a second (toncenter's rate without a key) elsewhere.
func (f *walletFlags) pollInterval() time.Duration {
	if f.network == "devnet" {
		return 20 * time.Millisecond
	}
	return time.Second
}

// printResent says so when the request needed more than one message (prefix starts the line).
func printResent(prefix string, out *txmgr.Outcome) {
	for _, a := range out.Attempts[1:] {
		fmt.Fprintf(walletOut, "%sre-signed (%s): seqno %d, message hash %s\n", prefix, a.Reason, a.Seqno, hex.EncodeToString(a.Hash))
	}
}

// chainClock returns the clock to sign valid-until against: the devnet's own clock when it serves
// one (it can run ahead of the wall clock), the wall clock otherwise.
func chainClock(ctx context.Context, f *walletFlags, c chain.Client) func() time.Time {
	type clocked interface {
		DevnetTime(ctx context.Context) (time.Time, error)
	}
	if cc, ok := c.(clocked); ok && f.network == "devnet" {
		if now, err := cc.DevnetTime(ctx); err == nil {
			offset := time.Until(now)
			return func() time.Time { return time.Now().Add(offset) }
		}
	}
	return time.Now
}
