package attest

import (
	"bytes"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/asn1"
	"encoding/binary"
	"fmt"
)

// Limits that keep a hostile peer from making us parse megabytes. Real sizes: a TDX quote is
// ~5 KB, an SNP report with its certificate table ~5 KB, an H100 SPDM report ~4 KB, its chain ~5 KB.
const (
	maxEvidenceSize = 256 << 10
	maxGPUs         = 16
	maxChainCerts   = 8
)

// Evidence is everything a verifier needs besides its Policy: the CPU TEE's report and the GPUs'.
//
// Wire form (the RA-TLS certificate extension and the evidence endpoint both carry it) is DER:
//
//	CocoonEvidence ::= SEQUENCE {
//	  version  INTEGER (1),
//	  kind     INTEGER (1 tdx | 2 snp | 3 sim),
//	  cpu      OCTET STRING,          -- see Evidence.CPU
//	  gpus     SEQUENCE OF GPUEvidence
//	}
//	GPUEvidence ::= SEQUENCE {
//	  report   OCTET STRING,          -- SPDM GET_MEASUREMENTS request || MEASUREMENTS response
//	  chain    SEQUENCE OF OCTET STRING  -- DER certificates, leaf first
//	}
type Evidence struct {
	Kind Kind
	// CPU is, per kind: tdx, a TDX quote v4 as the QE returns it; snp, the 1184-byte attestation
	// report followed by the GHCB certificate table (VCEK, ASK, ...); sim, a SimReport.
	CPU []byte
	// GPUs holds one report per confidential-computing GPU, in device order.
	GPUs []GPUEvidence
}

// GPUEvidence is one GPU's answer to a nonce: the SPDM 1.1 GET_MEASUREMENTS request and signed
// MEASUREMENTS response (as NVML's nvmlDeviceGetConfComputeGpuAttestationReport returns them) and
// the device's certificate chain, leaf (attestation key) first.
type GPUEvidence struct {
	Report    []byte
	CertChain [][]byte
}

const evidenceVersion = 1

type evidenceASN1 struct {
	Version int
	Kind    int
	CPU     []byte
	GPUs    []gpuASN1
}

type gpuASN1 struct {
	Report []byte
	Chain  [][]byte
}

// Marshal encodes the evidence in its DER wire form. The encoding is deterministic, so Digest is
// the same for every oracle that sees the same evidence.
func (e *Evidence) Marshal() ([]byte, error) {
	if !e.Kind.Valid() {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, uint8(e.Kind))
	}
	a := evidenceASN1{Version: evidenceVersion, Kind: int(e.Kind), CPU: e.CPU, GPUs: []gpuASN1{}}
	for _, g := range e.GPUs {
		chain := g.CertChain
		if chain == nil {
			chain = [][]byte{}
		}
		a.GPUs = append(a.GPUs, gpuASN1{Report: g.Report, Chain: chain})
	}
	b, err := asn1.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("failed to encode evidence: %w", err)
	}
	return b, nil
}

// ParseEvidence decodes the DER wire form, rejecting trailing bytes, unknown versions and kinds,
// and sizes beyond sane limits. It checks structure only; Verifier.Verify checks meaning.
func ParseEvidence(b []byte) (*Evidence, error) {
	if len(b) > maxEvidenceSize {
		return nil, fmt.Errorf("%w: evidence is %d bytes, limit %d", ErrMalformed, len(b), maxEvidenceSize)
	}
	var a evidenceASN1
	rest, err := asn1.Unmarshal(b, &a)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	if len(rest) != 0 {
		return nil, fmt.Errorf("%w: %d trailing bytes after evidence", ErrMalformed, len(rest))
	}
	if a.Version != evidenceVersion {
		return nil, fmt.Errorf("%w: evidence version %d, want %d", ErrMalformed, a.Version, evidenceVersion)
	}
	if a.Kind < 0 || a.Kind > 255 || !Kind(a.Kind).Valid() {
		return nil, fmt.Errorf("%w: unknown kind %d", ErrMalformed, a.Kind)
	}
	if len(a.CPU) == 0 {
		return nil, fmt.Errorf("%w: empty CPU evidence", ErrMalformed)
	}
	if len(a.GPUs) > maxGPUs {
		return nil, fmt.Errorf("%w: %d GPU reports, limit %d", ErrMalformed, len(a.GPUs), maxGPUs)
	}
	e := &Evidence{Kind: Kind(a.Kind), CPU: a.CPU}
	for i, g := range a.GPUs {
		if len(g.Report) == 0 || len(g.Chain) == 0 {
			return nil, fmt.Errorf("%w: GPU %d has an empty report or certificate chain", ErrMalformed, i)
		}
		if len(g.Chain) > maxChainCerts {
			return nil, fmt.Errorf("%w: GPU %d chain has %d certificates, limit %d", ErrMalformed, i, len(g.Chain), maxChainCerts)
		}
		e.GPUs = append(e.GPUs, GPUEvidence{Report: g.Report, CertChain: g.Chain})
	}
	// One evidence, one byte form: anything encoding/asn1 tolerates beyond DER is refused, so the
	// digest oracles vote for cannot be varied.
	if again, err := e.Marshal(); err != nil || !bytes.Equal(again, b) {
		return nil, fmt.Errorf("%w: evidence is not canonical DER", ErrMalformed)
	}
	return e, nil
}

// Digest is SHA-256 over the DER wire form: the "evidence digest" oracles vote for on-chain.
func (e *Evidence) Digest() ([32]byte, error) {
	b, err := e.Marshal()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Domain tags: each hash input starts with one, so a value computed for one purpose can never be
// replayed as another.
const (
	tagReportData  = "cocoon/v1/report-data\x00"
	tagGPUNonce    = "cocoon/v1/gpu-nonce\x00"
	tagGPUDigest   = "cocoon/v1/gpu-evidence\x00"
	tagMeasurement = "cocoon/v1/measurement/"
)

// Binding is what a piece of evidence must commit to: the TLS public key of the VM that produced it
// and, for fresh evidence from the evidence endpoint, the verifier's challenge. An RA-TLS
// certificate's evidence has an empty Challenge.
type Binding struct {
	// KeyHash is SHA-256 of the TLS key's DER SubjectPublicKeyInfo (KeyHash function).
	KeyHash [32]byte
	// Challenge is the caller's nonce (1..64 bytes), or empty for certificate evidence.
	Challenge []byte
}

// KeyHash is SHA-256 over a DER SubjectPublicKeyInfo: the "TLS key hash" in claims and on-chain.
func KeyHash(spkiDER []byte) [32]byte { return sha256.Sum256(spkiDER) }

// GPUNonce is the nonce the VM asks its GPUs to sign:
// SHA-256(tagGPUNonce || KeyHash || SHA-256(Challenge)).
func (b Binding) GPUNonce() [32]byte {
	ch := sha256.Sum256(b.Challenge)
	h := sha256.New()
	h.Write([]byte(tagGPUNonce))
	h.Write(b.KeyHash[:])
	h.Write(ch[:])
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// ReportData is the 64 bytes the CPU report must carry:
// SHA-512(tagReportData || KeyHash || SHA-256(Challenge) || GPUDigest(gpus)).
// Covering the GPU evidence ties the GPUs' reports to this very CPU quote.
func (b Binding) ReportData(gpus []GPUEvidence) [64]byte {
	ch := sha256.Sum256(b.Challenge)
	gd := GPUDigest(gpus)
	h := sha512.New()
	h.Write([]byte(tagReportData))
	h.Write(b.KeyHash[:])
	h.Write(ch[:])
	h.Write(gd[:])
	var out [64]byte
	h.Sum(out[:0])
	return out
}

// GPUDigest is SHA-256 over the GPU evidence list, each byte string length-prefixed (uint32 BE);
// all zero when there is no GPU.
func GPUDigest(gpus []GPUEvidence) [32]byte {
	if len(gpus) == 0 {
		return [32]byte{}
	}
	h := sha256.New()
	h.Write([]byte(tagGPUDigest))
	var n [4]byte
	put := func(b []byte) {
		binary.BigEndian.PutUint32(n[:], uint32(len(b)))
		h.Write(n[:])
		h.Write(b)
	}
	binary.BigEndian.PutUint32(n[:], uint32(len(gpus)))
	h.Write(n[:])
	for _, g := range gpus {
		put(g.Report)
		binary.BigEndian.PutUint32(n[:], uint32(len(g.CertChain)))
		h.Write(n[:])
		for _, c := range g.CertChain {
			put(c)
		}
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}

// measurementHash is SHA-256(tagMeasurement || kind name || "\x00" || fields...), each field
// length-prefixed (uint16 BE). Per-kind field lists: tdxMeasurement, snpMeasurement, simMeasurement.
func measurementHash(k Kind, fields ...[]byte) [32]byte {
	h := sha256.New()
	h.Write([]byte(tagMeasurement))
	h.Write([]byte(k.Name()))
	h.Write([]byte{0})
	var n [2]byte
	for _, f := range fields {
		binary.BigEndian.PutUint16(n[:], uint16(len(f)))
		h.Write(n[:])
		h.Write(f)
	}
	var out [32]byte
	h.Sum(out[:0])
	return out
}
