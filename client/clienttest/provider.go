package clienttest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	stdlog "log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

// Cheat is a way the test provider misbehaves with its receipts.
type Cheat int

const (
	// Honest receipts.
	Honest Cheat = iota
	// CheatPrices signs receipts at twice the on-chain prices (cost consistent with them).
	CheatPrices
	// CheatTokens bills more completion tokens in the receipt than the answer's usage says.
	CheatTokens
	// CheatSignature signs receipts with a key other than the attested one.
	CheatSignature
)

// Provider is a paid RA-TLS provider for tests (docs/PROTOCOL.md "Paid inference"): the checks
// before serving, the admission rule (payment.Admit), metering, receipts signed by the attested
// key, the usage chunk on every paid stream and the client's view of its channel.
type Provider struct {
	Script *Script
	Issuer *attest.Issuer
	// URL is https://127.0.0.1:port.
	URL string

	chain    chain.Client
	registry *address.Address
	self     func() *address.Address
	log      *slog.Logger
	api      *httpapi.Handler
	srv      *http.Server
	ln       net.Listener
	guard    payment.ReplayGuard

	mu sync.Mutex
	// ledgers by channel raw address. REQUIRES mu.
	ledgers map[string]*ledger
	cheat   Cheat
	// admitted counts the requests the payment checks admitted, unsigned those of them its
	// connection authorized. REQUIRES mu.
	admitted, unsigned int
	// connAuth is how it treats connection authorization. REQUIRES mu.
	connAuth ConnAuth
}

// ConnAuth is how a test provider treats connection authorization (docs/PROTOCOL.md).
type ConnAuth int

const (
	// ConnAuthOn takes a connection whose client certificate is the channel's key as authorizing
	// its unsigned requests, and says so on its answers (the protocol).
	ConnAuthOn ConnAuth = iota
	// ConnAuthOff neither says so nor takes unsigned requests (a provider without it).
	ConnAuthOff
	// ConnAuthBroken says so but refuses unsigned requests.
	ConnAuthBroken
)

// SetConnAuth changes how p treats connection authorization.
func (p *Provider) SetConnAuth(c ConnAuth) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.connAuth = c
}

// Unsigned is how many admitted requests came without X-Cocoon-Auth, authorized by their connection.
func (p *Provider) Unsigned() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.unsigned
}

type ledger struct {
	clientKey         []byte
	owed, reserved    *big.Int
	held              *voucher.Signed
	prompt, completed uint64
}

// ProviderConfig says where a test provider is registered.
type ProviderConfig struct {
	Chain    chain.Client
	Registry *address.Address
	// Self returns the provider's own Provider contract address once registered.
	Self func() *address.Address
	// Image is the simulated TEE image (zero: attest.DevnetSimImage).
	Image  [48]byte
	Script *Script
}

// StartProvider serves on 127.0.0.1 with a fresh RA-TLS key.
func StartProvider(ctx context.Context, cfg ProviderConfig) (*Provider, error) {
	image := cfg.Image
	if image == ([48]byte{}) {
		image = attest.DevnetSimImage
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	is, err := attest.NewIssuer(ctx, attest.IssuerConfig{Attester: attest.NewSimAttester(image), Logger: log})
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Provider{Script: cfg.Script, Issuer: is, URL: "https://" + ln.Addr().String(), chain: cfg.Chain, registry: cfg.Registry,
		self: cfg.Self, log: log, ledgers: map[string]*ledger{}, ln: ln}
	p.api = httpapi.NewHandler(cfg.Script, httpapi.WithLogger(log), httpapi.WithResultHook(p.billHook), httpapi.WithSystemFingerprint("fp_0123456789"))
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, is.EvidenceHandler())
	mux.HandleFunc(payment.ChannelPathPrefix, p.channelView)
	mux.HandleFunc("POST /v1/chat/completions", p.paid)
	mux.HandleFunc("POST /v1/completions", p.paid)
	mux.Handle("/", p.api)
	tcfg := is.TLSConfig()
	tcfg.ClientAuth = tls.RequestClientCert // connection authorization
	p.srv = &http.Server{Handler: mux, TLSConfig: tcfg, ErrorLog: stdlog.New(io.Discard, "", 0)}
	go func() { _ = p.srv.Serve(tls.NewListener(ln, tcfg)) }()
	return p, nil
}

// Stop closes the listener and every connection: the provider is down.
func (p *Provider) Stop() { _ = p.srv.Close() }

// SetCheat makes the provider misbehave (or stop misbehaving).
func (p *Provider) SetCheat(c Cheat) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.cheat = c
}

// Paid counts the requests the provider admitted.
func (p *Provider) Paid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.admitted
}

// Held is the newest voucher the provider holds for a channel (nil: none).
func (p *Provider) Held(ch *address.Address) *voucher.Signed {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.ledgers[ch.StringRaw()]; l != nil {
		return l.held
	}
	return nil
}

// Owed is what a channel owes the provider (nil: unknown channel).
func (p *Provider) Owed(ch *address.Address) *big.Int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if l := p.ledgers[ch.StringRaw()]; l != nil {
		return new(big.Int).Set(l.owed)
	}
	return nil
}

func refuse402(w http.ResponseWriter, code, msg string, owed *big.Int) {
	if owed != nil {
		w.Header().Set(payment.HeaderOwed, owed.String())
	}
	openai.WriteError(w, &openai.Error{Status: http.StatusPaymentRequired, Type: payment.TypePaymentRequired, Code: code, Message: msg})
}

// channelInfo checks that ch is this provider's channel under its registry and open; it returns
// the client key and what the channel can pay in total.
func (p *Provider) channelInfo(ctx context.Context, ch *address.Address) (key []byte, capacity *big.Int, code string, err error) {
	cc := contracts.ChannelClient{Chain: p.chain, Address: ch}
	data, err := cc.Data(ctx)
	if err != nil {
		return nil, nil, payment.CodeChannelUnknown, err
	}
	self := p.self()
	if self == nil || !data.Provider.Equals(self) || !data.Registry.Equals(p.registry) {
		return nil, nil, payment.CodeChannelUnknown, errors.New("not a channel of this provider")
	}
	want, err := contracts.ChannelAddress(contracts.ChannelCode(), p.registry, data.ClientKey, self)
	if err != nil || !want.Equals(ch) {
		return nil, nil, payment.CodeChannelUnknown, errors.New("not the registry's channel")
	}
	st, err := cc.State(ctx)
	if err != nil {
		return nil, nil, payment.CodeChannelUnknown, err
	}
	if st.Status != contracts.ChannelOpen {
		return nil, nil, payment.CodeChannelNotOpen, fmt.Errorf("channel is %s", st.Status)
	}
	return data.ClientKey, new(big.Int).Add(st.Paid.Nano(), st.Available.Nano()), "", nil
}

// authorized checks the request's X-Cocoon-Auth (signed by the channel key, fresh, not replayed)
// and answers the 402 when it is not; with byConnection (paid requests) a connection whose client
// certificate is the channel key authorizes an unsigned request, as its ConnAuth mode says.
func (p *Provider) authorized(w http.ResponseWriter, r *http.Request, ch *address.Address, key, body []byte, byConnection bool) bool {
	p.mu.Lock()
	mode := p.connAuth
	p.mu.Unlock()
	if byConnection && ed25519.PublicKey(key).Equal(payment.ConnClientKey(r.TLS)) && mode != ConnAuthOff {
		w.Header().Set(payment.HeaderConnAuth, "ok")
		if r.Header.Get(payment.HeaderAuth) == "" && mode == ConnAuthOn {
			p.mu.Lock()
			p.unsigned++
			p.mu.Unlock()
			return true
		}
	}
	auth, err := payment.ParseAuth(r.Header.Get(payment.HeaderAuth))
	if err == nil {
		err = auth.Verify(key, ch, r.Method, r.URL.RequestURI(), body, time.Now())
	}
	if err == nil {
		err = p.guard.Use(ch, auth, time.Now())
	}
	if err != nil {
		refuse402(w, payment.CodeAuthInvalid, err.Error(), nil)
		return false
	}
	return true
}

// reqState is one paid request's metering, reached from the result hook through the context.
type reqState struct {
	usage backend.Usage
	done  bool
}

type stateKey struct{}

func (p *Provider) billHook(r *http.Request, _ backend.Request, res backend.Result, _ error) {
	if st, ok := r.Context().Value(stateKey{}).(*reqState); ok {
		st.usage, st.done = res.Usage, true
	}
}

// prices reads the provider's on-chain prices of the named model.
func (p *Provider) prices(ctx context.Context, model string) (uint32, payment.Prices, bool) {
	catalog, err := (contracts.RegistryClient{Chain: p.chain, Address: p.registry}).Models(ctx)
	if err != nil {
		return 0, payment.Prices{}, false
	}
	m, err := contracts.FindModel(catalog, model)
	if err != nil {
		return 0, payment.Prices{}, false
	}
	mp, err := (contracts.ProviderClient{Chain: p.chain, Address: p.self()}).ModelPrice(ctx, m.ID)
	if err != nil || !mp.Found {
		return 0, payment.Prices{}, false
	}
	return m.ID, payment.Prices{Prompt: mp.PromptPricePerMillion.Nano(), Completion: mp.CompletionPricePerMillion.Nano()}, true
}

// maxCost is the request's most expensive answer at prices: its prompt tokens and its completion
// limit (max_tokens or the rest of the window) for every choice.
func maxCost(body []byte, prices payment.Prices) (*big.Int, string, bool) {
	var req struct {
		Model               string               `json:"model"`
		Messages            []openai.ChatMessage `json:"messages"`
		Prompt              openai.StringOrArray `json:"prompt"`
		MaxTokens           *int                 `json:"max_tokens"`
		MaxCompletionTokens *int                 `json:"max_completion_tokens"`
		N                   *int                 `json:"n"`
		Stream              bool                 `json:"stream"`
	}
	if json.Unmarshal(body, &req) != nil {
		return nil, "", false
	}
	br := backend.Request{Chat: req.Messages != nil, Prompt: strings.Join(req.Prompt, "")}
	for _, m := range req.Messages {
		t, _ := m.Text()
		br.Messages = append(br.Messages, backend.Message{Role: m.Role, Content: t})
	}
	prompt := PromptTokens(br)
	limit := ContextLength - prompt
	if req.MaxCompletionTokens != nil {
		limit = *req.MaxCompletionTokens
	} else if req.MaxTokens != nil {
		limit = *req.MaxTokens
	}
	n := 1
	if req.N != nil && *req.N > 1 {
		n = *req.N
	}
	if limit < 0 {
		limit = 0
	}
	return prices.Cost(uint64(prompt), uint64(limit*n)), req.Model, req.Stream
}

func (p *Provider) paid(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, httpapi.MaxBodyBytes))
	if err != nil {
		http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
		return
	}
	chHeader, vHeader := r.Header.Get(payment.HeaderChannel), r.Header.Get(voucher.HeaderVoucher)
	if chHeader == "" || vHeader == "" {
		refuse402(w, payment.CodeVoucherMissing, "a paid request needs X-Cocoon-Channel and X-Cocoon-Voucher", nil)
		return
	}
	ch, err := address.ParseRawAddr(chHeader)
	if err != nil {
		refuse402(w, payment.CodeVoucherInvalid, "bad channel address", nil)
		return
	}
	sv, err := voucher.DecodeHeader(vHeader)
	if err != nil || !sv.Channel.Equals(ch) {
		refuse402(w, payment.CodeVoucherInvalid, "bad voucher or another channel's", nil)
		return
	}
	key, capacity, code, err := p.channelInfo(r.Context(), ch)
	if err != nil {
		refuse402(w, code, err.Error(), nil)
		return
	}
	if !p.authorized(w, r, ch, key, body, true) {
		return
	}
	if err := sv.Verify(key); err != nil {
		refuse402(w, payment.CodeVoucherInvalid, err.Error(), nil)
		return
	}
	modelID, prices, ok := p.pricesFor(r.Context(), body)
	if !ok {
		// Unknown model or unpriced: the OpenAI layer refuses it, unbilled.
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.api.ServeHTTP(w, r)
		return
	}
	max, _, stream := maxCost(body, prices)
	if max == nil {
		r.Body = io.NopCloser(bytes.NewReader(body))
		p.api.ServeHTTP(w, r)
		return
	}

	p.mu.Lock()
	l := p.ledgers[ch.StringRaw()]
	if l == nil {
		l = &ledger{clientKey: key, owed: new(big.Int), reserved: new(big.Int)}
		p.ledgers[ch.StringRaw()] = l
	}
	if l.held != nil && sv.Amount.Cmp(l.held.Amount) < 0 {
		p.mu.Unlock()
		refuse402(w, payment.CodeVoucherInvalid, "the voucher goes backwards", l.owed)
		return
	}
	if l.held == nil || voucher.CheckNewer(&l.held.Voucher, &sv.Voucher) == nil {
		cp := sv
		cp.Voucher = sv.Voucher.Copy()
		l.held = &cp
	}
	held := new(big.Int)
	if l.held != nil {
		held.Set(l.held.Amount)
	}
	if ref := payment.Admit(payment.Ledger{Owed: l.owed, Reserved: l.reserved, Voucher: held, Capacity: capacity}, max); ref != nil {
		owed := new(big.Int).Set(l.owed)
		p.mu.Unlock()
		if ref.VoucherMin != nil {
			w.Header().Set(payment.HeaderVoucherMin, ref.VoucherMin.String())
		}
		refuse402(w, ref.Code, ref.Message, owed)
		return
	}
	l.reserved.Add(l.reserved, max)
	p.admitted++
	cheat := p.cheat
	p.mu.Unlock()

	st := &reqState{}
	served := body
	if stream {
		served = forceUsage(body)
	}
	r2 := r.Clone(context.WithValue(r.Context(), stateKey{}, st))
	r2.Body = io.NopCloser(bytes.NewReader(served))
	r2.ContentLength = int64(len(served))
	bill := func() (*big.Int, *big.Int, backend.Usage) {
		p.mu.Lock()
		defer p.mu.Unlock()
		l.reserved.Sub(l.reserved, max)
		cost := prices.Cost(uint64(st.usage.PromptTokens), uint64(st.usage.CompletionTokens))
		l.owed.Add(l.owed, cost)
		l.prompt += uint64(st.usage.PromptTokens)
		l.completed += uint64(st.usage.CompletionTokens)
		return cost, new(big.Int).Set(l.owed), st.usage
	}
	sign := func(content *payment.Content, u backend.Usage, cost, owed *big.Int) (string, *big.Int) {
		rc := payment.Receipt{Channel: ch, RequestHash: sha256.Sum256(body), ResponseHash: content.Hash(), IssuedAt: time.Now(),
			ModelID: modelID, PromptTokens: uint64(u.PromptTokens), CompletionTokens: uint64(u.CompletionTokens), Prices: prices, Cost: cost, Owed: owed}
		signer := p.Issuer.Signer()
		switch cheat {
		case CheatPrices:
			rc.Prices = payment.Prices{Prompt: new(big.Int).Mul(prices.Prompt, big.NewInt(2)), Completion: new(big.Int).Mul(prices.Completion, big.NewInt(2))}
		case CheatTokens:
			rc.CompletionTokens += 5
		case CheatSignature:
			_, k, _ := ed25519.GenerateKey(rand.Reader)
			signer = k
		}
		if cheat == CheatPrices || cheat == CheatTokens {
			extra := new(big.Int).Sub(rc.Prices.Cost(rc.PromptTokens, rc.CompletionTokens), cost)
			rc.Cost = new(big.Int).Add(cost, extra)
			p.mu.Lock()
			l.owed.Add(l.owed, extra)
			rc.Owed = new(big.Int).Set(l.owed)
			p.mu.Unlock()
		}
		s, err := rc.Sign(signer)
		if err != nil {
			panic(err)
		}
		enc, err := s.Encode()
		if err != nil {
			panic(err)
		}
		return enc, rc.Cost
	}

	if !stream {
		rec := &recorder{header: http.Header{}}
		p.api.ServeHTTP(rec, r2)
		cost, owed, u := bill()
		for k, v := range rec.header {
			w.Header()[k] = v
		}
		if rec.status != http.StatusOK {
			w.WriteHeader(rec.status)
			_, _ = w.Write(rec.body.Bytes())
			return
		}
		var content payment.Content
		_ = content.Add(rec.body.Bytes())
		receipt, billed := sign(&content, u, cost, owed)
		out := withPayment(rec.body.Bytes(), openai.Payment{Channel: ch.StringRaw(), Cost: billed.String(), CostTON: payment.FormatTON(billed),
			Owed: p.Owed(ch).String(), Receipt: receipt})
		w.Header().Set(payment.HeaderCost, billed.String())
		w.Header().Set(payment.HeaderOwed, p.Owed(ch).String())
		w.Header().Set(payment.HeaderReceipt, receipt)
		w.Header().Set("Content-Length", fmt.Sprint(len(out)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(out)
		return
	}
	sw := &streamWriter{w: w, rc: http.NewResponseController(w)}
	sw.onEvent = func(data []byte) []byte {
		if string(data) == "[DONE]" {
			return data
		}
		var probe struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *json.RawMessage  `json:"usage"`
			Error   *json.RawMessage  `json:"error"`
		}
		if json.Unmarshal(data, &probe) != nil || probe.Error != nil {
			return data
		}
		if probe.Usage == nil || len(probe.Choices) > 0 || string(*probe.Usage) == "null" {
			_ = sw.content.Add(data)
			return data
		}
		cost, owed, u := bill()
		sw.billed = true
		receipt, billed := sign(&sw.content, u, cost, owed)
		return withPayment(data, openai.Payment{Channel: ch.StringRaw(), Cost: billed.String(), CostTON: payment.FormatTON(billed),
			Owed: p.Owed(ch).String(), Receipt: receipt})
	}
	p.api.ServeHTTP(sw, r2)
	sw.flushRest()
	if !sw.billed {
		bill()
	}
}

func (p *Provider) pricesFor(ctx context.Context, body []byte) (uint32, payment.Prices, bool) {
	var m struct {
		Model string `json:"model"`
	}
	if json.Unmarshal(body, &m) != nil || m.Model == "" {
		return 0, payment.Prices{}, false
	}
	return p.prices(ctx, m.Model)
}

// forceUsage sets stream_options.include_usage: every paid stream ends with the usage chunk.
func forceUsage(body []byte) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) != nil {
		return body
	}
	m["stream_options"] = json.RawMessage(`{"include_usage":true}`)
	out, err := json.Marshal(m)
	if err != nil {
		return body
	}
	return out
}

// withPayment puts pay into the answer's usage.cocoon.
func withPayment(data []byte, pay openai.Payment) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(data, &m) != nil {
		return data
	}
	var u map[string]json.RawMessage
	_ = json.Unmarshal(m["usage"], &u)
	if u == nil {
		u = map[string]json.RawMessage{}
	}
	b, _ := json.Marshal(pay)
	u["cocoon"] = b
	m["usage"], _ = json.Marshal(u)
	out, _ := json.Marshal(m)
	return out
}

// recorder keeps a non-streamed answer until it is billed and signed.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(s int) {
	if r.status == 0 {
		r.status = s
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(b)
}

// streamWriter passes SSE events through onEvent (JSON errors before the stream are passed as
// they are).
type streamWriter struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	onEvent func([]byte) []byte
	buf     bytes.Buffer
	sse     bool
	wrote   bool
	content payment.Content
	billed  bool
}

func (s *streamWriter) Header() http.Header { return s.w.Header() }
func (s *streamWriter) WriteHeader(code int) {
	s.sse = strings.HasPrefix(s.w.Header().Get("Content-Type"), "text/event-stream")
	s.wrote = true
	s.w.WriteHeader(code)
}
func (s *streamWriter) Write(b []byte) (int, error) {
	if !s.wrote {
		s.WriteHeader(http.StatusOK)
	}
	if !s.sse {
		return s.w.Write(b)
	}
	s.buf.Write(b)
	for {
		i := bytes.Index(s.buf.Bytes(), []byte("\n\n"))
		if i < 0 {
			return len(b), nil
		}
		ev := append([]byte(nil), s.buf.Bytes()[:i]...)
		s.buf.Next(i + 2)
		data, ok := bytes.CutPrefix(ev, []byte("data: "))
		if ok {
			data = s.onEvent(data)
		}
		if _, err := fmt.Fprintf(s.w, "data: %s\n\n", data); err != nil {
			return 0, err
		}
	}
}
func (s *streamWriter) Flush() { _ = s.rc.Flush() }
func (s *streamWriter) flushRest() {
	if s.buf.Len() > 0 {
		_, _ = s.w.Write(s.buf.Bytes())
	}
}

// channelView answers GET /cocoon/v1/channels/<addr> for the channel's client.
func (p *Provider) channelView(w http.ResponseWriter, r *http.Request) {
	raw := strings.TrimPrefix(r.URL.Path, payment.ChannelPathPrefix)
	ch, err := address.ParseRawAddr(raw)
	if err != nil || r.Header.Get(payment.HeaderChannel) != raw {
		refuse402(w, payment.CodeVoucherMissing, "name the channel", nil)
		return
	}
	key, _, code, err := p.channelInfo(r.Context(), ch)
	if err != nil {
		refuse402(w, code, err.Error(), nil)
		return
	}
	if !p.authorized(w, r, ch, key, nil, false) {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.ledgers[raw]
	view := map[string]any{"channel": raw, "owed": "0", "reserved": "0", "voucher": nil, "voucher_amount": "0", "prompt_tokens": 0, "completion_tokens": 0}
	if l != nil {
		view["owed"], view["reserved"], view["prompt_tokens"], view["completion_tokens"] = l.owed.String(), l.reserved.String(), l.prompt, l.completed
		if l.held != nil {
			h, _ := voucher.EncodeHeader(l.held)
			view["voucher"], view["voucher_amount"] = h, l.held.Amount.String()
		}
	}
	openai.WriteJSON(w, http.StatusOK, view)
}

// ReadSSE splits an SSE body into its data payloads (test helper).
func ReadSSE(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out, sc.Err()
}
