package oracle

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// Check results (providerState.checkResult, metrics).
const (
	resultOK          = "ok"
	resultIneligible  = "ineligible"
	resultUnreachable = "unreachable"
	resultRefused     = "refused"
)

// errEvidence marks a check whose evidence (or certificate) did not verify, as opposed to a provider
// that could not be reached.
var errEvidence = errors.New("evidence does not verify")

// providerOnChain is what a check reads from the Provider contract.
type providerOnChain struct {
	data        *contracts.ProviderData
	profile     *contracts.Profile
	attestation *contracts.AttestationView
}

func (o *Oracle) readProvider(ctx context.Context, a *address.Address) (*providerOnChain, error) {
	pc := o.contractsProvider(a)
	var p providerOnChain
	var err error
	if p.data, err = pc.Data(ctx); err != nil {
		return nil, err
	}
	if p.profile, err = pc.Profile(ctx); err != nil {
		return nil, err
	}
	if p.attestation, err = pc.Attestation(ctx); err != nil {
		return nil, err
	}
	return &p, nil
}

// eligibility says why a provider may not serve (PROTOCOL "Who may serve" 1 and 2, and an endpoint
// to reach it at); "" when it may.
func eligibility(p *providerOnChain, reg registryView) string {
	switch {
	case p.data.EffectiveStatus != contracts.ProviderActive:
		return fmt.Sprintf("status %v", p.data.EffectiveStatus)
	case reg.params != nil && p.data.Stake.Nano().Cmp(reg.params.MinProviderStake.Nano()) < 0:
		return fmt.Sprintf("stake %s below the registry's minimum %s", ops.TON(p.data.Stake.Nano()), ops.TON(reg.params.MinProviderStake.Nano()))
	case p.profile.Endpoint == "":
		return "no endpoint"
	}
	return ""
}

// baseURL is the provider's API root from its on-chain endpoint: https only, without a trailing /v1.
func baseURL(endpoint string) (string, error) {
	u, err := url.Parse(endpoint)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", fmt.Errorf("endpoint %q is not an https URL", endpoint)
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/"), "/v1")
	u.RawQuery, u.Fragment = "", ""
	return u.String(), nil
}

// raTLSClient is an HTTP client that accepts exactly the servers whose RA-TLS certificate verifies
// under v, recording the claims of every handshake. Each check and probe has its own: its first
// request makes a fresh handshake, judged by the allow-list as it is now.
func (o *Oracle) raTLSClient(v *attest.Verifier) (*http.Client, func() []*attest.Claims) {
	var mu sync.Mutex
	var seen []*attest.Claims
	var tr *http.Transport
	if o.cfg.HTTPTransport != nil {
		tr = o.cfg.HTTPTransport.Clone()
	} else {
		tr = &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}
	}
	tr.TLSClientConfig = v.ClientTLSConfig(func(c *attest.Claims) {
		mu.Lock()
		seen = append(seen, c)
		mu.Unlock()
	})
	tr.ForceAttemptHTTP2 = false
	return &http.Client{Transport: tr, Timeout: o.cfg.ProbeTimeout}, func() []*attest.Claims {
		mu.Lock()
		defer mu.Unlock()
		return append([]*attest.Claims(nil), seen...)
	}
}

// verifyEvidence fetches fresh evidence for a nonce of the oracle's own over RA-TLS and verifies it
// with the certificate of every connection made: the returned claim is the certificate's, whose key,
// measurement and kind equal the fresh evidence's. An error wrapping errEvidence means the evidence
// (or the certificate) does not verify; any other, that the provider could not be asked.
func (o *Oracle) verifyEvidence(ctx context.Context, v *attest.Verifier, base string) (*claimInfo, error) {
	client, handshakes := o.raTLSClient(v)
	defer client.CloseIdleConnections()
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	fresh, err := v.FetchFreshEvidence(ctx, client, base, nonce)
	if err != nil {
		if isAttestError(err) {
			return nil, fmt.Errorf("%w: %v", errEvidence, err)
		}
		return nil, err
	}
	hs := handshakes()
	if len(hs) == 0 {
		return nil, fmt.Errorf("%w: no RA-TLS handshake was recorded", errEvidence)
	}
	for _, c := range hs {
		switch {
		case c.TLSKeyHash != fresh.TLSKeyHash:
			return nil, fmt.Errorf("%w: the certificate's key %x differs from the key %x the fresh evidence binds", errEvidence, c.TLSKeyHash, fresh.TLSKeyHash)
		case c.Measurement != fresh.Measurement || c.Kind != fresh.Kind:
			return nil, fmt.Errorf("%w: the certificate's %s measurement %x differs from the fresh evidence's %s %x",
				errEvidence, c.Kind.Name(), c.Measurement, fresh.Kind.Name(), fresh.Measurement)
		}
	}
	c := hs[len(hs)-1]
	return &claimInfo{Kind: c.Kind, Measurement: c.Measurement, EvidenceDigest: c.EvidenceDigest, TLSKeyHash: c.TLSKeyHash}, nil
}

// isAttestError: the error is a verification failure (one of attest's sentinels), not a network one.
func isAttestError(err error) bool {
	for _, s := range []error{attest.ErrMalformed, attest.ErrSimNotAllowed, attest.ErrKindNotAllowed, attest.ErrUntrustedRoot,
		attest.ErrExpired, attest.ErrSignature, attest.ErrCollateral, attest.ErrTCB, attest.ErrDebug, attest.ErrPrivilege,
		attest.ErrReportData, attest.ErrMeasurementNotAllowed, attest.ErrGPUNonce, attest.ErrGPURequired} {
		if errors.Is(err, s) {
			return true
		}
	}
	return false
}

// check is one evidence check of p: read it on-chain, verify its evidence, vote when due. It returns
// when the next check is due.
func (o *Oracle) check(ctx context.Context, p *providerState) time.Time {
	now := o.clock.Now()
	next := now.Add(o.cfg.AttestInterval)
	retry := now.Add(min(o.cfg.AttestInterval, o.cfg.ProbeRetryMin))
	reg := o.registryView()
	result, detail := resultOK, ""
	defer func() {
		o.m.RecordCheck(result)
		o.mu.Lock()
		if p.checkResult != result || p.checkErr != detail {
			o.log.Info("provider checked", "provider", o.friendly(p.addr), "result", result, "detail", detail)
		}
		p.checkResult, p.checkErr, p.lastCheck = result, detail, now
		o.mu.Unlock()
	}()

	ctx, cancel := context.WithTimeout(ctx, 2*o.cfg.ProbeTimeout)
	defer cancel()
	onChain, err := o.readProvider(ctx, p.addr)
	if err != nil {
		result, detail = resultUnreachable, "reading the Provider contract: "+err.Error()
		return retry
	}
	why := eligibility(onChain, reg)
	o.mu.Lock()
	p.eligible, p.endpoint = why == "", onChain.profile.Endpoint
	o.mu.Unlock()
	if why != "" {
		result, detail = resultIneligible, why
		return next
	}
	if reg.verifier == nil {
		result, detail = resultRefused, "the registry allows no measurement this oracle accepts"
		return next
	}
	base, err := baseURL(onChain.profile.Endpoint)
	if err != nil {
		result, detail = resultRefused, err.Error()
		return next
	}
	claim, err := o.verifyEvidence(ctx, reg.verifier, base)
	if err != nil {
		result, detail = resultUnreachable, err.Error()
		if errors.Is(err, errEvidence) {
			result = resultRefused
		}
		o.mu.Lock()
		p.claim = nil
		o.mu.Unlock()
		return retry
	}
	o.mu.Lock()
	p.claim = claim
	o.mu.Unlock()
	if renewIn, err := o.vote(ctx, p, claim, onChain, reg); err != nil {
		detail = "verified; vote: " + err.Error()
	} else if renewIn > 0 {
		// check again in time to renew the vote before it runs out
		if d := now.Add(renewIn); d.Before(next) {
			next = d
		}
	}
	return next
}

// vote votes for claim unless a live vote of the oracle for it exists. It returns how long until
// the oracle's vote for the claim should be renewed (0 when unknown).
func (o *Oracle) vote(ctx context.Context, p *providerState, claim *claimInfo, onChain *providerOnChain, reg registryView) (time.Duration, error) {
	if reg.me == nil || !reg.me.Found {
		o.m.RecordVote("skipped")
		return 0, reg.membershipErr()
	}
	raw := p.addr.StringRaw()
	claimHash, err := contracts.ClaimHash(claim.Measurement[:], claim.EvidenceDigest[:], claim.TLSKeyHash[:])
	if err != nil {
		return 0, err
	}
	chainNow, err := o.chainClock(ctx)
	if err != nil {
		return 0, err
	}
	now := uint32(chainNow.Unix())
	margin := uint32(o.cfg.RenewBefore / time.Second)
	renewAt := func(validUntil uint32) time.Duration {
		return time.Duration(int64(validUntil)-int64(now)-int64(margin)) * time.Second
	}

	rec, err := o.st.vote(raw)
	if err != nil {
		return 0, err
	}
	hashHex := hex.EncodeToString(claimHash)
	if rec != nil && rec.ClaimHash == hashHex && rec.State != voteFailed && rec.ValidUntil > now+margin && rec.OracleEpoch == reg.data.OracleEpoch {
		if rec.State == voteDone {
			o.m.RecordVote("skipped")
			return renewAt(rec.ValidUntil), nil
		}
		// pending: asked before (perhaps by a process that died) and not known to be done; asking
		// again with the same claim and validUntil is the same transaction manager key: sent once.
		o.mu.Lock()
		queued := o.voting[raw]
		o.mu.Unlock()
		if queued {
			return renewAt(rec.ValidUntil), nil
		}
		return renewAt(rec.ValidUntil), o.sendVote(ctx, p, claim, rec.ValidUntil, rec)
	}
	// The chain may know of a vote the store does not (a store lost or restored from backup).
	att := onChain.attestation
	if reg.me != nil && att.OracleEpoch == reg.data.OracleEpoch {
		for _, v := range att.Votes {
			if v.Slot == reg.me.Slot && string(v.ClaimHash) == string(claimHash) && v.ValidUntil > now+margin {
				o.m.RecordVote("skipped")
				return renewAt(v.ValidUntil), nil
			}
		}
	}
	lifetime := min(uint32(o.cfg.VoteLifetime/time.Second), reg.params.MaxAttestationLifetime)
	validUntil := now + lifetime
	return renewAt(validUntil), o.sendVote(ctx, p, claim, validUntil, nil)
}

// sendVote plans the vote (the registry's checks, before anything is signed), records it as pending
// and hands it to the writer. prev is the pending record it repeats (nil for a new vote).
func (o *Oracle) sendVote(ctx context.Context, p *providerState, claim *claimInfo, validUntil uint32, prev *voteRecord) error {
	in := ops.OracleVoteInput{ProviderOwner: mustRaw(p.rec.Owner), Claim: contracts.AttestationClaim{
		MeasurementHash: claim.Measurement[:], EvidenceDigest: claim.EvidenceDigest[:], TLSKeyHash: claim.TLSKeyHash[:], ValidUntil: validUntil}}
	plan, err := o.ops.PlanOracleVote(ctx, in)
	if err != nil {
		o.m.RecordVote("refused")
		return err
	}
	claimHash, _ := contracts.ClaimHash(claim.Measurement[:], claim.EvidenceDigest[:], claim.TLSKeyHash[:])
	raw := p.addr.StringRaw()
	rec := &voteRecord{Measurement: hex.EncodeToString(claim.Measurement[:]), EvidenceDigest: hex.EncodeToString(claim.EvidenceDigest[:]),
		TLSKeyHash: hex.EncodeToString(claim.TLSKeyHash[:]), ClaimHash: hex.EncodeToString(claimHash), ValidUntil: validUntil,
		OracleEpoch: plan.Epoch, Key: plan.Key, State: votePending, At: o.clock.Now()}
	if prev != nil && prev.Key != plan.Key {
		return fmt.Errorf("the repeated vote's key %s differs from the recorded %s", plan.Key, prev.Key)
	}
	// INVARIANT: the record is durable before the message can exist, so a restart finds it.
	if err := o.st.putVote(raw, rec); err != nil {
		return err
	}
	what := fmt.Sprintf("vote for %s valid until %d", o.friendly(p.addr), validUntil)
	o.mu.Lock()
	o.voting[raw] = true
	o.mu.Unlock()
	queued := o.enqueue(&write{kind: "vote", what: what,
		send: func(ctx context.Context) error {
			res, err := o.ops.SendOracleVote(ctx, plan)
			if res != nil && res.Sent != nil && res.Outcome != nil {
				if res.Outcome.Duplicate {
					o.m.RecordVote("duplicate")
				} else {
					o.m.RecordVote("sent")
				}
				if res.Outcome.Transaction != nil {
					rec.TxLT = res.Outcome.Transaction.LT
				}
			}
			return err
		},
		done: func(err error) {
			o.mu.Lock()
			delete(o.voting, raw)
			o.mu.Unlock()
			rec.State = voteDone
			if err != nil {
				rec.State, rec.Error = voteFailed, err.Error()
				o.m.RecordVote("failed")
			} else {
				o.log.Info("voted", "provider", o.friendly(p.addr), "valid_until", time.Unix(int64(validUntil), 0).UTC(), "claim", rec.ClaimHash)
			}
			if err := o.st.putVote(raw, rec); err != nil {
				o.log.Error("failed to record a vote's outcome", "err", err)
			}
		}})
	if !queued {
		o.mu.Lock()
		delete(o.voting, raw)
		o.mu.Unlock()
		return errors.New("the chain write queue is full")
	}
	return nil
}

func mustRaw(s string) *address.Address {
	a, err := address.ParseRawAddr(s)
	if err != nil {
		panic(fmt.Sprintf("oracle: stored address %q: %v", s, err))
	}
	return a
}
