package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"
)

var simImage = [48]byte{0xc0, 0xc0, 0x01}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newSimIssuer(t testing.TB, gpu GPUAttester) *Issuer {
	t.Helper()
	is, err := NewIssuer(context.Background(), IssuerConfig{Attester: NewSimAttester(simImage), GPU: gpu, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	return is
}

func simPolicy() Policy {
	return Policy{AllowSim: true, Allowed: map[[32]byte]Kind{SimMeasurement(simImage): KindSim}}
}

func newVerifier(t testing.TB, p Policy) *Verifier {
	t.Helper()
	v, err := NewVerifier(p)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func leafOf(t testing.TB, is *Issuer) *x509.Certificate {
	t.Helper()
	c, err := is.GetCertificate(nil)
	if err != nil {
		t.Fatal(err)
	}
	return c.Leaf
}

func TestSimCertificateVerifies(t *testing.T) {
	is := newSimIssuer(t, nil)
	v := newVerifier(t, simPolicy())
	c, err := v.VerifyCertificate(context.Background(), leafOf(t, is))
	if err != nil {
		t.Fatal(err)
	}
	if c.Kind != KindSim || !c.Simulated || c.TLSKeyHash != is.KeyHash() || c.Measurement != SimMeasurement(simImage) {
		t.Fatalf("claims %+v", c)
	}
	if m, err := MeasurementFromRegisters(KindSim, c.Registers); err != nil || m != c.Measurement {
		t.Fatalf("sim registers do not recompute the measurement: %v", err)
	}
	ev, err := ParseEvidence(is.Evidence())
	if err != nil {
		t.Fatal(err)
	}
	if d, _ := ev.Digest(); d != c.EvidenceDigest {
		t.Fatal("evidence digest differs from the certificate's evidence")
	}
	// The simulated kind is visible in every human-facing form.
	for _, s := range []string{c.String(), c.Kind.String(), leafOf(t, is).Subject.CommonName} {
		if !strings.Contains(s, "SIMULATED") {
			t.Fatalf("%q does not say SIMULATED", s)
		}
	}
}

// The issuer's key is Ed25519 (it also signs receipts, one per paid answer); a certificate of an
// ECDSA P-256 key with evidence bound to it, as older providers made, still verifies, over TLS too.
// A key no receipt can be verified under is refused, even with evidence bound to it.
func TestCertificateKeyAlgorithms(t *testing.T) {
	is := newSimIssuer(t, nil)
	leaf := leafOf(t, is)
	if leaf.PublicKeyAlgorithm != x509.Ed25519 || leaf.SignatureAlgorithm != x509.PureEd25519 {
		t.Fatalf("issuer certificate is %s signed with %s, want Ed25519", leaf.PublicKeyAlgorithm, leaf.SignatureAlgorithm)
	}
	if pub, ok := is.Signer().Public().(ed25519.PublicKey); !ok || !pub.Equal(leaf.PublicKey) {
		t.Fatalf("Signer's key %T is not the certificate's", is.Signer().Public())
	}
	v := newVerifier(t, simPolicy())
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	old := certFor(t, ec, simEvidenceFor(t, &ec.PublicKey))
	if old.Leaf.PublicKeyAlgorithm != x509.ECDSA {
		t.Fatalf("test certificate is %s", old.Leaf.PublicKeyAlgorithm)
	}
	for name, cert := range map[string]*tls.Certificate{"ed25519": {Certificate: [][]byte{leaf.Raw}, PrivateKey: is.Signer(), Leaf: leaf}, "ecdsa": &old} {
		c, err := v.VerifyCertificate(context.Background(), cert.Leaf)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if c.TLSKeyHash != KeyHash(cert.Leaf.RawSubjectPublicKeyInfo) {
			t.Fatalf("%s: claims bind key %x", name, c.TLSKeyHash)
		}
		c, err = handshake(t, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return cert, nil }, v)
		if err != nil || c == nil || c.TLSKeyHash != KeyHash(cert.Leaf.RawSubjectPublicKeyInfo) {
			t.Fatalf("%s: handshake: %v, claims %+v", name, err, c)
		}
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other := certFor(t, p384, simEvidenceFor(t, &p384.PublicKey))
	if _, err := v.VerifyCertificate(context.Background(), other.Leaf); !errors.Is(err, ErrMalformed) || !strings.Contains(err.Error(), "P-384") {
		t.Fatalf("ECDSA P-384 RA-TLS key: got %v, want ErrMalformed naming the curve", err)
	}
}

func TestSimRefusedUnlessAllowed(t *testing.T) {
	is := newSimIssuer(t, nil)
	// A policy whose allow-list has sim entries must allow sim explicitly.
	if _, err := NewVerifier(Policy{Allowed: map[[32]byte]Kind{SimMeasurement(simImage): KindSim}}); err == nil {
		t.Fatal("policy listing a sim measurement without AllowSim was accepted")
	}
	v := newVerifier(t, Policy{Allowed: map[[32]byte]Kind{{1}: KindTDX}})
	if _, err := v.VerifyCertificate(context.Background(), leafOf(t, is)); !errors.Is(err, ErrSimNotAllowed) {
		t.Fatalf("got %v, want ErrSimNotAllowed", err)
	}
}

func TestSimWrongMeasurement(t *testing.T) {
	is := newSimIssuer(t, nil)
	p := simPolicy()
	p.Allowed = map[[32]byte]Kind{SimMeasurement([48]byte{9}): KindSim}
	v := newVerifier(t, p)
	_, err := v.VerifyCertificate(context.Background(), leafOf(t, is))
	if !errors.Is(err, ErrMeasurementNotAllowed) {
		t.Fatalf("got %v, want ErrMeasurementNotAllowed", err)
	}
	// The allow-list can be swapped at run time (fed from the registry); cached results do not survive.
	v2 := newVerifier(t, simPolicy())
	if _, err := v2.VerifyCertificate(context.Background(), leafOf(t, is)); err != nil {
		t.Fatal(err)
	}
	v2.SetAllowed(map[[32]byte]Kind{{7}: KindSim})
	if _, err := v2.VerifyCertificate(context.Background(), leafOf(t, is)); !errors.Is(err, ErrMeasurementNotAllowed) {
		t.Fatalf("after SetAllowed: got %v, want ErrMeasurementNotAllowed", err)
	}
}

// simEvidenceFor is simulated certificate evidence bound to pub.
func simEvidenceFor(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	bound := Binding{KeyHash: KeyHash(spki)}
	cpu, err := NewSimAttester(simImage).Attest(context.Background(), bound.ReportData(nil))
	if err != nil {
		t.Fatal(err)
	}
	der, err := (&Evidence{Kind: KindSim, CPU: cpu}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// forgedCert is a certificate for a key of our own that carries another issuer's evidence.
func forgedCert(t testing.TB, evidence []byte) tls.Certificate {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return certFor(t, k, evidence)
}

// certFor is a self-signed certificate of k carrying evidence.
func certFor(t testing.TB, k crypto.Signer, evidence []byte) tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtraExtensions: []pkix.Extension{{Id: OIDEvidence, Value: evidence}}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.Public(), k)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k, Leaf: leaf}
}

func TestEvidenceBoundToAnotherKey(t *testing.T) {
	is := newSimIssuer(t, nil)
	v := newVerifier(t, simPolicy())
	forged := forgedCert(t, is.Evidence())
	if _, err := v.VerifyCertificate(context.Background(), forged.Leaf); !errors.Is(err, ErrReportData) {
		t.Fatalf("got %v, want ErrReportData", err)
	}
}

func TestSimEvidenceFlippedBytes(t *testing.T) {
	is := newSimIssuer(t, nil)
	v := newVerifier(t, simPolicy())
	der := is.Evidence()
	b := Binding{KeyHash: is.KeyHash()}
	if _, err := v.VerifyBytes(context.Background(), der, b); err != nil {
		t.Fatal(err)
	}
	for i := range der {
		x := append([]byte(nil), der...)
		x[i] ^= 0x01
		if _, err := v.VerifyBytes(context.Background(), x, b); err == nil {
			t.Fatalf("flipped evidence byte %d accepted", i)
		}
	}
}

func TestCertificateExpiryAndRenewal(t *testing.T) {
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	attester := &countingAttester{Attester: NewSimAttester(simImage)}
	is, err := NewIssuer(context.Background(), IssuerConfig{Attester: attester, Validity: time.Hour,
		Now: func() time.Time { return now }, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	first := leafOf(t, is)
	p := simPolicy()
	p.Now = func() time.Time { return now }
	v := newVerifier(t, p)
	if _, err := v.VerifyCertificate(context.Background(), first); err != nil {
		t.Fatal(err)
	}
	now = now.Add(50 * time.Minute) // past 2/3 of the validity: a new certificate, same key and evidence
	second := leafOf(t, is)
	if second.SerialNumber.Cmp(first.SerialNumber) == 0 {
		t.Fatal("certificate not re-issued after 2/3 of its validity")
	}
	if string(second.RawSubjectPublicKeyInfo) != string(first.RawSubjectPublicKeyInfo) {
		t.Fatal("re-issue changed the key")
	}
	if attester.n != 1 {
		t.Fatalf("%d quotes taken, want 1 per key", attester.n)
	}
	now = now.Add(20 * time.Minute) // the first certificate is past NotAfter
	if _, err := v.VerifyCertificate(context.Background(), first); !errors.Is(err, ErrExpired) {
		t.Fatalf("expired certificate: got %v, want ErrExpired", err)
	}
	if _, err := v.VerifyCertificate(context.Background(), second); err != nil {
		t.Fatalf("renewed certificate: %v", err)
	}
}

type countingAttester struct {
	Attester
	n int
}

func (c *countingAttester) Attest(ctx context.Context, rd [64]byte) ([]byte, error) {
	c.n++
	return c.Attester.Attest(ctx, rd)
}

// handshake runs one TLS 1.3 handshake over loopback and returns the client's error and claims.
func handshake(t *testing.T, serverCert func(*tls.ClientHelloInfo) (*tls.Certificate, error), v *Verifier) (*Claims, error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		s := tls.Server(c, &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: serverCert})
		_ = s.SetDeadline(time.Now().Add(5 * time.Second))
		if s.Handshake() == nil {
			_, _ = s.Write([]byte("ok"))
		}
	}()
	var got *Claims
	cfg := v.ClientTLSConfig(func(c *Claims) { got = c })
	conn, err := tls.Dial("tcp", ln.Addr().String(), cfg)
	if err == nil {
		buf := make([]byte, 2)
		_, err = io.ReadFull(conn, buf)
		conn.Close()
	}
	<-done
	return got, err
}

func TestRATLSHandshake(t *testing.T) {
	is := newSimIssuer(t, nil)
	v := newVerifier(t, simPolicy())
	c, err := handshake(t, is.GetCertificate, v)
	if err != nil {
		t.Fatalf("handshake with the right key: %v", err)
	}
	if c == nil || c.TLSKeyHash != is.KeyHash() {
		t.Fatalf("claims %+v", c)
	}
	forged := forgedCert(t, is.Evidence())
	_, err = handshake(t, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &forged, nil }, v)
	if !errors.Is(err, ErrReportData) {
		t.Fatalf("handshake with evidence bound to another key: got %v, want ErrReportData", err)
	}
	// A plain self-signed certificate without evidence.
	plainNoExt := selfSigned(t)
	_, err = handshake(t, func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return &plainNoExt, nil }, v)
	if !errors.Is(err, ErrMalformed) {
		t.Fatalf("handshake without evidence: got %v, want ErrMalformed", err)
	}
}

func selfSigned(t testing.TB) tls.Certificate {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}
}

// testGPUs is a GPU attester backed by a test device CA: real SPDM messages, real P-384 signatures,
// a root the test pins instead of NVIDIA's. It exercises the GPU binding logic end to end.
type testGPUs struct {
	key      *ecdsa.PrivateKey
	chain    [][]byte
	roots    *x509.CertPool
	badNonce bool
}

func newTestGPUs(t testing.TB) *testGPUs {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	nb, na := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Device Identity CA"},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	leafT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "GH100 TEST LEAF", SerialNumber: "ABC123"},
		NotBefore: nb, NotAfter: na}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafT, root, &leafKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return &testGPUs{key: leafKey, chain: [][]byte{leafDER, rootDER}, roots: pool}
}

func (g *testGPUs) AttestGPUs(_ context.Context, nonce [32]byte) ([]GPUEvidence, error) {
	if g.badNonce {
		nonce[0] ^= 0xff
	}
	return []GPUEvidence{{Report: buildSPDM(g.key, nonce), CertChain: g.chain}}, nil
}

// buildSPDM makes an SPDM 1.1 GET_MEASUREMENTS request and a MEASUREMENTS response with one
// SHA-384 block and a driver-version opaque field, signed by key.
func buildSPDM(key *ecdsa.PrivateKey, nonce [32]byte) []byte {
	b := []byte{spdmVersion11, spdmGetMeasurements, 0x01, 0xff}
	b = append(b, nonce[:]...)
	b = append(b, 0x00)
	value := make([]byte, 48)
	value[0] = 0x42
	block := []byte{1, 1, 0, 0, 0x01, 48, 0}
	binary.LittleEndian.PutUint16(block[2:4], uint16(3+len(value)))
	block = append(block, value...)
	b = append(b, spdmVersion11, spdmMeasurements, 0, 0, 1, byte(len(block)), 0, 0)
	b = append(b, block...)
	b = append(b, make([]byte, 32)...) // responder nonce
	opaque := []byte{opaqueDriverVersion, 0, 7, 0}
	opaque = append(opaque, "550.54\x00"...)
	b = append(b, byte(len(opaque)), 0)
	b = append(b, opaque...)
	d := sha512.Sum384(b)
	r, s, _ := ecdsa.Sign(rand.Reader, key, d[:])
	sig := make([]byte, 96)
	r.FillBytes(sig[:48])
	s.FillBytes(sig[48:])
	return append(b, sig...)
}

func TestGPUBindingEndToEnd(t *testing.T) {
	gpus := newTestGPUs(t)
	is := newSimIssuer(t, gpus)
	p := simPolicy()
	p.Roots.NVIDIA = gpus.roots
	p.RequireGPU = true
	v := newVerifier(t, p)
	c, err := v.VerifyCertificate(context.Background(), leafOf(t, is))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.GPUs) != 1 || c.GPUs[0].DriverVersion != "550.54" || c.GPUs[0].Model != "GH100" || c.GPUs[0].DeviceSerial != "ABC123" {
		t.Fatalf("GPU claims %+v", c.GPUs)
	}
	// Only the pinned device root is trusted.
	p2 := p
	p2.Roots.NVIDIA = testRoots(t).NVIDIA
	if _, err := newVerifier(t, p2).VerifyCertificate(context.Background(), leafOf(t, is)); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("NVIDIA root for a test-CA GPU: got %v, want ErrUntrustedRoot", err)
	}
	// GPU measurement allow-list.
	p3 := p
	p3.AllowedGPUMeasurements = map[[32]byte]bool{{1}: true}
	if _, err := newVerifier(t, p3).VerifyCertificate(context.Background(), leafOf(t, is)); !errors.Is(err, ErrMeasurementNotAllowed) {
		t.Fatalf("GPU measurement allow-list: got %v, want ErrMeasurementNotAllowed", err)
	}
	p3.AllowedGPUMeasurements = map[[32]byte]bool{c.GPUs[0].Measurement: true}
	if _, err := newVerifier(t, p3).VerifyCertificate(context.Background(), leafOf(t, is)); err != nil {
		t.Fatalf("allowed GPU measurement: %v", err)
	}
	// A GPU answering another nonce than the one derived from the key.
	bad := newTestGPUs(t)
	bad.badNonce = true
	isBad := newSimIssuer(t, bad)
	p.Roots.NVIDIA = bad.roots
	if _, err := newVerifier(t, p).VerifyCertificate(context.Background(), leafOf(t, isBad)); !errors.Is(err, ErrGPUNonce) {
		t.Fatalf("GPU with a wrong nonce: got %v, want ErrGPUNonce", err)
	}
	// Swapping in another GPU's report breaks the CPU report data, which covers the GPU evidence.
	ev, _ := ParseEvidence(is.Evidence())
	other, _ := gpus.AttestGPUs(context.Background(), Binding{KeyHash: is.KeyHash()}.GPUNonce())
	ev.GPUs = other
	p.Roots.NVIDIA = gpus.roots
	if _, err := newVerifier(t, p).Verify(context.Background(), ev, Binding{KeyHash: is.KeyHash()}); !errors.Is(err, ErrReportData) {
		t.Fatalf("swapped GPU report: got %v, want ErrReportData", err)
	}
	// RequireGPU refuses evidence without GPUs.
	if _, err := newVerifier(t, p).VerifyCertificate(context.Background(), leafOf(t, newSimIssuer(t, nil))); !errors.Is(err, ErrGPURequired) {
		t.Fatalf("no GPU: got %v, want ErrGPURequired", err)
	}
}

func TestClaimsJSONAndHashConversion(t *testing.T) {
	is := newSimIssuer(t, nil)
	c, err := newVerifier(t, simPolicy()).VerifyCertificate(context.Background(), leafOf(t, is))
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	if m["kind"] != "sim" || m["simulated"] != true || m["tls_key_hash"] != hex.EncodeToString(c.TLSKeyHash[:]) {
		t.Fatalf("claims JSON %s", b)
	}
	back, err := HashFromBig(HashToBig(c.Measurement))
	if err != nil || back != c.Measurement {
		t.Fatalf("uint256 round trip: %v", err)
	}
	if _, err := HashFromBig(new(big.Int).Lsh(big.NewInt(1), 256)); !errors.Is(err, ErrMalformed) {
		t.Fatalf("2^256: %v", err)
	}
	if _, err := ParseKind("sgx"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("ParseKind(sgx): %v", err)
	}
}

// The devnet default sim measurement is a protocol constant (PROTOCOL.md): recomputed here from the
// documented formula, and pinned to its documented value.
func TestDevnetSimMeasurementStable(t *testing.T) {
	image := sha512.Sum384([]byte("cocoon/v1/devnet-sim-image"))
	h := sha256.New()
	h.Write([]byte("cocoon/v1/measurement/sim\x00"))
	h.Write([]byte{0, 48})
	h.Write(image[:])
	spec := hex.EncodeToString(h.Sum(nil))
	m := SimMeasurement(DevnetSimImage)
	if got := hex.EncodeToString(m[:]); got != spec || got != "84a225edf9e3a369530eb2c472b225d5422c67cc7704d6ba7742e0db772d4468" {
		t.Fatalf("devnet sim measurement %s, spec formula %s", got, spec)
	}
}
