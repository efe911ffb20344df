package attest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

type testServer struct{ URL string }

// evidenceServer serves the evidence endpoint over RA-TLS on loopback.
func evidenceServer(t *testing.T, is *Issuer) *testServer {
	t.Helper()
	mux := http.NewServeMux()
	mux.Handle(EvidencePath, is.EvidenceHandler())
	return serve(t, mux, is)
}

// serve runs h over RA-TLS with is's certificates. (httptest's StartTLS would install its own
// certificate next to GetCertificate.)
func serve(t *testing.T, h http.Handler, is *Issuer) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h, TLSConfig: is.TLSConfig(), ErrorLog: log.New(io.Discard, "", 0)}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return &testServer{URL: "https://" + ln.Addr().String()}
}

func TestEvidenceEndpointFresh(t *testing.T) {
	is := newSimIssuer(t, newTestGPUs(t))
	srv := evidenceServer(t, is)
	p := simPolicy()
	p.Roots.NVIDIA = is.cfg.GPU.(*testGPUs).roots
	p.RequireGPU = true
	v := newVerifier(t, p)
	var peer *Claims
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: v.ClientTLSConfig(func(c *Claims) { peer = c })}}
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	ctx := context.Background()

	c, err := v.FetchFreshEvidence(ctx, client, srv.URL, nonce)
	if err != nil {
		t.Fatal(err)
	}
	if peer == nil || peer.TLSKeyHash != is.KeyHash() {
		t.Fatal("request did not go over a verified RA-TLS connection")
	}
	if c.TLSKeyHash != is.KeyHash() || len(c.GPUs) != 1 || c.EvidenceDigest == peer.EvidenceDigest {
		t.Fatalf("fresh claims %+v", c)
	}

	// A relay: an RA-TLS server with its own (attested) key that forwards the real provider's fresh
	// evidence. The evidence binds the provider's key, not the relay's connection: refused.
	relay := newSimIssuer(t, is.cfg.GPU)
	mux := http.NewServeMux()
	mux.HandleFunc(EvidencePath, func(w http.ResponseWriter, r *http.Request) {
		resp, err := client.Get(srv.URL + EvidencePath + "?" + r.URL.RawQuery)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		_, _ = io.Copy(w, resp.Body)
	})
	relaySrv := serve(t, mux, relay)
	if _, err := v.FetchFreshEvidence(ctx, client, relaySrv.URL, nonce); !errors.Is(err, ErrReportData) {
		t.Fatalf("relayed evidence: got %v, want ErrReportData", err)
	}
	// Plain HTTP cannot tell which key answered.
	plain := httptest.NewServer(is.EvidenceHandler())
	defer plain.Close()
	if _, err := v.FetchFreshEvidence(ctx, http.DefaultClient, plain.URL, nonce); !errors.Is(err, ErrReportData) {
		t.Fatalf("plain HTTP: got %v, want ErrReportData", err)
	}

	// The JSON shape documented in PROTOCOL.md.
	resp, err := client.Get(srv.URL + EvidencePath + "?nonce=00ff")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var er EvidenceResponse
	if err := json.NewDecoder(resp.Body).Decode(&er); err != nil {
		t.Fatal(err)
	}
	if er.Version != 1 || er.Kind != KindSim || !er.Simulated || er.Nonce != "00ff" || er.CertificateEvidence != base64.StdEncoding.EncodeToString(is.Evidence()) {
		t.Fatalf("response %+v", er)
	}
	der, _ := base64.StdEncoding.DecodeString(er.Evidence)
	if _, err := v.VerifyBytes(ctx, der, Binding{KeyHash: is.KeyHash(), Challenge: []byte{0x00, 0xff}}); err != nil {
		t.Fatal(err)
	}
	if _, err := v.VerifyBytes(ctx, der, Binding{KeyHash: is.KeyHash(), Challenge: []byte{0x00, 0xfe}}); !errors.Is(err, ErrReportData) {
		t.Fatalf("other challenge: got %v, want ErrReportData", err)
	}
}

func TestEvidenceEndpointBadRequests(t *testing.T) {
	is := newSimIssuer(t, nil)
	h := is.EvidenceHandler()
	for _, tc := range []struct {
		method, query string
		want          int
	}{
		{http.MethodGet, "", http.StatusBadRequest},
		{http.MethodGet, "nonce=zz", http.StatusBadRequest},
		{http.MethodGet, "nonce=" + string(make([]byte, 0)) + "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00", http.StatusBadRequest},
		{http.MethodPost, "nonce=00", http.StatusMethodNotAllowed},
		{http.MethodGet, "nonce=00", http.StatusOK},
	} {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tc.method, EvidencePath+"?"+tc.query, nil))
		if rec.Code != tc.want {
			t.Errorf("%s ?%s: status %d, want %d (%s)", tc.method, tc.query, rec.Code, tc.want, rec.Body)
		}
	}
}
