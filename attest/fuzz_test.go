package attest

import (
	"bytes"
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

// FuzzSPDMReport: an accepted report re-encodes to exactly its bytes from what the parser
// kept (so no byte is skipped, dropped or read twice), and the signed message is the report
// without its trailing signature.
func FuzzSPDMReport(f *testing.F) {
	g := h100Evidence(f)
	f.Add(g.Report)
	// Near misses, each refused by one length check: were the check lost, the parser would
	// accept them and the property below would fail on the seed itself.
	near := func(change func(b []byte) []byte) { f.Add(change(append([]byte{}, g.Report...))) }
	near(func(b []byte) []byte { b[spdmReqLen+4]--; return b })     // one block fewer than the record holds
	near(func(b []byte) []byte { b[spdmReqLen+5]++; return b })     // record one byte longer
	near(func(b []byte) []byte { return append(b, 0) })             // a byte after the signature
	near(func(b []byte) []byte { return b[:len(b)-1] })             // signature one byte short
	near(func(b []byte) []byte { b[spdmReqLen+8+2]++; return b })   // first block one byte longer
	near(func(b []byte) []byte { b[spdmReqLen+8+2+3]++; return b }) // first value longer than its block
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := ParseSPDMReport(b)
		if err != nil {
			return
		}
		if again := encodeSPDMReport(t, b, r); !bytes.Equal(again, b) {
			t.Fatalf("accepted report re-encodes differently:\n in %x\nout %x", b, again)
		}
		if n := len(b) - spdmSigLen; !bytes.Equal(r.Signed, b[:n]) || !bytes.Equal(r.Signature, b[n:]) {
			t.Fatal("signed message and signature do not split the report")
		}
		_ = r.MeasurementHash()
		_, _ = r.opaqueField(opaqueDriverVersion)
		_, _ = r.opaqueField(opaqueVBIOSVersion)
	})
}

// encodeSPDMReport writes r back in the SPDM 1.1 layout (DSP0274: GET_MEASUREMENTS request,
// MEASUREMENTS response with DMTF measurement blocks). The bytes the parser keeps no field for
// (request and response parameters, slot, responder nonce) are copied from orig.
func encodeSPDMReport(t *testing.T, orig []byte, r *SPDMReport) []byte {
	t.Helper()
	le16 := func(n int) []byte { return []byte{byte(n), byte(n >> 8)} }
	out := append([]byte{}, orig[:4]...) // version, GET_MEASUREMENTS, param1, param2
	out = append(out, r.Nonce[:]...)
	out = append(out, orig[36])         // slot
	out = append(out, orig[37:37+4]...) // version, MEASUREMENTS, param1, param2
	var rec []byte
	for _, bl := range r.Blocks {
		rec = append(rec, bl.Index, 1) // DMTF measurement specification
		rec = append(rec, le16(3+len(bl.Value))...)
		rec = append(rec, bl.ValueType)
		rec = append(rec, le16(len(bl.Value))...)
		rec = append(rec, bl.Value...)
	}
	out = append(out, byte(len(r.Blocks)), byte(len(rec)), byte(len(rec)>>8), byte(len(rec)>>16))
	out = append(out, rec...)
	if len(orig) < len(out)+32 {
		t.Fatalf("accepted a report with no room for the responder nonce after %d bytes", len(out))
	}
	out = append(out, orig[len(out):len(out)+32]...) // responder nonce
	out = append(out, le16(len(r.Opaque))...)
	out = append(out, r.Opaque...)
	return append(out, r.Signature...)
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
