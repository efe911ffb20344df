// Package provider runs the official OpenAI SDK suite (../test) against the paid provider daemon,
// through payProxy: a thin local proxy that adds the payment headers and takes the payment out of
// the answers, as a client gateway does. run-provider.sh runs it.
package provider

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cocoon-go/cocoon/provider/providertest"
)

// payProxy forwards plain-HTTP OpenAI requests to the provider over RA-TLS with the channel's
// payment headers, one request at a time (the voucher it sends covers everything answered, so a
// second request in flight would need a voucher signed ahead). It strips usage.cocoon from the
// answers, and a paid stream's usage chunk when the app did not ask for include_usage, after
// taking what is owed from them.
type payProxy struct {
	t  *testing.T
	c  *providertest.Client
	mu sync.Mutex
}

func (p *payProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	defer p.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	var req *http.Request
	if r.Method == http.MethodPost {
		req = p.c.Request(r.Method, r.URL.RequestURI(), string(body), "")
	} else {
		var err error
		if req, err = http.NewRequest(r.Method, p.c.Base+r.URL.RequestURI(), bytes.NewReader(body)); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
	}
	req.Header.Set("Content-Type", r.Header.Get("Content-Type"))
	resp, err := p.c.HTTP.Do(req)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	defer resp.Body.Close()
	for k, vs := range resp.Header {
		if !strings.HasPrefix(k, "X-Cocoon-") && k != "Content-Length" {
			w.Header()[k] = vs
		}
	}
	if resp.StatusCode == http.StatusOK && strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		var asked struct {
			StreamOptions *struct {
				IncludeUsage bool `json:"include_usage"`
			} `json:"stream_options"`
		}
		_ = json.Unmarshal(body, &asked)
		p.stream(w, resp, asked.StreamOptions != nil && asked.StreamOptions.IncludeUsage)
		return
	}
	out, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == http.StatusOK && r.Method == http.MethodPost {
		out = p.unpay(out)
	}
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(out)
}

// unpay takes the payment out of an answer (or usage chunk) and learns what is owed from it.
func (p *payProxy) unpay(data []byte) []byte {
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil || len(doc["usage"]) == 0 || string(doc["usage"]) == "null" {
		return data
	}
	var usage map[string]json.RawMessage
	if json.Unmarshal(doc["usage"], &usage) != nil {
		return data
	}
	var pay struct {
		Owed string `json:"owed"`
	}
	if json.Unmarshal(usage["cocoon"], &pay) == nil && pay.Owed != "" {
		v := p.c.View() // the metered totals the next voucher reports
		if owed, ok := new(big.Int).SetString(pay.Owed, 10); ok && v.Owed == owed.String() {
			p.c.Learn(v)
		}
	}
	delete(usage, "cocoon")
	doc["usage"], _ = json.Marshal(usage)
	out, _ := json.Marshal(doc)
	return append(out, '\n')
}

func (p *payProxy) stream(w http.ResponseWriter, resp *http.Response, includeUsage bool) {
	w.WriteHeader(http.StatusOK)
	flush := func() { _ = http.NewResponseController(w).Flush() }
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			continue
		}
		if data != "[DONE]" && strings.Contains(data, `"cocoon":`) {
			out := p.unpay([]byte(data))
			if !includeUsage {
				continue // the paid stream's usage chunk, which the app did not ask for
			}
			data = strings.TrimSpace(string(out))
		}
		_, _ = io.WriteString(w, "data: "+data+"\n\n")
		flush()
	}
}

func TestOpenAISDKAgainstProviderE2E(t *testing.T) {
	if os.Getenv("COCOON_SDK_PROVIDER") == "" {
		t.Skip("run by tests/openai-client/run-provider.sh (needs the npm packages)")
	}
	n := providertest.NewNet(t, providertest.Options{})
	cfg := n.Config(t.TempDir())
	cfg.Limits.ChannelRate, cfg.Limits.ChannelBurst = 1000, 1000
	p, _ := n.StartProvider(cfg)
	c := n.OpenClient("sdk", "10").Connect(p)
	proxy := httptest.NewServer(&payProxy{t: t, c: c})
	t.Cleanup(proxy.Close)

	suite, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(n.Ctx, "node", "--test", "--test-concurrency=1",
		"test/chat.test.mjs", "test/completions.test.mjs", "test/errors.test.mjs", "test/sse.test.mjs")
	cmd.Dir = suite
	cmd.Env = append(os.Environ(), "COCOON_BASE_URL="+proxy.URL+"/v1")
	out, err := cmd.CombinedOutput()
	t.Logf("node --test:\n%s", out)
	if err != nil {
		t.Fatalf("the OpenAI SDK suite failed against the provider: %v", err)
	}
	// Every answer was paid for: the provider's account equals what the proxy learned.
	v := c.View()
	if v.Owed == "0" || v.Reserved != "0" {
		t.Fatalf("the provider's account after the suite: %+v", v)
	}
}
