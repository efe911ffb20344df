// Package bench compares, in one run and against one fast fake backend on loopback, the backend
// reached directly, nginx with TLS 1.3 in front of it, a bare Go TLS 1.3 reverse proxy in front of
// it (tools/gotlsproxy: the standard library's floor, no payment), the same proxy without net/http
// (gotlsproxy --lean: Go's floor with a hand-written HTTP/1.1), and the provider daemon in front
// of it serving paid requests (RA-TLS, connection authorization as the Go client uses it, voucher,
// admission, metering, receipt, journal), and the same provider with every request signed (a
// client without a TLS client certificate). tools/bench/provider.sh runs it and writes
// docs/BENCHMARKS.md's provider section.
//
// The paths are measured interleaved (rounds of each in turn), so that the machine's other jobs
// weigh on all of them alike and the ratios between them hold even when absolute times drift.
//
// Environment:
//
//	COCOON_BENCH=1                 run at all (tools/bench/provider.sh sets it)
//	COCOON_BENCH_OUT=FILE          write the Markdown result there
//	COCOON_BENCH_BASELINE=REF      also build cocoon-provider from git REF and measure it beside the
//	                               working tree's, as a second provider row (before/after in one run)
//	COCOON_BENCH_PPROF=DIR         build the providers with -tags cocoon_pprof and, after the
//	                               measurements, write CPU, block, mutex and allocation profiles of each at
//	                               concurrency 1 and 64 into DIR
package bench

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/provider/providertest"
	"github.com/cocoon-go/cocoon/voucher"
)

const (
	latencyRequests = 2000
	ttftRequests    = 500
	latencyRound    = 100 // sequential requests to one path before the next path's turn
	concurrency     = 64
	throughputFor   = 6 * time.Second // per path, in throughputRounds slices
	throughputRound = 3
	channels        = 4 // paid load spreads over this many channels (16 workers each at concurrency 64)
	profileFor      = 10 * time.Second
)

// target is one way to reach the backend.
type target struct {
	name   string
	url    string // API root, .../v1
	model  string
	client *http.Client
	// pay adds the payment headers for worker w and returns the client to send with (nil: free,
	// or client); answered sees each answer (paid targets: connection authorization).
	pay      func(w int, req *http.Request, body []byte) *http.Client
	answered func(w int, resp *http.Response)
	// presign prepares n authorizations for body on each channel (paid targets).
	presign func(body []byte, n int)
	// check verifies the paid channels after the run (paid targets).
	check func(t *testing.T)
	// pid is the proxy's process (0: none), whose CPU time per request is reported.
	pid int
	// pprof is the provider's debug listener (COCOON_BENCH_PPROF).
	pprof string
	// signed is the same provider and channels with every request signed (no connection
	// authorization: a client that presents no certificate).
	signed *target
}

func goBuild(t *testing.T, dir, pkg, out string, tags ...string) {
	t.Helper()
	args := []string{"build", "-o", out}
	if len(tags) > 0 {
		args = append(args, "-tags", strings.Join(tags, ","))
	}
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), append(args, pkg)...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s in %s: %v\n%s", pkg, dir, err, b)
	}
}

// checkout extracts git ref of the repository at root into a new directory.
func checkout(t *testing.T, root, ref string) (string, string) {
	t.Helper()
	rev, err := exec.Command("git", "-C", root, "rev-parse", "--short", ref).Output()
	if err != nil {
		t.Fatalf("git rev-parse %s: %v", ref, err)
	}
	dir := t.TempDir()
	cmd := exec.Command("sh", "-c", fmt.Sprintf("git -C %q archive %q | tar -x -C %q", root, ref, dir))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git archive %s: %v\n%s", ref, err, b)
	}
	return dir, strings.TrimSpace(string(rev))
}

// startProcess runs argv with env added and waits for a line matching re on stdout; it returns the
// first group and the process id.
func startProcess(t *testing.T, re *regexp.Regexp, stderr io.Writer, env []string, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case s := <-found:
		return s, cmd.Process.Pid
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not start", argv[0])
	}
	return "", 0
}

// cpuTime is the user + system CPU time of pid and its children processes (nginx's workers), from
// /proc (clock ticks of 10 ms).
func cpuTime(pid int) time.Duration {
	pids := []int{pid}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		var child int
		if _, err := fmt.Sscanf(e.Name(), "%d", &child); err != nil {
			continue
		}
		if f := procStat(child); len(f) > 4 && f[3] == fmt.Sprint(pid) {
			pids = append(pids, child)
		}
	}
	var ticks int64
	for _, p := range pids {
		f := procStat(p)
		if len(f) < 15 {
			continue
		}
		var u, s int64
		fmt.Sscanf(f[13], "%d", &u)
		fmt.Sscanf(f[14], "%d", &s)
		ticks += u + s
	}
	return time.Duration(ticks) * 10 * time.Millisecond
}

// procStat is /proc/pid/stat's fields (the command name, which may hold spaces, as one field).
func procStat(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil
	}
	s := string(b)
	i, j := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if i < 0 || j < i {
		return nil
	}
	return append([]string{s[:i-1], s[i+1 : j]}, strings.Fields(s[j+1:])...)
}

func freePort(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// startNginx runs nginx with TLS 1.3 (an Ed25519 certificate, like the provider's) proxying
// to backend with a keep-alive pool.
func startNginx(t *testing.T, backend string) (string, int) {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (tools/bench/provider.sh installs nginx-light)")
	}
	dir := t.TempDir()
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"localhost"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	kb, _ := x509.MarshalPKCS8PrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600)
	addr := freePort(t)
	conf := fmt.Sprintf(`worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path %[1]s/body;
  proxy_temp_path %[1]s/proxy;
  fastcgi_temp_path %[1]s/fastcgi;
  uwsgi_temp_path %[1]s/uwsgi;
  scgi_temp_path %[1]s/scgi;
  upstream backend { server %[2]s; keepalive 256; }
  server {
    listen %[3]s ssl;
    ssl_certificate %[1]s/cert.pem;
    ssl_certificate_key %[1]s/key.pem;
    ssl_protocols TLSv1.3;
    keepalive_requests 1000000;
    location / {
      proxy_pass http://backend;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffering off;
    }
  }
}
`, dir, backend, addr)
	path := filepath.Join(dir, "nginx.conf")
	_ = os.WriteFile(path, []byte(conf), 0o600)
	cmd := exec.Command(nginx, "-p", dir, "-c", path, "-g", "daemon off;")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// SIGTERM: nginx's fast shutdown, in which the master stops its workers (a SIGKILL would leave
	// them running).
	t.Cleanup(func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr, cmd.Process.Pid
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nginx did not start: %s", errb.String())
	return "", 0
}

func body(model string, stream bool) []byte {
	s := fmt.Sprintf(`{"model":%q,"messages":[{"role":"user","content":"hi"}],"max_tokens":8`, model)
	if stream {
		s += `,"max_tokens":16,"stream":true`
		s = strings.Replace(s, `"max_tokens":8,`, "", 1)
	}
	return []byte(s + "}")
}

// httpClient is every path's client: the same keep-alive pool, HTTP/1.1 (nginx is configured
// without h2 and the provider's RA-TLS listener offers only HTTP/1.1).
func httpClient(tc *tls.Config) *http.Client {
	return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 2 * concurrency, MaxConnsPerHost: 2 * concurrency,
		ForceAttemptHTTP2: false}, Timeout: time.Minute}
}

// do sends one request and reads the answer; for a stream it returns when the first content arrived
// (ttft) and then reads to the end.
func (tg *target) do(w int, b []byte) (ttft time.Duration, err error) {
	req, _ := http.NewRequest(http.MethodPost, tg.url+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	client := tg.client
	if tg.pay != nil {
		if c := tg.pay(w, req, b); c != nil {
			client = c
		}
	}
	t0 := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if tg.answered != nil {
		tg.answered(w, resp)
	}
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(resp.Body)
		return 0, fmt.Errorf("%s: HTTP %d: %s", tg.name, resp.StatusCode, msg)
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		r := bufio.NewReader(resp.Body)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return 0, fmt.Errorf("%s: the stream ended before any content: %v", tg.name, err)
			}
			if strings.Contains(line, `"content":"t`) {
				ttft = time.Since(t0)
				break
			}
		}
		_, err = io.Copy(io.Discard, r)
		return ttft, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	return time.Since(t0), err
}

func percentile(d []time.Duration, p float64) time.Duration {
	d = append([]time.Duration(nil), d...)
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(p*float64(len(d)-1))]
}

// sequential is concurrency 1: n requests to each target one after the other, in rounds of
// latencyRound per target in turn, after a warm-up of 50 each. It returns each target's times.
func sequential(t *testing.T, tgs []*target, n int, stream bool) [][]time.Duration {
	out := make([][]time.Duration, len(tgs))
	for i, tg := range tgs {
		if tg.presign != nil {
			tg.presign(body(tg.model, stream), n+100)
		}
		b := body(tg.model, stream)
		for j := 0; j < 50; j++ {
			if _, err := tg.do(0, b); err != nil {
				t.Fatal(err)
			}
		}
		out[i] = make([]time.Duration, 0, n)
	}
	round := latencyRound
	if stream {
		round /= 2
	}
	for done := 0; done < n; done += round {
		for i, tg := range tgs {
			b := body(tg.model, stream)
			for j := 0; j < round && done+j < n; j++ {
				d, err := tg.do(0, b)
				if err != nil {
					t.Fatal(err)
				}
				out[i] = append(out[i], d)
			}
		}
	}
	return out
}

// load runs conc workers on tg for d and returns the requests completed and the proxy's CPU time.
func load(t *testing.T, tg *target, conc int, d time.Duration) (int64, time.Duration) {
	b := body(tg.model, false)
	var done, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	var cpu0 time.Duration
	if tg.pid != 0 {
		cpu0 = cpuTime(tg.pid)
	}
	for w := 0; w < conc; w++ {
		wg.Go(func() {
			for time.Now().Before(stop) {
				if _, err := tg.do(w, b); err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%s: %d requests failed, first: %v", tg.name, failed.Load(), firstErr.Load())
	}
	var cpu time.Duration
	if tg.pid != 0 {
		cpu = cpuTime(tg.pid) - cpu0
	}
	return done.Load(), cpu
}

// throughput measures every target at conc for throughputFor each, in throughputRound slices taken
// in turn; it returns requests a second and the proxy's CPU time a request.
func throughput(t *testing.T, tgs []*target, conc int) ([]float64, []time.Duration) {
	slice := throughputFor / throughputRound
	for _, tg := range tgs {
		if tg.presign != nil {
			// Enough authorizations for 15,000 requests a second; more are signed as needed.
			tg.presign(body(tg.model, false), int(15_000*throughputFor/time.Second)/channels)
		}
		load(t, tg, conc, 300*time.Millisecond) // warm the pools
	}
	done := make([]int64, len(tgs))
	cpu := make([]time.Duration, len(tgs))
	for r := 0; r < throughputRound; r++ {
		for i, tg := range tgs {
			n, c := load(t, tg, conc, slice)
			done[i] += n
			cpu[i] += c
		}
	}
	rps := make([]float64, len(tgs))
	perReq := make([]time.Duration, len(tgs))
	for i := range tgs {
		rps[i] = float64(done[i]) / (time.Duration(throughputRound) * slice).Seconds()
		if done[i] > 0 {
			perReq[i] = cpu[i] / time.Duration(done[i])
		}
	}
	return rps, perReq
}

// runWrk measures url with wrk (POSTing body): p50 latency and requests a second.
func runWrk(t *testing.T, url string, body []byte, conc int) (string, string) {
	t.Helper()
	wrk, err := exec.LookPath("wrk")
	if err != nil {
		return "-", "-"
	}
	script := filepath.Join(t.TempDir(), "post.lua")
	_ = os.WriteFile(script, []byte(fmt.Sprintf("wrk.method = \"POST\"\nwrk.body = %q\nwrk.headers[\"Content-Type\"] = \"application/json\"\n", body)), 0o600)
	threads := min(conc, 2)
	out, err := exec.Command(wrk, fmt.Sprintf("-t%d", threads), fmt.Sprintf("-c%d", conc), "-d5s", "--latency", "-s", script, url).CombinedOutput()
	if err != nil {
		t.Fatalf("wrk: %v\n%s", err, out)
	}
	p50 := regexp.MustCompile(`(?m)^\s+50%\s+(\S+)`).FindSubmatch(out)
	rps := regexp.MustCompile(`(?m)^Requests/sec:\s+(\S+)`).FindSubmatch(out)
	if p50 == nil || rps == nil {
		t.Fatalf("wrk output: %s", out)
	}
	return string(p50[1]), string(rps[1])
}

func uptime() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// paidChannel is a channel the benchmark pays through: a voucher signed ahead (so that its
// workers' requests in flight are all covered) and authorizations signed before the clock starts.
type paidChannel struct {
	c       *providertest.Client
	voucher string
	auths   chan string
	// http presents the channel's key as its connections' client certificate; connAuth is set once
	// an answer said the provider takes it (requests then go unsigned).
	http     *http.Client
	connAuth atomic.Bool
}

func (pc *paidChannel) presign(b []byte, n int) {
	pc.auths = make(chan string, n)
	var wg sync.WaitGroup
	per := n / runtime.NumCPU()
	for g := 0; g < runtime.NumCPU(); g++ {
		wg.Go(func() {
			for i := 0; i < per; i++ {
				a, _ := payment.SignRequest(pc.c.Key, pc.c.Ch, http.MethodPost, "/v1/chat/completions", b, time.Now())
				pc.auths <- a
			}
		})
	}
	wg.Wait()
}

func (pc *paidChannel) auth(b []byte) string {
	select {
	case a := <-pc.auths:
		return a
	default:
		a, _ := payment.SignRequest(pc.c.Key, pc.c.Ch, http.MethodPost, "/v1/chat/completions", b, time.Now())
		return a
	}
}

// bench is what every provider of the run shares: the chain, its RPC and the fake backend.
type bench struct {
	t       *testing.T
	n       *providertest.Net
	rpc     string
	backend string
	pprof   string // COCOON_BENCH_PPROF
}

// startProvider runs the cocoon-provider binary bin as a process serving paid requests in front of
// the fake backend, with channels of its own (seeded by label), and returns it as a target.
// startProvider starts bin with the benchmark's configuration; srcDir, when set, is the source it was
// built from: config fields its provider/config.go does not name are left out (an older baseline
// refuses fields it does not know).
func (b *bench) startProvider(name, label, bin, srcDir string) *target {
	t := b.t
	dir := t.TempDir()
	cfg := b.n.Config(filepath.Join(dir, "data"))
	cfg.Chain, cfg.ChainClock = nil, nil
	cfg.Network, cfg.RPC = "devnet", b.rpc
	cfg.Backend = provider.BackendConfig{Kind: "upstream", URL: "http://" + b.backend + "/v1"}
	cfg.Models[0].Upstream, cfg.Models[0].ContextLength, cfg.Models[0].MaxConcurrent = "fake-model", 4096, 1024
	cfg.Models[0].PromptPriceTON, cfg.Models[0].CompletionPriceTON = "0.001", "0.001"
	cfg.Limits.ChannelRate, cfg.Limits.ChannelBurst = 1e6, 1e6
	cfg.LogLevel = "warn"
	cfgPath := filepath.Join(dir, "provider.json")
	if err := provider.WriteConfig(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	if srcDir != "" {
		keepKnownFields(t, cfgPath, filepath.Join(srcDir, "provider", "config.go"))
	}
	var env []string
	tg := &target{name: name, model: models.DefaultModelName}
	if b.pprof != "" {
		tg.pprof = freePort(t)
		env = append(env, "COCOON_PROVIDER_PPROF="+tg.pprof)
	}
	addr, pid := startProcess(t, regexp.MustCompile(`^serving on https://(\S+)/v1 `), os.Stderr, env, bin, "run", "--config", cfgPath)
	var paid []*paidChannel
	for i := 0; i < channels; i++ {
		c := b.n.OpenClient(fmt.Sprint("bench ", label, " ", i), "10").ConnectAddr(addr)
		paid = append(paid, &paidChannel{c: c, voucher: c.Voucher(providertest.TON("5"))})
	}
	tg.url, tg.pid = "https://"+addr+"/v1", pid
	tg.client = httpClient(paid[0].c.HTTP.Transport.(*http.Transport).TLSClientConfig)
	for _, pc := range paid {
		// Each channel's connections present its key (connection authorization), as the Go
		// client's do; its requests go unsigned once an answer said the provider takes them.
		cert, err := payment.ClientCertificate(pc.c.Key)
		if err != nil {
			t.Fatal(err)
		}
		tc := paid[0].c.HTTP.Transport.(*http.Transport).TLSClientConfig.Clone()
		tc.Certificates = []tls.Certificate{cert}
		pc.http = httpClient(tc)
	}
	channelOf := func(w int) *paidChannel { return paid[w*channels/concurrency%channels] }
	tg.pay = func(w int, req *http.Request, body []byte) *http.Client {
		pc := channelOf(w)
		req.Header.Set(payment.HeaderChannel, pc.c.Ch.StringRaw())
		req.Header.Set(voucher.HeaderVoucher, pc.voucher)
		if !pc.connAuth.Load() {
			req.Header.Set(payment.HeaderAuth, pc.auth(body))
		}
		return pc.http
	}
	tg.answered = func(w int, resp *http.Response) {
		if resp.Header.Get(payment.HeaderConnAuth) == "ok" {
			channelOf(w).connAuth.Store(true)
		}
	}
	tg.signed = &target{name: name + ", each request signed", model: tg.model, url: tg.url, client: tg.client, presign: tg.presign, pid: tg.pid,
		pay: func(w int, req *http.Request, body []byte) *http.Client {
			pc := channelOf(w)
			req.Header.Set(payment.HeaderChannel, pc.c.Ch.StringRaw())
			req.Header.Set(voucher.HeaderVoucher, pc.voucher)
			req.Header.Set(payment.HeaderAuth, pc.auth(body))
			return nil // tg.client: no client certificate
		}}
	tg.presign = func(body []byte, n int) {
		for _, pc := range paid {
			pc.presign(body, n)
		}
	}
	// The paid requests really were paid: every channel owes what its receipts said.
	tg.check = func(t *testing.T) {
		for _, pc := range paid {
			v := pc.c.View()
			if v.Owed == "0" || v.Reserved != "0" {
				t.Fatalf("%s: channel %s after the run: %+v", name, pc.c.Ch.StringRaw(), v)
			}
		}
	}
	return tg
}

// keepKnownFields drops the top-level fields of the config file at path that the config source at
// src does not declare.
func keepKnownFields(t *testing.T, path, src string) {
	t.Helper()
	code, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	for k := range fields {
		if !bytes.Contains(code, []byte(`json:"`+k)) {
			delete(fields, k)
		}
	}
	out, err := json.Marshal(fields)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, out, 0o600); err != nil {
		t.Fatal(err)
	}
}

// profile loads tg at concurrency conc for profileFor while its CPU, block and mutex profiles are
// taken (and the allocations meanwhile), and writes them to dir as <kind>-<label>-c<conc>.pprof.
func profile(t *testing.T, tg *target, label, dir string, conc int) {
	if tg.presign != nil {
		tg.presign(body(tg.model, false), int(15_000*profileFor/time.Second)/channels)
	}
	secs := int(profileFor / time.Second)
	var wg sync.WaitGroup
	for _, kind := range []string{"profile", "block", "mutex", "allocs"} {
		wg.Go(func() {
			resp, err := http.Get(fmt.Sprintf("http://%s/debug/pprof/%s?seconds=%d", tg.pprof, kind, secs))
			if err != nil {
				t.Errorf("pprof %s: %v", kind, err)
				return
			}
			defer resp.Body.Close()
			if kind == "profile" {
				kind = "cpu"
			}
			f, err := os.Create(filepath.Join(dir, fmt.Sprintf("%s-%s-c%d.pprof", kind, label, conc)))
			if err != nil {
				t.Error(err)
				return
			}
			defer f.Close()
			_, _ = io.Copy(f, resp.Body)
		})
	}
	time.Sleep(100 * time.Millisecond)
	if resp, err := http.Get("http://" + tg.pprof + "/debug/phases?reset=1"); err == nil {
		resp.Body.Close()
	}
	n, _ := load(t, tg, conc, profileFor)
	wg.Wait()
	t.Logf("profiled %s at concurrency %d: %d requests", label, conc, n)
	if resp, err := http.Get("http://" + tg.pprof + "/debug/phases"); err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Logf("phases of %s at concurrency %d:\n%s", label, conc, b)
		}
	}
}

func TestProviderBenchmark(t *testing.T) {
	if os.Getenv("COCOON_BENCH") == "" {
		t.Skip("run by tools/bench/provider.sh (make bench)")
	}
	loadBefore := uptime()
	root, _ := filepath.Abs("../..")
	dir := t.TempDir()
	b := &bench{t: t, pprof: os.Getenv("COCOON_BENCH_PPROF")}
	var tags []string
	if b.pprof != "" {
		tags = []string{"cocoon_pprof"}
		if err := os.MkdirAll(b.pprof, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	goBuild(t, root, "./cmd/cocoon-provider", filepath.Join(dir, "cocoon-provider"), tags...)
	goBuild(t, root, "./tools/fakeupstream", filepath.Join(dir, "fakeupstream"))
	goBuild(t, root, "./tools/gotlsproxy", filepath.Join(dir, "gotlsproxy"))
	baseRef, baseRev, baseSrc := os.Getenv("COCOON_BENCH_BASELINE"), "", ""
	if baseRef != "" {
		baseSrc, baseRev = checkout(t, root, baseRef)
		src := baseSrc
		if tags != nil {
			// The profiling hook may be newer than the baseline: add it.
			hook, _ := os.ReadFile(filepath.Join(root, "provider", "pprof_debug.go"))
			_ = os.WriteFile(filepath.Join(src, "provider", "pprof_debug.go"), hook, 0o644)
		}
		goBuild(t, src, "./cmd/cocoon-provider", filepath.Join(dir, "cocoon-provider-base"), tags...)
	}
	b.backend, _ = startProcess(t, regexp.MustCompile(`^listening on http://(\S+)$`), os.Stderr, nil, filepath.Join(dir, "fakeupstream"))
	nginx, nginxPid := startNginx(t, b.backend)
	goProxy, goProxyPid := startProcess(t, regexp.MustCompile(`^listening on https://(\S+)$`), os.Stderr, nil,
		filepath.Join(dir, "gotlsproxy"), "--backend", "http://"+b.backend)
	leanProxy, leanProxyPid := startProcess(t, regexp.MustCompile(`^listening on https://(\S+)$`), os.Stderr, nil,
		filepath.Join(dir, "gotlsproxy"), "--lean", "--backend", "http://"+b.backend)

	// The chain: prices of 0.001 TON per 1M tokens, so the deposits last the whole run.
	prices := payment.Prices{Prompt: big.NewInt(1_000_000), Completion: big.NewInt(1_000_000)}
	b.n = providertest.NewNet(t, providertest.Options{Prices: &prices, BlockInterval: 200 * time.Millisecond})
	rpc := httptest.NewServer(b.n.D.Handler())
	t.Cleanup(rpc.Close)
	b.rpc = rpc.URL

	direct := &target{name: "backend directly (HTTP)", url: "http://" + b.backend + "/v1", model: "fake-model", client: httpClient(nil)}
	viaNginx := &target{name: "nginx, TLS 1.3", pid: nginxPid, url: "https://" + nginx + "/v1", model: "fake-model",
		client: httpClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})}
	viaGo := &target{name: "Go TLS 1.3 reverse proxy, no payment (reference)", pid: goProxyPid, url: "https://" + goProxy + "/v1", model: "fake-model",
		client: httpClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})}
	viaLean := &target{name: "Go TLS 1.3 proxy without net/http, no payment (reference)", pid: leanProxyPid, url: "https://" + leanProxy + "/v1",
		model: "fake-model", client: httpClient(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})}
	viaProvider := b.startProvider("provider, paid (RA-TLS)", "new", filepath.Join(dir, "cocoon-provider"), "")
	tgs := []*target{direct, viaNginx, viaGo, viaLean, viaProvider}
	providers := []*target{viaProvider} // profiled and checked: the new one, then the baseline
	if baseRef != "" {
		base := b.startProvider(fmt.Sprintf("provider before (%s)", baseRev), "base", filepath.Join(dir, "cocoon-provider-base"), baseSrc)
		tgs, providers = append(tgs, base), append(providers, base)
	}
	tgs = append(tgs, viaProvider.signed)

	// The durability floor on this disk, in the same run (fsync_test.go).
	floor := t.TempDir()
	fd, pb := fdatasyncTimes(t, floor, 1000), pebbleSyncTimes(t, floor, 1000)

	lat := sequential(t, tgs, latencyRequests, false)
	ttft := sequential(t, tgs, ttftRequests, true)
	rps, cpu := throughput(t, tgs, concurrency)
	type row struct {
		name                  string
		p50, p90, p99, ttft50 time.Duration
		rps                   float64
		cpu                   time.Duration
	}
	var rows []row
	for i, tg := range tgs {
		r := row{name: tg.name, p50: percentile(lat[i], 0.5), p90: percentile(lat[i], 0.9), p99: percentile(lat[i], 0.99),
			ttft50: percentile(ttft[i], 0.5), rps: rps[i], cpu: cpu[i]}
		rows = append(rows, r)
		t.Logf("%s: p50 %v p90 %v p99 %v, ttft p50 %v, %.0f req/s at concurrency %d, proxy CPU %v a request", r.name, r.p50, r.p90, r.p99, r.ttft50, r.rps, concurrency, r.cpu)
	}
	// wrk's view of the two free paths (wrk cannot sign paid requests).
	type wrkRow struct{ name, p50, rps string }
	var wrkRows []wrkRow
	for _, tg := range []*target{direct, viaNginx} {
		p50, _ := runWrk(t, tg.url+"/chat/completions", body(tg.model, false), 1)
		_, rps := runWrk(t, tg.url+"/chat/completions", body(tg.model, false), concurrency)
		wrkRows = append(wrkRows, wrkRow{tg.name, p50, rps})
	}
	if b.pprof != "" {
		for i, tg := range providers {
			label := []string{"new", "base"}[i]
			profile(t, tg, label, b.pprof, 1)
			profile(t, tg, label, b.pprof, concurrency)
		}
		t.Logf("profiles in %s (go tool pprof -top FILE)", b.pprof)
	}
	for _, tg := range providers {
		tg.check(t)
	}
	loadAfter := uptime()

	us := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
	var out strings.Builder
	fmt.Fprintf(&out, "Run %s, Go %s, %d cores; load average (1, 5, 15 min) %s before, %s after (other jobs share the machine). ",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.Version(), runtime.NumCPU(), loadBefore, loadAfter)
	fmt.Fprintf(&out, "Paths measured in turn: rounds of %d sequential requests (%d streams) per path, %d slices of %v per path at concurrency %d.\n\n",
		latencyRound, latencyRound/2, throughputRound, throughputFor/throughputRound, concurrency)
	fmt.Fprintf(&out, "| path | p50 | p90 | p99 | added p50 | TTFT p50 (stream) | added TTFT | req/s at concurrency %d | proxy CPU a request |\n|---|---|---|---|---|---|---|---|---|\n", concurrency)
	for _, r := range rows {
		c := "-"
		if r.cpu > 0 {
			c = fmt.Sprintf("%d µs", r.cpu.Microseconds())
		}
		fmt.Fprintf(&out, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s |\n", r.name, us(r.p50), us(r.p90), us(r.p99), us(r.p50-rows[0].p50),
			us(r.ttft50), us(r.ttft50-rows[0].ttft50), r.rps, c)
	}
	fmt.Fprintf(&out, "\nDurability floor on this disk (alone, same run): fdatasync of 128 bytes in a preallocated file p50 %s (p90 %s); a Pebble `Set` with `Sync` on a fresh store p50 %s (p90 %s).\n",
		us(percentile(fd, 0.5)), us(percentile(fd, 0.9)), us(percentile(pb, 0.5)), us(percentile(pb, 0.9)))
	fmt.Fprintf(&out, "\nwrk (5 s; concurrency 1 for p50, %d for req/s):\n\n| path | p50 | req/s |\n|---|---|---|\n", concurrency)
	for _, r := range wrkRows {
		fmt.Fprintf(&out, "| %s | %s | %s |\n", r.name, r.p50, r.rps)
	}
	nginxAdded := rows[1].p50 - rows[0].p50
	out.WriteString("\n")
	for _, r := range rows[2:] {
		goal := ""
		if r.name != viaGo.name && r.name != viaLean.name {
			goal = " (goal ≤ 2)"
		}
		fmt.Fprintf(&out, "%s: added p50 / nginx-TLS's **%.2f×**%s, added TTFT / nginx-TLS's %.2f×, throughput / nginx-TLS's **%.2f**%s.\n",
			r.name, float64(r.p50-rows[0].p50)/float64(nginxAdded), goal, float64(r.ttft50-rows[0].ttft50)/float64(rows[1].ttft50-rows[0].ttft50), r.rps/rows[1].rps, strings.Replace(goal, "≤ 2", "≥ 1/3", 1))
	}
	t.Log("\n" + out.String())
	if path := os.Getenv("COCOON_BENCH_OUT"); path != "" {
		if err := os.WriteFile(path, []byte(out.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
