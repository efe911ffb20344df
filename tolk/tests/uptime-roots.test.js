// Uptime commitments (SubmitUptimeRoot): only an oracle commits, epochs only grow per oracle, each
// oracle's latest is kept in its OracleInfo (so it leaves with the oracle), the getter reads it, and a
// commitment does not disturb the oracle's votes.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op } = require('./lib/protocol');

const ROOT = 0xabcdef0123456789n * (1n << 190n) + 17n;
const commit = (ctx, i, { epoch, root = ROOT, providerCount = 5, value = toNano('0.05'), queryId = 9 }) =>
  ctx.oracleWallets[i].send({ to: ctx.registry, value, body: M.submitUptimeRoot({ queryId, epoch, root, providerCount }) });
const none = { found: false, epoch: 0, root: 0n, providerCount: 0, committedAt: 0 };

test('an oracle commits its epoch roots: stored per oracle, excess returned, the getter reads the latest', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, registry, oracleWallets } = ctx;
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[0].address), none);
  let r = await commit(ctx, 0, { epoch: 100 });
  F.assertTx(r, { from: oracleWallets[0].address, to: registry, op: Op.SubmitUptimeRoot, success: true });
  const excess = F.assertTx(r, { from: registry, to: oracleWallets[0].address, op: Op.ReturnExcess, success: true });
  assert.ok(excess.inMessage.info.value.coins > toNano('0.04'), 'the unused value comes back');
  assert.equal(excess.inMessage.body.beginParse().skip(32).loadUintBig(64), 9n, 'with the query id');
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[0].address),
    { found: true, epoch: 100, root: ROOT, providerCount: 5, committedAt: F.NOW });
  // another oracle's commitment is its own
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[1].address), none);
  F.assertTx(await commit(ctx, 1, { epoch: 7, root: 1n, providerCount: 0 }), { to: registry, success: true });
  bc.now = F.NOW + 3600;
  F.assertTx(await commit(ctx, 0, { epoch: 101, root: 2n, providerCount: 1000 }), { to: registry, success: true });
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[0].address),
    { found: true, epoch: 101, root: 2n, providerCount: 1000, committedAt: F.NOW + 3600 });
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[1].address),
    { found: true, epoch: 7, root: 1n, providerCount: 0, committedAt: F.NOW });
  // the whole set shows it too; the oracle count, slots and keys are untouched
  const os = await L.getOracles(bc, registry);
  assert.deepEqual(os.get(oracleWallets[0].address), { publicKey: F.oracleKey(0), slot: 0,
    uptime: { epoch: 101, root: 2n, providerCount: 1000, committedAt: F.NOW + 3600 } });
  assert.deepEqual(os.get(oracleWallets[2].address), { publicKey: F.oracleKey(2), slot: 2 });
  assert.deepEqual(await L.getOracle(bc, registry, oracleWallets[0].address), { found: true, publicKey: F.oracleKey(0), slot: 0 });
  assert.equal((await L.getRegistryData(bc, registry)).oracleCount, 3);
});

test('epochs only grow per oracle: the same or an older epoch fails with 123', async () => {
  const ctx = await F.setup({ register: false });
  const { registry } = ctx;
  F.assertTx(await commit(ctx, 0, { epoch: 0 }), { to: registry, success: true }); // the first may be any epoch, 0 included
  await F.assertRejected(ctx, registry, Errors.UptimeEpochNotNewer, () => commit(ctx, 0, { epoch: 0, root: 5n }));
  F.assertTx(await commit(ctx, 0, { epoch: 50 }), { to: registry, success: true });
  await F.assertRejected(ctx, registry, Errors.UptimeEpochNotNewer, () => commit(ctx, 0, { epoch: 50 }), { from: ctx.oracleWallets[0].address });
  await F.assertRejected(ctx, registry, Errors.UptimeEpochNotNewer, () => commit(ctx, 0, { epoch: 49 }));
  // a gap is fine (an oracle that was down skips epochs)
  F.assertTx(await commit(ctx, 0, { epoch: 0xffffffff }), { to: registry, success: true });
  await F.assertRejected(ctx, registry, Errors.UptimeEpochNotNewer, () => commit(ctx, 0, { epoch: 0xffffffff }));
  assert.equal((await L.getUptimeRoot(ctx.bc, registry, ctx.oracleWallets[0].address)).epoch, 0xffffffff);
});

test('only an oracle commits (114), with the value for its gas (118); a truncated body fails with 9', async () => {
  const ctx = await F.setup({ register: false });
  const { registry, gov, stranger, owner, oracleWallets } = ctx;
  const body = M.submitUptimeRoot({ epoch: 1, root: ROOT, providerCount: 1 });
  for (const who of [stranger, gov, owner]) {
    await F.assertRejected(ctx, registry, Errors.NotOracle, () => who.send({ to: registry, value: toNano('1'), body }));
  }
  // below GAS_REGISTRY_UPTIME's fee (12000 gas = 0.0048 TON) but enough gas to reach the check
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => oracleWallets[0].send({ to: registry, value: toNano('0.0029'), body }),
    { from: oracleWallets[0].address, noLoss: true });
  assert.deepEqual(await L.getUptimeRoot(ctx.bc, registry, oracleWallets[0].address), none);
  const { beginCell } = require('@ton/core');
  for (const bits of [16, 64 + 32, 64 + 32 + 256]) {
    const cut = beginCell().storeUint(Op.SubmitUptimeRoot, 32).storeUint(0, bits).endCell();
    await F.assertRejected(ctx, registry, 9, () => oracleWallets[0].send({ to: registry, value: toNano('1'), body: cut }));
  }
});

test('a removed oracle can no longer commit and its commitment goes with it; re-added, it starts afresh', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, gov, registry, oracleWallets } = ctx;
  const G = (body) => gov.send({ to: registry, value: toNano('0.05'), body });
  F.assertTx(await commit(ctx, 2, { epoch: 40 }), { to: registry, success: true });
  F.assertTx(await G(M.removeOracle({ wallet: oracleWallets[2].address })), { to: registry, success: true });
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[2].address), none);
  await F.assertRejected(ctx, registry, Errors.NotOracle, () => commit(ctx, 2, { epoch: 41 }));
  F.assertTx(await G(M.addOracle({ wallet: oracleWallets[2].address, publicKey: 77n })), { to: registry, success: true });
  assert.deepEqual(await L.getUptimeRoot(bc, registry, oracleWallets[2].address), none);
  F.assertTx(await commit(ctx, 2, { epoch: 3 }), { to: registry, success: true });
  assert.equal((await L.getUptimeRoot(bc, registry, oracleWallets[2].address)).epoch, 3);
});

test('an oracle that committed still votes: the vote carries its slot', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, provider } = ctx;
  F.assertTx(await commit(ctx, 1, { epoch: 1 }), { to: ctx.registry, success: true });
  F.assertTx(await F.vote(ctx, 1, F.claim()), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 0, F.claim()), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.votes.map((v) => v.slot).sort()], [true, [0, 1]]);
});
