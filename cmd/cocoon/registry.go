package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

func init() {
	register("registry", "Cocoon registry: deploy, show and govern (signed by a wallet or as ton:// links)", runRegistry)
}

const envRegistry = "COCOON_REGISTRY"

const registryUsage = `usage: cocoon registry <verb> [flags]

  deploy               deploy a registry, channels enabled (governance defaults to the wallet)
  show                 print a registry's governance, parameters, channel code, measurements, models and oracles
  params               change parameters: only the flags given change
  allow-measurement    --hash HEX --kind tdx|snp|sim
  revoke-measurement   --hash HEX
  add-model            --id N --weights-hash HEX --name TEXT
  add-oracle           --oracle-wallet ADDRESS --pubkey HEX
  remove-oracle        --oracle-wallet ADDRESS
  slash                --provider-owner ADDRESS --slash TON --evidence HEX
  transfer-governance  --to ADDRESS (the new governance then runs accept-governance)
  accept-governance
  set-channel-code     enable channels on a registry deployed without them (sends this build's channel code)

Every governance verb is signed with the wallet (see 'cocoon wallet') and waits for the registry's
transaction, or with --link prints a ton://transfer link for another signer (e.g. a multisig).
The registry address comes from --registry or $` + envRegistry + `.`

// regCmd is one registry verb's flags and state.
type regCmd struct {
	*walletFlags
	registry string
	link     bool
	value    string
	queryID  uint64
	noWait   bool
	// autoValue lets --value be valueAuto: parseReg then returns a nil value for the verb to work out.
	autoValue bool
}

// valueAuto as --value asks the command to work out the amount from the contracts' getters.
const valueAuto = "auto"

func newRegCmd(verb string, defValue string) *regCmd {
	r := &regCmd{walletFlags: newWalletFlags(verb, true)}
	r.fs.Init("registry "+verb, flag.ContinueOnError)
	r.fs.StringVar(&r.registry, "registry", os.Getenv(envRegistry), "registry address (env "+envRegistry+")")
	r.fs.BoolVar(&r.link, "link", false, "print a ton://transfer link to sign elsewhere instead of sending")
	r.fs.StringVar(&r.value, "value", defValue, "TON attached to the message (the registry returns the excess)")
	r.fs.Uint64Var(&r.queryID, "query-id", 0, "query id (default: random)")
	r.fs.BoolVar(&r.noWait, "no-wait", false, "do not wait for the registry's transaction")
	return r
}

func runRegistry(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: missing verb\n%s", errUsage, registryUsage)
	}
	verb, rest := args[0], args[1:]
	switch verb {
	case "deploy":
		return registryDeploy(ctx, rest)
	case "show":
		return registryShow(ctx, rest)
	case "params":
		return registryParams(ctx, rest)
	case "allow-measurement", "revoke-measurement", "add-model", "add-oracle", "remove-oracle",
		"slash", "transfer-governance", "accept-governance", "set-channel-code":
		return registryGovern(ctx, verb, rest)
	case "-h", "--help", "help":
		fmt.Fprintln(walletOut, registryUsage)
		return nil
	}
	return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, verb, registryUsage)
}

// parseReg parses flags and checks the registry-wide ones.
func (r *regCmd) parseReg(args []string, needRegistry bool) (*address.Address, *big.Int, error) {
	rest, err := r.parse(args)
	if err != nil {
		return nil, nil, err
	}
	if len(rest) != 0 {
		return nil, nil, fmt.Errorf("%w: unexpected arguments %q", errUsage, rest)
	}
	var value *big.Int
	if !r.autoValue || r.value != valueAuto {
		if value, err = wallet.ParseTON(r.value); err != nil {
			return nil, nil, fmt.Errorf("%w: --value: %v", errUsage, err)
		}
	}
	if r.queryID == 0 {
		r.queryID = ops.NewQueryID()
	}
	if !needRegistry {
		return nil, value, nil
	}
	if r.registry == "" {
		return nil, nil, fmt.Errorf("%w: give the registry address with --registry or $%s", errUsage, envRegistry)
	}
	reg, _, err := r.parseAddress(r.registry)
	if err != nil {
		return nil, nil, err
	}
	return reg, value, nil
}

// errFeeUnread is a registry fee getter that could not be run: the amount to attach is unknown.
var errFeeUnread = errors.New("failed to read the registry's fee")

// feeUnread explains a fee getter that failed: an exit code means the registry could not price it,
// anything else is taken for missing chain access. alt says how to do without the getter.
func feeUnread(fe *ops.FeeError, registry string, alt string) error {
	if _, ok := contracts.AsExitCode(fe.Err); ok {
		return fmt.Errorf("%w: %s on %s failed (is it a Cocoon registry?): %w", errFeeUnread, fe.Getter, registry, fe.Err)
	}
	return fmt.Errorf("%w: %s is read from the chain, which needs a reachable --rpc ($%s) or --liteserver-config%s: %w",
		errFeeUnread, fe.Getter, envRPC, alt, fe.Err)
}

// deliverer prints or sends a verb's plan: the wallet's flags, --link and --no-wait.
type deliverer struct {
	*walletFlags
	link, noWait bool
}

func (r *regCmd) deliverer() deliverer { return deliverer{r.walletFlags, r.link, r.noWait} }

// deliver sends p from o's wallet and prints what went out and where it ended ("done in" the last
// hop's transaction), or with --link prints p as a ton://transfer link for signer. quietValue
// leaves the amount out of the printed lines (the registry verbs' wording). It returns what was
// sent (nil with --link); a hop that failed is an *ops.ContractError naming its exit code.
func (d deliverer) deliver(ctx context.Context, o *ops.Ops, p *ops.Plan, signer string, quietValue bool) (*ops.Sent, error) {
	linkAmount := ""
	if !quietValue {
		linkAmount = "(" + wallet.FormatTON(p.Value) + " TON) "
	}
	if d.link {
		link, err := p.Link(dial.Networks[d.network].Testnet)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(walletOut, "%s: sign and send this transfer %sfrom %s:\n%s\n", p.Op, linkAmount, signer, link)
		printLinkQR(walletOut, link)
		return nil, nil
	}
	if d.noWait {
		p.Wait = ops.WaitWallet
	}
	sent, err := o.Send(ctx, p)
	return sent, d.report(o, p, sent, err, quietValue)
}

// offerLink prints p as a ton://transfer link for signer with --link (send is false then); else p
// is to be sent by the operation's Send… (with --no-wait, waiting for the wallet's transaction only).
func (d deliverer) offerLink(ctx context.Context, o *ops.Ops, p *ops.Plan, signer string) (send bool, err error) {
	if !d.link {
		if d.noWait {
			p.Wait = ops.WaitWallet
		}
		return true, nil
	}
	_, err = d.deliver(ctx, o, p, signer, false)
	return false, err
}

// report prints what o.Send (or an operation's Send…) did with p: the message that went out (also
// when a contract then refused it), the re-signed ones, and the last hop's transaction when it
// waited for it and no hop refused. It returns err.
func (d deliverer) report(o *ops.Ops, p *ops.Plan, sent *ops.Sent, err error, quietValue bool) error {
	sentAmount := ""
	if !quietValue {
		sentAmount = wallet.FormatTON(p.Value) + " TON "
	}
	if sent == nil {
		return err
	}
	fmt.Fprintf(walletOut, "%s: sent %sfrom %s (seqno %d)\n", p.Op, sentAmount, d.friendly(o.Sender.Address(), false), sent.Seqno())
	printResent(p.Op+": ", sent.Outcome)
	last := sent.Last(p)
	var ce *ops.ContractError
	if last == nil || errors.As(err, &ce) || p.Wait != ops.WaitCascade {
		return err
	}
	fmt.Fprintf(walletOut, "%s: done in %s transaction lt %d hash %s\n", p.Op, p.Hops[len(p.Hops)-1].Contract, last.LT, hex.EncodeToString(last.Hash))
	return err
}

// session is the chain and the wallet a sending verb works with: the wallet unless --link, the
// chain unless --link and offline (a link that reads nothing). release closes the chain.
func (d deliverer) session(ctx context.Context, registry *address.Address, offline bool) (*ops.Ops, func(), error) {
	var w *wallet.Wallet
	if !d.link {
		var err error
		if w, err = d.loadWallet(); err != nil {
			return nil, nil, err
		}
	}
	if d.link && offline {
		o, err := d.ops(ctx, nil, nil, registry, 0)
		return o, func() {}, err
	}
	c, release, err := d.connect(ctx)
	if err != nil {
		return nil, nil, err
	}
	o, err := d.ops(ctx, c, w, registry, 2*time.Minute)
	if err != nil {
		release()
		return nil, nil, err
	}
	return o, release, nil
}

// govern sends a governance plan, signed by the governance wallet or printed as a link.
func (r *regCmd) govern(ctx context.Context, o *ops.Ops, p *ops.Plan) error {
	_, err := r.deliverer().deliver(ctx, o, p, "the governance wallet", true)
	return err
}

// usageOf turns an input the library refuses (a parameter out of bounds, a field a message cannot
// hold) into a usage error; other errors pass.
func usageOf(err error) error {
	var pe *contracts.ParamsError
	var ie *ops.InputError
	switch {
	case errors.As(err, &pe):
		return fmt.Errorf("%w: %s", errUsage, pe.Reason)
	case errors.As(err, &ie):
		return fmt.Errorf("%w: %v", errUsage, ie.Err)
	}
	return err
}

// withHints adds what the CLI can tell about the library's errors: the command that helps.
func withHints(err error) error {
	var r *ops.Refusal
	switch {
	case err == nil:
		return nil
	case errors.Is(err, ops.ErrNotRegistered):
		return fmt.Errorf("%w: register first with 'cocoon provider register --stake TON'", err)
	case errors.Is(err, ops.ErrUnknownModel):
		return fmt.Errorf("%w (its governance adds models with 'cocoon registry add-model'; see 'cocoon registry show')", err)
	case errors.Is(err, ops.ErrNoChannel):
		return fmt.Errorf("%w (open it with 'cocoon channel open')", err)
	case errors.As(err, &r):
		hint := map[contracts.ExitCode]string{
			contracts.ExitChannelsDisabled: " (governance enables channels with 'cocoon registry set-channel-code')",
			contracts.ExitNotClosing:       " (start with 'cocoon channel close')",
		}[r.Code]
		if hint != "" {
			hinted := *r
			hinted.Reason += hint
			return &hinted
		}
	}
	return err
}

func registryDeploy(ctx context.Context, args []string) error {
	r := newRegCmd("deploy", wallet.FormatTON(big.NewInt(ops.DefaultDeployValue)))
	governance := r.fs.String("governance", "", "governance address (default: the wallet; required with --link)")
	kind := r.fs.String("kind", "", "network kind written into the registry: devnet, testnet or mainnet (default: --network)")
	minStake := r.fs.String("min-stake", "10", "minimum provider stake, TON")
	unbonding := r.fs.Duration("unbonding", 7*24*time.Hour, "unbonding period")
	feeBps := r.fs.Uint("fee-bps", 100, "protocol fee in basis points (at most 10000)")
	treasury := r.fs.String("treasury", "", "treasury address (default: governance)")
	challenge := r.fs.Duration("challenge", 24*time.Hour, "payment channel challenge period")
	quorum := r.fs.Uint("quorum", 1, "oracle votes an attestation needs (at least 1)")
	lifetime := r.fs.Duration("attestation-lifetime", 24*time.Hour, "longest attestation validity")
	_, value, err := r.parseReg(args, false)
	if err != nil {
		return err
	}
	var gov *address.Address
	switch {
	case *governance != "":
		if gov, _, err = r.parseAddress(*governance); err != nil {
			return err
		}
	case r.link:
		return fmt.Errorf("%w: --link needs --governance", errUsage)
	default:
		w, err := r.loadWallet()
		if err != nil {
			return err
		}
		gov = w.Address()
	}
	k := *kind
	if k == "" {
		k = r.network
	}
	nk, ok := map[string]contracts.NetworkKind{"devnet": contracts.NetworkDevnet, "testnet": contracts.NetworkTestnet, "mainnet": contracts.NetworkMainnet}[k]
	if !ok {
		return fmt.Errorf("%w: --kind must be devnet, testnet or mainnet", errUsage)
	}
	params := contracts.RegistryParams{Treasury: gov}
	if *treasury != "" {
		if params.Treasury, _, err = r.parseAddress(*treasury); err != nil {
			return err
		}
	}
	stake, err := wallet.ParseTON(*minStake)
	if err != nil {
		return fmt.Errorf("%w: --min-stake: %v", errUsage, err)
	}
	params.MinProviderStake = tlb.FromNanoTON(stake)
	if params.UnbondingPeriod, err = periodSeconds("unbonding", *unbonding); err != nil {
		return err
	}
	if params.ChallengePeriod, err = periodSeconds("challenge", *challenge); err != nil {
		return err
	}
	if params.MaxAttestationLifetime, err = periodSeconds("attestation-lifetime", *lifetime); err != nil {
		return err
	}
	if params.ProtocolFeeBps, err = feeBpsFlag(*feeBps); err != nil {
		return err
	}
	if params.OracleQuorum, err = quorumFlag(*quorum); err != nil {
		return err
	}
	plan, err := (&ops.Ops{}).PlanDeployRegistry(ops.DeployRegistryInput{Governance: gov, Kind: nk, Params: params, Value: value})
	if err != nil {
		return usageOf(err)
	}
	addr := plan.Address
	fmt.Fprintf(walletOut, "registry: %s (raw %s), kind %s, governance %s\n", r.friendly(addr, true), addr.StringRaw(), nk, r.friendly(gov, true))
	o, release, err := r.deliverer().session(ctx, addr, true)
	if err != nil {
		return err
	}
	defer release()
	return r.govern(ctx, o, plan.Plan)
}

// periodSeconds is a period flag in whole seconds, within the registry's bounds.
func periodSeconds(name string, d time.Duration) (uint32, error) {
	s := int64(d / time.Second)
	if contracts.CheckPeriod(s) != nil {
		return 0, fmt.Errorf("%w: --%s %v must be between 1m and 365 days", errUsage, name, d)
	}
	return uint32(s), nil
}

func feeBpsFlag(bps uint) (uint16, error) {
	if bps > contracts.MaxProtocolFeeBps {
		return 0, fmt.Errorf("%w: --fee-bps %d is above %d", errUsage, bps, contracts.MaxProtocolFeeBps)
	}
	return uint16(bps), nil
}

func quorumFlag(q uint) (uint8, error) {
	if q < 1 || q > 255 {
		return 0, fmt.Errorf("%w: --quorum must be 1..255", errUsage)
	}
	return uint8(q), nil
}

func registryShow(ctx context.Context, args []string) error {
	r := newRegCmd("show", "0")
	reg, _, err := r.parseReg(args, true)
	if err != nil {
		return err
	}
	c, release, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	o, err := r.ops(ctx, c, nil, reg, 0)
	if err != nil {
		return err
	}
	v, err := o.ReadRegistry(ctx)
	if err != nil {
		return err
	}
	channels := "disabled (no channel code: run 'cocoon registry set-channel-code')"
	if v.ChannelsEnabled() {
		channels = "enabled, channel code hash " + hex.EncodeToString(v.Codes.ChannelCode.Hash())
		if !v.ChannelCodeCurrent() {
			channels += " (not this build's channel code)"
		}
	}
	data, params := v.Data, v.Params
	o2 := walletOut
	fmt.Fprintf(o2, "registry:           %s\n", r.friendly(reg, true))
	fmt.Fprintf(o2, "balance:            %s TON\n", wallet.FormatTON(v.Account.Balance))
	fmt.Fprintf(o2, "network kind:       %s\n", data.NetworkKind)
	fmt.Fprintf(o2, "governance:         %s\n", r.friendly(data.Governance, true))
	pending := "none"
	if data.PendingGovernance != nil {
		pending = r.friendly(data.PendingGovernance, true)
	}
	fmt.Fprintf(o2, "pending governance: %s\n", pending)
	fmt.Fprintf(o2, "min provider stake: %s TON\n", wallet.FormatTON(params.MinProviderStake.Nano()))
	fmt.Fprintf(o2, "unbonding period:   %v\n", time.Duration(params.UnbondingPeriod)*time.Second)
	fmt.Fprintf(o2, "protocol fee:       %d bps\n", params.ProtocolFeeBps)
	fmt.Fprintf(o2, "treasury:           %s\n", r.friendly(params.Treasury, true))
	fmt.Fprintf(o2, "challenge period:   %v\n", time.Duration(params.ChallengePeriod)*time.Second)
	fmt.Fprintf(o2, "oracle quorum:      %d\n", params.OracleQuorum)
	fmt.Fprintf(o2, "max attestation:    %v\n", time.Duration(params.MaxAttestationLifetime)*time.Second)
	fmt.Fprintf(o2, "channels:           %s\n", channels)
	fmt.Fprintf(o2, "measurements (%d):\n", len(v.Measurements))
	for _, m := range v.Measurements {
		fmt.Fprintf(o2, "  %s %s\n", hex.EncodeToString(m.Hash), m.Kind)
	}
	fmt.Fprintf(o2, "models (%d):\n", len(v.Models))
	for _, m := range v.Models {
		fmt.Fprintf(o2, "  %d %q weights %s\n", m.ID, m.Name, hex.EncodeToString(m.WeightsHash))
	}
	fmt.Fprintf(o2, "oracles (%d):\n", len(v.Oracles))
	for _, or := range v.Oracles {
		fmt.Fprintf(o2, "  %s key %s\n", r.friendly(or.Wallet, true), hex.EncodeToString(or.PublicKey))
		if u := or.Uptime; u != nil {
			fmt.Fprintf(o2, "    uptime root of epoch %d: %s, %d providers, committed %s\n", u.Epoch, hex.EncodeToString(u.Root),
				u.ProviderCount, time.Unix(int64(u.CommittedAt), 0).UTC().Format(time.RFC3339))
		}
	}
	return nil
}

func registryParams(ctx context.Context, args []string) error {
	r := newRegCmd("params", wallet.FormatTON(big.NewInt(ops.DefaultGovernanceValue)))
	minStake := r.fs.String("min-stake", "", "minimum provider stake, TON")
	unbonding := r.fs.Duration("unbonding", 0, "unbonding period")
	feeBps := r.fs.Uint("fee-bps", 0, "protocol fee in basis points")
	treasury := r.fs.String("treasury", "", "treasury address")
	challenge := r.fs.Duration("challenge", 0, "payment channel challenge period")
	quorum := r.fs.Uint("quorum", 0, "oracle quorum")
	lifetime := r.fs.Duration("attestation-lifetime", 0, "longest attestation validity")
	reg, value, err := r.parseReg(args, true)
	if err != nil {
		return err
	}
	set := map[string]bool{}
	r.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var ch ops.ParamsChange
	period := func(name string, d time.Duration) (*uint32, error) {
		if !set[name] {
			return nil, nil
		}
		s, err := periodSeconds(name, d)
		return &s, err
	}
	if set["min-stake"] {
		if ch.MinProviderStake, err = wallet.ParseTON(*minStake); err != nil {
			return fmt.Errorf("%w: --min-stake: %v", errUsage, err)
		}
	}
	if ch.UnbondingPeriod, err = period("unbonding", *unbonding); err != nil {
		return err
	}
	if ch.ChallengePeriod, err = period("challenge", *challenge); err != nil {
		return err
	}
	if ch.MaxAttestationLifetime, err = period("attestation-lifetime", *lifetime); err != nil {
		return err
	}
	if set["fee-bps"] {
		bps, err := feeBpsFlag(*feeBps)
		if err != nil {
			return err
		}
		ch.ProtocolFeeBps = &bps
	}
	if set["quorum"] {
		q, err := quorumFlag(*quorum)
		if err != nil {
			return err
		}
		ch.OracleQuorum = &q
	}
	if set["treasury"] {
		if ch.Treasury, _, err = r.parseAddress(*treasury); err != nil {
			return err
		}
	}
	if ch == (ops.ParamsChange{}) {
		return fmt.Errorf("%w: params needs at least one parameter flag to change (see 'cocoon registry show')", errUsage)
	}
	// The message replaces every parameter: the plan starts from the current ones, even for a link.
	o, release, err := r.deliverer().session(ctx, reg, false)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanUpdateParams(ctx, ops.UpdateParamsInput{Change: ch, Value: value, QueryID: r.queryID})
	if err != nil {
		return usageOf(err)
	}
	return r.govern(ctx, o, p.Plan)
}

// registryGovern handles the verbs that are one governance message each.
func registryGovern(ctx context.Context, verb string, args []string) error {
	r := newRegCmd(verb, wallet.FormatTON(big.NewInt(ops.DefaultGovernanceValue)))
	hashFlag := r.fs.String("hash", "", "measurement hash, 64 hex digits")
	kind := r.fs.String("kind", "", "measurement kind: tdx, snp or sim")
	id := r.fs.Uint("id", 0, "model id")
	weights := r.fs.String("weights-hash", "", "model weights hash, 64 hex digits")
	name := r.fs.String("name", "", "model name, 1..64 bytes")
	oracleWallet := r.fs.String("oracle-wallet", "", "the oracle's wallet address")
	pubkey := r.fs.String("pubkey", "", "the oracle's ed25519 public key, 64 hex digits")
	owner := r.fs.String("provider-owner", "", "the provider's owner address")
	slashAmount := r.fs.String("slash", "", "stake to slash, TON")
	evidence := r.fs.String("evidence", "", "digest of the evidence justifying the slash, 64 hex digits")
	to := r.fs.String("to", "", "the proposed governance address")
	reg, value, err := r.parseReg(args, true)
	if err != nil {
		return err
	}
	hash32 := func(flagName, s string) ([]byte, error) {
		b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("%w: --%s must be 64 hex digits (32 bytes)", errUsage, flagName)
		}
		return b, nil
	}
	addrFlag := func(flagName, s string) (*address.Address, error) {
		if s == "" {
			return nil, fmt.Errorf("%w: %s needs --%s", errUsage, verb, flagName)
		}
		a, _, err := r.parseAddress(s)
		return a, err
	}
	var msg contracts.Message
	switch verb {
	case "allow-measurement":
		h, err := hash32("hash", *hashFlag)
		if err != nil {
			return err
		}
		k, ok := map[string]contracts.MeasurementKind{"tdx": contracts.MeasurementTDX, "snp": contracts.MeasurementSNP, "sim": contracts.MeasurementSim}[*kind]
		if !ok {
			return fmt.Errorf("%w: --kind must be tdx, snp or sim", errUsage)
		}
		msg = contracts.AddMeasurement{QueryID: r.queryID, MeasurementHash: h, Kind: k}
	case "revoke-measurement":
		h, err := hash32("hash", *hashFlag)
		if err != nil {
			return err
		}
		msg = contracts.RevokeMeasurement{QueryID: r.queryID, MeasurementHash: h}
	case "add-model":
		if *id > 0xFFFFFFFF {
			return fmt.Errorf("%w: --id must fit 32 bits", errUsage)
		}
		h, err := hash32("weights-hash", *weights)
		if err != nil {
			return err
		}
		nc, err := contracts.TextCell(*name, contracts.MaxModelNameBytes)
		if err != nil {
			return fmt.Errorf("%w: --name: %v", errUsage, err)
		}
		msg = contracts.AddModel{QueryID: r.queryID, ModelID: uint32(*id), WeightsHash: h, Name: nc}
	case "add-oracle":
		w, err := addrFlag("oracle-wallet", *oracleWallet)
		if err != nil {
			return err
		}
		k, err := hash32("pubkey", *pubkey)
		if err != nil {
			return err
		}
		msg = contracts.AddOracle{QueryID: r.queryID, Wallet: w, PublicKey: k}
	case "remove-oracle":
		w, err := addrFlag("oracle-wallet", *oracleWallet)
		if err != nil {
			return err
		}
		msg = contracts.RemoveOracle{QueryID: r.queryID, Wallet: w}
	case "slash":
		o, err := addrFlag("provider-owner", *owner)
		if err != nil {
			return err
		}
		n, err := wallet.ParseTON(*slashAmount)
		if err != nil || n.Sign() == 0 {
			return fmt.Errorf("%w: --slash must be a positive TON amount", errUsage)
		}
		ev, err := hash32("evidence", *evidence)
		if err != nil {
			return err
		}
		msg = contracts.SlashProvider{QueryID: r.queryID, ProviderOwner: o, Amount: tlb.FromNanoTON(n), EvidenceDigest: ev}
	case "transfer-governance":
		a, err := addrFlag("to", *to)
		if err != nil {
			return err
		}
		msg = contracts.ProposeGovernance{QueryID: r.queryID, NewGovernance: a}
	case "accept-governance":
		msg = contracts.AcceptGovernance{QueryID: r.queryID}
	case "set-channel-code":
		msg = contracts.SetChannelCode{QueryID: r.queryID, ChannelCode: contracts.ChannelCode()}
	}
	o, release, err := r.deliverer().session(ctx, reg, true)
	if err != nil {
		return err
	}
	defer release()
	p, err := o.PlanGovern(ctx, msg, value)
	if err != nil {
		return usageOf(err)
	}
	return r.govern(ctx, o, p)
}
