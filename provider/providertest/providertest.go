// Package providertest is the provider daemon's test network: a block-mode devnet with a registry
// (the simulated TEE's measurement and the demo model in its catalog), a registered, staked and
// priced provider, clients with open channels, the daemon in-process with the simulated TEE, and
// a client that speaks the paid protocol and checks every receipt as a client must. The provider
// package's tests, its end-to-end tests and the OpenAI SDK runner build on it.
package providertest

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/tls"
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

// BlockInterval is the devnet's: every hop of a cascade lands in a later block, as on TON.
const BlockInterval = 10 * time.Millisecond

// Prices of the demo model in the tests: 100 and 200 TON per 1M tokens (100,000 and 200,000
// nanoTON a token): an answer of a few tokens costs about 0.002 TON, a request without max_tokens
// may cost up to 0.05 TON.
var Prices = payment.Prices{Prompt: big.NewInt(100_000_000_000), Completion: big.NewInt(200_000_000_000)}

// TON parses an amount of TON into nanoTON.
func TON(s string) *big.Int {
	n, err := wallet.ParseTON(s)
	if err != nil {
		panic(err)
	}
	return n
}

// Options change the network NewNet builds.
type Options struct {
	// Kind is the registry's network kind (default devnet, where the simulated TEE is allowed).
	Kind contracts.NetworkKind
	// NoRegister, NoEndpoint and NoPrice leave out the provider's registration, endpoint, price.
	NoRegister, NoEndpoint, NoPrice bool
	// OtherWeights lists the demo model with a weights hash that is not the demo model's.
	OtherWeights bool
	// Prices replace Prices on-chain (the daemon bills these; CheckReceipt expects Prices).
	Prices *payment.Prices
	// BlockInterval replaces BlockInterval.
	BlockInterval time.Duration
}

// Net is the chain side of a test.
type Net struct {
	T        *testing.T
	Ctx      context.Context
	D        *devnet.Devnet
	Gov      *ops.Ops
	Owner    *ops.Ops
	Registry *address.Address
	// OwnerKey is the owner's mnemonic file (also the provider's settlement wallet).
	OwnerKey  string
	OwnerAddr *address.Address
	ModelID   uint32
}

// ActorOps is the operations of wallet w on registry reg, funded with ton TON first.
func ActorOps(t *testing.T, ctx context.Context, d *devnet.Devnet, w *wallet.Wallet, ton int64, reg *address.Address) *ops.Ops {
	t.Helper()
	if ton > 0 {
		require.NoError(t, d.Fund(ctx, w.Address(), new(big.Int).Mul(big.NewInt(ton), big.NewInt(1_000_000_000))))
	}
	clock := txmgr.DevnetClock(d.Client().(txmgr.DevnetClocked))
	m, err := txmgr.New(txmgr.Config{Chain: d.Client(), Signer: w, PollInterval: 5 * time.Millisecond, Clock: clock})
	require.NoError(t, err)
	return &ops.Ops{Chain: d.Client(), Sender: m, Registry: reg, Clock: clock}
}

// SeededWallet is a deterministic V5R1 wallet.
func SeededWallet(t *testing.T, seed string, id int32) *wallet.Wallet {
	s := sha256.Sum256([]byte("provider test " + seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V5R1, id)
	require.NoError(t, err)
	return w
}

// NewNet builds the network: a registry with the demo model as id 7, and the provider registered
// with 10 TON of stake, an endpoint and the demo model priced at Prices.
func NewNet(t *testing.T, o Options) *Net {
	t.Helper()
	interval := BlockInterval
	if o.BlockInterval > 0 {
		interval = o.BlockInterval
	}
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: interval})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	return newNet(t, ctx, d, o)
}

func newNet(t *testing.T, ctx context.Context, d *devnet.Devnet, o Options) *Net {
	n := &Net{T: t, Ctx: ctx, D: d, ModelID: 7}
	gov := ActorOps(t, ctx, d, SeededWallet(t, "gov", d.GlobalID()), 50, nil)
	dp, err := gov.PlanDeployRegistry(ops.DeployRegistryInput{Kind: o.Kind, Params: contracts.RegistryParams{
		MinProviderStake: tlb.MustFromTON("5"), UnbondingPeriod: 60, ProtocolFeeBps: 250, ChallengePeriod: 3600,
		OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600}})
	require.NoError(t, err)
	_, err = gov.Send(ctx, dp.Plan)
	require.NoError(t, err)
	n.Registry = dp.Address
	gov.Registry = dp.Address
	n.Gov = gov

	weights, _ := hex.DecodeString(models.DefaultSHA256)
	if o.OtherWeights {
		weights = bytes.Repeat([]byte{0xab}, 32)
	}
	name, err := contracts.TextCell(models.DefaultModelName, contracts.MaxModelNameBytes)
	require.NoError(t, err)
	msgs := []contracts.Message{contracts.AddModel{ModelID: n.ModelID, WeightsHash: weights, Name: name}}
	if o.Kind == contracts.NetworkDevnet {
		sim := attest.SimMeasurement(attest.DevnetSimImage)
		msgs = append(msgs, contracts.AddMeasurement{MeasurementHash: sim[:], Kind: contracts.MeasurementSim})
	}
	n.Govern(msgs...)

	// The owner's wallet from a mnemonic file: the daemon's settlement wallet too.
	words := wallet.NewMnemonic()
	n.OwnerKey = filepath.Join(t.TempDir(), "owner.key")
	require.NoError(t, keys.WriteMnemonic(n.OwnerKey, words))
	ow, err := wallet.FromMnemonic(words, wallet.V5R1, d.GlobalID())
	require.NoError(t, err)
	n.OwnerAddr = ow.Address()
	n.Owner = ActorOps(t, ctx, d, ow, 100, n.Registry)
	if o.NoRegister {
		return n
	}
	rp, err := n.Owner.PlanRegister(ctx, ops.RegisterInput{Stake: TON("10")})
	require.NoError(t, err)
	_, err = n.Owner.SendRegister(ctx, rp)
	require.NoError(t, err)
	if !o.NoEndpoint {
		n.OwnerOp(ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "https://provider.example:8443"})
	}
	if !o.NoPrice {
		pr := Prices
		if o.Prices != nil {
			pr = *o.Prices
		}
		n.OwnerOp(ops.OwnerOp{Kind: ops.SetPrice, ModelID: n.ModelID, PromptPrice: pr.Prompt, CompletionPrice: pr.Completion})
	}
	return n
}

// Govern sends governance messages, each of which must go through.
func (n *Net) Govern(msgs ...contracts.Message) {
	n.T.Helper()
	for _, msg := range msgs {
		p, err := n.Gov.PlanGovern(n.Ctx, msg, nil)
		require.NoError(n.T, err)
		_, err = n.Gov.Send(n.Ctx, p)
		require.NoError(n.T, err, msg.MessageName())
	}
}

// OwnerOp sends an owner operation, which must go through.
func (n *Net) OwnerOp(op ops.OwnerOp) {
	n.T.Helper()
	p, err := n.Owner.PlanOwnerOp(n.Ctx, ops.OwnerOpInput{Op: op})
	require.NoError(n.T, err)
	_, err = n.Owner.SendOwnerOp(n.Ctx, p)
	require.NoError(n.T, err)
}

// Config is a provider configuration for the embedded demo model on this network, settling by
// hand (the test calls Provider.Settle).
func (n *Net) Config(dataDir string) provider.Config {
	cfg := provider.DefaultConfig()
	cfg.Registry, cfg.Owner, cfg.WalletKeyFile = n.Registry.StringRaw(), n.OwnerAddr.StringRaw(), n.OwnerKey
	cfg.DataDir, cfg.Listen, cfg.TEE = dataDir, "127.0.0.1:0", "sim"
	cfg.Backend = provider.BackendConfig{Kind: "embedded", Model: "default", Threads: 1}
	cfg.Models = []provider.ModelConfig{{Name: models.DefaultModelName, PromptPriceTON: "100", CompletionPriceTON: "200"}}
	cfg.Chain, cfg.PollInterval = n.D.Client(), 5*time.Millisecond
	cfg.ChainClock = n.D.Now
	cfg.Settlement.Interval = provider.Duration(time.Hour)
	return cfg
}

// UpstreamConfig is Config forwarding the demo model's name to a fake upstream ("fake-model").
func (n *Net) UpstreamConfig(dataDir string, fake *fakeupstream.Server) provider.Config {
	n.T.Helper()
	srv := httptest.NewServer(fake)
	n.T.Cleanup(srv.Close)
	cfg := n.Config(dataDir)
	cfg.Backend = provider.BackendConfig{Kind: "upstream", URL: srv.URL + "/v1"}
	cfg.Models[0].Upstream, cfg.Models[0].ContextLength = "fake-model", 4096
	return cfg
}

// StartProvider starts cfg and stops it when the test ends; it logs into the returned file.
func (n *Net) StartProvider(cfg provider.Config) (*provider.Provider, string) {
	n.T.Helper()
	logs := filepath.Join(n.T.TempDir(), "provider.log")
	f, err := os.Create(logs)
	require.NoError(n.T, err)
	n.T.Cleanup(func() { _ = f.Close() })
	p, err := provider.New(n.Ctx, cfg, slog.New(slog.NewTextHandler(f, nil)), provider.NoopMetrics{})
	require.NoError(n.T, err)
	require.NoError(n.T, p.Start(n.Ctx), "logs: %s", ReadFile(logs))
	n.T.Cleanup(func() { _ = p.Stop(context.Background()) })
	return p, logs
}

// ReadFile is a file's content ("" when unreadable).
func ReadFile(path string) string {
	b, _ := os.ReadFile(path)
	return string(b)
}

// ChannelState reads a channel's get_channel_state.
func (n *Net) ChannelState(ch *address.Address) *contracts.ChannelState {
	n.T.Helper()
	st, err := contracts.ChannelClient{Chain: n.D.Client(), Address: ch}.State(n.Ctx)
	require.NoError(n.T, err)
	return st
}

// Client is a channel's client speaking the paid protocol.
type Client struct {
	T   *testing.T
	N   *Net
	O   *ops.Ops // the client's wallet
	Key ed25519.PrivateKey
	Ch  *address.Address
	// HTTP verifies the provider's RA-TLS evidence (the devnet's simulated image); Base is its URL.
	HTTP *http.Client
	Base string

	mu sync.Mutex
	// Owed, Prompt and Completion are what the receipts said: the total owed and the metered token
	// totals. REQUIRES mu.
	Owed               *big.Int
	Prompt, Completion uint64
	// CertKey is the provider's attested key (Ed25519), from the TLS handshake.
	CertKey ed25519.PublicKey
}

// OpenClient opens a channel to the provider with deposit TON from a fresh wallet.
func (n *Net) OpenClient(seed string, deposit string) *Client {
	n.T.Helper()
	o := ActorOps(n.T, n.Ctx, n.D, SeededWallet(n.T, "client "+seed, n.D.GlobalID()), 20, n.Registry)
	s := sha256.Sum256([]byte("channel key " + seed))
	key := ed25519.NewKeyFromSeed(s[:])
	p, err := o.PlanOpen(n.Ctx, ops.OpenInput{ProviderOwner: n.OwnerAddr, ClientKey: key.Public().(ed25519.PublicKey), Deposit: TON(deposit)})
	require.NoError(n.T, err)
	_, err = o.SendOpen(n.Ctx, p)
	require.NoError(n.T, err)
	return &Client{T: n.T, N: n, O: o, Key: key, Ch: p.Channel, Owed: new(big.Int)}
}

// Connect points c at a started provider.
func (c *Client) Connect(p *provider.Provider) *Client { return c.ConnectAddr(p.Info().Addr) }

// ConnectAddr points c at the provider listening on addr (host:port) over RA-TLS.
func (c *Client) ConnectAddr(addr string) *Client {
	c.T.Helper()
	roots, err := attest.DefaultRoots()
	require.NoError(c.T, err)
	v, err := attest.NewVerifier(attest.Policy{AllowSim: true, Roots: roots,
		Allowed: map[[32]byte]attest.Kind{attest.SimMeasurement(attest.DevnetSimImage): attest.KindSim}})
	require.NoError(c.T, err)
	if c.HTTP != nil {
		c.HTTP.CloseIdleConnections()
	}
	c.HTTP = &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(nil)}, Timeout: time.Minute}
	c.T.Cleanup(c.HTTP.CloseIdleConnections)
	c.Base = "https://" + addr
	return c
}

// ConnAuthHTTP is an HTTP client for the provider c is connected to that presents key as its TLS
// client certificate (connection authorization: with the channel's key, its requests need no
// X-Cocoon-Auth).
func (c *Client) ConnAuthHTTP(key ed25519.PrivateKey) *http.Client {
	c.T.Helper()
	cert, err := payment.ClientCertificate(key)
	require.NoError(c.T, err)
	tc := c.HTTP.Transport.(*http.Transport).TLSClientConfig.Clone()
	tc.Certificates = []tls.Certificate{cert}
	h := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}, Timeout: time.Minute}
	c.T.Cleanup(h.CloseIdleConnections)
	return h
}

// Voucher signs the cumulative voucher for amount with the token totals the receipts reported.
func (c *Client) Voucher(amount *big.Int) string {
	c.T.Helper()
	c.mu.Lock()
	v := voucher.Voucher{Channel: c.Ch, Amount: amount, PromptTokens: c.Prompt, CompletionTokens: c.Completion}
	c.mu.Unlock()
	s, err := v.Sign(c.Key)
	require.NoError(c.T, err)
	h, err := voucher.EncodeHeader(&s)
	require.NoError(c.T, err)
	return h
}

// Request builds a paid request; voucherHeader "" sends the voucher for what the client owes.
func (c *Client) Request(method, path, body, voucherHeader string) *http.Request {
	c.T.Helper()
	req, err := http.NewRequest(method, c.Base+path, strings.NewReader(body))
	require.NoError(c.T, err)
	if voucherHeader == "" {
		c.mu.Lock()
		owed := new(big.Int).Set(c.Owed)
		c.mu.Unlock()
		voucherHeader = c.Voucher(owed)
	}
	auth, err := payment.SignRequest(c.Key, c.Ch, method, path, []byte(body), time.Now())
	require.NoError(c.T, err)
	req.Header.Set(payment.HeaderChannel, c.Ch.StringRaw())
	req.Header.Set(voucher.HeaderVoucher, voucherHeader)
	req.Header.Set(payment.HeaderAuth, auth)
	req.Header.Set("Content-Type", "application/json")
	return req
}

// Do sends req and reads the whole answer.
func (c *Client) Do(req *http.Request) (*http.Response, []byte) {
	c.T.Helper()
	resp, err := c.HTTP.Do(req)
	require.NoError(c.T, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(c.T, err)
	c.takeCert(resp)
	return resp, body
}

func (c *Client) takeCert(resp *http.Response) {
	if resp.TLS != nil && len(resp.TLS.PeerCertificates) > 0 {
		key, ok := resp.TLS.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
		require.True(c.T, ok, "the provider's attested key is %T, want Ed25519", resp.TLS.PeerCertificates[0].PublicKey)
		c.CertKey = key
	}
}

// Learn takes the totals of the provider's view (a client that lost its state resumes from it).
func (c *Client) Learn(v payment.ChannelView) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.Owed, _ = new(big.Int).SetString(v.Owed, 10)
	c.Prompt, c.Completion = v.PromptTokens, v.CompletionTokens
}

// CheckReceipt verifies a receipt as a client must (the attested key, request hash, response
// hash, prices, cost rule, owed growing by the cost) and takes its totals.
func (c *Client) CheckReceipt(enc string, reqBody []byte, content *payment.Content) payment.SignedReceipt {
	c.T.Helper()
	r, err := payment.DecodeReceipt(enc)
	require.NoError(c.T, err)
	require.NoError(c.T, r.Verify(c.CertKey), "receipt signed by the attested key")
	require.Equal(c.T, sha256.Sum256(reqBody), r.RequestHash)
	require.Equal(c.T, content.Hash(), r.ResponseHash)
	require.True(c.T, r.Channel.Equals(c.Ch))
	require.Equal(c.T, c.N.ModelID, r.ModelID)
	require.Zero(c.T, r.Prices.Prompt.Cmp(Prices.Prompt))
	require.Zero(c.T, r.Prices.Completion.Cmp(Prices.Completion))
	require.Zero(c.T, r.Cost.Cmp(r.Prices.Cost(r.PromptTokens, r.CompletionTokens)))
	c.mu.Lock()
	defer c.mu.Unlock()
	require.Equal(c.T, new(big.Int).Add(c.Owed, r.Cost).String(), r.Owed.String(), "owed grows by the cost")
	c.Owed = new(big.Int).Set(r.Owed)
	c.Prompt += r.PromptTokens
	c.Completion += r.CompletionTokens
	return r
}

// Chat sends a non-streamed paid chat request and checks its payment.
func (c *Client) Chat(body string) (*openai.ChatCompletion, payment.SignedReceipt) {
	c.T.Helper()
	resp, b := c.Do(c.Request("POST", "/v1/chat/completions", body, ""))
	require.Equal(c.T, 200, resp.StatusCode, "%s", b)
	var cc openai.ChatCompletion
	require.NoError(c.T, json.Unmarshal(b, &cc))
	require.NotNil(c.T, cc.Usage.Cocoon, "usage.cocoon")
	pay := cc.Usage.Cocoon
	require.Equal(c.T, resp.Header.Get(payment.HeaderReceipt), pay.Receipt)
	require.Equal(c.T, resp.Header.Get(payment.HeaderCost), pay.Cost)
	require.Equal(c.T, resp.Header.Get(payment.HeaderOwed), pay.Owed)
	require.Equal(c.T, c.Ch.StringRaw(), pay.Channel)
	// The response hash covers the answer as delivered, without its payment.
	var content payment.Content
	require.NoError(c.T, content.Add(b))
	r := c.CheckReceipt(pay.Receipt, []byte(body), &content)
	require.Equal(c.T, uint64(cc.Usage.PromptTokens), r.PromptTokens)
	require.Equal(c.T, uint64(cc.Usage.CompletionTokens), r.CompletionTokens)
	return &cc, r
}

// View reads the provider's account of the channel.
func (c *Client) View() payment.ChannelView {
	c.T.Helper()
	path := payment.ChannelPathPrefix + c.Ch.StringRaw()
	req := c.Request("GET", path, "", "x")
	req.Header.Del(voucher.HeaderVoucher)
	resp, b := c.Do(req)
	require.Equal(c.T, 200, resp.StatusCode, "%s", b)
	var v payment.ChannelView
	require.NoError(c.T, json.Unmarshal(b, &v))
	return v
}

// Refused sends req, which must be refused with 402 and code, changing nothing the provider
// holds for the channel.
func (c *Client) Refused(req *http.Request, code string) http.Header {
	c.T.Helper()
	before := c.View()
	resp, b := c.Do(req)
	require.Equal(c.T, http.StatusPaymentRequired, resp.StatusCode, "%s", b)
	var e openai.ErrorBody
	require.NoError(c.T, json.Unmarshal(b, &e), "%s", b)
	require.Equal(c.T, payment.TypePaymentRequired, e.Error.Type)
	require.NotNil(c.T, e.Error.Code)
	require.Equal(c.T, code, *e.Error.Code, "%s", e.Error.Message)
	require.NotEmpty(c.T, e.Error.Message)
	require.Equal(c.T, before, c.View(), "a refused request changes nothing")
	return resp.Header
}

// CloseChannel starts the channel's close with the client key.
func (c *Client) CloseChannel() {
	c.T.Helper()
	p, err := c.O.PlanClose(c.N.Ctx, ops.CloseInput{Channel: c.Ch, ClientKey: c.Key})
	require.NoError(c.T, err)
	_, err = c.O.SendClose(c.N.Ctx, p)
	require.NoError(c.T, err)
}

// StreamResult is a streamed answer as the client read it.
type StreamResult struct {
	Status  int
	Body    []byte
	Events  []string // data payloads, [DONE] included
	Content payment.Content
	Usage   *openai.Usage
	Receipt payment.SignedReceipt
	// Done: the stream ended with [DONE].
	Done bool
}

// Stream sends a streamed paid request, reads every event and, when it completed, checks the
// payment of its last usage chunk.
func (c *Client) Stream(path, body string) *StreamResult {
	c.T.Helper()
	resp, b := c.Do(c.Request("POST", path, body, ""))
	res := &StreamResult{Status: resp.StatusCode, Body: b}
	if resp.StatusCode != 200 {
		return res
	}
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		res.Events = append(res.Events, data)
		if data == "[DONE]" {
			res.Done = true
			continue
		}
		var ev struct {
			Usage *openai.Usage `json:"usage"`
		}
		require.NoError(c.T, json.Unmarshal([]byte(data), &ev))
		if ev.Usage != nil {
			res.Usage = ev.Usage
			continue
		}
		require.NoError(c.T, res.Content.Add([]byte(data)))
	}
	if res.Done {
		require.NotNil(c.T, res.Usage, "a paid stream ends with the usage chunk")
		require.NotNil(c.T, res.Usage.Cocoon)
		res.Receipt = c.CheckReceipt(res.Usage.Cocoon.Receipt, []byte(body), &res.Content)
		require.Equal(c.T, uint64(res.Usage.CompletionTokens), res.Receipt.CompletionTokens)
	}
	return res
}

// Events reads SSE data payloads from a streaming response one at a time.
type Events struct {
	Resp *http.Response
	sc   *bufio.Scanner
}

// OpenStream sends a streamed paid request and returns its events to read.
func (c *Client) OpenStream(path, body string) *Events {
	c.T.Helper()
	resp, err := c.HTTP.Do(c.Request("POST", path, body, ""))
	require.NoError(c.T, err)
	require.Equal(c.T, 200, resp.StatusCode)
	c.takeCert(resp)
	return &Events{Resp: resp, sc: bufio.NewScanner(resp.Body)}
}

// Next is the next data payload ("" at the end).
func (e *Events) Next() string {
	for e.sc.Scan() {
		if d, ok := strings.CutPrefix(e.sc.Text(), "data: "); ok {
			return d
		}
	}
	return ""
}
