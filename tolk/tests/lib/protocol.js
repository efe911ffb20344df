// Opcodes, exit codes and enum values of the Registry and Provider contracts (docs/PROTOCOL.md).
// Kept by hand in step with tolk/src; tests/abi.test.js checks them against the compiler's ABI (contracts/build/*.abi.json).
'use strict';

const Op = Object.freeze({
  // governance → registry
  ProposeGovernance: 0x52470001,
  AcceptGovernance: 0x52470002,
  UpdateParams: 0x52470003,
  AddMeasurement: 0x52470004,
  RevokeMeasurement: 0x52470005,
  AddModel: 0x52470006,
  UpdateModel: 0x52470007,
  RemoveModel: 0x52470008,
  AddOracle: 0x52470009,
  RemoveOracle: 0x5247000a,
  SlashProvider: 0x5247000b,
  JailProvider: 0x5247000c,
  UnjailProvider: 0x5247000d,
  WithdrawRegistrySurplus: 0x5247000e,
  // anyone / oracle → registry
  RegisterProvider: 0x52470010,
  SubmitOracleVote: 0x52470011,
  SubmitUptimeRoot: 0x52470013,
  // registry → provider
  ProviderRegistration: 0x50520001,
  ForwardedOracleVote: 0x50520002,
  ForwardedSlash: 0x50520003,
  ForwardedJail: 0x50520004,
  // owner → provider
  SetEndpoint: 0x50520010,
  SetModelPrice: 0x50520011,
  RemoveModelPrice: 0x50520012,
  AddStake: 0x50520013,
  RequestUnstake: 0x50520014,
  WithdrawUnbonded: 0x50520015,
  PauseProvider: 0x50520016,
  ResumeProvider: 0x50520017,
  ExitProvider: 0x50520018,
  // outgoing notifications
  ReturnExcess: 0xd53276db,
  RefundBounced: 0x52470020,
  SlashedStake: 0x50520020,
  StakeWithdrawn: 0x50520021,
});

const Errors = Object.freeze({
  NotGovernance: 100,
  NotPendingGovernance: 101,
  NoPendingGovernance: 102,
  InvalidParams: 103,
  InvalidMeasurementKind: 104,
  SimNotAllowed: 105,
  MeasurementExists: 106,
  MeasurementNotFound: 107,
  ModelExists: 108,
  ModelNotFound: 109,
  InvalidModelName: 110,
  OracleExists: 111,
  OracleNotFound: 112,
  TooManyOracles: 113,
  NotOracle: 114,
  MeasurementNotAllowed: 115,
  AttestationExpired: 116,
  AttestationTooLong: 117,
  NotEnoughValue: 118,
  StakeBelowMinimum: 119,
  NotBasechain: 120,
  InvalidJailPeriod: 121,
  InvalidSlashAmount: 122,
  UptimeEpochNotNewer: 123,
  NotOwner: 130,
  NotRegistry: 131,
  NotRegistered: 132,
  InvalidStatus: 133,
  InvalidEndpoint: 134,
  TooManyModels: 135,
  ModelPriceNotFound: 136,
  AmountExceedsStake: 137,
  StakeWouldDropBelowMinimum: 138,
  NothingToWithdraw: 139,
  ProviderJailed: 140,
  AlreadyVoted: 141,
  ZeroAmount: 142,
  UnbondingLocked: 143,
  WrongOpcode: 0xffff,
});

const NetworkKind = Object.freeze({ Devnet: 0, Testnet: 1, Mainnet: 2 });
const MeasurementKind = Object.freeze({ Tdx: 1, Snp: 2, Sim: 3 });
const ProviderStatus = Object.freeze({
  Unregistered: 0, Active: 1, Paused: 2, Exiting: 3, Jailed: 4, Slashed: 5,
});

module.exports = { Op, Errors, NetworkKind, MeasurementKind, ProviderStatus };
