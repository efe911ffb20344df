package attest

import (
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	tdxabi "github.com/google/go-tdx-guest/abi"
	tdxclient "github.com/google/go-tdx-guest/client"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxverify "github.com/google/go-tdx-guest/verify"
	tdxtrust "github.com/google/go-tdx-guest/verify/trust"
)

// TDXAttester gets TDX quotes from inside a trust domain: through configfs-tsm
// (/sys/kernel/config/tsm/report) when the kernel has it, else through /dev/tdx_guest.
type TDXAttester struct {
	// mu serializes quote generation: the quoting path handles one request at a time (~40-50 ms).
	mu sync.Mutex
	// provider is the configfs quote provider, or nil to use the device.
	provider *tdxclient.LinuxConfigFsQuoteProvider
}

// NewTDXAttester finds the TDX quoting interface on this machine or returns ErrNoTEE.
func NewTDXAttester() (*TDXAttester, error) {
	qp, err := tdxclient.GetQuoteProvider()
	if err == nil && qp.IsSupported() == nil {
		return &TDXAttester{provider: qp}, nil
	}
	dev, derr := tdxclient.OpenDevice()
	if derr != nil {
		return nil, fmt.Errorf("%w: TDX: neither configfs-tsm (%v) nor /dev/tdx_guest (%v)", ErrNoTEE, err, derr)
	}
	_ = dev.Close()
	return &TDXAttester{}, nil
}

func (*TDXAttester) Kind() Kind { return KindTDX }

// Attest returns a TDX quote v4 whose REPORTDATA is reportData.
func (a *TDXAttester) Attest(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.provider != nil {
		q, err := tdxclient.GetRawQuote(a.provider, reportData)
		if err != nil {
			return nil, fmt.Errorf("failed to get TDX quote via configfs-tsm: %w", err)
		}
		return CanonicalTDXQuote(q)
	}
	dev, err := tdxclient.OpenDevice()
	if err != nil {
		return nil, fmt.Errorf("%w: failed to open /dev/tdx_guest: %v", ErrNoTEE, err)
	}
	defer dev.Close()
	q, err := tdxclient.GetRawQuote(dev, reportData)
	if err != nil {
		return nil, fmt.Errorf("failed to get TDX quote via /dev/tdx_guest: %w", err)
	}
	return CanonicalTDXQuote(q)
}

// TDXMeasurement is the TDX measurement hash (what the registry allow-list holds for kind tdx):
// measurementHash over MRTD, RTMR0, RTMR1, RTMR2, MRCONFIGID, MROWNER, MROWNERCONFIG,
// TDATTRIBUTES and XFAM, in that order. RTMR3 is left out: the running guest extends it.
func TDXMeasurement(body *tdxpb.TDQuoteBody) [32]byte {
	r := body.GetRtmrs()
	rtmr := func(i int) []byte {
		if i < len(r) {
			return r[i]
		}
		return nil
	}
	return measurementHash(KindTDX, body.GetMrTd(), rtmr(0), rtmr(1), rtmr(2),
		body.GetMrConfigId(), body.GetMrOwner(), body.GetMrOwnerConfig(),
		body.GetTdAttributes(), body.GetXfam())
}

// tdxSignedDataOffset is where a quote v4's signed-data length (uint32 LE) sits: after the 48-byte
// header and the 584-byte TD quote body.
const tdxSignedDataOffset = 48 + 584

// tdxQuoteLen is a quote v4's length as declared by its signed-data length field.
func tdxQuoteLen(raw []byte) (int, error) {
	if len(raw) < tdxSignedDataOffset+4 {
		return 0, fmt.Errorf("%w: TDX quote of %d bytes is too short", ErrMalformed, len(raw))
	}
	return tdxSignedDataOffset + 4 + int(binary.LittleEndian.Uint32(raw[tdxSignedDataOffset:])), nil
}

// CanonicalTDXQuote cuts the padding some quoting paths leave after a quote (a fixed-size buffer
// from the device, test padding), so the evidence has one byte form and one digest.
func CanonicalTDXQuote(raw []byte) ([]byte, error) {
	n, err := tdxQuoteLen(raw)
	if err != nil {
		return nil, err
	}
	if n > len(raw) {
		return nil, fmt.Errorf("%w: TDX quote declares %d bytes, has %d", ErrMalformed, n, len(raw))
	}
	return raw[:n], nil
}

// parseTDXQuote parses and size-checks a raw quote v4. Trailing bytes are refused: unsigned slack
// would give one quote many digests.
func parseTDXQuote(raw []byte) (*tdxpb.QuoteV4, error) {
	if len(raw) > maxEvidenceSize {
		return nil, fmt.Errorf("%w: TDX quote of %d bytes", ErrMalformed, len(raw))
	}
	n, err := tdxQuoteLen(raw)
	if err != nil {
		return nil, err
	}
	if n != len(raw) {
		return nil, fmt.Errorf("%w: TDX quote declares %d bytes, has %d (use CanonicalTDXQuote)", ErrMalformed, n, len(raw))
	}
	if err := checkTDXLayout(raw); err != nil {
		return nil, err
	}
	var q any
	err = guard("TDX quote parser", func() (e error) { q, e = tdxabi.QuoteToProto(raw); return e })
	if err != nil {
		return nil, fmt.Errorf("%w: TDX quote: %v", ErrMalformed, err)
	}
	q4, ok := q.(*tdxpb.QuoteV4)
	if !ok {
		return nil, fmt.Errorf("%w: TDX quote is %T, want v4", ErrMalformed, q)
	}
	if err := tdxabi.CheckQuoteV4(q4); err != nil {
		return nil, fmt.Errorf("%w: TDX quote: %v", ErrMalformed, err)
	}
	return q4, nil
}

// checkTDXLayout walks the nested lengths of a quote v4's signed data with bounds checks before
// go-tdx-guest's parser sees it: that parser slices by declared lengths without checking them and
// panics on hostile input (found by FuzzTDXQuote).
func checkTDXLayout(raw []byte) error {
	bad := func(what string) error { return fmt.Errorf("%w: TDX quote: %s", ErrMalformed, what) }
	const headerAndBody = tdxSignedDataOffset + 4
	if len(raw) < headerAndBody {
		return bad("shorter than header and TD body")
	}
	sd := raw[headerAndBody:]
	// ECDSA signature (64), attestation key (64), certification data type (2) and size (4).
	if len(sd) < 64+64+6 {
		return bad("signed data too short")
	}
	cd := sd[64+64:]
	if int(binary.LittleEndian.Uint32(cd[2:6])) != len(cd)-6 {
		return bad("certification data size does not match the signed data")
	}
	qe := cd[6:]
	// QE report (384), QE report signature (64), QE auth data size (2).
	if len(qe) < 384+64+2 {
		return bad("QE report certification data too short")
	}
	authLen := int(binary.LittleEndian.Uint16(qe[448:450]))
	rest := qe[450:]
	if len(rest) < authLen+6 {
		return bad("QE auth data overruns the certification data")
	}
	pck := rest[authLen:]
	if int(binary.LittleEndian.Uint32(pck[2:6])) != len(pck)-6 {
		return bad("PCK certificate chain size does not match the certification data")
	}
	return nil
}

// guard runs third-party parsing or verification of untrusted bytes, turning a panic into
// ErrMalformed: a hostile peer must never crash a client or oracle.
func guard(what string, f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: %s panicked on this input: %v", ErrMalformed, what, r)
		}
	}()
	return f()
}

// tdxResult is what a verified quote says.
type tdxResult struct {
	body      *tdxpb.TDQuoteBody
	tcbStatus string
}

// tdAttrDebug is TDATTRIBUTES bit 0: the host can read and change the TD's memory.
const tdAttrDebug = 0x01

// verifyTDX checks a raw quote: the PCK chain to the pinned Intel root at time now, the quote and
// QE report signatures, and (when a collateral getter is set) TCB info and QE identity.
func verifyTDX(ctx context.Context, raw []byte, p *Policy, now time.Time) (*tdxResult, error) {
	return verifyTDXMode(ctx, raw, p, now, !p.TDXCheckRevocations)
}

// verifyTDXMode verifies with collateral either through the fast path (fastCollateral: verified
// collateral cached, per-quote appraisal in tdx_collateral.go) or entirely through go-tdx-guest.
func verifyTDXMode(ctx context.Context, raw []byte, p *Policy, now time.Time, fastCollateral bool) (*tdxResult, error) {
	q, err := parseTDXQuote(raw)
	if err != nil {
		return nil, err
	}
	if p.Roots.IntelSGX == nil {
		// go-tdx-guest would fall back to its embedded root: we trust only what the policy pins.
		return nil, fmt.Errorf("%w: no Intel SGX root pinned in the policy", ErrUntrustedRoot)
	}
	opts := &tdxverify.Options{
		TrustedRoots: p.Roots.IntelSGX,
		Now: &tdxverify.TimeSet{
			PckCertChain: now, TcbInfo: now, QeIdentity: now, PckCrl: now, RootCaCrl: now,
		},
	}
	res := &tdxResult{body: q.GetTdQuoteBody(), tcbStatus: "unchecked (no collateral in policy)"}
	if p.TDXCollateral != nil && !fastCollateral {
		opts.GetCollateral = true
		opts.CheckRevocations = p.TDXCheckRevocations
		opts.Getter = p.TDXCollateral
		res.tcbStatus = "UpToDate"
	}
	if err := guard("TDX verifier", func() error { return tdxverify.TdxQuoteContext(ctx, q, opts) }); err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		// go-tdx-guest formats its causes instead of wrapping them: check the PCK chain ourselves
		// (only on failure, to keep the happy path short) so an untrusted or expired chain gets a
		// precise error, then classify what remains.
		chain, cerr := tdxverify.ExtractChainFromQuote(q)
		if cerr != nil {
			return nil, fmt.Errorf("%w: TDX PCK certificate chain: %v", ErrMalformed, cerr)
		}
		if cerr := verifyChain(chain.PCKCertificate, []*x509.Certificate{chain.IntermediateCertificate}, p.Roots.IntelSGX, now, "Intel SGX PCK"); cerr != nil {
			return nil, cerr
		}
		return nil, classifyTDXError(err)
	}
	if p.TDXCollateral != nil && fastCollateral {
		if res.tcbStatus, err = appraiseTDXQuote(ctx, q, p, now); err != nil {
			return nil, err
		}
	}
	if res.body.GetTdAttributes()[0]&tdAttrDebug != 0 {
		return nil, fmt.Errorf("%w: TDATTRIBUTES %x has DEBUG set", ErrDebug, res.body.GetTdAttributes())
	}
	svn := res.body.GetTeeTcbSvn()
	for i := range p.TDXMinTeeTcbSvn {
		if i < len(svn) && svn[i] < p.TDXMinTeeTcbSvn[i] {
			return nil, fmt.Errorf("%w: TEE_TCB_SVN %x below the policy minimum %x", ErrTCB, svn, p.TDXMinTeeTcbSvn)
		}
	}
	return res, nil
}

// classifyTDXError maps go-tdx-guest's verification error (it formats, not wraps, its causes) onto
// our sentinels. The chain was already checked, so what remains is collateral, TCB or signatures.
func classifyTDXError(err error) error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "TCB level") || strings.Contains(msg, "TCB Status") ||
		strings.Contains(msg, "TCB status") || strings.Contains(msg, "OutOfDate") ||
		strings.Contains(msg, "TDX Module"):
		return fmt.Errorf("%w: TDX: %v", ErrTCB, err)
	case strings.Contains(msg, "revoked"):
		return fmt.Errorf("%w: TDX: %v", ErrUntrustedRoot, err)
	case strings.Contains(msg, "expired"):
		return fmt.Errorf("%w: TDX: %v", ErrExpired, err)
	case strings.Contains(msg, "collateral") || strings.Contains(msg, "tcbInfo") ||
		strings.Contains(msg, "QeIdentity") || strings.Contains(msg, "CRL") ||
		strings.Contains(msg, "FMSPC") || strings.Contains(msg, "PCEID") ||
		strings.Contains(msg, "MRSIGNERSEAM") || strings.Contains(msg, "AttributesMask") ||
		strings.Contains(msg, "unable to receive"):
		return fmt.Errorf("%w: TDX: %v", ErrCollateral, err)
	}
	return fmt.Errorf("%w: TDX quote: %v", ErrSignature, err)
}

// TDXCollateralGetter is go-tdx-guest's getter interface, for Policy.TDXCollateral.
type TDXCollateralGetter = tdxtrust.HTTPSGetter
