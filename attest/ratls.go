package attest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"
)

// OIDEvidence is the X.509 extension that carries CocoonEvidence (DER, see Evidence) in an RA-TLS
// certificate. It sits under the X.667 UUID arc 2.25, which needs no registration. The arc value is
// a random 30-bit integer rather than a full UUID because Go's X.509 parser refuses arcs of 2^31
// and above; a generated UUID (version nibble set) is always larger than 2^76, so it cannot collide.
var OIDEvidence = asn1.ObjectIdentifier{2, 25, 844367689, 1}

// Default certificate lifetimes: short, and re-issued well before expiry.
const (
	DefaultCertValidity = time.Hour
	// renewFraction of the validity elapses before a new certificate is issued.
	renewFraction = 2.0 / 3.0
	// clockSkew backdates NotBefore so peers with slightly slow clocks accept a fresh certificate.
	clockSkew = 5 * time.Minute
)

// IssuerConfig configures an RA-TLS certificate issuer running inside the VM.
type IssuerConfig struct {
	// Attester produces the CPU evidence (TDX, SNP, or SimAttester on the devnet).
	Attester Attester
	// GPU, when set, adds a report from every confidential-computing GPU.
	GPU GPUAttester
	// Validity of each certificate; zero means DefaultCertValidity.
	Validity time.Duration
	// DNSNames go into the certificate's SAN (informational: clients verify evidence, not names).
	DNSNames []string
	// Now is injectable for tests; nil means time.Now.
	Now func() time.Time
	// Logger receives issuance events; nil means slog.Default().
	Logger *slog.Logger
}

// Check reports a configuration that cannot work.
func (c *IssuerConfig) Check() error {
	if c.Attester == nil {
		return errors.New("RA-TLS issuer needs an attester (TDX, SNP, or explicitly the simulated one)")
	}
	if c.Validity < 0 || (c.Validity > 0 && c.Validity < time.Minute) {
		return fmt.Errorf("RA-TLS certificate validity %s is shorter than a minute", c.Validity)
	}
	return nil
}

// Issuer owns the VM's TLS key and its RA-TLS certificates.
//
// The key is an Ed25519 key generated in memory at NewIssuer; it never leaves the process. It also
// signs the provider's receipts, one per paid answer, so its cost sits on the answer's path. Evidence
// binding the key
// is collected once per key (one quote, ~40-50 ms on TDX), and certificates are re-issued around that
// same evidence when 2/3 of their validity has passed. Keeping the evidence per key keeps the
// evidence digest stable, so every oracle votes for the same digest.
type Issuer struct {
	cfg IssuerConfig
	log *slog.Logger

	key     ed25519.PrivateKey
	spki    []byte
	keyHash [32]byte
	// evidence is the DER evidence bound to key (empty challenge). Immutable after NewIssuer.
	evidence []byte

	mu sync.Mutex
	// cert is the current certificate; renewAt is when to issue the next. Guarded by mu.
	cert    *tls.Certificate
	renewAt time.Time

	// fresh serializes fresh-evidence requests (the quoting path handles one at a time).
	fresh chan struct{}
}

// NewIssuer generates the TLS key, collects evidence binding it and issues the first certificate.
func NewIssuer(ctx context.Context, cfg IssuerConfig) (*Issuer, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Validity == 0 {
		cfg.Validity = DefaultCertValidity
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate TLS key: %w", err)
	}
	spki, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("failed to encode TLS public key: %w", err)
	}
	is := &Issuer{cfg: cfg, log: cfg.Logger, key: key, spki: spki, keyHash: KeyHash(spki), fresh: make(chan struct{}, 1)}
	ev, err := is.collect(ctx, Binding{KeyHash: is.keyHash})
	if err != nil {
		return nil, err
	}
	if is.evidence, err = ev.Marshal(); err != nil {
		return nil, err
	}
	if _, err := is.current(); err != nil {
		return nil, err
	}
	is.log.Info("RA-TLS key ready", "kind", cfg.Attester.Kind().String(), "simulated", cfg.Attester.Kind() == KindSim,
		"tls_key_hash", fmt.Sprintf("%x", is.keyHash), "gpus", len(ev.GPUs))
	return is, nil
}

// collect gathers GPU reports (nonce from b) then a CPU report whose report data covers them.
func (is *Issuer) collect(ctx context.Context, b Binding) (*Evidence, error) {
	ev := &Evidence{Kind: is.cfg.Attester.Kind()}
	if is.cfg.GPU != nil {
		gpus, err := is.cfg.GPU.AttestGPUs(ctx, b.GPUNonce())
		if err != nil {
			return nil, fmt.Errorf("failed to collect GPU evidence: %w", err)
		}
		ev.GPUs = gpus
	}
	cpu, err := is.cfg.Attester.Attest(ctx, b.ReportData(ev.GPUs))
	if err != nil {
		return nil, fmt.Errorf("failed to collect %s evidence: %w", ev.Kind.Name(), err)
	}
	ev.CPU = cpu
	return ev, nil
}

// KeyHash is SHA-256 of the TLS key's SubjectPublicKeyInfo (the on-chain TLS key hash).
func (is *Issuer) KeyHash() [32]byte { return is.keyHash }

// Evidence returns the DER evidence carried in every certificate of this key.
func (is *Issuer) Evidence() []byte { return append([]byte(nil), is.evidence...) }

// GetCertificate is for tls.Config.GetCertificate: the current certificate, re-issued when due.
func (is *Issuer) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) { return is.current() }

// TLSConfig is a server configuration serving this issuer's certificates.
func (is *Issuer) TLSConfig() *tls.Config {
	return &tls.Config{MinVersion: tls.VersionTLS13, GetCertificate: is.GetCertificate}
}

func (is *Issuer) current() (*tls.Certificate, error) {
	now := is.cfg.Now()
	is.mu.Lock()
	defer is.mu.Unlock()
	if is.cert != nil && now.Before(is.renewAt) {
		return is.cert, nil
	}
	c, err := is.issueLocked(now)
	if err != nil {
		return nil, err
	}
	is.cert = c
	is.renewAt = now.Add(time.Duration(float64(is.cfg.Validity) * renewFraction))
	return c, nil
}

// issueLocked signs a certificate for the key. Signing is local and cheap; no quote is taken.
// REQUIRES: is.mu held.
func (is *Issuer) issueLocked(now time.Time) (*tls.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("failed to draw certificate serial: %w", err)
	}
	cn := "cocoon-ratls-" + is.cfg.Attester.Kind().Name()
	if is.cfg.Attester.Kind() == KindSim {
		cn += "-SIMULATED-NOT-A-TEE"
	}
	tmpl := &x509.Certificate{
		SerialNumber:    serial,
		Subject:         pkix.Name{CommonName: cn},
		NotBefore:       now.Add(-clockSkew),
		NotAfter:        now.Add(is.cfg.Validity),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:        is.cfg.DNSNames,
		ExtraExtensions: []pkix.Extension{{Id: OIDEvidence, Value: is.evidence}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, is.key.Public(), is.key)
	if err != nil {
		return nil, fmt.Errorf("failed to sign RA-TLS certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse own RA-TLS certificate: %w", err)
	}
	is.log.Debug("RA-TLS certificate issued", "kind", is.cfg.Attester.Kind().String(), "not_after", leaf.NotAfter)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: is.key, Leaf: leaf}, nil
}

// Fresh collects new evidence for a caller's challenge (the evidence endpoint). Calls are serialized;
// ctx bounds the wait.
func (is *Issuer) Fresh(ctx context.Context, challenge []byte) ([]byte, error) {
	if len(challenge) == 0 || len(challenge) > 64 {
		return nil, fmt.Errorf("%w: challenge must be 1..64 bytes, got %d", ErrMalformed, len(challenge))
	}
	select {
	case is.fresh <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-is.fresh }()
	ev, err := is.collect(ctx, Binding{KeyHash: is.keyHash, Challenge: challenge})
	if err != nil {
		return nil, err
	}
	return ev.Marshal()
}

// Signer exposes the TLS key, an ed25519.PrivateKey, as a crypto.Signer (receipts; tls.Certificate in
// custom setups).
func (is *Issuer) Signer() crypto.Signer { return is.key }

// EvidenceFromCertificate returns the DER evidence in a certificate's OIDEvidence extension.
func EvidenceFromCertificate(cert *x509.Certificate) ([]byte, error) {
	var found []byte
	for _, e := range cert.Extensions {
		if e.Id.Equal(OIDEvidence) {
			if found != nil {
				return nil, fmt.Errorf("%w: certificate has two evidence extensions", ErrMalformed)
			}
			found = e.Value
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: certificate has no evidence extension %s", ErrMalformed, OIDEvidence)
	}
	return found, nil
}

// VerifyCertificate verifies an RA-TLS certificate: validity period at the policy time, a
// self-signature by its own key, and the evidence binding exactly that key. The key may be Ed25519
// (what Issuer generates) or ECDSA P-256 (older providers and recorded test data), the keys receipts
// can be verified under; the evidence binds the SubjectPublicKeyInfo bytes, whatever the algorithm. Results are cached
// per certificate until it expires (at most 5 minutes), and dropped when the allow-list changes;
// a cached *Claims is shared between callers, so treat claims as read-only.
func (v *Verifier) VerifyCertificate(ctx context.Context, cert *x509.Certificate) (*Claims, error) {
	p, gen := v.policy()
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	id := sha256.Sum256(cert.Raw)
	if c := v.cache.get(id, gen, now); c != nil {
		return c, nil
	}
	if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
		return nil, fmt.Errorf("%w: RA-TLS certificate valid %s..%s, now %s", ErrExpired,
			cert.NotBefore.UTC().Format(time.RFC3339), cert.NotAfter.UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339))
	}
	if err := checkKeyType(cert.PublicKey); err != nil {
		return nil, err
	}
	if err := cert.CheckSignature(cert.SignatureAlgorithm, cert.RawTBSCertificate, cert.Signature); err != nil {
		return nil, fmt.Errorf("%w: RA-TLS certificate is not self-signed by its key: %v", ErrSignature, err)
	}
	der, err := EvidenceFromCertificate(cert)
	if err != nil {
		return nil, err
	}
	ev, err := ParseEvidence(der)
	if err != nil {
		return nil, err
	}
	c, err := verifyEvidence(ctx, &p, ev, Binding{KeyHash: KeyHash(cert.RawSubjectPublicKeyInfo)})
	if err != nil {
		return nil, err
	}
	until := now.Add(5 * time.Minute)
	if cert.NotAfter.Before(until) {
		until = cert.NotAfter
	}
	v.cache.put(id, gen, until, c)
	return c, nil
}

// checkKeyType refuses an RA-TLS key that cannot sign receipts (payment.SignedReceipt.Verify):
// Ed25519, or ECDSA P-256 as providers generated before Ed25519.
func checkKeyType(pub any) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		return nil
	case *ecdsa.PublicKey:
		if k.Curve == elliptic.P256() {
			return nil
		}
		return fmt.Errorf("%w: RA-TLS key is ECDSA on %s, want Ed25519 (or ECDSA P-256)", ErrMalformed, k.Curve.Params().Name)
	}
	return fmt.Errorf("%w: RA-TLS key is %T, want Ed25519 (or ECDSA P-256)", ErrMalformed, pub)
}

// VerifyRawCertificates verifies the leaf of a peer's raw certificate list (as TLS hands it over).
func (v *Verifier) VerifyRawCertificates(ctx context.Context, rawCerts [][]byte) (*Claims, error) {
	if len(rawCerts) == 0 {
		return nil, fmt.Errorf("%w: peer sent no certificate", ErrMalformed)
	}
	cert, err := x509.ParseCertificate(rawCerts[0])
	if err != nil {
		return nil, fmt.Errorf("%w: peer certificate: %v", ErrMalformed, err)
	}
	return v.VerifyCertificate(ctx, cert)
}

// VerifyPeerCertificate returns a function for tls.Config.VerifyPeerCertificate. onClaims, when not
// nil, receives the verified claims of each successful handshake.
func (v *Verifier) VerifyPeerCertificate(onClaims func(*Claims)) func([][]byte, [][]*x509.Certificate) error {
	return func(rawCerts [][]byte, _ [][]*x509.Certificate) error {
		c, err := v.VerifyRawCertificates(context.Background(), rawCerts)
		if err != nil {
			return err
		}
		if onClaims != nil {
			onClaims(c)
		}
		return nil
	}
}

// ClientTLSConfig is a client configuration that accepts exactly the servers whose RA-TLS
// certificate verifies under v. The standard WebPKI check is replaced, not added to: RA-TLS
// certificates are self-signed, and the evidence is what authenticates the peer.
func (v *Verifier) ClientTLSConfig(onClaims func(*Claims)) *tls.Config {
	return &tls.Config{
		MinVersion:            tls.VersionTLS13,
		InsecureSkipVerify:    true, // replaced by VerifyPeerCertificate below, which always runs
		VerifyPeerCertificate: v.VerifyPeerCertificate(onClaims),
	}
}

// PeerClaims verifies the peer of a finished handshake (hits the cache after VerifyPeerCertificate).
func (v *Verifier) PeerClaims(ctx context.Context, cs tls.ConnectionState) (*Claims, error) {
	if len(cs.PeerCertificates) == 0 {
		return nil, fmt.Errorf("%w: connection has no peer certificate", ErrMalformed)
	}
	return v.VerifyCertificate(ctx, cs.PeerCertificates[0])
}
