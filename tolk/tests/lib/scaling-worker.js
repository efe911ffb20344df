// Worker for gas.test.js: registers `extra` providers (besides the fixture's one) and reports the
// registry gas of the operations that could depend on the number of providers.
'use strict';
const { parentPort, workerData } = require('worker_threads');
const { toNano } = require('@ton/core');
const { internal } = require('@ton/sandbox');
const F = require('./fixture');
const M = require('./messages');
const { Op } = require('./protocol');

function gasOf(result, to, op) {
  const tx = F.assertTx(result, { to, op, success: true });
  return Number(tx.description.computePhase.gasUsed);
}

// Registry gas of the operations that could depend on provider count, after `extra` registrations.
// The slim sandbox config (same gas prices, smaller config cell) makes 3,000 transactions affordable.
async function registryGasWith(extra) {
  const ctx = await F.setup({ register: true, config: 'slim' });
  const { bc, registry, gov, owner } = ctx;
  const before = (await F.state(bc, registry)).dataHash;
  for (let i = 0; i < extra; i++) {
    const from = F.syntheticAddress(i);
    const r = await bc.sendMessage(internal({ from, to: registry, value: toNano('10.2'), body: M.registerProvider({ stakeAmount: toNano('10') }) }));
    F.assertTx(r, { from: registry, to: ctx.providerOf(from), success: true });
  }
  // registrations never touch registry storage
  if ((await F.state(bc, registry)).dataHash !== before) throw new Error('registry data changed by registrations');
  const newcomer = await bc.treasury('newcomer');
  const out = {};
  out.register = gasOf(await F.registerProvider(ctx, newcomer, toNano('10')), registry, Op.RegisterProvider);
  out.vote = gasOf(await F.vote(ctx, 0, F.claim()), registry, Op.SubmitOracleVote);
  out.uptime = gasOf(await ctx.oracleWallets[0].send({ to: registry, value: toNano('0.05'),
    body: M.submitUptimeRoot({ epoch: 1, root: 1n, providerCount: extra + 1 }) }), registry, Op.SubmitUptimeRoot);
  out.slash = gasOf(await gov.send({ to: registry, value: toNano('0.1'),
    body: M.slashProvider({ providerOwner: owner.address, amount: 1n, evidenceDigest: 1n }) }), registry, Op.SlashProvider);
  out.jail = gasOf(await gov.send({ to: registry, value: toNano('0.1'),
    body: M.jailProvider({ providerOwner: owner.address, until: F.NOW + 60 }) }), registry, Op.JailProvider);
  out.admin = gasOf(await gov.send({ to: registry, value: toNano('0.1'),
    body: M.addMeasurement({ measurementHash: 99n, kind: 1 }) }), registry, Op.AddMeasurement);
  return { gas: out, providers: extra + 1 };
}


registryGasWith(workerData.extra).then((r) => parentPort.postMessage(r));
