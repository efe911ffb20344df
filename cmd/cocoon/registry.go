package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/txwait"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
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

// Registry parameter bounds, as checked on-chain by areParamsValid (tolk/src/registry-limits.tolk).
// Deploy is not checked on-chain, so the command checks them before deploying.
const (
	minProviderStakeFloor = 1_000_000_000 // 1 TON
	minPeriodSeconds      = 60
	maxPeriodSeconds      = 365 * 24 * 3600
	maxFeeBps             = 10000
)

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
		var b [8]byte
		_, _ = rand.Read(b[:])
		r.queryID = binary.BigEndian.Uint64(b[:]) >> 1
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

// tonLink renders a ton://transfer deep link (amount in nanoTON, BOCs in URL-safe base64).
func (s sender) tonLink(dst *address.Address, value *big.Int, body *cell.Cell, init *tlb.StateInit) (string, error) {
	q := []string{"amount=" + value.String()}
	if body != nil {
		q = append(q, "bin="+url.QueryEscape(base64.URLEncoding.EncodeToString(body.ToBOCWithFlags(false))))
	}
	if init != nil {
		c, err := tlb.ToCell(init)
		if err != nil {
			return "", fmt.Errorf("failed to serialize state init: %w", err)
		}
		q = append(q, "init="+url.QueryEscape(base64.URLEncoding.EncodeToString(c.ToBOCWithFlags(false))))
	}
	return "ton://transfer/" + s.friendly(dst, init == nil) + "?" + strings.Join(q, "&"), nil
}

// errFeeUnread is a registry fee getter that could not be run: the amount to attach is unknown.
var errFeeUnread = errors.New("failed to read the registry's fee")

// feeUnread explains a fee getter that failed: an exit code means the registry could not price it,
// anything else is taken for missing chain access. alt says how to do without the getter.
func feeUnread(getter, registry string, err error, alt string) error {
	if _, ok := contracts.AsExitCode(err); ok {
		return fmt.Errorf("%w: %s on %s failed (is it a Cocoon registry?): %w", errFeeUnread, getter, registry, err)
	}
	return fmt.Errorf("%w: %s is read from the chain, which needs a reachable --rpc ($%s) or --liteserver-config%s: %w",
		errFeeUnread, getter, envRPC, alt, err)
}

// contractHop is a contract whose transaction a send waits for.
type contractHop struct {
	name string // "registry", "provider" or "channel": how messages call it
	addr *address.Address
}

// outgoing is one message from the wallet and the contract transactions it causes.
type outgoing struct {
	what   string // the verb: every line printed and every error starts with it
	signer string // who signs a --link transfer, e.g. "the governance wallet"
	value  *big.Int
	body   *cell.Cell
	init   *tlb.StateInit // a deploy: sent non-bounceable to the StateInit's address
	// hops are the transactions to wait for, in order: hops[0] is on the destination, caused by
	// the wallet's message, and each later one is caused by a message from the hop before it.
	hops []contractHop
	// quietValue leaves the amount out of the printed lines: the registry verbs' wording.
	quietValue bool
}

// sender sends outgoing messages from a wallet, or prints them as ton://transfer links (--link).
type sender struct {
	*walletFlags
	link, noWait bool
}

func (r *regCmd) sender() sender { return sender{r.walletFlags, r.link, r.noWait} }

// send sends m from w through the transaction manager and follows the cascade to its hops'
// transactions, or with --link prints a link (c and w may then be nil). It returns the transactions
// of the hops reached (none with --link or --no-wait); a hop that failed is an error naming the
// contract and its exit code.
func (s sender) send(ctx context.Context, c chain.Client, w *wallet.Wallet, m outgoing) ([]*tlb.Transaction, error) {
	dst := m.hops[0].addr
	var sentAmount, linkAmount string
	if !m.quietValue {
		ton := wallet.FormatTON(m.value) + " TON"
		sentAmount, linkAmount = ton+" ", "("+ton+") "
	}
	if s.link {
		link, err := s.tonLink(dst, m.value, m.body, m.init)
		if err != nil {
			return nil, err
		}
		fmt.Fprintf(walletOut, "%s: sign and send this transfer %sfrom %s:\n%s\n", m.what, linkAmount, m.signer, link)
		return nil, nil
	}
	own, err := c.GetAccount(ctx, w.Address())
	if err != nil {
		return nil, err
	}
	// Wallets send with "ignore errors": an unaffordable transfer would be skipped silently.
	if own.Balance.Cmp(m.value) <= 0 {
		return nil, fmt.Errorf("wallet %s holds %s TON, not enough to attach %s TON plus fees", s.friendly(w.Address(), false), wallet.FormatTON(own.Balance), wallet.FormatTON(m.value))
	}
	mgr, err := s.txManager(ctx, c, w, 2*time.Minute)
	if err != nil {
		return nil, err
	}
	req := txmgr.Request{Transfers: []wallet.Transfer{{To: dst, Amount: m.value, Bounce: m.init == nil, Body: m.body, StateInit: m.init}}}
	if !s.noWait {
		// The whole cascade, so that what the command prints afterwards (and what a script reads
		// next) sees every hop settled: the named hops, and what they sent on, one level or two.
		req.Follow = txmgr.Follow{All: true, MaxDepth: len(m.hops) + 2}
	}
	out, err := mgr.Send(ctx, req)
	if errors.Is(err, txmgr.ErrNotSent) {
		return nil, fmt.Errorf("%s: %w: the wallet's transaction sent no message", m.what, wallet.ErrFailed)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", m.what, err)
	}
	fmt.Fprintf(walletOut, "%s: sent %sfrom %s (seqno %d)\n", m.what, sentAmount, s.friendly(w.Address(), false), out.Sent().Seqno)
	printResent(m.what+": ", out)
	if s.noWait {
		return nil, nil
	}
	addrs := make([]*address.Address, len(m.hops))
	for i, h := range m.hops {
		addrs[i] = h.addr
	}
	path := out.Cascade.Path(addrs...)
	var txs []*tlb.Transaction
	for i, h := range m.hops {
		if i >= len(path) {
			why := out.Cascade.Err
			if why == nil {
				why = txmgr.ErrNotReached
			}
			return txs, fmt.Errorf("%s: the message left the wallet but the %s's transaction did not show up: %w", m.what, h.name, why)
		}
		tx := path[i].Tx
		txs = append(txs, tx)
		if err := contractOutcome(tx); err != nil {
			return txs, fmt.Errorf("%s: the %s refused it: %w", m.what, h.name, err)
		}
	}
	last := txs[len(txs)-1]
	fmt.Fprintf(walletOut, "%s: done in %s transaction lt %d hash %s\n", m.what, m.hops[len(m.hops)-1].name, last.LT, hex.EncodeToString(last.Hash))
	return txs, nil
}

// await waits, at most two minutes, for at's first transaction after afterLT caused by a message from src.
func (s sender) await(ctx context.Context, c chain.Client, at *address.Address, afterLT uint64, src *address.Address) (*tlb.Transaction, error) {
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return txwait.Wait(wctx, c, at, afterLT, txwait.InternalFrom(src), txwait.Options{Interval: s.pollInterval()})
}

// deliver sends a governance message (body, and init for a deploy) to dst from the wallet and
// waits for dst's transaction, or prints a link when --link is set. It returns the registry's exit
// code as an error.
func (r *regCmd) deliver(ctx context.Context, what string, dst *address.Address, value *big.Int, body *cell.Cell, init *tlb.StateInit) error {
	m := outgoing{what: what, signer: "the governance wallet", value: value, body: body, init: init,
		hops: []contractHop{{"registry", dst}}, quietValue: true}
	if r.link {
		_, err := r.sender().send(ctx, nil, nil, m)
		return err
	}
	w, err := r.loadWallet()
	if err != nil {
		return err
	}
	c, release, err := r.connect(ctx)
	if err != nil {
		return err
	}
	defer release()
	_, err = r.sender().send(ctx, c, w, m)
	return err
}

// contractOutcome names the contract's exit code when a contract's transaction failed.
func contractOutcome(tx *tlb.Transaction) error {
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return nil
	}
	if vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM); ok && !vm.Success {
		return contracts.ExitCode(vm.Details.ExitCode)
	}
	return wallet.CheckSuccess(tx)
}

func registryDeploy(ctx context.Context, args []string) error {
	r := newRegCmd("deploy", "0.5")
	governance := r.fs.String("governance", "", "governance address (default: the wallet; required with --link)")
	kind := r.fs.String("kind", "", "network kind written into the registry: devnet, testnet or mainnet (default: --network)")
	minStake := r.fs.String("min-stake", "10", "minimum provider stake, TON")
	unbonding := r.fs.Duration("unbonding", 7*24*time.Hour, "unbonding period")
	feeBps := r.fs.Uint("fee-bps", 100, "protocol fee in basis points (at most 10000)")
	treasury := r.fs.String("treasury", "", "treasury address (default: governance)")
	challenge := r.fs.Duration("challenge", 24*time.Hour, "payment channel challenge period")
	quorum := r.fs.Uint("quorum", 1, "oracle votes an attestation needs (at least 1)")
	lifetime := r.fs.Duration("attestation-lifetime", 24*time.Hour, "longest attestation validity")
	if _, _, err := r.parseReg(args, false); err != nil {
		return err
	}
	value, _ := wallet.ParseTON(r.value)

	var gov *address.Address
	var err error
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
	nk := contracts.NetworkDevnet
	k := *kind
	if k == "" {
		k = r.network
	}
	switch k {
	case "devnet":
	case "testnet":
		nk = contracts.NetworkTestnet
	case "mainnet":
		nk = contracts.NetworkMainnet
	default:
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
	if *feeBps > maxFeeBps {
		return fmt.Errorf("%w: --fee-bps %d is above %d", errUsage, *feeBps, maxFeeBps)
	}
	if *quorum < 1 || *quorum > 255 {
		return fmt.Errorf("%w: --quorum must be 1..255", errUsage)
	}
	params.ProtocolFeeBps, params.OracleQuorum = uint16(*feeBps), uint8(*quorum)
	if err := checkParams(&params); err != nil {
		return err
	}

	st := contracts.NewRegistryStorage(gov, nk, params, contracts.ProviderCode())
	// The deploy data is not checked on-chain, so the channel code goes straight into the catalog
	// (SetChannelCode would accept only this same code): the registry opens channels from the start.
	st.Catalog.ChannelCode = contracts.ChannelCode()
	init, addr, err := contracts.RegistryDeploy(st)
	if err != nil {
		return err
	}
	fmt.Fprintf(walletOut, "registry: %s (raw %s), kind %s, governance %s\n", r.friendly(addr, true), addr.StringRaw(), nk, r.friendly(gov, true))
	return r.deliver(ctx, "deploy", addr, value, nil, init)
}

func periodSeconds(name string, d time.Duration) (uint32, error) {
	s := int64(d / time.Second)
	if s < minPeriodSeconds || s > maxPeriodSeconds {
		return 0, fmt.Errorf("%w: --%s %v must be between 1m and 365 days", errUsage, name, d)
	}
	return uint32(s), nil
}

func checkParams(p *contracts.RegistryParams) error {
	if p.MinProviderStake.Nano().Cmp(big.NewInt(minProviderStakeFloor)) < 0 {
		return fmt.Errorf("%w: minimum provider stake must be at least 1 TON", errUsage)
	}
	if wc := p.Treasury.Workchain(); wc != 0 {
		return fmt.Errorf("%w: treasury must be in the basechain (workchain 0), not %d: fees are priced for basechain forwarding", errUsage, int8(wc))
	}
	return nil
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
	acc, err := c.GetAccount(ctx, reg)
	if err != nil {
		return err
	}
	if acc.State != chain.StateActive {
		return fmt.Errorf("no registry at %s: the account is %s", reg.StringRaw(), acc.State)
	}
	rc := contracts.RegistryClient{Chain: c, Address: reg}
	data, err := rc.Data(ctx)
	if err != nil {
		return err
	}
	params, err := rc.Params(ctx)
	if err != nil {
		return err
	}
	ms, err := rc.Measurements(ctx)
	if err != nil {
		return err
	}
	models, err := rc.Models(ctx)
	if err != nil {
		return err
	}
	oracles, err := rc.Oracles(ctx)
	if err != nil {
		return err
	}
	codes, err := rc.Codes(ctx)
	if err != nil {
		return err
	}
	channels := "disabled (no channel code: run 'cocoon registry set-channel-code')"
	if codes.ChannelCode != nil {
		channels = "enabled, channel code hash " + hex.EncodeToString(codes.ChannelCode.Hash())
		if !bytes.Equal(codes.ChannelCode.Hash(), contracts.ChannelCode().Hash()) {
			channels += " (not this build's channel code)"
		}
	}
	o := walletOut
	fmt.Fprintf(o, "registry:           %s\n", r.friendly(reg, true))
	fmt.Fprintf(o, "balance:            %s TON\n", wallet.FormatTON(acc.Balance))
	fmt.Fprintf(o, "network kind:       %s\n", data.NetworkKind)
	fmt.Fprintf(o, "governance:         %s\n", r.friendly(data.Governance, true))
	pending := "none"
	if data.PendingGovernance != nil {
		pending = r.friendly(data.PendingGovernance, true)
	}
	fmt.Fprintf(o, "pending governance: %s\n", pending)
	fmt.Fprintf(o, "min provider stake: %s TON\n", wallet.FormatTON(params.MinProviderStake.Nano()))
	fmt.Fprintf(o, "unbonding period:   %v\n", time.Duration(params.UnbondingPeriod)*time.Second)
	fmt.Fprintf(o, "protocol fee:       %d bps\n", params.ProtocolFeeBps)
	fmt.Fprintf(o, "treasury:           %s\n", r.friendly(params.Treasury, true))
	fmt.Fprintf(o, "challenge period:   %v\n", time.Duration(params.ChallengePeriod)*time.Second)
	fmt.Fprintf(o, "oracle quorum:      %d\n", params.OracleQuorum)
	fmt.Fprintf(o, "max attestation:    %v\n", time.Duration(params.MaxAttestationLifetime)*time.Second)
	fmt.Fprintf(o, "channels:           %s\n", channels)
	fmt.Fprintf(o, "measurements (%d):\n", len(ms))
	for _, m := range ms {
		fmt.Fprintf(o, "  %s %s\n", hex.EncodeToString(m.Hash), m.Kind)
	}
	fmt.Fprintf(o, "models (%d):\n", len(models))
	for _, m := range models {
		fmt.Fprintf(o, "  %d %q weights %s\n", m.ID, m.Name, hex.EncodeToString(m.WeightsHash))
	}
	fmt.Fprintf(o, "oracles (%d):\n", len(oracles))
	for _, or := range oracles {
		fmt.Fprintf(o, "  %s key %s\n", r.friendly(or.Wallet, true), hex.EncodeToString(or.PublicKey))
	}
	return nil
}

func registryParams(ctx context.Context, args []string) error {
	r := newRegCmd("params", "0.1")
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
	changes := 0
	for _, n := range []string{"min-stake", "unbonding", "fee-bps", "treasury", "challenge", "quorum", "attestation-lifetime"} {
		if set[n] {
			changes++
		}
	}
	if changes == 0 {
		return fmt.Errorf("%w: params needs at least one parameter flag to change (see 'cocoon registry show')", errUsage)
	}
	// The message replaces every parameter, so start from the current ones.
	c, release, err := r.connect(ctx)
	if err != nil {
		return err
	}
	p, err := contracts.RegistryClient{Chain: c, Address: reg}.Params(ctx)
	release()
	if err != nil {
		return fmt.Errorf("failed to read the current parameters: %w", err)
	}
	if set["min-stake"] {
		n, err := wallet.ParseTON(*minStake)
		if err != nil {
			return fmt.Errorf("%w: --min-stake: %v", errUsage, err)
		}
		p.MinProviderStake = tlb.FromNanoTON(n)
	}
	if set["unbonding"] {
		if p.UnbondingPeriod, err = periodSeconds("unbonding", *unbonding); err != nil {
			return err
		}
	}
	if set["challenge"] {
		if p.ChallengePeriod, err = periodSeconds("challenge", *challenge); err != nil {
			return err
		}
	}
	if set["attestation-lifetime"] {
		if p.MaxAttestationLifetime, err = periodSeconds("attestation-lifetime", *lifetime); err != nil {
			return err
		}
	}
	if set["fee-bps"] {
		if *feeBps > maxFeeBps {
			return fmt.Errorf("%w: --fee-bps %d is above %d", errUsage, *feeBps, maxFeeBps)
		}
		p.ProtocolFeeBps = uint16(*feeBps)
	}
	if set["quorum"] {
		if *quorum < 1 || *quorum > 255 {
			return fmt.Errorf("%w: --quorum must be 1..255", errUsage)
		}
		p.OracleQuorum = uint8(*quorum)
	}
	if set["treasury"] {
		if p.Treasury, _, err = r.parseAddress(*treasury); err != nil {
			return err
		}
	}
	if err := checkParams(p); err != nil {
		return err
	}
	body, err := contracts.Encode(contracts.UpdateParams{QueryID: r.queryID, Params: p})
	if err != nil {
		return err
	}
	return r.deliver(ctx, "params", reg, value, body, nil)
}

// registryGovern handles the verbs that are one governance message each.
func registryGovern(ctx context.Context, verb string, args []string) error {
	r := newRegCmd(verb, "0.1")
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
		var k contracts.MeasurementKind
		switch *kind {
		case "tdx":
			k = contracts.MeasurementTDX
		case "snp":
			k = contracts.MeasurementSNP
		case "sim":
			k = contracts.MeasurementSim
		default:
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
	body, err := contracts.Encode(msg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return r.deliver(ctx, verb, reg, value, body, nil)
}
