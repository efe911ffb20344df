package contracts

import (
	"errors"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
)

// The Go limits are the Tolk constants.
func TestLimitsMatchTolk(t *testing.T) {
	var src strings.Builder
	for _, f := range []string{"registry-limits.tolk", "fees-management.tolk"} {
		b, err := os.ReadFile("../tolk/src/" + f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	consts := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^const (\w+) = (.+)$`).FindAllStringSubmatch(src.String(), -1) {
		consts[m[1]] = strings.TrimSpace(m[2])
	}
	eval := func(name string) int64 {
		v, ok := consts[name]
		if !ok {
			t.Fatalf("no const %s in the Tolk sources", name)
		}
		if m := regexp.MustCompile(`^ton\("([0-9.]+)"\)$`).FindStringSubmatch(v); m != nil {
			c, err := tlb.FromTON(m[1])
			if err != nil {
				t.Fatal(err)
			}
			return c.Nano().Int64()
		}
		prod := int64(1)
		for _, f := range strings.Split(v, "*") {
			n, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				t.Fatalf("const %s = %s: %v", name, v, err)
			}
			prod *= n
		}
		return prod
	}
	for name, want := range map[string]int64{
		"MIN_PROVIDER_STAKE_FLOOR": MinProviderStakeFloor, "MIN_PERIOD_SECONDS": MinPeriodSeconds, "MAX_PERIOD_SECONDS": MaxPeriodSeconds,
		"MAX_FEE_BPS": MaxProtocolFeeBps, "MAX_JAIL_SECONDS": MaxJailSeconds, "MAX_ORACLES": MaxOracles,
		"MAX_REGISTRY_MODELS": MaxRegistryModels, "MAX_MODEL_NAME_BYTES": MaxModelNameBytes, "MIN_TONS_FOR_STORAGE": StorageReserve,
	} {
		if got := eval(name); got != want {
			t.Errorf("%s = %d in Tolk, %d in Go", name, got, want)
		}
	}
}

func TestRegistryParamsCheck(t *testing.T) {
	base := func() RegistryParams {
		return RegistryParams{MinProviderStake: tlb.MustFromTON("1"), UnbondingPeriod: 60, ProtocolFeeBps: 10000,
			Treasury: address.MustParseRawAddr("0:" + strings.Repeat("11", 32)), ChallengePeriod: MaxPeriodSeconds, OracleQuorum: 1, MaxAttestationLifetime: 3600}
	}
	ok := base()
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(p *RegistryParams){
		"stake":     func(p *RegistryParams) { p.MinProviderStake = tlb.MustFromTON("0.999999999") },
		"unbonding": func(p *RegistryParams) { p.UnbondingPeriod = 59 },
		"challenge": func(p *RegistryParams) { p.ChallengePeriod = MaxPeriodSeconds + 1 },
		"lifetime":  func(p *RegistryParams) { p.MaxAttestationLifetime = 0 },
		"fee":       func(p *RegistryParams) { p.ProtocolFeeBps = 10001 },
		"quorum":    func(p *RegistryParams) { p.OracleQuorum = 0 },
		"treasury":  func(p *RegistryParams) { p.Treasury = address.MustParseRawAddr("-1:" + strings.Repeat("11", 32)) },
	} {
		p := base()
		change(&p)
		err := p.Check()
		var pe *ParamsError
		if !errors.As(err, &pe) || !errors.Is(err, ExitInvalidParams) {
			t.Errorf("%s: %v, want a ParamsError naming exit code 103", name, err)
		}
	}
}
