package clientnet

import (
	"context"
	"crypto/tls"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/client/clienttest"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider"
)

// Options shape a provider daemon.
type Options struct {
	// Upstream serves FakeModel from this fake upstream (nil: the embedded demo model).
	Upstream http.Handler
	// Prompt and Completion are the on-chain prices, TON per 1M tokens ("": 1 and 2).
	Prompt, Completion string
	// NoVote leaves the provider unattested; KeyHash, when set, is what the oracle attests instead
	// of the provider's own TLS key hash.
	NoVote  bool
	KeyHash *[32]byte
	// Edit changes the daemon's configuration before it starts.
	Edit func(*provider.Config)
}

// Daemon is a running provider daemon and its owner.
type Daemon struct {
	*provider.Provider
	Owner    *clienttest.Actor
	Contract *address.Address
	// URL is the RA-TLS endpoint published on-chain.
	URL string
	// Logs is the daemon's log file.
	Logs string
	cfg  provider.Config
}

// Start registers an owner (10 TON of stake), prices the model, starts the daemon with the
// simulated TEE, publishes its endpoint and has the oracle attest its key.
func (n *Net) Start(o Options) *Daemon {
	n.T.Helper()
	if o.Prompt == "" {
		o.Prompt, o.Completion = "1", "2"
	}
	dir := filepath.Join(n.T.TempDir(), "provider")
	must(n.T, os.MkdirAll(dir, 0o700))
	words := wallet.NewMnemonic()
	keyFile := filepath.Join(dir, "owner.key")
	must(n.T, keys.WriteMnemonic(keyFile, words))
	w, err := wallet.FromMnemonic(words, wallet.V5R1, n.Devnet.GlobalID())
	must(n.T, err)
	owner := n.ActorOf(w, 50)
	reg, err := owner.PlanRegister(n.Ctx, ops.RegisterInput{Stake: ton("10")})
	must(n.T, err)
	res, err := owner.SendRegister(n.Ctx, reg)
	must(n.T, err)
	d := &Daemon{Owner: owner, Contract: res.Provider.Address, Logs: filepath.Join(dir, "provider.log")}
	// The daemon checks that an endpoint is published before it starts; the real one follows.
	n.OwnerOp(owner, ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: "https://provider.invalid:8443"})
	model, id := models.DefaultModelName, uint32(DemoModelID)
	if o.Upstream != nil {
		model, id = FakeModel, FakeModelID
	}
	n.OwnerOp(owner, ops.OwnerOp{Kind: ops.SetPrice, ModelID: id, PromptPrice: ton(o.Prompt), CompletionPrice: ton(o.Completion)})

	cfg := provider.DefaultConfig()
	cfg.Registry, cfg.Owner, cfg.WalletKeyFile = n.Registry.StringRaw(), w.Address().StringRaw(), keyFile
	cfg.DataDir, cfg.Listen, cfg.TEE = filepath.Join(dir, "data"), "127.0.0.1:0", "sim"
	cfg.Backend = provider.BackendConfig{Kind: "embedded", Model: "default", Threads: 1}
	cfg.Models = []provider.ModelConfig{{Name: model, PromptPriceTON: o.Prompt, CompletionPriceTON: o.Completion}}
	if o.Upstream != nil {
		srv := httptest.NewServer(o.Upstream)
		n.T.Cleanup(srv.Close)
		cfg.Backend = provider.BackendConfig{Kind: "upstream", URL: srv.URL + "/v1"}
		cfg.Models[0].ContextLength = 4096
	}
	cfg.Chain, cfg.PollInterval, cfg.ChainClock = n.Chain, 5*time.Millisecond, n.Devnet.Now
	cfg.Settlement.Interval = provider.Duration(time.Hour)
	if o.Edit != nil {
		o.Edit(&cfg)
	}
	d.cfg = cfg
	d.start(n)
	n.OwnerOp(owner, ops.OwnerOp{Kind: ops.SetEndpoint, Endpoint: d.URL})
	if !o.NoVote {
		info := d.Info()
		key := info.TLSKeyHash
		if o.KeyHash != nil {
			key = *o.KeyHash
		}
		n.Vote(owner.Address(), d.Evidence(n.T), info.Measurement, key)
	}
	return d
}

func (d *Daemon) start(n *Net) {
	n.T.Helper()
	f, err := os.OpenFile(d.Logs, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	must(n.T, err)
	n.T.Cleanup(func() { _ = f.Close() })
	p, err := provider.New(n.Ctx, d.cfg, slog.New(slog.NewTextHandler(f, nil)), provider.NoopMetrics{})
	must(n.T, err)
	if err := p.Start(n.Ctx); err != nil {
		b, _ := os.ReadFile(d.Logs)
		n.T.Fatalf("provider did not start: %v\n%s", err, b)
	}
	n.T.Cleanup(func() { _ = p.Stop(context.Background()) })
	d.Provider, d.URL = p, "https://"+p.Info().Addr
}

// Evidence is the certificate evidence the daemon serves (what an oracle votes for).
func (d *Daemon) Evidence(t testing.TB) []byte {
	t.Helper()
	conn, err := tls.Dial("tcp", d.Info().Addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}) // the evidence is read, not trusted
	must(t, err)
	defer conn.Close()
	ev, err := attest.EvidenceFromCertificate(conn.ConnectionState().PeerCertificates[0])
	must(t, err)
	return ev
}

// Fake is a fake upstream (internal/fakeupstream) that can be made to fail.
type Fake struct {
	fakeupstream.Server
	// failNext makes the next requests answer 503 before anything.
	failNext atomic.Int64
}

// FailNext makes the next k requests fail with 503 before their first token.
func (f *Fake) FailNext(k int64) { f.failNext.Store(k) }

func (f *Fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && f.failNext.Add(-1) >= 0 {
		http.Error(w, `{"error":{"message":"the fake upstream is failing on purpose","type":"server_error"}}`, http.StatusServiceUnavailable)
		return
	}
	f.Server.ServeHTTP(w, r)
}
