package contracts

import (
	"fmt"
	"math/big"
)

// Limits the contracts enforce, mirrored from tolk/src/registry-limits.tolk and
// fees-management.tolk (a test compares them with the sources).
const (
	// MinProviderStakeFloor is the least minProviderStake UpdateParams accepts (1 TON).
	MinProviderStakeFloor = 1_000_000_000
	// MinPeriodSeconds and MaxPeriodSeconds bound the unbonding period, the challenge period and
	// the longest attestation (60 s to 365 days).
	MinPeriodSeconds = 60
	MaxPeriodSeconds = 365 * 24 * 3600
	// MaxProtocolFeeBps is 100 %.
	MaxProtocolFeeBps = 10000
	// MaxJailSeconds is the longest jail governance can impose at once (180 days).
	MaxJailSeconds = 180 * 24 * 3600
	// MaxOracles and MaxRegistryModels bound the registry's oracle set and model catalog.
	MaxOracles        = 64
	MaxRegistryModels = 1024
	// StorageReserve is what every contract keeps for storage fees (MIN_TONS_FOR_STORAGE, 0.02 TON):
	// a provider's surplus is its balance above stake + unbonding + StorageReserve, a channel's
	// available deposit its balance above it.
	StorageReserve = 20_000_000
)

// ParamsError is a registry parameter outside its bounds: UpdateParams would fail with
// ExitInvalidParams (errors.Is matches it), and a registry deployed with it misbehaves.
type ParamsError struct {
	// Reason says which parameter and why, in plain words.
	Reason string
}

func (e *ParamsError) Error() string { return e.Reason }

// Unwrap is the exit code the registry gives such parameters.
func (e *ParamsError) Unwrap() error { return ExitInvalidParams }

// CheckPeriod is nil when seconds is a valid period (unbonding, challenge, attestation lifetime).
func CheckPeriod(seconds int64) error {
	if seconds < MinPeriodSeconds || seconds > MaxPeriodSeconds {
		return &ParamsError{fmt.Sprintf("a period of %d s is outside 60 s to 365 days", seconds)}
	}
	return nil
}

// Check is nil when UpdateParams accepts p (areParamsValid): minimum stake at least 1 TON, periods
// within bounds, fee at most 10000 bps, quorum at least 1, treasury in the basechain.
func (p *RegistryParams) Check() error {
	switch {
	case p == nil:
		return &ParamsError{"no registry parameters"}
	case p.MinProviderStake.Nano().Cmp(big.NewInt(MinProviderStakeFloor)) < 0:
		return &ParamsError{"minimum provider stake must be at least 1 TON"}
	case p.Treasury == nil:
		return &ParamsError{"no treasury address"}
	case p.Treasury.Workchain() != 0:
		return &ParamsError{fmt.Sprintf("treasury must be in the basechain (workchain 0), not %d: fees are priced for basechain forwarding", int8(p.Treasury.Workchain()))}
	case p.ProtocolFeeBps > MaxProtocolFeeBps:
		return &ParamsError{fmt.Sprintf("protocol fee %d bps is above %d", p.ProtocolFeeBps, MaxProtocolFeeBps)}
	case p.OracleQuorum < 1:
		return &ParamsError{"oracle quorum must be at least 1"}
	}
	for _, per := range []struct {
		name string
		s    uint32
	}{{"unbonding period", p.UnbondingPeriod}, {"challenge period", p.ChallengePeriod}, {"attestation lifetime", p.MaxAttestationLifetime}} {
		if CheckPeriod(int64(per.s)) != nil {
			return &ParamsError{fmt.Sprintf("%s %d s is outside 60 s to 365 days", per.name, per.s)}
		}
	}
	return nil
}
