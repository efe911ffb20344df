package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"strings"
	"testing"
	"time"

	sevabi "github.com/google/go-sev-guest/abi"
	"github.com/google/go-sev-guest/kds"
)

// Real vendor-signed evidence lives in testdata/ (origins in testdata/README.md). Its report data
// cannot bind a key of ours, so these tests check parsing and vendor verification, and that a real
// quote bound to something else is refused with the binding error. Binding itself is tested with
// the simulated kind and with a test GPU CA (ratls_test.go).

func mustRead(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func testRoots(t testing.TB) Roots {
	t.Helper()
	r, err := DefaultRoots()
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// h100Evidence returns the real H100 report and its 5-certificate chain (leaf first, DER).
func h100Evidence(t testing.TB) GPUEvidence {
	t.Helper()
	rest := mustRead(t, "h100_cert_chain.pem")
	var chain [][]byte
	for {
		var blk *pem.Block
		blk, rest = pem.Decode(rest)
		if blk == nil {
			break
		}
		chain = append(chain, blk.Bytes)
	}
	return GPUEvidence{Report: mustRead(t, "h100_spdm_report.bin"), CertChain: chain}
}

// Times at which the samples' certificates and collateral are valid.
var (
	tdxTime = time.Date(2023, time.July, 1, 1, 0, 0, 0, time.UTC)
	gcpTime = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
	snpTime = time.Date(2024, time.January, 1, 0, 0, 0, 0, time.UTC)
	gpuTime = time.Date(2025, time.January, 1, 0, 0, 0, 0, time.UTC)
)

func fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// otherRoot is a self-made CA: pinning it instead of a vendor's must make real evidence fail.
func otherRoot(t testing.TB, curve elliptic.Curve) *x509.CertPool {
	t.Helper()
	k, err := ecdsa.GenerateKey(curve, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Not A Vendor Root"},
		NotBefore: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	p := x509.NewCertPool()
	p.AddCert(c)
	return p
}

// tdxQuote reads a sample quote and cuts its padding, as TDXAttester does.
func tdxQuote(t testing.TB, file string) []byte {
	t.Helper()
	q, err := CanonicalTDXQuote(mustRead(t, file))
	if err != nil {
		t.Fatal(err)
	}
	return q
}

func tdxEvidence(t testing.TB, file string) *Evidence {
	return &Evidence{Kind: KindTDX, CPU: tdxQuote(t, file)}
}

func TestTDXRealQuote(t *testing.T) {
	ctx := context.Background()
	roots := testRoots(t)
	for _, tc := range []struct {
		file string
		now  time.Time
	}{{"tdx_quote_spr_e4.dat", tdxTime}, {"tdx_quote_gcp_cos113.dat", gcpTime}} {
		t.Run(tc.file, func(t *testing.T) {
			raw := tdxQuote(t, tc.file)
			q, err := parseTDXQuote(raw)
			if err != nil {
				t.Fatal(err)
			}
			m := TDXMeasurement(q.GetTdQuoteBody())
			var rd [64]byte
			copy(rd[:], q.GetTdQuoteBody().GetReportData())
			p := &Policy{Roots: roots, Now: fixed(tc.now), Allowed: map[[32]byte]Kind{m: KindTDX}}

			// Vendor verification passes: chain to the pinned Intel root, quote and QE signatures.
			res, err := verifyTDX(ctx, raw, p, tc.now)
			if err != nil {
				t.Fatalf("real quote: %v", err)
			}
			if TDXMeasurement(res.body) != m || !strings.Contains(res.tcbStatus, "unchecked") {
				t.Fatalf("measurement/tcb status: %x %q", TDXMeasurement(res.body), res.tcbStatus)
			}

			// The registers in the claims recompute the measurement (what governance tooling does).
			if got, err := MeasurementFromRegisters(KindTDX, tdxRegisters(res.body)); err != nil || got != m {
				t.Fatalf("MeasurementFromRegisters: %x, %v; want %x", got, err, m)
			}
			regs := tdxRegisters(res.body)
			delete(regs, "rtmr2")
			if _, err := MeasurementFromRegisters(KindTDX, regs); !errors.Is(err, ErrMalformed) {
				t.Fatalf("missing rtmr2: %v", err)
			}
			regs = tdxRegisters(res.body)
			regs["mrtd"] = "00"
			if _, err := MeasurementFromRegisters(KindTDX, regs); !errors.Is(err, ErrMalformed) {
				t.Fatalf("short mrtd: %v", err)
			}

			// The quote's REPORTDATA does not bind our key: the binding error, after every other check.
			_, err = verifyEvidence(ctx, p, tdxEvidence(t, tc.file), Binding{KeyHash: KeyHash([]byte("some other key"))})
			if !errors.Is(err, ErrReportData) {
				t.Fatalf("real quote with a foreign key: got %v, want ErrReportData", err)
			}

			// A measurement not on the allow-list, or listed under another kind.
			for _, allowed := range []map[[32]byte]Kind{{{1}: KindTDX}, {m: KindSNP}} {
				p2 := *p
				p2.Allowed = allowed
				if _, err := verifyEvidence(ctx, &p2, tdxEvidence(t, tc.file), Binding{}); !errors.Is(err, ErrMeasurementNotAllowed) {
					t.Fatalf("allow-list %v: got %v, want ErrMeasurementNotAllowed", allowed, err)
				}
			}

			// Untrusted root: a pool without Intel's root.
			p3 := *p
			p3.Roots.IntelSGX = otherRoot(t, elliptic.P256())
			if _, err := verifyTDX(ctx, raw, &p3, tc.now); !errors.Is(err, ErrUntrustedRoot) {
				t.Fatalf("foreign root: got %v, want ErrUntrustedRoot", err)
			}
			p3.Roots.IntelSGX = nil
			if _, err := verifyTDX(ctx, raw, &p3, tc.now); !errors.Is(err, ErrUntrustedRoot) {
				t.Fatalf("no root pinned: got %v, want ErrUntrustedRoot", err)
			}
			// Expired: the PCK chain is long expired in 2053.
			if _, err := verifyTDX(ctx, raw, p, time.Date(2053, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrExpired) {
				t.Fatalf("2053: got %v, want ErrExpired", err)
			}
			// Minimum TCB above the quote's TEE_TCB_SVN.
			p4 := *p
			p4.TDXMinTeeTcbSvn[0] = 0xff
			if _, err := verifyTDX(ctx, raw, &p4, tc.now); !errors.Is(err, ErrTCB) {
				t.Fatalf("min TEE_TCB_SVN: got %v, want ErrTCB", err)
			}
		})
	}
}

// TestTDXRealQuoteFlippedBytes flips bytes across the whole quote; every flip must be refused.
func TestTDXRealQuoteFlippedBytes(t *testing.T) {
	ctx := context.Background()
	raw := tdxQuote(t, "tdx_quote_spr_e4.dat")
	p := &Policy{Roots: testRoots(t)}
	stride := 13
	if testing.Short() {
		stride = 101
	}
	sigErrs := 0
	for i := 0; i < len(raw); i += stride {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		_, err := verifyTDX(ctx, b, p, tdxTime)
		if err == nil {
			t.Fatalf("flipped byte %d of %d accepted", i, len(raw))
		}
		if errors.Is(err, ErrSignature) {
			sigErrs++
		}
	}
	// Header and TD body (the first 632 bytes) are all signed: flips there are signature errors.
	b := append([]byte(nil), raw...)
	b[48+100] ^= 0x80
	if _, err := verifyTDX(ctx, b, p, tdxTime); !errors.Is(err, ErrSignature) {
		t.Fatalf("flipped TD body byte: got %v, want ErrSignature", err)
	}
	if sigErrs == 0 {
		t.Fatal("no flip was reported as a signature error")
	}
	// Padding after the quote is refused: one quote, one byte form, one digest.
	padded := append(append([]byte(nil), raw...), 0)
	if _, err := verifyTDX(ctx, padded, p, tdxTime); !errors.Is(err, ErrMalformed) {
		t.Fatalf("padded quote: got %v, want ErrMalformed", err)
	}
}

// TestTDXCollateralOffline runs full collateral verification from the offline bundle (Intel's sample
// PCS answers, valid 2023-07). At that date the sample quote's platform has no matching TCB level,
// which upstream's own tests expect: the result must be exactly ErrTCB, after all signatures on the
// collateral and quote passed.
func TestTDXCollateralOffline(t *testing.T) {
	ctx := context.Background()
	bundle, err := LoadCollateralBundle("testdata/intel_collateral_bundle_2023-07.json")
	if err != nil {
		t.Fatal(err)
	}
	raw := tdxQuote(t, "tdx_quote_spr_e4.dat")
	// With revocation checks (go-tdx-guest's full path, CRLs from the bundle) and without (fast path).
	for _, revocations := range []bool{true, false} {
		p := &Policy{Roots: testRoots(t), TDXCollateral: bundle, TDXCheckRevocations: revocations}
		_, err = verifyTDX(ctx, raw, p, tdxTime)
		if !errors.Is(err, ErrTCB) || !strings.Contains(err.Error(), "no matching TCB level found") {
			t.Fatalf("revocations=%v: got %v, want ErrTCB (no matching TCB level found)", revocations, err)
		}
		// The same collateral a year later has expired.
		if _, err := verifyTDX(ctx, raw, p, tdxTime.AddDate(1, 0, 0)); !errors.Is(err, ErrExpired) {
			t.Fatalf("revocations=%v: expired collateral: got %v, want ErrExpired", revocations, err)
		}
	}
	p := &Policy{Roots: testRoots(t), TDXCollateral: bundle, TDXCheckRevocations: true}
	// A bundle without the TCB info cannot verify anything.
	partial := &CollateralBundle{Responses: map[string]CollateralResponse{}}
	for u, r := range bundle.Responses {
		if !strings.Contains(u, "/tcb?") {
			partial.Responses[u] = r
		}
	}
	p.TDXCollateral = partial
	if _, err := verifyTDX(ctx, raw, p, tdxTime); !errors.Is(err, ErrCollateral) || !errors.Is(err, ErrCollateral) {
		t.Fatalf("missing TCB info: got %v, want ErrCollateral", err)
	}
}

func TestCollateralBundleRoundTripAndCache(t *testing.T) {
	bundle, err := LoadCollateralBundle("testdata/intel_collateral_bundle_2023-07.json")
	if err != nil {
		t.Fatal(err)
	}
	path := t.TempDir() + "/b.json"
	if err := bundle.SaveFile(path); err != nil {
		t.Fatal(err)
	}
	again, err := LoadCollateralBundle(path)
	if err != nil || len(again.Responses) != len(bundle.Responses) {
		t.Fatalf("round trip: %v, %d vs %d responses", err, len(again.Responses), len(bundle.Responses))
	}
	if _, _, err := bundle.Get("https://example.invalid/none"); !errors.Is(err, ErrNoCollateral) {
		t.Fatalf("unknown URL: %v", err)
	}
	counting := &countingGetter{inner: bundle}
	now := tdxTime
	g := &CachingGetter{Upstream: counting, TTL: time.Hour, Now: func() time.Time { return now }}
	p := &Policy{Roots: testRoots(t), TDXCollateral: g}
	for i := 0; i < 3; i++ {
		if _, err := verifyTDX(context.Background(), tdxQuote(t, "tdx_quote_spr_e4.dat"), p, tdxTime); !errors.Is(err, ErrTCB) {
			t.Fatalf("run %d: %v", i, err)
		}
	}
	if counting.n != 2 { // TCB info + QE identity, once each
		t.Fatalf("upstream fetched %d times, want 2", counting.n)
	}
	now = now.Add(2 * time.Hour)
	counting.fail = true // stale answers are served when upstream fails
	if _, err := verifyTDX(context.Background(), tdxQuote(t, "tdx_quote_spr_e4.dat"), p, tdxTime); !errors.Is(err, ErrTCB) {
		t.Fatalf("stale: %v", err)
	}
	if n := len(g.Bundle().Responses); n != 2 {
		t.Fatalf("snapshot has %d responses", n)
	}
}

type countingGetter struct {
	inner TDXCollateralGetter
	n     int
	fail  bool
}

func (c *countingGetter) Get(url string) (map[string][]string, []byte, error) {
	c.n++
	if c.fail {
		return nil, nil, errors.New("network down")
	}
	return c.inner.Get(url)
}

func snpRaw(t testing.TB) []byte {
	b, err := SNPEvidence(mustRead(t, "snp_milan_report.bin"), mustRead(t, "snp_milan_vcek.der"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSNPRealReport: the real Milan report was taken from a debug-policy VM. It passes the VCEK
// chain to the pinned ARK and the report signature, and is then refused exactly for debug mode.
func TestSNPRealReport(t *testing.T) {
	ctx := context.Background()
	raw := snpRaw(t)
	p := &Policy{Roots: testRoots(t)}
	if _, err := verifySNP(ctx, raw, p, snpTime); !errors.Is(err, ErrDebug) {
		t.Fatalf("real report: got %v, want ErrDebug (all crypto checks passed)", err)
	}
	// Flipped bytes anywhere (report, certificate table, VCEK) are refused before the debug check,
	// i.e. by a cryptographic or structural check.
	stride := 11
	if testing.Short() {
		stride = 97
	}
	for i := 0; i < len(raw); i += stride {
		b := append([]byte(nil), raw...)
		b[i] ^= 0x01
		_, err := verifySNP(ctx, b, p, snpTime)
		if err == nil || errors.Is(err, ErrDebug) {
			t.Fatalf("flipped byte %#x: got %v, want a rejection before the debug check", i, err)
		}
	}
	b := append([]byte(nil), raw...)
	b[0x90] ^= 0x01 // MEASUREMENT
	if _, err := verifySNP(ctx, b, p, snpTime); !errors.Is(err, ErrSignature) {
		t.Fatalf("flipped measurement: got %v, want ErrSignature", err)
	}
	// Signature bytes.
	b = append([]byte(nil), raw...)
	b[0x2A0+5] ^= 0x01
	if _, err := verifySNP(ctx, b, p, snpTime); !errors.Is(err, ErrSignature) {
		t.Fatalf("flipped signature: got %v, want ErrSignature", err)
	}
	// A VCEK bit flip breaks its signature by the ASK, or its encoding.
	vcek := mustRead(t, "snp_milan_vcek.der")
	vcek[len(vcek)-40] ^= 0x01
	b, _ = SNPEvidence(mustRead(t, "snp_milan_report.bin"), vcek)
	if _, err := verifySNP(ctx, b, p, snpTime); !errors.Is(err, ErrUntrustedRoot) && !errors.Is(err, ErrMalformed) {
		t.Fatalf("flipped VCEK: got %v", err)
	}
	// Untrusted root: only Genoa's ARK pinned.
	p2 := &Policy{Roots: Roots{AMD: AMDRoots{"Genoa": p.Roots.AMD["Genoa"]}}}
	if _, err := verifySNP(ctx, raw, p2, snpTime); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("Genoa-only roots: got %v, want ErrUntrustedRoot", err)
	}
	if _, err := verifySNP(ctx, raw, &Policy{}, snpTime); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("no AMD roots: got %v, want ErrUntrustedRoot", err)
	}
	// The VCEK expires in 2029.
	if _, err := verifySNP(ctx, raw, p, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)); !errors.Is(err, ErrExpired) {
		t.Fatalf("2030: got %v, want ErrExpired", err)
	}
	// Trailing bytes or extra certificates: not the canonical form.
	if _, err := verifySNP(ctx, append(append([]byte(nil), raw...), 0), p, snpTime); !errors.Is(err, ErrMalformed) {
		t.Fatalf("padded evidence: got %v, want ErrMalformed", err)
	}
	if c, err := CanonicalSNPEvidence(append(append([]byte(nil), raw...), make([]byte, 100)...)); err != nil || string(c) != string(raw) {
		t.Fatalf("CanonicalSNPEvidence: %v", err)
	}
	// Without the VCEK there is nothing to verify against.
	if _, err := verifySNP(ctx, mustRead(t, "snp_milan_report.bin"), p, snpTime); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no VCEK: got %v, want ErrMalformed", err)
	}
}

// mapGetter answers recorded KDS URLs.
type mapGetter map[string][]byte

func (m mapGetter) Get(url string) ([]byte, error) {
	if b, ok := m[url]; ok {
		return b, nil
	}
	return nil, errors.New("404 " + url)
}

// A host that passes no certificate table: the attester fetches the VCEK from AMD KDS (recorded here).
func TestSNPEvidenceFetchesVCEK(t *testing.T) {
	report := mustRead(t, "snp_milan_report.bin")
	askArk, err := rootFiles.ReadFile("roots/amd_milan_ask_ark.pem")
	if err != nil {
		t.Fatal(err)
	}
	kds := mapGetter{
		"https://kdsintf.amd.com/vcek/v1/Milan/cert_chain": askArk,
		// The report's chip id and reported TCB name the VCEK's KDS URL.
		"https://kdsintf.amd.com/vcek/v1/Milan/3ac3fe21e13fb0990eb28a802e3fb6a29483a6b0753590c951bdd3b8e53786184ca39e359669a2b76a1936776b564ea464cdce40c05f63c9b610c5068b006b5d?blSPL=2&teeSPL=0&snpSPL=5&ucodeSPL=68": mustRead(t, "snp_milan_vcek.der"),
	}
	ev, err := completeSNPEvidence(context.Background(), report, kds)
	if err != nil {
		t.Fatal(err)
	}
	if string(ev) != string(snpRaw(t)) {
		t.Fatal("fetched evidence differs from report || VCEK table")
	}
	if _, err := completeSNPEvidence(context.Background(), report, nil); !errors.Is(err, ErrMalformed) {
		t.Fatalf("no table and no KDS: got %v, want ErrMalformed", err)
	}
	if _, err := completeSNPEvidence(context.Background(), report, mapGetter{}); err == nil {
		t.Fatal("KDS without the VCEK: accepted")
	}
}

// TestSNPGuestPolicy applies the post-signature checks to the real report's fields with the debug
// bit cleared (the signature is not re-checked here; verifySNP checks it first).
func TestSNPGuestPolicy(t *testing.T) {
	att, err := sevabi.ReportCertsToProto(snpRaw(t))
	if err != nil {
		t.Fatal(err)
	}
	rep := att.GetReport()
	rep.Policy &^= 1 << 19
	if tcb, err := checkSNPGuest(rep, &Policy{}); err != nil || tcb.SnpSpl != 5 {
		t.Fatalf("non-debug report: %v %+v", err, tcb)
	}
	rep.Vmpl = 2
	if _, err := checkSNPGuest(rep, &Policy{}); !errors.Is(err, ErrPrivilege) {
		t.Fatalf("VMPL 2: got %v, want ErrPrivilege", err)
	}
	if _, err := checkSNPGuest(rep, &Policy{SNPMaxVMPL: 2}); err != nil {
		t.Fatalf("VMPL 2 allowed: %v", err)
	}
	rep.Vmpl = 0
	if _, err := checkSNPGuest(rep, &Policy{SNPMinTCB: kds.TCBParts{SnpSpl: 6}}); !errors.Is(err, ErrTCB) {
		t.Fatalf("min SNP SPL 6: got %v, want ErrTCB", err)
	}
	if got, err := MeasurementFromRegisters(KindSNP, snpRegisters(rep)); err != nil || got != SNPMeasurement(rep) {
		t.Fatalf("SNP MeasurementFromRegisters: %x, %v", got, err)
	}
	rep.Policy |= 1 << 19
	if _, err := checkSNPGuest(rep, &Policy{}); !errors.Is(err, ErrDebug) {
		t.Fatalf("debug: got %v, want ErrDebug", err)
	}
}

func TestGPURealReport(t *testing.T) {
	g := h100Evidence(t)
	roots := testRoots(t)
	rep, err := ParseSPDMReport(g.Report)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Blocks) != 64 {
		t.Fatalf("%d measurement blocks, want 64", len(rep.Blocks))
	}
	c, err := verifyGPU(g, roots.NVIDIA, gpuTime, rep.Nonce)
	if err != nil {
		t.Fatalf("real H100 report: %v", err)
	}
	if c.Model != "GH100" || c.DriverVersion != "545.00" || c.VBIOSVersion != "96.00.5E.00.01" {
		t.Fatalf("claims %+v", c)
	}
	// Another nonce than the one asked for.
	other := rep.Nonce
	other[0] ^= 1
	if _, err := verifyGPU(g, roots.NVIDIA, gpuTime, other); !errors.Is(err, ErrGPUNonce) {
		t.Fatalf("wrong nonce: got %v, want ErrGPUNonce", err)
	}
	// Flipped bytes all over the report are refused.
	stride := 37
	if testing.Short() {
		stride = 211
	}
	for i := 0; i < len(g.Report); i += stride {
		b := append([]byte(nil), g.Report...)
		b[i] ^= 0x01
		if _, err := verifyGPU(GPUEvidence{Report: b, CertChain: g.CertChain}, roots.NVIDIA, gpuTime, rep.Nonce); err == nil {
			t.Fatalf("flipped report byte %d accepted", i)
		}
	}
	b := append([]byte(nil), g.Report...)
	b[200] ^= 0x01 // inside a measurement value
	if _, err := verifyGPU(GPUEvidence{Report: b, CertChain: g.CertChain}, roots.NVIDIA, gpuTime, rep.Nonce); !errors.Is(err, ErrSignature) {
		t.Fatalf("flipped measurement: got %v, want ErrSignature", err)
	}
	// A pinned root that is not NVIDIA's; no root at all; a chain missing an intermediate.
	if _, err := verifyGPU(g, otherRoot(t, elliptic.P384()), gpuTime, rep.Nonce); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("foreign root: got %v, want ErrUntrustedRoot", err)
	}
	if _, err := verifyGPU(g, nil, gpuTime, rep.Nonce); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("no root: got %v, want ErrUntrustedRoot", err)
	}
	cut := GPUEvidence{Report: g.Report, CertChain: [][]byte{g.CertChain[0], g.CertChain[2], g.CertChain[3]}}
	if _, err := verifyGPU(cut, roots.NVIDIA, gpuTime, rep.Nonce); !errors.Is(err, ErrUntrustedRoot) {
		t.Fatalf("chain without the BROM certificate: got %v, want ErrUntrustedRoot", err)
	}
	// Before the device certificates' NotBefore (2020-10-17).
	if _, err := verifyGPU(g, roots.NVIDIA, time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), rep.Nonce); !errors.Is(err, ErrExpired) {
		t.Fatalf("2019: got %v, want ErrExpired", err)
	}
}
