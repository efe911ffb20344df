// Invariants under a long deterministic pseudo-random sequence of operations by owners, oracles,
// governance and strangers, with time moving forward:
//  - a provider's balance always covers stake + unbonding (stake never leaves unaccounted);
//  - unbonding stake is only ever paid out at or after its unlock time, and only to the owner;
//  - the contracts never pay out more than they received, and no owner gets back more than it (or
//    strangers topping its provider up) put in;
//  - at the end everything can be withdrawn: nothing but the storage reserve stays stuck.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { Op, ProviderStatus } = require('./lib/protocol');

// xorshift32: deterministic, seedable
function rng(seed) {
  let x = seed >>> 0;
  return (n) => {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    return x % n;
  };
}

test('random operation sequence keeps every money invariant', async () => {
  const ctx = await F.setup({ register: false, quorum: 2 });
  const { bc, gov, registry, stranger, treasury } = ctx;
  const owners = [ctx.owner, await bc.treasury('owner-b')];
  const providers = owners.map((o) => ctx.providerOf(o.address));
  const contracts = [registry, ...providers];
  const isContract = (a) => contracts.some((c) => c.equals(a));
  const flows = { in: 0n, out: 0n, ownerIn: [0n, 0n], ownerOut: [0n, 0n] };
  const seen = { withdrawals: 0, slashes: 0, rejected: 0 };
  const rand = rng(20261126);

  // Per provider: what unbonding/unlock it had before each step.
  async function snapshot(i) {
    const acc = await bc.getContract(providers[i]);
    if (acc.accountState?.type !== 'active') return null;
    return L.getProviderData(bc, providers[i]);
  }

  function account(result, before) {
    for (const tx of result.transactions) {
      const info = tx.inMessage?.info;
      if (!info || info.type !== 'internal') continue;
      const v = info.value.coins;
      if (isContract(info.dest) && tx.description.aborted) seen.rejected++;
      if (tx.inMessage.body.bits.length >= 32 && tx.inMessage.body.beginParse().preloadUint(32) === Op.SlashedStake) seen.slashes++;
      if (isContract(info.dest) && !isContract(info.src)) {
        flows.in += v;
        owners.forEach((o, i) => {
          if (info.src.equals(o.address) || (info.src.equals(stranger.address) && info.dest.equals(providers[i]))) flows.ownerIn[i] += v;
        });
      }
      if (isContract(info.src) && !isContract(info.dest)) {
        flows.out += v;
        owners.forEach((o, i) => { if (info.dest.equals(o.address)) flows.ownerOut[i] += v; });
        // unbonding stake leaves only as StakeWithdrawn to the owner, after unlock
        const pi = providers.findIndex((p) => p.equals(info.src));
        if (pi >= 0 && tx.inMessage.body.bits.length >= 32 && tx.inMessage.body.beginParse().preloadUint(32) === Op.StakeWithdrawn) {
          assert.ok(info.dest.equals(owners[pi].address), 'stake paid to someone other than the owner');
          assert.ok(before[pi] && before[pi].unbondingAmount > 0n, 'withdrawal without unbonding stake');
          assert.ok(bc.now >= before[pi].unlockAt, `withdrawal at ${bc.now} before unlock ${before[pi].unlockAt}`);
          seen.withdrawals++;
        }
      }
    }
  }

  async function check() {
    for (let i = 0; i < providers.length; i++) {
      const d = await snapshot(i);
      if (!d) continue;
      const { balance } = await F.state(bc, providers[i]);
      assert.ok(balance >= d.stake + d.unbondingAmount, `provider ${i}: balance ${balance} < stake ${d.stake} + unbonding ${d.unbondingAmount}`);
    }
    assert.ok(flows.out <= flows.in, 'contracts paid out more than they received');
    for (let i = 0; i < owners.length; i++) assert.ok(flows.ownerOut[i] <= flows.ownerIn[i], `owner ${i} got back more than it put in`);
  }

  const amount = () => toNano(String(1 + rand(8)));
  const ops = [
    (i) => F.registerProvider(ctx, owners[i], toNano('10') + BigInt(rand(3)) * toNano('1')),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05') + BigInt(rand(2)) * toNano('3'), body: M.addStake({ amount: amount() }) }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.requestUnstake({ amount: amount() }) }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.withdrawUnbonded({}) }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.pauseProvider({}) }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.resumeProvider({}) }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.exitProvider({}) }),
    (i) => F.vote(ctx, rand(3), F.claim({ evidenceDigest: BigInt(1 + rand(2)), validUntil: bc.now + 3600 }), { owner: owners[i].address }),
    (i) => gov.send({ to: registry, value: toNano('0.1'), body: M.slashProvider({ providerOwner: owners[i].address, amount: amount(), evidenceDigest: 7n }) }),
    (i) => gov.send({ to: registry, value: toNano('0.1'), body: M.jailProvider({ providerOwner: owners[i].address, until: bc.now + 1 + rand(3 * 24 * 3600) }) }),
    (i) => gov.send({ to: registry, value: toNano('0.1'), body: M.unjailProvider({ providerOwner: owners[i].address }) }),
    (i) => stranger.send({ to: providers[i], value: toNano('0.5') }),
    (i) => owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.setEndpoint({ endpoint: `https://p${i}.example` }) }),
  ];

  for (let step = 0; step < 160; step++) {
    bc.now += rand(4) === 0 ? rand(ctx.params.unbondingPeriod + 3600) : rand(600);
    const i = rand(owners.length);
    const before = await Promise.all(providers.map((_, k) => snapshot(k)));
    const result = await ops[step < 2 ? 0 : rand(ops.length)](step < 2 ? step : i);
    account(result, before);
    await check();
  }

  // the sequence must have exercised the interesting paths, or the invariants prove little
  assert.ok(seen.withdrawals >= 2 && seen.slashes >= 2 && seen.rejected >= 10, JSON.stringify(seen));

  // Wind down: unjail, exit, wait, withdraw. Only the storage reserve may remain.
  for (let i = 0; i < owners.length; i++) {
    if (!(await snapshot(i))) continue;
    account(await gov.send({ to: registry, value: toNano('0.1'), body: M.unjailProvider({ providerOwner: owners[i].address }) }), []);
    const d = await snapshot(i);
    // an exiting provider re-staked below the minimum (or while jailed) stays exiting: its stake leaves by unstaking
    const body = d.status === ProviderStatus.Exiting ? M.requestUnstake({ amount: d.stake }) : M.exitProvider({});
    if (d.stake > 0n) account(await owners[i].send({ to: providers[i], value: toNano('0.05'), body }), [d]);
  }
  bc.now += ctx.params.unbondingPeriod + 1;
  for (let i = 0; i < owners.length; i++) {
    const d = await snapshot(i);
    if (!d) continue;
    if (d.unbondingAmount > 0n) {
      const r = await owners[i].send({ to: providers[i], value: toNano('0.05'), body: M.withdrawUnbonded({}) });
      F.assertTx(r, { to: providers[i], success: true });
      account(r, [i === 0 ? d : null, i === 1 ? d : null]);
    }
    const after = await L.getProviderData(bc, providers[i]);
    assert.deepEqual([after.stake, after.unbondingAmount], [0n, 0n]);
    assert.ok((await F.state(bc, providers[i])).balance <= toNano('0.02'), 'more than the storage reserve stuck in a provider');
  }
  const r = await gov.send({ to: registry, value: toNano('0.05'), body: M.withdrawRegistrySurplus({}) });
  F.assertTx(r, { to: treasury.address, success: true });
  assert.ok((await F.state(bc, registry)).balance <= toNano('0.02'), 'more than the storage reserve stuck in the registry');
  await check();
});
