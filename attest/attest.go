// Package attest produces and checks TEE evidence: Intel TDX quotes, AMD SEV-SNP reports, NVIDIA
// H100/H200 confidential-computing GPU reports and, for the devnet only, simulated evidence; and it
// builds RA-TLS certificates that carry that evidence bound to the TLS key.
//
// The promise it makes checkable: a TLS connection whose peer certificate verifies talks to a key
// that was generated inside a VM whose measurement the caller's Policy allows, on hardware whose
// vendor root the Policy pins.
//
// Provider (inside the VM):
//
//	a, err := attest.DetectAttester()            // TDX or SNP; devnet: attest.NewSimAttester(attest.DevnetSimImage)
//	gpu, _ := attest.NewNVMLAttester()           // optional; needs -tags nvml
//	is, err := attest.NewIssuer(ctx, attest.IssuerConfig{Attester: a, GPU: gpu})
//	srv.TLSConfig = is.TLSConfig()               // or GetCertificate: is.GetCertificate
//	mux.Handle(attest.EvidencePath, is.EvidenceHandler())
//
// Client and oracle:
//
//	roots, _ := attest.DefaultRoots()
//	v, err := attest.NewVerifier(attest.Policy{Allowed: fromRegistry, AllowSim: registryIsDevnet, Roots: roots,
//		TDXCollateral: attest.OnlineCollateral(time.Hour)})
//	tr := &http.Transport{TLSClientConfig: v.ClientTLSConfig(func(c *attest.Claims) { ... })}
//	fresh, err := v.FetchFreshEvidence(ctx, &http.Client{Transport: tr}, providerURL, nonce) // oracle
//
// Claims carry what oracles vote on-chain: Measurement, EvidenceDigest, TLSKeyHash (HashToBig for
// the contracts' uint256).
package attest

import (
	"context"
	"errors"
	"fmt"
)

// Kind is the TEE technology that produced CPU evidence. The numeric values are the registry
// contract's MEASUREMENT_KIND_* codes (tolk/src/storage.tolk) and never change.
type Kind uint8

const (
	KindTDX Kind = 1
	KindSNP Kind = 2
	// KindSim is simulated evidence for the devnet: no hardware protects anything. It is never
	// produced by accident and never accepted unless a Policy allows it explicitly.
	KindSim Kind = 3
)

// Name is the kind's wire name: "tdx", "snp" or "sim".
func (k Kind) Name() string {
	switch k {
	case KindTDX:
		return "tdx"
	case KindSNP:
		return "snp"
	case KindSim:
		return "sim"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// String is the name for humans and logs; the simulated kind always says so loudly.
func (k Kind) String() string {
	if k == KindSim {
		return "sim (SIMULATED, NOT A TEE)"
	}
	return k.Name()
}

// Valid reports whether k is one of the defined kinds.
func (k Kind) Valid() bool { return k == KindTDX || k == KindSNP || k == KindSim }

// MarshalText writes the wire name, so JSON carries "tdx" / "snp" / "sim".
func (k Kind) MarshalText() ([]byte, error) {
	if !k.Valid() {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, uint8(k))
	}
	return []byte(k.Name()), nil
}

// UnmarshalText reads a wire name.
func (k *Kind) UnmarshalText(b []byte) error {
	p, err := ParseKind(string(b))
	if err != nil {
		return err
	}
	*k = p
	return nil
}

// ParseKind reads a wire name ("tdx", "snp", "sim").
func ParseKind(s string) (Kind, error) {
	switch s {
	case "tdx":
		return KindTDX, nil
	case "snp":
		return KindSNP, nil
	case "sim":
		return KindSim, nil
	}
	return 0, fmt.Errorf("%w: unknown TEE kind %q (want tdx, snp or sim)", ErrMalformed, s)
}

// Sentinel errors. Every verification failure wraps exactly one of them, so callers (and tests)
// can tell which check failed; the message adds the detail.
var (
	// ErrMalformed: evidence, a certificate extension or a request that does not parse.
	ErrMalformed = errors.New("malformed attestation evidence")
	// ErrSimNotAllowed: simulated evidence under a policy that does not allow the sim kind.
	ErrSimNotAllowed = errors.New("simulated evidence is not allowed by this policy")
	// ErrKindNotAllowed: a TEE kind the policy does not accept.
	ErrKindNotAllowed = errors.New("TEE kind not allowed by this policy")
	// ErrUntrustedRoot: a certificate chain that does not end at the policy's pinned vendor root.
	ErrUntrustedRoot = errors.New("certificate chain does not lead to a pinned vendor root")
	// ErrExpired: a certificate or collateral not valid at the policy's time.
	ErrExpired = errors.New("certificate or collateral not valid at verification time")
	// ErrSignature: a report or quote whose signature does not verify under its certified key.
	ErrSignature = errors.New("evidence signature does not verify")
	// ErrCollateral: vendor collateral (TCB info, QE identity, CRLs) missing or invalid.
	ErrCollateral = errors.New("attestation collateral missing or invalid")
	// ErrTCB: a platform TCB below the policy's minimum or not up to date per the vendor.
	ErrTCB = errors.New("platform TCB not acceptable")
	// ErrDebug: a TEE launched in debug mode, whose memory the host can read.
	ErrDebug = errors.New("TEE is in debug mode")
	// ErrPrivilege: an SNP report requested from a VM privilege level the policy does not trust.
	ErrPrivilege = errors.New("report requested from an untrusted privilege level")
	// ErrReportData: report data that does not bind what it is claimed to bind (TLS key, nonce, GPUs).
	ErrReportData = errors.New("report data does not match the expected binding")
	// ErrMeasurementNotAllowed: a measurement hash that is not on the policy's allow-list.
	ErrMeasurementNotAllowed = errors.New("measurement not allowed by this policy")
	// ErrGPUNonce: a GPU report answering a different nonce than the one asked for.
	ErrGPUNonce = errors.New("GPU report nonce does not match the requested nonce")
	// ErrGPURequired: no GPU evidence where the policy requires it.
	ErrGPURequired = errors.New("GPU evidence required by this policy is missing")
	// ErrNoTEE: no TEE device on this machine (an Attester could not be opened).
	ErrNoTEE = errors.New("no TEE device available")
)

// Attester produces CPU evidence: a signed report whose report-data field holds the given 64 bytes.
// Implementations: TDXAttester, SNPAttester, SimAttester.
type Attester interface {
	Kind() Kind
	// Attest returns the kind's raw evidence bytes (see Evidence.CPU) binding reportData.
	Attest(ctx context.Context, reportData [64]byte) ([]byte, error)
}

// GPUAttester produces one SPDM measurement report per confidential-computing GPU, each answering
// the given nonce. The NVML implementation (build tag nvml, needs cgo) is NewNVMLAttester.
type GPUAttester interface {
	AttestGPUs(ctx context.Context, nonce [32]byte) ([]GPUEvidence, error)
}
