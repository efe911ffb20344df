package indexertest

import (
	"crypto/tls"
	"log/slog"
	"net"
	"net/http"

	"github.com/cocoon-go/cocoon/attest"
)

// SimMeasurement is the measurement of the devnet's simulated TEE image, which SimProvider runs
// and oracles started with --allow-sim accept once the registry allows it.
func SimMeasurement() []byte {
	m := attest.SimMeasurement(attest.DevnetSimImage)
	return m[:]
}

// SimProvider is a provider endpoint as oracles see it, without a model behind it: RA-TLS from a
// simulated TEE of the devnet image, the fresh-evidence endpoint and GET /v1/models (what an
// oracle's probe asks). Stop takes it away: its probes fail from then on.
type SimProvider struct {
	// URL is the endpoint to publish (SetEndpoint): https://127.0.0.1:<port>.
	URL string
	srv *http.Server
}

// SimProvider starts one, stopped with the test.
func (n *Net) SimProvider() *SimProvider {
	n.T.Helper()
	quiet := slog.New(slog.DiscardHandler)
	issuer, err := attest.NewIssuer(n.Ctx, attest.IssuerConfig{Attester: attest.NewSimAttester(attest.DevnetSimImage), Logger: quiet})
	if err != nil {
		n.T.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, issuer.EvidenceHandler())
	mux.HandleFunc("GET /v1/models", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"object":"list","data":[{"id":"cocoon-kjv-demo-1m","object":"model","owned_by":"cocoon"}]}`))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		n.T.Fatal(err)
	}
	p := &SimProvider{URL: "https://" + ln.Addr().String(), srv: &http.Server{Handler: mux, ErrorLog: slog.NewLogLogger(quiet.Handler(), slog.LevelError)}}
	go func() { _ = p.srv.Serve(tls.NewListener(ln, issuer.TLSConfig())) }()
	n.T.Cleanup(p.Stop)
	return p
}

// Stop closes the endpoint.
func (p *SimProvider) Stop() { _ = p.srv.Close() }
