// Command gotlsproxy is the provider benchmark's reference for Go's own floor: a TLS 1.3 reverse
// proxy built from the standard library alone (net/http, crypto/tls, httputil.ReverseProxy with a
// keep-alive pool), with no payment, no metering and no store. It serves a self-signed certificate
// for a fresh key of the provider's kind (Ed25519), forwards everything to --backend, flushes
// streamed answers at once, and prints "listening on https://ADDR" once it serves. GOGC is 400
// unless the environment sets it, as cocoon-provider run does. With --lean it does the same without
// net/http (lean.go).
package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"flag"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/debug"
	"time"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:0", "host:port to serve on")
	backend := flag.String("backend", "", "the backend's base URL (http://host:port)")
	lean := flag.Bool("lean", false, "proxy without net/http: one goroutine a connection, hand-written HTTP/1.1")
	flag.Parse()
	if err := run(*listen, *backend, *lean); err != nil {
		fmt.Fprintln(os.Stderr, "gotlsproxy:", err)
		os.Exit(1)
	}
}

func run(listen, backend string, lean bool) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400)
	}
	target, err := url.Parse(backend)
	if err != nil || target.Host == "" {
		return fmt.Errorf("--backend %q is not a URL http://host:port", backend)
	}
	cert, err := selfSigned()
	if err != nil {
		return err
	}
	proxy := &httputil.ReverseProxy{
		Rewrite:   func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport: &http.Transport{MaxIdleConns: 512, MaxIdleConnsPerHost: 512, IdleConnTimeout: time.Minute},
	}
	// The request body is read whole before it is sent on, as nginx (proxy_request_buffering) and
	// the provider do. Streamed from the incoming request, it made the transport drop the upstream
	// connection in the middle of about one streamed answer in twenty here.
	buffered := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b))
		proxy.ServeHTTP(w, r)
	})
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return err
	}
	fmt.Printf("listening on https://%s\n", ln.Addr())
	if lean {
		return serveLean(ln, &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}, target.Host)
	}
	// HTTP/1.1 only, as the provider's RA-TLS listener and the benchmark's nginx.
	srv := &http.Server{Handler: buffered, TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){},
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}, NextProtos: []string{"http/1.1"}}}
	return srv.ServeTLS(ln, "", "")
}

func selfSigned() (tls.Certificate, error) {
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "gotlsproxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
