package provider_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/backend/upstream"
	"github.com/cocoon-go/cocoon/inference/httpapi"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/openai"
	"github.com/cocoon-go/cocoon/provider"
)

func defaultModel(pin string) *embedded.Config {
	return &embedded.Config{ModelName: models.DefaultModelName, Weights: models.DefaultGGUF(), ExpectedSHA256: pin, Threads: 1}
}

// start starts cfg on a free loopback port with the simulated TEE and stops it when the test ends.
// The server logs into the returned file (each line one write, so the test may read it any time).
func start(t *testing.T, cfg provider.Config) (*provider.Server, string) {
	t.Helper()
	logs := filepath.Join(t.TempDir(), "provider.log")
	f, err := os.Create(logs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	cfg.Listen, cfg.SimulatedTEE = "127.0.0.1:0", true
	cfg.Logger = slog.New(slog.NewTextHandler(f, nil))
	s, err := provider.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Stop(context.Background()) })
	return s, logs
}

// raTLSClient accepts only a provider whose certificate carries valid evidence for the devnet's
// simulated image; claims receives what the handshake verified.
func raTLSClient(t *testing.T, claims **attest.Claims) (*http.Client, *attest.Verifier) {
	t.Helper()
	roots, err := attest.DefaultRoots()
	if err != nil {
		t.Fatal(err)
	}
	v, err := attest.NewVerifier(attest.Policy{AllowSim: true, Roots: roots,
		Allowed: map[[32]byte]attest.Kind{attest.SimMeasurement(attest.DevnetSimImage): attest.KindSim}})
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(func(c *attest.Claims) { *claims = c })}}
	t.Cleanup(c.CloseIdleConnections)
	return c, v
}

func TestServesOpenAIOverRATLS(t *testing.T) {
	s, logs := start(t, provider.Config{Embedded: defaultModel(models.DefaultSHA256)})
	in := s.Info()
	if in.Kind != attest.KindSim || in.Measurement != attest.SimMeasurement(attest.DevnetSimImage) || len(in.Models) != 1 ||
		in.Models[0].Name != models.DefaultModelName || in.Models[0].WeightsSHA256 != models.DefaultSHA256 || in.Models[0].Catalog != nil {
		t.Fatalf("info %+v", in)
	}
	var claims *attest.Claims
	client, v := raTLSClient(t, &claims)
	base := "https://" + in.Addr
	resp, err := client.Post(base+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"cocoon-kjv-demo-1m","messages":[{"role":"user","content":"Hello"}],"max_tokens":4,"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c openai.ChatCompletion
	if resp.StatusCode != 200 || json.Unmarshal(body, &c) != nil || c.Usage.CompletionTokens != 4 ||
		c.SystemFingerprint != httpapi.Fingerprint(models.DefaultSHA256) {
		t.Fatalf("chat: %d %s", resp.StatusCode, body)
	}
	if claims == nil || !claims.Simulated || claims.TLSKeyHash != in.TLSKeyHash {
		t.Fatalf("handshake claims %+v, want simulated with key hash %x", claims, in.TLSKeyHash)
	}
	// Fresh evidence over the same listener, and OpenAI's 404 elsewhere.
	fresh, err := v.FetchFreshEvidence(context.Background(), client, base, []byte("nonce"))
	if err != nil || fresh.TLSKeyHash != in.TLSKeyHash {
		t.Fatalf("fresh evidence: %+v %v", fresh, err)
	}
	resp, err = client.Get(base + "/v1/embeddings")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("unknown path: %d", resp.StatusCode)
	}
	// Every line the provider logs says it is simulated, the request's usage included.
	b, err := os.ReadFile(logs)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if !strings.Contains(out, "level=WARN msg=\"SIMULATED TEE") || !strings.Contains(out, "msg=\"inference done\"") {
		t.Fatalf("logs:\n%s", out)
	}
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if !strings.Contains(line, `tee="sim (SIMULATED, NOT A TEE)"`) {
			t.Fatalf("log line without the simulated TEE: %s", line)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Wait(ctx); err != nil {
		t.Fatalf("Wait after cancel: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := client.Get(base + "/v1/models"); err == nil {
		t.Fatal("still serving after Stop")
	}
}

// catalog is a registry's catalog as the provider sees it: ResolveModel over fixed entries.
type catalog []contracts.Model

func (c catalog) ResolveModel(_ context.Context, name string) (contracts.Model, error) {
	return contracts.FindModel(c, name)
}

func TestRegistryCheck(t *testing.T) {
	sha, _ := hex.DecodeString(models.DefaultSHA256)
	other := bytes.Repeat([]byte{0xab}, 32)
	demo := contracts.Model{ID: 5, WeightsHash: sha, Name: models.DefaultModelName}

	// The catalog's hash pins the embedded weights when the operator gives none.
	s, _ := start(t, provider.Config{Embedded: defaultModel(""), Registry: catalog{demo}})
	if m := s.Info().Models[0]; m.Catalog == nil || m.Catalog.ID != 5 {
		t.Fatalf("served %+v", m)
	}

	cases := []struct {
		name string
		cfg  provider.Config
		want error
	}{
		{"not in the catalog", provider.Config{Embedded: defaultModel(""), Registry: catalog{{ID: 1, WeightsHash: sha, Name: "other"}}}, contracts.ErrUnknownModel},
		{"ambiguous name", provider.Config{Embedded: defaultModel(""), Registry: catalog{demo, {ID: 9, WeightsHash: other, Name: models.DefaultModelName}}}, contracts.ErrAmbiguousModel},
		{"catalog lists other weights", provider.Config{Embedded: defaultModel(""), Registry: catalog{{ID: 5, WeightsHash: other, Name: models.DefaultModelName}}}, backend.ErrHashMismatch},
		{"pin disagrees with the catalog", provider.Config{Embedded: defaultModel(hex.EncodeToString(other)), Registry: catalog{demo}}, backend.ErrHashMismatch},
		{"upstream name ambiguous", provider.Config{Registry: catalog{{ID: 1, Name: "a"}, {ID: 2, Name: "a"}},
			Upstream: &upstream.Config{BaseURL: "http://127.0.0.1:1/v1", Models: map[string]string{"a": "x"}}}, contracts.ErrAmbiguousModel},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg.Listen, c.cfg.SimulatedTEE = "127.0.0.1:0", true
			c.cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
			s, err := provider.New(c.cfg)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Start(context.Background()); !errors.Is(err, c.want) {
				t.Fatalf("Start: %v, want %v", err, c.want)
			}
			if err := s.Stop(context.Background()); err != nil {
				t.Fatalf("Stop after a failed Start: %v", err)
			}
		})
	}
}

// An upstream-backed provider serves the names the registry lists, forwarding to the upstream's names.
func TestUpstreamBackend(t *testing.T) {
	emb, err := embedded.New(*defaultModel(models.DefaultSHA256))
	if err != nil {
		t.Fatal(err)
	}
	up := httptest.NewServer(httpapi.NewHandler(emb))
	t.Cleanup(up.Close)
	s, _ := start(t, provider.Config{
		Upstream: &upstream.Config{BaseURL: up.URL + "/v1", Models: map[string]string{"kjv": models.DefaultModelName}},
		Registry: catalog{{ID: 3, WeightsHash: bytes.Repeat([]byte{1}, 32), Name: "kjv"}},
	})
	in := s.Info()
	if len(in.Models) != 1 || in.Models[0].Name != "kjv" || in.Models[0].WeightsSHA256 != "" || in.Models[0].Catalog.ID != 3 {
		t.Fatalf("info %+v", in)
	}
	var claims *attest.Claims
	client, _ := raTLSClient(t, &claims)
	resp, err := client.Post("https://"+in.Addr+"/v1/completions", "application/json",
		strings.NewReader(`{"model":"kjv","prompt":"In the beginning","max_tokens":3,"temperature":0}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var c openai.Completion
	if resp.StatusCode != 200 || json.Unmarshal(body, &c) != nil || c.Model != "kjv" || c.Usage.CompletionTokens != 3 || c.SystemFingerprint != "" {
		t.Fatalf("completion: %d %s", resp.StatusCode, body)
	}
}

func TestConfigCheck(t *testing.T) {
	up := &upstream.Config{BaseURL: "http://127.0.0.1:8000/v1", Models: map[string]string{"a": "b"}}
	cases := []struct {
		name string
		cfg  provider.Config
		want string
	}{
		{"no listen", provider.Config{Embedded: defaultModel("x")}, "listen address"},
		{"no backend", provider.Config{Listen: ":0"}, "no backend"},
		{"two backends", provider.Config{Listen: ":0", Embedded: defaultModel("x"), Upstream: up}, "choose one"},
		{"unpinned weights", provider.Config{Listen: ":0", Embedded: defaultModel("")}, "not pinned"},
		{"bad upstream", provider.Config{Listen: ":0", Upstream: &upstream.Config{BaseURL: "ftp://x"}}, "not an http(s) URL"},
		{"image without sim", provider.Config{Listen: ":0", Upstream: up, SimImage: [48]byte{1}}, "simulated TEE is not enabled"},
		{"negative validity", provider.Config{Listen: ":0", Upstream: up, CertValidity: -1}, "negative"},
	}
	for _, c := range cases {
		if _, err := provider.New(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", c.name, err, c.want)
		}
	}
	if _, err := provider.New(provider.Config{Listen: ":0", Upstream: up}); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}

// Without --simulated-tee a provider needs a real TEE: never a silent fallback to simulation.
func TestNoTEENoFallback(t *testing.T) {
	if _, err := attest.DetectAttester(); err == nil {
		t.Skip("this machine has a TEE")
	}
	s, err := provider.New(provider.Config{Listen: "127.0.0.1:0", Embedded: defaultModel(models.DefaultSHA256),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); !errors.Is(err, attest.ErrNoTEE) || !strings.Contains(err.Error(), "simulated TEE is for the devnet only") {
		t.Fatalf("Start without a TEE: %v", err)
	}
	if err := s.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
}
