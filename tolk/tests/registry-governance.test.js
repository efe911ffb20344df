// Registry governance: handover, parameters, measurements, models, oracles, surplus, dispatch.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Address, toNano, beginCell } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op, NetworkKind, MeasurementKind } = require('./lib/protocol');

const V = toNano('0.05');

test('governance handover: propose then accept; wrong senders rejected', async () => {
  const ctx = await F.setup({ register: false });
  const { gov, stranger, registry } = ctx;
  const next = await ctx.bc.treasury('next-governance');

  await F.assertRejected(ctx, registry, Errors.NoPendingGovernance, () =>
    next.send({ to: registry, value: V, body: M.acceptGovernance({}) }));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.proposeGovernance({ newGovernance: stranger.address }) }));
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () =>
    gov.send({ to: registry, value: toNano('0.003'), body: M.proposeGovernance({ newGovernance: next.address }) }));

  let r = await gov.send({ to: registry, value: V, body: M.proposeGovernance({ queryId: 5, newGovernance: next.address }) });
  F.assertTx(r, { from: registry, to: gov.address, op: Op.ReturnExcess, success: true });
  let d = await L.getRegistryData(ctx.bc, registry);
  assert.ok(d.pendingGovernance.equals(next.address));
  assert.ok(d.governance.equals(gov.address), 'governance must not change before acceptance');

  await F.assertRejected(ctx, registry, Errors.NotPendingGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.acceptGovernance({}) }));
  r = await next.send({ to: registry, value: V, body: M.acceptGovernance({}) });
  F.assertTx(r, { from: next.address, to: registry, success: true });
  d = await L.getRegistryData(ctx.bc, registry);
  assert.ok(d.governance.equals(next.address));
  assert.equal(d.pendingGovernance, null);

  // the old governance lost its rights
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () =>
    gov.send({ to: registry, value: V, body: M.addOracle({ wallet: gov.address, publicKey: 1n }) }));
});

test('UpdateParams: valid params applied, every bound enforced, state unchanged on rejection', async () => {
  const ctx = await F.setup({ register: false });
  const { gov, stranger, registry, treasury } = ctx;
  const good = L.defaultRegistryParams(treasury.address, { minProviderStake: toNano('20'), oracleQuorum: 3, protocolFeeBps: 10000 });
  const r = await gov.send({ to: registry, value: V, body: M.updateParams({ params: good }) });
  F.assertTx(r, { to: registry, success: true });
  assert.deepEqual(
    { ...(await L.getRegistryParams(ctx.bc, registry)), treasury: null },
    { ...good, treasury: null, minProviderStake: toNano('20') },
  );

  const bad = [
    { minProviderStake: toNano('0.5') },
    { unbondingPeriod: 59 },
    { unbondingPeriod: 365 * 24 * 3600 + 1 },
    { protocolFeeBps: 10001 },
    { challengePeriod: 0 },
    { oracleQuorum: 0 },
    { maxAttestationLifetime: 366 * 24 * 3600 },
    { treasury: new Address(-1, Buffer.alloc(32, 1)) }, // claim and fee checks price basechain forwarding only
  ];
  for (const b of bad) {
    await F.assertRejected(ctx, registry, Errors.InvalidParams, () =>
      gov.send({ to: registry, value: V, body: M.updateParams({ params: { ...good, ...b } }) }));
  }
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.updateParams({ params: good }) }));
  // malformed: the params ref is missing
  await F.assertRejected(ctx, registry, 9, () =>
    gov.send({ to: registry, value: V, body: beginCell().storeUint(Op.UpdateParams, 32).storeUint(0, 64).endCell() }));
});

test('measurements: add/revoke, kinds, sim only on devnet', async () => {
  const dev = await F.setup({ register: false });
  assert.equal(await L.getMeasurementKind(dev.bc, dev.registry, F.SIM), MeasurementKind.Sim);
  assert.equal(await L.getMeasurementKind(dev.bc, dev.registry, F.TDX), MeasurementKind.Tdx);
  assert.equal((await L.getMeasurements(dev.bc, dev.registry)).size, 3);

  const { gov, stranger, registry } = dev;
  await F.assertRejected(dev, registry, Errors.MeasurementExists, () =>
    gov.send({ to: registry, value: V, body: M.addMeasurement({ measurementHash: F.TDX, kind: MeasurementKind.Snp }) }));
  for (const kind of [0, 4, 255]) {
    await F.assertRejected(dev, registry, Errors.InvalidMeasurementKind, () =>
      gov.send({ to: registry, value: V, body: M.addMeasurement({ measurementHash: 77n, kind }) }));
  }
  await F.assertRejected(dev, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.addMeasurement({ measurementHash: 77n, kind: 1 }) }));
  await F.assertRejected(dev, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.revokeMeasurement({ measurementHash: F.TDX }) }));
  await F.assertRejected(dev, registry, Errors.MeasurementNotFound, () =>
    gov.send({ to: registry, value: V, body: M.revokeMeasurement({ measurementHash: 77n }) }));
  const r = await gov.send({ to: registry, value: V, body: M.revokeMeasurement({ measurementHash: F.SIM }) });
  F.assertTx(r, { to: registry, success: true });
  assert.equal(await L.getMeasurementKind(dev.bc, registry, F.SIM), 0);

  for (const networkKind of [NetworkKind.Testnet, NetworkKind.Mainnet]) {
    const net = await F.setup({ register: false, networkKind });
    assert.equal(await L.getMeasurementKind(net.bc, net.registry, F.TDX), MeasurementKind.Tdx);
    await F.assertRejected(net, net.registry, Errors.SimNotAllowed, () =>
      net.gov.send({ to: net.registry, value: V, body: M.addMeasurement({ measurementHash: F.SIM, kind: MeasurementKind.Sim }) }));
    assert.equal(await L.getMeasurementKind(net.bc, net.registry, F.SIM), 0);
  }
});

test('models: add, update, remove, name validation, wrong sender', async () => {
  const ctx = await F.setup({ register: false });
  const { gov, stranger, registry, bc } = ctx;
  const send = (body, who = gov) => who.send({ to: registry, value: V, body });
  F.assertTx(await send(M.addModel({ modelId: 1, weightsHash: 0xabcn, name: 'cocoon-tiny-kjv' })), { to: registry, success: true });
  assert.deepEqual(await L.getModel(bc, registry, 1), { found: true, weightsHash: 0xabcn, name: 'cocoon-tiny-kjv' });
  assert.equal((await L.getRegistryData(bc, registry)).modelCount, 1);

  await F.assertRejected(ctx, registry, Errors.ModelExists, () => send(M.addModel({ modelId: 1, weightsHash: 1n, name: 'x' })));
  await F.assertRejected(ctx, registry, Errors.InvalidModelName, () => send(M.addModel({ modelId: 2, weightsHash: 1n, name: '' })));
  await F.assertRejected(ctx, registry, Errors.InvalidModelName, () => send(M.addModel({ modelId: 2, weightsHash: 1n, name: 'n'.repeat(65) })));
  await F.assertRejected(ctx, registry, Errors.InvalidModelName, () =>
    send(M.addModel({ modelId: 2, weightsHash: 1n, name: beginCell().storeUint(1, 3).endCell() })));
  await F.assertRejected(ctx, registry, Errors.InvalidModelName, () =>
    send(M.addModel({ modelId: 2, weightsHash: 1n, name: beginCell().storeUint(65, 8).storeRef(beginCell().endCell()).endCell() })));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => send(M.addModel({ modelId: 2, weightsHash: 1n, name: 'x' }), stranger));
  F.assertTx(await send(M.addModel({ modelId: 2, weightsHash: 2n, name: 'n'.repeat(64) })), { to: registry, success: true });

  F.assertTx(await send(M.updateModel({ modelId: 1, weightsHash: 0xdefn, name: 'cocoon-tiny-kjv-v2' })), { to: registry, success: true });
  assert.deepEqual(await L.getModel(bc, registry, 1), { found: true, weightsHash: 0xdefn, name: 'cocoon-tiny-kjv-v2' });
  await F.assertRejected(ctx, registry, Errors.ModelNotFound, () => send(M.updateModel({ modelId: 9, weightsHash: 1n, name: 'x' })));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => send(M.updateModel({ modelId: 1, weightsHash: 1n, name: 'x' }), stranger));

  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => send(M.removeModel({ modelId: 1 }), stranger));
  await F.assertRejected(ctx, registry, Errors.ModelNotFound, () => send(M.removeModel({ modelId: 9 })));
  F.assertTx(await send(M.removeModel({ modelId: 1 })), { to: registry, success: true });
  assert.deepEqual(await L.getModel(bc, registry, 1), { found: false, weightsHash: 0n, name: null });
  assert.equal((await L.getRegistryData(bc, registry)).modelCount, 1);
});

test('oracles: add, remove, duplicates, limit of 64', async () => {
  const ctx = await F.setup({ register: false, oracles: 0 });
  const { gov, stranger, registry, bc } = ctx;
  const send = (body, who = gov) => who.send({ to: registry, value: V, body });
  const w = await bc.treasury('w0');
  F.assertTx(await send(M.addOracle({ wallet: w.address, publicKey: 42n })), { to: registry, success: true });
  assert.deepEqual(await L.getOracle(bc, registry, w.address), { found: true, publicKey: 42n, slot: 0 });
  await F.assertRejected(ctx, registry, Errors.OracleExists, () => send(M.addOracle({ wallet: w.address, publicKey: 43n })));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => send(M.addOracle({ wallet: stranger.address, publicKey: 1n }), stranger));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () => send(M.removeOracle({ wallet: w.address }), stranger));
  await F.assertRejected(ctx, registry, Errors.OracleNotFound, () => send(M.removeOracle({ wallet: stranger.address })));
  F.assertTx(await send(M.removeOracle({ wallet: w.address })), { to: registry, success: true });
  assert.deepEqual(await L.getOracle(bc, registry, w.address), { found: false, publicKey: 0n, slot: 0 });
  assert.deepEqual(await L.getRegistryData(bc, registry).then((d) => [d.oracleCount, d.oracleEpoch]), [0, 1]);

  for (let i = 0; i < 64; i++) {
    F.assertTx(await send(M.addOracle({ wallet: (await bc.treasury(`o${i}`)).address, publicKey: BigInt(i + 1) })), { to: registry, success: true });
  }
  assert.equal((await L.getRegistryData(bc, registry)).oracleCount, 64);
  const all = await L.getOracles(bc, registry);
  assert.equal(all.size, 64);
  // every slot 0..63 taken exactly once
  assert.deepEqual(all.values().map((o) => o.slot).sort((a, b) => a - b), [...Array(64).keys()]);
  await F.assertRejected(ctx, registry, Errors.TooManyOracles, () => send(M.addOracle({ wallet: w.address, publicKey: 99n })));
  // a freed slot in the middle is the next one given
  const o17 = (await bc.treasury('o17')).address;
  assert.equal((await L.getOracle(bc, registry, o17)).slot, 17);
  F.assertTx(await send(M.removeOracle({ wallet: o17 })), { to: registry, success: true });
  F.assertTx(await send(M.addOracle({ wallet: w.address, publicKey: 99n })), { to: registry, success: true });
  assert.equal((await L.getOracle(bc, registry, w.address)).slot, 17);
});

test('dispatch: empty body is a top-up, unknown opcode and truncated bodies rejected', async () => {
  const ctx = await F.setup({ register: false });
  const { stranger, registry, bc } = ctx;
  const before = await F.state(bc, registry);
  const r = await stranger.send({ to: registry, value: toNano('1') });
  F.assertTx(r, { to: registry, success: true });
  assert.ok((await F.state(bc, registry)).balance > before.balance);

  await F.assertRejected(ctx, registry, Errors.WrongOpcode, () =>
    stranger.send({ to: registry, value: V, body: beginCell().storeUint(0x12345678, 32).storeUint(0, 64).endCell() }));
  // truncated RegisterProvider (no stake amount): cell underflow
  await F.assertRejected(ctx, registry, 9, () =>
    stranger.send({ to: registry, value: V, body: beginCell().storeUint(Op.RegisterProvider, 32).storeUint(0, 64).endCell() }));
});

test('WithdrawRegistrySurplus sends everything above the reserve to the treasury', async () => {
  const ctx = await F.setup({ register: false });
  const { gov, stranger, registry, bc, treasury } = ctx;
  await stranger.send({ to: registry, value: toNano('5') });
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: V, body: M.withdrawRegistrySurplus({}) }));
  const r = await gov.send({ to: registry, value: V, body: M.withdrawRegistrySurplus({ queryId: 3 }) });
  const tx = F.assertTx(r, { from: registry, to: treasury.address, op: Op.ReturnExcess, success: true });
  assert.ok(tx.inMessage.info.value.coins > toNano('5.5'));
  assert.equal((await F.state(bc, registry)).balance, toNano('0.02'));
});
