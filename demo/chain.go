package demo

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/models"
)

// Funding from the faucet, in TON: each wallet gets its amount when it holds less than half of it.
const (
	fundGovernance = 100
	fundOracle     = 10
	fundOwner      = 50
	fundSettlement = 5
	fundClient     = 100
)

// actor is a wallet the orchestrator signs with, as the operator owning it would (its mnemonic
// file under the data directory, its own transaction manager).
type actor struct {
	name    string
	keyFile string
	wallet  *wallet.Wallet
	ops     *ops.Ops
	// fund is what the faucet gives it, in TON.
	fund int64
}

// Address is the wallet's.
func (a *actor) Address() *address.Address { return a.wallet.Address() }

// loadActor reads the mnemonic at keyFile, creating it (0600) on first use.
func (n *Network) loadActor(name, keyFile string, fund int64) (*actor, error) {
	if _, err := os.Stat(keyFile); errors.Is(err, os.ErrNotExist) {
		if err := keys.WriteMnemonic(keyFile, wallet.NewMnemonic()); err != nil {
			return nil, fmt.Errorf("%s's wallet: %w", name, err)
		}
	}
	words, err := keys.ReadMnemonic(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s's wallet: %w", name, err)
	}
	w, err := wallet.FromMnemonic(words, wallet.V5R1, dial.Networks["devnet"].GlobalID)
	if err != nil {
		return nil, err
	}
	o, err := n.WalletOps(w)
	if err != nil {
		return nil, err
	}
	return &actor{name: name, keyFile: keyFile, wallet: w, fund: fund, ops: o}, nil
}

// devnetChain is what the orchestrator uses of the devnet's own endpoints (chain/toncenter).
type devnetChain interface {
	DevnetFund(ctx context.Context, addr *address.Address, nanoTON *big.Int) error
	DevnetAdvance(ctx context.Context, d time.Duration) error
	DevnetTime(ctx context.Context) (time.Time, error)
}

// fundAll tops up from the faucet every wallet holding less than half of its amount, at once.
func (n *Network) fundAll(ctx context.Context, addrs map[string]*address.Address, amounts map[string]int64) (int, error) {
	var mu sync.Mutex
	funded := 0
	err := parallel(ctx, len(addrs), func(ctx context.Context, i int) error {
		name := sortedKeys(addrs)[i]
		a := addrs[name]
		acc, err := n.Chain.GetAccount(ctx, a)
		if err != nil {
			return err
		}
		want := new(big.Int).Mul(big.NewInt(amounts[name]), big.NewInt(1_000_000_000))
		if new(big.Int).Mul(acc.Balance, big.NewInt(2)).Cmp(want) >= 0 {
			return nil
		}
		if err := n.Chain.(devnetChain).DevnetFund(ctx, a, want); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		mu.Lock()
		funded++
		mu.Unlock()
		return nil
	})
	return funded, err
}

// Fund credits ton TON to addr from the devnet's faucet.
func (n *Network) Fund(ctx context.Context, addr *address.Address, ton int64) error {
	return n.Chain.(devnetChain).DevnetFund(ctx, addr, new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000)))
}

// AdvanceTime moves the devnet's clock forward (a challenge period, an attestation's lifetime).
func (n *Network) AdvanceTime(ctx context.Context, d time.Duration) error {
	if err := n.Chain.(devnetChain).DevnetAdvance(ctx, d); err != nil {
		return err
	}
	return n.syncClock(ctx)
}

// syncClock reads the devnet's clock: the orchestrator's wallets sign and check deadlines by it.
func (n *Network) syncClock(ctx context.Context) error {
	now, err := n.Now(ctx)
	if err != nil {
		return fmt.Errorf("the devnet's clock: %w", err)
	}
	n.clockOffset.Store(int64(time.Until(now)))
	return nil
}

// Now is the devnet's clock.
func (n *Network) Now(ctx context.Context) (time.Time, error) {
	return n.Chain.(devnetChain).DevnetTime(ctx)
}

// registryParams are the demo registry's parameters.
func registryParams(quorum int) contracts.RegistryParams {
	return contracts.RegistryParams{MinProviderStake: tlb.MustFromTON(MinStakeTON), UnbondingPeriod: UnbondingPeriod,
		ProtocolFeeBps: ProtocolFeeBps, ChallengePeriod: ChallengePeriod, OracleQuorum: uint8(quorum),
		MaxAttestationLifetime: AttestationMaxAge}
}

// ensureRegistry deploys the registry on a new network, or checks that the one kept is there and
// runs this build's contracts.
func (n *Network) ensureRegistry(ctx context.Context) (string, error) {
	gov := n.gov.ops
	if n.State.Registry != "" {
		reg, err := address.ParseRawAddr(n.State.Registry)
		if err != nil {
			return "", err
		}
		n.Registry = reg
		gov.Registry = reg
		v, err := gov.ReadRegistry(ctx)
		if err != nil {
			return "", fmt.Errorf("the registry this network deployed (%s) cannot be read: %w; start a new network with --fresh", n.State.Registry, err)
		}
		if !bytesEqual(v.Codes.ProviderCode.Hash(), contracts.ProviderCode().Hash()) || !v.ChannelCodeCurrent() {
			return "", fmt.Errorf("the registry %s was deployed by an older build (its contract code differs from this one's): start a new network with --fresh", n.State.Registry)
		}
		return "kept " + n.friendly(reg), nil
	}
	dp, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: contracts.NetworkDevnet, Params: registryParams(n.Config.Quorum)})
	if err != nil {
		return "", err
	}
	if _, err := gov.Send(ctx, dp.Plan); err != nil {
		return "", err
	}
	n.Registry = dp.Address
	gov.Registry = dp.Address
	n.State.Registry = dp.Address.StringRaw()
	if err := n.State.save(n.Config.DataDir); err != nil {
		return "", err
	}
	return fmt.Sprintf("%s (devnet kind, channels enabled, min stake %s TON, quorum %d)", n.friendly(dp.Address), MinStakeTON, n.Config.Quorum), nil
}

// governance allows the devnet's simulated image, lists the demo model and adds the oracles:
// whatever the registry does not hold yet, each message sent as soon as the previous one left the
// wallet, then every change checked on the registry's getters.
func (n *Network) governance(ctx context.Context, s *Step) (string, error) {
	gov := n.gov.ops
	v, err := gov.ReadRegistry(ctx)
	if err != nil {
		return "", err
	}
	weights, err := hex.DecodeString(models.DefaultSHA256)
	if err != nil {
		return "", err
	}
	var msgs []contracts.Message
	var did []string
	sims := n.simMeasurements()
	allowed := 0
	for _, m := range sims {
		if !hasMeasurement(v.Measurements, m[:]) {
			msgs = append(msgs, contracts.AddMeasurement{MeasurementHash: m[:], Kind: contracts.MeasurementSim})
			allowed++
		}
	}
	if allowed > 0 {
		did = append(did, fmt.Sprintf("allowed %d simulated TEE measurement(s)", allowed))
	}
	if !hasModel(v.Models, ModelID) {
		name, err := contracts.TextCell(models.DefaultModelName, contracts.MaxModelNameBytes)
		if err != nil {
			return "", err
		}
		msgs = append(msgs, contracts.AddModel{ModelID: ModelID, WeightsHash: weights, Name: name})
		did = append(did, "listed "+models.DefaultModelName)
	}
	added := 0
	for _, o := range n.Oracles {
		if !hasOracle(v.Oracles, o.Wallet) {
			msgs = append(msgs, contracts.AddOracle{Wallet: o.Wallet, PublicKey: o.PublicKey})
			added++
		}
	}
	if added > 0 {
		did = append(did, fmt.Sprintf("added %d oracles", added))
	}
	if len(msgs) == 0 {
		return "nothing to change", nil
	}
	for i, m := range msgs {
		s.Status("%d of %d messages sent", i, len(msgs))
		p, err := gov.PlanGovern(ctx, m, nil)
		if err != nil {
			return "", fmt.Errorf("%s: %w", m.MessageName(), err)
		}
		if i < len(msgs)-1 {
			p.Wait = ops.WaitWallet
		}
		if _, err := gov.Send(ctx, p); err != nil {
			return "", fmt.Errorf("%s: %w", m.MessageName(), err)
		}
	}
	s.Status("checking the registry")
	if err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		v, err := gov.ReadRegistry(ctx)
		if err != nil {
			return false, err
		}
		ok := hasModel(v.Models, ModelID)
		for _, m := range sims {
			ok = ok && hasMeasurement(v.Measurements, m[:])
		}
		for _, o := range n.Oracles {
			ok = ok && hasOracle(v.Oracles, o.Wallet)
		}
		return ok, nil
	}); err != nil {
		return "", fmt.Errorf("the registry does not show every change: %w", err)
	}
	return joinAnd(did), nil
}

// simMeasurements are the providers' images' measurements, each once.
func (n *Network) simMeasurements() [][32]byte {
	var out [][32]byte
	seen := map[[32]byte]bool{}
	for _, p := range n.Config.Providers {
		m := p.Measurement()
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

// setUpProvider registers and stakes a provider from its owner's wallet, then publishes its
// endpoint and its price of the demo model (once modelListed is closed), each only when the chain
// does not show it already.
func (n *Network) setUpProvider(ctx context.Context, p *Provider, modelListed <-chan struct{}, s *Step) (string, error) {
	o := p.owner.ops
	var did []string
	st, err := o.LookupProvider(ctx, p.Owner)
	if errors.Is(err, ops.ErrNotRegistered) {
		stake, err := wallet.ParseTON(p.Spec.Stake)
		if err != nil {
			return "", err
		}
		s.Status("registering with %s TON of stake", p.Spec.Stake)
		rp, err := o.PlanRegister(ctx, ops.RegisterInput{Stake: stake})
		if err != nil {
			return "", err
		}
		res, err := o.SendRegister(ctx, rp)
		if err != nil {
			return "", err
		}
		_ = res
		did = append(did, "registered with "+p.Spec.Stake+" TON of stake")
		if st, err = o.LookupProvider(ctx, p.Owner); err != nil {
			return "", err
		}
	} else if err != nil {
		return "", err
	}
	p.Contract = st.Address
	prof, err := contracts.ProviderClient{Chain: n.Chain, Address: p.Contract}.Profile(ctx)
	if err != nil {
		return "", err
	}
	if prof.Endpoint != p.Endpoint {
		s.Status("publishing the endpoint")
		if err := p.ownerOp(ctx, ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: p.Endpoint}, true); err != nil {
			return "", err
		}
		did = append(did, "endpoint "+p.Endpoint)
	}
	pp, _ := wallet.ParseTON(p.Spec.PromptPrice)
	cp, _ := wallet.ParseTON(p.Spec.CompletionPrice)
	if !hasPrice(prof.Prices, ModelID, pp, cp) {
		s.Status("waiting for the model to be listed")
		select {
		case <-modelListed:
		case <-ctx.Done():
			return "", ctx.Err()
		}
		s.Status("pricing the model")
		if err := p.ownerOp(ctx, ops.OwnerOp{Kind: ops.SetPrice, ModelID: ModelID, PromptPrice: pp, CompletionPrice: cp}, false); err != nil {
			return "", err
		}
		did = append(did, fmt.Sprintf("priced at %s / %s TON per 1M tokens", p.Spec.PromptPrice, p.Spec.CompletionPrice))
	}
	if len(did) == 0 {
		return "registered, endpoint and price as before", nil
	}
	return joinAnd(did), nil
}

// ownerOp sends an owner operation from the provider's owner wallet; walletOnly returns once
// the wallet's transaction is in (a later message of the same wallet reaches the contract after).
func (p *Provider) ownerOp(ctx context.Context, op ops.OwnerOp, walletOnly bool) error {
	o := p.owner.ops
	plan, err := o.PlanOwnerOp(ctx, ops.OwnerOpInput{Op: op})
	if err != nil {
		return fmt.Errorf("%s: %w", op.Kind, err)
	}
	if walletOnly {
		plan.Wait = ops.WaitWallet
	}
	if _, err := o.SendOwnerOp(ctx, plan); err != nil {
		return fmt.Errorf("%s: %w", op.Kind, err)
	}
	return nil
}

// Govern sends governance messages from the governance wallet, each waited for.
func (n *Network) Govern(ctx context.Context, msgs ...contracts.Message) error {
	for _, m := range msgs {
		p, err := n.gov.ops.PlanGovern(ctx, m, nil)
		if err != nil {
			return fmt.Errorf("%s: %w", m.MessageName(), err)
		}
		if _, err := n.gov.ops.Send(ctx, p); err != nil {
			return fmt.Errorf("%s: %w", m.MessageName(), err)
		}
	}
	return nil
}

// Attestation reads a provider's attestation on-chain.
func (n *Network) Attestation(ctx context.Context, p *Provider) (*contracts.AttestationView, error) {
	return contracts.ProviderClient{Chain: n.Chain, Address: p.Contract}.Attestation(ctx)
}

// waitAttested waits until every provider is attested on-chain (a quorum of oracle votes for the
// claim of its current RA-TLS key), saying how many votes each holds.
func (n *Network) waitAttested(ctx context.Context, ps []*Provider, s *Step) (string, error) {
	var keys []string
	err := waitFor(ctx, 3*time.Minute, func() (bool, error) {
		all := true
		var status []string
		for _, p := range ps {
			a, err := n.Attestation(ctx, p)
			if err != nil {
				return false, err
			}
			live := 0
			now, _ := n.clock(ctx)
			for _, v := range a.Votes {
				if int64(v.ValidUntil) > now.Unix() {
					live++
				}
			}
			key := p.TLSKeyHash()
			current := a.Attested && key != "" && hex.EncodeToString(a.TLSKeyHash) == key
			if !current {
				all = false
				status = append(status, fmt.Sprintf("%s %d of %d votes", p.Name, live, n.Config.Quorum))
			} else {
				status = append(status, p.Name+" attested")
			}
		}
		s.Status("%s", joinAnd(status))
		return all, nil
	})
	if err != nil {
		return "", err
	}
	for _, p := range ps {
		keys = append(keys, p.Name)
	}
	return fmt.Sprintf("%s attested by a quorum of %d oracles (simulated TEE)", joinAnd(keys), n.Config.Quorum), nil
}

func (n *Network) friendly(a *address.Address) string { return chain.Friendly(a, true, false) }

func hasMeasurement(ms []contracts.Measurement, h []byte) bool {
	for _, m := range ms {
		if bytesEqual(m.Hash, h) {
			return true
		}
	}
	return false
}

func hasModel(ms []contracts.Model, id uint32) bool {
	for _, m := range ms {
		if m.ID == id {
			return true
		}
	}
	return false
}

func hasOracle(os []contracts.Oracle, w *address.Address) bool {
	for _, o := range os {
		if o.Wallet.Equals(w) {
			return true
		}
	}
	return false
}

func hasPrice(ps []contracts.ModelPriceEntry, id uint32, prompt, completion *big.Int) bool {
	for _, p := range ps {
		if p.ModelID == id {
			return p.PromptPricePerMillion.Nano().Cmp(prompt) == 0 && p.CompletionPricePerMillion.Nano().Cmp(completion) == 0
		}
	}
	return false
}

// oracleKey reads the oracle's ed25519 key file, creating it on first use.
func oracleKey(path string) (ed25519.PublicKey, error) {
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		if _, err := keys.NewOracleKey(path); err != nil {
			return nil, err
		}
	}
	k, err := keys.ReadOracleKey(path)
	if err != nil {
		return nil, err
	}
	return k.Public().(ed25519.PublicKey), nil
}

// WalletOps is the operations of wallet w on the network's registry, through its own transaction
// manager (a test's own client or operator).
func (n *Network) WalletOps(w *wallet.Wallet) (*ops.Ops, error) {
	m, err := txmgr.New(txmgr.Config{Chain: n.Chain, Signer: w, PollInterval: dial.PollInterval("devnet"), Clock: n.clock})
	if err != nil {
		return nil, err
	}
	return &ops.Ops{Chain: n.Chain, Sender: m, Registry: n.Registry, Clock: n.clock}, nil
}
