package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// Every identifier in this file starts with "provider": other engineers add files to package main
// at the same time, and generic names would collide.

func init() {
	register("provider", "Provider contract: register, show, endpoint, prices, stake, pause, exit (owner's wallet or ton:// links)", providerRun)
}

const providerUsage = `usage: cocoon provider <verb> [flags]

  init           --dir DIR          write the provider daemon's config file and settlement wallet
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
	case "init":
		return providerInit(ctx, rest)
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
	o, err := p.ops(ctx, nil, nil, reg, 0)
	if err != nil {
		return err
	}
	// A link with a given fee and no owner to look up needs no chain at all.
	if fee == nil || owner != nil {
		c, release, err := p.connect(ctx)
		if err != nil {
			return err
		}
		defer release()
		if p.link {
			w = nil
		}
		if o, err = p.ops(ctx, c, w, reg, 2*time.Minute); err != nil {
			return err
		}
	}
	in := ops.RegisterInput{Stake: stake, Fee: fee, QueryID: p.queryID}
	if o.Sender == nil {
		in.Owner = owner
	}
	plan, err := o.PlanRegister(ctx, in)
	var fe *ops.FeeError
	if errors.As(err, &fe) {
		return feeUnread(fe, p.friendly(reg, true), "; or give --value TON to attach that fee without reading it")
	}
	if err != nil {
		return withHints(err)
	}
	switch st := plan.Provider; {
	case st == nil:
	case plan.Registered:
		fmt.Fprintf(walletOut, "provider: %s (already registered, %s, stake %s TON: the stake is added)\n",
			p.friendly(st.Address, true), st.Data.EffectiveStatus, wallet.FormatTON(st.Data.Stake.Nano()))
	default:
		fmt.Fprintf(walletOut, "provider: %s (raw %s)\n", p.friendly(st.Address, true), st.Address.StringRaw())
	}
	source := "--value"
	if plan.FeeFromGetter {
		source = contracts.MethodGetRegisterFee
	}
	if plan.Provider == nil {
		fmt.Fprintln(walletOut, "provider: the registry derives it from the signing wallet: see 'cocoon provider show --owner ADDRESS' once registered")
	}
	fmt.Fprintf(walletOut, "attaching: %s TON = stake %s TON + fee %s TON (%s)\n", wallet.FormatTON(plan.Value), wallet.FormatTON(stake), wallet.FormatTON(plan.Fee), source)
	d := p.deliverer()
	if send, err := d.offerLink(ctx, o, plan.Plan, "the provider owner's wallet"); !send {
		return err
	}
	res, err := o.SendRegister(ctx, plan)
	if err := d.report(o, plan.Plan, res.Sent, err, false); err != nil || res.Provider == nil {
		return err
	}
	fmt.Fprintf(walletOut, "provider: %s %s, stake %s TON\n", p.friendly(res.Provider.Address, true), res.Provider.Data.EffectiveStatus, wallet.FormatTON(res.Provider.Data.Stake.Nano()))
	return nil
}

// providerOwnerOp handles the verbs that are one owner → provider message each.
func providerOwnerOp(ctx context.Context, verb string, args []string) error {
	p := providerNewCmd(verb, wallet.FormatTON(big.NewInt(ops.DefaultOwnerOpValue)))
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
	op := ops.OwnerOp{Kind: providerOps[verb]}
	if modelID != nil {
		if !set["model-id"] {
			return fmt.Errorf("%w: %s needs --model-id N", errUsage, verb)
		}
		if *modelID > math.MaxUint32 {
			return fmt.Errorf("%w: --model-id must fit 32 bits", errUsage)
		}
		op.ModelID = uint32(*modelID)
	}
	switch verb {
	case "set-endpoint":
		if !set["url"] {
			return fmt.Errorf("%w: set-endpoint needs --url URL", errUsage)
		}
		op.Endpoint = *urlFlag
	case "set-price":
		if op.PromptPrice, err = amountFlag("prompt", prompt, false); err != nil {
			return err
		}
		if op.CompletionPrice, err = amountFlag("completion", completion, false); err != nil {
			return err
		}
	case "add-stake", "unstake":
		if op.Amount, err = amountFlag("amount", amount, true); err != nil {
			return err
		}
	}
	// Everything that needs no chain is checked before connecting.
	if err := op.Check(); err != nil {
		var ee *ops.EndpointError
		if errors.As(err, &ee) {
			return fmt.Errorf("%w: %s", errUsage, ee.Describe("--url"))
		}
		return usageOf(err)
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
	if p.link {
		w = nil
	}
	o, err := p.ops(ctx, c, w, reg, 2*time.Minute)
	if err != nil {
		return err
	}
	plan, err := o.PlanOwnerOp(ctx, ops.OwnerOpInput{Owner: owner, Op: op, Value: value, QueryID: p.queryID})
	if err != nil {
		return withHints(err)
	}
	d := p.deliverer()
	if send, err := d.offerLink(ctx, o, plan.Plan, "the provider owner's wallet"); !send {
		return err
	}
	res, err := o.SendOwnerOp(ctx, plan)
	if code, ok := contracts.AsExitCode(err); ok {
		if hint := providerHint(ctx, o, plan.Provider, code, w); hint != "" {
			err = fmt.Errorf("%w: %s", err, hint)
		}
	}
	if err := d.report(o, plan.Plan, res.Sent, err, false); err != nil {
		return err
	}
	if res.Withdrawn != nil {
		fmt.Fprintf(walletOut, "withdraw: %s TON of unbonded stake paid to %s\n", wallet.FormatTON(res.Withdrawn), p.friendly(owner, false))
	}
	return nil
}

// providerOps are the owner operations by verb.
var providerOps = map[string]ops.OwnerOpKind{
	"set-endpoint": ops.SetEndpoint, "set-price": ops.SetPrice, "remove-price": ops.RemovePrice, "add-stake": ops.AddStake,
	"unstake": ops.Unstake, "withdraw": ops.Withdraw, "pause": ops.Pause, "resume": ops.Resume, "exit": ops.Exit,
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
func providerHint(ctx context.Context, o *ops.Ops, st *ops.ProviderState, code contracts.ExitCode, w *wallet.Wallet) string {
	d := st.Data
	now := func() time.Time {
		t, err := o.Clock(ctx)
		if err != nil {
			return time.Now()
		}
		return t
	}
	switch code {
	case contracts.ExitUnbondingLocked:
		return "the unbonding stake unlocks at " + providerWhen(now(), d.UnlockAt)
	case contracts.ExitNothingToWithdraw:
		return "nothing is unbonding: run 'cocoon provider unstake' or 'exit' first"
	case contracts.ExitNotOwner:
		return fmt.Sprintf("the provider's owner is %s, the signing wallet is %s", o.Friendly(d.Owner, false), o.Friendly(w.Address(), false))
	case contracts.ExitInvalidStatus:
		return "the provider is " + d.EffectiveStatus.String()
	case contracts.ExitProviderJailed:
		return "stake movements and status changes are frozen until " + providerWhen(now(), d.JailedUntil)
	case contracts.ExitStakeWouldDropBelowMinimum, contracts.ExitStakeBelowMinimum, contracts.ExitAmountExceedsStake:
		params, err := contracts.ProviderClient{Chain: o.Chain, Address: st.Address}.Params(ctx)
		if err != nil {
			return ""
		}
		return fmt.Sprintf("the stake is %s TON, the minimum %s TON (to unstake everything, run 'cocoon provider exit')",
			wallet.FormatTON(d.Stake.Nano()), wallet.FormatTON(params.MinStake.Nano()))
	}
	return ""
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
	o, err := p.ops(ctx, c, nil, reg, 0)
	if err != nil {
		return err
	}
	v, err := o.ReadProvider(ctx, owner)
	if err != nil {
		return withHints(err)
	}
	params, profile, att, usage, regParams := v.Params, v.Profile, v.Attestation, v.Usage, v.RegistryParams
	d := v.Data
	ton := func(x tlb.Coins) string { return wallet.FormatTON(x.Nano()) + " TON" }
	when := func(unix uint32) string { return providerWhen(v.Now, unix) }

	out := walletOut
	fmt.Fprintf(out, "provider:          %s (raw %s)\n", p.friendly(v.Address, true), v.Address.StringRaw())
	fmt.Fprintf(out, "owner:             %s\n", p.friendly(d.Owner, false))
	fmt.Fprintf(out, "registry:          %s\n", p.friendly(d.Registry, true))
	fmt.Fprintf(out, "balance:           %s TON\n", wallet.FormatTON(v.Account.Balance))
	status := d.EffectiveStatus.String()
	if d.EffectiveStatus != d.Status {
		status += " until " + when(d.JailedUntil) + ", then " + d.Status.String()
	}
	fmt.Fprintf(out, "status:            %s\n", status)
	minNote := ""
	if params.MinStake.Nano().Cmp(regParams.MinProviderStake.Nano()) != 0 {
		minNote = fmt.Sprintf(" (the registry's is now %s; the provider learns it at its next registry message)", ton(regParams.MinProviderStake))
	}
	fmt.Fprintf(out, "stake:             %s (minimum %s%s)\n", ton(d.Stake), ton(params.MinStake), minNote)
	unbonding := "none"
	if d.UnbondingAmount.Nano().Sign() > 0 {
		unbonding = ton(d.UnbondingAmount) + ", unlocks " + when(d.UnlockAt)
		if v.Unlocked() {
			unbonding = ton(d.UnbondingAmount) + ", unlocked since " + when(d.UnlockAt) + ": run 'cocoon provider withdraw'"
		}
	}
	fmt.Fprintf(out, "unbonding:         %s\n", unbonding)
	fmt.Fprintf(out, "unbonding period:  %v\n", time.Duration(params.UnbondingPeriod)*time.Second)
	// Surplus (top-ups, rounding) goes back to the owner with the next owner op.
	if surplus := v.Surplus(); surplus.Sign() > 0 {
		fmt.Fprintf(out, "surplus:           %s TON (returned to the owner with the next owner operation)\n", wallet.FormatTON(surplus))
	}
	if d.JailedUntil != 0 && d.EffectiveStatus == d.Status {
		fmt.Fprintf(out, "jailed until:      %s (over)\n", when(d.JailedUntil))
	}
	if params.Treasury != nil {
		fmt.Fprintf(out, "treasury:          %s\n", p.friendly(params.Treasury, true))
	}
	endpoint := "not set (run 'cocoon provider set-endpoint')"
	if profile.Endpoint != "" {
		endpoint = profile.Endpoint
	}
	fmt.Fprintf(out, "endpoint:          %s\n", endpoint)
	names := map[uint32]string{}
	for _, m := range v.Models {
		names[m.ID] = m.Name
	}
	fmt.Fprintf(out, "models (%d), TON per 1M tokens:\n", len(profile.Prices))
	for _, m := range profile.Prices {
		name, ok := names[m.ModelID]
		label := fmt.Sprintf("%q", name)
		if !ok {
			label = "(no longer in the registry)"
		}
		fmt.Fprintf(out, "  %d %s prompt %s, completion %s\n", m.ModelID, label, ton(m.PromptPricePerMillion), ton(m.CompletionPricePerMillion))
	}
	switch {
	case att.Attested:
		fmt.Fprintf(out, "attestation:       attested until %s, since %s\n", when(att.ValidUntil), when(att.AttestedAt))
	case v.HasClaim():
		fmt.Fprintf(out, "attestation:       expired at %s\n", when(att.ValidUntil))
	default:
		fmt.Fprintf(out, "attestation:       not attested (no oracle quorum yet)\n")
	}
	if v.HasClaim() {
		allowed := v.MeasurementKind.String()
		if v.MeasurementKind == 0 {
			allowed = "no longer allowed by the registry"
		}
		fmt.Fprintf(out, "  measurement:     %s (%s)\n", hex.EncodeToString(att.MeasurementHash), allowed)
		fmt.Fprintf(out, "  evidence digest: %s\n", hex.EncodeToString(att.EvidenceDigest))
		fmt.Fprintf(out, "  tls key hash:    %s\n", hex.EncodeToString(att.TLSKeyHash))
	}
	// Each oracle's latest vote: those for another claim than the confirmed one are pending.
	if pending := v.PendingVotes(); pending > 0 {
		fmt.Fprintf(out, "pending votes:     %d live oracle votes for another claim (quorum %d)\n", pending, regParams.OracleQuorum)
	}
	fmt.Fprintf(out, "usage:             %d prompt tokens, %d completion tokens, earned %s\n", usage.PromptTokens, usage.CompletionTokens, ton(usage.Earned))
	return nil
}
