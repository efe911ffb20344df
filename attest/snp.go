package attest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	sevclient "github.com/google/go-sev-guest/client"
	"github.com/google/go-sev-guest/kds"
	sevpb "github.com/google/go-sev-guest/proto/sevsnp"
	sevverify "github.com/google/go-sev-guest/verify"
	sevtrust "github.com/google/go-sev-guest/verify/trust"
)

// SNPAttester gets SEV-SNP attestation reports with their certificate table from inside an SNP
// guest, through configfs-tsm when available, else through /dev/sev-guest.
type SNPAttester struct {
	// KDS, when set, fetches the VCEK from AMD's Key Distribution Service for hosts that pass no
	// certificate table with the report (many do not); nil makes such reports an error. Use
	// trust.DefaultHTTPSGetter() from go-sev-guest, or a cache in front of it.
	KDS SNPCertGetter

	mu sync.Mutex
	qp sevclient.QuoteProvider
}

// SNPCertGetter is go-sev-guest's getter interface, for SNPAttester.KDS.
type SNPCertGetter = sevtrust.HTTPSGetter

// NewSNPAttester finds the SNP reporting interface on this machine or returns ErrNoTEE.
func NewSNPAttester() (*SNPAttester, error) {
	qp, err := sevclient.GetQuoteProvider()
	if err != nil {
		return nil, fmt.Errorf("%w: SEV-SNP: %v", ErrNoTEE, err)
	}
	return &SNPAttester{qp: qp}, nil
}

func (*SNPAttester) Kind() Kind { return KindSNP }

// Attest returns the raw report (abi.ReportSize bytes) followed by the certificate table.
func (a *SNPAttester) Attest(ctx context.Context, reportData [64]byte) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	b, err := a.qp.GetRawQuote(reportData)
	if err != nil {
		return nil, fmt.Errorf("failed to get SEV-SNP report: %w", err)
	}
	return completeSNPEvidence(ctx, b, a.KDS)
}

// completeSNPEvidence canonicalizes a report with its host certificate table, fetching the VCEK from
// AMD KDS through getter when the host supplied none.
func completeSNPEvidence(ctx context.Context, raw []byte, getter SNPCertGetter) ([]byte, error) {
	c, err := CanonicalSNPEvidence(raw)
	if err == nil || getter == nil || len(raw) < sevabi.ReportSize {
		return c, err
	}
	var rep *sevpb.Report
	if err := guard("SNP report parser", func() (e error) { rep, e = sevabi.ReportToProto(raw[:sevabi.ReportSize]); return e }); err != nil {
		return nil, fmt.Errorf("%w: SNP report: %v", ErrMalformed, err)
	}
	att, err := sevverify.GetAttestationFromReportContext(ctx, rep, &sevverify.Options{Getter: getter})
	if err != nil {
		return nil, fmt.Errorf("failed to fetch the VCEK from AMD KDS: %w", err)
	}
	return SNPEvidence(raw[:sevabi.ReportSize], att.GetCertificateChain().GetVcekCert())
}

// CanonicalSNPEvidence reduces a report with its host-supplied certificate table to the one form the
// verifier accepts: the report followed by a table holding only the VCEK (ASK and ARK are pinned, so
// copies of them carry nothing; padding would give one report many digests).
func CanonicalSNPEvidence(raw []byte) ([]byte, error) {
	if len(raw) <= sevabi.ReportSize {
		return nil, fmt.Errorf("%w: SNP evidence of %d bytes has no certificate table after the %d-byte report", ErrMalformed, len(raw), sevabi.ReportSize)
	}
	var t sevabi.CertTable
	if err := guard("SNP certificate table parser", func() error { return t.Unmarshal(raw[sevabi.ReportSize:]) }); err != nil {
		return nil, fmt.Errorf("%w: SNP certificate table: %v", ErrMalformed, err)
	}
	vcek, err := t.GetByGUIDString(sevabi.VcekGUID)
	if err != nil || len(vcek) == 0 {
		return nil, fmt.Errorf("%w: the host supplied no VCEK certificate with the SNP report", ErrMalformed)
	}
	return SNPEvidence(raw[:sevabi.ReportSize], vcek)
}

// SNPMeasurement is the SNP measurement hash (the registry allow-list value for kind snp):
// measurementHash over MEASUREMENT (48 bytes), HOST_DATA (32 bytes) and the guest POLICY
// (8 bytes, little-endian as in the report), in that order.
func SNPMeasurement(r *sevpb.Report) [32]byte {
	var pol [8]byte
	binary.LittleEndian.PutUint64(pol[:], r.GetPolicy())
	return measurementHash(KindSNP, r.GetMeasurement(), r.GetHostData(), pol[:])
}

// SNPEvidence assembles SNP CPU evidence from a raw report and the DER VCEK (for callers that have
// the two apart, e.g. from a KDS cache).
func SNPEvidence(report, vcekDER []byte) ([]byte, error) {
	if len(report) != sevabi.ReportSize {
		return nil, fmt.Errorf("%w: SNP report is %d bytes, want %d", ErrMalformed, len(report), sevabi.ReportSize)
	}
	t := sevabi.CertsFromProto(&sevpb.CertificateChain{VcekCert: vcekDER})
	return append(append([]byte{}, report...), t.Marshal()...), nil
}

type snpResult struct {
	report *sevpb.Report
	tcb    kds.TCBParts
}

// verifySNP checks an SNP report: VCEK through the pinned ASK to the pinned ARK at time now, then the
// report signature, debug policy and minimum TCB.
func verifySNP(ctx context.Context, raw []byte, p *Policy, now time.Time) (*snpResult, error) {
	if len(raw) > maxEvidenceSize {
		return nil, fmt.Errorf("%w: SNP evidence of %d bytes", ErrMalformed, len(raw))
	}
	// Canonical form first (our own table parsing): report || a table holding only the VCEK.
	canon, err := CanonicalSNPEvidence(raw)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(canon, raw) {
		return nil, fmt.Errorf("%w: SNP evidence is not in canonical form (report || table with the VCEK only)", ErrMalformed)
	}
	var att *sevpb.Attestation
	err = guard("SNP report parser", func() (e error) { att, e = sevabi.ReportCertsToProto(raw); return e })
	if err != nil {
		return nil, fmt.Errorf("%w: SNP report: %v", ErrMalformed, err)
	}
	info, err := sevabi.ParseSignerInfo(att.GetReport().GetSignerInfo())
	if err != nil {
		return nil, fmt.Errorf("%w: SNP signer info: %v", ErrMalformed, err)
	}
	if info.SigningKey != sevabi.VcekReportSigner {
		return nil, fmt.Errorf("%w: SNP report signed by %v; only VCEK-signed reports are accepted", ErrUntrustedRoot, info.SigningKey)
	}
	vcekDER := att.GetCertificateChain().GetVcekCert()
	vcek, err := x509.ParseCertificate(vcekDER)
	if err != nil {
		return nil, fmt.Errorf("%w: SNP VCEK: %v", ErrMalformed, err)
	}
	if len(p.Roots.AMD) == 0 {
		// go-sev-guest would fall back to its embedded roots: we trust only what the policy pins.
		return nil, fmt.Errorf("%w: no AMD root pinned in the policy", ErrUntrustedRoot)
	}
	opts := &sevverify.Options{
		DisableCertFetching: true,
		TrustedRoots:        p.Roots.AMD,
		Now:                 now,
	}
	if err := guard("SNP verifier", func() error { return sevverify.SnpAttestationContext(ctx, att, opts) }); err != nil {
		if errors.Is(err, ErrMalformed) {
			return nil, err
		}
		// go-sev-guest formats its causes: on failure, check the VCEK chain ourselves for a precise
		// error (only then, to keep the happy path short).
		if cerr := verifyVCEKChain(vcek, p, now); cerr != nil {
			return nil, cerr
		}
		if strings.Contains(err.Error(), "expired") {
			return nil, fmt.Errorf("%w: SNP: %v", ErrExpired, err)
		}
		return nil, fmt.Errorf("%w: SNP report: %v", ErrSignature, err)
	}
	rep := att.GetReport()
	tcb, err := checkSNPGuest(rep, p)
	if err != nil {
		return nil, err
	}
	return &snpResult{report: rep, tcb: tcb}, nil
}

// AMDRoots is the pinned AMD root set for Policy.Roots.AMD: product line → ARK and ASK.
type AMDRoots = map[string][]*sevtrust.AMDRootCerts

// verifyVCEKChain checks VCEK → pinned ASK → pinned ARK at time now.
func verifyVCEKChain(vcek *x509.Certificate, p *Policy, now time.Time) error {
	roots, inter := x509.NewCertPool(), []*x509.Certificate{}
	for _, rs := range p.Roots.AMD {
		for _, r := range rs {
			roots.AddCert(r.ProductCerts.Ark)
			inter = append(inter, r.ProductCerts.Ask)
		}
	}
	if len(inter) == 0 {
		roots = nil
	}
	return verifyChain(vcek, inter, roots, now, "AMD VCEK")
}

// checkSNPGuest applies the policy to a report whose signature has been verified: no debug policy,
// requested from a trusted privilege level (VMPL), and a reported TCB at or above the minimum.
func checkSNPGuest(rep *sevpb.Report, p *Policy) (kds.TCBParts, error) {
	pol, err := sevabi.ParseSnpPolicy(rep.GetPolicy())
	if err != nil {
		return kds.TCBParts{}, fmt.Errorf("%w: SNP guest policy: %v", ErrMalformed, err)
	}
	if pol.Debug {
		return kds.TCBParts{}, fmt.Errorf("%w: SNP guest policy %#x allows debugging", ErrDebug, rep.GetPolicy())
	}
	if rep.GetVmpl() > p.SNPMaxVMPL {
		return kds.TCBParts{}, fmt.Errorf("%w: SNP report requested at VMPL %d, policy trusts VMPL <= %d", ErrPrivilege, rep.GetVmpl(), p.SNPMaxVMPL)
	}
	tcb := kds.DecomposeTCBVersion(kds.TCBVersion(rep.GetReportedTcb()))
	m := p.SNPMinTCB
	if tcb.BlSpl < m.BlSpl || tcb.TeeSpl < m.TeeSpl || tcb.SnpSpl < m.SnpSpl || tcb.UcodeSpl < m.UcodeSpl {
		return kds.TCBParts{}, fmt.Errorf("%w: SNP reported TCB bl=%d tee=%d snp=%d ucode=%d below the policy minimum bl=%d tee=%d snp=%d ucode=%d",
			ErrTCB, tcb.BlSpl, tcb.TeeSpl, tcb.SnpSpl, tcb.UcodeSpl, m.BlSpl, m.TeeSpl, m.SnpSpl, m.UcodeSpl)
	}
	return tcb, nil
}
