package attest

import (
	"context"
	"errors"
	"testing"
	"time"
)

// On a machine without a TEE (CI, developers) detection must fail with ErrNoTEE; on any machine it
// must never hand out the simulated attester.
func TestDetectAttesterNeverSim(t *testing.T) {
	a, err := DetectAttester()
	if err != nil {
		if !errors.Is(err, ErrNoTEE) {
			t.Fatalf("detection failed with %v, want ErrNoTEE", err)
		}
		return
	}
	if a.Kind() == KindSim {
		t.Fatal("hardware detection returned the simulated attester")
	}
}

func TestNVMLAttesterNeedsBuildTag(t *testing.T) {
	if _, err := NewNVMLAttester(); err == nil {
		t.Skip("NVML present: running on a confidential-computing GPU machine")
	} else if !errors.Is(err, ErrNoTEE) {
		t.Fatalf("got %v, want ErrNoTEE", err)
	}
}

func TestConfigChecks(t *testing.T) {
	if err := (&IssuerConfig{}).Check(); err == nil {
		t.Fatal("issuer without attester accepted")
	}
	if err := (&IssuerConfig{Attester: NewSimAttester(simImage), Validity: time.Second}).Check(); err == nil {
		t.Fatal("one-second certificates accepted")
	}
	if _, err := NewIssuer(context.Background(), IssuerConfig{}); err == nil {
		t.Fatal("NewIssuer without attester succeeded")
	}
	if _, err := NewVerifier(Policy{}); err == nil {
		t.Fatal("empty policy accepted")
	}
	if _, err := NewVerifier(Policy{Allowed: map[[32]byte]Kind{{1}: Kind(9)}}); err == nil {
		t.Fatal("unknown kind in allow-list accepted")
	}
}

func TestFreshChallengeLimits(t *testing.T) {
	is := newSimIssuer(t, nil)
	for _, n := range []int{0, 65} {
		if _, err := is.Fresh(context.Background(), make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("challenge of %d bytes: %v", n, err)
		}
	}
	// A caller that gives up while another fresh request holds the quoting path gets its ctx error.
	is.fresh <- struct{}{}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := is.Fresh(ctx, []byte{1}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("busy quoting path: %v", err)
	}
	<-is.fresh
	if _, err := is.Fresh(context.Background(), []byte{1}); err != nil {
		t.Fatal(err)
	}
}
