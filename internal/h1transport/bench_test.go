package h1transport

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// benchAnswer is the benchmark server's answer: ~300 bytes of JSON, like a short completion.
var benchAnswer = []byte(`{"id":"cmpl-1","object":"text_completion","created":1765000000,"model":"m",` +
	`"choices":[{"index":0,"text":"In the beginning God created the heaven and the earth.","logprobs":null,` +
	`"finish_reason":"stop"}],"usage":{"prompt_tokens":4,"completion_tokens":12,"total_tokens":16},` +
	`"system_fingerprint":null,"service_tier":null,"kv_transfer_params":null,"pad":"` + strings.Repeat("x", 12) + `"}`)

const benchServerEnv = "H1TRANSPORT_BENCH_SERVER"

// TestBenchmarkServer is not a test: it is the benchmark's server when the benchmark runs this
// binary again with benchServerEnv set. It prints its address and serves until stdin closes.
func TestBenchmarkServer(t *testing.T) {
	if os.Getenv(benchServerEnv) == "" {
		t.Skip("the server process of BenchmarkRoundTrip")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	length := strconv.Itoa(len(benchAnswer))
	go http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", length)
		w.Write(benchAnswer)
	}))
	fmt.Println(ln.Addr())
	io.Copy(io.Discard, os.Stdin)
}

// BenchmarkRoundTrip compares this Transport with net/http's on the upstream hop's shape: a small
// JSON POST to a loopback server that answers ~300 bytes of JSON with a Content-Length, one
// request at a time through an http.Client with a cancellable context, as the upstream backend
// sends them. The server is another process, as vLLM is: in the same process its goroutines
// would share the scheduler with the client's and hide the cost of waking another process.
func BenchmarkRoundTrip(b *testing.B) {
	cmd := exec.Command(os.Args[0], "-test.run=^TestBenchmarkServer$", "-test.count=1")
	cmd.Env = append(os.Environ(), benchServerEnv+"=1")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		b.Fatal(err)
	}
	url := "http://" + strings.TrimSpace(addr) + "/v1/completions"
	body := []byte(`{"model":"m","prompt":"In the beginning","max_tokens":12,"temperature":0,"stream":false}`)

	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1transport", &Transport{ResponseHeaderTimeout: 2 * time.Minute}},
		// The upstream backend's Transport before this package.
		{"net-http", &http.Transport{
			Proxy:                 nil,
			DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:          256,
			MaxIdleConnsPerHost:   256,
			IdleConnTimeout:       90 * time.Second,
			ResponseHeaderTimeout: 2 * time.Minute,
			ForceAttemptHTTP2:     true,
		}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			client := &http.Client{Transport: tc.rt}
			defer client.CloseIdleConnections()
			buf := make([]byte, 1024)
			b.ReportAllocs()
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err != nil {
					b.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					b.Fatal(err)
				}
				if n, err := io.ReadFull(resp.Body, buf[:len(benchAnswer)]); err != nil || n != len(benchAnswer) {
					b.Fatal(n, err)
				}
				resp.Body.Close()
				cancel()
			}
		})
	}
}
