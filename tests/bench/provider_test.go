// Package bench compares, in one run and against one fast fake backend on loopback, the backend
// reached directly, nginx with TLS 1.3 in front of it, and the provider daemon in front of it
// serving paid requests (RA-TLS, request authorization, voucher, admission, metering, receipt,
// Pebble sync). tools/bench/provider.sh runs it and writes docs/BENCHMARKS.md's provider section.
package bench

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
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
	concurrency     = 64
	throughputFor   = 6 * time.Second
	channels        = 4 // paid load spreads over this many channels (16 workers each at concurrency 64)
)

// target is one way to reach the backend.
type target struct {
	name   string
	url    string // API root, .../v1
	model  string
	client *http.Client
	// pay adds the payment headers for worker w (nil: free).
	pay func(w int, req *http.Request, body []byte)
	// pid is the proxy's process (0: none), whose CPU time per request is reported.
	pid int
}

func goBuild(t *testing.T, pkg, out string) {
	t.Helper()
	cmd := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", out, pkg)
	cmd.Dir = "../.."
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
}

// startProcess runs argv and waits for a line matching re on stdout; it returns the first group
// and the process id.
func startProcess(t *testing.T, re *regexp.Regexp, stderr io.Writer, argv ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stderr = stderr
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

// startNginx runs nginx with TLS 1.3 (an ECDSA P-256 certificate, like the provider's) proxying
// to backend with a keep-alive pool.
func startNginx(t *testing.T, backend string) (string, int) {
	t.Helper()
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not installed (tools/bench/provider.sh installs nginx-light)")
	}
	dir := t.TempDir()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bench"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour), DNSNames: []string{"localhost"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	kb, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
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

// do sends one request and reads the answer; for a stream it returns when the first content arrived
// (ttft) and then reads to the end.
func (tg *target) do(w int, b []byte) (ttft time.Duration, err error) {
	req, _ := http.NewRequest(http.MethodPost, tg.url+"/chat/completions", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if tg.pay != nil {
		tg.pay(w, req, b)
	}
	t0 := time.Now()
	resp, err := tg.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
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
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[int(p*float64(len(d)-1))]
}

// sequential is concurrency 1: n requests one after the other, after a warm-up.
func sequential(t *testing.T, tg *target, n int, stream bool) []time.Duration {
	b := body(tg.model, stream)
	for i := 0; i < 50; i++ {
		if _, err := tg.do(0, b); err != nil {
			t.Fatal(err)
		}
	}
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		d, err := tg.do(0, b)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	return out
}

// throughput runs conc workers for d and returns completed requests a second, and the proxy's CPU
// time per request.
func throughput(t *testing.T, tg *target, conc int, d time.Duration) (float64, time.Duration) {
	b := body(tg.model, false)
	var done, failed atomic.Int64
	var firstErr atomic.Value
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	t0 := time.Now()
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
	var perReq time.Duration
	if tg.pid != 0 {
		perReq = (cpuTime(tg.pid) - cpu0) / time.Duration(done.Load())
	}
	return float64(done.Load()) / time.Since(t0).Seconds(), perReq
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

func TestProviderBenchmark(t *testing.T) {
	if os.Getenv("COCOON_BENCH") == "" {
		t.Skip("run by tools/bench/provider.sh (make bench)")
	}
	loadBefore := uptime()
	dir := t.TempDir()
	goBuild(t, "./cmd/cocoon-provider", filepath.Join(dir, "cocoon-provider"))
	goBuild(t, "./tools/fakeupstream", filepath.Join(dir, "fakeupstream"))
	backend, _ := startProcess(t, regexp.MustCompile(`^listening on http://(\S+)$`), os.Stderr, filepath.Join(dir, "fakeupstream"))
	nginx, nginxPid := startNginx(t, backend)

	// The chain: prices of 0.001 TON per 1M tokens, so the deposits last the whole run.
	prices := payment.Prices{Prompt: big.NewInt(1_000_000), Completion: big.NewInt(1_000_000)}
	n := providertest.NewNet(t, providertest.Options{Prices: &prices, BlockInterval: 200 * time.Millisecond})
	rpc := httptest.NewServer(n.D.Handler())
	t.Cleanup(rpc.Close)
	cfg := n.Config(filepath.Join(dir, "data"))
	cfg.Chain, cfg.ChainClock = nil, nil
	cfg.Network, cfg.RPC = "devnet", rpc.URL
	cfg.Backend = provider.BackendConfig{Kind: "upstream", URL: "http://" + backend + "/v1"}
	cfg.Models[0].Upstream, cfg.Models[0].ContextLength, cfg.Models[0].MaxConcurrent = "fake-model", 4096, 1024
	cfg.Models[0].PromptPriceTON, cfg.Models[0].CompletionPriceTON = "0.001", "0.001"
	cfg.Limits.ChannelRate, cfg.Limits.ChannelBurst = 1e6, 1e6
	cfg.LogLevel = "warn"
	cfgPath := filepath.Join(dir, "provider.json")
	if err := provider.WriteConfig(cfgPath, cfg); err != nil {
		t.Fatal(err)
	}
	provAddr, provPid := startProcess(t, regexp.MustCompile(`^serving on https://(\S+)/v1 `), os.Stderr, filepath.Join(dir, "cocoon-provider"), "run", "--config", cfgPath)

	var paid []*paidChannel
	for i := 0; i < channels; i++ {
		c := n.OpenClient(fmt.Sprint("bench ", i), "10").ConnectAddr(provAddr)
		paid = append(paid, &paidChannel{c: c, voucher: c.Voucher(providertest.TON("5"))})
	}
	transport := func(tc *tls.Config) *http.Client {
		return &http.Client{Transport: &http.Transport{TLSClientConfig: tc, MaxIdleConnsPerHost: 2 * concurrency, MaxConnsPerHost: 2 * concurrency,
			ForceAttemptHTTP2: false}, Timeout: time.Minute}
	}
	direct := &target{name: "backend directly (HTTP)", pid: 0, url: "http://" + backend + "/v1", model: "fake-model", client: transport(nil)}
	viaNginx := &target{name: "nginx, TLS 1.3", pid: nginxPid, url: "https://" + nginx + "/v1", model: "fake-model",
		client: transport(&tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})}
	viaProvider := &target{name: "provider, paid (RA-TLS)", pid: provPid, url: "https://" + provAddr + "/v1", model: models.DefaultModelName,
		client: &http.Client{Transport: &http.Transport{TLSClientConfig: paid[0].c.HTTP.Transport.(*http.Transport).TLSClientConfig,
			MaxIdleConnsPerHost: 2 * concurrency, MaxConnsPerHost: 2 * concurrency}, Timeout: time.Minute},
		pay: func(w int, req *http.Request, b []byte) {
			pc := paid[w*channels/concurrency%channels]
			req.Header.Set(payment.HeaderChannel, pc.c.Ch.StringRaw())
			req.Header.Set(voucher.HeaderVoucher, pc.voucher)
			req.Header.Set(payment.HeaderAuth, pc.auth(b))
		}}
	presign := func(stream bool, perChannel int) {
		for _, pc := range paid {
			pc.presign(body(models.DefaultModelName, stream), perChannel)
		}
	}

	type row struct {
		name                  string
		p50, p90, p99, ttft50 time.Duration
		rps                   float64
		cpu                   time.Duration
	}
	var rows []row
	for _, tg := range []*target{direct, viaNginx, viaProvider} {
		r := row{name: tg.name}
		if tg.pay != nil {
			presign(false, latencyRequests+100)
		}
		lat := sequential(t, tg, latencyRequests, false)
		r.p50, r.p90, r.p99 = percentile(lat, 0.5), percentile(lat, 0.9), percentile(lat, 0.99)
		if tg.pay != nil {
			presign(true, ttftRequests+100)
		}
		r.ttft50 = percentile(sequential(t, tg, ttftRequests, true), 0.5)
		if tg.pay != nil {
			presign(false, 40000/channels)
		}
		r.rps, r.cpu = throughput(t, tg, concurrency, throughputFor)
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
	// The paid requests really were paid: every channel owes what its receipts said.
	for _, pc := range paid {
		v := pc.c.View()
		if v.Owed == "0" || v.Reserved != "0" {
			t.Fatalf("channel %s after the run: %+v", pc.c.Ch.StringRaw(), v)
		}
	}
	loadAfter := uptime()

	us := func(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d.Microseconds())/1000) }
	nginxAdded, provAdded := rows[1].p50-rows[0].p50, rows[2].p50-rows[0].p50
	var b strings.Builder
	fmt.Fprintf(&b, "Run %s, Go %s, %d cores; load average (1, 5, 15 min) %s before, %s after (other jobs share the machine).\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 UTC"), runtime.Version(), runtime.NumCPU(), loadBefore, loadAfter)
	fmt.Fprintf(&b, "| path | p50 | p90 | p99 | added p50 | TTFT p50 (stream) | added TTFT | req/s at concurrency %d | proxy CPU a request |\n|---|---|---|---|---|---|---|---|---|\n", concurrency)
	for _, r := range rows {
		cpu := "-"
		if r.cpu > 0 {
			cpu = fmt.Sprintf("%d µs", r.cpu.Microseconds())
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %.0f | %s |\n", r.name, us(r.p50), us(r.p90), us(r.p99), us(r.p50-rows[0].p50),
			us(r.ttft50), us(r.ttft50-rows[0].ttft50), r.rps, cpu)
	}
	fmt.Fprintf(&b, "\nwrk (5 s; concurrency 1 for p50, %d for req/s):\n\n| path | p50 | req/s |\n|---|---|---|\n", concurrency)
	for _, r := range wrkRows {
		fmt.Fprintf(&b, "| %s | %s | %s |\n", r.name, r.p50, r.rps)
	}
	fmt.Fprintf(&b, "\nProvider's added p50 / nginx-TLS's: **%.2f×** (goal ≤ 2). Provider's throughput / nginx-TLS's: **%.2f** (goal ≥ 1/3).\n",
		float64(provAdded)/float64(nginxAdded), rows[2].rps/rows[1].rps)
	t.Log("\n" + b.String())
	if out := os.Getenv("COCOON_BENCH_OUT"); out != "" {
		if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
