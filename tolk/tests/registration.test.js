// Provider registration through the registry: deploy, top-up, rejections, bounce refund.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano, beginCell, Cell } = require('@ton/core');
const { runTolkCompiler } = require('@ton/tolk-js');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op, ProviderStatus } = require('./lib/protocol');

const RESERVE = toNano('0.02');

test('RegisterProvider deploys the owner provider at the derived address with stake and params', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, owner, registry, provider, treasury } = ctx;
  const r = await F.registerProvider(ctx, owner, toNano('12'), toNano('13'));
  F.assertTx(r, { from: owner.address, to: registry, success: true });
  F.assertTx(r, { from: registry, to: provider, op: Op.ProviderRegistration, success: true });
  const excess = F.assertTx(r, { from: provider, to: owner.address, op: Op.ReturnExcess, success: true });
  assert.ok(excess.inMessage.info.value.coins > toNano('0.9'));
  assert.ok((await L.getProviderAddress(bc, registry, owner.address)).equals(provider));

  const d = await L.getProviderData(bc, provider);
  assert.ok(d.owner.equals(owner.address) && d.registry.equals(registry));
  assert.equal(d.status, ProviderStatus.Active);
  assert.equal(d.stake, toNano('12'));
  assert.equal(d.unbondingAmount, 0n);
  const p = await L.getProviderParams(bc, provider);
  assert.equal(p.minStake, ctx.params.minProviderStake);
  assert.equal(p.unbondingPeriod, ctx.params.unbondingPeriod);
  assert.ok(p.treasury.equals(treasury.address));
  // exactly stake + storage reserve stays; the rest went back
  assert.equal((await F.state(bc, provider)).balance, toNano('12') + RESERVE);
});

test('registering twice tops the stake up and never loses the second payment', async () => {
  const ctx = await F.setup();
  const { bc, owner, provider } = ctx;
  const before = await owner.getBalance();
  const r = await F.registerProvider(ctx, owner, toNano('10'), toNano('10.5'));
  F.assertTx(r, { to: provider, op: Op.ProviderRegistration, success: true });
  const d = await L.getProviderData(bc, provider);
  assert.equal(d.stake, toNano('20'));
  assert.equal(d.status, ProviderStatus.Active);
  assert.equal((await F.state(bc, provider)).balance, toNano('20') + RESERVE);
  const spent = before - (await owner.getBalance());
  assert.ok(spent >= toNano('10') && spent < toNano('10.1'), `spent ${spent}`);
});

test('registration rejections: below min stake, too little value, masterchain owner, malformed', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, owner, registry, provider } = ctx;
  const ownerBefore = await owner.getBalance();
  const r = await F.assertRejected(ctx, registry, Errors.StakeBelowMinimum, () =>
    F.registerProvider(ctx, owner, toNano('9.99'), toNano('11')));
  F.assertTx(r, { from: registry, to: owner.address, bounced: true });
  assert.ok(ownerBefore - (await owner.getBalance()) < toNano('0.01'), 'the bounce returned the value');

  // covers the stake but not the fees; get_register_fee is exactly the least the fees need
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () =>
    F.registerProvider(ctx, owner, toNano('10'), toNano('10.02')));
  const fee = await L.getRegisterFee(bc, registry, toNano('10'));
  assert.ok(fee > toNano('0.02') && fee < toNano('0.1'), `fee ${fee}`);
  assert.ok((await L.getRegisterFee(bc, registry, toNano('1000000'))) > fee, 'a larger stake needs more bits, so a larger fee');
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () =>
    F.registerProvider(ctx, owner, toNano('10'), toNano('10') + fee - 1n));
  const mc = await bc.treasury('masterchain-owner', { workchain: -1 });
  await F.assertRejected(ctx, registry, Errors.NotBasechain, () => F.registerProvider(ctx, mc, toNano('10'), toNano('11')));
  await F.assertRejected(ctx, registry, 9, () =>
    owner.send({ to: registry, value: toNano('11'), body: beginCell().storeUint(Op.RegisterProvider, 32).storeUint(1, 64).endCell() }));
  assert.equal((await F.state(bc, provider)).dataHash, null, 'no provider was deployed');
  const r2 = await F.registerProvider(ctx, owner, toNano('10'), toNano('10') + fee);
  F.assertTx(r2, { from: registry, to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).stake, toNano('10'));
});

test('a provider that refuses its registration is refunded to the owner through the registry bounce', async () => {
  const compiled = await runTolkCompiler({
    entrypointFileName: 'refuse.tolk',
    fsReadCallback: () => 'fun onInternalMessage(in: InMessage) { throw 77 }',
  });
  assert.equal(compiled.status, 'ok', compiled.message);
  const ctx = await F.setup({ register: false, providerCode: Cell.fromBase64(compiled.codeBoc64) });
  const { bc, owner, registry, provider } = ctx;
  const regBefore = await F.state(bc, registry);
  const ownerBefore = await owner.getBalance();
  const r = await F.registerProvider(ctx, owner, toNano('10'), toNano('11'));
  F.assertTx(r, { from: registry, to: provider, success: false, exitCode: 77 });
  F.assertTx(r, { from: provider, to: registry, bounced: true, success: true });
  const refund = F.assertTx(r, { from: registry, to: owner.address, op: Op.RefundBounced, success: true });
  assert.ok(refund.inMessage.info.value.coins > toNano('10.9'));
  assert.ok(ownerBefore - (await owner.getBalance()) < toNano('0.1'));
  assert.equal((await F.state(bc, registry)).balance, regBefore.balance, 'registry kept nothing');
});

test('registry-only provider messages from anyone else are rejected', async () => {
  const ctx = await F.setup();
  const { bc, stranger, owner, provider } = ctx;
  const params = { minStake: toNano('1'), unbondingPeriod: 60, treasury: stranger.address };
  const bodies = [
    M.providerRegistration({ owner: owner.address, stakeAmount: toNano('100'), params }),
    M.forwardedOracleVote({ oracleWallet: stranger.address, oracleSlot: 0, oracleEpoch: 0, quorum: 1, claim: F.claim(), params }),
    M.forwardedSlash({ excessTo: stranger.address, amount: toNano('10'), evidenceDigest: 1n, params }),
    M.forwardedJail({ excessTo: stranger.address, until: F.NOW + 100, params }),
  ];
  for (const body of bodies) {
    for (const who of [stranger, owner]) {
      await F.assertRejected(ctx, provider, Errors.NotRegistry, () => who.send({ to: provider, value: toNano('0.5'), body }));
    }
  }
  // a stranger deploying someone's provider address by hand cannot register it either
  const victim = await bc.treasury('victim');
  const addr = ctx.providerOf(victim.address);
  const r = await stranger.send({
    to: addr, value: toNano('0.5'), bounce: false,
    init: { code: L.loadCode('provider'), data: L.providerInitialData(victim.address, ctx.registry) },
    body: bodies[0],
  });
  F.assertTx(r, { to: addr, success: false, exitCode: Errors.NotRegistry });
});
