package payment

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"time"
)

// Connection authorization (docs/PROTOCOL.md, "Connection authorization"): instead of signing
// each request, a client may present, in the RA-TLS handshake, a TLS client certificate whose key
// is the channel's client key. TLS 1.3 has it sign the handshake with that key (CertificateVerify),
// so the connection belongs to the key's holder, and TLS keeps its requests from being altered or
// replayed; a request on it for that channel needs no X-Cocoon-Auth. The provider pays one
// signature check per connection instead of one per request (~30 µs of each paid request's ~150
// µs of CPU), the client one signature per connection instead of one per request.

// HeaderConnAuth is on a provider's answer to a paid request whose connection carries the
// channel's client key as its TLS client certificate (value "ok"): the connection's later requests
// for the channel may leave X-Cocoon-Auth out.
const HeaderConnAuth = "X-Cocoon-Connection-Auth"

// ClientCertificate is the TLS client certificate a client presents for connection authorization:
// self-signed by key (nothing in it but the key is read), valid from an hour ago for a year.
func ClientCertificate(key ed25519.PrivateKey) (tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 64))
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("failed to draw a certificate serial: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: serial, Subject: pkix.Name{CommonName: "cocoon channel client"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.AddDate(1, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("failed to make the client certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}

// ConnClientKey is the Ed25519 key of a TLS connection's client certificate, whose possession the
// handshake proved (nil: no certificate, or not Ed25519). Its validity dates, issuer and the rest
// are not read: the key is the identity.
func ConnClientKey(cs *tls.ConnectionState) ed25519.PublicKey {
	if cs == nil || len(cs.PeerCertificates) == 0 {
		return nil
	}
	k, _ := cs.PeerCertificates[0].PublicKey.(ed25519.PublicKey)
	return k
}
