// Shared sandbox setup and assertions for the contract suites.
'use strict';
const assert = require('node:assert/strict');
const { Blockchain, internal } = require('@ton/sandbox');
const { toNano, Address } = require('@ton/core');
const { keyPairFromSeed } = require('@ton/crypto');
const L = require('./contracts');
const M = require('./messages');
const { MeasurementKind, NetworkKind } = require('./protocol');

const NOW = 1_800_000_000; // fixed clock: no storage fees between steps, deterministic gas
const TDX = 0x7d1an * (1n << 200n) + 1n;
const SNP = 0x5e7an * (1n << 200n) + 2n;
const SIM = 0x5111n * (1n << 200n) + 3n;

// A distinct basechain address per index, for senders that need no wallet of their own.
function syntheticAddress(i) {
  const hash = Buffer.alloc(32, 0xcc);
  hash.writeUInt32BE(i, 0);
  return new Address(0, hash);
}

function oracleKey(i) {
  return BigInt('0x' + keyPairFromSeed(Buffer.alloc(32, i + 1)).publicKey.toString('hex'));
}

// A registry with governance, treasury, `oracles` oracles, the three measurements (sim only on devnet),
// optionally a registered provider owned by `owner` and the channel code (`channelCode`, null = channels off).
async function setup({ networkKind = NetworkKind.Devnet, oracles = 3, quorum = 2, register = true, params = {}, providerCode, channelCode = null, config } = {}) {
  const bc = await Blockchain.create(config ? { config } : undefined);
  bc.now = NOW;
  const gov = await bc.treasury('governance');
  const treasury = await bc.treasury('treasury');
  const owner = await bc.treasury('owner');
  const stranger = await bc.treasury('stranger');
  const oracleWallets = [];
  for (let i = 0; i < oracles; i++) oracleWallets.push(await bc.treasury(`oracle-${i}`));
  const registryParams = L.defaultRegistryParams(treasury.address, { oracleQuorum: quorum, ...params });
  const reg = await L.deployRegistry(bc, gov, { governance: gov.address, networkKind, params: registryParams, providerCode, channelCode });
  const registry = reg.address;
  // Setup messages skip the sender's wallet transaction (direct internal messages): same contract
  // behaviour, half the emulation work.
  const g = (body, value = toNano('0.05')) => bc.sendMessage(internal({ from: gov.address, to: registry, value, body }));
  await g(M.addMeasurement({ measurementHash: TDX, kind: MeasurementKind.Tdx }));
  await g(M.addMeasurement({ measurementHash: SNP, kind: MeasurementKind.Snp }));
  if (networkKind === NetworkKind.Devnet) await g(M.addMeasurement({ measurementHash: SIM, kind: MeasurementKind.Sim }));
  for (let i = 0; i < oracles; i++) await g(M.addOracle({ wallet: oracleWallets[i].address, publicKey: oracleKey(i) }));
  const providerOf = (who) => L.providerAddress(who, registry, reg.providerCode);
  const provider = providerOf(owner.address);
  const ctx = { bc, gov, treasury, owner, stranger, oracleWallets, registry, provider, providerOf, params: registryParams, reg };
  if (register) {
    const r = await bc.sendMessage(internal({ from: owner.address, to: registry, value: registryParams.minProviderStake + toNano('0.2'),
      body: M.registerProvider({ queryId: 7, stakeAmount: registryParams.minProviderStake }) }));
    assertTx(r, { from: registry, to: provider, success: true });
  }
  return ctx;
}

async function registerProvider(ctx, who, stakeAmount, value) {
  return who.send({
    to: ctx.registry,
    value: value ?? stakeAmount + toNano('0.2'),
    body: M.registerProvider({ queryId: 7, stakeAmount }),
  });
}

function claim({ measurementHash = TDX, evidenceDigest = 0xe1n, tlsKeyHash = 0x71n, validUntil = NOW + 3600 } = {}) {
  return { measurementHash, evidenceDigest, tlsKeyHash, validUntil };
}

async function vote(ctx, i, c, { owner, value = toNano('0.1') } = {}) {
  return ctx.oracleWallets[i].send({
    to: ctx.registry,
    value,
    body: M.submitOracleVote({ queryId: 100 + i, providerOwner: owner ?? ctx.owner.address, claim: c }),
  });
}

// ---- transaction assertions

const addrEq = (a, b) => a && b && Address.isAddress(a) && a.equals(b);

function findTx(result, { from, to, op } = {}) {
  return result.transactions.find((t) => {
    const info = t.inMessage?.info;
    if (!info || info.type !== 'internal') return false;
    if (to && !addrEq(info.dest, to)) return false;
    if (from && !addrEq(info.src, from)) return false;
    if (op !== undefined) {
      const s = t.inMessage.body.beginParse();
      if (s.remainingBits < 32 || s.loadUint(32) !== op) return false;
    }
    return true;
  });
}

function exitCodeOf(tx) {
  const d = tx.description;
  if (d.type !== 'generic') return undefined;
  return d.computePhase.type === 'vm' ? d.computePhase.exitCode : undefined;
}

// Asserts a transaction exists; `success` checks compute and action phases, `exitCode` the compute exit code.
function assertTx(result, { from, to, op, success, exitCode, bounced }) {
  const tx = findTx(result, { from, to, op });
  assert.ok(tx, `no transaction ${from ? 'from ' + from : ''} to ${to} ${op !== undefined ? 'op 0x' + op.toString(16) : ''}`);
  const d = tx.description;
  if (success === true) {
    assert.equal(d.aborted, false, `transaction aborted with exit code ${exitCodeOf(tx)}`);
    if (d.actionPhase) assert.equal(d.actionPhase.resultCode, 0, 'action phase failed');
  }
  if (success === false) assert.equal(d.aborted, true, 'transaction was expected to fail');
  if (exitCode !== undefined) assert.equal(exitCodeOf(tx), exitCode, 'exit code');
  if (bounced !== undefined) assert.equal(tx.inMessage.info.bounced, bounced, 'bounced flag');
  return tx;
}

async function state(bc, address) {
  const c = await bc.getContract(address);
  const acc = c.accountState;
  const data = acc && acc.type === 'active' ? acc.state.data : null;
  return { balance: c.balance, dataHash: data ? data.hash().toString('hex') : null };
}

// Runs `send`, asserts the contract at `address` rejected it with `exitCode` and neither its data nor its
// balance changed (except for the storage fee due for time that passed); returns the result.
// `noLoss`: the balance may grow (a value too small to pay for its own bounce stays as dust), never shrink.
async function assertRejected(ctx, address, exitCode, send, { from, noLoss = false } = {}) {
  const before = await state(ctx.bc, address);
  const result = await send();
  const tx = assertTx(result, { from, to: address, success: false, exitCode });
  const storageFee = tx.description.storagePhase?.storageFeesCollected ?? 0n;
  const after = await state(ctx.bc, address);
  if (noLoss) {
    assert.equal(after.dataHash, before.dataHash, 'state changed after a rejected message');
    assert.ok(after.balance >= before.balance - storageFee, 'balance decreased after a rejected message');
  } else {
    assert.deepEqual(after, { ...before, balance: before.balance - storageFee }, 'state or balance changed after a rejected message');
  }
  return result;
}

module.exports = {
  NOW, TDX, SNP, SIM, oracleKey, syntheticAddress, setup, registerProvider, claim, vote,
  findTx, exitCodeOf, assertTx, state, assertRejected,
};
