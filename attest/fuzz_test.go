package attest

import (
	"context"
	"crypto/x509"
	"testing"
)

// Fuzz targets: no input may panic a parser or the verifier. Seeds are the real samples, so the
// corpus run in `go test` walks the deep paths; `go test -fuzz FuzzX` explores further by hand.

func FuzzParseEvidence(f *testing.F) {
	for _, ev := range []*Evidence{
		{Kind: KindTDX, CPU: tdxQuote(f, "tdx_quote_spr_e4.dat")},
		{Kind: KindSNP, CPU: snpRaw(f)},
		{Kind: KindSim, CPU: make([]byte, simReportSize), GPUs: []GPUEvidence{h100Evidence(f)}},
	} {
		b, err := ev.Marshal()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0x30, 0x00})
	roots := testRoots(f)
	p := &Policy{Roots: roots, AllowSim: true, Now: fixed(tdxTime), Allowed: map[[32]byte]Kind{{1}: KindTDX}}
	f.Fuzz(func(t *testing.T, b []byte) {
		ev, err := ParseEvidence(b)
		if err != nil {
			return
		}
		again, err := ev.Marshal()
		if err != nil {
			t.Fatalf("parsed evidence does not re-encode: %v", err)
		}
		if string(again) != string(b) {
			t.Fatalf("evidence encoding is not canonical")
		}
		_, _ = verifyEvidence(context.Background(), p, ev, Binding{})
	})
}

func FuzzTDXQuote(f *testing.F) {
	f.Add(tdxQuote(f, "tdx_quote_spr_e4.dat"))
	f.Add(tdxQuote(f, "tdx_quote_gcp_cos113.dat"))
	p := &Policy{Roots: testRoots(f)}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = verifyTDX(context.Background(), b, p, tdxTime)
	})
}

func FuzzSNPReport(f *testing.F) {
	f.Add(snpRaw(f))
	p := &Policy{Roots: testRoots(f)}
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = verifySNP(context.Background(), b, p, snpTime)
	})
}

func FuzzSPDMReport(f *testing.F) {
	g := h100Evidence(f)
	f.Add(g.Report)
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSPDMReport(b)
		if err != nil {
			return
		}
		_ = r.MeasurementHash()
		_, _ = r.opaqueField(opaqueDriverVersion)
		_, _ = verifyGPU(GPUEvidence{Report: b, CertChain: g.CertChain}, nil, gpuTime, r.Nonce)
	})
}

// FuzzCertificateExtension feeds arbitrary extension values through the RA-TLS certificate path.
func FuzzCertificateExtension(f *testing.F) {
	is := newSimIssuer(f, nil)
	f.Add(is.Evidence())
	f.Add([]byte{})
	v := newVerifier(f, simPolicy())
	f.Fuzz(func(t *testing.T, ext []byte) {
		c := forgedCert(t, ext)
		cert, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return
		}
		if _, err := v.VerifyCertificate(context.Background(), cert); err == nil {
			t.Fatal("evidence bound to another key accepted")
		}
	})
}
