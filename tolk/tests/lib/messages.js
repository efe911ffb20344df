// Body builders for every Registry/Provider message, byte-for-byte what the contracts parse.
// The Go bindings' fixture test imports these: keep the names and argument shapes stable.
'use strict';
const { beginCell } = require('@ton/core');
const { Op } = require('./protocol');

const q = (queryId) => BigInt(queryId ?? 0);

// A short UTF-8 text as the bits of a single cell (endpoint, model name).
function textCell(text) {
  return beginCell().storeBuffer(Buffer.from(text, 'utf-8')).endCell();
}

function registryParamsCell(p) {
  return beginCell()
    .storeCoins(p.minProviderStake)
    .storeUint(p.unbondingPeriod, 32)
    .storeUint(p.protocolFeeBps, 16)
    .storeAddress(p.treasury)
    .storeUint(p.challengePeriod, 32)
    .storeUint(p.oracleQuorum, 8)
    .storeUint(p.maxAttestationLifetime, 32)
    .endCell();
}

function providerParamsCell(p) {
  return beginCell().storeCoins(p.minStake).storeUint(p.unbondingPeriod, 32).storeAddress(p.treasury).endCell();
}

function attestationClaimCell(c) {
  return beginCell()
    .storeUint(c.measurementHash, 256)
    .storeUint(c.evidenceDigest, 256)
    .storeUint(c.tlsKeyHash, 256)
    .storeUint(c.validUntil, 32)
    .endCell();
}

const head = (op, queryId) => beginCell().storeUint(op, 32).storeUint(q(queryId), 64);

// ---- governance → registry
const proposeGovernance = ({ queryId, newGovernance }) => head(Op.ProposeGovernance, queryId).storeAddress(newGovernance).endCell();
const acceptGovernance = ({ queryId } = {}) => head(Op.AcceptGovernance, queryId).endCell();
const updateParams = ({ queryId, params }) => head(Op.UpdateParams, queryId).storeRef(registryParamsCell(params)).endCell();
const addMeasurement = ({ queryId, measurementHash, kind }) =>
  head(Op.AddMeasurement, queryId).storeUint(measurementHash, 256).storeUint(kind, 8).endCell();
const revokeMeasurement = ({ queryId, measurementHash }) =>
  head(Op.RevokeMeasurement, queryId).storeUint(measurementHash, 256).endCell();
// `name` is a string (encoded with textCell) or a ready cell.
const modelName = (name) => (typeof name === 'string' ? textCell(name) : name);
const addModel = ({ queryId, modelId, weightsHash, name }) =>
  head(Op.AddModel, queryId).storeUint(modelId, 32).storeUint(weightsHash, 256).storeRef(modelName(name)).endCell();
const updateModel = ({ queryId, modelId, weightsHash, name }) =>
  head(Op.UpdateModel, queryId).storeUint(modelId, 32).storeUint(weightsHash, 256).storeRef(modelName(name)).endCell();
const removeModel = ({ queryId, modelId }) => head(Op.RemoveModel, queryId).storeUint(modelId, 32).endCell();
const addOracle = ({ queryId, wallet, publicKey }) =>
  head(Op.AddOracle, queryId).storeAddress(wallet).storeUint(publicKey, 256).endCell();
const removeOracle = ({ queryId, wallet }) => head(Op.RemoveOracle, queryId).storeAddress(wallet).endCell();
const slashProvider = ({ queryId, providerOwner, amount, evidenceDigest }) =>
  head(Op.SlashProvider, queryId).storeAddress(providerOwner).storeCoins(amount).storeUint(evidenceDigest, 256).endCell();
const jailProvider = ({ queryId, providerOwner, until }) =>
  head(Op.JailProvider, queryId).storeAddress(providerOwner).storeUint(until, 32).endCell();
const unjailProvider = ({ queryId, providerOwner }) => head(Op.UnjailProvider, queryId).storeAddress(providerOwner).endCell();
const withdrawRegistrySurplus = ({ queryId } = {}) => head(Op.WithdrawRegistrySurplus, queryId).endCell();

// ---- anyone / oracle → registry
const registerProvider = ({ queryId, stakeAmount }) => head(Op.RegisterProvider, queryId).storeCoins(stakeAmount).endCell();
const submitOracleVote = ({ queryId, providerOwner, claim }) =>
  head(Op.SubmitOracleVote, queryId).storeAddress(providerOwner).storeRef(attestationClaimCell(claim)).endCell();
const submitUptimeRoot = ({ queryId, epoch, root, providerCount }) =>
  head(Op.SubmitUptimeRoot, queryId).storeUint(epoch, 32).storeUint(root, 256).storeUint(providerCount, 32).endCell();

// The value of the registry's oracles map (OracleInfo, with its UptimeCommitment or null).
function uptimeCommitmentCell(u) {
  return beginCell().storeUint(u.epoch, 32).storeUint(u.root, 256).storeUint(u.providerCount, 32).storeUint(u.committedAt, 32).endCell();
}

// ---- registry → provider (built by the registry; here for fixtures and spoofing tests)
const providerRegistration = ({ queryId, owner, stakeAmount, params }) =>
  head(Op.ProviderRegistration, queryId).storeAddress(owner).storeCoins(stakeAmount).storeRef(providerParamsCell(params)).endCell();
const forwardedOracleVote = ({ queryId, oracleWallet, oracleSlot, oracleEpoch, quorum, claim, params }) =>
  head(Op.ForwardedOracleVote, queryId)
    .storeAddress(oracleWallet)
    .storeUint(oracleSlot, 8)
    .storeUint(oracleEpoch, 32)
    .storeUint(quorum, 8)
    .storeRef(attestationClaimCell(claim))
    .storeRef(providerParamsCell(params))
    .endCell();
const forwardedSlash = ({ queryId, excessTo, amount, evidenceDigest, params }) =>
  head(Op.ForwardedSlash, queryId)
    .storeAddress(excessTo)
    .storeCoins(amount)
    .storeUint(evidenceDigest, 256)
    .storeRef(providerParamsCell(params))
    .endCell();
const forwardedJail = ({ queryId, excessTo, until, params }) =>
  head(Op.ForwardedJail, queryId).storeAddress(excessTo).storeUint(until, 32).storeRef(providerParamsCell(params)).endCell();

// ---- owner → provider
// `endpoint` is a string (encoded with textCell) or a ready cell.
const setEndpoint = ({ queryId, endpoint }) =>
  head(Op.SetEndpoint, queryId).storeRef(typeof endpoint === 'string' ? textCell(endpoint) : endpoint).endCell();
const setModelPrice = ({ queryId, modelId, promptPricePerMillion, completionPricePerMillion }) =>
  head(Op.SetModelPrice, queryId).storeUint(modelId, 32).storeCoins(promptPricePerMillion).storeCoins(completionPricePerMillion).endCell();
const removeModelPrice = ({ queryId, modelId }) => head(Op.RemoveModelPrice, queryId).storeUint(modelId, 32).endCell();
const addStake = ({ queryId, amount }) => head(Op.AddStake, queryId).storeCoins(amount).endCell();
const requestUnstake = ({ queryId, amount }) => head(Op.RequestUnstake, queryId).storeCoins(amount).endCell();
const withdrawUnbonded = ({ queryId } = {}) => head(Op.WithdrawUnbonded, queryId).endCell();
const pauseProvider = ({ queryId } = {}) => head(Op.PauseProvider, queryId).endCell();
const resumeProvider = ({ queryId } = {}) => head(Op.ResumeProvider, queryId).endCell();
const exitProvider = ({ queryId } = {}) => head(Op.ExitProvider, queryId).endCell();

// ---- outgoing notifications (what the contracts send; for fixtures)
const returnExcess = ({ queryId } = {}) => head(Op.ReturnExcess, queryId).endCell();
const refundBounced = ({ queryId } = {}) => head(Op.RefundBounced, queryId).endCell();
const slashedStake = ({ queryId, providerOwner, evidenceDigest }) =>
  head(Op.SlashedStake, queryId).storeAddress(providerOwner).storeUint(evidenceDigest, 256).endCell();
const stakeWithdrawn = ({ queryId, amount }) => head(Op.StakeWithdrawn, queryId).storeCoins(amount).endCell();

module.exports = {
  textCell,
  registryParamsCell,
  providerParamsCell,
  attestationClaimCell,
  proposeGovernance,
  acceptGovernance,
  updateParams,
  addMeasurement,
  revokeMeasurement,
  addModel,
  updateModel,
  removeModel,
  addOracle,
  removeOracle,
  slashProvider,
  jailProvider,
  unjailProvider,
  withdrawRegistrySurplus,
  registerProvider,
  submitOracleVote,
  submitUptimeRoot,
  uptimeCommitmentCell,
  providerRegistration,
  forwardedOracleVote,
  forwardedSlash,
  forwardedJail,
  setEndpoint,
  setModelPrice,
  removeModelPrice,
  addStake,
  requestUnstake,
  withdrawUnbonded,
  pauseProvider,
  resumeProvider,
  exitProvider,
  returnExcess,
  refundBounced,
  slashedStake,
  stakeWithdrawn,
};
