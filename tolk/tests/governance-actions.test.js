// Governance actions on providers through the registry: slash and jail.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op, ProviderStatus } = require('./lib/protocol');

const V = toNano('0.1');
const RESERVE = toNano('0.02');
const gov = (ctx, body, { who, value = V } = {}) => (who ?? ctx.gov).send({ to: ctx.registry, value, body });
const owner = (ctx, body, value = toNano('0.05')) => ctx.owner.send({ to: ctx.provider, value, body });

// The treasury receives the slashed amount minus the forward fee (paid out of the value, mode 0).
function assertSlashed(tx, amount) {
  const got = tx.inMessage.info.value.coins;
  assert.ok(got <= amount && amount - got < toNano('0.001'), `treasury got ${got}, slashed ${amount}`);
}

test('slash takes stake to the treasury, marks the provider slashed below the minimum', async () => {
  const ctx = await F.setup();
  const { bc, registry, provider, treasury, gov: g } = ctx;
  const r = await gov(ctx, M.slashProvider({ queryId: 11, providerOwner: ctx.owner.address, amount: toNano('3'), evidenceDigest: 0xbadn }));
  F.assertTx(r, { from: registry, to: provider, op: Op.ForwardedSlash, success: true });
  const toTreasury = F.assertTx(r, { from: provider, to: treasury.address, op: Op.SlashedStake, success: true });
  assertSlashed(toTreasury, toNano('3'));
  const body = toTreasury.inMessage.body.beginParse().skip(32 + 64);
  assert.ok(body.loadAddress().equals(ctx.owner.address));
  assert.equal(body.loadUintBig(256), 0xbadn);
  F.assertTx(r, { from: provider, to: g.address, op: Op.ReturnExcess, success: true });
  const d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.status], [toNano('7'), ProviderStatus.Slashed]);
  assert.equal((await F.state(bc, provider)).balance, toNano('7') + RESERVE);

  // slashed: may unstake anything, or top up back to active
  F.assertTx(await owner(ctx, M.addStake({ amount: toNano('3') }), toNano('3.1')), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Active);
});

test('slash reaches unbonding stake and never takes more than the provider holds', async () => {
  const ctx = await F.setup();
  const { bc, provider, treasury } = ctx;
  await owner(ctx, M.exitProvider({}));
  bc.now = F.NOW + 10;
  let r = await gov(ctx, M.slashProvider({ providerOwner: ctx.owner.address, amount: toNano('4'), evidenceDigest: 1n }));
  assertSlashed(F.assertTx(r, { to: treasury.address, op: Op.SlashedStake }), toNano('4'));
  let d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.unbondingAmount, d.status], [0n, toNano('6'), ProviderStatus.Exiting]);

  r = await gov(ctx, M.slashProvider({ providerOwner: ctx.owner.address, amount: toNano('1000'), evidenceDigest: 2n }));
  assertSlashed(F.assertTx(r, { to: treasury.address, op: Op.SlashedStake }), toNano('6'));
  d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.unbondingAmount], [0n, 0n]);
  // nothing left: a further slash sends nothing to the treasury but still succeeds
  r = await gov(ctx, M.slashProvider({ providerOwner: ctx.owner.address, amount: toNano('1'), evidenceDigest: 3n }));
  F.assertTx(r, { to: provider, success: true });
  assert.equal(F.findTx(r, { to: treasury.address }), undefined);
  assert.ok((await F.state(bc, provider)).balance >= RESERVE - toNano('0.001'));
});

test('slash rejections: wrong sender, zero amount, low value; unknown provider refunds governance', async () => {
  const ctx = await F.setup();
  const { registry, stranger } = ctx;
  const body = M.slashProvider({ providerOwner: ctx.owner.address, amount: toNano('1'), evidenceDigest: 1n });
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => gov(ctx, body, { who: stranger }));
  await F.assertRejected(ctx, registry, Errors.InvalidSlashAmount, () =>
    gov(ctx, M.slashProvider({ providerOwner: ctx.owner.address, amount: 0n, evidenceDigest: 1n })));
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => gov(ctx, body, { value: toNano('0.005') }));
  const nobody = await ctx.bc.treasury('nobody');
  const r = await gov(ctx, M.slashProvider({ providerOwner: nobody.address, amount: toNano('1'), evidenceDigest: 1n }));
  F.assertTx(r, { from: registry, to: ctx.gov.address, op: Op.RefundBounced, success: true });
});

test('jail freezes stake movements until the deadline or unjail', async () => {
  const ctx = await F.setup();
  const { bc, provider, registry, stranger } = ctx;
  await owner(ctx, M.addStake({ amount: toNano('5') }), toNano('5.1'));
  await owner(ctx, M.requestUnstake({ amount: toNano('2') }));
  const until = F.NOW + 30 * 24 * 3600;
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until }), { who: stranger }));
  for (const bad of [F.NOW, F.NOW + 180 * 24 * 3600 + 1]) {
    await F.assertRejected(ctx, registry, Errors.InvalidJailPeriod, () => gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until: bad })));
  }
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until }), { value: toNano('0.005') }));

  let r = await gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until }));
  F.assertTx(r, { from: registry, to: provider, op: Op.ForwardedJail, success: true });
  let d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.status, d.effectiveStatus, d.jailedUntil], [ProviderStatus.Active, ProviderStatus.Jailed, until]);

  bc.now = F.NOW + ctx.params.unbondingPeriod; // unbonding unlocked, but jailed
  // no stake movement and no status change by the owner while jailed
  for (const body of [M.requestUnstake({ amount: toNano('1') }), M.withdrawUnbonded({}), M.exitProvider({}), M.pauseProvider({})]) {
    await F.assertRejected(ctx, provider, Errors.ProviderJailed, () => owner(ctx, body));
  }
  await gov(ctx, M.unjailProvider({ providerOwner: ctx.owner.address }));
  await owner(ctx, M.pauseProvider({}));
  await gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until }));
  await F.assertRejected(ctx, provider, Errors.ProviderJailed, () => owner(ctx, M.resumeProvider({})));
  // governance can still slash a jailed provider
  r = await gov(ctx, M.slashProvider({ providerOwner: ctx.owner.address, amount: toNano('1'), evidenceDigest: 9n }));
  F.assertTx(r, { to: provider, success: true });

  r = await gov(ctx, M.unjailProvider({ providerOwner: ctx.owner.address }));
  F.assertTx(r, { to: provider, op: Op.ForwardedJail, success: true });
  d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.effectiveStatus, d.jailedUntil], [ProviderStatus.Paused, 0]);
  F.assertTx(await owner(ctx, M.withdrawUnbonded({})), { to: provider, success: true });

  // a jail that runs out lifts by itself
  await gov(ctx, M.jailProvider({ providerOwner: ctx.owner.address, until: bc.now + 100 }));
  await F.assertRejected(ctx, provider, Errors.ProviderJailed, () => owner(ctx, M.resumeProvider({})));
  bc.now += 100;
  assert.equal((await L.getProviderData(bc, provider)).effectiveStatus, ProviderStatus.Paused);
  F.assertTx(await owner(ctx, M.resumeProvider({})), { to: provider, success: true });
});
