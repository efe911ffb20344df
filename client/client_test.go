package client_test

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/client"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/client/route"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
)

var ton = big.NewInt(1_000_000_000)

// env is a client with a funded wallet, a channel key and a store, on a test network.
type env struct {
	t      *testing.T
	n      *clienttest.Net
	wallet *clienttest.Actor
	key    ed25519.PrivateKey
	dir    string
	store  *pay.Store
	payer  *pay.Payer
	c      *client.Client
	cfg    pay.Config
}

func newEnv(t *testing.T, n *clienttest.Net, walletTON int64, edit func(*pay.Config)) *env {
	t.Helper()
	e := &env{t: t, n: n, wallet: n.Actor("client", walletTON), key: ed25519.NewKeyFromSeed(make([]byte, 32)), dir: t.TempDir()}
	e.cfg = pay.Config{Ops: e.wallet.Ops, Key: e.key, Deposit: big.NewInt(1_000_000_000)}
	if edit != nil {
		edit(&e.cfg)
	}
	e.open()
	return e
}

// open (re)starts the client on the env's store: a restart of the gateway.
func (e *env) open() {
	e.t.Helper()
	s, err := pay.OpenStore(e.dir)
	require.NoError(e.t, err)
	e.t.Cleanup(func() { e.payer.Wait(); _ = s.Close() })
	cfg := e.cfg
	cfg.Store = s
	e.store = s
	e.payer, err = pay.New(cfg)
	require.NoError(e.t, err)
	e.c, err = client.New(client.Config{Chain: e.n.Chain, Registry: e.n.Registry, Payer: e.payer, Clock: e.n.OpsClock(),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(e.t, err)
}

func (e *env) restart() {
	e.t.Helper()
	e.payer.Wait()
	require.NoError(e.t, e.store.Close())
	e.open()
}

func (e *env) do(path, body string) (*client.Answer, error) {
	e.t.Helper()
	r, err := route.ParseRequest([]byte(body))
	require.NoError(e.t, err)
	return e.c.Do(e.n.Ctx, client.Call{Path: path, Request: r})
}

func (e *env) chat(body string) *client.Answer {
	e.t.Helper()
	a, err := e.do("/v1/chat/completions", body)
	require.NoError(e.t, err)
	return a
}

// drain reads a streamed answer to its end.
func drain(t *testing.T, a *client.Answer) (events []string, err error) {
	t.Helper()
	for {
		d, err := a.Stream.Next()
		if err == io.EOF {
			return events, nil
		}
		if err != nil {
			return events, err
		}
		events = append(events, string(d))
	}
}

const hello = `{"model":"` + clienttest.ModelName + `","messages":[{"role":"user","content":"hello there"}],"max_tokens":5}`

func cost(prompt, completion uint64) *big.Int {
	return payment.Prices{Prompt: clienttest.PromptPrice, Completion: clienttest.CompletionPrice}.Cost(prompt, completion)
}

// A paid chat, streamed and not: the channel opens on first use, every answer's receipt is
// verified and booked, and each request carries a voucher for exactly what the receipts say.
func TestPaidRequests(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)

	a := e.chat(hello)
	require.Equal(t, http.StatusOK, a.Status)
	res := a.Result()
	require.True(t, res.Verified, res.Problem)
	// "hello there": 1 BOS + 1 role + 2 words; 5 completion tokens.
	require.Equal(t, uint64(4), res.PromptTokens)
	require.Equal(t, uint64(5), res.CompletionTokens)
	first := cost(4, 5)
	require.Zero(t, res.Cost.Cmp(first))
	require.Zero(t, p.Held(addr(t, a.Channel)).Amount.Sign(), "the first request carries a voucher of 0")
	var body openai.ChatCompletion
	require.NoError(t, json.Unmarshal(a.Body, &body))
	require.Equal(t, "In the beginning God created", body.Choices[0].Message.Content)
	require.Equal(t, first.String(), body.Usage.Cocoon.Cost)

	s := e.chat(strings.Replace(hello, `"max_tokens":5`, `"max_tokens":3,"stream":true`, 1))
	events, err := drain(t, s)
	require.NoError(t, err)
	require.Equal(t, "[DONE]", events[len(events)-1])
	res = s.Result()
	require.True(t, res.Verified, res.Problem)
	second := cost(4, 3)
	require.Zero(t, res.Cost.Cmp(second))
	ch := s.Channel
	owed := new(big.Int).Add(first, second)
	require.Zero(t, p.Owed(addr(t, ch)).Cmp(owed))
	require.Zero(t, res.Owed.Cmp(owed))
	require.Zero(t, p.Held(addr(t, ch)).Amount.Cmp(first), "the stream's voucher covered the first answer exactly")
	require.Equal(t, 2, p.Paid())

	// The usage chunk carries the cost; the text is the same streamed or not.
	var text string
	for _, ev := range events[:len(events)-1] {
		var c openai.ChatCompletionChunk
		require.NoError(t, json.Unmarshal([]byte(ev), &c))
		for _, ch := range c.Choices {
			if ch.Delta.Content != nil {
				text += *ch.Delta.Content
			}
		}
		if c.Usage != nil {
			require.Equal(t, second.String(), c.Usage.Cocoon.Cost)
		}
	}
	require.Equal(t, "In the beginning", text)

	// Completions too.
	c, err := e.do("/v1/completions", `{"model":"`+clienttest.ModelName+`","prompt":"one two","max_tokens":2}`)
	require.NoError(t, err)
	require.True(t, c.Result().Verified, c.Result().Problem)
	e.payer.Wait() // the voucher for the third answer is signed ahead, in the background
	v, err := e.store.Vouchers(addr(t, ch))
	require.NoError(t, err)
	require.Len(t, v, 4, "one voucher per amount: 0, the first answer, the first two, all three")
	third := new(big.Int).Sub(c.Result().Owed, owed)
	for i, want := range []*big.Int{new(big.Int), first, owed, new(big.Int).Add(owed, third)} {
		require.Zero(t, v[i].Amount.Cmp(want), "voucher %d: %s nanoTON, want %s", i, v[i].Amount, want)
	}

	models, err := e.c.Models(n.Ctx)
	require.NoError(t, err)
	require.Len(t, models, 1)
	require.Equal(t, clienttest.ModelName, models[0].Name)
	require.Equal(t, 1, models[0].Providers)
}

func addr(t *testing.T, raw string) *address.Address {
	t.Helper()
	a, err := address.ParseRawAddr(raw)
	require.NoError(t, err)
	return a
}

// Failover before the first content byte: a provider that is down, one that fails before its
// first token, one whose stream breaks before content. After the first content byte the stream
// ends with an error event instead.
func TestFailover(t *testing.T) {
	n := clienttest.NewNet(t)
	cheap := n.StartProvider(clienttest.ProviderOptions{Name: "cheap", Prompt: big.NewInt(1_000_000), Completion: big.NewInt(2_000_000)})
	dear := n.StartProvider(clienttest.ProviderOptions{Name: "dear"})
	e := newEnv(t, n, 20, nil)

	a := e.chat(hello)
	require.True(t, a.Provider.Chain.Address.Equals(cheap.Contract), "the cheapest first")
	require.Empty(t, a.Attempts)

	cheap.Script.FailBeforeFirstToken(1)
	a = e.chat(hello)
	require.True(t, a.Provider.Chain.Address.Equals(dear.Contract))
	require.Len(t, a.Attempts, 1)
	require.Contains(t, a.Attempts[0].Error, "502")
	require.True(t, a.Result().Verified)

	cheap.Script.FailBeforeFirstToken(1)
	s := e.chat(strings.Replace(hello, `"max_tokens":5`, `"max_tokens":5,"stream":true`, 1))
	require.True(t, s.Provider.Chain.Address.Equals(dear.Contract), "a stream fails over too")
	_, err := drain(t, s)
	require.NoError(t, err)

	// Mid-stream: the app gets the content, then an error event; no other provider is tried.
	cheap.Script.BreakAfter(2)
	s = e.chat(strings.Replace(hello, `"max_tokens":5`, `"max_tokens":5,"stream":true`, 1))
	require.True(t, s.Provider.Chain.Address.Equals(cheap.Contract))
	events, err := drain(t, s)
	var se *client.StreamError
	require.True(t, errors.As(err, &se), "err %v", err)
	require.NotEmpty(t, events)
	require.NotContains(t, events, "[DONE]")
	require.Contains(t, string(se.Body), `"error"`)
	cheap.Script.BreakAfter(0)

	// Down: the next one serves, and the next request resyncs with the broken stream's cost.
	cheap.Stop()
	a = e.chat(hello)
	require.True(t, a.Provider.Chain.Address.Equals(dear.Contract))
	require.Contains(t, a.Attempts[0].Error, "failed to reach it")

	// allow_fallbacks false: only the first, and its failure is the answer.
	_, err = e.do("/v1/chat/completions", strings.Replace(hello, `"max_tokens":5`, `"max_tokens":5,"provider":{"allow_fallbacks":false,"order":["`+cheap.Contract.String()+`"]}`, 1))
	var oe *openai.Error
	require.True(t, errors.As(err, &oe), "err %v", err)
	require.Equal(t, http.StatusBadGateway, oe.Status)
}

// A stream the app leaves: the provider bills what it delivered; the channel's next request
// resyncs within the abandoned request's cap, and pays exactly the provider's total.
func TestAbandonedStreamResyncs(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)
	e.chat(hello)
	p.Script.SetDelay(20 * time.Millisecond)
	s := e.chat(strings.Replace(hello, `"max_tokens":5`, `"max_tokens":50,"stream":true`, 1))
	_, err := s.Stream.Next()
	require.NoError(t, err)
	s.Stream.Close()
	require.Contains(t, s.Result().Problem, "the app left")
	p.Script.SetDelay(0)
	ch := addr(t, s.Channel)
	require.Eventually(t, func() bool { return p.Owed(ch).Cmp(cost(4, 5)) > 0 }, 5*time.Second, 10*time.Millisecond)

	a := e.chat(hello)
	require.True(t, a.Result().Verified, a.Result().Problem)
	require.Zero(t, a.Result().Owed.Cmp(p.Owed(ch)), "the client's total is the provider's")
	require.Zero(t, p.Held(ch).Amount.Cmp(new(big.Int).Sub(p.Owed(ch), a.Result().Cost)), "the voucher covered exactly what was owed before")
}

// A gateway restart between two requests: the next voucher continues the sequence (never a
// second voucher for an amount), whether the store survived or was lost.
func TestRestartKeepsTheVoucherSequence(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)
	e.chat(hello)
	a := e.chat(hello)
	ch := addr(t, a.Channel)
	e.restart()
	b := e.chat(hello)
	require.True(t, b.Result().Verified, b.Result().Problem)
	held := p.Held(ch)
	require.Zero(t, held.Amount.Cmp(new(big.Int).Mul(cost(4, 5), big.NewInt(2))))
	e.payer.Wait()
	stored, err := e.store.Vouchers(ch)
	require.NoError(t, err)
	amounts := map[string]bool{}
	for i, v := range stored {
		require.NoError(t, v.Verify(e.key.Public().(ed25519.PublicKey)))
		require.False(t, amounts[v.Amount.String()])
		amounts[v.Amount.String()] = true
		if i > 0 {
			require.Equal(t, 1, v.Amount.Cmp(stored[i-1].Amount))
		}
	}
	require.Len(t, stored, 4, "0, then one after each answer (the last signed ahead for the next request)")

	// The store lost: a new store with the same key resumes from the provider's copy.
	e.dir = t.TempDir()
	e.restart()
	c := e.chat(hello)
	require.True(t, c.Result().Verified, c.Result().Problem)
	require.Zero(t, c.Result().Owed.Cmp(p.Owed(ch)))
	require.Zero(t, p.Held(ch).Amount.Cmp(new(big.Int).Mul(cost(4, 5), big.NewInt(3))))
	e.payer.Wait()
	adopted, err := e.store.Voucher(ch, held.Amount)
	require.NoError(t, err)
	require.Equal(t, held.Signature, adopted.Signature, "the provider's copy was adopted, not re-signed")
}

// An overcharging provider is dropped and reported; the client pays the answer at the on-chain
// prices, and the next request goes elsewhere.
func TestOverchargingProviderIsDropped(t *testing.T) {
	for _, cheat := range []clienttest.Cheat{clienttest.CheatPrices, clienttest.CheatTokens, clienttest.CheatSignature} {
		n := clienttest.NewNet(t)
		bad := n.StartProvider(clienttest.ProviderOptions{Name: "bad", Prompt: big.NewInt(1_000_000), Completion: big.NewInt(2_000_000)})
		good := n.StartProvider(clienttest.ProviderOptions{Name: "good"})
		bad.SetCheat(cheat)
		e := newEnv(t, n, 20, nil)
		a := e.chat(hello)
		require.True(t, a.Provider.Chain.Address.Equals(bad.Contract))
		res := a.Result()
		require.False(t, res.Verified)
		require.Contains(t, res.Problem, "receipt refused")
		fair := payment.Prices{Prompt: big.NewInt(1_000_000), Completion: big.NewInt(2_000_000)}.Cost(4, 5)
		require.Zero(t, res.Cost.Cmp(fair), "the answer is paid at the on-chain prices for its reported tokens")
		require.Contains(t, e.c.Dropped()[bad.Contract.String()], "receipt refused")
		b := e.chat(hello)
		require.True(t, b.Provider.Chain.Address.Equals(good.Contract))
		// The drop survives a restart.
		e.restart()
		require.Contains(t, e.c.Dropped()[bad.Contract.String()], "receipt refused")
		c := e.chat(hello)
		require.True(t, c.Provider.Chain.Address.Equals(good.Contract))
	}
}

// The client's own refusals: unknown model (listing the models), no verified provider (naming
// why each was refused), a wallet too poor to open a channel (before anything is sent), budgets.
func TestRefusals(t *testing.T) {
	n := clienttest.NewNet(t)
	n.StartProvider(clienttest.ProviderOptions{Name: "ok"})
	unattested := n.StartProvider(clienttest.ProviderOptions{Name: "unattested", NoVote: true})
	e := newEnv(t, n, 10, nil)
	_, err := e.do("/v1/chat/completions", `{"model":"gpt-4o","messages":[]}`)
	var oe *openai.Error
	require.True(t, errors.As(err, &oe))
	require.Equal(t, http.StatusNotFound, oe.Status)
	require.Equal(t, openai.CodeModelNotFound, oe.Code)
	require.Contains(t, oe.Message, "gpt-4o")
	require.Contains(t, oe.Message, "available: "+clienttest.ModelName)

	_, err = e.do("/v1/chat/completions", strings.Replace(hello, `"max_tokens":5`, `"max_tokens":5,"provider":{"only":["`+unattested.Contract.String()+`"]}`, 1))
	require.True(t, errors.As(err, &oe))
	require.Equal(t, http.StatusServiceUnavailable, oe.Status)
	require.Equal(t, client.CodeNoProvider, oe.Code)
	require.Contains(t, oe.Message, unattested.Contract.String()+" refused: no quorum-confirmed attestation")

	poor := newEnv(t, n, 0, nil)
	n.Devnet.Fund(n.Ctx, poor.wallet.Address(), big.NewInt(300_000_000))
	_, err = poor.do("/v1/chat/completions", hello)
	require.True(t, errors.As(err, &oe), "err %v", err)
	require.Equal(t, http.StatusPaymentRequired, oe.Status)
	require.Equal(t, client.CodeInsufficientFunds, oe.Code)
	require.Contains(t, oe.Message, "holds 0.3 TON; opening a channel")
	acc, err2 := n.Chain.GetAccount(n.Ctx, poor.wallet.Address())
	require.NoError(t, err2)
	require.Equal(t, "uninit", string(acc.State), "the wallet sent nothing")

	tight := newEnv(t, n, 10, func(c *pay.Config) { c.ChannelBudget = big.NewInt(1000) })
	_, err = tight.do("/v1/chat/completions", hello)
	require.True(t, errors.As(err, &oe), "err %v", err)
	require.Equal(t, client.CodeBudgetExceeded, oe.Code)
	total := newEnv(t, n, 10, func(c *pay.Config) { c.TotalBudget = big.NewInt(1000) })
	_, err = total.do("/v1/chat/completions", hello)
	require.True(t, errors.As(err, &oe), "err %v", err)
	require.Equal(t, client.CodeBudgetExceeded, oe.Code)
}

// A provider that changed its price on-chain since the client read it is not cheating: the
// client reads the price again before it refuses a receipt.
func TestPriceChangeIsNotACheat(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)
	e.chat(hello)
	n.OwnerOp(p.Owner, ops.OwnerOp{Kind: ops.SetPrice, ModelID: clienttest.ModelID, PromptPrice: big.NewInt(300_000_000), CompletionPrice: big.NewInt(400_000_000)})
	a := e.chat(hello)
	require.True(t, a.Result().Verified, a.Result().Problem)
	require.Zero(t, a.Result().Cost.Cmp(payment.Prices{Prompt: big.NewInt(300_000_000), Completion: big.NewInt(400_000_000)}.Cost(4, 5)))
	require.Empty(t, e.c.Dropped())
}

// A channel is topped up before a request when what its deposit can still pay is below the
// low-water mark, and the request is paid from it as usual.
func TestChannelTopsUpWhenLow(t *testing.T) {
	n := clienttest.NewNet(t)
	n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, func(c *pay.Config) {
		c.LowWater = big.NewInt(1_500_000_000)
		c.TopUp = big.NewInt(700_000_000)
	})
	available := func() *big.Int {
		t.Helper()
		cs, err := e.payer.Channels(n.Ctx)
		require.NoError(t, err)
		require.Len(t, cs, 1)
		require.NoError(t, cs[0].Err)
		return cs[0].State.Available.Nano()
	}
	a := e.chat(hello)
	require.True(t, a.Result().Verified, a.Result().Problem)
	// Opened with the 1 TON deposit, below the 1.5 TON mark at once: topped up by 0.7 TON.
	first := available()
	require.Equal(t, 1, first.Cmp(big.NewInt(1_600_000_000)), "available %s", first)
	b := e.chat(hello)
	require.True(t, b.Result().Verified, b.Result().Problem)
	require.Zero(t, available().Cmp(first), "above the mark: no second top-up")
}

// Concurrent first requests to one provider open its channel once: one deposit leaves the
// wallet, not one per request, and every request is answered and paid from that channel.
func TestConcurrentFirstRequestsOpenOneChannel(t *testing.T) {
	n := clienttest.NewNet(t)
	n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)
	const requests = 6
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a, err := e.do("/v1/chat/completions", hello)
			if err == nil && !a.Result().Verified {
				err = fmt.Errorf("unverified answer: %s", a.Result().Problem)
			}
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	cs, err := e.payer.Channels(n.Ctx)
	require.NoError(t, err)
	require.Len(t, cs, 1)
	require.NoError(t, cs[0].Err)
	deposited := new(big.Int).Add(cs[0].State.Available.Nano(), cs[0].State.Paid.Nano())
	// One deposit of 1 TON (plus what the open message's value left above its fee), never two.
	require.True(t, deposited.Cmp(big.NewInt(1_000_000_000)) >= 0 && deposited.Cmp(big.NewInt(1_100_000_000)) < 0,
		"one deposit of 1 TON in the channel, got %s nanoTON", deposited)
}

// DefaultModel is the one model verified providers serve: none, then one, then two (a second
// catalog model priced and served) refused by name.
func TestDefaultModel(t *testing.T) {
	n := clienttest.NewNet(t)
	e := newEnv(t, n, 10, nil)
	_, err := e.c.DefaultModel(n.Ctx)
	require.ErrorIs(t, err, client.ErrNoModel)

	p := n.StartProvider(clienttest.ProviderOptions{Models: []string{clienttest.ModelName, "second-model"}})
	require.NoError(t, e.c.Refresh(n.Ctx))
	m, err := e.c.DefaultModel(n.Ctx)
	require.NoError(t, err)
	require.Equal(t, clienttest.ModelName, m)

	n.AddModel(2, "second-model", sha256.Sum256([]byte("second-model")))
	n.OwnerOp(p.Owner, ops.OwnerOp{Kind: ops.SetPrice, ModelID: 2, PromptPrice: big.NewInt(100_000_000), CompletionPrice: big.NewInt(200_000_000)})
	require.NoError(t, e.c.Refresh(n.Ctx))
	_, err = e.c.DefaultModel(n.Ctx)
	require.ErrorIs(t, err, client.ErrSeveralModels)
	require.ErrorContains(t, err, "clienttest-model, second-model")
}

// Connection authorization: the client's connections present its key; once a provider says it
// takes them, requests go unsigned; a provider that stops taking them gets the request signed again
// (one refused try, nothing billed for it), and one without it always gets signed requests.
func TestConnectionAuthorization(t *testing.T) {
	n := clienttest.NewNet(t)
	p := n.StartProvider(clienttest.ProviderOptions{})
	e := newEnv(t, n, 10, nil)
	paid := func() {
		t.Helper()
		a := e.chat(hello)
		require.Equal(t, http.StatusOK, a.Status, "%s", a.Body)
		require.True(t, a.Result().Verified, a.Result().Problem)
	}
	for range 3 {
		paid()
	}
	require.Equal(t, 3, p.Paid())
	require.Equal(t, 2, p.Unsigned(), "the first request is signed; its answer says the connection authorizes the next")

	p.SetConnAuth(clienttest.ConnAuthBroken)
	paid() // unsigned, refused, signed again
	require.Equal(t, 4, p.Paid())
	require.Equal(t, 2, p.Unsigned())

	p.SetConnAuth(clienttest.ConnAuthOff)
	paid() // the broken provider's last answer said "ok" again: unsigned, refused, signed
	paid() // signed at once: nothing said "ok" since
	require.Equal(t, 6, p.Paid())
	require.Equal(t, 2, p.Unsigned())

	p.SetConnAuth(clienttest.ConnAuthOn)
	paid() // signed (nothing said "ok"); this answer says it
	paid()
	require.Equal(t, 8, p.Paid())
	require.Equal(t, 3, p.Unsigned())
}
