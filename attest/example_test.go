package attest_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/cocoon-go/cocoon/attest"
)

// A provider serves RA-TLS from inside its VM; a client accepts it only if the evidence in its
// certificate verifies under the client's policy. On the devnet the simulated attester stands in for
// TDX/SNP; on real hardware use attest.DetectAttester() (and attest.NewNVMLAttester() for GPUs).
func Example() {
	ctx := context.Background()
	image := [48]byte{1}

	// Provider, inside the VM.
	issuer, err := attest.NewIssuer(ctx, attest.IssuerConfig{
		Attester: attest.NewSimAttester(image), // devnet only: explicit, never a fallback
		Logger:   slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		panic(err)
	}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		s := tls.Server(c, issuer.TLSConfig())
		_ = s.Handshake()
		_, _ = s.Write([]byte("hi"))
		_ = s.Close()
	}()

	// Client: the allow-list comes from the registry contract; sim only where the registry allows it.
	roots, _ := attest.DefaultRoots()
	v, err := attest.NewVerifier(attest.Policy{
		Allowed:  map[[32]byte]attest.Kind{attest.SimMeasurement(image): attest.KindSim},
		AllowSim: true,
		Roots:    roots,
	})
	if err != nil {
		panic(err)
	}
	var claims *attest.Claims
	conn, err := tls.Dial("tcp", ln.Addr().String(), v.ClientTLSConfig(func(c *attest.Claims) { claims = c }))
	if err != nil {
		panic(err)
	}
	defer conn.Close()
	fmt.Println(claims.Kind, claims.Simulated, claims.TLSKeyHash == issuer.KeyHash())
	// Output: sim (SIMULATED, NOT A TEE) true true
}
