package clienttest

import (
	"testing"

	"github.com/cocoon-go/cocoon/contracts"
)

func TestNetStartsAnAttestedProvider(t *testing.T) {
	n := NewNet(t)
	p := n.StartProvider(ProviderOptions{})
	ok, err := (contracts.ProviderClient{Chain: n.Chain, Address: p.Contract}).IsAttested(n.Ctx)
	if err != nil || !ok {
		t.Fatalf("provider not attested: %v %v", ok, err)
	}
}
