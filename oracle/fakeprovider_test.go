package oracle_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/attest"
)

// providerMode is how a fake provider behaves.
type providerMode int

const (
	// honest: a simulated TEE with the devnet's allowed image, fresh evidence for every nonce.
	honest providerMode = iota
	// otherImage: honest, but its image is not on the registry's allow-list.
	otherImage
	// foreignCertEvidence: its certificate carries evidence bound to another key than the certificate's.
	foreignCertEvidence
	// foreignFreshEvidence: its certificate is sound, but its fresh evidence binds another key.
	foreignFreshEvidence
	// replay: it answers every nonce with the evidence it once produced for an old nonce.
	replay
	// expiredCert: its RA-TLS certificate ran out (stale evidence).
	expiredCert
)

// fakeProvider is an RA-TLS server shaped like `cocoon-provider run` on the simulated TEE: the evidence
// endpoint and GET /v1/models.
type fakeProvider struct {
	ln   net.Listener
	srv  *http.Server
	URL  string
	Mode providerMode
}

var quiet = slog.New(slog.DiscardHandler)

func newFakeProvider(t *testing.T, mode providerMode) *fakeProvider {
	t.Helper()
	ctx := context.Background()
	image := attest.DevnetSimImage
	if mode == otherImage {
		image[0] ^= 0xff
	}
	ic := attest.IssuerConfig{Attester: attest.NewSimAttester(image), Logger: quiet}
	if mode == expiredCert {
		past := time.Now().Add(-48 * time.Hour)
		ic.Now = func() time.Time { return past }
	}
	is, err := attest.NewIssuer(ctx, ic)
	require.NoError(t, err)
	other, err := attest.NewIssuer(ctx, attest.IssuerConfig{Attester: attest.NewSimAttester(image), Logger: quiet})
	require.NoError(t, err)

	tlsCfg := is.TLSConfig()
	evidence := is.EvidenceHandler()
	switch mode {
	case foreignCertEvidence:
		// a certificate for a new key carrying the evidence of `is`'s key
		tlsCfg = &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{certWithEvidence(t, is.Evidence())}}
	case foreignFreshEvidence:
		evidence = other.EvidenceHandler()
	case replay:
		old := make([]byte, 32)
		_, _ = rand.Read(old)
		der, err := is.Fresh(ctx, old)
		require.NoError(t, err)
		kh := is.KeyHash()
		body, _ := json.Marshal(attest.EvidenceResponse{Version: 1, Kind: attest.KindSim, Simulated: true, Nonce: hex.EncodeToString(old),
			TLSKeyHash: hex.EncodeToString(kh[:]), Evidence: base64.StdEncoding.EncodeToString(der),
			CertificateEvidence: base64.StdEncoding.EncodeToString(is.Evidence())})
		evidence = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write(body)
		})
	}
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, evidence)
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"cocoon-kjv-demo-1m","object":"model","created":0,"owned_by":"cocoon"}]}`)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &fakeProvider{ln: ln, URL: "https://" + ln.Addr().String(), Mode: mode,
		srv: &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelDebug)}}
	go func() { _ = p.srv.Serve(tls.NewListener(ln, tlsCfg)) }()
	t.Cleanup(p.Stop)
	return p
}

// Stop takes the provider away (its address stays on-chain).
func (p *fakeProvider) Stop() { _ = p.srv.Close() }

// certWithEvidence is a self-signed certificate for a fresh Ed25519 key (a provider's kind)
// carrying der as its RA-TLS evidence extension.
func certWithEvidence(t *testing.T, der []byte) tls.Certificate {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cocoon-ratls-sim-SIMULATED-NOT-A-TEE"},
		NotBefore: now.Add(-time.Minute), NotAfter: now.Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, ExtraExtensions: []pkix.Extension{{Id: attest.OIDEvidence, Value: der}}}
	cert, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	require.NoError(t, err)
	return tls.Certificate{Certificate: [][]byte{cert}, PrivateKey: key}
}
