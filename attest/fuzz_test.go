package attest

import (
	"context"
	"crypto/x509"
	"strings"
	"testing"
)

// noPanic fails when a third-party parser panicked: guard kept the process alive, but the input got
// past our own structural checks, which should have refused it.
func noPanic(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "panicked") {
		t.Fatalf("third-party code panicked: %v", err)
	}
}

// Fuzz targets: no input may panic a parser. Seeds are the real samples; `go test -fuzz FuzzX`
// explores further by hand. The signature checks behind the parsers are the standard library's and
// make fuzzing crawl under coverage instrumentation, so the targets stop at the parsers, except
// FuzzCertificateExtension, which runs the whole RA-TLS certificate path.

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
	})
}

func FuzzTDXQuote(f *testing.F) {
	f.Add(tdxQuote(f, "tdx_quote_spr_e4.dat"))
	f.Add(tdxQuote(f, "tdx_quote_gcp_cos113.dat"))
	p := &Policy{Roots: testRoots(f)}
	f.Fuzz(func(t *testing.T, b []byte) {
		q, err := parseTDXQuote(b)
		noPanic(t, err)
		if err != nil {
			return
		}
		_ = TDXMeasurement(q.GetTdQuoteBody())
		_, err = verifyTDX(context.Background(), b, p, tdxTime)
		noPanic(t, err)
	})
}

func FuzzSNPReport(f *testing.F) {
	f.Add(snpRaw(f))
	p := &Policy{Roots: testRoots(f)}
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := CanonicalSNPEvidence(b)
		noPanic(t, err)
		if err != nil {
			return
		}
		_, err = verifySNP(context.Background(), c, p, snpTime)
		noPanic(t, err)
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
		_, _ = r.opaqueField(opaqueVBIOSVersion)
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
