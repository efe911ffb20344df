package provider

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"os"
	"strings"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/backend/upstream"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/service"
)

// Problem is something on-chain that keeps the provider from serving, with how to fix it.
type Problem struct {
	What string
	// Fix is the command (or step) that fixes it.
	Fix string
}

// ChainCheckError lists what the chain lacks for this provider to serve.
type ChainCheckError struct{ Problems []Problem }

func (e *ChainCheckError) Error() string {
	var b strings.Builder
	b.WriteString("the chain is not ready for this provider to serve:")
	for _, pr := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s\n    fix: %s", pr.What, pr.Fix)
	}
	return b.String()
}

// initChainCheck checks, before anything is served, what clients check before they pay: the
// provider is registered, active, staked at least the registry's minimum and has an endpoint, and
// every model it serves is in the registry's catalog (one entry for its name) and priced on its
// Provider contract. It refuses to start without a servable model; models that are not priced
// are not served (and the fix is printed).
func (p *Provider) initChainCheck(ctx context.Context) (service.StopFunc, error) {
	var problems []Problem
	reg := "--registry " + p.ops.Friendly(p.registry, true)
	view, err := p.ops.ReadProvider(ctx, p.owner)
	var notReg *ops.NotRegisteredError
	switch {
	case errors.As(err, &notReg):
		return nil, &ChainCheckError{[]Problem{{
			What: fmt.Sprintf("owner %s has no registered provider under registry %s", p.ops.Friendly(p.owner, false), p.ops.Friendly(p.registry, true)),
			Fix:  fmt.Sprintf("cocoon provider register %s --key-file OWNER.key --stake TON (at least the registry's minimum stake)", reg)}}}
	case err != nil:
		return nil, fmt.Errorf("failed to read the provider from the chain: %w", err)
	}
	switch view.Data.EffectiveStatus {
	case contracts.ProviderActive:
	case contracts.ProviderPaused:
		problems = append(problems, Problem{"the provider is paused", "cocoon provider resume " + reg + " --key-file OWNER.key"})
	case contracts.ProviderJailed:
		problems = append(problems, Problem{fmt.Sprintf("the provider is jailed by governance until unix time %d", view.Data.JailedUntil), "wait for the jail to end, then cocoon provider resume"})
	default:
		problems = append(problems, Problem{fmt.Sprintf("the provider's status is %s, not active", view.Data.EffectiveStatus),
			"cocoon provider add-stake (or register again) " + reg + " --key-file OWNER.key --amount TON, then cocoon provider resume"})
	}
	if minStake := view.RegistryParams.MinProviderStake.Nano(); view.Data.Stake.Nano().Cmp(minStake) < 0 {
		short := new(big.Int).Sub(minStake, view.Data.Stake.Nano())
		problems = append(problems, Problem{fmt.Sprintf("the stake %s TON is below the registry's minimum %s TON", wallet.FormatTON(view.Data.Stake.Nano()), wallet.FormatTON(minStake)),
			fmt.Sprintf("cocoon provider add-stake %s --key-file OWNER.key --amount %s", reg, wallet.FormatTON(short))})
	}
	if view.Profile.Endpoint == "" {
		problems = append(problems, Problem{"the provider has no endpoint on-chain (clients cannot find it)",
			fmt.Sprintf("cocoon provider set-endpoint %s --key-file OWNER.key --url https://HOST:PORT (this daemon listens on %s)", reg, p.cfg.Listen)})
	}
	priced := map[uint32]contracts.ModelPriceEntry{}
	for _, e := range view.Profile.Prices {
		priced[e.ModelID] = e
	}
	for _, mc := range p.cfg.Models {
		cat, err := contracts.FindModel(p.catalog, mc.Name)
		if err != nil {
			problems = append(problems, Problem{fmt.Sprintf("model %q: %v", mc.Name, err),
				"governance adds it: cocoon registry add-model (or fix models[].name in the config)"})
			continue
		}
		want := p.setPriceCommand(reg, cat.ID, mc)
		e, ok := priced[cat.ID]
		if !ok {
			p.log.Warn("not serving a model that is not priced on-chain", "model", mc.Name, "model_id", cat.ID, "fix", want)
			continue
		}
		prices := nanoPrices(e.PromptPricePerMillion.Nano(), e.CompletionPricePerMillion.Nano())
		if mc.PromptPriceTON != "" && mc.CompletionPriceTON != "" {
			pp, _ := wallet.ParseTON(mc.PromptPriceTON)
			cp, _ := wallet.ParseTON(mc.CompletionPriceTON)
			if pp.Cmp(prices.Prompt) != 0 || cp.Cmp(prices.Completion) != 0 {
				p.log.Warn("the on-chain prices differ from the config's; billing the on-chain prices", "model", mc.Name,
					"chain_prompt_ton", wallet.FormatTON(prices.Prompt), "chain_completion_ton", wallet.FormatTON(prices.Completion), "fix", want)
			}
		}
		limit := mc.MaxConcurrent
		if limit == 0 {
			limit = DefaultMaxConcurrent
		}
		p.models[mc.Name] = &servedModel{name: mc.Name, id: cat.ID, ctxLen: mc.ContextLength, sem: make(chan struct{}, limit), prices: prices}
	}
	if len(p.models) == 0 && len(p.cfg.Models) > 0 {
		for _, mc := range p.cfg.Models {
			if cat, err := contracts.FindModel(p.catalog, mc.Name); err == nil {
				problems = append(problems, Problem{fmt.Sprintf("model %q (id %d) has no price on the provider's contract: it would be served for free", mc.Name, cat.ID),
					p.setPriceCommand(reg, cat.ID, mc)})
			}
		}
	}
	if len(problems) > 0 {
		return nil, &ChainCheckError{problems}
	}
	return nil, nil
}

func (p *Provider) setPriceCommand(reg string, id uint32, mc ModelConfig) string {
	pp, cp := mc.PromptPriceTON, mc.CompletionPriceTON
	if pp == "" {
		pp = "TON"
	}
	if cp == "" {
		cp = "TON"
	}
	return fmt.Sprintf("cocoon provider set-price %s --key-file OWNER.key --model-id %d --prompt %s --completion %s (TON per 1M tokens)", reg, id, pp, cp)
}

// initBackend starts the backend of the models being served; embedded weights are pinned to the
// catalog's weights hash.
func (p *Provider) initBackend(ctx context.Context) (service.StopFunc, error) {
	bc := p.cfg.Backend
	switch bc.Kind {
	case "embedded":
		mc := p.cfg.Models[0]
		m := p.models[mc.Name]
		if m == nil {
			return nil, fmt.Errorf("model %q is not servable", mc.Name)
		}
		f, err := models.Read(bc.Model)
		if err != nil {
			return nil, err
		}
		cat, _ := contracts.FindModel(p.catalog, mc.Name)
		registered := hex.EncodeToString(cat.WeightsHash)
		if mc.SHA256 != "" && !strings.EqualFold(mc.SHA256, registered) {
			return nil, fmt.Errorf("%w: model %q is pinned to sha256 %s in the config but the registry lists %s", backend.ErrHashMismatch, mc.Name, strings.ToLower(mc.SHA256), registered)
		}
		b, err := embedded.New(embedded.Config{ModelName: mc.Name, Weights: f.Weights, Path: f.Path, ExpectedSHA256: registered,
			Threads: bc.Threads, ChatTemplate: bc.ChatTemplate})
		if err != nil {
			return nil, err
		}
		p.backend = b
	case "upstream":
		names := map[string]string{}
		for name := range p.models {
			for _, mc := range p.cfg.Models {
				if mc.Name == name {
					names[name] = mc.Upstream
					if names[name] == "" {
						names[name] = name
					}
				}
			}
		}
		key := ""
		if bc.APIKeyEnv != "" {
			key = os.Getenv(bc.APIKeyEnv)
		}
		b, err := upstream.New(upstream.Config{BaseURL: bc.URL, APIKey: key, Models: names, NoContinuousUsage: bc.NoContinuousUsage,
			Poll: p.poll.Poller(1)}) // while the answer's request is the only one in progress
		if err != nil {
			return nil, err
		}
		p.backend = b
	}
	served, err := p.backend.Models(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to list the backend's models: %w", err)
	}
	for _, bm := range served {
		if m := p.models[bm.Name]; m != nil && bm.ContextLength > 0 {
			m.ctxLen = bm.ContextLength
		}
	}
	for _, m := range p.models {
		if m.ctxLen <= 0 {
			return nil, fmt.Errorf("model %q: its context window is unknown (set models[].context_length)", m.name)
		}
	}
	return nil, nil
}
