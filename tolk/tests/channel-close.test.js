// Closing channels: StartClose checks, claims during (and after) the challenge period, top-ups while
// closing, FinalizeClose and CooperativeClose refunds, reuse after a close, and the money of every exit
// path accounted to the nanoTON (nothing but the storage reserve stays in the channel).
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { beginCell, toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const C = require('./lib/channel');
const { Errors, Op } = require('./lib/protocol');
const { setupChannel, clientKeyPair, sentBy, sentOne } = require('./lib/channel-fixture');

const { ChannelOp, ChannelErrors, ChannelStatus } = C;
const RESERVE = C.CHANNEL_STORAGE_RESERVE;

// Fees the receiving wallet paid for its own transaction in `result`.
function walletFees(result, wallet) {
  return F.findTx(result, { to: wallet }).totalFees.coins;
}

function channelTx(result, channel, op) {
  return F.assertTx(result, { to: channel, op, success: true });
}

// Exact money of a finalizing transaction: what entered (balance before + value) equals what left
// (excess + refund + forward fees + gas + storage) plus what stays, and what stays is the storage reserve
// (less if the storage fee already ate into it).
async function assertFinalizeAccounts(result, ctx, before, sender, op) {
  const tx = channelTx(result, ctx.channel, op);
  const d = tx.description;
  const value = tx.inMessage.info.value.coins;
  const excess = sentOne(result, ctx.channel, sender, Op.ReturnExcess).value;
  const refunds = sentBy(result, ctx.channel).filter((m) => m.op === ChannelOp.ChannelRefund);
  const refund = refunds.length ? refunds[0].value : 0n;
  const storage = d.storagePhase?.storageFeesCollected ?? 0n;
  const out = excess + refund + d.actionPhase.totalFwdFees + d.computePhase.gasFees + storage;
  const after = (await F.state(ctx.bc, ctx.channel)).balance;
  assert.equal(before + value, out + after, 'finalize: value in = value out + what stays');
  const kept = before - storage < RESERVE ? before - storage : RESERVE;
  assert.equal(after, kept, 'only the storage reserve stays');
  return { refund, excess, storage };
}

test('StartClose: every check with its exit code, state unchanged on rejection', async () => {
  const ctx = await setupChannel();
  const { channel, stranger } = ctx;
  const rejected = (code, send) => F.assertRejected(ctx, channel, code, send);
  await rejected(ChannelErrors.InvalidSignature, () => ctx.startClose({ secretKey: clientKeyPair(5).secretKey }));
  await rejected(ChannelErrors.WrongCloseNonce, () => ctx.startClose({ closeNonce: 1 }));
  await rejected(ChannelErrors.WrongChannel, () => ctx.startClose({ channel: ctx.channelOf(ctx.key.publicKey, stranger.address) }));
  // a voucher is not a close request
  const v = ctx.signed(ctx.voucher(1n, 1n, 1n));
  await rejected(ChannelErrors.BadVoucher, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.startClose({ request: v.cell, signature: v.signature }) }));
  await rejected(Errors.NotEnoughValue, () => ctx.startClose({ value: toNano('0.003') }));
  await rejected(ChannelErrors.NotClosing, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) }));
  await rejected(ChannelErrors.NotClosing, () => ctx.owner.send({ to: channel, value: toNano('0.05'), body: C.cooperativeClose({}) }));

  // relayed by a stranger: the client's signature is what counts; the refund address comes from it
  const r = await ctx.startClose({ from: stranger, refundTo: ctx.client.address });
  F.assertTx(r, { from: channel, to: stranger.address, op: Op.ReturnExcess, success: true });
  const st = await C.getChannelState(ctx.bc, channel);
  assert.equal(st.status, ChannelStatus.Closing);
  assert.ok(st.refundTo.equals(ctx.client.address));
  assert.equal(st.closeDeadline, F.NOW + ctx.params.challengePeriod);
  await rejected(ChannelErrors.AlreadyClosing, () => ctx.startClose());
  await rejected(ChannelErrors.ChallengeNotOver, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) }));
  ctx.bc.now = st.closeDeadline - 1;
  await rejected(ChannelErrors.ChallengeNotOver, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) }));
  await rejected(ChannelErrors.NotPayee, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.cooperativeClose({}) }));
  await rejected(ChannelErrors.NotPayee, () => ctx.client.send({ to: channel, value: toNano('0.05'), body: C.cooperativeClose({}) }));
});

test('close with the challenge period: claims and top-ups while closing, finalize refunds the rest exactly', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, channel, provider, owner, treasury, relayer, stranger, client } = ctx;
  const deposited = (await F.state(bc, channel)).balance;
  let claimed = 0n;
  const claimAndCheck = async (amount, tokens) => {
    const before = await C.getChannelState(bc, channel);
    const r = await ctx.claim(ctx.voucher(amount, tokens, tokens));
    const pay = amount - before.paid;
    const { fee, net } = C.feeSplit({ paid: before.paid, pay, bps: 250 });
    assert.equal(sentOne(r, provider, owner.address, ChannelOp.ChannelPayout).value, net);
    assert.equal(sentOne(r, provider, treasury.address, ChannelOp.ProtocolFee).value, fee);
    claimed += pay;
    return r;
  };
  await claimAndCheck(toNano('2'), 10n);
  await ctx.startClose({ refundTo: client.address });
  // during the challenge period the provider claims its latest voucher
  bc.now += 3600;
  await claimAndCheck(toNano('3'), 20n);
  // a top-up while closing is accepted (and ends up in the refund)
  const tb = (await F.state(bc, channel)).balance;
  await stranger.send({ to: channel, value: toNano('1') });
  const topUp = (await F.state(bc, channel)).balance - tb;
  assert.ok(topUp > toNano('0.99'));
  // after the deadline, until someone finalizes, a claim still pays
  bc.now = F.NOW + ctx.params.challengePeriod + 10;
  await claimAndCheck(toNano('4'), 30n);
  const storageSoFar = deposited + topUp - claimed - (await F.state(bc, channel)).balance;
  assert.ok(storageSoFar >= 0n && storageSoFar < toNano('0.001'), `storage fees ${storageSoFar}`);

  const before = (await F.state(bc, channel)).balance;
  const clientBefore = await client.getBalance();
  const r = await relayer.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({ queryId: 77 }) });
  const { refund, storage } = await assertFinalizeAccounts(r, ctx, before, relayer.address, ChannelOp.FinalizeClose);
  assert.equal(await client.getBalance() - clientBefore, refund - walletFees(r, client.address));
  // the client got everything above the reserve, minus only the refund's forward fee
  assert.ok(before - storage - RESERVE - refund < toNano('0.001'));
  assert.equal((await F.state(bc, channel)).balance, RESERVE, 'only the reserve stays');
  // balances sum: deposit + top-up = claims + refund + reserve + fees paid by the deposit
  const feesFromDeposit = deposited + topUp - claimed - refund - RESERVE;
  assert.ok(feesFromDeposit >= 0n && feesFromDeposit < toNano('0.002'), `fees from the deposit ${feesFromDeposit}`);

  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.status, st.closeNonce, st.acceptedAmount, st.paid, st.refundTo, st.closeDeadline],
    [ChannelStatus.Open, 1, toNano('4'), toNano('4'), null, 0]);
  // claim after finalize: accepted and recorded, nothing to pay (owed stays claimable after a top-up)
  const late = await ctx.claim(ctx.voucher(toNano('4.5'), 40n, 40n));
  F.assertTx(late, { to: channel, op: ChannelOp.Claim, success: true });
  assert.equal(sentBy(late, provider).filter((m) => m.op === ChannelOp.ChannelPayout).length, 0);
  let s2 = await C.getChannelState(bc, channel);
  assert.deepEqual([s2.acceptedAmount, s2.paid, s2.owed], [toNano('4.5'), toNano('4'), toNano('0.5')]);
  assert.equal((await L.getUsage(bc, provider)).promptTokens, 40n);
  // the old close request cannot start another close
  await F.assertRejected(ctx, channel, ChannelErrors.WrongCloseNonce, () => ctx.startClose({ refundTo: stranger.address }));
  // reuse: the client tops up through the registry; the owed remainder is paid first
  await ctx.open({ value: toNano('2') });
  const rem = await relayer.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({}) });
  assert.equal(sentOne(rem, provider, owner.address, ChannelOp.ChannelPayout).value, C.feeSplit({ paid: toNano('4'), pay: toNano('0.5'), bps: 250 }).net);
  s2 = await C.getChannelState(bc, channel);
  assert.deepEqual([s2.paid, s2.owed], [toNano('4.5'), 0n]);
});

test('cooperative close: the provider owner ends the challenge at once; wrong senders rejected', async () => {
  const ctx = await setupChannel({ deposit: toNano('5') });
  const { bc, channel, owner, client } = ctx;
  await ctx.claim(ctx.voucher(toNano('1'), 1n, 1n));
  // the provider relays the client's signed close request, claims its last voucher, then agrees
  await ctx.startClose({ from: owner, refundTo: client.address });
  await ctx.claim(ctx.voucher(toNano('1.25'), 2n, 2n), { from: owner });
  const before = (await F.state(bc, channel)).balance;
  const clientBefore = await client.getBalance();
  const r = await owner.send({ to: channel, value: toNano('0.05'), body: C.cooperativeClose({ queryId: 5 }) });
  const { refund } = await assertFinalizeAccounts(r, ctx, before, owner.address, ChannelOp.CooperativeClose);
  assert.ok(refund > toNano('3.7'), `refund ${refund}`);
  assert.equal(await client.getBalance() - clientBefore, refund - walletFees(r, client.address));
  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.status, st.closeNonce, st.paid], [ChannelStatus.Open, 1, toNano('1.25')]);
  // a second close needs a request with the new nonce
  F.assertTx(await ctx.startClose({ closeNonce: 1 }), { to: channel, op: ChannelOp.StartClose, success: true });
});

test('every exit path leaves only the reserve: voucher above the deposit, no claim, bounce path', async () => {
  for (const [name, amount, register] of [['claims everything', toNano('100'), true], ['no claim', 0n, true], ['provider missing', toNano('1'), false]]) {
    const ctx = await setupChannel({ deposit: toNano('3'), register });
    const { bc, channel, relayer } = ctx;
    if (amount > 0n) F.assertTx(await ctx.claim(ctx.voucher(amount, 1n, 1n)), { to: channel, op: ChannelOp.Claim, success: true });
    await ctx.startClose();
    bc.now += ctx.params.challengePeriod;
    const before = (await F.state(bc, channel)).balance;
    const r = await relayer.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) });
    await assertFinalizeAccounts(r, ctx, before, relayer.address, ChannelOp.FinalizeClose);
    if (register) assert.equal((await L.getProviderData(bc, ctx.provider)).stake, ctx.params.minProviderStake, `${name}: provider keeps nothing`);
  }
});

test('unknown opcodes and plain transfers while closing', async () => {
  const ctx = await setupChannel();
  await ctx.startClose();
  await F.assertRejected(ctx, ctx.channel, Errors.WrongOpcode, () => ctx.stranger.send({ to: ctx.channel, value: toNano('0.1'), body: beginCell().storeUint(0, 32).storeStringTail('hi').endCell() }));
  const before = (await F.state(ctx.bc, ctx.channel)).balance;
  F.assertTx(await ctx.stranger.send({ to: ctx.channel, value: toNano('0.5') }), { to: ctx.channel, success: true });
  assert.ok((await F.state(ctx.bc, ctx.channel)).balance - before > toNano('0.49'));
});
