// Code, initial data, address derivation, deployment and get-method readers for the Registry and
// Provider contracts. The Go bindings' fixture test imports these: keep the names stable.
'use strict';
const fs = require('fs');
const path = require('path');
const { beginCell, Cell, contractAddress, Dictionary, toNano } = require('@ton/core');
const { registryParamsCell } = require('./messages');
const { NetworkKind } = require('./protocol');

const BUILD_DIR = path.join(__dirname, '..', '..', '..', 'contracts', 'build');

// Compiled code from contracts/build (what `make contracts` wrote and the Go side embeds).
function loadCode(name) {
  return Cell.fromBoc(fs.readFileSync(path.join(BUILD_DIR, `${name}.boc`)))[0];
}

// Registry initial data. measurements/oracles/models start empty (a deployer could pre-fill them,
// but then the devnet-only rule for `sim` would be bypassed, so these helpers never do).
function registryData({ governance, networkKind = NetworkKind.Devnet, params, providerCode, channelCode = null }) {
  const catalog = beginCell()
    .storeRef(providerCode)
    .storeMaybeRef(channelCode)
    .storeUint(0, 16) // modelCount
    .storeDict(null) // models
    .endCell();
  return beginCell()
    .storeAddress(governance)
    .storeAddress(null) // pendingGovernance: addr_none
    .storeUint(networkKind, 8)
    .storeUint(0, 16) // oracleCount
    .storeUint(0, 64) // oracleSlots
    .storeUint(0, 32) // oracleEpoch
    .storeRef(registryParamsCell(params))
    .storeDict(null) // measurements
    .storeDict(null) // oracles
    .storeRef(catalog)
    .endCell();
}

// Provider initial data: the address preimage is (code, owner, registry) only.
function providerInitialData(owner, registry) {
  return beginCell()
    .storeAddress(owner)
    .storeAddress(registry)
    .storeUint(0, 8) // status: unregistered
    .storeCoins(0) // stake
    .storeCoins(0) // unbondingAmount
    .storeUint(0, 32) // unlockAt
    .storeUint(0, 32) // jailedUntil
    .storeBit(false) // params
    .storeBit(false) // profile
    .storeBit(false) // attestation
    .storeBit(false) // usage
    .endCell();
}

function providerAddress(owner, registry, providerCode) {
  return contractAddress(0, { code: providerCode, data: providerInitialData(owner, registry) });
}

function defaultRegistryParams(treasury, overrides = {}) {
  return {
    minProviderStake: toNano('10'),
    unbondingPeriod: 7 * 24 * 3600,
    protocolFeeBps: 250,
    treasury,
    challengePeriod: 24 * 3600,
    oracleQuorum: 2,
    maxAttestationLifetime: 24 * 3600,
    ...overrides,
  };
}

// Deploys a registry from `deployer` (a sandbox treasury). Returns { address, code, providerCode, result }.
// The contract does not check its initial data: like the Go helper, this refuses a treasury outside the
// basechain unless `unchecked` (tests of what the registry does with such data).
async function deployRegistry(blockchain, deployer, opts) {
  if (!opts.unchecked && opts.params.treasury.workChain !== 0) throw new Error('registry treasury must be in the basechain');
  const code = opts.code ?? loadCode('registry');
  const providerCode = opts.providerCode ?? loadCode('provider');
  const data = registryData({ ...opts, providerCode });
  const address = contractAddress(0, { code, data });
  const result = await deployer.send({
    to: address,
    value: opts.value ?? toNano('1'),
    init: { code, data },
    bounce: false,
  });
  return { address, code, providerCode, result };
}

// ---- get-method readers (names match the Tolk getters)

async function get(blockchain, address, method, args = []) {
  const r = await blockchain.runGetMethod(address, method, args);
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`${method} failed: exit code ${r.exitCode}`);
  return r.stackReader;
}

const addrArg = (a) => ({ type: 'slice', cell: beginCell().storeAddress(a).endCell() });
const intArg = (n) => ({ type: 'int', value: BigInt(n) });

async function getRegistryData(bc, registry) {
  const s = await get(bc, registry, 'get_registry_data');
  return {
    governance: s.readAddress(),
    pendingGovernance: s.readAddressOpt(),
    networkKind: s.readNumber(),
    oracleCount: s.readNumber(),
    modelCount: s.readNumber(),
    oracleEpoch: s.readNumber(),
  };
}

async function getRegistryParams(bc, registry) {
  const s = await get(bc, registry, 'get_registry_params');
  return {
    minProviderStake: s.readBigNumber(),
    unbondingPeriod: s.readNumber(),
    protocolFeeBps: s.readNumber(),
    treasury: s.readAddress(),
    challengePeriod: s.readNumber(),
    oracleQuorum: s.readNumber(),
    maxAttestationLifetime: s.readNumber(),
  };
}

async function getProviderAddress(bc, registry, owner) {
  return (await get(bc, registry, 'get_provider_address', [addrArg(owner)])).readAddress();
}

async function getMeasurementKind(bc, registry, measurementHash) {
  return (await get(bc, registry, 'get_measurement_kind', [intArg(measurementHash)])).readNumber();
}

async function getModel(bc, registry, modelId) {
  const s = await get(bc, registry, 'get_model', [intArg(modelId)]);
  const found = s.readBoolean();
  const weightsHash = s.readBigNumber();
  const name = s.readCellOpt();
  return { found, weightsHash, name: name ? name.beginParse().loadBuffer(name.bits.length / 8).toString('utf-8') : null };
}

async function getOracle(bc, registry, wallet) {
  const s = await get(bc, registry, 'get_oracle', [addrArg(wallet)]);
  return { found: s.readBoolean(), publicKey: s.readBigNumber(), slot: s.readNumber() };
}

async function getMeasurements(bc, registry) {
  const c = (await get(bc, registry, 'get_measurements')).readCellOpt();
  return Dictionary.loadDirect(Dictionary.Keys.BigUint(256), Dictionary.Values.Uint(8), c);
}

async function getOracles(bc, registry) {
  const c = (await get(bc, registry, 'get_oracles')).readCellOpt();
  return Dictionary.loadDirect(Dictionary.Keys.Address(), {
    serialize: () => { throw new Error('read only'); },
    parse: (sl) => {
      const info = { publicKey: sl.loadUintBig(256), slot: sl.loadUint(8) };
      const u = sl.loadMaybeRef();
      if (u) info.uptime = readUptimeCommitment(u.beginParse());
      return info;
    },
  }, c);
}

function readUptimeCommitment(s) {
  return { epoch: s.loadUint(32), root: s.loadUintBig(256), providerCount: s.loadUint(32), committedAt: s.loadUint(32) };
}

// An oracle's latest uptime commitment (found false: not an oracle, or none yet).
async function getUptimeRoot(bc, registry, wallet) {
  const s = await get(bc, registry, 'get_uptime_root', [addrArg(wallet)]);
  return { found: s.readBoolean(), epoch: s.readNumber(), root: s.readBigNumber(), providerCount: s.readNumber(), committedAt: s.readNumber() };
}

// What RegisterProvider must carry beyond the stake under the current config.
async function getRegisterFee(bc, registry, stakeAmount) {
  return (await get(bc, registry, 'get_register_fee', [{ type: 'int', value: BigInt(stakeAmount) }])).readBigNumber();
}

async function getCodes(bc, registry) {
  const s = await get(bc, registry, 'get_codes');
  return { providerCode: s.readCell(), channelCode: s.readCellOpt() };
}

async function getProviderData(bc, provider) {
  const s = await get(bc, provider, 'get_provider_data');
  return {
    owner: s.readAddress(),
    registry: s.readAddress(),
    status: s.readNumber(),
    effectiveStatus: s.readNumber(),
    stake: s.readBigNumber(),
    unbondingAmount: s.readBigNumber(),
    unlockAt: s.readNumber(),
    jailedUntil: s.readNumber(),
  };
}

async function getProviderParams(bc, provider) {
  const s = await get(bc, provider, 'get_provider_params');
  return { minStake: s.readBigNumber(), unbondingPeriod: s.readNumber(), treasury: s.readAddressOpt() };
}

async function getProfile(bc, provider) {
  const s = await get(bc, provider, 'get_profile');
  const endpoint = s.readCellOpt();
  const modelCount = s.readNumber();
  const modelsCell = s.readCellOpt();
  const models = Dictionary.loadDirect(Dictionary.Keys.Uint(32), {
    serialize: () => { throw new Error('read only'); },
    parse: (sl) => ({ promptPricePerMillion: sl.loadCoins(), completionPricePerMillion: sl.loadCoins() }),
  }, modelsCell);
  return {
    endpoint: endpoint ? endpoint.beginParse().loadBuffer(endpoint.bits.length / 8).toString('utf-8') : null,
    modelCount,
    models,
  };
}

async function getModelPrice(bc, provider, modelId) {
  const s = await get(bc, provider, 'get_model_price', [intArg(modelId)]);
  return { found: s.readBoolean(), promptPricePerMillion: s.readBigNumber(), completionPricePerMillion: s.readBigNumber() };
}

// A provider's votes dictionary as [{ validUntil, slot, claimHash, round }], largest validUntil first.
function voteList(votes) {
  const d = Dictionary.loadDirect(Dictionary.Keys.BigUint(40), {
    serialize: () => { throw new Error('read only'); },
    parse: (sl) => ({ claimHash: sl.loadUintBig(256), round: sl.loadUint(32) }),
  }, votes);
  return d.keys().sort((x, y) => (x < y ? 1 : x > y ? -1 : 0))
    .map((k) => ({ validUntil: Number(k >> 8n), slot: Number(k & 0xffn), ...d.get(k) }));
}

// sha256 of a claim's (measurement, evidence digest, TLS key hash): how a provider identifies what a vote is for.
function claimHash({ measurementHash, evidenceDigest, tlsKeyHash }) {
  const b = Buffer.concat([measurementHash, evidenceDigest, tlsKeyHash].map((x) => Buffer.from(BigInt(x).toString(16).padStart(64, '0'), 'hex')));
  return BigInt('0x' + require('crypto').createHash('sha256').update(b).digest('hex'));
}

async function getAttestation(bc, provider) {
  const s = await get(bc, provider, 'get_attestation');
  return {
    attested: s.readBoolean(),
    measurementHash: s.readBigNumber(),
    evidenceDigest: s.readBigNumber(),
    tlsKeyHash: s.readBigNumber(),
    validUntil: s.readNumber(),
    attestedAt: s.readNumber(),
    round: s.readNumber(),
    oracleEpoch: s.readNumber(),
    votes: voteList(s.readCellOpt()),
  };
}

async function isAttested(bc, provider) {
  return (await get(bc, provider, 'is_attested')).readBoolean();
}

async function getUsage(bc, provider) {
  const s = await get(bc, provider, 'get_usage');
  return { promptTokens: s.readBigNumber(), completionTokens: s.readBigNumber(), earned: s.readBigNumber() };
}

module.exports = {
  getRegisterFee,
  BUILD_DIR,
  loadCode,
  registryData,
  providerInitialData,
  providerAddress,
  defaultRegistryParams,
  deployRegistry,
  getRegistryData,
  getRegistryParams,
  getProviderAddress,
  getMeasurementKind,
  getModel,
  getOracle,
  getMeasurements,
  getOracles,
  getUptimeRoot,
  getCodes,
  getProviderData,
  getProviderParams,
  getProfile,
  getModelPrice,
  getAttestation,
  voteList,
  claimHash,
  isAttested,
  getUsage,
};
