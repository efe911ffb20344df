// Channel claims: exact payments (provider owner, treasury, relayer), usage reaching the Provider
// contract, every voucher rejection with its exit code and unchanged state, partial payment above the
// deposit and the remainder after a top-up, the fee rule to the nanoTON, and the bounce when the
// Provider contract does not exist.
'use strict';
const test = require('node:test');
const fs = require('fs');
const path = require('path');
const assert = require('node:assert/strict');
const { beginCell, storeMessage, toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const C = require('./lib/channel');
const { Errors, Op } = require('./lib/protocol');
const { setupChannel, clientKeyPair, sentBy, sentOne } = require('./lib/channel-fixture');

const { ChannelOp, ChannelErrors } = C;
const RESERVE = C.CHANNEL_STORAGE_RESERVE;

test('a claim relayed by a third party pays the provider owner and the treasury exactly, reports usage, refunds the relayer', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, channel, provider, owner, treasury, relayer } = ctx;
  const before = await F.state(bc, channel);
  const relayerBefore = await relayer.getBalance();
  const r = await ctx.claim(ctx.voucher(toNano('1.5'), 1200n, 3400n), { value: toNano('0.2') });
  F.assertTx(r, { from: relayer.address, to: channel, op: ChannelOp.Claim, success: true });
  F.assertTx(r, { from: channel, to: provider, op: ChannelOp.ChannelUsage, success: true });
  const { fee, net } = C.feeSplit({ paid: 0n, pay: toNano('1.5'), bps: ctx.params.protocolFeeBps });
  assert.equal(fee, toNano('1.5') * 250n / 10000n);
  assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
  assert.equal(sentOne(r, provider, treasury.address, ChannelOp.ProtocolFee).value, fee);
  const excess = sentOne(r, provider, relayer.address, Op.ReturnExcess).value;
  // the relayer paid only gas and forward fees (~0.02 TON at most), never any of the claimed money
  const relayerCost = relayerBefore - (await relayer.getBalance());
  assert.ok(excess > toNano('0.17') && relayerCost < toNano('0.03'), `excess ${excess}, relayer cost ${relayerCost}`);
  // the channel lost exactly the claimed amount (plus its storage fee, 0 at a fixed clock)
  const after = await F.state(bc, channel);
  assert.equal(before.balance - after.balance, toNano('1.5'));
  assert.deepEqual(await L.getUsage(bc, provider), { promptTokens: 1200n, completionTokens: 3400n, earned: net });
  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion, st.paid, st.owed], [toNano('1.5'), 1200n, 3400n, toNano('1.5'), 0n]);
  // the provider contract keeps nothing of the claim
  assert.equal((await L.getProviderData(bc, provider)).stake, ctx.params.minProviderStake);
});

test('owner-relayed claim: one message carries the payout and the excess', async () => {
  const ctx = await setupChannel();
  const { bc, channel, provider, owner, treasury } = ctx;
  await ctx.claim(ctx.voucher(toNano('1'), 10n, 10n));
  const providerBefore = (await F.state(bc, provider)).balance;
  const r = await ctx.claim(ctx.voucher(toNano('3'), 20n, 30n), { from: owner, value: toNano('0.1') });
  const { fee, net } = C.feeSplit({ paid: toNano('1'), pay: toNano('2'), bps: 250 });
  const payout = sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value;
  assert.ok(payout > net + toNano('0.07') && payout < net + toNano('0.1'), `payout ${payout}`);
  assert.equal(sentOne(r, provider, treasury.address, ChannelOp.ProtocolFee).value, fee);
  assert.equal(sentBy(r, provider).length, 2);
  assert.equal((await F.state(bc, provider)).balance, providerBefore, 'provider balance unchanged');
  const usage = await L.getUsage(bc, provider);
  assert.deepEqual([usage.promptTokens, usage.completionTokens], [20n, 30n]);
  assert.equal(usage.earned, C.feeSplit({ paid: 0n, pay: toNano('3'), bps: 250 }).net);
});

test('rejected vouchers: exact exit codes, channel state and balance unchanged', async () => {
  const ctx = await setupChannel();
  const { bc, channel, relayer } = ctx;
  const rejected = (code, send) => F.assertRejected(ctx, channel, code, send);
  const send = (body, value = toNano('0.1')) => relayer.send({ to: channel, value, body });
  await ctx.claim(ctx.voucher(toNano('2'), 100n, 200n));

  // forged: signed by another key
  await rejected(ChannelErrors.InvalidSignature, () => ctx.claim(ctx.voucher(toNano('3'), 100n, 200n), { secretKey: clientKeyPair(9).secretKey }));
  // a valid signature over one voucher attached to another
  const good = ctx.signed(ctx.voucher(toNano('3'), 100n, 200n));
  const other = C.voucherCell(ctx.voucher(toNano('4'), 100n, 200n));
  await rejected(ChannelErrors.InvalidSignature, () => send(C.claim({ voucher: other, signature: good.signature })));
  // signed by the right key for another channel (same client, another provider)
  const elsewhere = ctx.channelOf(ctx.key.publicKey, ctx.stranger.address);
  await rejected(ChannelErrors.WrongChannel, () => ctx.claim(ctx.voucher(toNano('3'), 100n, 200n, elsewhere)));
  // replay of the accepted voucher, an older one, a lower amount whatever its tokens, the same amount
  // with no token total higher
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('2'), 100n, 200n)));
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('1'), 50n, 100n)));
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('1.9'), 300n, 300n)));
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('2') - 1n, (1n << 64n) - 1n, (1n << 64n) - 1n)));
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('2'), 99n, 200n)));
  await rejected(ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('2'), 0n, 0n)));
  // wrong magic, trailing bits, a ref
  const forge = (cell) => { const sig = C.signCell(cell, ctx.key.secretKey).signature; return send(C.claim({ voucher: cell, signature: sig })); };
  const fields = (b) => b.storeAddress(channel).storeCoins(toNano('3')).storeUint(300n, 64).storeUint(300n, 64);
  await rejected(ChannelErrors.BadVoucher, () => forge(fields(beginCell().storeUint(0x766f7564, 32)).endCell()));
  await rejected(9, () => forge(fields(beginCell().storeUint(C.VOUCHER_MAGIC, 32)).storeBit(1).endCell()));
  await rejected(9, () => forge(fields(beginCell().storeUint(C.VOUCHER_MAGIC, 32)).storeRef(beginCell().endCell()).endCell()));
  // too little value for the claim's gas and messages
  await rejected(Errors.NotEnoughValue, () => ctx.claim(ctx.voucher(toNano('3'), 300n, 300n), { value: toNano('0.01') }));
  // nothing to claim, unknown opcode, truncated body
  await rejected(ChannelErrors.NothingToClaim, () => send(C.claimRemainder({})));
  await rejected(Errors.WrongOpcode, () => send(beginCell().storeUint(0x43480099, 32).storeUint(0, 64).endCell()));
  await rejected(9, () => send(beginCell().storeUint(ChannelOp.Claim, 32).storeUint(0, 64).endCell()));

  // after all that, a higher amount works (even with a token total below the accepted one: the
  // stored totals keep the larger, the usage delta is 0) and pays only the difference
  const r = await ctx.claim(ctx.voucher(toNano('3'), 300n, 150n));
  const { net } = C.feeSplit({ paid: toNano('2'), pay: toNano('1'), bps: 250 });
  assert.equal(sentOne(r, ctx.provider, ctx.owner.address, ChannelOp.ChannelPayout).value, net);
  let st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion], [toNano('3'), 300n, 200n]);
  // the same amount with a token total higher is a report-only update: pays nothing, records usage
  const r2 = await ctx.claim(ctx.voucher(toNano('3'), 301n, 0n));
  F.assertTx(r2, { to: channel, op: ChannelOp.Claim, success: true });
  assert.equal(sentBy(r2, ctx.provider).filter((m) => m.op === ChannelOp.ChannelPayout).length, 0);
  const usage = await L.getUsage(bc, ctx.provider);
  assert.deepEqual([usage.promptTokens, usage.completionTokens], [301n, 200n]);
  st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion], [toNano('3'), 301n, 200n]);
});

test('a voucher above the deposit pays what the balance allows; the remainder is paid after a top-up', async () => {
  const ctx = await setupChannel({ deposit: toNano('1') });
  const { bc, channel, provider, owner, relayer, stranger } = ctx;
  const st0 = await C.getChannelState(bc, channel);
  const available = st0.available;
  assert.ok(available > toNano('1') && available < toNano('1.1'));
  let r = await ctx.claim(ctx.voucher(toNano('5'), 500n, 500n));
  let { net } = C.feeSplit({ paid: 0n, pay: available, bps: 250 });
  assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
  let st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.paid, st.owed, st.available], [toNano('5'), available, toNano('5') - available, 0n]);
  assert.equal((await F.state(bc, channel)).balance, RESERVE, 'only the storage reserve is left');
  // nothing available: the remainder cannot be claimed yet
  await F.assertRejected(ctx, channel, ChannelErrors.NothingToClaim, () => relayer.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({}) }));

  // anyone tops up with a plain transfer; ClaimRemainder (no signature) pays min(available, owed)
  await stranger.send({ to: channel, value: toNano('2') });
  const topped = (await C.getChannelState(bc, channel)).available; // 2 TON minus the top-up's own gas
  assert.ok(topped > toNano('1.99') && topped < toNano('2'));
  r = await relayer.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({ queryId: 9 }) });
  ({ net } = C.feeSplit({ paid: available, pay: topped, bps: 250 }));
  assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
  st = await C.getChannelState(bc, channel);
  assert.equal(st.paid, available + topped);
  assert.equal(st.available, 0n);
  // more than owed arrives: the next claim pays exactly the rest of the voucher
  await stranger.send({ to: channel, value: toNano('10') });
  const rest = toNano('5') - st.paid;
  r = await relayer.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({}) });
  ({ net } = C.feeSplit({ paid: st.paid, pay: rest, bps: 250 }));
  assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
  st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.paid, st.owed], [toNano('5'), 0n]);
  // token usage counted once, earned = total net
  const usage = await L.getUsage(bc, provider);
  assert.deepEqual(usage, { promptTokens: 500n, completionTokens: 500n, earned: C.feeSplit({ paid: 0n, pay: toNano('5'), bps: 250 }).net });
});

test('fee rounding is exact to the nanoTON; fees of split payments add up to floor(total × bps / 10000)', async () => {
  const bps = 333;
  const ctx = await setupChannel({ params: { protocolFeeBps: bps }, deposit: toNano('2') });
  const { provider, owner, treasury } = ctx;
  // odd amounts: 1 nanoTON, 29, 30 (the first whose fee floors to a non-zero value), then a large odd one
  const steps = [1n, 30n, 59n, 89n, 1_000_000_007n, 1_000_000_008n, 1_234_567_891n];
  let paid = 0n;
  let fees = 0n;
  let nets = 0n;
  for (const [i, cumulative] of steps.entries()) {
    const r = await ctx.claim(ctx.voucher(cumulative, BigInt(i + 1), 0n));
    const { fee, net } = C.feeSplit({ paid, pay: cumulative - paid, bps });
    assert.equal(fee, (cumulative * BigInt(bps)) / 10000n - (paid * BigInt(bps)) / 10000n);
    const feeMsgs = sentBy(r, provider).filter((m) => m.to.equals(treasury.address));
    const payMsgs = sentBy(r, provider).filter((m) => m.to.equals(owner.address));
    assert.deepEqual(feeMsgs.map((m) => m.value), fee > 0n ? [fee] : [], `fee at step ${i}`);
    assert.deepEqual(payMsgs.map((m) => m.value), net > 0n ? [net] : [], `payout at step ${i}`);
    paid = cumulative;
    fees += fee;
    nets += net;
  }
  assert.equal(fees, (paid * BigInt(bps)) / 10000n);
  assert.equal(fees + nets, paid);
  assert.equal((await L.getUsage(ctx.bc, provider)).earned, nets);
});

test('the Provider contract is missing: the usage report bounces, the channel pays owner and treasury itself', async () => {
  const ctx = await setupChannel({ register: false, deposit: toNano('3') });
  const { bc, channel, provider, owner, treasury, relayer } = ctx;
  assert.equal((await bc.getContract(provider)).accountState?.type ?? 'uninit', 'uninit');
  const before = (await F.state(bc, channel)).balance;
  const r = await ctx.claim(ctx.voucher(toNano('1'), 7n, 8n), { value: toNano('0.1') });
  F.assertTx(r, { from: provider, to: channel, bounced: true, success: true });
  const { fee, net } = C.feeSplit({ paid: 0n, pay: toNano('1'), bps: 250 });
  assert.equal(sentOne(r, channel, owner.address, ChannelOp.ChannelPayout).value, net);
  assert.equal(sentOne(r, channel, treasury.address, ChannelOp.ProtocolFee).value, fee);
  const excess = sentOne(r, channel, relayer.address, Op.ReturnExcess).value;
  assert.ok(excess > toNano('0.08'), `excess ${excess}`);
  // the claim stands, and the channel lost exactly the claimed amount
  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.paid, st.acceptedPrompt], [toNano('1'), toNano('1'), 7n]);
  assert.equal(before - (await F.state(bc, channel)).balance, toNano('1'));
  // nothing was created at the provider address and no value stayed there
  assert.equal((await bc.getContract(provider)).balance, 0n);
});

// claimCost's bound on a claim's messages (Channel.tolk), read from the source.
const CHANNEL_SRC = fs.readFileSync(path.join(__dirname, '..', 'src', 'Channel.tolk'), 'utf-8');
const claimBound = (name) => Number(new RegExp(`^const ${name} = (\\d+)$`, 'm').exec(CHANNEL_SRC)[1]);
const MAX_BITS = claimBound('CLAIM_MESSAGE_MAX_BITS');
const MAX_CELLS = claimBound('CLAIM_MESSAGE_MAX_CELLS');

// The largest claim: a closing channel (its storage root has the closing ref) and field extremes, so
// the report and its rich bounce are as big as they get (claimCost's bound in Channel.tolk).
async function largestClaim(ctx, value) {
  F.assertTx(await ctx.startClose(), { to: ctx.channel, success: true });
  const maxU64 = (1n << 64n) - 1n;
  return ctx.claim(ctx.voucher((1n << 120n) - 1n, maxU64, maxU64), { value });
}

test('get_channel_state.claimCost is exactly the least value a claim needs, and it pays everyone in the largest case', async () => {
  const ctx = await setupChannel({ deposit: toNano('3') });
  const { bc, channel, provider, owner, treasury, relayer } = ctx;
  const { claimCost } = await C.getChannelState(bc, channel);
  assert.ok(claimCost > toNano('0.005') && claimCost < toNano('0.05'), `claimCost ${claimCost}`);
  await F.assertRejected(ctx, channel, Errors.NotEnoughValue, () => ctx.claim(ctx.voucher(toNano('1'), 1n, 1n), { value: claimCost - 1n }));
  const before = (await F.state(bc, channel)).balance;
  const r = await largestClaim(ctx, claimCost);
  F.assertTx(r, { from: channel, to: provider, op: ChannelOp.ChannelUsage, success: true });
  // The report is within the bound. Forward fees count the cells beyond the message root: the body
  // (the action phase moves it out of the root once it fills in the source address and fees), the
  // two storage roots, setup and closing.
  const claimTx = F.assertTx(r, { from: relayer.address, to: channel, op: ChannelOp.Claim });
  const size = claimTx.description.actionPhase.totalMessageSize;
  const root = beginCell().store(storeMessage([...claimTx.outMessages.values()][0])).endCell();
  const [cells, bits] = [Number(size.cells) - 1, Number(size.bits) - root.bits.length];
  assert.equal(cells, 5);
  assert.ok(bits <= MAX_BITS && cells <= MAX_CELLS, `report: ${cells} cells, ${bits} bits`);
  const pay = before - RESERVE;
  const { fee, net } = C.feeSplit({ paid: 0n, pay, bps: 250 });
  assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
  assert.equal(sentOne(r, provider, treasury.address, ChannelOp.ProtocolFee).value, fee);
  assert.ok(sentOne(r, provider, relayer.address, Op.ReturnExcess).value > 0n);
  assert.equal((await F.state(bc, channel)).balance, RESERVE);
});

test('a report bounced in the largest case still pays owner and treasury from exactly claimCost', async () => {
  const ctx = await setupChannel({ register: false, deposit: toNano('3') });
  const { bc, channel, owner, treasury } = ctx;
  const { claimCost } = await C.getChannelState(bc, channel);
  const before = (await F.state(bc, channel)).balance;
  const r = await largestClaim(ctx, claimCost);
  F.assertTx(r, { from: ctx.provider, to: channel, bounced: true, success: true });
  // the rich bounce (the whole report back) is within the bound
  const bounce = F.assertTx(r, { from: channel, to: ctx.provider }).description.bouncePhase;
  assert.equal(bounce.type, 'ok');
  // body root, the two storage roots, setup, closing, original info (the bounce phase counts no root)
  const [cells, bits] = [Number(bounce.messageSize.cells), Number(bounce.messageSize.bits)];
  assert.equal(cells, 6);
  assert.ok(bits <= MAX_BITS && cells <= MAX_CELLS, `bounce: ${cells} cells, ${bits} bits`);
  const { fee, net } = C.feeSplit({ paid: 0n, pay: before - RESERVE, bps: 250 });
  assert.equal(sentOne(r, channel, owner.address, ChannelOp.ChannelPayout).value, net);
  assert.equal(sentOne(r, channel, treasury.address, ChannelOp.ProtocolFee).value, fee);
  assert.equal((await F.state(bc, channel)).balance, RESERVE);
});

test('the provider accepts usage only from its genuine channels', async () => {
  const ctx = await setupChannel();
  const { provider, stranger } = ctx;
  const setup = C.channelSetupCell({ registry: ctx.registry });
  const root = (promptTokens, paid) => C.channelStorageCell({ clientKey: ctx.key.publicKey, provider, status: 1, acceptedPrompt: promptTokens, paid, setup });
  const forged = C.channelUsage({ excessTo: stranger.address, before: root(0n, 0n), after: root(1n, 1n) });
  await F.assertRejected(ctx, provider, ChannelErrors.NotChannel, () => stranger.send({ to: provider, value: toNano('1'), body: forged }));
  // a channel of another provider, with the same client key, is not ours either
  const otherChannel = ctx.channelOf(ctx.key.publicKey, stranger.address);
  await F.assertRejected(ctx, provider, ChannelErrors.NotChannel, () => ctx.direct(otherChannel, forged, toNano('1'), provider));
  // the genuine address (as a direct message, to prove the derivation) is accepted
  const r = await ctx.direct(ctx.channel, forged, toNano('1'), provider);
  F.assertTx(r, { to: provider, success: true });
  assert.equal((await L.getUsage(ctx.bc, provider)).promptTokens, 1n);
});

test('token totals in the provider saturate at 2^64 - 1 instead of failing', async () => {
  const ctx = await setupChannel();
  const max = (1n << 64n) - 1n;
  await ctx.claim(ctx.voucher(toNano('0.1'), max, 5n));
  const key2 = clientKeyPair(2);
  F.assertTx(await ctx.open({ key: key2.publicKey, value: toNano('1') }), { to: ctx.channelOf(key2.publicKey), success: true });
  const ch2 = ctx.channelOf(key2.publicKey);
  const { cell, signature } = C.signVoucher({ channel: ch2, amount: toNano('0.1'), promptTokens: 10n, completionTokens: 1n }, key2.secretKey);
  const r = await ctx.relayer.send({ to: ch2, value: toNano('0.1'), body: C.claim({ voucher: cell, signature }) });
  F.assertTx(r, { to: ctx.provider, op: ChannelOp.ChannelUsage, success: true });
  const u = await L.getUsage(ctx.bc, ctx.provider);
  assert.deepEqual([u.promptTokens, u.completionTokens], [max, 6n]);
});

test('the usage report is the message createMessage builds: bounceable with a full-body rich bounce, body inline, both storage roots', async () => {
  const ctx = await setupChannel();
  const { bc, channel, provider, relayer } = ctx;
  const before = (await bc.getContract(channel)).accountState.state.data;
  const r = await ctx.claim(ctx.voucher(toNano('1'), 10n, 20n), { queryId: 0x1234 });
  const after = (await bc.getContract(channel)).accountState.state.data;
  const tx = F.assertTx(r, { from: relayer.address, to: channel, op: ChannelOp.Claim, success: true });
  const [m] = [...tx.outMessages.values()];
  assert.equal(tx.outMessages.size, 1);
  assert.equal(m.info.type, 'internal');
  assert.deepEqual([m.info.ihrDisabled, m.info.bounce, m.info.bounced], [true, true, false]);
  assert.ok(m.info.dest.equals(provider));
  // value: pay plus the rest of the relayer's value (mode 64), less the forward fee
  assert.ok(m.info.value.coins > toNano('1') && m.info.value.coins < toNano('1.1'));
  // @ton/core reads extra_flags (which replaced ihr_fee) as ihrFee: 3 = new bounce format, whole body
  assert.equal(m.info.ihrFee, 3n);
  assert.equal(m.init ?? null, null);
  assert.ok(m.body.equals(C.channelUsage({ queryId: 0x1234n, excessTo: relayer.address, before, after })));
});
