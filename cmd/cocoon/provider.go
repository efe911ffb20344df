package main

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// Every identifier in this file starts with "provider": other engineers add files to package main
// at the same time, and generic names would collide.

func init() {
	register("provider", "Provider contract: register, show, endpoint, prices, stake, pause, exit (owner's wallet or ton:// links)", providerRun)
}

const providerUsage = `usage: cocoon provider <verb> [flags]

  register       --stake TON        register with the registry (or add stake to an existing provider)
  show           [--owner ADDRESS]  print the provider contract's state (default: the wallet's provider)
  set-endpoint   --url URL          publish the RA-TLS endpoint (https://host[:port][/path], at most 127 bytes)
  set-price      --model-id N --prompt TON --completion TON   price a registry model, TON per 1M tokens
  remove-price   --model-id N       stop serving a model
  add-stake      --amount TON       bond more stake
  unstake        --amount TON       move stake to unbonding (unlocks after the registry's unbonding period)
  withdraw                          pay unlocked unbonding stake out to the owner
  pause | resume                    stop / restart serving; the stake stays bonded
  exit                              move all stake to unbonding and stop serving

The owner's wallet (see 'cocoon wallet') signs each message and the command waits for the provider's
transaction, or with --link prints a ton://transfer link for the owner to sign elsewhere (give
--owner then). The provider contract is the registry's get_provider_address(owner); the registry
address comes from --registry or $` + envRegistry + `. Unused attached TON is returned by the contract.
Run 'cocoon provider <verb> -h' for a verb's flags.`

// Fee constants mirrored from tolk/src/fees-management.tolk (TestProviderFeeConstants compares them).
const (
	providerGasRegistryRegister     = 13000 // GAS_REGISTRY_REGISTER
	providerGasProviderRegistration = 5500  // GAS_PROVIDER_REGISTRATION
	providerGasOwnerOp              = 8500  // GAS_PROVIDER_OWNER_OP
	providerMinTonsForStorage       = 20_000_000
)

// providerFeeHeadroom is attached above the computed registration fee, so a rise of the network's
// prices does not make registration fail; the provider returns whatever was not spent.
const providerFeeHeadroom = 50_000_000 // 0.05 TON

// Basechain gas and forwarding prices (config params 21 and 25) of mainnet and testnet, which the
// devnet's config copies; TestProviderFeeConstants checks them against the devnet's config.
var (
	providerBasechainGas = tlb.ConfigGasLimitsPrices{HasFlatPricing: true, FlatGasLimit: 100, FlatGasPrice: 40_000, GasPrice: 26_214_400}
	providerBasechainFwd = tlb.ConfigMsgForwardPrices{LumpPrice: 400_000, BitPrice: 26_214_400, CellPrice: 2_621_440_000}
)

// providerDefaultOpValue is what owner ops attach: several times the owner-op gas fee (0.0034 TON);
// the provider sends all of it back minus fees.
const providerDefaultOpValue = "0.05"

var (
	// providerErrNotRegistered: the owner has no provider the registry initialised.
	providerErrNotRegistered = errors.New("no registered provider")
	// providerErrUnknownModel: set-price for a model id the registry does not list.
	providerErrUnknownModel = errors.New("model not in the registry")
)

// providerCmd is one provider verb's flags and state.
type providerCmd struct {
	*regCmd
	verb  string
	owner string
}

// providerVerbHelp is each verb's synopsis and what it does, for 'cocoon provider VERB -h'.
var providerVerbHelp = map[string][2]string{
	"register": {"--stake TON [--value TON]", "Sends RegisterProvider from the wallet to the registry, which deploys the wallet's provider\n" +
		"contract (at get_provider_address(owner)) or, when it exists, adds the stake to it. The message\n" +
		"carries the stake plus the registry's fee: the 0.02 TON storage reserve the provider contract keeps,\n" +
		"the registry's and the provider's gas and the deploy message's forward fee, computed from the\n" +
		"contracts' measured gas constants and the basechain prices (--value shows the bound and the default)."},
	"show": {"[--owner ADDRESS]", "Prints what the provider's getters expose: status, stake, unbonding and unlock time, endpoint,\n" +
		"model prices, attestation and the vote round, usage totals; money in TON."},
	"set-endpoint": {"--url https://HOST[:PORT][/PATH]", "Publishes the RA-TLS endpoint clients connect to: an https URL of at most 127 bytes, without\n" +
		"credentials, query or fragment (checked here before anything is signed)."},
	"set-price": {"--model-id N --prompt TON --completion TON", "Adds or reprices a model, in TON per 1M prompt and completion tokens. The model must be in the\n" +
		"registry's catalog (checked here: the provider contract accepts any id); at most 32 models."},
	"remove-price": {"--model-id N", "Stops serving a model (the contract refuses an id it has no price for)."},
	"add-stake":    {"--amount TON", "Bonds more stake; the message carries --amount plus --value. An exiting or slashed provider\nbecomes active again once its stake reaches the minimum."},
	"unstake": {"--amount TON", "Moves stake to unbonding. An active or paused provider must keep the minimum stake. The unlock\n" +
		"time becomes now + the unbonding period, for the whole unbonding amount."},
	"withdraw": {"", "Pays the unbonding stake out to the owner once its unlock time has passed."},
	"pause":    {"", "Stops serving (active → paused); the stake stays bonded."},
	"resume":   {"", "Serves again (paused → active); needs the minimum stake."},
	"exit":     {"", "Moves all stake to unbonding and stops serving; withdraw it after the unbonding period."},
}

func providerNewCmd(verb, defValue string) *providerCmd {
	p := &providerCmd{regCmd: newRegCmd(verb, defValue), verb: verb}
	p.fs.Init("provider "+verb, flag.ContinueOnError)
	p.fs.Usage = func() {
		h := providerVerbHelp[verb]
		fmt.Fprintf(p.fs.Output(), "usage: cocoon provider %s %s [flags]\n\n%s\n\nflags:\n", verb, h[0], h[1])
		p.fs.PrintDefaults()
	}
	p.fs.StringVar(&p.owner, "owner", "", "the provider owner's address (default: the wallet's address; required with --link when no wallet is configured)")
	p.fs.Lookup("value").Usage = "TON attached to the message; the provider returns what it does not spend"
	p.fs.Lookup("no-wait").Usage = "do not wait for the contract's transaction"
	return p
}

func providerRun(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, providerUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "register":
		return providerRegister(ctx, rest)
	case "show":
		return providerShow(ctx, rest)
	case "set-endpoint", "set-price", "remove-price", "add-stake", "unstake", "withdraw", "pause", "resume", "exit":
		return providerOwnerOp(ctx, verb, rest)
	case "-h", "--help", "help":
		fmt.Fprintln(walletOut, providerUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, verb, providerUsage)
}

// ownerAddress is --owner, or the wallet's address. The wallet is nil when --owner was given.
func (p *providerCmd) ownerAddress() (*address.Address, *wallet.Wallet, error) {
	if p.owner != "" {
		a, _, err := p.parseAddress(p.owner)
		if err != nil {
			return nil, nil, err
		}
		if a.Workchain() != 0 {
			return nil, nil, fmt.Errorf("%w: --owner %s is not in the basechain; provider owners must be (the registry refuses others)", errUsage, p.owner)
		}
		return a, nil, nil
	}
	w, err := p.loadWallet()
	if err != nil {
		if p.link {
			return nil, nil, fmt.Errorf("%w: give the owner's address with --owner (no wallet to take it from: %v)", errUsage, err)
		}
		return nil, nil, err
	}
	return w.Address(), w, nil
}

// providerState is a provider as the chain shows it now.
type providerState struct {
	addr *address.Address
	acc  *chain.Account
	data *contracts.ProviderData
}

// lookup resolves owner's provider through the registry's getter and reads its data. A provider
// that is not deployed or not initialised yet is providerErrNotRegistered (the state is returned
// anyway, with data nil when the account is not active).
func (p *providerCmd) lookup(ctx context.Context, c chain.Client, reg, owner *address.Address) (*providerState, error) {
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	racc, err := c.GetAccount(ctx, reg)
	if err != nil {
		return nil, err
	}
	if racc.State != chain.StateActive {
		return nil, fmt.Errorf("no registry at %s: the account is %s", p.friendly(reg, true), racc.State)
	}
	addr, err := rc.ProviderAddress(ctx, owner)
	if err != nil {
		return nil, err
	}
	st := &providerState{addr: addr}
	if st.acc, err = c.GetAccount(ctx, addr); err != nil {
		return nil, err
	}
	notRegistered := fmt.Errorf("%w for owner %s under registry %s (provider address %s): register first with 'cocoon provider register --stake TON'",
		providerErrNotRegistered, p.friendly(owner, false), p.friendly(reg, true), p.friendly(addr, true))
	if st.acc.State != chain.StateActive {
		return st, notRegistered
	}
	if st.data, err = (contracts.ProviderClient{Chain: c, Address: addr}).Data(ctx); err != nil {
		return nil, err
	}
	if st.data.Status == contracts.ProviderUnregistered {
		return st, notRegistered
	}
	return st, nil
}

// providerHop is a contract transaction a send waits for: on addr, caused by an internal message from.
type providerHop struct {
	name     string // "registry" or "provider", for messages
	addr     *address.Address
	from     *address.Address
	beforeLT uint64
}

// send delivers body to dst from the wallet and waits for the contract transactions it causes: the
// one on dst, then next (when not nil) caused by dst. With --link it prints a link instead. It
// returns the last contract transaction (nil with --link or --no-wait) and names a refusal's exit code.
func (p *providerCmd) send(ctx context.Context, c chain.Client, w *wallet.Wallet, dstName string, dst *address.Address, value *big.Int, body *cell.Cell, next *providerHop) (*tlb.Transaction, error) {
	what := p.verb
	if p.link {
		link, err := p.tonLink(dst, value, body, nil)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(walletOut, "%s: sign and send this transfer (%s TON) from the provider owner's wallet:\n%s\n", what, wallet.FormatTON(value), link)
		return nil, nil
	}
	before, err := c.GetAccount(ctx, dst)
	if err != nil {
		return nil, err
	}
	if next != nil {
		acc, err := c.GetAccount(ctx, next.addr)
		if err != nil {
			return nil, err
		}
		next.beforeLT = acc.LastTxLT
	}
	own, err := c.GetAccount(ctx, w.Address())
	if err != nil {
		return nil, err
	}
	// Wallets send with "ignore errors": an unaffordable transfer would be skipped silently.
	if own.Balance.Cmp(value) <= 0 {
		return nil, fmt.Errorf("wallet %s holds %s TON, not enough to attach %s TON plus fees", p.friendly(w.Address(), false), wallet.FormatTON(own.Balance), wallet.FormatTON(value))
	}
	opts := wallet.SendOptions{TTL: 2 * time.Minute, Wait: true, Now: chainClock(ctx, p.walletFlags, c), Poll: txwait.Options{Interval: time.Second}}
	if p.network == "devnet" {
		opts.Poll.Interval = 20 * time.Millisecond
	}
	sent, err := w.Send(ctx, c, opts, wallet.Transfer{To: dst, Amount: value, Bounce: true, Body: body})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if sent.Transaction.OutMsgCount == 0 {
		return nil, fmt.Errorf("%s: %w: the wallet's transaction sent no message", what, wallet.ErrFailed)
	}
	fmt.Fprintf(walletOut, "%s: sent %s TON from %s (seqno %d)\n", what, wallet.FormatTON(value), p.friendly(w.Address(), false), sent.Seqno)
	if p.noWait {
		return nil, nil
	}
	hops := []providerHop{{name: dstName, addr: dst, from: w.Address(), beforeLT: before.LastTxLT}}
	if next != nil {
		hops = append(hops, *next)
	}
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	var tx *tlb.Transaction
	for _, h := range hops {
		if tx, err = txwait.Wait(wctx, c, h.addr, h.beforeLT, txwait.InternalFrom(h.from), opts.Poll); err != nil {
			return nil, fmt.Errorf("%s: the message was sent but the %s's transaction did not show up: %w", what, h.name, err)
		}
		if err := registryOutcome(tx); err != nil {
			return nil, fmt.Errorf("%s: the %s refused it: %w", what, h.name, err)
		}
	}
	fmt.Fprintf(walletOut, "%s: done in %s transaction lt %d hash %s\n", what, hops[len(hops)-1].name, tx.LT, hex.EncodeToString(tx.Hash))
	return tx, nil
}

// providerRegistrationFee is an upper bound of what RegisterProvider needs on top of the stake
// (registry.tolk): MIN_TONS_FOR_STORAGE, which the provider keeps as its storage reserve, the
// registry's and the provider's gas, and the forward fee of the registry's deploy message, counted
// here with the StateInit and the body both as separate cells (the registry may inline them, which
// costs less) and the widest stake and minimum-stake amounts.
func providerRegistrationFee(providerCode *cell.Cell) (*big.Int, error) {
	maxCoins := tlb.FromNanoTON(new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1)))
	anyAddr := address.MustParseRawAddr("0:" + strings.Repeat("ff", 32))
	data, err := contracts.ProviderInitData(anyAddr, anyAddr)
	if err != nil {
		return nil, err
	}
	init, err := tlb.ToCell(&tlb.StateInit{Code: providerCode, Data: data})
	if err != nil {
		return nil, fmt.Errorf("failed to build the provider's state init: %w", err)
	}
	body, err := contracts.Encode(contracts.ProviderRegistration{QueryID: math.MaxUint64, Owner: anyAddr, StakeAmount: maxCoins,
		Params: &contracts.ProviderParams{MinStake: maxCoins, UnbondingPeriod: math.MaxUint32, Treasury: anyAddr}})
	if err != nil {
		return nil, err
	}
	cells, bits := providerCellStats(init, body)
	fee := providerBasechainFwd.ComputeForwardFee(cells, bits)
	fee.Add(fee, providerBasechainGas.ComputeGasPrice(providerGasRegistryRegister))
	fee.Add(fee, providerBasechainGas.ComputeGasPrice(providerGasProviderRegistration))
	return fee.Add(fee, big.NewInt(providerMinTonsForStorage)), nil
}

// providerCellStats counts the distinct cells and their bits in the given trees, as the TVM
// measures a message for its forward fee.
func providerCellStats(roots ...*cell.Cell) (cells, bits uint64) {
	seen := map[string]bool{}
	var walk func(c *cell.Cell)
	walk = func(c *cell.Cell) {
		k := string(c.Hash())
		if seen[k] {
			return
		}
		seen[k] = true
		cells++
		bits += uint64(c.BitsSize())
		for i := 0; i < int(c.RefsNum()); i++ {
			if r, err := c.PeekRef(i); err == nil {
				walk(r)
			}
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return cells, bits
}

func providerRegister(ctx context.Context, args []string) error {
	fee, err := providerRegistrationFee(contracts.ProviderCode())
	if err != nil {
		return err
	}
	p := providerNewCmd("register", wallet.FormatTON(new(big.Int).Add(fee, big.NewInt(providerFeeHeadroom))))
	p.fs.Lookup("value").Usage = fmt.Sprintf("TON attached on top of --stake for the fee: the registry needs at most %s TON "+
		"(with this build's provider code; %s TON of it stays in the provider as its storage reserve); the default adds %s TON "+
		"of headroom, and the provider returns what is not spent",
		wallet.FormatTON(fee), wallet.FormatTON(big.NewInt(providerMinTonsForStorage)), wallet.FormatTON(big.NewInt(providerFeeHeadroom)))
	stakeFlag := p.fs.String("stake", "", "stake to bond, TON (at least the registry's minimum provider stake; see 'cocoon registry show')")
	reg, value, err := p.parseReg(args, true)
	if err != nil {
		return err
	}
	if *stakeFlag == "" {
		return fmt.Errorf("%w: register needs --stake TON", errUsage)
	}
	stake, err := wallet.ParseTON(*stakeFlag)
	if err != nil || stake.Sign() == 0 {
		return fmt.Errorf("%w: --stake must be a positive TON amount", errUsage)
	}
	valueSet := false
	p.fs.Visit(func(f *flag.Flag) { valueSet = valueSet || f.Name == "value" })
	var owner *address.Address
	var w *wallet.Wallet
	if !p.link || p.owner != "" {
		if owner, w, err = p.ownerAddress(); err != nil {
			return err
		}
	}
	if !p.link && w == nil {
		// The registry registers the sender: --owner cannot name anyone but the wallet.
		if w, err = p.loadWallet(); err != nil {
			return err
		}
		if !w.Address().Equals(owner) {
			return fmt.Errorf("%w: the registry registers the sending wallet %s; --owner %s differs (use --link to have the owner sign)", errUsage, p.friendly(w.Address(), false), p.owner)
		}
	}
	c, release, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	codes, err := rc.Codes(ctx)
	if err != nil {
		return err
	}
	if !valueSet && !bytes.Equal(codes.ProviderCode.Hash(), contracts.ProviderCode().Hash()) {
		// Another provider code deploys another StateInit: recompute the bound for it.
		if fee, err = providerRegistrationFee(codes.ProviderCode); err != nil {
			return err
		}
		value = fee.Add(fee, big.NewInt(providerFeeHeadroom))
	}
	total := new(big.Int).Add(stake, value)
	var next *providerHop
	if owner != nil {
		st, err := p.lookup(ctx, c, reg, owner)
		switch {
		case err == nil:
			fmt.Fprintf(walletOut, "provider: %s (already registered, %s, stake %s TON: the stake is added)\n",
				p.friendly(st.addr, true), st.data.EffectiveStatus, wallet.FormatTON(st.data.Stake.Nano()))
		case errors.Is(err, providerErrNotRegistered):
			fmt.Fprintf(walletOut, "provider: %s (raw %s)\n", p.friendly(st.addr, true), st.addr.StringRaw())
		default:
			return err
		}
		next = &providerHop{name: "provider", addr: st.addr, from: reg}
	} else {
		fmt.Fprintln(walletOut, "provider: the registry derives it from the signing wallet: see 'cocoon provider show --owner ADDRESS' once registered")
	}
	body, err := contracts.Encode(contracts.RegisterProvider{QueryID: p.queryID, StakeAmount: tlb.FromNanoTON(stake)})
	if err != nil {
		return err
	}
	tx, err := p.send(ctx, c, w, "registry", reg, total, body, next)
	if err != nil || tx == nil {
		return err
	}
	d, err := contracts.ProviderClient{Chain: c, Address: next.addr}.Data(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "provider: %s %s, stake %s TON\n", p.friendly(next.addr, true), d.EffectiveStatus, wallet.FormatTON(d.Stake.Nano()))
	return nil
}

// providerCheckEndpoint applies the contract's rule (isEndpointValid: 1..127 bytes, one cell) and
// what clients need to reach an RA-TLS listener: an absolute https URL with a host, without
// credentials, query or fragment.
func providerCheckEndpoint(s string) error {
	if len(s) == 0 || len(s) > contracts.MaxEndpointBytes {
		return fmt.Errorf("%w: --url is %d bytes; the provider contract takes 1..%d", errUsage, len(s), contracts.MaxEndpointBytes)
	}
	if strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		return fmt.Errorf("%w: --url %q contains spaces or control characters", errUsage, s)
	}
	u, err := url.Parse(s)
	if err != nil {
		return fmt.Errorf("%w: --url %q is not a URL: %v", errUsage, s, err)
	}
	switch {
	case u.Scheme != "https":
		return fmt.Errorf("%w: --url %q must start with https:// (clients reach providers over RA-TLS)", errUsage, s)
	case u.Host == "" || u.Hostname() == "":
		return fmt.Errorf("%w: --url %q has no host", errUsage, s)
	case u.User != nil:
		return fmt.Errorf("%w: --url %q must not carry credentials: it is public on-chain", errUsage, s)
	case u.RawQuery != "" || u.Fragment != "" || strings.ContainsAny(s, "?#"):
		return fmt.Errorf("%w: --url %q must not have a query or fragment (clients append their own paths)", errUsage, s)
	}
	return nil
}

// providerOwnerOp handles the verbs that are one owner → provider message each.
func providerOwnerOp(ctx context.Context, verb string, args []string) error {
	p := providerNewCmd(verb, providerDefaultOpValue)
	var urlFlag, prompt, completion, amount *string
	var modelID *uint64
	switch verb {
	case "set-endpoint":
		urlFlag = p.fs.String("url", "", "the provider's RA-TLS endpoint: https://host[:port][/path], at most 127 bytes")
	case "set-price":
		prompt = p.fs.String("prompt", "", "price of 1M prompt tokens, TON")
		completion = p.fs.String("completion", "", "price of 1M completion tokens, TON")
		fallthrough
	case "remove-price":
		modelID = p.fs.Uint64("model-id", 0, "the registry's model id")
	case "add-stake":
		amount = p.fs.String("amount", "", "stake to add, TON (attached on top of --value)")
	case "unstake":
		amount = p.fs.String("amount", "", "stake to move to unbonding, TON")
	}
	reg, value, err := p.parseReg(args, true)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	p.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	tonFlag := func(name string, s *string, positive bool) (*big.Int, error) {
		if !set[name] {
			return nil, fmt.Errorf("%w: %s needs --%s TON", errUsage, verb, name)
		}
		n, err := wallet.ParseTON(*s)
		if err != nil {
			return nil, fmt.Errorf("%w: --%s: %v", errUsage, name, err)
		}
		if positive && n.Sign() == 0 {
			return nil, fmt.Errorf("%w: --%s must be more than 0", errUsage, name)
		}
		return n, nil
	}
	if modelID != nil {
		if !set["model-id"] {
			return fmt.Errorf("%w: %s needs --model-id N", errUsage, verb)
		}
		if *modelID > math.MaxUint32 {
			return fmt.Errorf("%w: --model-id must fit 32 bits", errUsage)
		}
	}

	// Everything that needs no chain is checked before connecting.
	var msg contracts.Message
	var stakeAmount *big.Int
	switch verb {
	case "set-endpoint":
		if !set["url"] {
			return fmt.Errorf("%w: set-endpoint needs --url URL", errUsage)
		}
		if err := providerCheckEndpoint(*urlFlag); err != nil {
			return err
		}
		text, err := contracts.TextCell(*urlFlag, contracts.MaxEndpointBytes)
		if err != nil {
			return fmt.Errorf("%w: --url: %v", errUsage, err)
		}
		msg = contracts.SetEndpoint{QueryID: p.queryID, Endpoint: text}
	case "set-price":
		pp, err := tonFlag("prompt", prompt, false)
		if err != nil {
			return err
		}
		cp, err := tonFlag("completion", completion, false)
		if err != nil {
			return err
		}
		msg = contracts.SetModelPrice{QueryID: p.queryID, ModelID: uint32(*modelID),
			PromptPricePerMillion: tlb.FromNanoTON(pp), CompletionPricePerMillion: tlb.FromNanoTON(cp)}
	case "remove-price":
		msg = contracts.RemoveModelPrice{QueryID: p.queryID, ModelID: uint32(*modelID)}
	case "add-stake":
		if stakeAmount, err = tonFlag("amount", amount, true); err != nil {
			return err
		}
		msg = contracts.AddStake{QueryID: p.queryID, Amount: tlb.FromNanoTON(stakeAmount)}
		value = new(big.Int).Add(value, stakeAmount)
	case "unstake":
		n, err := tonFlag("amount", amount, true)
		if err != nil {
			return err
		}
		msg = contracts.RequestUnstake{QueryID: p.queryID, Amount: tlb.FromNanoTON(n)}
	case "withdraw":
		msg = contracts.WithdrawUnbonded{QueryID: p.queryID}
	case "pause":
		msg = contracts.PauseProvider{QueryID: p.queryID}
	case "resume":
		msg = contracts.ResumeProvider{QueryID: p.queryID}
	case "exit":
		msg = contracts.ExitProvider{QueryID: p.queryID}
	}
	body, err := contracts.Encode(msg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	owner, w, err := p.ownerAddress()
	if err != nil {
		return err
	}
	if w == nil && !p.link {
		// --owner names the provider; the wallet still signs (the contract refuses anyone but the owner).
		if w, err = p.loadWallet(); err != nil {
			return err
		}
	}

	c, release, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	if m, ok := msg.(contracts.SetModelPrice); ok {
		// The provider contract prices any id; only the registry knows which models exist.
		found, err := contracts.RegistryClient{Chain: c, Address: reg}.Model(ctx, m.ModelID)
		if err != nil {
			return err
		}
		if !found.Found {
			return fmt.Errorf("%w: model %d is not in registry %s (its governance adds models with 'cocoon registry add-model'; see 'cocoon registry show')",
				providerErrUnknownModel, m.ModelID, p.friendly(reg, true))
		}
	}
	st, err := p.lookup(ctx, c, reg, owner)
	if err != nil {
		return err
	}
	tx, err := p.send(ctx, c, w, "provider", st.addr, value, body, nil)
	if code, ok := contracts.AsExitCode(err); ok {
		if hint := providerHint(ctx, c, p, st, code, w); hint != "" {
			return fmt.Errorf("%w: %s", err, hint)
		}
	}
	if err != nil || tx == nil {
		return err
	}
	if verb == "withdraw" {
		if paid, ok := providerWithdrawn(tx); ok {
			fmt.Fprintf(walletOut, "withdraw: %s TON of unbonded stake paid to %s\n", wallet.FormatTON(paid), p.friendly(owner, false))
		}
	}
	return nil
}

// providerWhen renders a contract's unix time in UTC and relative to the chain's clock.
func providerWhen(now time.Time, unix uint32) string {
	t := time.Unix(int64(unix), 0).UTC()
	rel := t.Sub(now).Round(time.Second)
	if rel >= 0 {
		return fmt.Sprintf("%s (in %v)", t.Format(time.DateTime+" UTC"), rel)
	}
	return fmt.Sprintf("%s (%v ago)", t.Format(time.DateTime+" UTC"), -rel)
}

// providerHint explains a refusal from the provider's state before the message, when it can.
func providerHint(ctx context.Context, c chain.Client, p *providerCmd, st *providerState, code contracts.ExitCode, w *wallet.Wallet) string {
	d := st.data
	switch code {
	case contracts.ExitUnbondingLocked:
		return "the unbonding stake unlocks at " + providerWhen(chainClock(ctx, p.walletFlags, c)(), d.UnlockAt)
	case contracts.ExitNothingToWithdraw:
		return "nothing is unbonding: run 'cocoon provider unstake' or 'exit' first"
	case contracts.ExitNotOwner:
		return fmt.Sprintf("the provider's owner is %s, the signing wallet is %s", p.friendly(d.Owner, false), p.friendly(w.Address(), false))
	case contracts.ExitInvalidStatus:
		return "the provider is " + d.EffectiveStatus.String()
	case contracts.ExitProviderJailed:
		return "stake movements are frozen until " + providerWhen(chainClock(ctx, p.walletFlags, c)(), d.JailedUntil)
	case contracts.ExitStakeWouldDropBelowMinimum, contracts.ExitStakeBelowMinimum, contracts.ExitAmountExceedsStake:
		params, err := contracts.ProviderClient{Chain: c, Address: st.addr}.Params(ctx)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("the stake is %s TON, the minimum %s TON (to unstake everything, run 'cocoon provider exit')",
			wallet.FormatTON(d.Stake.Nano()), wallet.FormatTON(params.MinStake.Nano()))
	}
	return ""
}

// providerWithdrawn finds the StakeWithdrawn message in the provider's transaction.
func providerWithdrawn(tx *tlb.Transaction) (*big.Int, bool) {
	if tx.IO.Out == nil {
		return nil, false
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		return nil, false
	}
	for _, m := range msgs {
		if m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		if sw, err := contracts.DecodeAs[contracts.StakeWithdrawn](m.AsInternal().Body); err == nil {
			return sw.Amount.Nano(), true
		}
	}
	return nil, false
}

func providerShow(ctx context.Context, args []string) error {
	p := providerNewCmd("show", "0")
	reg, _, err := p.parseReg(args, true)
	if err != nil {
		return err
	}
	owner, _, err := p.ownerAddress()
	if err != nil {
		return err
	}
	c, release, err := p.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	st, err := p.lookup(ctx, c, reg, owner)
	if err != nil {
		return err
	}
	pc := contracts.ProviderClient{Chain: c, Address: st.addr}
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	params, err := pc.Params(ctx)
	if err != nil {
		return err
	}
	profile, err := pc.Profile(ctx)
	if err != nil {
		return err
	}
	att, err := pc.Attestation(ctx)
	if err != nil {
		return err
	}
	usage, err := pc.Usage(ctx)
	if err != nil {
		return err
	}
	regParams, err := rc.Params(ctx)
	if err != nil {
		return err
	}
	models, err := rc.Models(ctx)
	if err != nil {
		return err
	}
	now := chainClock(ctx, p.walletFlags, c)()
	d := st.data
	ton := func(x tlb.Coins) string { return wallet.FormatTON(x.Nano()) + " TON" }
	when := func(unix uint32) string { return providerWhen(now, unix) }

	o := walletOut
	fmt.Fprintf(o, "provider:          %s (raw %s)\n", p.friendly(st.addr, true), st.addr.StringRaw())
	fmt.Fprintf(o, "owner:             %s\n", p.friendly(d.Owner, false))
	fmt.Fprintf(o, "registry:          %s\n", p.friendly(d.Registry, true))
	fmt.Fprintf(o, "balance:           %s TON\n", wallet.FormatTON(st.acc.Balance))
	status := d.EffectiveStatus.String()
	if d.EffectiveStatus != d.Status {
		status += " until " + when(d.JailedUntil) + ", then " + d.Status.String()
	}
	fmt.Fprintf(o, "status:            %s\n", status)
	minNote := ""
	if params.MinStake.Nano().Cmp(regParams.MinProviderStake.Nano()) != 0 {
		minNote = fmt.Sprintf(" (the registry's is now %s; the provider learns it at its next registry message)", ton(regParams.MinProviderStake))
	}
	fmt.Fprintf(o, "stake:             %s (minimum %s%s)\n", ton(d.Stake), ton(params.MinStake), minNote)
	unbonding := "none"
	if d.UnbondingAmount.Nano().Sign() > 0 {
		unbonding = ton(d.UnbondingAmount) + ", unlocks " + when(d.UnlockAt)
		if uint32(now.Unix()) >= d.UnlockAt {
			unbonding = ton(d.UnbondingAmount) + ", unlocked since " + when(d.UnlockAt) + ": run 'cocoon provider withdraw'"
		}
	}
	fmt.Fprintf(o, "unbonding:         %s\n", unbonding)
	fmt.Fprintf(o, "unbonding period:  %v\n", time.Duration(params.UnbondingPeriod)*time.Second)
	// Surplus (top-ups, rounding) goes back to the owner with the next owner op.
	surplus := new(big.Int).Sub(st.acc.Balance, d.Stake.Nano())
	surplus.Sub(surplus, d.UnbondingAmount.Nano())
	surplus.Sub(surplus, big.NewInt(providerMinTonsForStorage))
	if surplus.Sign() > 0 {
		fmt.Fprintf(o, "surplus:           %s TON (returned to the owner with the next owner operation)\n", wallet.FormatTON(surplus))
	}
	if d.JailedUntil != 0 && d.EffectiveStatus == d.Status {
		fmt.Fprintf(o, "jailed until:      %s (over)\n", when(d.JailedUntil))
	}
	if params.Treasury != nil {
		fmt.Fprintf(o, "treasury:          %s\n", p.friendly(params.Treasury, true))
	}
	endpoint := "not set (run 'cocoon provider set-endpoint')"
	if profile.Endpoint != "" {
		endpoint = profile.Endpoint
	}
	fmt.Fprintf(o, "endpoint:          %s\n", endpoint)
	names := map[uint32]string{}
	for _, m := range models {
		names[m.ID] = m.Name
	}
	fmt.Fprintf(o, "models (%d), TON per 1M tokens:\n", len(profile.Prices))
	for _, m := range profile.Prices {
		name, ok := names[m.ModelID]
		label := fmt.Sprintf("%q", name)
		if !ok {
			label = "(no longer in the registry)"
		}
		fmt.Fprintf(o, "  %d %s prompt %s, completion %s\n", m.ModelID, label, ton(m.PromptPricePerMillion), ton(m.CompletionPricePerMillion))
	}
	zero := func(h []byte) bool { return strings.Trim(hex.EncodeToString(h), "0") == "" }
	switch {
	case att.Attested:
		fmt.Fprintf(o, "attestation:       attested until %s, since %s\n", when(att.ValidUntil), when(att.AttestedAt))
	case !zero(att.MeasurementHash):
		fmt.Fprintf(o, "attestation:       expired at %s\n", when(att.ValidUntil))
	default:
		fmt.Fprintf(o, "attestation:       not attested (no oracle quorum yet)\n")
	}
	if !zero(att.MeasurementHash) {
		kind, err := rc.MeasurementKind(ctx, att.MeasurementHash)
		if err != nil {
			return err
		}
		allowed := kind.String()
		if kind == 0 {
			allowed = "no longer allowed by the registry"
		}
		fmt.Fprintf(o, "  measurement:     %s (%s)\n", hex.EncodeToString(att.MeasurementHash), allowed)
		fmt.Fprintf(o, "  evidence digest: %s\n", hex.EncodeToString(att.EvidenceDigest))
		fmt.Fprintf(o, "  tls key hash:    %s\n", hex.EncodeToString(att.TLSKeyHash))
	}
	sameRound := bytes.Equal(att.RoundMeasurementHash, att.MeasurementHash) && bytes.Equal(att.RoundEvidenceDigest, att.EvidenceDigest) &&
		bytes.Equal(att.RoundTLSKeyHash, att.TLSKeyHash) && att.RoundValidUntil == att.ValidUntil
	if att.RoundVoteCount > 0 && !sameRound { // a confirmed round stays the round until new votes arrive
		fmt.Fprintf(o, "vote round:        %d of %d votes, valid until %s\n", att.RoundVoteCount, regParams.OracleQuorum, when(att.RoundValidUntil))
		fmt.Fprintf(o, "  measurement:     %s\n", hex.EncodeToString(att.RoundMeasurementHash))
		fmt.Fprintf(o, "  evidence digest: %s\n", hex.EncodeToString(att.RoundEvidenceDigest))
		fmt.Fprintf(o, "  tls key hash:    %s\n", hex.EncodeToString(att.RoundTLSKeyHash))
	}
	fmt.Fprintf(o, "usage:             %d prompt tokens, %d completion tokens, earned %s\n", usage.PromptTokens, usage.CompletionTokens, ton(usage.Earned))
	return nil
}
