// The attacks of the outside contract review (issue 11), each performed as the reviewer described it
// and shown to fail now: exact exit codes, and balances and state unchanged where the attack is refused.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Address, toNano } = require('@ton/core');
const { internal } = require('@ton/sandbox');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const C = require('./lib/channel');
const { Errors, Op, ProviderStatus } = require('./lib/protocol');
const M = require('./lib/messages');
const { setupChannel, sentOne } = require('./lib/channel-fixture');

const { ChannelOp, ChannelErrors } = C;
const MAX_U64 = (1n << 64n) - 1n;
const RESERVE = C.CHANNEL_STORAGE_RESERVE;

// ---------------------------------------------------------------- 1. unclaimable vouchers

test('attack 1: a client-relayed (0, 2^64-1, 2^64-1) voucher cannot make the provider\'s genuine voucher unclaimable', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, channel, provider, owner, treasury, client } = ctx;
  // The client signs absurd token totals at amount 0 and relays them itself: a report-only update,
  // accepted, paying nothing.
  let r = await ctx.claim(ctx.voucher(0n, MAX_U64, MAX_U64), { from: client });
  F.assertTx(r, { from: client.address, to: channel, op: ChannelOp.Claim, success: true });
  let st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion, st.paid], [0n, MAX_U64, MAX_U64, 0n]);

  // The provider's genuine voucher (5 TON, 100k, 200k) is still claimable: money orders vouchers.
  const deposit = (await F.state(bc, channel)).balance;
  r = await ctx.claim(ctx.voucher(toNano('5'), 100_000n, 200_000n), { from: owner });
  F.assertTx(r, { to: channel, op: ChannelOp.Claim, success: true });
  F.assertTx(r, { from: channel, to: provider, op: ChannelOp.ChannelUsage, success: true });
  const { fee } = C.feeSplit({ paid: 0n, pay: toNano('5'), bps: ctx.params.protocolFeeBps });
  assert.equal(sentOne(r, provider, treasury.address, ChannelOp.ProtocolFee).value, fee);
  st = await C.getChannelState(bc, channel);
  // token totals are reports: the stored ones are the largest seen per field
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion, st.paid], [toNano('5'), MAX_U64, MAX_U64, toNano('5')]);
  assert.equal((await F.state(bc, channel)).balance, deposit - toNano('5'));

  // The client closes; after the challenge period only the unclaimed rest is refunded.
  await ctx.startClose();
  bc.now += ctx.params.challengePeriod;
  r = await ctx.relayer.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) });
  const refund = sentOne(r, channel, client.address, ChannelOp.ChannelRefund).value;
  assert.ok(refund < deposit - toNano('5') - RESERVE + 1n && refund > toNano('4.9'), `refund ${refund}`);
  const usage = await L.getUsage(bc, provider);
  assert.deepEqual([usage.promptTokens, usage.completionTokens], [MAX_U64, MAX_U64]);
  assert.equal(usage.earned, toNano('5') - fee);
});

test('attack 1: whatever the client signs in between, the largest amount it signed stays claimable', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, channel, client, owner } = ctx;
  const largest = ctx.voucher(toNano('3'), 10n, 20n);
  // Lower amounts with larger tokens, equal amounts with mixed tokens, relayed by the client.
  for (const v of [
    ctx.voucher(toNano('1'), MAX_U64, 0n),
    ctx.voucher(toNano('1'), 0n, MAX_U64),
    ctx.voucher(toNano('2'), MAX_U64, MAX_U64),
    ctx.voucher(toNano('2') + 1n, 0n, 0n),
  ]) {
    F.assertTx(await ctx.claim(v, { from: client }), { to: channel, op: ChannelOp.Claim, success: true });
  }
  F.assertTx(await ctx.claim(largest, { from: owner }), { to: channel, op: ChannelOp.Claim, success: true });
  const st = await C.getChannelState(bc, channel);
  assert.deepEqual([st.acceptedAmount, st.acceptedPrompt, st.acceptedCompletion, st.paid], [toNano('3'), MAX_U64, MAX_U64, toNano('3')]);
  // Every voucher of a lower amount is refused now, whatever its tokens; so is a replay.
  await F.assertRejected(ctx, channel, ChannelErrors.VoucherNotNewer, () => ctx.claim(ctx.voucher(toNano('3') - 1n, MAX_U64, MAX_U64), { from: client }));
  await F.assertRejected(ctx, channel, ChannelErrors.VoucherNotNewer, () => ctx.claim(largest, { from: client }));
});

// ---------------------------------------------------------------- 4. changing an existing channel's terms

test('attack 4: a later OpenChannel does not re-apply the registry\'s current terms to an existing channel', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, gov, registry, channel, stranger, owner, treasury } = ctx;
  const terms = await C.getChannelData(bc, channel);
  assert.deepEqual([terms.protocolFeeBps, terms.challengePeriod], [ctx.params.protocolFeeBps, ctx.params.challengePeriod]);
  // Governance shortens the challenge period to 60 s and changes the fee and the treasury.
  const params = L.defaultRegistryParams(stranger.address, { challengePeriod: 60, protocolFeeBps: 0 });
  F.assertTx(await gov.send({ to: registry, value: toNano('0.05'), body: M.updateParams({ params }) }), { to: registry, success: true });
  // The client re-opens with no deposit (exactly the open fee): the channel only gains that value.
  const fee = await C.getOpenChannelFee(bc, registry);
  const before = await F.state(bc, channel);
  const r = await ctx.open({ value: fee });
  F.assertTx(r, { from: registry, to: channel, op: ChannelOp.ChannelInit, success: true });
  const after = await F.state(bc, channel);
  assert.ok(after.balance > before.balance, 'the re-open adds its value as deposit');
  const now = await C.getChannelData(bc, channel);
  assert.deepEqual([now.protocolFeeBps, now.challengePeriod], [terms.protocolFeeBps, terms.challengePeriod], 'fee and challenge period unchanged');
  assert.ok(now.treasury.equals(terms.treasury) && now.payoutTo.equals(terms.payoutTo), 'treasury and payee unchanged');
  // The client starts a close: the provider keeps the challenge period the channel opened with.
  await ctx.startClose();
  const st = await C.getChannelState(bc, channel);
  assert.equal(st.closeDeadline, bc.now + ctx.params.challengePeriod);
  bc.now += 61;
  await F.assertRejected(ctx, channel, ChannelErrors.ChallengeNotOver, () => stranger.send({ to: channel, value: toNano('0.05'), body: C.finalizeClose({}) }));
  // and claims at the fee and to the treasury the channel opened with
  const claimed = await ctx.claim(ctx.voucher(toNano('1'), 1n, 1n), { from: owner });
  assert.equal(sentOne(claimed, ctx.provider, treasury.address, ChannelOp.ProtocolFee).value, C.feeSplit({ paid: 0n, pay: toNano('1'), bps: terms.protocolFeeBps }).fee);
});

// ---------------------------------------------------------------- 3. a treasury the claim cost does not price

test('attack 3: governance cannot set a masterchain treasury (claimCost prices basechain forwarding only)', async () => {
  const ctx = await setupChannel();
  const { bc, gov, registry } = ctx;
  const master = new Address(-1, Buffer.alloc(32, 0x77));
  const params = L.defaultRegistryParams(master);
  await F.assertRejected(ctx, registry, Errors.InvalidParams, () => gov.send({ to: registry, value: toNano('0.05'), body: M.updateParams({ params }) }));
  assert.equal((await L.getRegistryParams(bc, registry)).treasury.workChain, 0);
});

test('attack 3: a registry deployed with a masterchain treasury passes it to no provider and no channel (103)', async () => {
  const ctx = await setupChannel({ open: false });
  const { bc, gov, owner, client } = ctx;
  const master = new Address(-1, Buffer.alloc(32, 0x77));
  const reg = await L.deployRegistry(bc, gov, { governance: gov.address, params: L.defaultRegistryParams(master), channelCode: ctx.channelCode, unchecked: true });
  const stake = ctx.params.minProviderStake;
  await F.assertRejected(ctx, reg.address, Errors.InvalidParams, () => owner.send({ to: reg.address, value: stake + toNano('0.2'), body: M.registerProvider({ stakeAmount: stake }) }));
  await F.assertRejected(ctx, reg.address, Errors.InvalidParams, () => client.send({ to: reg.address, value: toNano('1'), body: C.openChannel({ providerOwner: owner.address, clientKey: ctx.key.publicKey }) }));
});

test('attack 3: a provider payment failing in the action phase bounces the report: the provider keeps nothing and records nothing', async () => {
  const ctx = await setupChannel({ deposit: toNano('10') });
  const { bc, channel, provider, relayer } = ctx;
  // A genuine-looking report of 1 TON whose value does not cover the payments' forward fees (a
  // relayer's value below the cost): the provider's compute phase succeeds, its sends fail (37).
  const before = (await bc.getContract(channel)).accountState.state.data;
  const st = C.channelStorageCell({ clientKey: ctx.key.publicKey, provider, status: 1, protocolFeeBps: 250,
    acceptedAmount: toNano('1'), paid: toNano('1'), setup: (await bc.getContract(channel)).accountState.state.data.refs[0] });
  const report = C.channelUsage({ queryId: 5n, excessTo: relayer.address, before, after: st });
  const r = await F.assertRejected(ctx, provider, 0, () => bc.sendMessage(internal({ from: channel, to: provider, value: toNano('1'), body: report, ihrFee: 3n })), { noLoss: true });
  const tx = F.assertTx(r, { from: channel, to: provider, success: false });
  assert.equal(tx.description.actionPhase.resultCode, 37, 'not enough value for the payments');
  assert.equal(tx.description.bouncePhase?.type, 'ok', 'the report bounces back to the channel');
  F.assertTx(r, { from: provider, to: channel, bounced: true });
  assert.deepEqual(await L.getUsage(bc, provider), { promptTokens: 0n, completionTokens: 0n, earned: 0n });
});

test('attack 3: a registry forward the provider cannot carry out in the action phase bounces and is refunded (slash below its forward fee)', async () => {
  const ctx = await setupChannel();
  const { bc, gov, registry, provider, owner } = ctx;
  const before = await F.state(bc, provider);
  const r = await gov.send({ to: registry, value: toNano('0.1'), body: M.slashProvider({ providerOwner: owner.address, amount: 1n, evidenceDigest: 1n }) });
  const tx = F.assertTx(r, { from: registry, to: provider, op: Op.ForwardedSlash, success: false, exitCode: 0 });
  assert.equal(tx.description.actionPhase.resultCode, 40, 'SlashedStake cannot pay its forward fee');
  F.assertTx(r, { from: registry, to: gov.address, op: Op.RefundBounced, success: true });
  assert.deepEqual(await F.state(bc, provider), before, 'the provider is unchanged');
});

// ---------------------------------------------------------------- 5. smaller points

test('attack 5: while jailed no owner operation changes the status (AddStake, RegisterProvider, PauseProvider)', async () => {
  const ctx = await setupChannel();
  const { bc, gov, registry, provider, owner } = ctx;
  const G = (body) => gov.send({ to: registry, value: toNano('0.1'), body });
  const status = async () => { const d = await L.getProviderData(bc, provider); return [d.status, d.effectiveStatus]; };
  // slashed below the minimum, then jailed
  F.assertTx(await G(M.slashProvider({ providerOwner: owner.address, amount: toNano('5'), evidenceDigest: 1n })), { to: provider, success: true });
  F.assertTx(await G(M.jailProvider({ providerOwner: owner.address, until: bc.now + 3600 })), { to: provider, success: true });
  assert.deepEqual(await status(), [ProviderStatus.Slashed, ProviderStatus.Jailed]);
  // stake may be added, the status stays
  F.assertTx(await owner.send({ to: provider, value: toNano('10.1'), body: M.addStake({ amount: toNano('10') }) }), { to: provider, success: true });
  assert.deepEqual(await status(), [ProviderStatus.Slashed, ProviderStatus.Jailed]);
  F.assertTx(await F.registerProvider(ctx, owner, ctx.params.minProviderStake), { to: provider, success: true });
  assert.deepEqual(await status(), [ProviderStatus.Slashed, ProviderStatus.Jailed]);
  await F.assertRejected(ctx, provider, Errors.ProviderJailed, () => owner.send({ to: provider, value: toNano('0.05'), body: M.resumeProvider({}) }));
  // after the jail, ResumeProvider brings a slashed provider with enough stake back
  bc.now += 3600;
  F.assertTx(await owner.send({ to: provider, value: toNano('0.05'), body: M.resumeProvider({}) }), { to: provider, success: true });
  assert.deepEqual(await status(), [ProviderStatus.Active, ProviderStatus.Active]);
  // an active provider cannot pause while jailed either
  F.assertTx(await G(M.jailProvider({ providerOwner: owner.address, until: bc.now + 3600 })), { to: provider, success: true });
  await F.assertRejected(ctx, provider, Errors.ProviderJailed, () => owner.send({ to: provider, value: toNano('0.05'), body: M.pauseProvider({}) }));
  assert.deepEqual(await status(), [ProviderStatus.Active, ProviderStatus.Jailed]);
});

test('attack 5: an exiting provider re-staked while jailed stays exiting until the jail ends', async () => {
  const ctx = await setupChannel();
  const { bc, gov, registry, provider, owner } = ctx;
  F.assertTx(await owner.send({ to: provider, value: toNano('0.05'), body: M.exitProvider({}) }), { to: provider, success: true });
  F.assertTx(await gov.send({ to: registry, value: toNano('0.1'), body: M.jailProvider({ providerOwner: owner.address, until: bc.now + 60 }) }), { to: provider, success: true });
  F.assertTx(await owner.send({ to: provider, value: toNano('10.1'), body: M.addStake({ amount: toNano('10') }) }), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Exiting);
  bc.now += 60;
  F.assertTx(await owner.send({ to: provider, value: toNano('1.1'), body: M.addStake({ amount: toNano('1') }) }), { to: provider, success: true });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Active);
});

// ---------------------------------------------------------------- 2. one oracle against a quorum

const HOUR = 3600;
const DAY = 24 * HOUR;

test('attack 2: one oracle cannot shorten what a quorum confirmed, before or after a re-attestation', async () => {
  const ctx = await F.setup({ quorum: 2, oracles: 3 });
  const { bc, provider } = ctx;
  const T = F.claim({ validUntil: F.NOW + DAY });
  F.assertTx(await F.vote(ctx, 0, T), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 1, T), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).validUntil, F.NOW + DAY);
  // oracle 2 alone votes the same claim valid for one second
  F.assertTx(await F.vote(ctx, 2, { ...T, validUntil: F.NOW + 1 }), { to: provider, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.validUntil], [true, F.NOW + DAY]);
  bc.now = F.NOW + 2;
  assert.equal(await L.isAttested(bc, provider), true);
  // the honest oracles re-attest an hour later; oracle 2 tries again
  bc.now = F.NOW + HOUR;
  const T2 = { ...T, validUntil: bc.now + DAY };
  F.assertTx(await F.vote(ctx, 0, T2), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 1, T2), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 2, { ...T, validUntil: bc.now + 1 }), { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.validUntil], [true, F.NOW + HOUR + DAY]);
  // nor can it lengthen it alone: the confirmed validUntil is the quorum-th largest of the matching votes
  bc.now += 10;
  F.assertTx(await F.vote(ctx, 2, { ...T, validUntil: bc.now + DAY }), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).validUntil, F.NOW + HOUR + DAY);
});

test('attack 2: one vote for another claim does not discard the votes other oracles cast', async () => {
  const ctx = await F.setup({ quorum: 2, oracles: 3 });
  const { bc, provider } = ctx;
  const T = F.claim({ evidenceDigest: 0x111n });
  F.assertTx(await F.vote(ctx, 0, T), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 2, { ...T, evidenceDigest: 0x666n }), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 1, T), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.evidenceDigest], [true, 0x111n]);
});

test('attack 2: one oracle cannot switch the confirmed claim back with the stale votes of others', async () => {
  const ctx = await F.setup({ quorum: 2, oracles: 3 });
  const { bc, provider } = ctx;
  const old = F.claim({ tlsKeyHash: 0x01n, validUntil: F.NOW + DAY });
  F.assertTx(await F.vote(ctx, 0, old), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 1, old), { to: provider, success: true });
  // the provider restarts with a new TLS key; oracles 0 and 2 confirm it, oracle 1 has not voted yet
  bc.now = F.NOW + HOUR;
  const fresh = F.claim({ tlsKeyHash: 0x02n, validUntil: bc.now + DAY });
  F.assertTx(await F.vote(ctx, 0, fresh), { to: provider, success: true });
  F.assertTx(await F.vote(ctx, 2, fresh), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).tlsKeyHash, 0x02n);
  // oracle 2 votes the old key again: with oracle 1's vote from before it would be two
  F.assertTx(await F.vote(ctx, 2, { ...old, validUntil: bc.now + DAY }), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.tlsKeyHash], [true, 0x02n]);
});

test('attack 2: an oracle removed and re-added with a new key cannot vote twice in one round', async () => {
  const ctx = await F.setup({ quorum: 2, oracles: 3 });
  const { bc, gov, registry, provider, oracleWallets } = ctx;
  const T = F.claim();
  F.assertTx(await F.vote(ctx, 0, T), { to: provider, success: true });
  const G = (body) => gov.send({ to: registry, value: toNano('0.05'), body });
  F.assertTx(await G(M.removeOracle({ wallet: oracleWallets[0].address })), { to: registry, success: true });
  F.assertTx(await G(M.addOracle({ wallet: oracleWallets[0].address, publicKey: 0xbeefn })), { to: registry, success: true });
  F.assertTx(await F.vote(ctx, 0, T), { to: provider, success: true });
  assert.equal(await L.isAttested(bc, provider), false, 'one oracle, one vote');
  F.assertTx(await F.vote(ctx, 1, T), { to: provider, success: true });
  assert.equal(await L.isAttested(bc, provider), true);
});
