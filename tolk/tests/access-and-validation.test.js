// Table-driven checks over every operation: wrong sender, too little value and malformed (truncated)
// bodies are rejected with the exact exit code, leaving state and balance unchanged.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano, beginCell } = require('@ton/core');
const F = require('./lib/fixture');
const M = require('./lib/messages');
const { Errors, Op } = require('./lib/protocol');

// Every message a user can send, with a valid body for the fixture's state.
function registryOps(ctx) {
  const o = ctx.owner.address;
  return {
    ProposeGovernance: { body: M.proposeGovernance({ newGovernance: o }), by: 'gov' },
    UpdateParams: { body: M.updateParams({ params: ctx.params }), by: 'gov' },
    AddMeasurement: { body: M.addMeasurement({ measurementHash: 5n, kind: 1 }), by: 'gov' },
    RevokeMeasurement: { body: M.revokeMeasurement({ measurementHash: F.TDX }), by: 'gov' },
    AddModel: { body: M.addModel({ modelId: 1, weightsHash: 1n, name: 'm' }), by: 'gov' },
    UpdateModel: { body: M.updateModel({ modelId: 1, weightsHash: 1n, name: 'm' }), by: 'gov', skipValue: true },
    RemoveModel: { body: M.removeModel({ modelId: 1 }), by: 'gov', skipValue: true },
    AddOracle: { body: M.addOracle({ wallet: o, publicKey: 1n }), by: 'gov' },
    RemoveOracle: { body: M.removeOracle({ wallet: ctx.oracleWallets[0].address }), by: 'gov' },
    SlashProvider: { body: M.slashProvider({ providerOwner: o, amount: 1n, evidenceDigest: 1n }), by: 'gov' },
    JailProvider: { body: M.jailProvider({ providerOwner: o, until: F.NOW + 60 }), by: 'gov' },
    UnjailProvider: { body: M.unjailProvider({ providerOwner: o }), by: 'gov' },
    WithdrawRegistrySurplus: { body: M.withdrawRegistrySurplus({}), by: 'gov' },
    SubmitOracleVote: { body: M.submitOracleVote({ providerOwner: o, claim: F.claim() }), by: 'oracle' },
    SubmitUptimeRoot: { body: M.submitUptimeRoot({ epoch: 1, root: 1n, providerCount: 1 }), by: 'oracle' },
    RegisterProvider: { body: M.registerProvider({ stakeAmount: toNano('10') }), by: 'anyone' },
  };
}

function providerOps() {
  return {
    SetEndpoint: M.setEndpoint({ endpoint: 'https://a.example' }),
    SetModelPrice: M.setModelPrice({ modelId: 1, promptPricePerMillion: 1n, completionPricePerMillion: 2n }),
    RemoveModelPrice: M.removeModelPrice({ modelId: 1 }),
    AddStake: M.addStake({ amount: toNano('1') }),
    RequestUnstake: M.requestUnstake({ amount: toNano('1') }),
    WithdrawUnbonded: M.withdrawUnbonded({}),
    PauseProvider: M.pauseProvider({}),
    ResumeProvider: M.resumeProvider({}),
    ExitProvider: M.exitProvider({}),
  };
}

// The body cut right after its opcode: every message has at least a queryId after it.
const truncated = (op) => beginCell().storeUint(op, 32).storeUint(0, 16).endCell();

test('registry: wrong sender, too little value, truncated body for every operation', async () => {
  const ctx = await F.setup();
  const { registry, stranger, gov } = ctx;
  for (const [name, { body, by, skipValue }] of Object.entries(registryOps(ctx))) {
    if (by === 'gov') {
      await F.assertRejected(ctx, registry, Errors.NotGovernance, () => stranger.send({ to: registry, value: toNano('1'), body }));
      // the owner (a provider's owner) is no better than a stranger
      await F.assertRejected(ctx, registry, Errors.NotGovernance, () => ctx.owner.send({ to: registry, value: toNano('1'), body }));
    }
    if (by === 'oracle') {
      await F.assertRejected(ctx, registry, Errors.NotOracle, () => gov.send({ to: registry, value: toNano('1'), body }));
    }
    const sender = by === 'oracle' ? ctx.oracleWallets[0] : by === 'gov' ? gov : ctx.owner;
    if (!skipValue) {
      // enough gas to reach the check, less than the operation needs
      const low = name === 'RegisterProvider' ? toNano('10.003')
        : ['SlashProvider', 'JailProvider', 'UnjailProvider', 'SubmitOracleVote'].includes(name) ? toNano('0.005') : toNano('0.0029');
      await F.assertRejected(ctx, registry, Errors.NotEnoughValue, () => sender.send({ to: registry, value: low, body }), { from: sender.address, noLoss: true });
    }
    const op = body.beginParse().preloadUint(32);
    assert.equal(op, Op[name]);
    await F.assertRejected(ctx, registry, 9, () => sender.send({ to: registry, value: toNano('1'), body: truncated(op) }), { from: sender.address });
  }
});

test('provider: wrong sender, too little value, truncated body for every owner operation', async () => {
  const ctx = await F.setup();
  const { provider, stranger, gov, owner } = ctx;
  for (const [name, body] of Object.entries(providerOps())) {
    for (const who of [stranger, gov]) {
      await F.assertRejected(ctx, provider, Errors.NotOwner, () => who.send({ to: provider, value: toNano('2'), body }));
    }
    await F.assertRejected(ctx, provider, Errors.NotEnoughValue, () => owner.send({ to: provider, value: toNano('0.003'), body }), { noLoss: true });
    const op = body.beginParse().preloadUint(32);
    assert.equal(op, Op[name]);
    // fields load lazily: a queryId-only message may meet a state check before it reads its queryId
    const code = { WithdrawUnbonded: Errors.NothingToWithdraw, ResumeProvider: Errors.InvalidStatus }[name] ?? 9;
    await F.assertRejected(ctx, provider, code, () => owner.send({ to: provider, value: toNano('2'), body: truncated(op) }));
  }
});

test('registry: governance forwards for an owner without a provider are refunded to governance', async () => {
  const ctx = await F.setup();
  const nobody = (await ctx.bc.treasury('nobody')).address;
  for (const body of [
    M.jailProvider({ providerOwner: nobody, until: F.NOW + 60 }),
    M.unjailProvider({ providerOwner: nobody }),
    M.slashProvider({ providerOwner: nobody, amount: 1n, evidenceDigest: 1n }),
  ]) {
    const before = await F.state(ctx.bc, ctx.registry);
    const r = await ctx.gov.send({ to: ctx.registry, value: toNano('0.1'), body });
    const refund = F.assertTx(r, { from: ctx.registry, to: ctx.gov.address, op: Op.RefundBounced, success: true });
    assert.ok(refund.inMessage.info.value.coins > toNano('0.09'));
    assert.equal((await F.state(ctx.bc, ctx.registry)).balance, before.balance);
  }
});
