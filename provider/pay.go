package provider

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// refusal is a paid request refused before anything ran: a 402 (or 429, 503) with an
// OpenAI-shaped body, the amount owed and, for a voucher too low, the amount it must reach.
type refusal struct {
	status     int
	typ, code  string
	msg        string
	owed, vmin *big.Int
}

func paymentRequired(code, format string, args ...any) *refusal {
	return &refusal{status: http.StatusPaymentRequired, typ: payment.TypePaymentRequired, code: code, msg: fmt.Sprintf(format, args...)}
}

// apiError sets the refusal's headers on w and returns its body.
func (r *refusal) apiError(w http.ResponseWriter) *openai.Error {
	if r.owed != nil {
		w.Header().Set(payment.HeaderOwed, r.owed.String())
	}
	if r.vmin != nil {
		w.Header().Set(payment.HeaderVoucherMin, r.vmin.String())
	}
	return &openai.Error{Status: r.status, Type: r.typ, Code: r.code, Message: r.msg}
}

// outcome names a refusal in metrics ("402 voucher_too_low").
func (r *refusal) outcome() string { return fmt.Sprintf("%d %s", r.status, r.code) }

// session is a paid request that passed the checks before serving that need no parsing of its
// body (docs/PROTOCOL.md "Checks before serving", 1 to 5), carried to the meter in its context.
type session struct {
	ch      *channel
	v       voucher.Signed
	vHeader string
	auth    payment.Auth
	// connKey: the connection's TLS client certificate is the channel's key (connection
	// authorization).
	connKey  bool
	bodyHash [32]byte
	arrived  time.Time
	phases   phaseMarks
}

type sessionKey struct{}

// servePaid is POST /v1/chat/completions and /v1/completions: the body is read (bounded), the
// payment headers checked, then the OpenAI handler runs with the meter.
func (p *Provider) servePaid(w http.ResponseWriter, r *http.Request) {
	arrived := p.clock.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, p.cfg.Limits.MaxBodyBytes))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p.m.RecordRequest("", "413", false, 0)
			openai.WriteError(w, &openai.Error{Status: http.StatusRequestEntityTooLarge, Type: openai.TypeInvalidRequest,
				Message: fmt.Sprintf("Request body is larger than %d bytes.", p.cfg.Limits.MaxBodyBytes)})
			return
		}
		openai.WriteError(w, &openai.Error{Status: http.StatusBadRequest, Type: openai.TypeInvalidRequest, Message: "failed to read the request body: " + err.Error()})
		return
	}
	bodyRead := time.Now()
	sess, ref := p.checkPayment(r, body)
	if ref != nil {
		p.m.RecordRequest("", ref.outcome(), false, p.clock.Since(arrived))
		openai.WriteError(w, ref.apiError(w))
		return
	}
	sess.arrived = arrived
	if sess.connKey {
		w.Header().Set(payment.HeaderConnAuth, "ok") // the client may stop signing its requests
	}
	sess.phases.markAt(phaseArrived, arrived)
	sess.phases.markAt(phaseBodyRead, bodyRead)
	sess.phases.mark(phaseChecked)
	r = r.WithContext(context.WithValue(r.Context(), sessionKey{}, sess))
	r.Body = io.NopCloser(bytes.NewReader(body))
	p.api.ServeHTTP(w, r)
	sess.phases.mark(phaseEnded)
	sess.phases.done()
}

// checkPayment applies the checks before serving, in the protocol's order, up to the admission
// rule (which needs the parsed request: Begin). Nothing is changed when one fails.
func (p *Provider) checkPayment(r *http.Request, body []byte) (*session, *refusal) {
	chHdr, vHdr := r.Header.Get(payment.HeaderChannel), r.Header.Get(voucher.HeaderVoucher)
	if chHdr == "" || vHdr == "" {
		return nil, paymentRequired(payment.CodeVoucherMissing,
			"This provider is paid per token through a payment channel: send %s (the channel's raw address) and %s (your newest signed voucher for it; amount 0 for the first request) with %s (docs/PROTOCOL.md, \"Paid inference\").",
			payment.HeaderChannel, voucher.HeaderVoucher, payment.HeaderAuth)
	}
	addr, err := address.ParseRawAddr(chHdr)
	if err != nil {
		return nil, paymentRequired(payment.CodeChannelUnknown, "%s %q is not a raw address 0:<64 hex>.", payment.HeaderChannel, chHdr)
	}
	// A voucher the channel holds, or the one it verified last, is known to be well-formed, for
	// this channel and signed: it is neither decoded nor verified again.
	var v *voucher.Signed
	if ch := p.channels.lookup(addr); ch != nil {
		v = ch.knownVoucher(vHdr)
	}
	known := v != nil
	if !known {
		d, err := voucher.DecodeHeader(vHdr)
		if err != nil {
			return nil, paymentRequired(payment.CodeVoucherInvalid, "The voucher is malformed: %v.", err)
		}
		if !d.Channel.Equals(addr) {
			return nil, paymentRequired(payment.CodeVoucherInvalid, "The voucher is for channel %s, not %s.", d.Channel.StringRaw(), addr.StringRaw())
		}
		v = &d
	}
	ch, ref := p.openChannel(r.Context(), addr)
	if ref != nil {
		return nil, ref
	}
	bodyHash := sha256.Sum256(body)
	connKey := ch.key.Equal(payment.ConnClientKey(r.TLS))
	a, ref := p.authorize(r, ch, bodyHash, &connKey)
	if ref != nil {
		return nil, ref
	}
	ch.mu.Lock()
	ok := ch.takeTokenLocked(p.clock.Now(), p.cfg.Limits.ChannelRate, p.cfg.Limits.ChannelBurst)
	ch.mu.Unlock()
	if !ok {
		return nil, &refusal{status: http.StatusTooManyRequests, typ: openai.TypeRateLimit, code: openai.CodeRateLimitExceeded,
			msg: fmt.Sprintf("Too many requests on channel %s: at most %g a second (bursts of %d).", addr.StringRaw(), p.cfg.Limits.ChannelRate, p.cfg.Limits.ChannelBurst)}
	}
	if !known {
		if err := ch.verifyVoucher(vHdr, v); err != nil {
			return nil, paymentRequired(payment.CodeVoucherInvalid, "The voucher's signature does not verify under the channel's client key %x (with the channel contract's rule).", []byte(ch.key))
		}
	}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	if held := ch.voucherAmountLocked(); v.Amount.Cmp(held) < 0 {
		ref := paymentRequired(payment.CodeVoucherInvalid, "The voucher goes backwards: its amount %s nanoTON is below the %s nanoTON of the newest voucher this provider holds for the channel; sign a voucher of at least %s nanoTON (%s TON, what is owed).",
			v.Amount, held, ch.owed, payment.FormatTON(ch.owed))
		ref.owed = new(big.Int).Set(ch.owed)
		return nil, ref
	}
	return &session{ch: ch, v: *v, vHeader: vHdr, auth: a, connKey: connKey, bodyHash: bodyHash}, nil
}

// openChannel finds the channel at addr and checks that it is this provider's and open.
func (p *Provider) openChannel(ctx context.Context, addr *address.Address) (*channel, *refusal) {
	ch, err := p.channels.get(ctx, addr)
	switch {
	case errors.Is(err, errNotOurs):
		return nil, paymentRequired(payment.CodeChannelUnknown, "%s is not a channel of this provider under registry %s: %v.",
			addr.StringRaw(), p.registry.StringRaw(), err)
	case err != nil:
		return nil, &refusal{status: http.StatusServiceUnavailable, typ: openai.TypeServer, msg: fmt.Sprintf("The provider could not read the channel from the chain: %v.", err)}
	}
	status := func() contracts.ChannelStatus {
		ch.mu.Lock()
		defer ch.mu.Unlock()
		return ch.state.Status
	}
	if status() != contracts.ChannelOpen {
		// It may have been finalized and reopened (or initialised) since the last read.
		if err := p.channels.refresh(ctx, ch, 0); err != nil {
			return nil, &refusal{status: http.StatusServiceUnavailable, typ: openai.TypeServer, msg: fmt.Sprintf("The provider could not read the channel from the chain: %v.", err)}
		}
		ch.mu.Lock()
		st := ch.state
		ch.mu.Unlock()
		switch st.Status {
		case contracts.ChannelOpen:
		case contracts.ChannelClosing:
			return nil, paymentRequired(payment.CodeChannelNotOpen, "Channel %s is closing (deadline %s): no new requests are served on it; finalize the close and top it up, or open another channel.",
				addr.StringRaw(), time.Unix(int64(st.CloseDeadline), 0).UTC().Format(time.RFC3339))
		default:
			return nil, paymentRequired(payment.CodeChannelNotOpen, "Channel %s is %s, not open.", addr.StringRaw(), st.Status)
		}
	}
	return ch, nil
}

// authorize checks X-Cocoon-Auth: well-formed, signed by the channel's client key for this
// method, target and body (bodyHash, its SHA-256), within the window of the provider's clock, and
// not used before. A paid request without it is authorized by its connection when connKey (the
// connection's TLS client certificate is the channel's client key; a zero Auth: no nonce); the
// channel view passes nil and always wants the signature (PROTOCOL "The client's view of its
// channel": a request signed with the channel key).
func (p *Provider) authorize(r *http.Request, ch *channel, bodyHash [32]byte, connKey *bool) (payment.Auth, *refusal) {
	hdr := r.Header.Get(payment.HeaderAuth)
	if hdr == "" && connKey != nil {
		if *connKey {
			// Connection authorization: the TLS handshake proved the channel key's possession, and
			// TLS keeps the connection's requests from being altered or replayed.
			return payment.Auth{}, nil
		}
		return payment.Auth{}, paymentRequired(payment.CodeAuthInvalid,
			"%v: no %s header, and the connection's TLS client certificate is not the channel's client key (sign the request, or present the key as the connection's client certificate: docs/PROTOCOL.md, \"Connection authorization\").",
			payment.ErrBadAuth, payment.HeaderAuth)
	}
	a, err := payment.ParseAuth(hdr)
	if err == nil {
		err = a.VerifyKey(ch.authKey, ch.addr, r.Method, r.RequestURI, bodyHash, p.clock.Now())
	}
	if err == nil {
		err = p.replay.Use(ch.addr, a, p.clock.Now())
	}
	if err != nil {
		return a, paymentRequired(payment.CodeAuthInvalid, "%v.", err)
	}
	return a, nil
}

// Begin is the admission rule (httpapi.Meter): the request's maximum cost at the model's
// on-chain prices, the channel's ledger and deposit. An admitted request reserves its maximum
// cost; a newer voucher replaces the one held.
func (p *Provider) Begin(w http.ResponseWriter, r *http.Request, c httpapi.Call) (httpapi.Metered, *openai.Error) {
	sess, _ := r.Context().Value(sessionKey{}).(*session)
	if sess == nil {
		return nil, paymentRequired(payment.CodeVoucherMissing, "Not a paid request.").apiError(w)
	}
	sess.phases.mark(phaseParsed)
	m := p.models[c.Request.Model]
	if m == nil {
		p.m.RecordRequest("", "404", c.Stream, p.clock.Since(sess.arrived))
		return nil, httpapi.APIError(&backend.UnknownModelError{Model: c.Request.Model})
	}
	select {
	case m.sem <- struct{}{}:
	default:
		p.m.RecordRequest(m.name, "429", c.Stream, p.clock.Since(sess.arrived))
		return nil, &openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: openai.CodeRateLimitExceeded,
			Message: fmt.Sprintf("The model %s is serving %d requests, its limit; retry shortly.", m.name, cap(m.sem))}
	}
	prices := m.currentPrices()
	maxCost := prices.Cost(uint64(m.promptBound(c.Request)), uint64(c.N)*uint64(m.completionLimit(c.Request)))
	mt := &metered{p: p, sess: sess, m: m, prices: prices, maxCost: maxCost, stream: c.Stream, id: newRequestID()}
	if ref := p.admit(sess, maxCost); ref != nil {
		<-m.sem
		p.m.RecordRequest(m.name, ref.outcome(), c.Stream, p.clock.Since(sess.arrived))
		return nil, ref.apiError(w)
	}
	p.inflight.Add(1)
	p.m.RecordInflight(int(p.inflight.Load()))
	sess.phases.mark(phaseAdmitted)
	return mt, nil
}

// admit applies payment.Admit to the session's channel and reserves maxCost. A refusal for the
// deposit reads the channel again first (a top-up may have landed since).
func (p *Provider) admit(sess *session, maxCost *big.Int) *refusal {
	ch := sess.ch
	for attempt := 0; ; attempt++ {
		ch.mu.Lock()
		best, bestHeader, replace := ch.best, ch.bestHeader, false
		if best == nil || voucher.IsNewer(&best.Voucher, &sess.v.Voucher) {
			best, bestHeader, replace = &sess.v, sess.vHeader, true
		}
		rf := payment.Admit(ch.ledgerLocked(best.Amount), maxCost)
		if rf == nil {
			if replace {
				// Recorded now, under the lock that orders the channel's records; the journal syncs
				// it within its delay, while the backend generates (the answer does not wait).
				old, oldHeader := ch.best, ch.bestHeader
				ch.best, ch.bestHeader = best, bestHeader
				if ch.verifiedHeader == bestHeader {
					ch.verified, ch.verifiedHeader = nil, ""
				}
				b := p.store.db.NewBatch()
				err := b.Set(channelKey(ch.raw), ch.recordLocked().appendJSON(nil), nil)
				if err == nil {
					_, err = p.store.j.Commit(b)
				}
				_ = b.Close()
				if err != nil {
					ch.best, ch.bestHeader = old, oldHeader
					ch.mu.Unlock()
					return &refusal{status: http.StatusInternalServerError, typ: openai.TypeServer, msg: "The provider could not record the voucher: " + err.Error()}
				}
			}
			ch.reserved.Add(ch.reserved, maxCost)
			ch.inflight++
			ch.lastUsed = p.clock.Now()
			ch.mu.Unlock()
			return nil
		}
		owed, due := new(big.Int).Set(ch.owed), new(big.Int).Add(ch.owed, ch.reserved)
		stale := p.clock.Since(ch.stateAt) > time.Second
		ch.mu.Unlock()
		if rf.Code == payment.CodeDepositTooLow && stale && attempt == 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := p.channels.refresh(ctx, ch, time.Second)
			cancel()
			if err == nil {
				continue
			}
		}
		ref := paymentRequired(rf.Code, "%s", rf.Message)
		ref.owed = owed
		if rf.Code == payment.CodeVoucherTooLow {
			ref.vmin = due
		}
		return ref
	}
}

func newRequestID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// metered is one admitted request (httpapi.Metered).
type metered struct {
	p       *Provider
	sess    *session
	m       *servedModel
	prices  payment.Prices
	maxCost *big.Int
	stream  bool
	id      string

	content payment.Content
	// delivered is the usage of what was told to Deliver; checkpoint the part of it that is durable
	// in the in-flight record (streams: all of it, before the piece is written).
	delivered, checkpoint backend.Usage
	inflightWritten       bool
	nonceWritten          bool
	firstToken            bool
	finished              bool
}

// Deliver records what reaches the client. For a stream, the usage it completes is made durable
// (the in-flight record's checkpoint) before the piece is written, so a crash after it cannot
// forget tokens a client received; a non-streamed answer is recorded by Finish, which follows.
func (mt *metered) Deliver(data []byte, u backend.Usage) error {
	if !mt.stream {
		mt.sess.phases.mark(phaseGenerated)
	}
	if err := mt.content.Add(data); err != nil {
		return err
	}
	mt.delivered = u
	if !mt.firstToken && u.CompletionTokens > 0 {
		mt.firstToken = true
		mt.p.m.RecordTTFT(mt.m.name, mt.p.clock.Since(mt.sess.arrived))
	}
	if !mt.stream || u == mt.checkpoint {
		return nil
	}
	ch := mt.sess.ch
	rec := inflightRecord{ModelID: mt.m.id, PromptPrice: mt.prices.Prompt.String(), CompletionPrice: mt.prices.Completion.String(),
		MaxCost: mt.maxCost.String(), PromptTokens: uint64(u.PromptTokens), CompletionTokens: uint64(u.CompletionTokens), Started: mt.sess.arrived.Unix()}
	b := mt.p.store.db.NewBatch()
	defer b.Close()
	if err := putJSON(b, inflightKey(ch.raw, mt.id), rec); err != nil {
		return err
	}
	if err := mt.putNonce(b); err != nil {
		return err
	}
	// In the journal before the piece is written (a kill cannot forget it; a host crash can forget
	// what the last sync did not cover, never bill more): the in-flight record is this request's
	// own key, written only from its goroutine, so it needs no lock to keep its order.
	if _, err := mt.p.store.j.Commit(b); err != nil {
		return fmt.Errorf("failed to record delivered tokens: %w", err)
	}
	mt.inflightWritten = true
	mt.checkpoint = u
	return nil
}

// bill adds cost and u to the channel's ledger, ends the reservation and records it all in one
// batch, committed to the journal in the channel lock's order (its sync follows in the background).
// REQUIRES nothing held; takes ch.mu.
func (mt *metered) bill(u backend.Usage, cost *big.Int, receipt bool) (owed *big.Int, seq uint64, err error) {
	ch := mt.sess.ch
	ch.mu.Lock()
	defer ch.mu.Unlock()
	prevOwed, prevReceipts := new(big.Int).Set(ch.owed), ch.receipts
	ch.owed.Add(ch.owed, cost)
	ch.prompt += uint64(u.PromptTokens)
	ch.completion += uint64(u.CompletionTokens)
	if receipt {
		ch.receipts++
	}
	b := mt.p.store.db.NewBatch()
	defer b.Close()
	var buf [512]byte
	err = b.Set(channelKey(ch.raw), ch.recordLocked().appendJSON(buf[:0]), nil)
	if err == nil && cost.Sign() > 0 {
		err = mt.putNonce(b)
	}
	if err == nil && mt.inflightWritten {
		err = b.Delete(inflightKey(ch.raw, mt.id), nil)
	}
	if err == nil {
		_, err = mt.p.store.j.Commit(b)
	}
	if err != nil {
		ch.owed, ch.receipts = prevOwed, prevReceipts
		ch.prompt -= uint64(u.PromptTokens)
		ch.completion -= uint64(u.CompletionTokens)
		return nil, 0, fmt.Errorf("failed to record what the answer cost: %w", err)
	}
	ch.reserved.Sub(ch.reserved, mt.maxCost)
	ch.inflight--
	if ch.unclaimedSince.IsZero() && cost.Sign() > 0 {
		ch.unclaimedSince = mt.p.clock.Now()
	}
	return new(big.Int).Set(ch.owed), ch.receipts, nil
}

// putNonce records the request's authorization nonce in b (once), so that it cannot be replayed
// after a restart either: a request that delivered something is never served twice.
func (mt *metered) putNonce(b *pebble.Batch) error {
	if mt.nonceWritten {
		return nil
	}
	a := mt.sess.auth
	if a.Unix == 0 {
		return nil // authorized by its connection: no nonce (TLS does not replay)
	}
	if err := b.Set(nonceKey(mt.sess.ch.raw, hex.EncodeToString(a.Nonce[:])), binary.BigEndian.AppendUint64(nil, uint64(a.Unix)), nil); err != nil {
		return err
	}
	mt.nonceWritten = true
	return nil
}

// cost is what usage u costs at the request's prices, never more than its maximum cost (the
// reservation the client's voucher covered).
func (mt *metered) cost(u backend.Usage) *big.Int {
	c := mt.prices.Cost(uint64(u.PromptTokens), uint64(u.CompletionTokens))
	if c.Cmp(mt.maxCost) > 0 {
		mt.p.log.Warn("an answer cost more than its maximum cost; billing the maximum (is the model's context_length right?)",
			"model", mt.m.name, "cost", c, "max_cost", mt.maxCost)
		c = new(big.Int).Set(mt.maxCost)
	}
	return c
}

// Finish bills the complete answer and signs its receipt with the attested key. The bill is in
// the journal (safe from a kill, synced within the journal's delay) before the payment is written.
func (mt *metered) Finish(u backend.Usage) (*openai.Payment, http.Header, error) {
	p, ch := mt.p, mt.sess.ch
	mt.sess.phases.mark(phaseDelivered)
	cost := mt.cost(u)
	owed, seq, err := mt.bill(u, cost, true)
	mt.sess.phases.mark(phaseBilled)
	if err != nil {
		return nil, nil, err
	}
	mt.finished = true
	rc := payment.Receipt{Channel: ch.addr, RequestHash: mt.sess.bodyHash, ResponseHash: mt.content.Hash(), IssuedAt: p.clock.Now(),
		ModelID: mt.m.id, PromptTokens: uint64(u.PromptTokens), CompletionTokens: uint64(u.CompletionTokens), Prices: mt.prices, Cost: cost, Owed: owed}
	enc, err := rc.Issue(p.receiptKey())
	if err != nil {
		return nil, nil, err
	}
	// The receipt is stored in the background, in batches: it is the operator's record; the money
	// it states is in the channel record, durable before the answer is.
	p.store.receipts.add(rc.IssuedAt, ch.raw, seq, enc)
	mt.sess.phases.mark(phaseSigned)
	p.m.RecordTokens(mt.m.name, uint64(u.PromptTokens), uint64(u.CompletionTokens))
	p.m.RecordBilled(cost)
	hdr := http.Header{}
	hdr.Set(payment.HeaderCost, cost.String())
	hdr.Set(payment.HeaderOwed, owed.String())
	hdr.Set(payment.HeaderReceipt, enc)
	return &openai.Payment{Channel: ch.raw, Cost: cost.String(), CostTON: payment.FormatTON(cost), Owed: owed.String(), Receipt: enc}, hdr, nil
}

// End closes the request. One that did not finish is billed for what was delivered: nothing for
// a non-streamed answer (the client got none of it), the delivered prompt and completion tokens
// for a stream (the prompt from the backend's count when only it knew).
func (mt *metered) End(total backend.Usage, err error) {
	p := mt.p
	mt.sess.phases.mark(phaseWritten)
	defer func() {
		<-mt.m.sem
		p.inflight.Add(-1)
		p.m.RecordInflight(int(p.inflight.Load()))
		p.m.RecordRequest(mt.m.name, outcomeOf(err, mt.finished), mt.stream, p.clock.Since(mt.sess.arrived))
	}()
	if mt.finished {
		return
	}
	var u backend.Usage
	if mt.stream && mt.delivered.CompletionTokens > 0 {
		u = mt.delivered
		if u.PromptTokens == 0 {
			u.PromptTokens = total.PromptTokens
		}
		if total.CompletionTokens > 0 && total.CompletionTokens < u.CompletionTokens {
			u.CompletionTokens = total.CompletionTokens
		}
	}
	cost := new(big.Int)
	if u.CompletionTokens > 0 {
		cost = mt.cost(u)
	}
	if _, _, berr := mt.bill(u, cost, false); berr != nil {
		p.log.Error("failed to bill a request that ended early", "channel", mt.sess.ch.raw, "err", berr)
		return
	}
	if cost.Sign() > 0 || mt.inflightWritten {
		p.m.RecordTokens(mt.m.name, uint64(u.PromptTokens), uint64(u.CompletionTokens))
		p.m.RecordBilled(cost)
		p.log.Info("request ended early; billed what was delivered", "channel", mt.sess.ch.raw, "model", mt.m.name,
			"prompt_tokens", u.PromptTokens, "completion_tokens", u.CompletionTokens, "cost", cost, "err", err)
	}
}

func outcomeOf(err error, finished bool) string {
	switch {
	case err == nil && finished:
		return "200"
	case finished:
		return "200 cut"
	case errors.Is(err, context.Canceled):
		return "cut"
	}
	e := httpapi.APIError(err)
	return fmt.Sprint(e.StatusCode())
}

// serveChannel is GET /cocoon/v1/channels/<raw address>: the provider's account of the channel,
// for its client only (the request is signed with the channel key).
func (p *Provider) serveChannel(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.Path, payment.ChannelPathPrefix)
	addr, err := address.ParseRawAddr(raw)
	if err != nil || r.Header.Get(payment.HeaderChannel) != raw {
		openai.WriteError(w, paymentRequired(payment.CodeChannelUnknown, "Name the channel's raw address in the path and in %s.", payment.HeaderChannel).apiError(w))
		return
	}
	ch, err := p.channels.get(r.Context(), addr)
	if err != nil {
		ref := paymentRequired(payment.CodeChannelUnknown, "%s is not a channel of this provider: %v.", raw, err)
		if !errors.Is(err, errNotOurs) {
			ref = &refusal{status: http.StatusServiceUnavailable, typ: openai.TypeServer, msg: fmt.Sprintf("The provider could not read the channel from the chain: %v.", err)}
		}
		openai.WriteError(w, ref.apiError(w))
		return
	}
	if _, ref := p.authorize(r, ch, sha256.Sum256(nil), nil); ref != nil {
		openai.WriteError(w, ref.apiError(w))
		return
	}
	ch.mu.Lock()
	view := payment.ChannelView{Channel: ch.raw, Owed: ch.owed.String(), Reserved: ch.reserved.String(),
		VoucherAmount: ch.voucherAmountLocked().String(), PromptTokens: ch.prompt, CompletionTokens: ch.completion}
	if ch.best != nil {
		h := ch.bestHeader
		view.Voucher = &h
	}
	ch.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	openai.WriteJSON(w, http.StatusOK, view)
}
