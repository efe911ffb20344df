// Opening channels through the registry: SetChannelCode, OpenChannel value checks, the deploy with
// trusted terms, re-opens that top up and refresh the terms, and the init-sender check.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell, toNano } = require('@ton/core');
const { internal } = require('@ton/sandbox');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const C = require('./lib/channel');
const { Errors } = require('./lib/protocol');
const { setupChannel, clientKeyPair } = require('./lib/channel-fixture');

const { ChannelOp, ChannelErrors, ChannelStatus } = C;

test('SetChannelCode: governance only, only the compiled channel code; enables OpenChannel', async () => {
  const ctx = await F.setup({ oracles: 0, quorum: 1 });
  const { bc, gov, stranger, registry, owner } = ctx;
  const code = L.loadCode('channel');
  const key = clientKeyPair(0).publicKey;
  // disabled: OpenChannel fails, nothing deployed; the fee getter says so
  await assert.rejects(C.getOpenChannelFee(bc, registry), /exit_code: 150/);
  await F.assertRejected(ctx, registry, ChannelErrors.ChannelsDisabled, () =>
    stranger.send({ to: registry, value: toNano('1'), body: C.openChannel({ providerOwner: owner.address, clientKey: key }) }));
  await F.assertRejected(ctx, registry, Errors.NotGovernance, () =>
    stranger.send({ to: registry, value: toNano('0.05'), body: C.setChannelCode({ channelCode: code }) }));
  await F.assertRejected(ctx, registry, ChannelErrors.ChannelCodeMismatch, () =>
    gov.send({ to: registry, value: toNano('0.05'), body: C.setChannelCode({ channelCode: L.loadCode('provider') }) }));
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () =>
    gov.send({ to: registry, value: toNano('0.003'), body: C.setChannelCode({ channelCode: code }) }));
  const r = await gov.send({ to: registry, value: toNano('0.05'), body: C.setChannelCode({ queryId: 4, channelCode: code }) });
  F.assertTx(r, { from: registry, to: gov.address, success: true });
  assert.ok((await L.getCodes(bc, registry)).channelCode.equals(code));
  const channel = await C.getChannelAddress(bc, registry, key, owner.address);
  assert.ok(channel.equals(C.channelAddress(registry, key, ctx.provider)));
  const o = await stranger.send({ to: registry, value: toNano('1'), body: C.openChannel({ providerOwner: owner.address, clientKey: key }) });
  F.assertTx(o, { from: registry, to: channel, op: ChannelOp.ChannelInit, success: true });
});

test('OpenChannel deploys the channel with the registry terms; the rest of the value is the deposit', async () => {
  const ctx = await setupChannel({ open: false });
  const { bc, registry, channel, client, owner, treasury, provider } = ctx;
  const regBefore = await F.state(bc, registry);
  const r = await ctx.open({ value: toNano('5'), queryId: 11 });
  F.assertTx(r, { from: client.address, to: registry, op: ChannelOp.OpenChannel, success: true });
  const initTx = F.assertTx(r, { from: registry, to: channel, op: ChannelOp.ChannelInit, success: true });
  assert.equal(initTx.inMessage.info.bounce, true);
  // the registry keeps nothing
  assert.deepEqual(await F.state(bc, registry), regBefore);
  const str = (o) => Object.fromEntries(Object.entries(o).map(([k, v]) => [k, v?.toRawString ? v.toRawString() : v]));
  assert.deepEqual(str(await C.getChannelData(bc, channel)), str({
    registry, clientKey: C.keyInt(ctx.key.publicKey), provider,
    payoutTo: owner.address, treasury: treasury.address, protocolFeeBps: 250, challengePeriod: ctx.params.challengePeriod,
  }));
  const st = await C.getChannelState(bc, channel);
  assert.equal(st.status, ChannelStatus.Open);
  const balance = (await F.state(bc, channel)).balance;
  // deposit = value minus registry gas, forward fee and channel gas (~0.01 TON)
  assert.ok(balance > toNano('4.98') && balance < toNano('5'), `balance ${balance}`);
  assert.equal(st.available, balance - C.CHANNEL_STORAGE_RESERVE);
  // the deployed data is what channelInitialData describes, with the terms applied
  const acc = (await bc.getContract(channel)).accountState;
  assert.ok(acc.state.code.equals(ctx.channelCode));
});

test('OpenChannel with too little value is rejected by the registry; nothing is deployed', async () => {
  const ctx = await setupChannel({ open: false });
  const { bc, registry, channel } = ctx;
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => ctx.open({ value: toNano('0.02') }));
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => ctx.open({ value: toNano('0.025') }));
  assert.equal((await bc.getContract(channel)).accountState?.type ?? 'uninit', 'uninit');
  // truncated body
  await F.assertRejected(ctx, registry, 9, () => ctx.client.send({ to: registry, value: toNano('1'),
    body: beginCell().storeUint(ChannelOp.OpenChannel, 32).storeUint(0, 64).storeAddress(ctx.owner.address).endCell() }));
  // get_open_channel_fee is exactly the least value: one nanoTON less is refused, that much opens
  // the channel with only the unused gas budgets above the storage reserve
  const fee = await C.getOpenChannelFee(bc, registry);
  assert.ok(fee > toNano('0.02') && fee < toNano('0.04'), `fee ${fee}`);
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => ctx.open({ value: fee - 1n }));
  const r = await ctx.open({ value: fee });
  F.assertTx(r, { to: channel, success: true });
  assert.ok((await C.getChannelState(bc, channel)).available < toNano('0.001'));
});

test('a second OpenChannel only tops up: terms, status and totals stay as the channel first opened', async () => {
  const ctx = await setupChannel({ deposit: toNano('2') });
  const { bc, gov, registry, channel, stranger } = ctx;
  await ctx.claim(ctx.voucher(toNano('1'), 5n, 5n));
  const terms = await C.getChannelData(bc, channel);
  const newTreasury = await bc.treasury('treasury-2');
  const params = { ...ctx.params, protocolFeeBps: 1000, treasury: newTreasury.address, challengePeriod: 3600 };
  F.assertTx(await gov.send({ to: registry, value: toNano('0.05'), body: M.updateParams({ params }) }), { to: registry, success: true });
  const before = (await F.state(bc, channel)).balance;
  // anyone may open (top up) the channel of this client key
  const r = await ctx.open({ from: stranger, value: toNano('3') });
  F.assertTx(r, { to: channel, op: ChannelOp.ChannelInit, success: true });
  const after = (await F.state(bc, channel)).balance;
  assert.ok(after - before > toNano('2.98'));
  const d = await C.getChannelData(bc, channel);
  assert.deepEqual([d.protocolFeeBps, d.challengePeriod], [ctx.params.protocolFeeBps, ctx.params.challengePeriod]);
  assert.ok(d.treasury.equals(terms.treasury) && d.payoutTo.equals(terms.payoutTo));
  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.status, st.acceptedAmount, st.paid], [ChannelStatus.Open, toNano('1'), toNano('1')]);
  // a channel of a new client key opens with the new terms
  const key2 = clientKeyPair(3);
  F.assertTx(await ctx.open({ key: key2.publicKey, value: toNano('1') }), { to: ctx.channelOf(key2.publicKey), success: true });
  const d2 = await C.getChannelData(bc, ctx.channelOf(key2.publicKey));
  assert.deepEqual([d2.protocolFeeBps, d2.challengePeriod], [1000, 3600]);
  assert.ok(d2.treasury.equals(newTreasury.address));
});

test('ChannelInit only from the registry; an undeployed-by-registry channel accepts nothing but top-ups', async () => {
  const ctx = await setupChannel({ open: false });
  const { bc, channel, stranger, owner, treasury } = ctx;
  // someone deploys the channel directly (right code and initial data, so the right address)
  const data = C.channelInitialData(ctx.registry, ctx.key.publicKey, ctx.provider);
  await bc.sendMessage(internal({ from: stranger.address, to: channel, value: toNano('1'), stateInit: { code: ctx.channelCode, data }, body: beginCell().endCell() }));
  assert.equal((await C.getChannelState(bc, channel)).status, ChannelStatus.Uninit);
  const fakeInit = C.channelInit({ opener: stranger.address, payoutTo: stranger.address, treasury: treasury.address, protocolFeeBps: 0, challengePeriod: 60 });
  await F.assertRejected(ctx, channel, Errors.NotRegistry, () => stranger.send({ to: channel, value: toNano('0.1'), body: fakeInit }));
  await F.assertRejected(ctx, channel, Errors.NotRegistry, () => ctx.direct(owner.address, fakeInit));
  await F.assertRejected(ctx, channel, ChannelErrors.ChannelNotOpen, () => ctx.claim(ctx.voucher(toNano('0.5'), 1n, 1n)));
  await F.assertRejected(ctx, channel, ChannelErrors.ChannelNotOpen, () => ctx.startClose());
  await F.assertRejected(ctx, channel, ChannelErrors.ChannelNotOpen, () => stranger.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({}) }));
  // the registry's open then initialises it with the real terms; the early deposit stays in it
  F.assertTx(await ctx.open({ value: toNano('1') }), { to: channel, op: ChannelOp.ChannelInit, success: true });
  const d = await C.getChannelData(bc, channel);
  assert.ok(d.payoutTo.equals(owner.address));
  assert.ok((await F.state(bc, channel)).balance > toNano('1.98'));
});
