package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/attest"
)

func runAttestCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	attestOut = &out
	t.Cleanup(func() { attestOut = nil })
	err := runAttest(context.Background(), args)
	return out.String(), err
}

func TestAttestMeasure(t *testing.T) {
	out, err := runAttestCmd(t, "measure", "--devnet-sim")
	if err != nil {
		t.Fatal(err)
	}
	m := attest.SimMeasurement(attest.DevnetSimImage)
	if want := "sim " + hex.EncodeToString(m[:]) + "\n"; out != want {
		t.Fatalf("got %q, want %q", out, want)
	}

	// The sim kind's hash covers one register, the image: the explicit form must agree.
	out, err = runAttestCmd(t, "measure", "--kind", "sim", "--reg", "image="+hex.EncodeToString(attest.DevnetSimImage[:]))
	if err != nil {
		t.Fatal(err)
	}
	if want := "sim " + hex.EncodeToString(m[:]) + "\n"; out != want {
		t.Fatalf("explicit registers: got %q, want %q", out, want)
	}

	snp := []string{"measure", "--kind", "snp",
		"--reg", "measurement=" + strings.Repeat("ab", 48),
		"--reg", "host_data=" + strings.Repeat("00", 32),
		"--reg", "policy=" + strings.Repeat("00", 8)}
	out, err = runAttestCmd(t, snp...)
	if err != nil {
		t.Fatal(err)
	}
	want, err := attest.MeasurementFromRegisters(attest.KindSNP, map[string]string{
		"measurement": strings.Repeat("ab", 48), "host_data": strings.Repeat("00", 32), "policy": strings.Repeat("00", 8)})
	if err != nil {
		t.Fatal(err)
	}
	if out != "snp "+hex.EncodeToString(want[:])+"\n" {
		t.Fatalf("snp: got %q", out)
	}
}

func TestAttestMeasureErrors(t *testing.T) {
	for _, tc := range []struct {
		args  []string
		usage bool
		want  string
	}{
		{[]string{"measure"}, true, "--kind is required"},
		{[]string{"measure", "--kind", "sgx"}, true, "sgx"},
		{[]string{"measure", "--kind", "sim", "--reg", "image"}, true, "not NAME=HEX"},
		{[]string{"measure", "--kind", "sim", "--reg", "image=00", "--reg", "IMAGE=00"}, true, "given twice"},
		{[]string{"measure", "--devnet-sim", "--kind", "sim"}, true, "takes no --kind"},
		{[]string{"measure", "--kind", "sim", "--reg", "image=00"}, false, "image"},
		{[]string{"frobnicate"}, true, "unknown verb"},
		{[]string{"check"}, true, "missing provider URL"},
		{[]string{"check", "http://127.0.0.1:1", "--devnet-sim"}, true, "https://"},
		{[]string{"check", "https://127.0.0.1:1"}, true, "allows no measurement"},
		{[]string{"check", "https://127.0.0.1:1", "--allow", "tdx:12"}, true, "64 hex digits"},
	} {
		_, err := runAttestCmd(t, tc.args...)
		if err == nil {
			t.Fatalf("%v: no error", tc.args)
		}
		if errors.Is(err, errUsage) != tc.usage || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%v: error %q (usage error: %v), want one mentioning %q (usage error: %v)", tc.args, err, errors.Is(err, errUsage), tc.want, tc.usage)
		}
	}
}

// TestAttestCheck runs a real RA-TLS provider endpoint (simulated TEE) and checks it end to end.
func TestAttestCheck(t *testing.T) {
	ctx := context.Background()
	is, err := attest.NewIssuer(ctx, attest.IssuerConfig{Attester: attest.NewSimAttester(attest.DevnetSimImage)})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, is.EvidenceHandler())
	// Not httptest.StartTLS: it would add its own certificate, which wins over GetCertificate.
	ln, err := tls.Listen("tcp", "127.0.0.1:0", is.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: mux}
	go func() { _ = hs.Serve(ln) }()
	defer hs.Close()
	srv := struct{ URL string }{"https://" + ln.Addr().String()}

	nonce := strings.Repeat("5a", 16)
	out, err := runAttestCmd(t, "check", srv.URL, "--devnet-sim", "--nonce", nonce)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Provider    string          `json:"provider"`
		Nonce       string          `json:"nonce"`
		Certificate json.RawMessage `json:"certificate"`
		Fresh       struct {
			Kind      string `json:"kind"`
			Simulated bool   `json:"simulated"`
		} `json:"fresh"`
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("output is not JSON: %v\n%s", err, out)
	}
	if got.Provider != srv.URL || got.Nonce != nonce || got.Fresh.Kind != "sim" || !got.Fresh.Simulated || len(got.Certificate) < 10 {
		t.Fatalf("unexpected claims: %s", out)
	}

	// The same provider is refused when the policy lists only another measurement and no sim.
	other := strings.Repeat("11", 32)
	_, err = runAttestCmd(t, "check", srv.URL, "--allow", "tdx:"+other)
	if !errors.Is(err, attest.ErrSimNotAllowed) {
		t.Fatalf("sim provider under a tdx-only policy: %v, want ErrSimNotAllowed", err)
	}
	// And when sim is allowed but its measurement is not listed.
	_, err = runAttestCmd(t, "check", srv.URL, "--allow-sim", "--allow", "sim:"+other)
	if !errors.Is(err, attest.ErrMeasurementNotAllowed) {
		t.Fatalf("unlisted sim measurement: %v, want ErrMeasurementNotAllowed", err)
	}
}
