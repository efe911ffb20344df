// Oracle votes: registry checks, routing, one vote per oracle, quorum, the confirmed validUntil (the
// quorum-th largest), rounds, expiry, oracle slots and epochs, bounce refunds. The attacks on the
// attestation rule (a minority shortening, cancelling or stalling a quorum) are in attacks.test.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Errors, Op } = require('./lib/protocol');

const slots = (a) => a.votes.map((v) => v.slot).sort();

test('two of three oracles attest a provider; the third vote for the same claim keeps the quorum-th largest validUntil', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, registry, provider, oracleWallets } = ctx;
  const c = F.claim();
  let r = await F.vote(ctx, 0, c);
  F.assertTx(r, { from: registry, to: provider, op: Op.ForwardedOracleVote, success: true });
  F.assertTx(r, { from: provider, to: oracleWallets[0].address, op: Op.ReturnExcess, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.equal(a.attested, false);
  assert.deepEqual(a.votes, [{ validUntil: c.validUntil, slot: 0, claimHash: L.claimHash(c), round: 0 }]);
  assert.equal(await L.isAttested(bc, provider), false);

  r = await F.vote(ctx, 1, c);
  F.assertTx(r, { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual(
    [a.attested, a.measurementHash, a.evidenceDigest, a.tlsKeyHash, a.validUntil, a.attestedAt, a.round, slots(a)],
    [true, c.measurementHash, c.evidenceDigest, c.tlsKeyHash, c.validUntil, F.NOW, 1, [0, 1]],
  );
  assert.equal(await L.isAttested(bc, provider), true);

  // a shorter third vote: the 2nd largest of (c, c, c - 100) is still c
  r = await F.vote(ctx, 2, { ...c, validUntil: c.validUntil - 100 });
  F.assertTx(r, { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual([slots(a), a.validUntil], [[0, 1, 2], c.validUntil]);
  // when oracle 1 re-votes shorter too, two votes stand at c - 100 or less: the confirmed validUntil stays
  // (it is never lowered), and the confirmed attestation ends at its own validUntil
  F.assertTx(await F.vote(ctx, 1, { ...c, validUntil: c.validUntil - 200 }), { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual([slots(a), a.validUntil], [[0, 1, 2], c.validUntil]);
  bc.now = c.validUntil;
  assert.equal(await L.isAttested(bc, provider), false, 'expired at validUntil');
});

test('a quorum extends the confirmed claim: the quorum-th largest of the new votes', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, provider } = ctx;
  const c = F.claim({ validUntil: F.NOW + 3600 });
  await F.vote(ctx, 0, c);
  await F.vote(ctx, 1, c);
  bc.now = F.NOW + 1800;
  F.assertTx(await F.vote(ctx, 0, { ...c, validUntil: bc.now + 7200 }), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).validUntil, F.NOW + 3600, 'one oracle does not extend it');
  F.assertTx(await F.vote(ctx, 2, { ...c, validUntil: bc.now + 3600 }), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.validUntil, a.attestedAt, a.round], [bc.now + 3600, bc.now, 1]);
});

test('a quorum for another claim replaces the confirmed attestation; until then it stays', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, provider } = ctx;
  const first = F.claim({ evidenceDigest: 0x111n });
  await F.vote(ctx, 0, first);
  await F.vote(ctx, 1, first);
  const renewal = F.claim({ evidenceDigest: 0x222n, validUntil: F.NOW + 7200 });
  F.assertTx(await F.vote(ctx, 0, renewal), { to: provider, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.evidenceDigest], [true, 0x111n]);
  // oracle 0's vote moved: one vote each now
  assert.deepEqual(a.votes.map((v) => [v.slot, v.claimHash === L.claimHash(renewal)]), [[0, true], [1, false]]);
  F.assertTx(await F.vote(ctx, 2, renewal), { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.evidenceDigest, a.validUntil, a.round], [0x222n, F.NOW + 7200, 2]);

  // a different TLS key or measurement with the same digest is a different claim too
  F.assertTx(await F.vote(ctx, 0, { ...renewal, tlsKeyHash: 0x99n }), { to: provider, success: true });
  assert.equal((await L.getAttestation(bc, provider)).tlsKeyHash, renewal.tlsKeyHash);
});

test('an expired vote counts for nothing: the same claim after its validUntil needs a quorum again', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, provider } = ctx;
  await F.vote(ctx, 0, F.claim({ validUntil: F.NOW + 60 }));
  bc.now = F.NOW + 61;
  F.assertTx(await F.vote(ctx, 1, F.claim({ validUntil: F.NOW + 3600 })), { to: provider, success: true });
  let a = await L.getAttestation(bc, provider);
  assert.equal(a.attested, false);
  assert.deepEqual(slots(a), [0, 1], 'the expired vote stays until its oracle votes again');
  F.assertTx(await F.vote(ctx, 0, F.claim({ validUntil: F.NOW + 1800 })), { to: provider, success: true });
  a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.validUntil, slots(a)], [true, F.NOW + 1800, [0, 1]]);
});

test('quorum of one attests with a single vote', async () => {
  const ctx = await F.setup({ quorum: 1, oracles: 1 });
  await F.vote(ctx, 0, F.claim({ measurementHash: F.SIM }));
  assert.equal(await L.isAttested(ctx.bc, ctx.provider), true);
});

test('each oracle holds one vote: a repeated vote replaces its previous one', async () => {
  const ctx = await F.setup({ quorum: 3 });
  const { bc, provider } = ctx;
  for (let i = 0; i < 5; i++) F.assertTx(await F.vote(ctx, 0, F.claim({ validUntil: F.NOW + 100 + i })), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual(a.votes.map((v) => [v.slot, v.validUntil]), [[0, F.NOW + 104]]);
  assert.equal(a.attested, false);
});

test('oracle slots: the lowest free one, freed by RemoveOracle; a removal voids the votes cast before (epoch)', async () => {
  const ctx = await F.setup({ quorum: 2 });
  const { bc, gov, registry, provider, oracleWallets } = ctx;
  const G = (body) => gov.send({ to: registry, value: toNano('0.05'), body });
  await F.vote(ctx, 1, F.claim());
  await F.vote(ctx, 2, F.claim());
  assert.equal(await L.isAttested(bc, provider), true);
  F.assertTx(await G(M.removeOracle({ wallet: oracleWallets[1].address })), { to: registry, success: true });
  let d = await L.getRegistryData(bc, registry);
  assert.deepEqual([d.oracleCount, d.oracleEpoch], [2, 1]);
  const newcomer = await bc.treasury('oracle-new');
  F.assertTx(await G(M.addOracle({ wallet: newcomer.address, publicKey: 5n })), { to: registry, success: true });
  assert.deepEqual(await L.getOracle(bc, registry, newcomer.address), { found: true, publicKey: 5n, slot: 1 });
  // the next vote carries epoch 1: the votes of epoch 0 are void, the confirmed attestation stays
  F.assertTx(await F.vote(ctx, 0, F.claim()), { to: provider, success: true });
  const a = await L.getAttestation(bc, provider);
  assert.deepEqual([a.attested, a.oracleEpoch, slots(a)], [true, 1, [0]]);
  F.assertTx(await newcomer.send({ to: registry, value: toNano('0.1'), body: M.submitOracleVote({ providerOwner: ctx.owner.address, claim: F.claim() }) }), { to: provider, success: true });
  assert.deepEqual(slots(await L.getAttestation(bc, provider)), [0, 1]);
  d = await L.getRegistryData(bc, registry);
  assert.equal(d.oracleCount, 3);
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
