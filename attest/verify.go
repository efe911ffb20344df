package attest

import (
	"context"
	"crypto/x509"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math/big"
	"strings"
	"sync"
	"time"

	"github.com/google/go-sev-guest/kds"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
	tdxtrust "github.com/google/go-tdx-guest/verify/trust"
)

// Roots are the pinned vendor roots. Nothing in the evidence itself is trusted as a root.
type Roots struct {
	// IntelSGX holds the Intel SGX Root CA (TDX PCK chains end there).
	IntelSGX *x509.CertPool
	// AMD maps an SNP product line ("Milan", "Genoa", "Turin") to its ARK and ASK.
	AMD AMDRoots
	// NVIDIA holds the NVIDIA Device Identity CA (H100/H200 device chains end there).
	NVIDIA *x509.CertPool
}

//go:embed roots/*.pem
var rootFiles embed.FS

// DefaultRoots returns the vendor roots shipped in attest/roots: Intel SGX Root CA, AMD ARK/ASK for
// Milan, Genoa and Turin, and NVIDIA Device Identity CA.
func DefaultRoots() (Roots, error) {
	var r Roots
	read := func(name string) ([]byte, error) {
		b, err := rootFiles.ReadFile("roots/" + name)
		if err != nil {
			return nil, fmt.Errorf("failed to read pinned root %s: %w", name, err)
		}
		return b, nil
	}
	pool := func(name string) (*x509.CertPool, error) {
		b, err := read(name)
		if err != nil {
			return nil, err
		}
		p := x509.NewCertPool()
		if !p.AppendCertsFromPEM(b) {
			return nil, fmt.Errorf("failed to parse pinned root %s", name)
		}
		return p, nil
	}
	var err error
	if r.IntelSGX, err = pool("intel_sgx_root_ca.pem"); err != nil {
		return Roots{}, err
	}
	if r.NVIDIA, err = pool("nvidia_device_identity_ca.pem"); err != nil {
		return Roots{}, err
	}
	r.AMD = AMDRoots{}
	for line, name := range map[string]string{"Milan": "amd_milan_ask_ark.pem", "Genoa": "amd_genoa_ask_ark.pem", "Turin": "amd_turin_ask_ark.pem"} {
		b, err := read(name)
		if err != nil {
			return Roots{}, err
		}
		ar := sevtrust.AMDRootCertsProduct(line)
		if err := ar.FromKDSCertBytes(b); err != nil {
			return Roots{}, fmt.Errorf("failed to parse pinned AMD roots %s: %w", name, err)
		}
		r.AMD[line] = append(r.AMD[line], ar)
	}
	return r, nil
}

// Policy is what a verifier accepts. The zero value accepts nothing.
type Policy struct {
	// Allowed is the measurement allow-list, hash → kind, as the registry contract holds it. A hash
	// listed under another kind does not match.
	Allowed map[[32]byte]Kind
	// AllowSim accepts simulated evidence (kind sim). Only for a devnet whose registry allows sim.
	AllowSim bool
	// Roots are the pinned vendor roots (DefaultRoots).
	Roots Roots
	// Now is the verification time for certificates and collateral; nil means time.Now.
	Now func() time.Time
	// TDXCollateral fetches Intel PCS collateral (TCB info, QE identity, CRLs); nil skips the TCB
	// status check and claims say "unchecked". Use a CollateralBundle to work offline.
	TDXCollateral TDXCollateralGetter
	// TDXCheckRevocations also checks the PCK and root CRLs from the collateral source. It runs the
	// whole check through go-tdx-guest, which re-verifies the collateral every time (~1.7 ms instead
	// of ~0.7 ms per quote).
	TDXCheckRevocations bool
	// TDXMinTeeTcbSvn is a component-wise minimum for the quote's TEE_TCB_SVN (works offline).
	TDXMinTeeTcbSvn [16]byte
	// SNPMinTCB is a component-wise minimum for the report's REPORTED_TCB.
	SNPMinTCB kds.TCBParts
	// SNPMaxVMPL is the least privileged VMPL whose reports are trusted; zero accepts only reports
	// requested at VMPL 0 (the guest kernel without a paravisor).
	SNPMaxVMPL uint32
	// RequireGPU refuses evidence without at least one verified GPU report.
	RequireGPU bool
	// AllowedGPUMeasurements, when non-empty, is an allow-list of GPU measurement hashes.
	AllowedGPUMeasurements map[[32]byte]bool
}

// Check reports a policy that cannot accept anything sensible.
func (p *Policy) Check() error {
	if len(p.Allowed) == 0 {
		return fmt.Errorf("policy allows no measurement: feed it the registry's allow-list")
	}
	for m, k := range p.Allowed {
		if !k.Valid() {
			return fmt.Errorf("policy allow-list entry %x has unknown kind %d", m, uint8(k))
		}
		if k == KindSim && !p.AllowSim {
			return fmt.Errorf("policy lists sim measurement %x but does not allow the sim kind", m)
		}
	}
	return nil
}

// Claims is what verified evidence establishes.
type Claims struct {
	Kind Kind `json:"kind"`
	// Simulated repeats Kind == KindSim so no reader can miss it.
	Simulated bool `json:"simulated"`
	// Measurement is the measurement hash the allow-list matched (uint256 on-chain).
	Measurement [32]byte `json:"-"`
	// TLSKeyHash is SHA-256 of the bound TLS key's SubjectPublicKeyInfo.
	TLSKeyHash [32]byte `json:"-"`
	// EvidenceDigest is SHA-256 of the evidence's DER form (what oracles vote for).
	EvidenceDigest [32]byte `json:"-"`
	// TCBStatus says how the platform TCB was judged, e.g. "UpToDate" or "unchecked (...)".
	TCBStatus string      `json:"tcb_status"`
	GPUs      []GPUClaims `json:"gpus"`
	// Registers are the report's measurement registers (and a few informational fields) in hex, by
	// name: what a reproducible image build is compared against (MeasurementFromRegisters).
	Registers map[string]string `json:"registers"`
}

// String is a one-line summary for logs; simulated claims say so first.
func (c *Claims) String() string {
	var b strings.Builder
	if c.Kind == KindSim {
		b.WriteString("SIMULATED (NOT A TEE) ")
	}
	fmt.Fprintf(&b, "kind=%s measurement=%s tls_key=%s tcb=%q gpus=%d",
		c.Kind, hex.EncodeToString(c.Measurement[:]), hex.EncodeToString(c.TLSKeyHash[:]), c.TCBStatus, len(c.GPUs))
	return b.String()
}

// Verifier checks evidence against a Policy. It is safe for concurrent use; SetAllowed swaps the
// allow-list (fed from the registry) without a restart.
type Verifier struct {
	mu sync.RWMutex
	// p is never mutated in place: SetAllowed installs a copy. REQUIRES: mu held to read or swap.
	p Policy
	// gen counts policy changes; the certificate cache drops entries from older generations.
	gen   uint64
	cache certCache
}

// NewVerifier checks the policy and returns a verifier for it.
func NewVerifier(p Policy) (*Verifier, error) {
	if err := p.Check(); err != nil {
		return nil, fmt.Errorf("invalid attestation policy: %w", err)
	}
	return &Verifier{p: p}, nil
}

// SetAllowed replaces the measurement allow-list.
func (v *Verifier) SetAllowed(allowed map[[32]byte]Kind) {
	cp := make(map[[32]byte]Kind, len(allowed))
	for k, val := range allowed {
		cp[k] = val
	}
	v.mu.Lock()
	v.p.Allowed = cp
	v.gen++
	v.mu.Unlock()
}

func (v *Verifier) policy() (Policy, uint64) {
	v.mu.RLock()
	defer v.mu.RUnlock()
	return v.p, v.gen
}

// VerifyBytes parses DER evidence and verifies it (Verify).
func (v *Verifier) VerifyBytes(ctx context.Context, der []byte, b Binding) (*Claims, error) {
	ev, err := ParseEvidence(der)
	if err != nil {
		return nil, err
	}
	return v.Verify(ctx, ev, b)
}

// Verify checks, in this order: the kind is allowed; the CPU evidence's chain to the pinned root,
// its signature, collateral, debug mode and minimum TCB; the measurement is on the allow-list under
// this kind; the report data equals b.ReportData over the GPU evidence; each GPU's chain to the
// pinned NVIDIA root, signature and nonce (b.GPUNonce). The error wraps one sentinel per check.
func (v *Verifier) Verify(ctx context.Context, ev *Evidence, b Binding) (*Claims, error) {
	p, _ := v.policy()
	return verifyEvidence(ctx, &p, ev, b)
}

func verifyEvidence(ctx context.Context, p *Policy, ev *Evidence, b Binding) (*Claims, error) {
	now := time.Now()
	if p.Now != nil {
		now = p.Now()
	}
	if len(b.Challenge) > 64 {
		return nil, fmt.Errorf("%w: challenge of %d bytes, limit 64", ErrMalformed, len(b.Challenge))
	}
	c := &Claims{Kind: ev.Kind, Simulated: ev.Kind == KindSim, TLSKeyHash: b.KeyHash}
	var reportData [64]byte
	switch ev.Kind {
	case KindSim:
		if !p.AllowSim {
			return nil, ErrSimNotAllowed
		}
		image, rd, err := parseSimReport(ev.CPU)
		if err != nil {
			return nil, err
		}
		reportData, c.Measurement, c.TCBStatus = rd, SimMeasurement(image), "none (simulated)"
		c.Registers = map[string]string{"image": hex.EncodeToString(image[:])}
	case KindTDX:
		r, err := verifyTDX(ctx, ev.CPU, p, now)
		if err != nil {
			return nil, err
		}
		copy(reportData[:], r.body.GetReportData())
		c.Measurement, c.TCBStatus = TDXMeasurement(r.body), r.tcbStatus
		c.Registers = tdxRegisters(r.body)
	case KindSNP:
		r, err := verifySNP(ctx, ev.CPU, p, now)
		if err != nil {
			return nil, err
		}
		copy(reportData[:], r.report.GetReportData())
		c.Measurement = SNPMeasurement(r.report)
		c.Registers = snpRegisters(r.report)
		c.TCBStatus = fmt.Sprintf("reported bl=%d tee=%d snp=%d ucode=%d", r.tcb.BlSpl, r.tcb.TeeSpl, r.tcb.SnpSpl, r.tcb.UcodeSpl)
	default:
		return nil, fmt.Errorf("%w: kind %d", ErrKindNotAllowed, uint8(ev.Kind))
	}
	if k, ok := p.Allowed[c.Measurement]; !ok || k != ev.Kind {
		return nil, fmt.Errorf("%w: %s measurement %x", ErrMeasurementNotAllowed, ev.Kind.Name(), c.Measurement)
	}
	if want := b.ReportData(ev.GPUs); reportData != want {
		return nil, fmt.Errorf("%w: %s report data %x, want %x", ErrReportData, ev.Kind.Name(), reportData, want)
	}
	if p.RequireGPU && len(ev.GPUs) == 0 {
		return nil, ErrGPURequired
	}
	nonce := b.GPUNonce()
	for i, g := range ev.GPUs {
		gc, err := verifyGPU(g, p.Roots.NVIDIA, now, nonce)
		if err != nil {
			return nil, fmt.Errorf("GPU %d: %w", i, err)
		}
		if len(p.AllowedGPUMeasurements) > 0 && !p.AllowedGPUMeasurements[gc.Measurement] {
			return nil, fmt.Errorf("%w: GPU %d measurement %x", ErrMeasurementNotAllowed, i, gc.Measurement)
		}
		c.GPUs = append(c.GPUs, *gc)
	}
	d, err := ev.Digest()
	if err != nil {
		return nil, err
	}
	c.EvidenceDigest = d
	return c, nil
}

// MarshalJSON writes the claims with hex hashes; the simulated flag is always present.
func (c *Claims) MarshalJSON() ([]byte, error) {
	type gpu struct {
		GPUClaims
		Measurement string `json:"measurement"`
		Nonce       string `json:"nonce"`
	}
	out := struct {
		Kind           Kind              `json:"kind"`
		Simulated      bool              `json:"simulated"`
		Measurement    string            `json:"measurement"`
		TLSKeyHash     string            `json:"tls_key_hash"`
		EvidenceDigest string            `json:"evidence_digest"`
		TCBStatus      string            `json:"tcb_status"`
		GPUs           []gpu             `json:"gpus"`
		Registers      map[string]string `json:"registers"`
	}{c.Kind, c.Kind == KindSim, hex.EncodeToString(c.Measurement[:]), hex.EncodeToString(c.TLSKeyHash[:]),
		hex.EncodeToString(c.EvidenceDigest[:]), c.TCBStatus, []gpu{}, c.Registers}
	for _, g := range c.GPUs {
		out.GPUs = append(out.GPUs, gpu{g, hex.EncodeToString(g.Measurement[:]), hex.EncodeToString(g.Nonce[:])})
	}
	return json.Marshal(out)
}

// LogValue makes slog print the summary, SIMULATED marker included.
func (c *Claims) LogValue() slog.Value { return slog.StringValue(c.String()) }

// HashToBig converts a measurement, key or evidence hash to the uint256 the contracts store.
func HashToBig(h [32]byte) *big.Int { return new(big.Int).SetBytes(h[:]) }

// HashFromBig converts a contract uint256 back to a hash; it fails for values outside 0..2^256-1.
func HashFromBig(x *big.Int) ([32]byte, error) {
	var h [32]byte
	if x == nil || x.Sign() < 0 || x.BitLen() > 256 {
		return h, fmt.Errorf("%w: %v is not a uint256", ErrMalformed, x)
	}
	x.FillBytes(h[:])
	return h, nil
}

// OnlineCollateral fetches Intel PCS collateral over the network and caches each answer for ttl.
func OnlineCollateral(ttl time.Duration) *CachingGetter {
	return &CachingGetter{Upstream: tdxtrust.DefaultHTTPSGetter(), TTL: ttl}
}
