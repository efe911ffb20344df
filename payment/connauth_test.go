package payment

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"testing"
)

// The client certificate carries the key and is self-signed by it; ConnClientKey reads the key of
// a connection's certificate, and nothing from a connection without one or with another kind.
func TestClientCertificateAndConnClientKey(t *testing.T) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	cert, err := ClientCertificate(key)
	if err != nil {
		t.Fatal(err)
	}
	if err := cert.Leaf.CheckSignature(cert.Leaf.SignatureAlgorithm, cert.Leaf.RawTBSCertificate, cert.Leaf.Signature); err != nil {
		t.Fatalf("not self-signed by its key: %v", err)
	}
	if got := ConnClientKey(&tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert.Leaf}}); !pub.Equal(got) {
		t.Fatalf("ConnClientKey = %x, want %x", got, pub)
	}
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, cs := range map[string]*tls.ConnectionState{
		"no connection state": nil,
		"no certificate":      {},
		"an ECDSA key":        {PeerCertificates: []*x509.Certificate{{PublicKey: &ec.PublicKey}}},
	} {
		if k := ConnClientKey(cs); k != nil {
			t.Errorf("%s: key %x", name, k)
		}
	}
}
