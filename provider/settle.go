package provider

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/service"
	"github.com/cocoon-go/cocoon/voucher"
)

// Claim retries back off from claimBackoffMin, doubling, up to claimBackoffMax.
const (
	claimBackoffMin = 5 * time.Second
	claimBackoffMax = 10 * time.Minute
)

// Why a channel is claimed.
const (
	reasonThreshold = "threshold" // the unclaimed amount reached the threshold
	reasonClosing   = "closing"   // the client started closing the channel
	reasonAge       = "age"       // a voucher left unclaimed for max_age
	reasonShutdown  = "shutdown"  // the daemon is stopping
	reasonTopUp     = "top-up"    // the channel owes an accepted amount and holds money again
)

// initSettlement finishes the transaction manager's requests an earlier process left pending,
// then runs the settlement loop; on stop (after the API drained) it claims every channel with
// something unclaimed.
func (p *Provider) initSettlement(ctx context.Context) (service.StopFunc, error) {
	outs, err := p.tx.Recover(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to finish the settlement wallet's pending requests: %w", err)
	}
	for _, o := range outs {
		p.log.Info("finished a request left pending", "key", o.Key, "err", o.Err)
	}
	loopCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := p.clock.NewTicker(time.Duration(p.cfg.Settlement.Interval))
		defer t.Stop()
		for {
			select {
			case <-loopCtx.Done():
				return
			case <-t.C():
				p.settle(loopCtx, false)
			}
		}
	}()
	return func(ctx context.Context) error {
		cancel()
		<-done
		p.settle(ctx, true)
		return nil
	}, nil
}

// Settle looks at every channel once and claims those that are due (shutdown: everything
// unclaimed). Tests and the loop call it.
func (p *Provider) Settle(ctx context.Context) { p.settle(ctx, false) }

func (p *Provider) settle(ctx context.Context, shutdown bool) {
	for _, ch := range p.channels.all() {
		if ctx.Err() != nil {
			return
		}
		p.settleChannel(ctx, ch, shutdown)
	}
}

// settleChannel claims ch's newest voucher when it is due, or what the channel owes after a
// top-up.
func (p *Provider) settleChannel(ctx context.Context, ch *channel, shutdown bool) {
	ch.mu.Lock()
	best, since, next, cached := ch.best, ch.unclaimedSince, ch.nextClaim, ch.state
	ch.mu.Unlock()
	if best == nil {
		return // nothing signed yet
	}
	if cached != nil && best.Amount.Cmp(cached.AcceptedAmount.Nano()) <= 0 && cached.Owed.Nano().Sign() == 0 {
		return // everything signed was claimed and paid: nothing to watch on-chain
	}
	if err := p.channels.refresh(ctx, ch, time.Duration(p.cfg.Settlement.Interval)/2); err != nil {
		p.log.Warn("failed to read a channel for settlement", "channel", ch.raw, "err", err)
		return
	}
	ch.mu.Lock()
	st := ch.state
	ch.mu.Unlock()
	accepted := st.Accepted(ch.addr)
	unclaimed := new(big.Int).Sub(best.Amount, accepted.Amount)
	reason := ""
	if unclaimed.Sign() > 0 && voucher.IsNewer(&accepted, &best.Voucher) {
		switch {
		case st.Status == contracts.ChannelClosing:
			reason = reasonClosing
		case shutdown:
			reason = reasonShutdown
		case unclaimed.Cmp(p.cfg.ClaimThreshold()) >= 0:
			reason = reasonThreshold
		case !since.IsZero() && p.clock.Since(since) >= time.Duration(p.cfg.Settlement.MaxAge):
			reason = reasonAge
		}
	} else if st.Owed.Nano().Sign() > 0 && st.Available.Nano().Sign() > 0 {
		reason = reasonTopUp
	}
	if reason == "" {
		if unclaimed.Sign() <= 0 {
			ch.mu.Lock()
			ch.unclaimedSince = time.Time{}
			ch.mu.Unlock()
		}
		return
	}
	if !shutdown && reason != reasonClosing && p.clock.Now().Before(next) {
		return // backing off after a failure
	}
	err := p.claim(ctx, ch, best, reason, shutdown)
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if err != nil {
		ch.claimBackoff = min(max(2*ch.claimBackoff, claimBackoffMin), claimBackoffMax)
		ch.nextClaim = p.clock.Now().Add(ch.claimBackoff)
		return
	}
	ch.claimBackoff, ch.nextClaim = 0, time.Time{}
	if reason != reasonTopUp && ch.best == best {
		ch.unclaimedSince = time.Time{}
	}
}

// claim sends one Claim of v (or a ClaimRemainder for a top-up) through the transaction manager
// and records what became of it. The manager finishes any request left pending first, and the
// plan is read after that: a voucher the channel already accepted is refused locally (156) and
// never sent twice. The request key is derived from the voucher, so a restart asking again gets
// the recorded outcome.
func (p *Provider) claim(ctx context.Context, ch *channel, v *voucher.Signed, reason string, shutdown bool) error {
	p.claimMu.Lock()
	defer p.claimMu.Unlock()
	if _, err := p.tx.Recover(ctx); err != nil {
		return fmt.Errorf("failed to finish pending requests: %w", err)
	}
	rec := &claimRecord{Kind: "claim", Reason: reason, Created: p.clock.Now().UnixNano()}
	var plan *ops.ClaimPlan
	var err error
	if reason == reasonTopUp {
		rec.Kind = "claim-remainder"
		plan, err = p.ops.PlanClaimRemainder(ctx, ops.ClaimRemainderInput{Channel: ch.addr})
	} else {
		rec.Amount = v.Amount.String()
		plan, err = p.ops.PlanClaim(ctx, ops.ClaimInput{Channel: ch.addr, Voucher: *v})
	}
	if err != nil {
		rec.Error = err.Error()
		_ = p.store.addClaim(ch.raw, rec)
		_ = p.channels.refresh(ctx, ch, 0)
		if errors.Is(err, ops.ErrRefused) {
			// The channel would refuse it (already claimed, nothing to claim): nothing to retry.
			p.m.RecordClaim("refused", nil)
			p.log.Info("claim not needed", "channel", ch.raw, "reason", reason, "why", err)
			return nil
		}
		p.m.RecordClaim("failed", nil)
		p.log.Warn("failed to plan a claim", "channel", ch.raw, "reason", reason, "err", err)
		return err
	}
	rec.Key = plan.Key
	if shutdown {
		plan.Wait = ops.WaitWallet // quick: the cascade completes on-chain without us
		sent, err := p.ops.Send(ctx, plan.Plan)
		if sent != nil && sent.Outcome.Transaction != nil {
			rec.TxHash = hex.EncodeToString(sent.Outcome.Transaction.Hash)
		}
		return p.claimDone(ch, rec, nil, err)
	}
	res, err := p.ops.SendClaim(ctx, plan)
	return p.claimDone(ch, rec, res, err)
}

func (p *Provider) claimDone(ch *channel, rec *claimRecord, res *ops.ClaimResult, err error) error {
	var paid *big.Int
	if res != nil && res.Sent != nil && res.Outcome.Transaction != nil {
		rec.TxHash = hex.EncodeToString(res.Outcome.Transaction.Hash)
	}
	if res != nil && res.Claimed != nil {
		paid = res.Claimed.Amount
		rec.Paid, rec.Earned, rec.Fee = res.Claimed.Amount.String(), res.Claimed.Earned.String(), res.Claimed.Fee.String()
		rec.Prompt, rec.Compl = res.Claimed.PromptTokens, res.Claimed.CompletionTokens
	}
	if res != nil && res.After != nil {
		ch.mu.Lock()
		ch.state, ch.stateAt = res.After, p.clock.Now()
		ch.mu.Unlock()
	}
	if err != nil {
		rec.Error = err.Error()
		p.m.RecordClaim("failed", nil)
		p.log.Warn("claim failed", "channel", ch.raw, "reason", rec.Reason, "err", err)
	} else {
		p.m.RecordClaim("ok", paid)
		p.log.Info("claimed", "channel", ch.raw, "reason", rec.Reason, "kind", rec.Kind, "voucher_amount", rec.Amount,
			"paid", rec.Paid, "earned", rec.Earned, "fee", rec.Fee, "tx", rec.TxHash)
	}
	if serr := p.store.addClaim(ch.raw, rec); serr != nil {
		p.log.Warn("failed to record a claim", "err", serr)
	}
	return err
}

// watch keeps the chain's view fresh: the state of the channels in use (so that requests rarely
// wait for a chain read), the models' prices, the attestation's expiry, the credit gauges, and
// prunes old receipts.
func (p *Provider) watch(ctx context.Context) error {
	t := p.clock.NewTicker(stateRefresh)
	defer t.Stop()
	var pricesAt, prunedAt time.Time
	for {
		now := p.clock.Now()
		for _, ch := range p.channels.all() {
			ch.mu.Lock()
			active := ch.inflight > 0 || (!ch.lastUsed.IsZero() && now.Sub(ch.lastUsed) < 2*stateMaxAge)
			ch.mu.Unlock()
			if active {
				if err := p.channels.fresh(ctx, ch, stateRefresh); err != nil && ctx.Err() == nil {
					p.log.Debug("failed to refresh a channel", "channel", ch.raw, "err", err)
				}
			}
		}
		if now.Sub(pricesAt) >= time.Minute {
			pricesAt = now
			p.refreshProvider(ctx)
		}
		if now.Sub(prunedAt) >= time.Hour {
			prunedAt = now
			if err := p.store.pruneReceipts(now.Add(-time.Duration(p.cfg.Limits.ReceiptRetention))); err != nil {
				p.log.Warn("failed to prune receipts", "err", err)
			}
		}
		p.recordCredit()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
		}
	}
}

// refreshProvider reads the models' prices and the attestation from the Provider contract.
func (p *Provider) refreshProvider(ctx context.Context) {
	pc := contracts.ProviderClient{Chain: p.chain, Address: p.providerAddr}
	prof, err := pc.Profile(ctx)
	if err != nil {
		p.log.Debug("failed to read the provider's prices", "err", err)
		return
	}
	for _, e := range prof.Prices {
		for _, m := range p.models {
			if m.id == e.ModelID {
				m.setPrices(nanoPrices(e.PromptPricePerMillion.Nano(), e.CompletionPricePerMillion.Nano()))
			}
		}
	}
	if a, err := pc.Attestation(ctx); err == nil && a.ValidUntil > 0 {
		p.validUntil.Store(int64(a.ValidUntil))
	}
	var chainExp time.Time
	if v := p.validUntil.Load(); v > 0 {
		chainExp = time.Unix(v, 0)
	}
	cert, _ := p.issuer.GetCertificate(nil)
	var certExp time.Time
	if cert != nil && cert.Leaf != nil {
		certExp = cert.Leaf.NotAfter
	}
	p.m.RecordAttestation(certExp, chainExp)
}

// recordCredit sets the credit gauges.
func (p *Provider) recordCredit() {
	credit, unclaimed := new(big.Int), new(big.Int)
	for _, ch := range p.channels.all() {
		ch.mu.Lock()
		v := ch.voucherAmountLocked()
		due := new(big.Int).Add(ch.owed, ch.reserved)
		if due.Cmp(v) > 0 {
			credit.Add(credit, due.Sub(due, v))
		}
		if ch.state != nil {
			if u := new(big.Int).Sub(v, ch.state.AcceptedAmount.Nano()); u.Sign() > 0 {
				unclaimed.Add(unclaimed, u)
			}
		}
		ch.mu.Unlock()
	}
	p.m.RecordUnpaid(credit, unclaimed)
}
