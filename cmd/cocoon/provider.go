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

	"github.com/cocoon-go/cocoon/chain"
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

// providerStorageReserve is MIN_TONS_FOR_STORAGE (tolk/src/fees-management.tolk; a test compares
// them): the provider contract keeps it besides stake and unbonding stake, so show can tell surplus.
const providerStorageReserve = 20_000_000

// providerDefaultOpValue is what owner ops attach: several times the owner-op gas fee
// (GAS_PROVIDER_OWNER_OP, 0.0034 TON); the provider sends all of it back minus fees.
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
	owner string
}

// providerVerbHelp is each verb's synopsis and what it does, for 'cocoon provider VERB -h'.
var providerVerbHelp = map[string][2]string{
	"register": {"--stake TON [--value TON]", "Sends RegisterProvider from the wallet to the registry, which deploys the wallet's provider\n" +
		"contract (at get_provider_address(owner)) or, when it exists, adds the stake to it. The message\n" +
		"carries the stake plus the registry's fee, read from its get_register_fee(stake) just before\n" +
		"sending: the 0.02 TON storage reserve the provider contract keeps, the registry's and the\n" +
		"provider's gas and the deploy message's forward fee. That is exactly what the registry checks\n" +
		"under the network's current config. --value TON attaches another fee instead: the provider returns\n" +
		"what is not spent to the owner at once, and the registry refuses less (exit code 118; the value\n" +
		"comes back). Reading the fee needs the chain (--rpc, $" + envRPC + " or --liteserver-config); with\n" +
		"--link and no chain access give --value (and no --owner, which is looked up on-chain)."},
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
	"pause":    {"", "Stops serving (active → paused); the stake stays bonded. Not while jailed."},
	"resume":   {"", "Serves again (paused, or exiting / slashed after re-staking → active); needs the minimum stake. Not while jailed."},
	"exit":     {"", "Moves all stake to unbonding and stops serving; withdraw it after the unbonding period."},
}

func providerNewCmd(verb, defValue string) *providerCmd {
	p := &providerCmd{regCmd: newRegCmd(verb, defValue)}
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

func providerRegister(ctx context.Context, args []string) error {
	p := providerNewCmd("register", valueAuto)
	p.autoValue = true
	p.fs.Lookup("value").Usage = "TON attached on top of --stake for the registry's fee; " + valueAuto + " reads it from the registry's " +
		"get_register_fee(stake) just before sending (that needs the chain). The provider returns more at once; less is refused " +
		"with exit code 118 and comes back"
	stakeFlag := p.fs.String("stake", "", "stake to bond, TON (at least the registry's minimum provider stake; see 'cocoon registry show')")
	reg, fee, err := p.parseReg(args, true)
	if err != nil {
		return err
	}
	stake, err := tonFlag("stake", *stakeFlag, true)
	if err != nil {
		return err
	}
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
	hops := []contractHop{{"registry", reg}}
	var c chain.Client
	// A link with a given fee and no owner to look up needs no chain at all.
	if fee == nil || owner != nil {
		var release func()
		if c, release, err = p.connect(ctx); err != nil {
			return err
		}
		defer release()
	}
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
		hops = append(hops, contractHop{"provider", st.addr})
	}
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	source := "--value"
	if fee == nil {
		if fee, err = rc.RegisterFee(ctx, stake); err != nil {
			return feeUnread(contracts.MethodGetRegisterFee, p.friendly(reg, true), err, "; or give --value TON to attach that fee without reading it")
		}
		source = contracts.MethodGetRegisterFee
	}
	if owner == nil {
		fmt.Fprintln(walletOut, "provider: the registry derives it from the signing wallet: see 'cocoon provider show --owner ADDRESS' once registered")
	}
	total := new(big.Int).Add(stake, fee)
	fmt.Fprintf(walletOut, "attaching: %s TON = stake %s TON + fee %s TON (%s)\n", wallet.FormatTON(total), wallet.FormatTON(stake), wallet.FormatTON(fee), source)
	body, err := contracts.Encode(contracts.RegisterProvider{QueryID: p.queryID, StakeAmount: tlb.FromNanoTON(stake)})
	if err != nil {
		return err
	}
	txs, err := p.sender().send(ctx, c, w, outgoing{what: "register", signer: "the provider owner's wallet", value: total, body: body, hops: hops})
	if code, ok := contracts.AsExitCode(err); ok && code == contracts.ExitNotEnoughValue && len(txs) == 1 && source == "--value" {
		if need, ferr := rc.RegisterFee(ctx, stake); ferr == nil {
			return fmt.Errorf("%w: the registry asks for %s TON on top of this stake (%s), --value gave %s TON; leave --value out to attach exactly that",
				err, wallet.FormatTON(need), contracts.MethodGetRegisterFee, wallet.FormatTON(fee))
		}
	}
	if err != nil || len(txs) == 0 {
		return err
	}
	provider := hops[len(hops)-1].addr
	d, err := contracts.ProviderClient{Chain: c, Address: provider}.Data(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "provider: %s %s, stake %s TON\n", p.friendly(provider, true), d.EffectiveStatus, wallet.FormatTON(d.Stake.Nano()))
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
	amountFlag := func(name string, s *string, positive bool) (*big.Int, error) {
		if !set[name] {
			return nil, fmt.Errorf("%w: %s needs --%s TON", errUsage, verb, name)
		}
		return tonFlag(name, *s, positive)
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
		pp, err := amountFlag("prompt", prompt, false)
		if err != nil {
			return err
		}
		cp, err := amountFlag("completion", completion, false)
		if err != nil {
			return err
		}
		msg = contracts.SetModelPrice{QueryID: p.queryID, ModelID: uint32(*modelID),
			PromptPricePerMillion: tlb.FromNanoTON(pp), CompletionPricePerMillion: tlb.FromNanoTON(cp)}
	case "remove-price":
		msg = contracts.RemoveModelPrice{QueryID: p.queryID, ModelID: uint32(*modelID)}
	case "add-stake":
		if stakeAmount, err = amountFlag("amount", amount, true); err != nil {
			return err
		}
		msg = contracts.AddStake{QueryID: p.queryID, Amount: tlb.FromNanoTON(stakeAmount)}
		value = new(big.Int).Add(value, stakeAmount)
	case "unstake":
		n, err := amountFlag("amount", amount, true)
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
	txs, err := p.sender().send(ctx, c, w, outgoing{what: verb, signer: "the provider owner's wallet", value: value, body: body,
		hops: []contractHop{{"provider", st.addr}}})
	if code, ok := contracts.AsExitCode(err); ok {
		if hint := providerHint(ctx, c, p, st, code, w); hint != "" {
			return fmt.Errorf("%w: %s", err, hint)
		}
	}
	if err != nil || len(txs) == 0 {
		return err
	}
	if verb == "withdraw" {
		if paid, ok := providerWithdrawn(txs[0]); ok {
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
		return "stake movements and status changes are frozen until " + providerWhen(chainClock(ctx, p.walletFlags, c)(), d.JailedUntil)
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
	surplus.Sub(surplus, big.NewInt(providerStorageReserve))
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
	// Each oracle's latest vote: those for another claim than the confirmed one are pending.
	confirmedClaim, _ := contracts.ClaimHash(att.MeasurementHash, att.EvidenceDigest, att.TLSKeyHash)
	var pending int
	for _, v := range att.Votes {
		if v.ValidUntil > uint32(now.Unix()) && (zero(att.MeasurementHash) || !bytes.Equal(v.ClaimHash, confirmedClaim)) {
			pending++
		}
	}
	if pending > 0 {
		fmt.Fprintf(o, "pending votes:     %d live oracle votes for another claim (quorum %d)\n", pending, regParams.OracleQuorum)
	}
	fmt.Fprintf(o, "usage:             %d prompt tokens, %d completion tokens, earned %s\n", usage.PromptTokens, usage.CompletionTokens, ton(usage.Earned))
	return nil
}
