package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
)

func TestVersionAndUsage(t *testing.T) {
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "cocoon-provider ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		nil,
		{"version", "extra"},
		{"explorer"},
		{"serve", "--upstream-model", "a=b"},
		{"serve", "--upstream-model", "nonsense"},
		{"serve", "--upstream", "http://127.0.0.1:1/v1"}, // maps no models
		{"serve", "--upstream", "http://127.0.0.1:1/v1", "--upstream-model", "a=b", "--model", "x.gguf"},
		{"serve", "--registry", "not-an-address"},
		{"serve", "stray"},
	} {
		var out, errb strings.Builder
		if code := run(context.Background(), args, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q, want 2 and a message", args, code, errb.String())
		}
	}
}

// A GGUF file without a pinned hash is refused: a provider must serve the weights it bills for.
func TestServeRefusesUnpinnedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(path, models.DefaultGGUF(), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errb strings.Builder
	code := run(context.Background(), []string{"serve", "--simulated-tee", "--model", path, "--listen", "127.0.0.1:0"}, &out, &errb)
	if code != 2 || !strings.Contains(errb.String(), "not pinned") {
		t.Fatalf("exit %d, stderr %q", code, errb.String())
	}
}

// serve runs until its context ends; a verifying client sees simulated evidence and gets answers.
func TestServeSimulated(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--simulated-tee", "--listen", "127.0.0.1:0", "--threads", "1"}, pw, io.Discard)
		pw.Close()
	}()
	sc := bufio.NewScanner(pr)
	var lines []string
	addr := ""
	for addr == "" && sc.Scan() {
		lines = append(lines, sc.Text())
		if m := regexp.MustCompile(`^serving on (https://[0-9.:]+)/v1 \(RA-TLS, sim \(SIMULATED, NOT A TEE\)\)$`).FindStringSubmatch(sc.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatalf("no address in %q (exit %v)", lines, <-done)
	}
	go func() { _, _ = io.Copy(io.Discard, pr) }()

	// RA-TLS itself is verified in the provider package's tests; here the certificate must at least say
	// what it is.
	var cn string
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error { cn = cs.PeerCertificates[0].Subject.CommonName; return nil }}}}
	defer client.CloseIdleConnections()
	resp, err := client.Post(addr+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"`+models.DefaultModelName+`","prompt":"In the beginning","max_tokens":2}`))
	if err != nil {
		t.Fatal(err)
	}
	var c openai.Completion
	err = json.NewDecoder(resp.Body).Decode(&c)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || c.Usage == nil || c.Usage.CompletionTokens != 2 {
		t.Fatalf("completion: %d %+v %v", resp.StatusCode, c, err)
	}
	if cn != "cocoon-ratls-sim-SIMULATED-NOT-A-TEE" {
		t.Fatalf("certificate CN %q", cn)
	}
	cancel()
	select {
	case code := <-done:
		if code != 0 {
			t.Fatalf("exit %d after cancel", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not stop")
	}
}
