// Provider owner operations: profile, stake, unbonding, withdrawal, pause/resume, exit.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano, beginCell } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op, ProviderStatus } = require('./lib/protocol');

const V = toNano('0.05');
const RESERVE = toNano('0.02');
const send = (ctx, body, { who, value = V } = {}) => (who ?? ctx.owner).send({ to: ctx.provider, value, body });

test('SetEndpoint: stored and readable; invalid endpoints and strangers rejected', async () => {
  const ctx = await F.setup();
  const { bc, provider, stranger } = ctx;
  assert.equal((await L.getProfile(bc, provider)).endpoint, null);
  const r = await send(ctx, M.setEndpoint({ queryId: 9, endpoint: 'https://gpu-1.example.org:8443' }));
  F.assertTx(r, { from: provider, to: ctx.owner.address, op: Op.ReturnExcess, success: true });
  assert.equal((await L.getProfile(bc, provider)).endpoint, 'https://gpu-1.example.org:8443');
  F.assertTx(await send(ctx, M.setEndpoint({ endpoint: 'h'.repeat(127) })), { to: provider, success: true });

  for (const endpoint of ['', beginCell().storeBuffer(Buffer.alloc(127, 0x68)).storeUint(1, 7).endCell(), beginCell().storeUint(5, 7).endCell(),
    beginCell().storeUint(0x68, 8).storeRef(beginCell().endCell()).endCell()]) {
    await F.assertRejected(ctx, provider, Errors.InvalidEndpoint, () => send(ctx, M.setEndpoint({ endpoint })));
  }
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.setEndpoint({ endpoint: 'https://evil' }), { who: stranger }));
  await F.assertRejected(ctx, provider, Errors.NotEnoughValue, () => send(ctx, M.setEndpoint({ endpoint: 'https://x' }), { value: toNano('0.003') }));
});

test('model prices: add, replace, remove, at most 32', async () => {
  const ctx = await F.setup();
  const { bc, provider, stranger } = ctx;
  const price = (modelId, p, c) => M.setModelPrice({ modelId, promptPricePerMillion: p, completionPricePerMillion: c });
  F.assertTx(await send(ctx, price(1, toNano('0.1'), toNano('0.3'))), { to: provider, success: true });
  assert.deepEqual(await L.getModelPrice(bc, provider, 1), { found: true, promptPricePerMillion: toNano('0.1'), completionPricePerMillion: toNano('0.3') });
  F.assertTx(await send(ctx, price(1, toNano('0.2'), toNano('0.4'))), { to: provider, success: true });
  assert.equal((await L.getModelPrice(bc, provider, 1)).completionPricePerMillion, toNano('0.4'));
  assert.equal((await L.getProfile(bc, provider)).modelCount, 1);

  for (let id = 2; id <= 32; id++) F.assertTx(await send(ctx, price(id, 1n, 2n)), { to: provider, success: true });
  const profile = await L.getProfile(bc, provider);
  assert.equal(profile.modelCount, 32);
  assert.equal(profile.models.size, 32);
  assert.equal(profile.models.get(1).promptPricePerMillion, toNano('0.2'));
  await F.assertRejected(ctx, provider, Errors.TooManyModels, () => send(ctx, price(33, 1n, 2n)));
  F.assertTx(await send(ctx, price(32, 5n, 6n)), { to: provider, success: true }); // replacing is fine at the limit
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, price(1, 0n, 0n), { who: stranger }));

  F.assertTx(await send(ctx, M.removeModelPrice({ modelId: 1 })), { to: provider, success: true });
  assert.deepEqual(await L.getModelPrice(bc, provider, 1), { found: false, promptPricePerMillion: 0n, completionPricePerMillion: 0n });
  assert.equal((await L.getProfile(bc, provider)).modelCount, 31);
  await F.assertRejected(ctx, provider, Errors.ModelPriceNotFound, () => send(ctx, M.removeModelPrice({ modelId: 1 })));
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.removeModelPrice({ modelId: 2 }), { who: stranger }));
});

test('AddStake adds exactly the amount and returns the rest', async () => {
  const ctx = await F.setup();
  const { bc, provider, stranger } = ctx;
  const r = await send(ctx, M.addStake({ amount: toNano('5') }), { value: toNano('6') });
  F.assertTx(r, { from: provider, to: ctx.owner.address, op: Op.ReturnExcess, success: true });
  assert.equal((await L.getProviderData(bc, provider)).stake, toNano('15'));
  assert.equal((await F.state(bc, provider)).balance, toNano('15') + RESERVE);
  await F.assertRejected(ctx, provider, Errors.ZeroAmount, () => send(ctx, M.addStake({ amount: 0n })));
  await F.assertRejected(ctx, provider, Errors.NotEnoughValue, () => send(ctx, M.addStake({ amount: toNano('5') }), { value: toNano('5') }));
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.addStake({ amount: toNano('1') }), { who: stranger, value: toNano('2') }));
});

test('unstake → unbonding → withdraw only after the unlock time', async () => {
  const ctx = await F.setup();
  const { bc, provider, owner, stranger } = ctx;
  await send(ctx, M.addStake({ amount: toNano('5') }), { value: toNano('5.1') });
  await F.assertRejected(ctx, provider, Errors.StakeWouldDropBelowMinimum, () => send(ctx, M.requestUnstake({ amount: toNano('5.000000001') })));
  await F.assertRejected(ctx, provider, Errors.AmountExceedsStake, () => send(ctx, M.requestUnstake({ amount: toNano('16') })));
  await F.assertRejected(ctx, provider, Errors.ZeroAmount, () => send(ctx, M.requestUnstake({ amount: 0n })));
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.requestUnstake({ amount: toNano('1') }), { who: stranger }));
  await F.assertRejected(ctx, provider, Errors.NothingToWithdraw, () => send(ctx, M.withdrawUnbonded({})));

  F.assertTx(await send(ctx, M.requestUnstake({ amount: toNano('3') })), { to: provider, success: true });
  let d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.unbondingAmount, d.unlockAt], [toNano('12'), toNano('3'), F.NOW + ctx.params.unbondingPeriod]);

  // a second request adds to the unbonding amount and restarts the clock
  bc.now = F.NOW + 100;
  F.assertTx(await send(ctx, M.requestUnstake({ amount: toNano('2') })), { to: provider, success: true });
  d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.unbondingAmount, d.unlockAt], [toNano('10'), toNano('5'), F.NOW + 100 + ctx.params.unbondingPeriod]);

  bc.now = d.unlockAt - 1;
  await F.assertRejected(ctx, provider, Errors.UnbondingLocked, () => send(ctx, M.withdrawUnbonded({})));
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.withdrawUnbonded({}), { who: stranger }));

  bc.now = d.unlockAt;
  const ownerBefore = await owner.getBalance();
  const r = await send(ctx, M.withdrawUnbonded({ queryId: 4 }));
  const paid = F.assertTx(r, { from: provider, to: owner.address, op: Op.StakeWithdrawn, success: true });
  const body = paid.inMessage.body.beginParse();
  body.skip(32 + 64);
  assert.equal(body.loadCoins(), toNano('5'));
  assert.ok((await owner.getBalance()) - ownerBefore > toNano('4.99'));
  d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.stake, d.unbondingAmount, d.unlockAt], [toNano('10'), 0n, 0]);
  assert.equal((await F.state(bc, provider)).balance, toNano('10') + RESERVE);
});

test('pause, resume and exit; exiting stake unbonds, re-staking reactivates', async () => {
  const ctx = await F.setup();
  const { bc, provider } = ctx;
  await F.assertRejected(ctx, provider, Errors.InvalidStatus, () => send(ctx, M.resumeProvider({})));
  F.assertTx(await send(ctx, M.pauseProvider({})), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Paused);
  await F.assertRejected(ctx, provider, Errors.InvalidStatus, () => send(ctx, M.pauseProvider({})));
  // paused providers keep the minimum stake too
  await F.assertRejected(ctx, provider, Errors.StakeWouldDropBelowMinimum, () => send(ctx, M.requestUnstake({ amount: 1n })));
  F.assertTx(await send(ctx, M.resumeProvider({})), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Active);
  await F.assertRejected(ctx, provider, Errors.NotOwner, () => send(ctx, M.exitProvider({}), { who: ctx.stranger }));

  F.assertTx(await send(ctx, M.exitProvider({})), { to: provider, success: true });
  let d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.status, d.stake, d.unbondingAmount, d.unlockAt],
    [ProviderStatus.Exiting, 0n, toNano('10'), F.NOW + ctx.params.unbondingPeriod]);
  await F.assertRejected(ctx, provider, Errors.InvalidStatus, () => send(ctx, M.exitProvider({})));
  await F.assertRejected(ctx, provider, Errors.InvalidStatus, () => send(ctx, M.pauseProvider({})));
  await F.assertRejected(ctx, provider, Errors.UnbondingLocked, () => send(ctx, M.withdrawUnbonded({})));

  // adding less than the minimum keeps it exiting; reaching it reactivates
  F.assertTx(await send(ctx, M.addStake({ amount: toNano('4') }), { value: toNano('4.1') }), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Exiting);
  F.assertTx(await send(ctx, M.addStake({ amount: toNano('6') }), { value: toNano('6.1') }), { to: provider, success: true });
  d = await L.getProviderData(bc, provider);
  assert.deepEqual([d.status, d.stake, d.unbondingAmount], [ProviderStatus.Active, toNano('10'), toNano('10')]);
  assert.equal((await F.state(bc, provider)).balance, toNano('20') + RESERVE);
});

test('owner ops on a provider the registry never initialised are rejected', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, owner, provider } = ctx;
  // someone deploys the address by hand with an empty top-up
  await owner.send({ to: provider, value: toNano('1'), bounce: false,
    init: { code: L.loadCode('provider'), data: L.providerInitialData(owner.address, ctx.registry) } });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Unregistered);
  for (const body of [M.setEndpoint({ endpoint: 'https://x' }), M.addStake({ amount: 1n }), M.exitProvider({}), M.withdrawUnbonded({})]) {
    await F.assertRejected(ctx, provider, Errors.NotRegistered, () => send(ctx, body, { value: toNano('0.5') }));
  }
  // registering later keeps that balance as owner surplus and sweeps it back
  const r = await F.registerProvider(ctx, owner, toNano('10'));
  const excess = F.assertTx(r, { from: provider, to: owner.address, op: Op.ReturnExcess, success: true });
  assert.ok(excess.inMessage.info.value.coins > toNano('1'));
  assert.equal((await F.state(bc, provider)).balance, toNano('10') + RESERVE);
});

test('surplus sent to the provider goes back to the owner with the next owner op; dispatch checks', async () => {
  const ctx = await F.setup();
  const { bc, provider, stranger, owner } = ctx;
  F.assertTx(await stranger.send({ to: provider, value: toNano('3') }), { to: provider, success: true });
  await F.assertRejected(ctx, provider, Errors.WrongOpcode, () =>
    stranger.send({ to: provider, value: V, body: beginCell().storeUint(0xdeadbeef, 32).storeUint(0, 64).endCell() }));
  await F.assertRejected(ctx, provider, 9, () =>
    owner.send({ to: provider, value: V, body: beginCell().storeUint(Op.AddStake, 32).storeUint(0, 64).endCell() }));
  const r = await send(ctx, M.pauseProvider({}));
  const excess = F.assertTx(r, { from: provider, to: owner.address, op: Op.ReturnExcess, success: true });
  assert.ok(excess.inMessage.info.value.coins > toNano('3'));
  assert.equal((await F.state(bc, provider)).balance, toNano('10') + RESERVE);
});
