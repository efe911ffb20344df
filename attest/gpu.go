package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"time"
)

// SPDM 1.1 constants for the GET_MEASUREMENTS exchange an H100/H200 answers (DMTF DSP0274).
const (
	spdmVersion11       = 0x11
	spdmGetMeasurements = 0xE0
	spdmMeasurements    = 0x60
	spdmReqLen          = 37 // version, code, param1, param2, nonce[32], slot
	spdmSigLen          = 96 // ECDSA P-384 r || s
	gpuMaxReportSize    = 64 << 10
)

// NVIDIA opaque-data field types inside the MEASUREMENTS response (values from NVIDIA's verifier).
const (
	opaqueDriverVersion = 3
	opaqueVBIOSVersion  = 6
	opaqueProject       = 17
	opaqueChipSKU       = 15
)

// SPDMReport is a parsed GET_MEASUREMENTS request and signed MEASUREMENTS response.
type SPDMReport struct {
	// Nonce is the requester's nonce the GPU signed over.
	Nonce [32]byte
	// Blocks are the measurement blocks by index (1-based SPDM indices), each a DMTF value.
	Blocks []SPDMBlock
	// Opaque is NVIDIA's opaque data (type-length-value fields).
	Opaque []byte
	// Signed is request || response up to the signature: the signed message.
	Signed []byte
	// Signature is raw ECDSA P-384 r || s.
	Signature []byte
}

// SPDMBlock is one DMTF measurement block.
type SPDMBlock struct {
	Index     uint8
	ValueType uint8
	Value     []byte
}

// ParseSPDMReport parses NVML's attestation report bytes: the 37-byte SPDM 1.1 GET_MEASUREMENTS
// request (signature requested) followed by the MEASUREMENTS response. Every length is checked; the
// response must end exactly after its 96-byte signature.
func ParseSPDMReport(b []byte) (*SPDMReport, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: GPU SPDM report: %s", ErrMalformed, fmt.Sprintf(format, a...))
	}
	if len(b) > gpuMaxReportSize {
		return nil, bad("%d bytes, limit %d", len(b), gpuMaxReportSize)
	}
	if len(b) < spdmReqLen+8 {
		return nil, bad("%d bytes is too short", len(b))
	}
	req := b[:spdmReqLen]
	if req[0] != spdmVersion11 || req[1] != spdmGetMeasurements {
		return nil, bad("request header %x, want SPDM 1.1 GET_MEASUREMENTS", req[:2])
	}
	if req[2]&1 == 0 {
		return nil, bad("request did not ask for a signature")
	}
	r := &SPDMReport{}
	copy(r.Nonce[:], req[4:36])
	resp := b[spdmReqLen:]
	if resp[0] != spdmVersion11 || resp[1] != spdmMeasurements {
		return nil, bad("response header %x, want SPDM 1.1 MEASUREMENTS", resp[:2])
	}
	nBlocks := int(resp[4])
	recLen := int(resp[5]) | int(resp[6])<<8 | int(resp[7])<<16
	off := 8
	if len(resp) < off+recLen {
		return nil, bad("measurement record of %d bytes overruns the response", recLen)
	}
	rec := resp[off : off+recLen]
	off += recLen
	for i := 0; i < nBlocks; i++ {
		if len(rec) < 4 {
			return nil, bad("block %d header truncated", i)
		}
		idx, spec, size := rec[0], rec[1], int(binary.LittleEndian.Uint16(rec[2:4]))
		if spec != 1 {
			return nil, bad("block %d has measurement specification %d, want DMTF (1)", i, spec)
		}
		if len(rec) < 4+size || size < 3 {
			return nil, bad("block %d size %d overruns the record", i, size)
		}
		m := rec[4 : 4+size]
		vt, vs := m[0], int(binary.LittleEndian.Uint16(m[1:3]))
		if vs != size-3 {
			return nil, bad("block %d value size %d disagrees with block size %d", i, vs, size)
		}
		r.Blocks = append(r.Blocks, SPDMBlock{Index: idx, ValueType: vt, Value: m[3:]})
		rec = rec[4+size:]
	}
	if len(rec) != 0 {
		return nil, bad("%d bytes left in the measurement record after %d blocks", len(rec), nBlocks)
	}
	if len(resp) < off+32+2 {
		return nil, bad("response truncated before the responder nonce")
	}
	off += 32 // responder nonce: signed, not otherwise used
	opLen := int(binary.LittleEndian.Uint16(resp[off : off+2]))
	off += 2
	if len(resp) < off+opLen {
		return nil, bad("opaque data of %d bytes overruns the response", opLen)
	}
	r.Opaque = resp[off : off+opLen]
	off += opLen
	if len(resp)-off != spdmSigLen {
		return nil, bad("%d bytes after the opaque data, want a %d-byte signature", len(resp)-off, spdmSigLen)
	}
	r.Signed = b[:spdmReqLen+off]
	r.Signature = resp[off:]
	return r, nil
}

// opaqueField returns the first opaque field of the given type.
func (r *SPDMReport) opaqueField(typ uint16) ([]byte, bool) {
	o := r.Opaque
	for len(o) >= 4 {
		t, s := binary.LittleEndian.Uint16(o[0:2]), int(binary.LittleEndian.Uint16(o[2:4]))
		if len(o) < 4+s {
			return nil, false
		}
		if t == typ {
			return o[4 : 4+s], true
		}
		o = o[4+s:]
	}
	return nil, false
}

func cString(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

// MeasurementHash is the GPU measurement hash: SHA-256 over the kind tag "gpu" and every block's
// index, value type and value in report order. It changes with firmware and VBIOS.
func (r *SPDMReport) MeasurementHash() [32]byte {
	fields := make([][]byte, 0, len(r.Blocks))
	for _, bl := range r.Blocks {
		fields = append(fields, append([]byte{bl.Index, bl.ValueType}, bl.Value...))
	}
	h := sha256.New()
	h.Write([]byte(tagMeasurement + "gpu\x00"))
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

// GPUClaims is what a verified GPU report says.
type GPUClaims struct {
	// Model is the chip from the device certificate, e.g. "GH100".
	Model string `json:"model"`
	// DeviceSerial is the device certificate's serial-number attribute (unique per GPU).
	DeviceSerial  string `json:"device_serial"`
	DriverVersion string `json:"driver_version"`
	VBIOSVersion  string `json:"vbios_version"`
	// Measurement is MeasurementHash of the report's measurement blocks.
	Measurement [32]byte `json:"-"`
	Nonce       [32]byte `json:"-"`
}

// verifyGPU checks one GPU's evidence: the device chain up to the pinned NVIDIA root at time now,
// the ECDSA P-384 signature over request || response, and the nonce.
func verifyGPU(g GPUEvidence, roots *x509.CertPool, now time.Time, wantNonce [32]byte) (*GPUClaims, error) {
	rep, err := ParseSPDMReport(g.Report)
	if err != nil {
		return nil, err
	}
	if len(g.CertChain) == 0 {
		return nil, fmt.Errorf("%w: GPU certificate chain is empty", ErrMalformed)
	}
	certs := make([]*x509.Certificate, 0, len(g.CertChain))
	for i, der := range g.CertChain {
		c, err := x509.ParseCertificate(der)
		if err != nil {
			return nil, fmt.Errorf("%w: GPU certificate %d: %v", ErrMalformed, i, err)
		}
		certs = append(certs, c)
	}
	leaf := certs[0]
	// The report signature first: one P-384 verification, against four for the chain.
	pub, ok := leaf.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return nil, fmt.Errorf("%w: GPU attestation key is not ECDSA P-384", ErrMalformed)
	}
	digest := sha512.Sum384(rep.Signed)
	rr := new(big.Int).SetBytes(rep.Signature[:48])
	ss := new(big.Int).SetBytes(rep.Signature[48:])
	if !ecdsa.Verify(pub, digest[:], rr, ss) {
		return nil, fmt.Errorf("%w: GPU SPDM measurements signature", ErrSignature)
	}
	if err := gpuChains.verify(g.CertChain, leaf, certs[1:], roots, now); err != nil {
		return nil, err
	}
	if rep.Nonce != wantNonce {
		return nil, fmt.Errorf("%w: report signed nonce %x, asked for %x", ErrGPUNonce, rep.Nonce, wantNonce)
	}
	c := &GPUClaims{Measurement: rep.MeasurementHash(), Nonce: rep.Nonce, DeviceSerial: leaf.Subject.SerialNumber}
	if cn := leaf.Subject.CommonName; cn != "" {
		c.Model = strings.Fields(cn)[0]
	}
	if v, ok := rep.opaqueField(opaqueDriverVersion); ok {
		c.DriverVersion = cString(v)
	}
	if v, ok := rep.opaqueField(opaqueVBIOSVersion); ok && len(v) >= 5 {
		// NVIDIA prints the VBIOS version as the little-endian uint32 in hex, then the fifth byte.
		x := fmt.Sprintf("%08X", binary.LittleEndian.Uint32(v[:4]))
		c.VBIOSVersion = fmt.Sprintf("%s.%s.%s.%s.%02X", x[0:2], x[2:4], x[4:6], x[6:8], v[4])
	}
	return c, nil
}

// verifyChain verifies leaf through the given intermediates to one of roots at time now, mapping
// failures onto ErrUntrustedRoot / ErrExpired. The chain may or may not include the root itself.
func verifyChain(leaf *x509.Certificate, rest []*x509.Certificate, roots *x509.CertPool, now time.Time, what string) error {
	if roots == nil {
		return fmt.Errorf("%w: no %s root pinned in the policy", ErrUntrustedRoot, what)
	}
	inter := x509.NewCertPool()
	for _, c := range rest {
		inter.AddCert(c)
	}
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err == nil {
		return nil
	}
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return fmt.Errorf("%w: %s certificate chain at %s: %v", ErrExpired, what, now.UTC().Format(time.RFC3339), err)
	}
	return fmt.Errorf("%w: %s certificate chain: %v", ErrUntrustedRoot, what, err)
}

// gpuChainCache remembers device chains that verified against a root pool. A chain is four P-384
// signatures (~8 ms here) and never changes for a device, while its report signature must be checked
// every time. An entry holds only while now is inside every certificate's validity.
type gpuChainCache struct {
	mu sync.Mutex
	// m is guarded by mu; emptied when it reaches gpuChainCacheMax.
	m map[gpuChainKey]gpuChainValidity
}

type gpuChainKey struct {
	chain [32]byte
	roots *x509.CertPool
}

type gpuChainValidity struct{ notBefore, notAfter time.Time }

const gpuChainCacheMax = 256

var gpuChains gpuChainCache

func (c *gpuChainCache) verify(chainDER [][]byte, leaf *x509.Certificate, rest []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	h := sha256.New()
	for _, d := range chainDER {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(d)))
		h.Write(n[:])
		h.Write(d)
	}
	k := gpuChainKey{roots: roots}
	h.Sum(k.chain[:0])
	c.mu.Lock()
	v, ok := c.m[k]
	c.mu.Unlock()
	if ok && roots != nil && !now.Before(v.notBefore) && !now.After(v.notAfter) {
		return nil
	}
	if err := verifyChain(leaf, rest, roots, now, "NVIDIA GPU device"); err != nil {
		return err
	}
	v = gpuChainValidity{notBefore: leaf.NotBefore, notAfter: leaf.NotAfter}
	for _, x := range rest {
		if x.NotBefore.After(v.notBefore) {
			v.notBefore = x.NotBefore
		}
		if x.NotAfter.Before(v.notAfter) {
			v.notAfter = x.NotAfter
		}
	}
	c.mu.Lock()
	if c.m == nil || len(c.m) >= gpuChainCacheMax {
		c.m = map[gpuChainKey]gpuChainValidity{}
	}
	c.m[k] = v
	c.mu.Unlock()
	return nil
}
