package attest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	mrand "math/rand/v2"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-tdx-guest/pcs"
)

// Intel's 2023 sample collateral does not match the sample quote's TCB, so the success path of
// collateral checking needs collateral that does. These tests re-sign the sample TCB info, edited, with
// a test "Intel SGX Root CA" that only the test's policy pins (next to Intel's real root, which still
// anchors the quote's PCK chain and the real QE identity). go-tdx-guest checks everything as usual.

type testTCBSigner struct {
	key       *ecdsa.PrivateKey
	signer    *x509.Certificate
	headerPEM string
	pool      *x509.CertPool
}

func newTestTCBSigner(t testing.TB) *testTCBSigner {
	t.Helper()
	rootKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	nb, na := time.Date(2018, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC)
	rootT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Intel SGX Root CA", Organization: []string{"Test Only"}},
		NotBefore: nb, NotAfter: na, IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign}
	rootDER, err := x509.CreateCertificate(rand.Reader, rootT, rootT, &rootKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	root, _ := x509.ParseCertificate(rootDER)
	signT := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Intel SGX TCB Signing", Organization: []string{"Test Only"}},
		NotBefore: nb, NotAfter: na, KeyUsage: x509.KeyUsageDigitalSignature}
	signDER, err := x509.CreateCertificate(rand.Reader, signT, root, &signKey.PublicKey, rootKey)
	if err != nil {
		t.Fatal(err)
	}
	signer, _ := x509.ParseCertificate(signDER)
	pool := testRoots(t).IntelSGX.Clone()
	pool.AddCert(root)
	chain := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: signDER})) +
		string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: rootDER}))
	return &testTCBSigner{key: signKey, signer: signer, headerPEM: chain, pool: pool}
}

// bundle returns the sample bundle with its TCB info replaced by edit(sample TCB info), signed.
func (s *testTCBSigner) bundle(t testing.TB, edit func(ti map[string]any)) *CollateralBundle {
	return s.bundleFor(t, "50806f000000", edit, nil)
}

// bundleFor serves, under the TCB info URL of fmspc, the sample TCB info edited by editTCB and
// re-signed; with editQE, the QE identity is edited and re-signed too (else Intel's original stays).
func (s *testTCBSigner) bundleFor(t testing.TB, fmspc string, editTCB, editQE func(map[string]any)) *CollateralBundle {
	t.Helper()
	base, err := LoadCollateralBundle("testdata/intel_collateral_bundle_2023-07.json")
	if err != nil {
		t.Fatal(err)
	}
	out := &CollateralBundle{Responses: map[string]CollateralResponse{}}
	for k, v := range base.Responses {
		out.Responses[k] = v
	}
	resign := func(from, to, member, phrase string, edit func(map[string]any)) {
		var body map[string]json.RawMessage
		var doc map[string]any
		if err := json.Unmarshal(base.Responses[from].Body, &body); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(body[member], &doc); err != nil {
			t.Fatal(err)
		}
		edit(doc)
		raw, err := json.Marshal(doc)
		if err != nil {
			t.Fatal(err)
		}
		d := sha256.Sum256(raw)
		r, ss, err := ecdsa.Sign(rand.Reader, s.key, d[:])
		if err != nil {
			t.Fatal(err)
		}
		sig := make([]byte, 64)
		r.FillBytes(sig[:32])
		ss.FillBytes(sig[32:])
		out.Responses[to] = CollateralResponse{
			Header: map[string][]string{phrase: {url.QueryEscape(s.headerPEM)}},
			Body:   []byte(`{"` + member + `":` + string(raw) + `,"signature":"` + hex.EncodeToString(sig) + `"}`),
		}
	}
	resign(pcs.TcbInfoURL("50806f000000"), pcs.TcbInfoURL(fmspc), "tcbInfo", pcs.TcbInfoIssuerChainPhrase, func(ti map[string]any) {
		ti["fmspc"] = fmspc
		editTCB(ti)
	})
	if editQE != nil {
		resign(pcs.QeIdentityURL(), pcs.QeIdentityURL(), "enclaveIdentity", pcs.SgxQeIdentityIssuerChainPhrase, editQE)
	}
	return out
}

// matchQuote edits the first TCB level so the sample platform meets it: its PCK certificate's CPUSVN
// components (3 3 2 2 2 1 0 2 0...) and the quote's TEE_TCB_SVN (03 00 04 ...).
func matchQuote(status string) func(ti map[string]any) {
	return func(ti map[string]any) {
		lvl := ti["tcbLevels"].([]any)[0].(map[string]any)
		tcb := lvl["tcb"].(map[string]any)
		for i, svn := range []int{3, 3, 2, 2, 2, 1, 0, 2} {
			tcb["sgxtcbcomponents"].([]any)[i].(map[string]any)["svn"] = svn
		}
		tcb["tdxtcbcomponents"].([]any)[2].(map[string]any)["svn"] = 4
		lvl["tcbStatus"] = status
	}
}

func TestTDXCollateralSuccessPath(t *testing.T) {
	ctx := context.Background()
	s := newTestTCBSigner(t)
	raw := tdxQuote(t, "tdx_quote_spr_e4.dat")
	p := &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, matchQuote("UpToDate"))}
	for _, fast := range []bool{true, false} {
		res, err := verifyTDXMode(ctx, raw, p, tdxTime, fast)
		if err != nil {
			t.Fatalf("fast=%v: quote with matching, up-to-date collateral: %v", fast, err)
		}
		if res.tcbStatus != "UpToDate" {
			t.Fatalf("fast=%v: tcb status %q", fast, res.tcbStatus)
		}
	}

	for _, tc := range []struct {
		name string
		p    *Policy
		now  time.Time
		want error
	}{
		{"out of date", &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, matchQuote("OutOfDate"))}, tdxTime, ErrTCB},
		{"SW hardening needed", &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, matchQuote("SWHardeningNeeded"))}, tdxTime, ErrTCB},
		{"no matching level", &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, func(map[string]any) {})}, tdxTime, ErrTCB},
		{"TCB info expired", p, tdxTime.AddDate(0, 1, 0), ErrExpired},
		{"another FMSPC", &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, func(ti map[string]any) {
			matchQuote("UpToDate")(ti)
			ti["fmspc"] = "00906ed50000"
		})}, tdxTime, ErrCollateral},
		{"another TDX module signer", &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundle(t, func(ti map[string]any) {
			matchQuote("UpToDate")(ti)
			ti["tdxModule"].(map[string]any)["mrsigner"] = strings.Repeat("11", 48)
		})}, tdxTime, ErrCollateral},
		// The test signer is not pinned: only Intel's root is.
		{"collateral signer not pinned", &Policy{Roots: testRoots(t), TDXCollateral: s.bundle(t, matchQuote("UpToDate"))}, tdxTime, ErrCollateral},
	} {
		for _, fast := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/fast=%v", tc.name, fast), func(t *testing.T) {
				if _, err := verifyTDXMode(ctx, raw, tc.p, tc.now, fast); !errors.Is(err, tc.want) {
					t.Fatalf("got %v, want %v", err, tc.want)
				}
			})
		}
	}

	// A TCB info edited after signing.
	b := s.bundle(t, matchQuote("UpToDate"))
	u := pcs.TcbInfoURL("50806f000000")
	r := b.Responses[u]
	r.Body = []byte(strings.Replace(string(r.Body), `"tcbEvaluationDataNumber":15`, `"tcbEvaluationDataNumber":16`, 1))
	b.Responses[u] = r
	for _, fast := range []bool{true, false} {
		if _, err := verifyTDXMode(ctx, raw, &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: b}, tdxTime, fast); !errors.Is(err, ErrCollateral) {
			t.Fatalf("fast=%v: tampered TCB info: got %v, want ErrCollateral", fast, err)
		}
	}
}

// TestTDXCollateralDifferential holds the fast path to go-tdx-guest's verdicts over randomized TCB
// info: SVNs at, below and above the platform's, PCESVN, statuses, level order, and (for the Google
// Cloud quote, whose TDX module has major version 1) TDX module identities.
func TestTDXCollateralDifferential(t *testing.T) {
	s := newTestTCBSigner(t)
	rng := mrand.New(mrand.NewPCG(1, 2))
	statuses := []string{"UpToDate", "OutOfDate", "SWHardeningNeeded", "ConfigurationNeeded"}
	pick := func() string {
		if rng.IntN(2) == 0 {
			return "UpToDate"
		}
		return statuses[rng.IntN(len(statuses))]
	}
	// levels rewrites every TCB level around the platform's SGX components (pck) and TEE_TCB_SVN.
	levels := func(ti map[string]any, pck, tee []int) {
		ls := ti["tcbLevels"].([]any)
		for _, l := range ls {
			tcb := l.(map[string]any)["tcb"].(map[string]any)
			sgx, tdx := tcb["sgxtcbcomponents"].([]any), tcb["tdxtcbcomponents"].([]any)
			for j, v := range pck {
				sgx[j].(map[string]any)["svn"] = max(0, v-rng.IntN(2))
			}
			for j, v := range tee {
				tdx[j].(map[string]any)["svn"] = max(0, v-rng.IntN(2))
			}
			switch rng.IntN(4) { // maybe one component above the platform
			case 0:
				j := rng.IntN(len(pck))
				sgx[j].(map[string]any)["svn"] = pck[j] + 1
			case 1:
				j := rng.IntN(len(tee))
				tdx[j].(map[string]any)["svn"] = tee[j] + 1
			}
			tcb["pcesvn"] = 10 + rng.IntN(3) // both platforms have PCESVN 11
			l.(map[string]any)["tcbStatus"] = pick()
		}
		if rng.IntN(2) == 0 {
			ls[0], ls[1] = ls[1], ls[0]
		}
	}
	later := func(doc map[string]any) { doc["nextUpdate"] = "2030-01-01T00:00:00Z" }
	cases := []struct {
		quote  string
		now    time.Time
		fmspc  string
		edit   func(map[string]any)
		editQE func(map[string]any)
	}{
		{"tdx_quote_spr_e4.dat", tdxTime, "50806f000000", func(ti map[string]any) {
			levels(ti, []int{3, 3, 2, 2, 2, 1, 0, 2}, []int{3, 0, 4})
		}, nil},
		{"tdx_quote_gcp_cos113.dat", gcpTime, "00806f050000", func(ti map[string]any) {
			later(ti)
			levels(ti, []int{7, 7, 2, 2, 3, 1, 0, 3}, []int{4, 1, 7})
			id := "TDX_01"
			if rng.IntN(5) == 0 {
				id = "TDX_02" // no identity for this module version
			}
			a := 2 + rng.IntN(5)
			ti["tdxModuleIdentities"] = []any{map[string]any{
				"id": id, "mrsigner": strings.Repeat("00", 48), "attributes": "0000000000000000", "attributesMask": "FFFFFFFFFFFFFFFF",
				"tcbLevels": []any{
					map[string]any{"tcb": map[string]any{"isvsvn": a}, "tcbDate": "2024-01-01T00:00:00Z", "tcbStatus": pick()},
					map[string]any{"tcb": map[string]any{"isvsvn": a - 2}, "tcbDate": "2023-01-01T00:00:00Z", "tcbStatus": pick()},
				},
			}}
		}, later},
	}
	n := 40
	if testing.Short() {
		n = 10
	}
	for _, tc := range cases {
		raw := tdxQuote(t, tc.quote)
		verdicts := map[string]int{}
		for i := 0; i < n; i++ {
			p := &Policy{Roots: Roots{IntelSGX: s.pool}, TDXCollateral: s.bundleFor(t, tc.fmspc, tc.edit, tc.editQE)}
			_, fastErr := verifyTDXMode(context.Background(), raw, p, tc.now, true)
			_, libErr := verifyTDXMode(context.Background(), raw, p, tc.now, false)
			if (fastErr == nil) != (libErr == nil) || errors.Is(fastErr, ErrTCB) != errors.Is(libErr, ErrTCB) {
				t.Fatalf("%s case %d: fast path %v, go-tdx-guest %v", tc.quote, i, fastErr, libErr)
			}
			verdicts[fmt.Sprint(fastErr == nil, errors.Is(fastErr, ErrTCB))]++
		}
		t.Logf("%s verdicts (accepted, ErrTCB): %v", tc.quote, verdicts)
		if verdicts["true false"] == 0 || verdicts["false true"] == 0 || verdicts["false false"] != 0 {
			t.Fatalf("%s: randomized cases did not cover both verdicts only: %v", tc.quote, verdicts)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}
