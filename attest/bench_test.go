package attest

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sort"
	"testing"
	"time"
)

// benchP50 runs op b.N times and reports the median besides the mean.
func benchP50(b *testing.B, op func() error) {
	b.Helper()
	d := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		if err := op(); err != nil {
			b.Fatal(err)
		}
		d = append(d, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "p50-µs")
}

// BenchmarkVerifyTDXQuote: the full check of a real quote (PCK chain to the pinned root, quote and
// QE report signatures, measurement, binding) without collateral.
func BenchmarkVerifyTDXQuote(b *testing.B) {
	ev := tdxEvidence(b, "tdx_quote_spr_e4.dat")
	q, _ := parseTDXQuote(ev.CPU)
	p := &Policy{Roots: testRoots(b), Now: fixed(tdxTime), Allowed: map[[32]byte]Kind{TDXMeasurement(q.GetTdQuoteBody()): KindTDX}}
	benchP50(b, func() error {
		_, err := verifyEvidence(context.Background(), p, ev, Binding{})
		if err == nil || !errors.Is(err, ErrReportData) { // the sample binds someone else's data
			return err
		}
		return nil
	})
}

// BenchmarkVerifyTDXQuoteCachedCollateral: the same plus TCB info and QE identity from the offline
// bundle (collateral signatures, chains and expiry all checked). With Intel's 2023 sample the run ends
// at the final TCB-level match (ErrTCB), after every signature was verified.
func BenchmarkVerifyTDXQuoteCachedCollateral(b *testing.B) {
	bundle, err := LoadCollateralBundle("testdata/intel_collateral_bundle_2023-07.json")
	if err != nil {
		b.Fatal(err)
	}
	raw := tdxQuote(b, "tdx_quote_spr_e4.dat")
	p := &Policy{Roots: testRoots(b), TDXCollateral: bundle}
	benchP50(b, func() error {
		if _, err := verifyTDX(context.Background(), raw, p, tdxTime); !errors.Is(err, ErrTCB) {
			return err
		}
		return nil
	})
}

// BenchmarkVerifyTDXQuoteCollateralUpToDate: the success path with collateral: the real quote and
// QE identity, and the sample TCB info edited to match this platform and re-signed by a test root the
// policy pins (collateral_test.go). Ends with TCB status UpToDate.
func BenchmarkVerifyTDXQuoteCollateralUpToDate(b *testing.B) {
	s := newTestTCBSigner(b)
	raw := tdxQuote(b, "tdx_quote_spr_e4.dat")
	p := &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(b, matchQuote("UpToDate"))}
	benchP50(b, func() error {
		_, err := verifyTDX(context.Background(), raw, p, tdxTime)
		return err
	})
}

// BenchmarkVerifySNPReport: VCEK chain to the pinned ARK and report signature (the sample then stops
// at its debug policy).
func BenchmarkVerifySNPReport(b *testing.B) {
	raw := snpRaw(b)
	p := &Policy{Roots: testRoots(b)}
	benchP50(b, func() error {
		if _, err := verifySNP(context.Background(), raw, p, snpTime); !errors.Is(err, ErrDebug) {
			return err
		}
		return nil
	})
}

// BenchmarkVerifyGPUReport: the real H100 report: P-384 signature and 5-certificate chain.
func BenchmarkVerifyGPUReport(b *testing.B) {
	g := h100Evidence(b)
	roots := testRoots(b)
	rep, _ := ParseSPDMReport(g.Report)
	benchP50(b, func() error {
		_, err := verifyGPU(g, roots.NVIDIA, gpuTime, rep.Nonce)
		return err
	})
}

// BenchmarkRATLSHandshake: TLS 1.3 handshakes over loopback against an RA-TLS server (sim evidence).
// "cold" verifies the certificate every time; "cached" is a client reconnecting to a provider whose
// certificate it has already verified.
func BenchmarkRATLSHandshake(b *testing.B) {
	is := newSimIssuer(b, nil)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := tls.Server(c, is.TLSConfig())
				if s.Handshake() == nil {
					_, _ = s.Write([]byte{1})
				}
			}()
		}
	}()
	for _, mode := range []string{"cold", "cached"} {
		b.Run(mode, func(b *testing.B) {
			v := newVerifier(b, simPolicy())
			benchP50(b, func() error {
				if mode == "cold" {
					v.SetAllowed(simPolicy().Allowed) // drops the cache
				}
				conn, err := tls.Dial("tcp", ln.Addr().String(), v.ClientTLSConfig(nil))
				if err != nil {
					return err
				}
				var one [1]byte
				_, err = conn.Read(one[:])
				conn.Close()
				return err
			})
		})
	}
}
