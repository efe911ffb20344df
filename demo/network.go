package demo

import (
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/keys"
	"github.com/cocoon-go/cocoon/models"
)

// Network is a running demo network: the devnet, the oracles, the providers, the indexer and the
// client gateway, each its own process, and the wallets the orchestrator signs with as their
// operators (governance, the oracles' and providers' owners, the client).
type Network struct {
	Config   Config
	State    *State
	Progress *Progress
	// Resumed: the network was found in the data directory.
	Resumed bool

	// RPC is the devnet's toncenter v2 URL; Chain reads and sends through it.
	RPC      string
	Chain    chain.Client
	Registry *address.Address

	Devnet    *Proc
	Oracles   []*Oracle
	Providers []*Provider
	Indexer   *Proc
	Gateway   *Proc

	// ExplorerURL and GatewayURL are http://host:port.
	ExplorerURL, GatewayURL string
	// ClientWallet pays for the gateway's channels; ClientDir is the gateway's data directory.
	ClientWallet *address.Address
	ClientDir    string

	// clock is the devnet's clock: the wall clock plus clockOffset (nanoseconds), read from the
	// devnet at the start and again after each AdvanceTime.
	clock       func(ctx context.Context) (time.Time, error)
	clockOffset atomic.Int64
	gov         *actor
	client      *actor
}

// Oracle is an oracle process with its wallet and key.
type Oracle struct {
	*Proc
	Wallet    *address.Address
	PublicKey ed25519.PublicKey
	// API is the oracle's HTTP API (uptime tables and proofs).
	API string
	// Metrics serves /healthz and /metrics.
	Metrics string
	actor   *actor
}

// Provider is a provider process with its owner, contract and endpoint.
type Provider struct {
	*Proc
	Spec ProviderSpec
	// Dir holds provider.json, the settlement wallet's key and the store.
	Dir string
	// Owner is the wallet that registered and staked; Contract its Provider contract.
	Owner, Contract *address.Address
	// Endpoint is the RA-TLS URL on-chain; Addr its host:port; Metrics the ops listener.
	Endpoint, Addr, Metrics string
	owner                   *actor

	mu         sync.Mutex
	tlsKeyHash string // from the daemon's start banner, REQUIRES mu
}

// TLSKeyHash is the key hash the running daemon printed when it started ("" before).
func (p *Provider) TLSKeyHash() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.tlsKeyHash
}

var tlsKeyLine = regexp.MustCompile(`(?m)^tls key hash: ([0-9a-f]{64})$`)

// OwnerKeyFile is the owner wallet's mnemonic file.
func (p *Provider) OwnerKeyFile() string { return p.owner.keyFile }

// path is a file in the data directory.
func (n *Network) path(parts ...string) string {
	return filepath.Join(append([]string{n.Config.DataDir}, parts...)...)
}

// Start builds the network in cfg.DataDir (or resumes the one there) and returns once every
// provider is attested and the gateway serves. On failure it stops what it started.
func Start(ctx context.Context, cfg Config) (*Network, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	cfg = cfg.withDefaults()
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return nil, err
	}
	cfg.DataDir = abs
	n := &Network{Config: cfg, Progress: NewProgress(cfg.Out)}
	if err := n.start(ctx); err != nil {
		stopCtx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		n.stop(stopCtx, false)
		return nil, err
	}
	return n, nil
}

func (n *Network) start(ctx context.Context) error {
	cfg := n.Config
	st, err := prepareDir(cfg.DataDir, cfg.Fresh)
	if err != nil {
		return err
	}
	if st == nil {
		st = &State{Version: stateVersion, Created: time.Now().UTC(), Block: cfg.BlockInterval.String(), Ports: map[string]int{}}
		n.Progress.Printf("a new network in %s", cfg.DataDir)
	} else {
		n.Resumed = true
		n.Progress.Printf("resuming the network made %s in %s (--fresh starts a new one)", st.Created.Local().Format(time.DateTime), cfg.DataDir)
		if st.Block != cfg.BlockInterval.String() {
			n.Progress.Printf("(its devnet ran with blocks every %s; now every %s)", st.Block, cfg.BlockInterval)
			st.Block = cfg.BlockInterval.String()
		}
	}
	n.State = st
	if err := n.layout(); err != nil {
		return err
	}
	if err := n.State.save(cfg.DataDir); err != nil {
		return err
	}

	if err := n.Progress.Run(ctx, "devnet", fmt.Sprintf("starting the local TON emulator (a block every %s)", cfg.BlockInterval), func(ctx context.Context, _ *Step) (string, error) {
		if err := n.Devnet.Start(ctx); err != nil {
			return "", err
		}
		return "toncenter v2 API on " + n.RPC, nil
	}); err != nil {
		return err
	}
	c, _, err := dial.Dial(ctx, dial.Config{Network: "devnet", RPC: n.RPC})
	if err != nil {
		return err
	}
	n.Chain = c
	if err := n.syncClock(ctx); err != nil {
		return err
	}
	n.clock = func(context.Context) (time.Time, error) {
		return time.Now().Add(time.Duration(n.clockOffset.Load())), nil
	}

	if err := n.Progress.Run(ctx, "wallets", "loading the operators' wallets and funding them from the faucet", n.wallets); err != nil {
		return err
	}
	if err := n.Progress.Run(ctx, "registry", "deploying the registry from the governance wallet", func(ctx context.Context, _ *Step) (string, error) {
		return n.ensureRegistry(ctx)
	}); err != nil {
		return err
	}
	for _, a := range n.actors() {
		a.ops.Registry = n.Registry
	}
	n.Indexer.Args = n.indexerArgs(n.path("indexer"), strings.TrimPrefix(n.ExplorerURL, "http://"))
	n.Gateway.Args = n.gatewayArgs()

	// From here on, governance, the providers' owners and the indexer go at once.
	modelListed := make(chan struct{})
	var steps []func(ctx context.Context) error
	steps = append(steps, func(ctx context.Context) error {
		err := n.Progress.Run(ctx, "governance", "allowing the simulated TEE, listing the demo model, adding the oracles", n.governance)
		if err == nil {
			close(modelListed)
		}
		if err != nil {
			return err
		}
		return n.startOracles(ctx)
	})
	steps = append(steps, func(ctx context.Context) error {
		return n.Progress.Run(ctx, "indexer", "starting the indexer and its explorer", func(ctx context.Context, _ *Step) (string, error) {
			if err := n.Indexer.Start(ctx); err != nil {
				return "", err
			}
			return "explorer on " + n.ExplorerURL, nil
		})
	})
	for _, p := range n.Providers {
		steps = append(steps, func(ctx context.Context) error {
			return n.startProvider(ctx, p, modelListed)
		})
	}
	if err := parallel(ctx, len(steps), func(ctx context.Context, i int) error { return steps[i](ctx) }); err != nil {
		return err
	}
	if err := n.Progress.Run(ctx, "attestation", fmt.Sprintf("waiting for the oracles to check the providers' RA-TLS evidence and vote (quorum %d of %d)", cfg.Quorum, cfg.Oracles), func(ctx context.Context, s *Step) (string, error) {
		return n.waitAttested(ctx, n.Providers, s)
	}); err != nil {
		return err
	}
	if cfg.NoGateway {
		return nil
	}
	return n.Progress.Run(ctx, "gateway", "starting the client gateway and waiting until it has verified the providers", func(ctx context.Context, s *Step) (string, error) {
		if err := n.Gateway.Start(ctx); err != nil {
			return "", err
		}
		return n.waitGatewayVerified(ctx, s)
	})
}

// layout names every process, file and port of the network.
func (n *Network) layout() error {
	cfg := n.Config
	st := n.State
	logs := n.path("logs")
	preferred := func(p int) int {
		if cfg.RandomPorts {
			return 0
		}
		return p
	}
	devPort, err := st.port("devnet", preferred(8081))
	if err != nil {
		return err
	}
	n.RPC = "http://127.0.0.1:" + strconv.Itoa(devPort)
	n.Devnet = &Proc{Name: "devnet", Bin: cfg.Cocoon, LogPath: filepath.Join(logs, "devnet.log"),
		Args:  []string{"devnet", "--listen", "127.0.0.1:" + strconv.Itoa(devPort), "--data", n.path("devnet"), "--block-interval", cfg.BlockInterval.String()},
		Ready: func(ctx context.Context) error { return getOK(ctx, n.RPC+"/devnet/info") }}

	explorer, err := resolveListen(cfg.ExplorerListen)
	if err != nil {
		return err
	}
	n.ExplorerURL = "http://" + explorer
	n.Indexer = &Proc{Name: "indexer", Bin: cfg.Cocoon, LogPath: filepath.Join(logs, "indexer.log"),
		Ready: func(ctx context.Context) error { return getOK(ctx, n.ExplorerURL+"/api/v1/status") }}

	for i := range cfg.Oracles {
		name := fmt.Sprintf("oracle-%d", i+1)
		api, err := st.port(name, preferred(8090+i+1))
		if err != nil {
			return err
		}
		metrics, err := st.port(name+"-metrics", 0)
		if err != nil {
			return err
		}
		o := &Oracle{API: "http://127.0.0.1:" + strconv.Itoa(api), Metrics: "http://127.0.0.1:" + strconv.Itoa(metrics)}
		o.Proc = &Proc{Name: name, Bin: cfg.Cocoon, LogPath: filepath.Join(logs, name+".log"),
			Ready: func(ctx context.Context) error { return getOK(ctx, o.API+"/api/v1/epochs") }}
		n.Oracles = append(n.Oracles, o)
	}
	for i, spec := range cfg.Providers {
		port, err := st.port(spec.Name, preferred(8443+i))
		if err != nil {
			return err
		}
		metrics, err := st.port(spec.Name+"-metrics", 0)
		if err != nil {
			return err
		}
		p := &Provider{Spec: spec, Dir: n.path(spec.Name), Addr: "127.0.0.1:" + strconv.Itoa(port),
			Endpoint: "https://127.0.0.1:" + strconv.Itoa(port), Metrics: "http://127.0.0.1:" + strconv.Itoa(metrics)}
		p.Proc = &Proc{Name: spec.Name, Bin: cfg.CocoonProvider, LogPath: filepath.Join(logs, spec.Name+".log"),
			Args: []string{"run", "--config", filepath.Join(p.Dir, "provider.json")}}
		p.Proc.Ready = func(ctx context.Context) error {
			if err := getOK(ctx, p.Metrics+"/healthz"); err != nil {
				return err
			}
			m := tlsKeyLine.FindAllStringSubmatch(p.Proc.Log(), -1)
			if len(m) == 0 {
				return errors.New("no start banner yet")
			}
			p.mu.Lock()
			p.tlsKeyHash = m[len(m)-1][1]
			p.mu.Unlock()
			return nil
		}
		n.Providers = append(n.Providers, p)
	}
	gw, err := resolveListen(cfg.GatewayListen)
	if err != nil {
		return err
	}
	n.GatewayURL = "http://" + gw
	n.ClientDir = n.path("client", "data")
	n.Gateway = &Proc{Name: "gateway", Bin: cfg.Cocoon, LogPath: filepath.Join(logs, "gateway.log"),
		Ready: func(ctx context.Context) error { return getOK(ctx, n.GatewayURL+"/cocoon/v1/status") }}

	// Every port must be free before anything starts: another demo may hold them.
	addrs := map[string]string{"devnet": "127.0.0.1:" + strconv.Itoa(devPort), "explorer (--explorer-listen)": explorer}
	if !cfg.NoGateway {
		addrs["gateway (--gateway-listen)"] = gw
	}
	for _, o := range n.Oracles {
		addrs[o.Name] = strings.TrimPrefix(o.API, "http://")
		addrs[o.Name+" metrics"] = strings.TrimPrefix(o.Metrics, "http://")
	}
	for _, p := range n.Providers {
		addrs[p.Name] = p.Addr
		addrs[p.Name+" metrics"] = strings.TrimPrefix(p.Metrics, "http://")
	}
	var errs []error
	for _, what := range sortedKeys(addrs) {
		errs = append(errs, checkFree(what, addrs[what]))
	}
	return errors.Join(errs...)
}

// actors are the wallets the orchestrator signs with.
func (n *Network) actors() []*actor {
	as := []*actor{n.gov, n.client}
	for _, o := range n.Oracles {
		as = append(as, o.actor)
	}
	for _, p := range n.Providers {
		as = append(as, p.owner)
	}
	return as
}

// wallets loads (or creates) every operator's wallet and key, and funds them from the faucet.
func (n *Network) wallets(ctx context.Context, _ *Step) (string, error) {
	var err error
	if n.gov, err = n.loadActor("governance", n.path("governance", "wallet.key"), fundGovernance); err != nil {
		return "", err
	}
	if n.client, err = n.loadActor("client", n.path("client", "wallet.key"), fundClient); err != nil {
		return "", err
	}
	n.ClientWallet = n.client.Address()
	for _, o := range n.Oracles {
		if o.actor, err = n.loadActor(o.Name, n.path(o.Name, "wallet.key"), fundOracle); err != nil {
			return "", err
		}
		o.Wallet = o.actor.Address()
		if o.PublicKey, err = oracleKey(n.path(o.Name, "oracle.key")); err != nil {
			return "", err
		}
	}
	for _, p := range n.Providers {
		if p.owner, err = n.loadActor(p.Name+" owner", filepath.Join(p.Dir, "owner.key"), fundOwner); err != nil {
			return "", err
		}
		p.Owner = p.owner.Address()
	}
	addrs := map[string]*address.Address{}
	amounts := map[string]int64{}
	for _, a := range n.actors() {
		addrs[a.name], amounts[a.name] = a.Address(), a.fund
	}
	funded, err := n.fundAll(ctx, addrs, amounts)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%d wallets (governance, %d oracles, %d provider owners, the client), %d funded", len(addrs), len(n.Oracles), len(n.Providers), funded), nil
}

// startOracles starts every oracle process.
func (n *Network) startOracles(ctx context.Context) error {
	return n.Progress.Run(ctx, "oracles", fmt.Sprintf("starting %d oracles", len(n.Oracles)), func(ctx context.Context, _ *Step) (string, error) {
		for _, o := range n.Oracles {
			o.Args = n.oracleArgs(o)
		}
		err := parallel(ctx, len(n.Oracles), func(ctx context.Context, i int) error { return n.Oracles[i].Start(ctx) })
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("APIs on %s", joinAnd(oracleAPIs(n.Oracles))), nil
	})
}

func oracleAPIs(os []*Oracle) []string {
	var out []string
	for _, o := range os {
		out = append(out, o.API)
	}
	return out
}

// oracleArgs is an oracle's command line: the demo's intervals are short, so that a provider is
// checked within seconds of starting and a restarted one (a new RA-TLS key) is voted for again
// at once; votes live for the registry's maximum (6 h) and are renewed an hour before they end;
// an uptime epoch is a minute, so the explorer shows uptime soon.
func (n *Network) oracleArgs(o *Oracle) []string {
	args := []string{"oracle", "run", "--network", "devnet", "--rpc", n.RPC, "--registry", n.Registry.StringRaw(),
		"--key-file", o.actor.keyFile, "--oracle-key-file", n.path(o.Name, "oracle.key"), "--data", n.path(o.Name, "data"),
		"--listen", strings.TrimPrefix(o.API, "http://"), "--metrics-listen", strings.TrimPrefix(o.Metrics, "http://"),
		"--allow-sim", "--refresh", "1s", "--attest-interval", "2s", "--vote-lifetime", "6h", "--renew-before", "1h",
		"--probe-interval", "30s", "--probe-retry-min", "2s", "--probe-retry-max", "30s", "--tick", "200ms",
		"--epoch", "60s", "--tx-per-minute", "120"}
	return append(args, n.Config.OracleArgs...)
}

// startProvider sets a provider up on-chain and in its folder, as its operator would
// (`cocoon provider init`, then register, endpoint, price from the owner's wallet), and starts it.
func (n *Network) startProvider(ctx context.Context, p *Provider, modelListed <-chan struct{}) error {
	if err := n.Progress.Run(ctx, p.Name, fmt.Sprintf("registering, staking and pricing from its owner's wallet (%s / %s TON per 1M prompt / completion tokens)", p.Spec.PromptPrice, p.Spec.CompletionPrice),
		func(ctx context.Context, s *Step) (string, error) {
			if err := n.providerConfig(ctx, p); err != nil {
				return "", err
			}
			return n.setUpProvider(ctx, p, modelListed, s)
		}); err != nil {
		return err
	}
	return n.Progress.Run(ctx, p.Name, "starting cocoon-provider (simulated TEE)", func(ctx context.Context, _ *Step) (string, error) {
		if err := p.Start(ctx); err != nil {
			return "", err
		}
		return "serving on " + p.Endpoint + "/v1", nil
	})
}

// providerConfig writes the provider's folder with `cocoon provider init` (once) and sets the
// demo's settlement in provider.json: claim every second what is unclaimed, however little, so
// that the claim of the demo's request shows (a real provider waits for 35 TON, keeping fees
// below 0.05%). Its settlement wallet is funded for the claims' fees.
func (n *Network) providerConfig(ctx context.Context, p *Provider) error {
	path := filepath.Join(p.Dir, "provider.json")
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		args := []string{"provider", "init", "--dir", p.Dir, "--network", "devnet", "--rpc", n.RPC, "--registry", n.Registry.StringRaw(),
			"--owner", p.Owner.StringRaw(), "--listen", p.Addr, "--metrics-listen", strings.TrimPrefix(p.Metrics, "http://"), "--tee", "sim",
			"--prompt-price", p.Spec.PromptPrice, "--completion-price", p.Spec.CompletionPrice, "--threshold", p.Spec.ThresholdTON}
		if u := p.Spec.Upstream; u != nil {
			args = append(args, "--backend", "upstream", "--upstream-url", u.URL, "--upstream-model", u.Model,
				"--model-name", models.DefaultModelName, "--context-length", strconv.Itoa(u.ContextLength))
		}
		cmd := exec.CommandContext(ctx, n.Config.Cocoon, args...)
		cmd.Env = cleanEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("cocoon provider init: %v\n%s", err, out)
		}
		if err := editJSON(path, func(m map[string]any) {
			settle, _ := m["settlement"].(map[string]any)
			if settle == nil {
				settle = map[string]any{}
			}
			settle["interval"] = p.Spec.SettleInterval.String()
			m["settlement"] = settle
			m["drain_timeout"] = "10s"
			if p.Spec.SimImage != "" {
				img := p.Spec.Image()
				m["sim_image"] = hex.EncodeToString(img[:])
			}
		}); err != nil {
			return err
		}
	}
	words, err := keys.ReadMnemonic(filepath.Join(p.Dir, "wallet.key"))
	if err != nil {
		return err
	}
	w, err := wallet.FromMnemonic(words, wallet.V5R1, dial.Networks["devnet"].GlobalID)
	if err != nil {
		return err
	}
	_, err = n.fundAll(ctx, map[string]*address.Address{p.Name + " settlement": w.Address()}, map[string]int64{p.Name + " settlement": fundSettlement})
	return err
}

// indexerArgs is an indexer's command line: the network's registry, data in dir, API and
// explorer on listen, the oracles' uptime tables fetched every 10 s.
func (n *Network) indexerArgs(dir, listen string) []string {
	return []string{"indexer", "run", "--network", "devnet", "--rpc", n.RPC, "--registry", n.Registry.StringRaw(),
		"--data", dir, "--listen", listen, "--poll", "500ms", "--oracle-api", strings.Join(oracleAPIs(n.Oracles), ","), "--oracle-poll", "10s"}
}

// IndexerProc is one more indexer of the network (not started): its data in dir, its API on
// listen (host:port), extra flags added.
func (n *Network) IndexerProc(name, dir, listen string, extra ...string) *Proc {
	return &Proc{Name: name, Bin: n.Config.Cocoon, LogPath: n.path("logs", name+".log"),
		Args:  append(n.indexerArgs(dir, listen), extra...),
		Ready: func(ctx context.Context) error { return getOK(ctx, "http://"+listen+"/api/v1/status") }}
}

// gatewayArgs is the gateway's command line: the client's wallet and store in the data
// directory, providers listed by the indexer, ranked with the oracles' uptime, verified again
// every few seconds.
func (n *Network) gatewayArgs() []string {
	args := []string{"client", "gateway", "--listen", strings.TrimPrefix(n.GatewayURL, "http://"), "--network", "devnet", "--rpc", n.RPC,
		"--registry", n.Registry.StringRaw(), "--key-file", n.client.keyFile, "--data-dir", n.ClientDir,
		"--indexer", n.ExplorerURL, "--oracles", strings.Join(oracleAPIs(n.Oracles), ","), "--refresh", "2s", "--deposit", "1"}
	return append(args, n.Config.GatewayArgs...)
}

// Stop stops every process: the gateway first, then the providers (each claims what it holds
// while the chain still runs), the oracles, the indexer and the devnet last. Each gets
// StopTimeout after SIGTERM before it is killed.
func (n *Network) Stop(ctx context.Context) error {
	return n.stop(ctx, true)
}

func (n *Network) stop(ctx context.Context, say bool) error {
	timeout := n.Config.StopTimeout
	var errs []error
	stopAll := func(what string, ps []*Proc) {
		var running []*Proc
		for _, p := range ps {
			if p != nil && p.Running() {
				running = append(running, p)
			}
		}
		if len(running) == 0 {
			return
		}
		began := time.Now()
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, p := range running {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := p.Stop(timeout); err != nil {
					mu.Lock()
					errs = append(errs, fmt.Errorf("%w; the end of its log:\n%s", err, p.Tail(10)))
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		if say {
			n.Progress.Printf("stopped %s (%.1fs)", what, time.Since(began).Seconds())
		}
	}
	stopAll("the gateway", []*Proc{n.Gateway})
	var provs, oracles []*Proc
	for _, p := range n.Providers {
		provs = append(provs, p.Proc)
	}
	for _, o := range n.Oracles {
		oracles = append(oracles, o.Proc)
	}
	stopAll("the providers (each claimed what it held)", provs)
	stopAll("the oracles", oracles)
	stopAll("the indexer", []*Proc{n.Indexer})
	stopAll("the devnet", []*Proc{n.Devnet})
	return errors.Join(errs...)
}

// Procs is every process of the network.
func (n *Network) Procs() []*Proc {
	ps := []*Proc{n.Devnet, n.Indexer}
	for _, o := range n.Oracles {
		ps = append(ps, o.Proc)
	}
	for _, p := range n.Providers {
		ps = append(ps, p.Proc)
	}
	if !n.Config.NoGateway {
		ps = append(ps, n.Gateway)
	}
	return ps
}

// Watch reports each process that exits without being asked to, until ctx ends.
func (n *Network) Watch(ctx context.Context, report func(p *Proc)) {
	var wg sync.WaitGroup
	for _, p := range n.Procs() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				done := p.Done()
				if done == nil {
					return
				}
				select {
				case <-ctx.Done():
					return
				case <-done:
				}
				if p.Unexpected() {
					report(p)
				}
				// wait for a restart (a test) or the end
				for p.Done() == done {
					select {
					case <-ctx.Done():
						return
					case <-time.After(200 * time.Millisecond):
					}
				}
			}
		}()
	}
	wg.Wait()
}

// getOK GETs url and wants a 200.
func getOK(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// GetJSON GETs url (200 wanted) into v.
func GetJSON(ctx context.Context, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// editJSON rewrites a JSON object file through edit, keeping its mode.
func editJSON(path string, edit func(map[string]any)) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	edit(m)
	out, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(out, '\n'), 0o600)
}

// cleanEnv is the environment without the variables that would change what the CLI verbs do
// (a user's own wallet, registry or network).
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "COCOON_") {
			continue
		}
		out = append(out, kv)
	}
	return out
}
