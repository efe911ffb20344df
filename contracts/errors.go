package contracts

import (
	"errors"
	"fmt"

	"github.com/cocoon-go/cocoon/chain"
)

// ExitCode is a TVM exit code; the named ones are thrown by the Registry and Provider contracts
// (tolk/src/errors.tolk, mirrored here and checked against it by a test). An ExitCode is an error,
// so a failed transaction's compute-phase code can be returned and matched with errors.Is/As.
type ExitCode int32

// Contract exit codes. The numbers are protocol: never renumbered, only appended.
const (
	// Registry exit codes.
	// ExitNotGovernance: sender is not the governance address
	ExitNotGovernance ExitCode = 100
	// ExitNotPendingGovernance: AcceptGovernance from someone other than the proposed address
	ExitNotPendingGovernance ExitCode = 101
	// ExitNoPendingGovernance: AcceptGovernance while nothing is proposed
	ExitNoPendingGovernance ExitCode = 102
	// ExitInvalidParams: UpdateParams values outside their documented bounds
	ExitInvalidParams ExitCode = 103
	// ExitInvalidMeasurementKind: kind is not tdx (1), snp (2) or sim (3)
	ExitInvalidMeasurementKind ExitCode = 104
	// ExitSimNotAllowed: sim measurements only on a devnet registry
	ExitSimNotAllowed       ExitCode = 105
	ExitMeasurementExists   ExitCode = 106
	ExitMeasurementNotFound ExitCode = 107
	ExitModelExists         ExitCode = 108
	ExitModelNotFound       ExitCode = 109
	// ExitInvalidModelName: empty, longer than 64 bytes, not whole bytes, or has refs
	ExitInvalidModelName ExitCode = 110
	ExitOracleExists     ExitCode = 111
	ExitOracleNotFound   ExitCode = 112
	ExitTooManyOracles   ExitCode = 113
	// ExitNotOracle: SubmitOracleVote from a wallet outside the oracle set
	ExitNotOracle ExitCode = 114
	// ExitMeasurementNotAllowed: vote for a measurement that is not (or no longer) allowed
	ExitMeasurementNotAllowed ExitCode = 115
	// ExitAttestationExpired: validUntil <= now
	ExitAttestationExpired ExitCode = 116
	// ExitAttestationTooLong: validUntil > now + maxAttestationLifetime
	ExitAttestationTooLong ExitCode = 117
	// ExitNotEnoughValue: attached value does not cover stake and/or fees
	ExitNotEnoughValue ExitCode = 118
	// ExitStakeBelowMinimum: RegisterProvider with stakeAmount < minProviderStake
	ExitStakeBelowMinimum ExitCode = 119
	// ExitNotBasechain: provider owners must live in the basechain
	ExitNotBasechain ExitCode = 120
	// ExitInvalidJailPeriod: jail until <= now or > now + MAX_JAIL_SECONDS
	ExitInvalidJailPeriod ExitCode = 121
	// ExitInvalidSlashAmount: zero slash
	ExitInvalidSlashAmount ExitCode = 122
	// ExitUptimeEpochNotNewer: SubmitUptimeRoot with an epoch <= the oracle's last committed one
	ExitUptimeEpochNotNewer ExitCode = 123

	// Provider exit codes.
	ExitNotOwner    ExitCode = 130
	ExitNotRegistry ExitCode = 131
	// ExitNotRegistered: provider contract not initialised by the registry yet
	ExitNotRegistered ExitCode = 132
	// ExitInvalidStatus: operation not allowed in the current status
	ExitInvalidStatus ExitCode = 133
	// ExitInvalidEndpoint: empty, longer than 127 bytes, not whole bytes, or has refs
	ExitInvalidEndpoint            ExitCode = 134
	ExitTooManyModels              ExitCode = 135
	ExitModelPriceNotFound         ExitCode = 136
	ExitAmountExceedsStake         ExitCode = 137
	ExitStakeWouldDropBelowMinimum ExitCode = 138
	ExitNothingToWithdraw          ExitCode = 139
	// ExitProviderJailed: stake movements are frozen while jailed
	ExitProviderJailed ExitCode = 140
	// ExitAlreadyVoted is no longer thrown: an oracle's new vote replaces its previous one (kept, never renumbered)
	ExitAlreadyVoted ExitCode = 141
	ExitZeroAmount   ExitCode = 142
	// ExitUnbondingLocked: WithdrawUnbonded before unlockAt
	ExitUnbondingLocked ExitCode = 143

	// ExitWrongOpcode: unknown non-empty message body
	ExitWrongOpcode ExitCode = 0xFFFF
)

var exitCodeNames = map[ExitCode]string{
	ExitNotGovernance:              "NotGovernance",
	ExitNotPendingGovernance:       "NotPendingGovernance",
	ExitNoPendingGovernance:        "NoPendingGovernance",
	ExitInvalidParams:              "InvalidParams",
	ExitInvalidMeasurementKind:     "InvalidMeasurementKind",
	ExitSimNotAllowed:              "SimNotAllowed",
	ExitMeasurementExists:          "MeasurementExists",
	ExitMeasurementNotFound:        "MeasurementNotFound",
	ExitModelExists:                "ModelExists",
	ExitModelNotFound:              "ModelNotFound",
	ExitInvalidModelName:           "InvalidModelName",
	ExitOracleExists:               "OracleExists",
	ExitOracleNotFound:             "OracleNotFound",
	ExitTooManyOracles:             "TooManyOracles",
	ExitNotOracle:                  "NotOracle",
	ExitMeasurementNotAllowed:      "MeasurementNotAllowed",
	ExitAttestationExpired:         "AttestationExpired",
	ExitAttestationTooLong:         "AttestationTooLong",
	ExitNotEnoughValue:             "NotEnoughValue",
	ExitStakeBelowMinimum:          "StakeBelowMinimum",
	ExitNotBasechain:               "NotBasechain",
	ExitInvalidJailPeriod:          "InvalidJailPeriod",
	ExitInvalidSlashAmount:         "InvalidSlashAmount",
	ExitUptimeEpochNotNewer:        "UptimeEpochNotNewer",
	ExitNotOwner:                   "NotOwner",
	ExitNotRegistry:                "NotRegistry",
	ExitNotRegistered:              "NotRegistered",
	ExitInvalidStatus:              "InvalidStatus",
	ExitInvalidEndpoint:            "InvalidEndpoint",
	ExitTooManyModels:              "TooManyModels",
	ExitModelPriceNotFound:         "ModelPriceNotFound",
	ExitAmountExceedsStake:         "AmountExceedsStake",
	ExitStakeWouldDropBelowMinimum: "StakeWouldDropBelowMinimum",
	ExitNothingToWithdraw:          "NothingToWithdraw",
	ExitProviderJailed:             "ProviderJailed",
	ExitAlreadyVoted:               "AlreadyVoted",
	ExitZeroAmount:                 "ZeroAmount",
	ExitUnbondingLocked:            "UnbondingLocked",
	ExitWrongOpcode:                "WrongOpcode",

	// channel-errors.tolk (enum ChannelErrors)
	ExitChannelsDisabled:    "ChannelsDisabled",
	ExitChannelCodeMismatch: "ChannelCodeMismatch",
	ExitNotChannel:          "NotChannel",
	ExitChannelNotOpen:      "ChannelNotOpen",
	ExitInvalidSignature:    "InvalidSignature",
	ExitWrongChannel:        "WrongChannel",
	ExitVoucherNotNewer:     "VoucherNotNewer",
	ExitNothingToClaim:      "NothingToClaim",
	ExitAlreadyClosing:      "AlreadyClosing",
	ExitNotClosing:          "NotClosing",
	ExitChallengeNotOver:    "ChallengeNotOver",
	ExitWrongCloseNonce:     "WrongCloseNonce",
	ExitNotPayee:            "NotPayee",
	ExitBadVoucher:          "BadVoucher",
}

// String is the code's name in errors.tolk or channel-errors.tolk, or its number when it is not a contract code.
func (c ExitCode) String() string {
	if n, ok := exitCodeNames[c]; ok {
		return n
	}
	return fmt.Sprintf("%d", int32(c))
}

// Error describes the code, e.g. "contract exit code 100 (NotGovernance)".
func (c ExitCode) Error() string {
	if n, ok := exitCodeNames[c]; ok {
		return fmt.Sprintf("contract exit code %d (%s)", int32(c), n)
	}
	return fmt.Sprintf("exit code %d", int32(c))
}

// Known reports whether c is one of the contracts' own codes (not a TVM or compiler code).
func (c ExitCode) Known() bool {
	_, ok := exitCodeNames[c]
	return ok
}

// AsExitCode extracts an exit code from err: an ExitCode anywhere in its chain, or the code of a
// chain.GetMethodError.
func AsExitCode(err error) (ExitCode, bool) {
	var c ExitCode
	if errors.As(err, &c) {
		return c, true
	}
	var gm *chain.GetMethodError
	if errors.As(err, &gm) {
		return ExitCode(gm.ExitCode), true
	}
	return 0, false
}
