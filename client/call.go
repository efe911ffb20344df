package client

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	mrand "math/rand/v2"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/client/verify"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// Error codes of the client's own refusals (the body's "code"); 402s have type payment_required.
const (
	CodeNoProvider        = "no_verified_provider"
	CodeProvidersFailed   = "providers_failed"
	CodeInsufficientFunds = "insufficient_funds"
	CodeBudgetExceeded    = "budget_exceeded"
	CodeNoWallet          = "no_wallet"
)

// maxAnswerBytes bounds a non-streamed answer.
const maxAnswerBytes = 64 << 20

// Call is one OpenAI request.
type Call struct {
	// ID names the request (the gateway's X-Request-Id; "" draws one).
	ID string
	// Path is "/v1/chat/completions" or "/v1/completions".
	Path string
	// Request is the parsed body (route.ParseRequest).
	Request *route.Request
}

// NewID is a request id: "req_" and 32 hex digits.
func NewID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "req_" + hex.EncodeToString(b[:])
}

// Attempt is one provider tried for a call.
type Attempt struct {
	Provider string `json:"provider"`
	Error    string `json:"error,omitempty"`
}

// Answer is a provider's answer to a call. Exactly one of Body (non-streamed, or an error the
// provider answered with) and Stream is set.
type Answer struct {
	ID       string
	Provider *Provider
	Channel  string
	// Status and Header are the provider's.
	Status int
	Header http.Header
	// Body is a non-streamed answer as received (usage.cocoon included), or the provider's error.
	Body []byte
	// Stream yields a streamed answer's events.
	Stream *Stream
	// Attempts are the providers tried before this one answered, and why each failed.
	Attempts []Attempt

	mu     sync.Mutex
	result *Result
}

// Result is what an answer cost, known at its end.
type Result struct {
	// Cost is what the client accepts to pay for this answer (nanoTON); zero when none.
	Cost *big.Int
	// Owed is the channel's total after it.
	Owed *big.Int
	// Receipt is the provider's receipt as sent ("" when none).
	Receipt          string
	PromptTokens     uint64
	CompletionTokens uint64
	// Verified: the receipt checked out (signature, hashes, prices, tokens, cost).
	Verified bool
	// Parsed is the receipt decoded (nil when it did not decode).
	Parsed *payment.SignedReceipt
	// Problem says what was wrong with the payment of this answer ("" when nothing).
	Problem string
	// TTFT and Total are the measured times.
	TTFT, Total time.Duration
}

// Result is the answer's payment once it ended (nil before).
func (a *Answer) Result() *Result {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.result
}

func (a *Answer) setResult(r *Result) {
	a.mu.Lock()
	a.result = r
	a.mu.Unlock()
}

// Do sends a call to the best provider for it, failing over to the next before the first content
// byte. It returns an *openai.Error for the client's own refusals (unknown model, no verified
// provider, budget, a wallet too poor) and when every provider failed; an error a provider
// answered with that no other provider would answer otherwise (a bad parameter) is an Answer.
func (c *Client) Do(ctx context.Context, call Call) (*Answer, error) {
	if call.ID == "" {
		call.ID = NewID()
	}
	req := call.Request
	if err := c.fresh(ctx); err != nil {
		return nil, &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer, Code: CodeNoProvider, Message: err.Error()}
	}
	c.mu.RLock()
	snap := c.snap
	c.mu.RUnlock()
	model, err := snap.Registry.Model(req.Model)
	if err != nil {
		models, _ := c.Models(ctx)
		var names []string
		for _, m := range models {
			names = append(names, m.Name)
		}
		avail := "none is served by a verified provider now"
		if len(names) > 0 {
			avail = "available: " + strings.Join(names, ", ")
		}
		return nil, &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Code: openai.CodeModelNotFound, Param: "model",
			Message: fmt.Sprintf("The model `%s` does not exist or you do not have access to it (%v; %s).", req.Model, err, avail)}
	}
	cands, reasons := c.candidates(model.ID)
	ordered, excluded := route.Plan(cands, req.Prefs, req.Features)
	for id, why := range excluded {
		reasons[id] = why
	}
	if len(ordered) == 0 {
		return nil, &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer, Code: CodeNoProvider,
			Message: fmt.Sprintf("No verified provider serves `%s`: %s.", req.Model, explain(reasons))}
	}
	var attempts []Attempt
	var last *Answer
	var lastErr error
	// Requests that find every provider busy wait in line, per model (busyLine): one that comes
	// while others wait goes behind them before it tries anyone.
	arrived := time.Now()
	deadline := arrived.Add(c.cfg.BusyWait)
	line := c.busy.of(model.ID)
	var turn chan struct{}
	defer func() {
		if turn != nil {
			line.leave(turn)
		}
	}()
	if c.cfg.BusyWait > 0 && line.waiting() > 0 {
		ahead := line.waiting()
		turn = line.join()
		first, err := line.wait(ctx, turn, deadline)
		if err != nil {
			return nil, err
		}
		if !first {
			return nil, &openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: openai.CodeRateLimitExceeded,
				Message: fmt.Sprintf("Every provider is busy: this request waited %s in line behind %d others for `%s`.", time.Since(arrived).Round(time.Millisecond), ahead, req.Model)}
		}
	}
	allBusy := false // every provider tried in the last round answered 429
	for {
		busy := 0
		for _, cand := range ordered {
			p := c.provider(cand.ID)
			if p == nil {
				continue
			}
			a, err := c.try(ctx, call, p, model.ID, cand.Prices)
			if err == nil {
				a.Attempts = attempts
				return a, nil
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			var fail *failure
			if errors.As(err, &fail) && fail.answer != nil {
				last = fail.answer
			}
			if errors.As(err, &fail) && fail.busy {
				busy++
			}
			lastErr = err
			attempts = append(attempts, Attempt{Provider: p.ID, Error: err.Error()})
			c.log.Info("provider failed before the answer started; trying the next", "request", call.ID, "provider", p.ID, "err", err)
		}
		// Every provider is up but busy: wait for one to take the request, as a queue would,
		// rather than fail the app (nothing was sent or paid for).
		allBusy = busy > 0 && busy == len(attempts)
		if !allBusy || time.Until(deadline) < busyRetry {
			break
		}
		pause := true
		if turn == nil {
			joined := time.Now()
			turn = line.join()
			first, err := line.wait(ctx, turn, deadline)
			if err != nil {
				return nil, err
			}
			if !first {
				break
			}
			// First at once: the providers just said busy, pause. After a wait in line: try now.
			pause = time.Since(joined) < busyRetry
		}
		if pause {
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(busyRetry/2 + mrand.N(busyRetry/2+1)):
			}
		}
		attempts = attempts[:0]
	}
	if last != nil {
		// Every provider refused the request itself (e.g. a parameter none supports): the last
		// one's own answer says why.
		last.Attempts = attempts
		return last, nil
	}
	var oe *openai.Error
	if len(attempts) == 1 && errors.As(lastErr, &oe) {
		return nil, oe
	}
	var parts []string
	for _, at := range attempts {
		parts = append(parts, at.Provider+": "+at.Error)
	}
	if allBusy {
		return nil, &openai.Error{Status: http.StatusTooManyRequests, Type: openai.TypeRateLimit, Code: openai.CodeRateLimitExceeded,
			Message: fmt.Sprintf("Every provider is busy (waited %s): %s", time.Since(arrived).Round(time.Millisecond), strings.Join(parts, "; "))}
	}
	status := http.StatusBadGateway
	if errors.As(lastErr, &oe) && oe.Status == http.StatusPaymentRequired {
		status = http.StatusPaymentRequired
		return nil, &openai.Error{Status: status, Type: payment.TypePaymentRequired, Code: oe.Code, Message: "Every provider was refused: " + strings.Join(parts, "; ")}
	}
	return nil, &openai.Error{Status: status, Type: openai.TypeUpstream, Code: CodeProvidersFailed, Message: "Every provider failed: " + strings.Join(parts, "; ")}
}

// candidates are the verified providers serving a model; reasons say why every other provider of
// the snapshot is not one.
func (c *Client) candidates(modelID uint32) ([]route.Candidate, map[string]string) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	reasons := map[string]string{}
	var out []route.Candidate
	for _, cp := range c.snap.Providers {
		p := c.providers[cp.Address.String()]
		if p == nil {
			continue
		}
		prices, serves := p.Chain.Serves(modelID)
		switch {
		case !serves:
			reasons[p.ID] = "does not price this model"
		case c.dropped[p.ID] != "":
			reasons[p.ID] = "dropped: " + c.dropped[p.ID]
		case !p.Report.OK:
			reasons[p.ID] = "refused: " + strings.Join(p.Report.Refusals, "; ")
		default:
			st, refuses := c.Stats(p)
			out = append(out, route.Candidate{ID: p.ID, Names: p.Names(), Prices: prices, Stats: st, Refuses: refuses})
		}
	}
	return out, reasons
}

// Stats are what the client measured of a provider, with the oracles' uptime where it has it.
func (c *Client) Stats(p *Provider) (route.Stats, map[string]bool) {
	st, refuses := c.tracker.Get(p.ID)
	if u := p.Chain.Uptime; u != nil && u.ProbesTotal > 0 {
		st.OracleUptime, st.OracleProbes = u.Ratio(), u.ProbesTotal
	}
	return st, refuses
}

func explain(reasons map[string]string) string {
	if len(reasons) == 0 {
		return "the registry lists no provider"
	}
	keys := make([]string, 0, len(reasons))
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + reasons[k]
	}
	return strings.Join(parts, "; ")
}

// failure is a provider that did not answer; answer, when set, is its own refusal of the request;
// busy, a provider that answered 429 (up, but at its concurrency or per-channel rate limit).
type failure struct {
	err    error
	answer *Answer
	busy   bool
}

func (f *failure) Error() string { return f.err.Error() }
func (f *failure) Unwrap() error { return f.err }

// payError turns the payer's refusals into 402s.
func payError(err error) error {
	var fe *pay.FundsError
	switch {
	case errors.As(err, &fe):
		return &openai.Error{Status: http.StatusPaymentRequired, Type: payment.TypePaymentRequired, Code: CodeInsufficientFunds, Message: err.Error()}
	case errors.Is(err, pay.ErrBudget):
		return &openai.Error{Status: http.StatusPaymentRequired, Type: payment.TypePaymentRequired, Code: CodeBudgetExceeded, Message: err.Error()}
	case errors.Is(err, pay.ErrNoWallet):
		return &openai.Error{Status: http.StatusPaymentRequired, Type: payment.TypePaymentRequired, Code: CodeNoWallet, Message: err.Error()}
	}
	return err
}

// cap is the most a request may cost at prices: its body's length as a bound on prompt tokens
// (a token covers at least one byte of text; the JSON around the text outweighs the template),
// and its completion limit (or the client's MaxTokens) for every choice.
func (c *Client) cap(req *route.Request, prices payment.Prices) *big.Int {
	completion := c.cfg.MaxTokens
	if req.MaxTokens != nil && *req.MaxTokens > 0 {
		completion = *req.MaxTokens
	}
	return prices.Cost(uint64(len(req.Body)), uint64(completion)*uint64(req.N))
}

// try sends a call to one provider. A nil error is an answer to give the app (200, or a refusal
// no other provider would change); else a *failure.
func (c *Client) try(ctx context.Context, call Call, p *Provider, modelID uint32, prices payment.Prices) (*Answer, error) {
	fail := func(err error) (*Answer, error) {
		c.tracker.Failure(p.ID, err)
		return nil, &failure{err: err}
	}
	if c.cfg.Payer == nil {
		return nil, &failure{err: payError(pay.ErrNoWallet)}
	}
	req := call.Request
	cap := c.cap(req, prices)
	ledger, err := c.cfg.Payer.Ensure(ctx, p.Chain.Address, p.Chain.Owner, cap)
	if err != nil {
		return nil, &failure{err: payError(err)}
	}
	if err := ledger.Acquire(ctx); err != nil {
		return nil, err
	}
	held := true
	defer func() {
		if held {
			ledger.Release()
		}
	}()
	if err := ledger.Begin(call.ID, cap, c.cfg.Payer.ChannelBudget()); err != nil {
		return nil, &failure{err: payError(err)}
	}
	start := time.Now()
	var resp *http.Response
	for attempt := 0; ; attempt++ {
		unsigned := p.connAuth != nil && p.connAuth.Load()
		resp, err = c.send(ctx, p, ledger, call, !unsigned)
		if err != nil {
			_ = ledger.Cancel(call.ID)
			return fail(err)
		}
		if resp.StatusCode != http.StatusPaymentRequired || attempt > 0 {
			break
		}
		// A 402: resync with the provider's view, or top up, then try once more.
		code, body := readError(resp)
		switch code {
		case payment.CodeAuthInvalid:
			if !unsigned {
				_ = ledger.Cancel(call.ID)
				return fail(fmt.Errorf("the provider refused payment (%s): %s", code, body))
			}
			// The connection did not authorize it after all (a provider that no longer takes the
			// client certificate): sign from now on.
			p.connAuth.Store(false)
		case payment.CodeVoucherTooLow, payment.CodeVoucherInvalid:
			// Owed more than the voucher covers (an answer without a receipt), or the voucher is
			// behind the provider's copy (a lost store): its view says which.
			if err := c.resync(ctx, p, ledger); err != nil {
				_ = ledger.Cancel(call.ID)
				if errors.Is(err, pay.ErrOverclaim) {
					c.Drop(p, ledger, err.Error())
				}
				return fail(err)
			}
		case payment.CodeDepositTooLow:
			if err := c.cfg.Payer.Refresh(ctx, ledger.Channel); err != nil {
				_ = ledger.Cancel(call.ID)
				return fail(err)
			}
			if _, err := c.cfg.Payer.TopUp(ctx, ledger.Channel, cap); err != nil {
				_ = ledger.Cancel(call.ID)
				return nil, &failure{err: payError(err)}
			}
		default:
			_ = ledger.Cancel(call.ID)
			return fail(fmt.Errorf("the provider refused payment (%s): %s", code, body))
		}
	}
	a := &Answer{ID: call.ID, Provider: p, Channel: ledger.Channel.StringRaw(), Status: resp.StatusCode, Header: resp.Header}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
		_ = ledger.Cancel(call.ID) // nothing is billed for an answer that did not start
		a.Body = body
		e := errorOf(body)
		switch {
		case resp.StatusCode == http.StatusBadRequest && (e.Code == openai.CodeUnsupportedParameter || e.Code == openai.CodeUnsupportedValue):
			c.tracker.Refuse(p.ID, route.TopField(e.Param))
			return nil, &failure{err: fmt.Errorf("its backend does not support %q", e.Param), answer: a}
		case resp.StatusCode == http.StatusNotFound && e.Code == openai.CodeModelNotFound:
			return fail(fmt.Errorf("it prices the model on-chain but does not serve it"))
		case resp.StatusCode == http.StatusTooManyRequests:
			// Busy is not down: no failure counts against its uptime.
			return nil, &failure{err: fmt.Errorf("it answered %d: %s", resp.StatusCode, e.Message), busy: true}
		case resp.StatusCode >= 500:
			return fail(fmt.Errorf("it answered %d: %s", resp.StatusCode, e.Message))
		case resp.StatusCode == http.StatusPaymentRequired:
			return fail(fmt.Errorf("it refused payment again: %s", e.Message))
		}
		return a, nil // the request's own fault: the app sees the provider's answer
	}
	key := p.receiptKeyFor(resp.TLS.PeerCertificates[0].PublicKey)
	if !req.Stream {
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
		resp.Body.Close()
		if err != nil {
			return fail(fmt.Errorf("failed to read the answer: %w", err))
		}
		a.Body = body
		var content payment.Content
		if err := content.Add(body); err != nil {
			return fail(err)
		}
		res := c.settle(ctx, p, ledger, call, modelID, prices, key, &content, usageOf(body), resp.Header.Get(payment.HeaderReceipt))
		res.TTFT, res.Total = time.Since(start), time.Since(start)
		c.tracker.Success(p.ID, res.TTFT, res.Total, int(res.CompletionTokens))
		a.setResult(res)
		return a, nil
	}
	s := &Stream{c: c, a: a, p: p, ledger: ledger, call: call, modelID: modelID, prices: prices, key: key, resp: resp,
		r: bufio.NewReaderSize(resp.Body, 64<<10), start: start}
	if err := s.prime(); err != nil {
		resp.Body.Close()
		_ = ledger.Cancel(call.ID)
		return fail(err)
	}
	held = false // the stream releases the channel at its end
	a.Stream = s
	return a, nil
}

// send posts the call with the channel's voucher and, when sign, a fresh authorization (else the
// connection's client certificate authorizes it: Provider.connAuth). The request is
// authorized and built before the voucher is asked for: Voucher may wait for the disk (the
// previous answer's voucher being synced), and the signature then overlaps that wait.
func (c *Client) send(ctx context.Context, p *Provider, ledger *pay.Ledger, call Call, sign bool) (*http.Response, error) {
	body := call.Request.Body
	var auth string
	if sign {
		var err error
		if auth, err = signRequest(c.cfg.Payer.PrivateKey(), ledger.Channel, http.MethodPost, call.Path, body); err != nil {
			return nil, err
		}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(p.Chain.Endpoint, "/")+call.Path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	v, err := ledger.Voucher()
	if err != nil {
		return nil, err
	}
	vh, err := voucher.EncodeHeader(v)
	if err != nil {
		return nil, err
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set(payment.HeaderChannel, ledger.Channel.StringRaw())
	hr.Header.Set(voucher.HeaderVoucher, vh)
	if auth != "" {
		hr.Header.Set(payment.HeaderAuth, auth)
	}
	if call.Request.Stream {
		hr.Header.Set("Accept", "text/event-stream")
	}
	resp, err := p.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("failed to reach it: %w", err)
	}
	if resp.TLS == nil || len(resp.TLS.PeerCertificates) == 0 {
		resp.Body.Close()
		return nil, errors.New("it answered without RA-TLS")
	}
	if p.connAuth != nil && resp.Header.Get(payment.HeaderConnAuth) == "ok" {
		p.connAuth.Store(true)
	}
	return resp, nil
}

// signRequest is payment.SignRequest with curve25519-voi's signer (the same RFC 8032 signature, in
// half the time: it is on every request's path).
func signRequest(key ed25519.PrivateKey, ch *address.Address, method, target string, body []byte) (string, error) {
	a := payment.Auth{Unix: time.Now().Unix()}
	if _, err := rand.Read(a.Nonce[:]); err != nil {
		return "", fmt.Errorf("failed to draw a request nonce: %w", err)
	}
	copy(a.Signature[:], voi.Sign(voi.PrivateKey(key), payment.AuthMessage(ch, method, target, body, a.Unix, a.Nonce)))
	return a.String(), nil
}

// resync reads the provider's view of the channel and accepts it within the ledger's bound,
// waiting a little for an earlier answer still being metered.
func (c *Client) resync(ctx context.Context, p *Provider, ledger *pay.Ledger) error {
	deadline := time.Now().Add(c.cfg.ResyncWait)
	for {
		v, err := c.View(ctx, p, ledger)
		if err != nil {
			return err
		}
		if v.Reserved.Sign() == 0 {
			return ledger.Resync(*v)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("it is still metering an earlier answer on the channel (%s nanoTON reserved)", v.Reserved)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// View asks a provider for its view of the client's channel (docs/PROTOCOL.md "The client's
// view of its channel").
func (c *Client) View(ctx context.Context, p *Provider, ledger *pay.Ledger) (*pay.View, error) {
	path := payment.ChannelPathPrefix + ledger.Channel.StringRaw()
	auth, err := signRequest(c.cfg.Payer.PrivateKey(), ledger.Channel, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, strings.TrimSuffix(p.Chain.Endpoint, "/")+path, nil)
	if err != nil {
		return nil, err
	}
	hr.Header.Set(payment.HeaderChannel, ledger.Channel.StringRaw())
	hr.Header.Set(payment.HeaderAuth, auth)
	resp, err := p.http.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("failed to read its view of the channel: %w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("its view of the channel: %d %s", resp.StatusCode, errorOf(body).Message)
	}
	var w struct {
		Owed       string  `json:"owed"`
		Reserved   string  `json:"reserved"`
		Voucher    *string `json:"voucher"`
		Prompt     uint64  `json:"prompt_tokens"`
		Completion uint64  `json:"completion_tokens"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("its view of the channel does not parse: %w", err)
	}
	v := &pay.View{PromptTokens: w.Prompt, Completion: w.Completion}
	var ok1, ok2 bool
	v.Owed, ok1 = new(big.Int).SetString(w.Owed, 10)
	v.Reserved, ok2 = new(big.Int).SetString(w.Reserved, 10)
	if !ok1 || !ok2 || v.Owed.Sign() < 0 || v.Reserved.Sign() < 0 {
		return nil, fmt.Errorf("its view of the channel has bad amounts %q, %q", w.Owed, w.Reserved)
	}
	if w.Voucher != nil {
		sv, err := voucher.DecodeHeader(*w.Voucher)
		if err != nil {
			return nil, fmt.Errorf("its view of the channel has a bad voucher: %w", err)
		}
		v.Voucher = &sv
	}
	return v, nil
}

// settle checks an answer's receipt and books it; a provider whose receipt fails is dropped, and
// the client then owes only the answer's reported tokens at the on-chain prices.
func (c *Client) settle(ctx context.Context, p *Provider, ledger *pay.Ledger, call Call, modelID uint32, prices payment.Prices,
	key *payment.ReceiptKey, content *payment.Content, u usage, headerReceipt string) *Result {
	res := &Result{PromptTokens: u.prompt, CompletionTokens: u.completion, Receipt: u.receipt}
	if res.Receipt == "" {
		res.Receipt = headerReceipt
	}
	check := pay.ReceiptCheck{Encoded: res.Receipt, Key: key, Channel: ledger.Channel, Body: call.Request.Body, Content: content,
		ModelID: modelID, Prices: []payment.Prices{prices}, PromptTokens: u.prompt, CompletionTokens: u.completion}
	r, err := pay.CheckReceipt(check)
	if errors.Is(err, pay.ErrPrices) {
		// The provider may have changed its price on-chain while the request ran: read it again.
		if now, perr := c.currentPrices(ctx, p, modelID); perr == nil {
			check.Prices = append(check.Prices, now)
			r, err = pay.CheckReceipt(check)
		}
	}
	if err == nil {
		res.Parsed = r
		err = ledger.Settle(call.ID, &r.Receipt)
		res.Cost = new(big.Int).Set(r.Cost)
		res.Verified = err == nil
	} else {
		fair := prices.Cost(u.prompt, u.completion)
		res.Cost = fair
		_ = ledger.Settle(call.ID, &payment.Receipt{Cost: fair, Owed: new(big.Int).Add(ledger.Owed(), fair), PromptTokens: u.prompt, CompletionTokens: u.completion})
	}
	res.Owed = ledger.Owed()
	if err != nil {
		res.Problem = err.Error()
		c.Drop(p, ledger, err.Error())
	} else {
		c.cfg.Payer.Prepare(ledger) // the next voucher, off the next request's path
	}
	return res
}

// currentPrices reads a provider's price for a model again (a price changed on-chain while the
// request ran is not a cheat).
func (c *Client) currentPrices(ctx context.Context, p *Provider, modelID uint32) (payment.Prices, error) {
	snap := c.Snapshot()
	if snap == nil || c.cfg.Chain == nil {
		return payment.Prices{}, errors.New("no chain")
	}
	mp, err := getModelPrice(ctx, c.cfg.Chain, p, modelID)
	if err != nil {
		return payment.Prices{}, err
	}
	return mp, nil
}

// usage is an answer's reported usage and receipt.
type usage struct {
	prompt, completion uint64
	receipt            string
	found              bool
}

// usageOf reads usage (and usage.cocoon.receipt) from an answer or a usage chunk.
func usageOf(data []byte) usage {
	var w struct {
		Usage *struct {
			Prompt     uint64          `json:"prompt_tokens"`
			Completion uint64          `json:"completion_tokens"`
			Cocoon     *openai.Payment `json:"cocoon"`
		} `json:"usage"`
	}
	if json.Unmarshal(data, &w) != nil || w.Usage == nil {
		return usage{}
	}
	u := usage{prompt: w.Usage.Prompt, completion: w.Usage.Completion, found: true}
	if w.Usage.Cocoon != nil {
		u.receipt = w.Usage.Cocoon.Receipt
	}
	return u
}

// readError reads a provider's error answer: its code and message.
func readError(resp *http.Response) (string, string) {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	e := errorOf(body)
	return e.Code, e.Message
}

type errorDetail struct {
	Message, Type, Code, Param string
}

func errorOf(body []byte) errorDetail {
	var w struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Code    *string `json:"code"`
			Param   *string `json:"param"`
		} `json:"error"`
	}
	_ = json.Unmarshal(body, &w)
	d := errorDetail{Message: w.Error.Message, Type: w.Error.Type}
	if w.Error.Code != nil {
		d.Code = *w.Error.Code
	}
	if w.Error.Param != nil {
		d.Param = *w.Error.Param
	}
	if d.Message == "" {
		d.Message = strings.TrimSpace(string(body))
	}
	return d
}

// ReportOf is the verification report the answer's provider had when it was chosen.
func (a *Answer) ReportOf() *verify.Report { return a.Provider.Report }
