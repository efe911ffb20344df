package attest

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-tdx-guest/pcs"
	tdxpb "github.com/google/go-tdx-guest/proto/tdx"
	tdxverify "github.com/google/go-tdx-guest/verify"
	tdxtrust "github.com/google/go-tdx-guest/verify/trust"
)

// The TDX collateral fast path. go-tdx-guest re-verifies the TCB info and QE identity (their
// signatures and issuer chains, ~8 ECDSA verifications) for every quote. Here a collateral document
// is verified once per distinct byte content and pinned-root pool, then only its validity dates and
// the quote-specific comparisons run per quote. The comparisons follow Intel's TDX quote appraisal
// rules as go-tdx-guest implements them; a differential test (collateral_test.go) holds the two
// paths to the same verdicts. Revocation checking (Policy.TDXCheckRevocations) uses go-tdx-guest's
// full path instead.

const (
	pcsRootCN       = "Intel SGX Root CA"
	pcsTCBSigningCN = "Intel SGX TCB Signing"
)

// verifiedCollateral is one PCS document whose signature and issuer chain have been checked.
type verifiedCollateral struct {
	tcbInfo *pcs.TcbInfo         // set for a TCB info document
	qe      *pcs.EnclaveIdentity // set for a QE identity document
	// notBefore/notAfter bound the issuer chain's validity; nextUpdate is the document's own expiry.
	notBefore, notAfter, nextUpdate time.Time
}

type collateralKey struct {
	content [32]byte
	roots   *x509.CertPool
}

// collateralCache holds verified documents. Guarded by mu; emptied when it reaches 64 entries.
var collateralCache struct {
	mu sync.Mutex
	m  map[collateralKey]*verifiedCollateral
}

// fetchVerifiedCollateral gets a PCS document through getter and returns it verified: issuer chain
// (signing certificate → pinned root, both with Intel's names and P-256) and the ECDSA signature over
// the raw JSON member, at time now.
func fetchVerifiedCollateral(ctx context.Context, getter TDXCollateralGetter, u, member, chainHeader string, roots *x509.CertPool, now time.Time) (*verifiedCollateral, error) {
	header, body, err := tdxtrust.GetWith(ctx, getter, u)
	if err != nil {
		return nil, fmt.Errorf("%w: TDX: unable to receive %s: %v", ErrCollateral, member, err)
	}
	chain := header[chainHeader]
	if len(chain) != 1 {
		return nil, fmt.Errorf("%w: TDX: %s response has %d %q headers, want 1", ErrCollateral, member, len(chain), chainHeader)
	}
	h := sha256.New()
	h.Write([]byte(chain[0]))
	h.Write([]byte{0})
	h.Write(body)
	k := collateralKey{roots: roots}
	h.Sum(k.content[:0])
	collateralCache.mu.Lock()
	vc := collateralCache.m[k]
	collateralCache.mu.Unlock()
	if vc == nil {
		if vc, err = verifyCollateralDocument(chain[0], body, member, roots, now); err != nil {
			return nil, err
		}
		collateralCache.mu.Lock()
		if collateralCache.m == nil || len(collateralCache.m) >= 64 {
			collateralCache.m = map[collateralKey]*verifiedCollateral{}
		}
		collateralCache.m[k] = vc
		collateralCache.mu.Unlock()
	}
	if now.Before(vc.notBefore) || now.After(vc.notAfter) {
		return nil, fmt.Errorf("%w: TDX: %s issuer chain not valid at %s", ErrExpired, member, now.UTC().Format(time.RFC3339))
	}
	if now.After(vc.nextUpdate) {
		return nil, fmt.Errorf("%w: TDX: %s has expired (nextUpdate %s)", ErrExpired, member, vc.nextUpdate.UTC().Format(time.RFC3339))
	}
	return vc, nil
}

func verifyCollateralDocument(chainHeader string, body []byte, member string, roots *x509.CertPool, now time.Time) (*verifiedCollateral, error) {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: TDX %s: %s", ErrCollateral, member, fmt.Sprintf(format, a...))
	}
	pemChain, err := url.QueryUnescape(chainHeader)
	if err != nil {
		return nil, bad("issuer chain header: %v", err)
	}
	var certs []*x509.Certificate
	rest := []byte(pemChain)
	for len(certs) < 3 {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			return nil, bad("issuer chain holds a %q block", blk.Type)
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil {
			return nil, bad("issuer chain certificate: %v", err)
		}
		certs = append(certs, c)
	}
	if len(certs) != 2 || len(bytes.TrimSpace(rest)) != 0 {
		return nil, bad("issuer chain must be exactly the signing certificate and the root")
	}
	signer, root := certs[0], certs[1]
	for _, c := range []struct {
		cert *x509.Certificate
		cn   string
	}{{signer, pcsTCBSigningCN}, {root, pcsRootCN}} {
		pub, ok := c.cert.PublicKey.(*ecdsa.PublicKey)
		if c.cert.Subject.CommonName != c.cn || c.cert.SignatureAlgorithm != x509.ECDSAWithSHA256 || !ok || pub.Curve != elliptic.P256() {
			return nil, bad("issuer certificate %q is not an Intel %q P-256 certificate", c.cert.Subject.CommonName, c.cn)
		}
	}
	if roots == nil {
		return nil, bad("no Intel SGX root pinned")
	}
	chains, err := signer.Verify(x509.VerifyOptions{Roots: roots, Intermediates: x509.NewCertPool(), CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return nil, bad("signing certificate does not chain to a pinned root: %v", err)
	}
	vc := &verifiedCollateral{notBefore: signer.NotBefore, notAfter: signer.NotAfter}
	for _, c := range chains[0][1:] {
		if c.NotBefore.After(vc.notBefore) {
			vc.notBefore = c.NotBefore
		}
		if c.NotAfter.Before(vc.notAfter) {
			vc.notAfter = c.NotAfter
		}
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, bad("body: %v", err)
	}
	raw, ok := doc[member]
	var sigHex string
	if !ok || json.Unmarshal(doc["signature"], &sigHex) != nil {
		return nil, bad("body lacks %q or its signature", member)
	}
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(sig) != 64 {
		return nil, bad("signature is not 64 bytes of hex")
	}
	digest := sha256.Sum256(raw)
	if !ecdsa.Verify(signer.PublicKey.(*ecdsa.PublicKey), digest[:], new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:])) {
		return nil, bad("signature does not verify")
	}
	switch member {
	case "tcbInfo":
		var ti pcs.TcbInfo
		if err := json.Unmarshal(raw, &ti); err != nil {
			return nil, bad("%v", err)
		}
		if ti.ID != "TDX" || ti.Version != 3 || len(ti.TcbLevels) == 0 {
			return nil, bad("id %q version %d with %d TCB levels, want TDX v3 with levels", ti.ID, ti.Version, len(ti.TcbLevels))
		}
		vc.tcbInfo, vc.nextUpdate = &ti, ti.NextUpdate
	case "enclaveIdentity":
		var qe pcs.EnclaveIdentity
		if err := json.Unmarshal(raw, &qe); err != nil {
			return nil, bad("%v", err)
		}
		if qe.ID != "TD_QE" || qe.Version != 2 || len(qe.TcbLevels) == 0 {
			return nil, bad("id %q version %d with %d TCB levels, want TD_QE v2 with levels", qe.ID, qe.Version, len(qe.TcbLevels))
		}
		vc.qe, vc.nextUpdate = &qe, qe.NextUpdate
	}
	return vc, nil
}

// appraiseTDXCollateral checks a quote (whose signatures and PCK chain are already verified) against
// verified TCB info and QE identity. It returns the TCB status; anything but UpToDate is ErrTCB.
func appraiseTDXCollateral(q *tdxpb.QuoteV4, exts *pcs.PckExtensions, ti *pcs.TcbInfo, qe *pcs.EnclaveIdentity) (string, error) {
	body := q.GetTdQuoteBody()
	if !strings.EqualFold(exts.FMSPC, ti.Fmspc) {
		return "", fmt.Errorf("%w: TDX: PCK FMSPC %s differs from the TCB info's %s", ErrCollateral, exts.FMSPC, ti.Fmspc)
	}
	if exts.PCEID != ti.PceID {
		return "", fmt.Errorf("%w: TDX: PCK PCEID %s differs from the TCB info's %s", ErrCollateral, exts.PCEID, ti.PceID)
	}
	if !bytes.Equal(ti.TdxModule.Mrsigner.Bytes, body.GetMrSignerSeam()) {
		return "", fmt.Errorf("%w: TDX: MRSIGNERSEAM %x is not the TCB info's TDX module signer", ErrCollateral, body.GetMrSignerSeam())
	}
	if !maskedEqual(ti.TdxModule.AttributesMask.Bytes, body.GetSeamAttributes(), ti.TdxModule.Attributes.Bytes) {
		return "", fmt.Errorf("%w: TDX: SEAM attributes %x do not match the TCB info", ErrCollateral, body.GetSeamAttributes())
	}
	status, err := tdxTCBStatus(ti, body.GetTeeTcbSvn(), exts.TCB.PCESvn, exts.TCB.CPUSvnComponents)
	if err != nil {
		return "", err
	}
	if status != pcs.TcbComponentStatusUpToDate {
		return "", fmt.Errorf("%w: TDX TCB status is %q, want %q", ErrTCB, status, pcs.TcbComponentStatusUpToDate)
	}
	rep := q.GetSignedData().GetCertificationData().GetQeReportCertificationData().GetQeReport()
	if len(qe.MiscselectMask.Bytes) != 4 || len(qe.Miscselect.Bytes) != 4 {
		return "", fmt.Errorf("%w: TDX QE identity MISCSELECT fields are not 4 bytes", ErrCollateral)
	}
	if rep.GetMiscSelect()&binary.LittleEndian.Uint32(qe.MiscselectMask.Bytes) != binary.LittleEndian.Uint32(qe.Miscselect.Bytes) {
		return "", fmt.Errorf("%w: TDX QE MISCSELECT %#x does not match the QE identity", ErrCollateral, rep.GetMiscSelect())
	}
	if !maskedEqual(qe.AttributesMask.Bytes, rep.GetAttributes(), qe.Attributes.Bytes) {
		return "", fmt.Errorf("%w: TDX QE attributes %x do not match the QE identity", ErrCollateral, rep.GetAttributes())
	}
	if !bytes.Equal(qe.Mrsigner.Bytes, rep.GetMrSigner()) || rep.GetIsvProdId() != uint32(qe.IsvProdID) {
		return "", fmt.Errorf("%w: TDX QE MRSIGNER/ISVPRODID do not match the QE identity", ErrCollateral)
	}
	var qeLevel *pcs.TcbLevel
	for i := range qe.TcbLevels {
		if qe.TcbLevels[i].Tcb.Isvsvn <= rep.GetIsvSvn() {
			qeLevel = &qe.TcbLevels[i]
			break
		}
	}
	if qeLevel == nil {
		return "", fmt.Errorf("%w: TDX: no matching QE TCB level for ISVSVN %d", ErrTCB, rep.GetIsvSvn())
	}
	if qeLevel.TcbStatus != pcs.TcbComponentStatusUpToDate {
		return "", fmt.Errorf("%w: TDX QE TCB status is %q, want %q", ErrTCB, qeLevel.TcbStatus, pcs.TcbComponentStatusUpToDate)
	}
	return string(status), nil
}

// maskedEqual reports mask & value == want, all of one length.
func maskedEqual(mask, value, want []byte) bool {
	if len(mask) != len(value) || len(mask) != len(want) {
		return false
	}
	for i := range mask {
		if mask[i]&value[i] != want[i] {
			return false
		}
	}
	return true
}

// tdxTCBStatus finds the platform's TCB level: the first level (Intel lists them newest first) whose
// SGX components, PCESVN and TDX components the platform meets; for TDX modules of major version > 0
// (TEE_TCB_SVN[1]) the TDX module identity's level decides.
func tdxTCBStatus(ti *pcs.TcbInfo, teeTcbSvn []byte, pceSvn uint16, cpuSvn []byte) (pcs.TcbComponentStatus, error) {
	if len(teeTcbSvn) < 2 {
		return "", fmt.Errorf("%w: TDX TEE_TCB_SVN has %d bytes", ErrMalformed, len(teeTcbSvn))
	}
	meets := func(have []byte, want []pcs.TcbComponent, from int) bool {
		if len(have) != len(want) {
			return false
		}
		for i := from; i < len(have); i++ {
			if have[i] < want[i].Svn {
				return false
			}
		}
		return true
	}
	tdxFrom := 0
	if teeTcbSvn[1] > 0 {
		tdxFrom = 2 // the module's own SVNs are judged by the module identity below
	}
	var level *pcs.TcbLevel
	for i := range ti.TcbLevels {
		l := &ti.TcbLevels[i]
		if meets(cpuSvn, l.Tcb.SgxTcbcomponents, 0) && pceSvn >= l.Tcb.Pcesvn && meets(teeTcbSvn, l.Tcb.TdxTcbcomponents, tdxFrom) {
			level = l
			break
		}
	}
	if level == nil {
		return "", fmt.Errorf("%w: TDX: no matching TCB level found", ErrTCB)
	}
	if teeTcbSvn[1] == 0 {
		return level.TcbStatus, nil
	}
	id := "TDX_" + hex.EncodeToString(teeTcbSvn[1:2])
	for _, mi := range ti.TdxModuleIdentities {
		if mi.ID != id {
			continue
		}
		for _, l := range mi.TcbLevels {
			if uint32(teeTcbSvn[0]) >= l.Tcb.Isvsvn {
				return l.TcbStatus, nil
			}
		}
		return "", fmt.Errorf("%w: TDX: no TDX module %s TCB level for ISVSVN %d", ErrTCB, id, teeTcbSvn[0])
	}
	return "", fmt.Errorf("%w: TDX: no TDX module identity %s in the TCB info", ErrTCB, id)
}

// appraiseTDXQuote runs the collateral fast path for a quote whose signatures and PCK chain passed.
func appraiseTDXQuote(ctx context.Context, q *tdxpb.QuoteV4, p *Policy, now time.Time) (string, error) {
	chain, err := tdxverify.ExtractChainFromQuote(q)
	if err != nil {
		return "", fmt.Errorf("%w: TDX PCK certificate chain: %v", ErrMalformed, err)
	}
	exts, err := pcs.PckCertificateExtensions(chain.PCKCertificate)
	if err != nil {
		return "", fmt.Errorf("%w: TDX PCK certificate extensions: %v", ErrMalformed, err)
	}
	ti, err := fetchVerifiedCollateral(ctx, p.TDXCollateral, pcs.TcbInfoURL(exts.FMSPC), "tcbInfo", pcs.TcbInfoIssuerChainPhrase, p.Roots.IntelSGX, now)
	if err != nil {
		return "", err
	}
	qe, err := fetchVerifiedCollateral(ctx, p.TDXCollateral, pcs.QeIdentityURL(), "enclaveIdentity", pcs.SgxQeIdentityIssuerChainPhrase, p.Roots.IntelSGX, now)
	if err != nil {
		return "", err
	}
	return appraiseTDXCollateral(q, exts, ti.tcbInfo, qe.qe)
}
