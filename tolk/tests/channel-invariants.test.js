// A deterministic pseudo-random sequence of claims (new, stale and remainder), top-ups, closes and
// time jumps on one channel. After every step: the accepted state is the voucher rule's (money orders
// vouchers, token totals the largest seen) and only grows, paid ≤ accepted, each
// claim paid exactly min(owed, deposit above the reserve), the owner got exactly the sum of the nets,
// the treasury floor(total × bps / 10000), and the Provider contract's usage matches. At the end the
// channel is closed and nothing but the storage reserve is left in it.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const C = require('./lib/channel');
const { setupChannel, sentBy } = require('./lib/channel-fixture');

const { ChannelOp, ChannelStatus } = C;
const RESERVE = C.CHANNEL_STORAGE_RESERVE;

function rng(seed) {
  let x = seed >>> 0;
  return (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

test('random channel operations keep every money invariant', async () => {
  const bps = 317;
  const ctx = await setupChannel({ deposit: toNano('4'), params: { protocolFeeBps: bps } });
  const { bc, channel, provider, owner, treasury, relayer, stranger, client } = ctx;
  const rand = rng(2026);
  const v = { amount: 0n, promptTokens: 0n, completionTokens: 0n };
  const got = { owner: 0n, treasury: 0n, refunds: 0n };
  const seen = { paidClaims: 0, partial: 0, rejected: 0, remainders: 0, closes: 0, topUpsWhileClosing: 0, lowerTokens: 0, reportOnly: 0 };
  let nonce = 0;

  function collect(result) {
    for (const m of sentBy(result, provider).concat(sentBy(result, channel))) {
      if (m.op === ChannelOp.ChannelPayout && m.to.equals(owner.address)) got.owner += m.value;
      if (m.op === ChannelOp.ProtocolFee && m.to.equals(treasury.address)) got.treasury += m.value;
      if (m.op === ChannelOp.ChannelRefund) got.refunds += m.value;
    }
  }

  // Runs a claim-like message and checks the payment against the deposit the channel had.
  async function payingStep(send, op) {
    const before = await C.getChannelState(bc, channel);
    const balance = (await F.state(bc, channel)).balance;
    const r = await send();
    const tx = F.findTx(r, { to: channel, op });
    if (tx.description.aborted) { seen.rejected++; return; }
    const storage = tx.description.storagePhase?.storageFeesCollected ?? 0n;
    const after = await C.getChannelState(bc, channel);
    const availableAtTx = balance - storage - RESERVE > 0n ? balance - storage - RESERVE : 0n;
    const owed = after.acceptedAmount - before.paid;
    const pay = owed < availableAtTx ? owed : availableAtTx;
    assert.equal(after.paid - before.paid, pay, 'paid = min(owed, available)');
    if (pay > 0n) seen.paidClaims++;
    if (pay < owed) seen.partial++;
    collect(r);
  }

  for (let step = 0; step < 70; step++) {
    bc.now += rand(5) === 0 ? rand(2 * ctx.params.challengePeriod) : rand(120);
    const st = await C.getChannelState(bc, channel);
    const k = rand(10);
    if (k <= 3) {
      // a voucher the client signed: usually more money and more tokens; sometimes tokens below the
      // accepted ones (a higher amount is accepted all the same), sometimes the same amount (a
      // report-only update when a token total grows, else refused): the model (C.acceptVoucher) says which
      const next = {
        amount: v.amount + (rand(5) === 0 ? 0n : BigInt(rand(3)) * toNano('0.7') + BigInt(1 + rand(1000))),
        promptTokens: rand(4) === 0 ? BigInt(rand(Number(v.promptTokens) + 1)) : v.promptTokens + BigInt(rand(500)),
        completionTokens: rand(4) === 0 ? BigInt(rand(Number(v.completionTokens) + 1)) : v.completionTokens + BigInt(1 + rand(500)),
      };
      const model = C.acceptVoucher(v, next);
      const send = () => ctx.claim(ctx.voucher(next.amount, next.promptTokens, next.completionTokens), { from: rand(2) ? relayer : owner });
      if (model) {
        if (next.promptTokens < v.promptTokens || next.completionTokens < v.completionTokens) seen.lowerTokens++;
        if (next.amount === v.amount) seen.reportOnly++;
        await payingStep(send, ChannelOp.Claim);
        Object.assign(v, model);
      } else {
        F.assertTx(await send(), { to: channel, op: ChannelOp.Claim, exitCode: C.ChannelErrors.VoucherNotNewer });
        seen.rejected++;
      }
    } else if (k === 4) {
      // a stale voucher: a lower amount (whatever the tokens), or the same amount with no token total higher
      const stale = v.amount > 0n && rand(2)
        ? ctx.voucher(v.amount - 1n - BigInt(rand(1000)) % v.amount, v.promptTokens + BigInt(rand(1000)), v.completionTokens + BigInt(rand(1000)))
        : ctx.voucher(v.amount, v.promptTokens - BigInt(rand(Number(v.promptTokens) + 1)), v.completionTokens);
      const r = await ctx.claim(stale);
      F.assertTx(r, { to: channel, op: ChannelOp.Claim, exitCode: C.ChannelErrors.VoucherNotNewer });
      seen.rejected++;
    } else if (k === 5) {
      await payingStep(() => relayer.send({ to: channel, value: toNano('0.1'), body: C.claimRemainder({}) }), ChannelOp.ClaimRemainder);
      seen.remainders++;
    } else if (k === 6) {
      await stranger.send({ to: channel, value: BigInt(1 + rand(3)) * toNano('0.5') });
      if (st.status === ChannelStatus.Closing) seen.topUpsWhileClosing++;
    } else if (k === 7 && st.status === ChannelStatus.Open) {
      F.assertTx(await ctx.startClose({ closeNonce: nonce, refundTo: client.address }), { to: channel, op: ChannelOp.StartClose, success: true });
    } else if (k >= 8 && st.status === ChannelStatus.Closing) {
      const coop = k === 9;
      const r = coop
        ? await owner.send({ to: channel, value: toNano('0.05'), body: C.cooperativeClose({}) })
        : await relayer.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) });
      const ok = !F.findTx(r, { to: channel }).description.aborted;
      assert.equal(ok, coop || bc.now >= st.closeDeadline, 'finalize succeeds exactly from the deadline on');
      if (ok) {
        nonce++;
        seen.closes++;
        collect(r);
        assert.ok((await F.state(bc, channel)).balance <= RESERVE, 'a close leaves at most the reserve');
      }
    }
    const now = await C.getChannelState(bc, channel);
    assert.deepEqual([now.acceptedAmount, now.acceptedPrompt, now.acceptedCompletion], [v.amount, v.promptTokens, v.completionTokens], 'accepted state = the model');
    assert.ok(now.acceptedAmount >= st.acceptedAmount && now.acceptedPrompt >= st.acceptedPrompt && now.acceptedCompletion >= st.acceptedCompletion);
    assert.ok(now.paid <= now.acceptedAmount && now.paid >= st.paid);
    assert.equal(now.closeNonce, nonce);
    assert.equal(got.treasury, (now.paid * BigInt(bps)) / 10000n, 'treasury got floor(paid × bps / 10000)');
    const usage = await L.getUsage(bc, provider);
    assert.deepEqual([usage.promptTokens, usage.completionTokens], [now.acceptedPrompt, now.acceptedCompletion]);
    assert.equal(usage.earned, now.paid - got.treasury);
  }
  assert.ok(seen.paidClaims >= 5 && seen.partial >= 2 && seen.rejected >= 5 && seen.closes >= 2 && seen.topUpsWhileClosing >= 1 && seen.lowerTokens >= 2 && seen.reportOnly >= 1 && got.refunds > 0n, JSON.stringify(seen));
  // The owner's payouts: exact when a third party relayed; when the owner relayed they include its excess.
  assert.ok(got.owner >= (await C.getChannelState(bc, channel)).paid - got.treasury);

  // wind down
  let st = await C.getChannelState(bc, channel);
  if (st.status === ChannelStatus.Open) await ctx.startClose({ closeNonce: nonce, refundTo: client.address });
  bc.now += ctx.params.challengePeriod;
  const r = await relayer.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) });
  F.assertTx(r, { to: channel, op: ChannelOp.FinalizeClose, success: true });
  st = await C.getChannelState(bc, channel);
  assert.equal(st.available, 0n);
  assert.ok((await F.state(bc, channel)).balance <= RESERVE);
  assert.equal((await L.getProviderData(bc, provider)).stake, ctx.params.minProviderStake);
});
