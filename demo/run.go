package demo

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// RunOptions say what Run does once the network runs.
type RunOptions struct {
	// Check verifies every step (attested, paid, claimed, indexed, in the explorer's API), stops
	// the network and returns; otherwise Run keeps the network until ctx ends.
	Check bool
	// Prompt and MaxTokens of the demo's request (defaults: DefaultPrompt, 48).
	Prompt    string
	MaxTokens int
}

// Summary is what a run showed.
type Summary struct {
	// Elapsed is the time from the start to the end of the last check.
	Elapsed time.Duration
	// Timings are the steps' durations.
	Timings []Timing
	// Chat is the demo's request; Provider the one that answered it.
	Chat     *ChatResult
	Provider *Provider
	// Claim is the provider's claim of it.
	Claim *ClaimTx
	// Providers, Oracles and Quorum are the network's.
	Providers, Oracles, Quorum int
}

// Line is the one-line summary of a check.
func (s *Summary) Line() string {
	if s.Chat == nil || s.Claim == nil {
		return fmt.Sprintf("ok in %.1fs: %d providers attested by %d of %d oracles", s.Elapsed.Seconds(), s.Providers, s.Quorum, s.Oracles)
	}
	return fmt.Sprintf("ok in %.1fs: %d providers attested by %d of %d oracles; a streamed request through the gateway paid %s TON to %s (receipt verified); claimed on-chain (tx %s); indexed and shown by the explorer",
		s.Elapsed.Seconds(), s.Providers, s.Quorum, s.Oracles, s.Chat.Record.CostTON, s.Provider.Name, shortHash(s.Claim.Hash))
}

// Run starts (or resumes) the network, sends one streamed request through the gateway and shows
// the answer, the provider chosen, the cost, the receipt and the verification report, then the
// provider's claim once it lands and the URLs to look at. Without Check it keeps everything
// running until ctx ends (Ctrl-C), then stops every process; with Check it also checks the
// claim in the explorer's API, stops, and returns the summary. A failed step is a *StepError.
func Run(ctx context.Context, cfg Config, o RunOptions) (*Summary, error) {
	if o.Prompt == "" {
		o.Prompt = DefaultPrompt
	}
	if o.MaxTokens == 0 {
		o.MaxTokens = 48
	}
	n, err := Start(ctx, cfg)
	if err != nil {
		return nil, err
	}
	sum, err := n.scenario(ctx, o)
	stopCtx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if !o.Check && err == nil {
		n.showURLs()
		n.Progress.Printf("running until Ctrl-C (logs in %s)", n.path("logs"))
		watchCtx, stopWatch := context.WithCancel(ctx)
		go n.Watch(watchCtx, func(p *Proc) {
			n.Progress.Printf("%s exited unexpectedly (%s); the end of %s:\n%s", p.Name, p.ExitText(), p.LogPath, p.Tail(15))
		})
		<-ctx.Done()
		stopWatch()
		n.Progress.Printf("interrupted: stopping every process (Ctrl-C again kills them at once)")
	}
	if stopErr := n.Stop(stopCtx); stopErr != nil {
		if err == nil && o.Check {
			err = &StepError{Step: "stop", Err: stopErr}
		} else {
			n.Progress.Printf("stopping: %v", stopErr)
		}
	}
	if err != nil {
		return sum, err
	}
	if sum != nil {
		sum.Elapsed = n.Progress.Elapsed()
		sum.Timings = n.Progress.Timings()
	}
	return sum, nil
}

// scenario is the request, the claim and (with Check) the explorer's view of them.
func (n *Network) scenario(ctx context.Context, o RunOptions) (*Summary, error) {
	sum := &Summary{Providers: len(n.Providers), Oracles: len(n.Oracles), Quorum: n.Config.Quorum}
	if n.Config.NoGateway {
		return sum, nil
	}
	err := n.Progress.Run(ctx, "request", fmt.Sprintf("asking the gateway %q (%s, streamed)", o.Prompt, "max_tokens "+fmt.Sprint(o.MaxTokens)), func(ctx context.Context, _ *Step) (string, error) {
		n.Progress.Raw("\n    ")
		res, err := n.Chat(ctx, o.Prompt, o.MaxTokens, func(s string) { n.Progress.Raw(strings.ReplaceAll(s, "\n", "\n    ")) })
		n.Progress.Raw("\n\n")
		if err != nil {
			return "", err
		}
		sum.Chat = res
		rec := res.Record
		if sum.Provider = n.ProviderByEndpoint(rec.Endpoint); sum.Provider == nil {
			return "", fmt.Errorf("answered by %s, which is not a provider of this network", rec.Endpoint)
		}
		if !rec.ReceiptVerified {
			return "", fmt.Errorf("the gateway did not verify the receipt: %s", rec.Problem)
		}
		return fmt.Sprintf("%d prompt + %d completion tokens in %.0f ms", rec.PromptTokens, rec.CompletionTokens, rec.TotalMillis), nil
	})
	if err != nil {
		return sum, err
	}
	n.showRequest(sum.Chat, sum.Provider)
	// The client pays for an answer with the voucher its next request to that provider carries (the
	// provider gives one request of credit): ask once more, for one token, so that the provider
	// holds the voucher for the demo's answer and claims it.
	if err := n.Progress.Run(ctx, "voucher", fmt.Sprintf("sending the voucher for that answer: it travels with the next request to %s (one token)", sum.Provider.Name), func(ctx context.Context, _ *Step) (string, error) {
		res, err := n.ChatVia(ctx, sum.Provider.Endpoint, o.Prompt, 1, nil)
		if err != nil {
			return "", err
		}
		if res.Record.Channel != sum.Chat.Record.Channel {
			return "", fmt.Errorf("answered on channel %s, not %s", res.Record.Channel, sum.Chat.Record.Channel)
		}
		return fmt.Sprintf("%s now holds a voucher for %s nanoTON (this answer, %s nanoTON, is paid by the next)", sum.Provider.Name, sum.Chat.Record.Owed, res.Record.Cost), nil
	}); err != nil {
		return sum, err
	}
	if err := n.Progress.Run(ctx, "claim", fmt.Sprintf("waiting for %s to claim the voucher on-chain", sum.Provider.Name), func(ctx context.Context, s *Step) (string, error) {
		c, err := n.WaitClaim(ctx, sum.Chat.Record.Channel, sum.Chat.Record.Owed, s)
		if err != nil {
			return "", err
		}
		sum.Claim = c
		return fmt.Sprintf("transaction %s: %s TON paid, %s TON earned, %s TON protocol fee", c.Hash, wallet.FormatTON(c.Paid), wallet.FormatTON(c.Earned), wallet.FormatTON(c.Fee)), nil
	}); err != nil {
		return sum, err
	}
	n.Progress.Printf("  the claim in the explorer: %s/tx/%s", n.ExplorerURL, sum.Claim.Hash)
	if !o.Check {
		return sum, nil
	}
	err = n.Progress.Run(ctx, "explorer", "checking that the explorer's API shows the providers attested and the claim", func(ctx context.Context, s *Step) (string, error) {
		return n.CheckIndexed(ctx, sum, s)
	})
	return sum, err
}

// showRequest prints the provider chosen, the cost, the receipt and the verification report.
func (n *Network) showRequest(res *ChatResult, p *Provider) {
	rec := res.Record
	pr := n.Progress
	pr.Printf("  provider:     %s, contract %s, endpoint %s (TEE: %s)", p.Name, n.friendly(p.Contract), rec.Endpoint, res.Header.Get("X-Cocoon-TEE"))
	pr.Printf("  cost:         %s TON (%s nanoTON) for %d prompt + %d completion tokens; %s nanoTON owed on the channel", rec.CostTON, rec.Cost, rec.PromptTokens, rec.CompletionTokens, rec.Owed)
	pr.Printf("  channel:      %s", rec.Channel)
	pr.Printf("  receipt:      %s", rec.Receipt)
	pr.Printf("                verified: signed by the provider's attested key, request and response hashes, on-chain prices, cost")
	if v := rec.Verification; v != nil {
		tee := v.Kind
		if v.Simulated {
			tee = "sim — SIMULATED, NOT A TEE"
		}
		pr.Printf("  verification: ok=%v; %s, measurement %s (allowed as %s)", v.OK, tee, v.Measurement, v.AllowedKind)
		pr.Printf("                attested on-chain until %s by oracles %s", v.ValidUntil.Local().Format(time.DateTime), strings.Join(v.Oracles, ", "))
		pr.Printf("                RA-TLS key hash %s = the on-chain attested key; fresh evidence for nonce %s in %.0f ms", v.TLSKeyHash, shortHash(v.Nonce), v.ProbeMillis)
		pr.Printf("                status %s, stake %s TON (minimum %s)", v.Status, v.StakeTON, v.MinStakeTON)
	}
}

// showURLs prints where to look, and how to use the network from a shell.
func (n *Network) showURLs() {
	pr := n.Progress
	pr.Printf("the network runs:")
	pr.Printf("  gateway:  %s/v1  (any OpenAI client: base URL only, any API key)", n.GatewayURL)
	pr.Printf("  explorer: %s", n.ExplorerURL)
	pr.Printf("  devnet:   %s  (toncenter v2)", n.RPC)
	pr.Printf("  try:      curl %s/v1/chat/completions -H 'Content-Type: application/json' -d '{\"model\":\"cocoon-kjv-demo-1m\",\"messages\":[{\"role\":\"user\",\"content\":\"And God said\"}]}'", n.GatewayURL)
	pr.Printf("  or:       export COCOON_RPC=%s COCOON_REGISTRY=%s; cocoon registry show", n.RPC, n.Registry.StringRaw())
}

// ClaimTx is a claim on a channel.
type ClaimTx struct {
	Hash string
	LT   uint64
	// Paid is what the claim paid out of the channel; Earned the owner's part, Fee the treasury's.
	Paid, Earned, Fee *big.Int
}

// WaitClaim waits until the channel (raw address) has paid at least owed (nanoTON, decimal) and
// returns the claim that did it.
func (n *Network) WaitClaim(ctx context.Context, channel, owed string, s *Step) (*ClaimTx, error) {
	ch, err := address.ParseRawAddr(channel)
	if err != nil {
		return nil, fmt.Errorf("channel %q: %w", channel, err)
	}
	want, ok := new(big.Int).SetString(owed, 10)
	if !ok {
		return nil, fmt.Errorf("owed %q is not an amount", owed)
	}
	cc := contracts.ChannelClient{Chain: n.Chain, Address: ch}
	if err := waitFor(ctx, time.Minute, func() (bool, error) {
		st, err := cc.State(ctx)
		if err != nil {
			return false, err
		}
		if s != nil {
			s.Status("the channel has paid %s of %s nanoTON", st.Paid.Nano(), want)
		}
		return st.Paid.Nano().Cmp(want) >= 0, nil
	}); err != nil {
		return nil, err
	}
	return n.LastClaim(ctx, ch)
}

// LastClaim is the newest claim transaction of a channel, with what it paid.
func (n *Network) LastClaim(ctx context.Context, ch *address.Address) (*ClaimTx, error) {
	txs, err := n.Chain.GetTransactions(ctx, ch, 32, 0, nil)
	if err != nil {
		return nil, err
	}
	for _, tx := range txs {
		if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
			continue
		}
		m, err := contracts.Decode(tx.IO.In.AsInternal().Body)
		if err != nil {
			continue
		}
		switch m.(type) {
		case contracts.Claim, contracts.ClaimRemainder:
		default:
			continue
		}
		c := &ClaimTx{Hash: hex.EncodeToString(tx.Hash), LT: tx.LT}
		c.Paid, c.Earned, c.Fee = claimAmounts(tx)
		return c, nil
	}
	return nil, errors.New("the channel has paid, but no claim transaction is among its newest 32")
}

// claimAmounts reads a claim transaction's usage report (ChannelUsage to the Provider contract):
// earned and fee; paid is their sum.
func claimAmounts(tx *tlb.Transaction) (paid, earned, fee *big.Int) {
	paid, earned, fee = new(big.Int), new(big.Int), new(big.Int)
	if tx.IO.Out == nil {
		return
	}
	msgs, err := tx.IO.Out.ToSlice()
	if err != nil {
		return
	}
	for _, m := range msgs {
		if m.MsgType != tlb.MsgTypeInternal {
			continue
		}
		d, err := contracts.Decode(m.AsInternal().Body)
		if err != nil {
			continue
		}
		if u, ok := d.(contracts.ChannelUsage); ok {
			if c, err := u.Claimed(); err == nil {
				paid, earned, fee = c.Amount, c.Earned, c.Fee
			}
		}
	}
	return
}

// CheckIndexed checks the explorer's API: every provider attested and eligible, the channel's
// claim listed with its transaction, and the explorer's pages of the claim and the provider.
func (n *Network) CheckIndexed(ctx context.Context, sum *Summary, s *Step) (string, error) {
	type provider struct {
		Address     struct{ Raw string } `json:"address"`
		Eligible    bool                 `json:"eligible"`
		Attestation struct {
			Attested bool `json:"attested"`
		} `json:"attestation"`
	}
	type claim struct {
		Tx string `json:"tx"`
	}
	err := waitFor(ctx, 30*time.Second, func() (bool, error) {
		var list struct {
			Providers []provider `json:"providers"`
		}
		if err := GetJSON(ctx, n.ExplorerURL+"/api/v1/providers?limit=200", &list); err != nil {
			return false, err
		}
		seen := map[string]provider{}
		for _, p := range list.Providers {
			seen[p.Address.Raw] = p
		}
		for _, p := range n.Providers {
			ip, ok := seen[p.Contract.StringRaw()]
			if !ok || !ip.Eligible || !ip.Attestation.Attested {
				s.Status("the explorer does not show %s attested and eligible yet", p.Name)
				return false, nil
			}
		}
		var ch struct {
			ClaimList []claim `json:"claim_list"`
		}
		if err := GetJSON(ctx, n.ExplorerURL+"/api/v1/channels/"+sum.Chat.Record.Channel, &ch); err != nil {
			s.Status("the explorer does not know the channel yet")
			return false, nil
		}
		for _, c := range ch.ClaimList {
			if c.Tx == sum.Claim.Hash {
				return true, nil
			}
		}
		s.Status("the explorer does not list the claim yet")
		return false, nil
	})
	if err != nil {
		return "", err
	}
	for _, page := range []string{"/tx/" + sum.Claim.Hash, "/providers/" + sum.Provider.Contract.StringRaw(), "/channels/" + sum.Chat.Record.Channel} {
		if err := getOK(ctx, n.ExplorerURL+page); err != nil {
			return "", fmt.Errorf("the explorer's page: %w", err)
		}
	}
	return "providers attested and eligible, the claim listed on its channel, its pages served", nil
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}
