// Oracle votes: registry checks, routing, rounds, quorum, expiry, bounce refunds.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op } = require('./lib/protocol');

test('two of three oracles attest a provider; the third joins the same round', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, registry, provider, oracleWallets } = ctx;
  const c = F.claim();
  let r = await F.vote(ctx, 0, c);
  F.assertTx(r, { from: registry, to: provider, op: Op.ForwardedOracleVote, success: true });
  F.assertTx(r, { from: provider, to: oracleWallets[0].address, op: Op.ReturnExcess, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.equal(a.attested, false);
  assert.equal(a.roundVoteCount, 1);
  assert.equal(a.roundEvidenceDigest, c.evidenceDigest);
  assert.equal(await L.isAttested(bc, provider), false);

  r = await F.vote(ctx, 1, c);
  F.assertTx(r, { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual(
    [a.attested, a.measurementHash, a.evidenceDigest, a.tlsKeyHash, a.validUntil, a.attestedAt, a.roundVoteCount],
    [true, c.measurementHash, c.evidenceDigest, c.tlsKeyHash, c.validUntil, F.NOW, 2],
  );
  assert.equal(await L.isAttested(bc, provider), true);

  r = await F.vote(ctx, 2, { ...c, validUntil: c.validUntil - 100 });
  F.assertTx(r, { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.equal(a.roundVoteCount, 3);
  assert.equal(a.validUntil, c.validUntil - 100, 'round validity is the minimum over votes');

  bc.now = c.validUntil - 100;
  assert.equal(await L.isAttested(bc, provider), false, 'expired at validUntil');
});

test('a vote for a different digest starts a new round without dropping the confirmed attestation', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, provider } = ctx;
  const first = F.claim({ evidenceDigest: 0x111n });
  await F.vote(ctx, 0, first);
  await F.vote(ctx, 1, first);
  const renewal = F.claim({ evidenceDigest: 0x222n, validUntil: F.NOW + 7200 });
  F.assertTx(await F.vote(ctx, 0, renewal), { to: provider, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.equal(a.attested, true);
  assert.equal(a.evidenceDigest, 0x111n);
  assert.equal(a.roundEvidenceDigest, 0x222n);
  assert.equal(a.roundVoteCount, 1);
  F.assertTx(await F.vote(ctx, 2, renewal), { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.equal(a.evidenceDigest, 0x222n);
  assert.equal(a.validUntil, F.NOW + 7200);

  // different TLS key or measurement with the same digest is a different claim too
  F.assertTx(await F.vote(ctx, 0, { ...renewal, tlsKeyHash: 0x99n }), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).roundVoteCount, 1);
});

test('an expired round is not extended: same claim after its validUntil starts afresh', async () => {
  const ctx = await F.setup({ quorum: 3 });
  const { bc, provider } = ctx;
  await F.vote(ctx, 0, F.claim({ validUntil: F.NOW + 60 }));
  bc.now = F.NOW + 61;
  F.assertTx(await F.vote(ctx, 1, F.claim({ validUntil: F.NOW + 3600 })), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.equal(a.roundVoteCount, 1);
  assert.equal(a.roundValidUntil, F.NOW + 3600);
});

test('quorum of one attests with a single vote', async () => {
  const ctx = await F.setup({ quorum: 1, oracles: 1 });
  await F.vote(ctx, 0, F.claim({ measurementHash: F.SIM }));
  assert.equal(await L.isAttested(ctx.bc, ctx.provider), true);
});

test('a duplicate vote bounces off the provider and the registry refunds the oracle', async () => {
  const ctx = await F.setup({ quorum: 3 });
  const { bc, registry, provider, oracleWallets } = ctx;
  await F.vote(ctx, 0, F.claim());
  const before = await F.state(bc, provider);
  const regBefore = await F.state(bc, registry);
  const r = await F.vote(ctx, 0, F.claim());
  F.assertTx(r, { from: registry, to: provider, success: false, exitCode: Errors.AlreadyVoted });
  const refund = F.assertTx(r, { from: registry, to: oracleWallets[0].address, op: Op.RefundBounced, success: true });
  assert.ok(refund.inMessage.info.value.coins > toNano('0.09'));
  assert.deepEqual(await F.state(bc, provider), before);
  assert.equal((await F.state(bc, registry)).balance, regBefore.balance);
});

test('a vote for an owner without a provider contract is refunded to the oracle', async () => {
  const ctx = await F.setup();
  const nobody = await ctx.bc.treasury('nobody');
  const r = await F.vote(ctx, 0, F.claim(), { owner: nobody.address });
  F.assertTx(r, { from: ctx.registry, to: ctx.providerOf(nobody.address), success: false });
  F.assertTx(r, { from: ctx.registry, to: ctx.oracleWallets[0].address, op: Op.RefundBounced, success: true });
});

test('registry rejects votes from non-oracles, for unknown measurements, bad validity and low value', async () => {
  const ctx = await F.setup();
  const { registry, stranger } = ctx;
  await F.assertRejected(ctx, registry, Errors.NotOracle, () =>
    stranger.send({ to: registry, value: toNano('0.1'), body: M.submitOracleVote({ providerOwner: ctx.owner.address, claim: F.claim() }) }));
  await F.assertRejected(ctx, registry, Errors.MeasurementNotAllowed, () => F.vote(ctx, 0, F.claim({ measurementHash: 12345n })));
  await F.assertRejected(ctx, registry, Errors.AttestationExpired, () => F.vote(ctx, 0, F.claim({ validUntil: F.NOW })));
  await F.assertRejected(ctx, registry, Errors.AttestationTooLong, () =>
    F.vote(ctx, 0, F.claim({ validUntil: F.NOW + ctx.params.maxAttestationLifetime + 1 })));
  F.assertTx(await F.vote(ctx, 0, F.claim({ validUntil: F.NOW + ctx.params.maxAttestationLifetime })), { to: ctx.provider, success: true });
  await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => F.vote(ctx, 1, F.claim(), { value: toNano('0.005') }));
  // a revoked measurement is no longer accepted
  await ctx.gov.send({ to: registry, value: toNano('0.05'), body: M.revokeMeasurement({ measurementHash: F.TDX }) });
  await F.assertRejected(ctx, registry, Errors.MeasurementNotAllowed, () => F.vote(ctx, 1, F.claim()));
});

test('a removed oracle can no longer vote', async () => {
  const ctx = await F.setup();
  await ctx.gov.send({ to: ctx.registry, value: toNano('0.05'), body: M.removeOracle({ wallet: ctx.oracleWallets[2].address }) });
  await F.assertRejected(ctx, ctx.registry, Errors.NotOracle, () => F.vote(ctx, 2, F.claim()));
});

test('votes carry fresh registry params to the provider', async () => {
  const ctx = await F.setup();
  const { bc, gov, registry, provider, treasury } = ctx;
  const params = L.defaultRegistryParams(treasury.address, { minProviderStake: toNano('15'), unbondingPeriod: 3600 });
  F.assertTx(await gov.send({ to: registry, value: toNano('0.05'), body: M.updateParams({ params }) }), { to: registry, success: true });
  await F.vote(ctx, 0, F.claim());
  const p = await L.getProviderParams(bc, provider);
  assert.equal(p.minStake, toNano('15'));
  assert.equal(p.unbondingPeriod, 3600);
});
