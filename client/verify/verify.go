// Package verify decides, in one call, whether a client may send a provider its prompts and pay
// it, and says why in a report a developer can print or log.
//
// A provider passes when every check of docs/PROTOCOL.md "Who may serve" holds, checked now (not
// only when the oracles voted):
//
//  1. its effective status is active and its stake is at least the registry's current minimum;
//  2. it has a quorum-confirmed attestation valid at the chain's time, and the confirmed
//     measurement is on the registry's allow-list now (get_measurement_kind), with a kind the
//     network accepts (sim only on a devnet registry);
//  3. its RA-TLS certificate's evidence verifies to the pinned vendor roots under the registry's
//     allow-list (attest), it answers a fresh nonce with evidence bound to the same TLS key, the
//     certificate's key hash equals the on-chain attested TLS key hash and its measurement the
//     on-chain confirmed one.
//
// Every failing check adds a reason to Report.Refusals; a report with none is OK. Simulated
// evidence is always shown as SIMULATED, and is refused unless the registry is a devnet that
// allows the sim measurement.
//
// PinnedTLS gives the TLS configuration requests to a verified provider use: each new connection
// runs the certificate checks again and must present the on-chain attested key.
package verify

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/client/discover"
	"github.com/cocoon-go/cocoon/contracts"
)

// Config configures a Verifier.
type Config struct {
	// Chain reads the registry's get_measurement_kind at verification time (nil: the snapshot's
	// allow-list is used).
	Chain chain.Client
	// Roots are the pinned vendor roots (zero: attest.DefaultRoots()).
	Roots *attest.Roots
	// TDXCollateral checks TDX TCB levels against Intel's collateral (nil: TCB unchecked, said so).
	TDXCollateral attest.TDXCollateralGetter
	// Timeout bounds one provider's verification (0: 15 s).
	Timeout time.Duration
	// Now is the verifier's clock for certificates (nil: time.Now).
	Now func() time.Time
}

// Verifier verifies providers. Safe for concurrent use.
type Verifier struct {
	cfg   Config
	roots attest.Roots

	mu sync.Mutex
	// av is the attest verifier of the allow-list avKey describes. REQUIRES mu.
	av    *attest.Verifier
	avKey string
}

// New returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	v := &Verifier{cfg: cfg}
	if cfg.Roots != nil {
		v.roots = *cfg.Roots
	} else {
		r, err := attest.DefaultRoots()
		if err != nil {
			return nil, err
		}
		v.roots = r
	}
	if v.cfg.Timeout <= 0 {
		v.cfg.Timeout = 15 * time.Second
	}
	if v.cfg.Now == nil {
		v.cfg.Now = time.Now
	}
	return v, nil
}

// ErrRefused is a provider that failed a check; the error names it.
var ErrRefused = errors.New("provider refused")

// Report is the outcome of verifying one provider: what was found, and every reason it was
// refused (none when OK).
type Report struct {
	Provider string `json:"provider"`
	Owner    string `json:"owner,omitempty"`
	Endpoint string `json:"endpoint"`
	OK       bool   `json:"ok"`
	// Refusals are the reasons, one per failed check.
	Refusals []string `json:"refusals"`

	// On-chain.
	Network          string    `json:"network"`
	Status           string    `json:"status,omitempty"`
	StakeTON         string    `json:"stake_ton,omitempty"`
	MinStakeTON      string    `json:"min_stake_ton,omitempty"`
	Attested         bool      `json:"attested"`
	ValidUntil       time.Time `json:"valid_until,omitzero"`
	AttestedAt       time.Time `json:"attested_at,omitzero"`
	Oracles          []string  `json:"oracles"`
	ChainMeasurement string    `json:"chain_measurement,omitempty"`
	ChainTLSKeyHash  string    `json:"chain_tls_key_hash,omitempty"`
	ChainEvidence    string    `json:"chain_evidence_digest,omitempty"`
	// AllowedKind is the registry's kind for the confirmed measurement now ("" when not allowed).
	AllowedKind string `json:"allowed_kind"`

	// From the provider's RA-TLS evidence.
	Kind        string `json:"kind,omitempty"`
	Simulated   bool   `json:"simulated"`
	Measurement string `json:"measurement,omitempty"`
	TCBStatus   string `json:"tcb_status,omitempty"`
	// Advisories are the vendor's security advisories for the platform's TCB level, where the
	// vendor gives them and attest reports them (today: none reported; see TCBStatus).
	Advisories     []string           `json:"advisories"`
	TLSKeyHash     string             `json:"tls_key_hash,omitempty"`
	EvidenceDigest string             `json:"evidence_digest,omitempty"`
	GPUs           []attest.GPUClaims `json:"gpus"`
	// Nonce is the fresh challenge the provider answered with evidence bound to its TLS key.
	Nonce string `json:"nonce,omitempty"`
	// ProbeMillis is the round trip of the fresh-evidence request (the handshake included).
	ProbeMillis float64   `json:"probe_ms,omitempty"`
	CheckedAt   time.Time `json:"checked_at"`

	// PublicKey is the verified certificate's key: receipts are checked with it.
	PublicKey crypto.PublicKey `json:"-"`
	// Claims are the certificate evidence's verified claims (nil when it did not verify).
	Claims *attest.Claims `json:"-"`
}

func (r *Report) refuse(format string, args ...any) {
	r.Refusals = append(r.Refusals, fmt.Sprintf(format, args...))
}

// Err is nil for an OK report, else ErrRefused naming every reason.
func (r *Report) Err() error {
	if r.OK {
		return nil
	}
	return fmt.Errorf("%w: %s: %s", ErrRefused, r.Provider, strings.Join(r.Refusals, "; "))
}

// String is the report for humans, one fact a line; simulated evidence says so first.
func (r *Report) String() string {
	var b strings.Builder
	verdict := "VERIFIED"
	if !r.OK {
		verdict = "REFUSED"
	}
	fmt.Fprintf(&b, "provider %s: %s\n", r.Provider, verdict)
	for _, why := range r.Refusals {
		fmt.Fprintf(&b, "  refused: %s\n", why)
	}
	line := func(k, v string) {
		if v != "" {
			fmt.Fprintf(&b, "  %-22s %s\n", k+":", v)
		}
	}
	line("owner", r.Owner)
	line("endpoint", r.Endpoint)
	line("network", r.Network)
	line("status", r.Status)
	if r.StakeTON != "" {
		line("stake", r.StakeTON+" TON (registry minimum "+r.MinStakeTON+" TON)")
	}
	kind := r.Kind
	if r.Simulated {
		kind = "sim — SIMULATED, NOT A TEE (devnet only)"
	}
	line("TEE", kind)
	line("measurement", r.Measurement)
	allowed := r.AllowedKind
	if allowed == "" && r.ChainMeasurement != "" {
		allowed = "NOT on the registry's allow-list"
	}
	line("allow-list", allowed)
	line("TCB status", r.TCBStatus)
	if len(r.Advisories) > 0 {
		line("advisories", strings.Join(r.Advisories, ", "))
	}
	line("TLS key hash", r.TLSKeyHash)
	line("on-chain key hash", r.ChainTLSKeyHash)
	line("evidence digest", r.EvidenceDigest)
	for i, g := range r.GPUs {
		line(fmt.Sprintf("GPU %d", i), fmt.Sprintf("%s serial %s driver %s vbios %s", g.Model, g.DeviceSerial, g.DriverVersion, g.VBIOSVersion))
	}
	line("fresh nonce", r.Nonce)
	if !r.ValidUntil.IsZero() {
		line("attested until", r.ValidUntil.UTC().Format(time.RFC3339))
	}
	if len(r.Oracles) > 0 {
		line("voting oracles", strings.Join(r.Oracles, ", "))
	}
	line("checked at", r.CheckedAt.UTC().Format(time.RFC3339))
	return b.String()
}

// MarshalIndent is the report as indented JSON.
func (r *Report) MarshalIndent() []byte {
	b, _ := json.MarshalIndent(r, "", "  ")
	return b
}

func hexOf(b []byte) string { return hex.EncodeToString(b) }

func isZero(b []byte) bool { return len(bytes.Trim(b, "\x00")) == 0 }

func kindOf(k contracts.MeasurementKind) attest.Kind { return attest.Kind(k) }

// attestVerifier is the attest verifier for the registry's allow-list now; simulated evidence is
// accepted only when the registry is a devnet that allows a sim measurement.
func (v *Verifier) attestVerifier(reg *discover.Registry) (*attest.Verifier, error) {
	allowed := map[[32]byte]attest.Kind{}
	allowSim := false
	var keys []string
	for _, m := range reg.Measurements {
		var h [32]byte
		if len(m.Hash) != 32 {
			continue
		}
		copy(h[:], m.Hash)
		if m.Kind == contracts.MeasurementSim {
			if reg.Network != contracts.NetworkDevnet {
				continue // the contract cannot hold one; never honoured off a devnet
			}
			allowSim = true
		}
		allowed[h] = kindOf(m.Kind)
		keys = append(keys, fmt.Sprintf("%x:%d", h, m.Kind))
	}
	if len(allowed) == 0 {
		// attest verifies nothing under an empty allow-list; a placeholder no evidence can match
		// lets it still verify and refuse each piece of evidence for what it is.
		allowed[[32]byte{}] = attest.KindTDX
	}
	slices.Sort(keys)
	key := fmt.Sprint(allowSim, keys)
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.av != nil && v.avKey == key {
		return v.av, nil
	}
	av, err := attest.NewVerifier(attest.Policy{Allowed: allowed, AllowSim: allowSim, Roots: v.roots, TDXCollateral: v.cfg.TDXCollateral, Now: v.cfg.Now})
	if err != nil {
		return nil, err
	}
	v.av, v.avKey = av, key
	return av, nil
}

// Verify checks one discovered provider against its snapshot's registry.
func (v *Verifier) Verify(ctx context.Context, snap *discover.Snapshot, p *discover.Provider) *Report {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	reg := &snap.Registry
	r := &Report{Provider: p.Address.String(), Endpoint: p.Endpoint, Network: reg.Network.String(), CheckedAt: v.cfg.Now(),
		Oracles: []string{}, Advisories: []string{}, GPUs: []attest.GPUClaims{}}
	if p.Err != nil {
		r.refuse("could not read the provider's contract: %v", p.Err)
		return r.finish()
	}
	r.Owner = p.Owner.String()
	v.checkChain(ctx, snap, p, r)
	if p.Endpoint == "" {
		r.refuse("no endpoint published")
		return r.finish()
	}
	v.checkEvidence(ctx, reg, p.Endpoint, r)
	if r.Claims != nil && p.Attestation != nil && !isZero(p.Attestation.TLSKeyHash) {
		if !bytes.Equal(r.Claims.TLSKeyHash[:], p.Attestation.TLSKeyHash) {
			r.refuse("the certificate's key hash %s differs from the on-chain attested TLS key hash %s", r.TLSKeyHash, r.ChainTLSKeyHash)
		}
		if !bytes.Equal(r.Claims.Measurement[:], p.Attestation.MeasurementHash) {
			r.refuse("the evidence's measurement %s differs from the on-chain confirmed measurement %s", r.Measurement, r.ChainMeasurement)
		}
	}
	return r.finish()
}

func (r *Report) finish() *Report {
	r.OK = len(r.Refusals) == 0
	return r
}

// checkChain applies the on-chain rules of "Who may serve".
func (v *Verifier) checkChain(ctx context.Context, snap *discover.Snapshot, p *discover.Provider, r *Report) {
	reg := &snap.Registry
	r.Status = p.Status.String()
	r.StakeTON = wallet.FormatTON(p.Stake)
	min := reg.Params.MinProviderStake.Nano()
	r.MinStakeTON = wallet.FormatTON(min)
	if p.Status != contracts.ProviderActive {
		r.refuse("status is %s, not active", p.Status)
	}
	if p.Stake.Cmp(min) < 0 {
		r.refuse("stake %s TON is below the registry's current minimum %s TON", r.StakeTON, r.MinStakeTON)
	}
	a := p.Attestation
	for _, o := range p.Oracles {
		r.Oracles = append(r.Oracles, o.String())
	}
	if a == nil || isZero(a.MeasurementHash) {
		r.refuse("no quorum-confirmed attestation on-chain")
		return
	}
	r.ChainMeasurement, r.ChainTLSKeyHash, r.ChainEvidence = hexOf(a.MeasurementHash), hexOf(a.TLSKeyHash), hexOf(a.EvidenceDigest)
	r.ValidUntil, r.AttestedAt = time.Unix(int64(a.ValidUntil), 0).UTC(), time.Unix(int64(a.AttestedAt), 0).UTC()
	r.Attested = a.Attested && uint32(snap.Now.Unix()) < a.ValidUntil
	if !r.Attested {
		r.refuse("the on-chain attestation expired at %s", r.ValidUntil.Format(time.RFC3339))
	}
	kind := reg.MeasurementKind(a.MeasurementHash)
	if v.cfg.Chain != nil {
		k, err := (contracts.RegistryClient{Chain: v.cfg.Chain, Address: reg.Address}).MeasurementKind(ctx, a.MeasurementHash)
		if err != nil {
			r.refuse("could not read the registry's allow-list: %v", err)
			return
		}
		kind = k
	}
	if kind == 0 {
		r.refuse("the confirmed measurement %s is not on the registry's allow-list now (revoked)", r.ChainMeasurement)
		return
	}
	r.AllowedKind = kind.String()
	if kind == contracts.MeasurementSim && reg.Network != contracts.NetworkDevnet {
		r.refuse("a simulated TEE measurement on a %s registry; sim is allowed on a devnet only", reg.Network)
	}
}

// checkEvidence connects over RA-TLS, verifies the certificate's evidence and asks for fresh
// evidence bound to the same key.
func (v *Verifier) checkEvidence(ctx context.Context, reg *discover.Registry, endpoint string, r *Report) {
	av, err := v.attestVerifier(reg)
	if err != nil {
		r.refuse("cannot verify any evidence: %v", err)
		return
	}
	var mu sync.Mutex
	var certClaims *attest.Claims
	var leaf *x509.Certificate
	tcfg := &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, // the evidence authenticates the peer
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := av.VerifyRawCertificates(ctx, raw)
			if err != nil {
				return err
			}
			cert, _ := x509.ParseCertificate(raw[0])
			mu.Lock()
			certClaims, leaf = c, cert
			mu.Unlock()
			return nil
		}}
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tcfg, DisableKeepAlives: true}, Timeout: v.cfg.Timeout}
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	began := time.Now()
	fresh, err := av.FetchFreshEvidence(ctx, hc, endpoint, nonce)
	probe := time.Since(began)
	mu.Lock()
	defer mu.Unlock()
	if certClaims != nil {
		r.Claims = certClaims
		r.PublicKey = leaf.PublicKey
		r.Kind, r.Simulated = certClaims.Kind.Name(), certClaims.Simulated
		r.Measurement, r.TLSKeyHash, r.EvidenceDigest = hexOf(certClaims.Measurement[:]), hexOf(certClaims.TLSKeyHash[:]), hexOf(certClaims.EvidenceDigest[:])
		r.TCBStatus = certClaims.TCBStatus
		r.GPUs = append(r.GPUs, certClaims.GPUs...)
	}
	if err != nil {
		switch {
		case errors.Is(err, attest.ErrSimNotAllowed):
			r.Kind, r.Simulated = attest.KindSim.Name(), true
			r.refuse("the provider runs a SIMULATED TEE (not a TEE), which a %s registry does not allow", reg.Network)
		case certClaims == nil:
			r.refuse("RA-TLS evidence refused: %v", err)
		default:
			r.refuse("fresh evidence for a nonce refused: %v", err)
		}
		return
	}
	if fresh.TLSKeyHash != certClaims.TLSKeyHash || fresh.Measurement != certClaims.Measurement {
		r.refuse("fresh evidence binds another key or measurement than the certificate")
		return
	}
	r.Nonce = hexOf(nonce)
	r.ProbeMillis = float64(probe.Microseconds()) / 1000
}

// KeyHash is the on-chain form of a certificate's TLS key hash.
func KeyHash(cert *x509.Certificate) [32]byte { return sha256.Sum256(cert.RawSubjectPublicKeyInfo) }

// Pin is what a connection to a verified provider must present.
type Pin struct {
	// TLSKeyHash and Measurement are the on-chain confirmed ones.
	TLSKeyHash, Measurement []byte
}

// ErrPin is a connection whose certificate is not the provider's on-chain attested one.
var ErrPin = errors.New("provider certificate does not match its on-chain attestation")

// PinnedTLS is the TLS configuration for requests to a provider: every new connection's
// certificate must verify under the registry's allow-list and carry the on-chain attested key
// and measurement. onPeer, when set, receives each accepted certificate.
func (v *Verifier) PinnedTLS(reg *discover.Registry, pin Pin, onPeer func(*x509.Certificate, *attest.Claims)) (*tls.Config, error) {
	av, err := v.attestVerifier(reg)
	if err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, InsecureSkipVerify: true, // the evidence and the pin authenticate the peer
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			c, err := av.VerifyRawCertificates(context.Background(), raw)
			if err != nil {
				return err
			}
			if !bytes.Equal(c.TLSKeyHash[:], pin.TLSKeyHash) {
				return fmt.Errorf("%w: key hash %x, on-chain %x", ErrPin, c.TLSKeyHash, pin.TLSKeyHash)
			}
			if !bytes.Equal(c.Measurement[:], pin.Measurement) {
				return fmt.Errorf("%w: measurement %x, on-chain %x", ErrPin, c.Measurement, pin.Measurement)
			}
			if onPeer != nil {
				cert, err := x509.ParseCertificate(raw[0])
				if err != nil {
					return err
				}
				onPeer(cert, c)
			}
			return nil
		}}, nil
}

// VerifyEndpoint verifies the provider that publishes endpoint; an endpoint no provider of the
// registry publishes is refused, with its evidence checked all the same.
func (v *Verifier) VerifyEndpoint(ctx context.Context, snap *discover.Snapshot, endpoint string) *Report {
	if p := snap.Provider(endpoint); p != nil {
		return v.Verify(ctx, snap, p)
	}
	ctx, cancel := context.WithTimeout(ctx, v.cfg.Timeout)
	defer cancel()
	r := &Report{Provider: "(unregistered)", Endpoint: endpoint, Network: snap.Registry.Network.String(), CheckedAt: v.cfg.Now(),
		Oracles: []string{}, Advisories: []string{}, GPUs: []attest.GPUClaims{}}
	r.refuse("no provider registered at registry %s publishes this endpoint, so nothing on-chain vouches for it", snap.Registry.Address.String())
	v.checkEvidence(ctx, &snap.Registry, endpoint, r)
	return r.finish()
}
