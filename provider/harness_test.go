package provider_test

// The test network: a block-mode devnet with a registry (sim measurement, the demo model in its
// catalog), a registered, staked and priced provider, and clients with open channels; the
// provider daemon in-process with the simulated TEE; a client that speaks the paid protocol.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/voucher"
)

const blockInterval = 10 * time.Millisecond

// Prices of the demo model in the tests: 100 and 200 TON per 1M tokens (100,000 and 200,000
// nanoTON a token): an answer of a few tokens costs about 0.001 TON, a request without max_tokens
// may cost up to 0.05 TON.
var (
	promptPrice     = prices{big.NewInt(100_000_000_000), big.NewInt(200_000_000_000)}
	completionPrice = promptPrice.c
)

type prices struct{ p, c *big.Int }

// Cost is payment.Prices.Cost at the test prices.
func (p prices) Cost(prompt, completion uint64) *big.Int {
	return payment.Prices{Prompt: p.p, Completion: p.c}.Cost(prompt, completion)
}

func ton(s string) *big.Int {
	n, err := wallet.ParseTON(s)
	if err != nil {
		panic(err)
	}
	return n
}

// testNet is the chain side of a test.
type testNet struct {
	t        *testing.T
	ctx      context.Context
	d        *devnet.Devnet
	gov      *ops.Ops
	owner    *ops.Ops
	registry *address.Address
	// ownerKey is the owner's mnemonic file (also the provider's settlement wallet).
	ownerKey  string
	ownerAddr *address.Address
	modelID   uint32
}

type netOptions struct {
	kind        contracts.NetworkKind
	noPrice     bool
	noEndpoint  bool
	noRegister  bool
	challenge   uint32
	otherWeight bool
}

func actorOps(t *testing.T, ctx context.Context, d *devnet.Devnet, w *wallet.Wallet, ton int64, reg *address.Address) *ops.Ops {
	t.Helper()
	if ton > 0 {
		require.NoError(t, d.Fund(ctx, w.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	clock := txmgr.DevnetClock(d.Client().(txmgr.DevnetClocked))
	m, err := txmgr.New(txmgr.Config{Chain: d.Client(), Signer: w, PollInterval: 5 * time.Millisecond, Clock: clock})
	require.NoError(t, err)
	return &ops.Ops{Chain: d.Client(), Sender: m, Registry: reg, Clock: clock}
}

func seededWallet(t *testing.T, seed string, id int32) *wallet.Wallet {
	s := sha256.Sum256([]byte("provider test " + seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, id)
	require.NoError(t, err)
	return w
}

func newTestNet(t *testing.T, o netOptions) *testNet {
	t.Helper()
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: blockInterval})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	n := &testNet{t: t, ctx: ctx, d: d, modelID: 7}

	gov := actorOps(t, ctx, d, seededWallet(t, "gov", d.GlobalID()), 50, nil)
	challenge := o.challenge
	if challenge == 0 {
		challenge = 3600
	}
	dp, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: o.kind, Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250, ChallengePeriod: challenge,
		OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600}})
	require.NoError(t, err)
	_, err = gov.Send(ctx, dp.Plan)
	require.NoError(t, err)
	n.registry = dp.Address
	gov.Registry = dp.Address
	n.gov = gov

	weights, _ := hex.DecodeString(models.DefaultSHA256)
	if o.otherWeight {
		weights = bytes.Repeat([]byte{0xab}, 32)
	}
	name, err := contracts.TextCell(models.DefaultModelName, contracts.MaxModelNameBytes)
	require.NoError(t, err)
	msgs := []contracts.Message{contracts.AddModel{ModelID: n.modelID, WeightsHash: weights, Name: name}}
	if o.kind == contracts.NetworkDevnet {
		sim := attest.SimMeasurement(attest.DevnetSimImage)
		msgs = append(msgs, contracts.AddMeasurement{MeasurementHash: sim[:], Kind: contracts.MeasurementSim})
	}
	n.govern(msgs...)

	// The owner's wallet from a mnemonic file: the daemon's settlement wallet too.
	words := wallet.NewMnemonic()
	n.ownerKey = filepath.Join(t.TempDir(), "owner.key")
	require.NoError(t, keys.WriteMnemonic(n.ownerKey, words))
	ow, err := wallet.FromMnemonic(words, wallet.V5R1, d.GlobalID())
	require.NoError(t, err)
	n.ownerAddr = ow.Address()
	n.owner = actorOps(t, ctx, d, ow, 100, n.registry)
	if o.noRegister {
		return n
	}
	rp, err := n.owner.PlanRegister(ctx, ops.RegisterInput{Stake: ton("10")})
	require.NoError(t, err)
	_, err = n.owner.SendRegister(ctx, rp)
	require.NoError(t, err)
	if !o.noEndpoint {
		n.ownerOp(ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "https://provider.example:8443"})
	}
	if !o.noPrice {
		n.ownerOp(ops.OwnerOp{Kind: ops.SetPrice, ModelID: n.modelID, PromptPrice: promptPrice.p, CompletionPrice: completionPrice})
	}
	return n
}

func (n *testNet) govern(msgs ...contracts.Message) {
	n.t.Helper()
	for _, msg := range msgs {
		p, err := n.gov.PlanGovern(n.ctx, msg, nil)
		require.NoError(n.t, err)
		_, err = n.gov.Send(n.ctx, p)
		require.NoError(n.t, err, msg.MessageName())
	}
}

func (n *testNet) ownerOp(op ops.OwnerOp) {
	n.t.Helper()
	p, err := n.owner.PlanOwnerOp(n.ctx, ops.OwnerOpInput{Op: op})
	require.NoError(n.t, err)
	_, err = n.owner.SendOwnerOp(n.ctx, p)
	require.NoError(n.t, err)
}

// config is a provider configuration for the embedded demo model on this network.
func (n *testNet) config(dataDir string) provider.Config {
	cfg := provider.DefaultConfig()
	cfg.Registry, cfg.Owner, cfg.WalletKeyFile = n.registry.StringRaw(), n.ownerAddr.StringRaw(), n.ownerKey
	cfg.DataDir, cfg.Listen, cfg.TEE = dataDir, "127.0.0.1:0", "sim"
	cfg.Backend = provider.BackendConfig{Kind: "embedded", Model: "default", Threads: 1}
	cfg.Models = []provider.ModelConfig{{Name: models.DefaultModelName, PromptPriceTON: "100", CompletionPriceTON: "200"}}
	cfg.Chain, cfg.PollInterval = n.d.Client(), 5*time.Millisecond
	cfg.ChainClock = n.d.Now
	cfg.Settlement.Interval = provider.Duration(time.Hour) // tests call Settle
	return cfg
}

// startProvider starts cfg and stops it when the test ends; logs go to a file the test can read.
func (n *testNet) startProvider(cfg provider.Config) (*provider.Provider, string) {
	n.t.Helper()
	logs := filepath.Join(n.t.TempDir(), "provider.log")
	f, err := os.Create(logs)
	require.NoError(n.t, err)
	n.t.Cleanup(func() { _ = f.Close() })
	p, err := provider.New(n.ctx, cfg, slog.New(slog.NewTextHandler(f, nil)), provider.NoopMetrics{})
	require.NoError(n.t, err)
	require.NoError(n.t, p.Start(n.ctx), "logs: %s", readFile(logs))
	n.t.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p, logs
}

func readFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// client is a channel's client speaking the paid protocol.
type client struct {
	t    *testing.T
	n    *testNet
	o    *ops.Ops // the client's wallet
	key  ed25519.PrivateKey
	ch   *address.Address
	http *http.Client
	base string

	mu sync.Mutex
	// What the receipts said: the total owed and the metered token totals.
	owed               *big.Int
	prompt, completion uint64
	// certKey is the provider's attested key, from the TLS handshake.
	certKey *ecdsa.PublicKey
}

// openClient opens a channel to the provider with deposit TON from a fresh wallet.
func (n *testNet) openClient(seed string, deposit string) *client {
	n.t.Helper()
	o := actorOps(n.t, n.ctx, n.d, seededWallet(n.t, "client "+seed, n.d.GlobalID()), 20, n.registry)
	s := sha256.Sum256([]byte("channel key " + seed))
	key := ed25519.NewKeyFromSeed(s[:])
	p, err := o.PlanOpen(n.ctx, ops.OpenInput{ProviderOwner: n.ownerAddr, ClientKey: key.Public().(ed25519.PublicKey), Deposit: ton(deposit)})
	require.NoError(n.t, err)
	_, err = o.SendOpen(n.ctx, p)
	require.NoError(n.t, err)
	return &client{t: n.t, n: n, o: o, key: key, ch: p.Channel, owed: new(big.Int)}
}

// connect points c at a started provider over RA-TLS, accepting the devnet's simulated image.
func (c *client) connect(p *provider.Provider) *client {
	c.t.Helper()
	roots, err := attest.DefaultRoots()
	require.NoError(c.t, err)
	v, err := attest.NewVerifier(attest.Policy{AllowSim: true, Roots: roots,
		Allowed: map[[32]byte]attest.Kind{attest.SimMeasurement(attest.DevnetSimImage): attest.KindSim}})
	require.NoError(c.t, err)
	tc := v.ClientTLSConfig(nil)
	c.http = &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: time.Minute}
	c.t.Cleanup(c.http.CloseIdleConnections)
	c.base = "https://" + p.Info().Addr
	return c
}

// voucher signs the cumulative voucher for amount with the token totals the receipts reported.
func (c *client) voucher(amount *big.Int) string {
	c.t.Helper()
	c.mu.Lock()
	v := voucher.Voucher{Channel: c.ch, Amount: amount, PromptTokens: c.prompt, CompletionTokens: c.completion}
	c.mu.Unlock()
	s, err := v.Sign(c.key)
	require.NoError(c.t, err)
	h, err := voucher.EncodeHeader(&s)
	require.NoError(c.t, err)
	return h
}

// request builds a paid request; voucherHeader "" sends the voucher for what the client owes.
func (c *client) request(method, path, body, voucherHeader string) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.base+path, strings.NewReader(body))
	require.NoError(c.t, err)
	if voucherHeader == "" {
		c.mu.Lock()
		owed := new(big.Int).Set(c.owed)
		c.mu.Unlock()
		voucherHeader = c.voucher(owed)
	}
	auth, err := payment.SignRequest(c.key, c.ch, method, path, []byte(body), time.Now())
	require.NoError(c.t, err)
	req.Header.Set(payment.HeaderChannel, c.ch.StringRaw())
	req.Header.Set(voucher.HeaderVoucher, voucherHeader)
	req.Header.Set(payment.HeaderAuth, auth)
	req.Header.Set("Content-Type", "application/json")
	return req
}

func (c *client) do(req *http.Request) (*http.Response, []byte) {
	c.t.Helper()
	resp, err := c.http.Do(req)
	require.NoError(c.t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(c.t, err)
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		c.certKey = resp.TLS.PeerCertificates[0].PublicKey.(*ecdsa.PublicKey)
	}
	return resp, body
}

// checkReceipt verifies a receipt as a client must (attested key, request hash, response hash,
// prices, cost rule) and takes its totals.
func (c *client) checkReceipt(enc string, reqBody []byte, content *payment.Content, modelID uint32) payment.SignedReceipt {
	c.t.Helper()
	r, err := payment.DecodeReceipt(enc)
	require.NoError(c.t, err)
	require.NoError(c.t, r.Verify(c.certKey), "receipt signed by the attested key")
	require.Equal(c.t, sha256.Sum256(reqBody), r.RequestHash)
	require.Equal(c.t, content.Hash(), r.ResponseHash)
	require.True(c.t, r.Channel.Equals(c.ch))
	require.Equal(c.t, modelID, r.ModelID)
	require.Zero(c.t, r.Prices.Prompt.Cmp(promptPrice.p))
	require.Zero(c.t, r.Prices.Completion.Cmp(completionPrice))
	require.Zero(c.t, r.Cost.Cmp(r.Prices.Cost(r.PromptTokens, r.CompletionTokens)))
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(c.t, new(big.Int).Add(c.owed, r.Cost).String(), r.Owed.String(), "owed grows by the cost")
	c.owed = new(big.Int).Set(r.Owed)
	c.prompt += r.PromptTokens
	c.completion += r.CompletionTokens
	return r
}

// chat sends a non-streamed paid chat request and checks its payment.
func (c *client) chat(body string) (*openai.ChatCompletion, payment.SignedReceipt) {
	c.t.Helper()
	resp, b := c.do(c.request("POST", "/v1/chat/completions", body, ""))
	require.Equal(c.t, 200, resp.StatusCode, "%s", b)
	var cc openai.ChatCompletion
	require.NoError(c.t, json.Unmarshal(b, &cc))
	require.NotNil(c.t, cc.Usage.Cocoon, "usage.cocoon")
	pay := cc.Usage.Cocoon
	require.Equal(c.t, resp.Header.Get(payment.HeaderReceipt), pay.Receipt)
	require.Equal(c.t, resp.Header.Get(payment.HeaderCost), pay.Cost)
	require.Equal(c.t, resp.Header.Get(payment.HeaderOwed), pay.Owed)
	require.Equal(c.t, c.ch.StringRaw(), pay.Channel)
	var content payment.Content
	// The response hash covers the answer as delivered, without its payment.
	cc2 := cc
	cc2.Usage.Cocoon = nil
	raw, err := json.Marshal(cc2)
	require.NoError(c.t, err)
	require.NoError(c.t, content.Add(raw))
	r := c.checkReceipt(pay.Receipt, []byte(body), &content, c.n.modelID)
	require.Equal(c.t, uint64(cc.Usage.PromptTokens), r.PromptTokens)
	require.Equal(c.t, uint64(cc.Usage.CompletionTokens), r.CompletionTokens)
	return &cc, r
}

// view reads the provider's account of the channel.
func (c *client) view() payment.ChannelView {
	c.t.Helper()
	path := payment.ChannelPathPrefix + c.ch.StringRaw()
	req := c.request("GET", path, "", "x")
	req.Header.Del(voucher.HeaderVoucher)
	resp, b := c.do(req)
	require.Equal(c.t, 200, resp.StatusCode, "%s", b)
	var v payment.ChannelView
	require.NoError(c.t, json.Unmarshal(b, &v))
	return v
}

// stream sends a streamed paid request and reads every event; it checks the last usage chunk's
// payment when the stream completed.
type streamResult struct {
	status  int
	body    []byte
	events  []string // data payloads, [DONE] included
	content payment.Content
	usage   *openai.Usage
	receipt payment.SignedReceipt
	done    bool
}

func (c *client) stream(path, body string) *streamResult {
	c.t.Helper()
	resp, b := c.do(c.request("POST", path, body, ""))
	res := &streamResult{status: resp.StatusCode, body: b}
	if resp.StatusCode != 200 {
		return res
	}
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		res.events = append(res.events, data)
		if data == "[DONE]" {
			res.done = true
			continue
		}
		var ev struct {
			Choices []json.RawMessage `json:"choices"`
			Usage   *openai.Usage     `json:"usage"`
		}
		require.NoError(c.t, json.Unmarshal([]byte(data), &ev))
		if ev.Usage != nil {
			res.usage = ev.Usage
			continue
		}
		require.NoError(c.t, res.content.Add([]byte(data)))
	}
	if res.done {
		require.NotNil(c.t, res.usage, "a paid stream ends with the usage chunk")
		require.NotNil(c.t, res.usage.Cocoon)
		res.receipt = c.checkReceipt(res.usage.Cocoon.Receipt, []byte(body), &res.content, c.n.modelID)
		require.Equal(c.t, uint64(res.usage.CompletionTokens), res.receipt.CompletionTokens)
	}
	return res
}

// refused sends req, which must be refused with 402 and code, changing nothing the provider holds
// for the channel.
func (c *client) refused(req *http.Request, code string) http.Header {
	c.t.Helper()
	before := c.view()
	resp, b := c.do(req)
	require.Equal(c.t, http.StatusPaymentRequired, resp.StatusCode, "%s", b)
	var e openai.ErrorBody
	require.NoError(c.t, json.Unmarshal(b, &e), "%s", b)
	require.Equal(c.t, payment.TypePaymentRequired, e.Error.Type)
	require.NotNil(c.t, e.Error.Code)
	require.Equal(c.t, code, *e.Error.Code, "%s", e.Error.Message)
	require.NotEmpty(c.t, e.Error.Message)
	after := c.view()
	require.Equal(c.t, before, after, "a refused request changes nothing")
	return resp.Header
}

// closeChannel starts the channel's close with the client key.
func (c *client) closeChannel() {
	c.t.Helper()
	p, err := c.o.PlanClose(c.n.ctx, ops.CloseInput{Channel: c.ch, ClientKey: c.key})
	require.NoError(c.t, err)
	_, err = c.o.SendClose(c.n.ctx, p)
	require.NoError(c.t, err)
}

func parseRaw(s string) (*address.Address, error) { return address.ParseRawAddr(s) }

// upstreamConfig is a provider configuration forwarding the demo model's name to a fake upstream.
func (n *testNet) upstreamConfig(dataDir string, fake *fakeupstream.Server) provider.Config {
	n.t.Helper()
	srv := httptest.NewServer(fake)
	n.t.Cleanup(srv.Close)
	cfg := n.config(dataDir)
	cfg.Backend = provider.BackendConfig{Kind: "upstream", URL: srv.URL + "/v1"}
	cfg.Models[0].Upstream, cfg.Models[0].ContextLength = "fake-model", 4096
	return cfg
}

// events reads SSE data payloads from a streaming response one at a time.
type events struct {
	resp *http.Response
	sc   *bufio.Scanner
}

func (c *client) openStream(path, body string) *events {
	c.t.Helper()
	resp, err := c.http.Do(c.request("POST", path, body, ""))
	require.NoError(c.t, err)
	require.Equal(c.t, 200, resp.StatusCode)
	return &events{resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// next is the next data payload ("" at the end).
func (e *events) next() string {
	for e.sc.Scan() {
		if d, ok := strings.CutPrefix(e.sc.Text(), "data: "); ok {
			return d
		}
	}
	return ""
}
