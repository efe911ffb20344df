// Getters of a fresh registry and provider return the documented defaults, and the raw dictionaries
// decode to what was stored.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { toNano, Dictionary } = require('@ton/core');
const F = require('./lib/fixture');
const L = require('./lib/contracts');
const M = require('./lib/messages');
const { ProviderStatus, NetworkKind } = require('./lib/protocol');

test('registry getters: data, codes, dictionaries', async () => {
  const ctx = await F.setup({ register: false, networkKind: NetworkKind.Testnet });
  const { bc, registry, gov } = ctx;
  const d = await L.getRegistryData(bc, registry);
  assert.ok(d.governance.equals(gov.address));
  assert.deepEqual([d.pendingGovernance, d.networkKind, d.oracleCount, d.modelCount, d.oracleEpoch], [null, NetworkKind.Testnet, 3, 0, 0]);
  const codes = await L.getCodes(bc, registry);
  assert.ok(codes.providerCode.equals(L.loadCode('provider')));
  assert.equal(codes.channelCode, null);
  const ms = await L.getMeasurements(bc, registry);
  assert.deepEqual([...ms.keys()].sort(), [F.TDX, F.SNP].sort());
  const os = await L.getOracles(bc, registry);
  assert.deepEqual(os.get(ctx.oracleWallets[1].address), { publicKey: F.oracleKey(1), slot: 1 });
  assert.deepEqual(await L.getOracle(bc, registry, ctx.oracleWallets[2].address), { found: true, publicKey: F.oracleKey(2), slot: 2 });
  assert.deepEqual(await L.getOracle(bc, registry, gov.address), { found: false, publicKey: 0n, slot: 0 });
  await gov.send({ to: registry, value: toNano('0.05'), body: M.addModel({ modelId: 7, weightsHash: 0x77n, name: 'seven' }) });
  const c = (await bc.runGetMethod(registry, 'get_models')).stackReader.readCellOpt();
  const models = Dictionary.loadDirect(Dictionary.Keys.Uint(32), {
    serialize: () => { throw new Error('read only'); },
    parse: (s) => ({ weightsHash: s.loadUintBig(256), name: s.loadRef().beginParse().loadBuffer(5).toString() }),
  }, c);
  assert.deepEqual(models.get(7), { weightsHash: 0x77n, name: 'seven' });
});

test('provider getters before and after registration', async () => {
  const ctx = await F.setup({ register: false });
  const { bc, owner, provider, registry } = ctx;
  await owner.send({ to: provider, value: toNano('0.1'), bounce: false,
    init: { code: L.loadCode('provider'), data: L.providerInitialData(owner.address, registry) } });
  assert.deepEqual(await L.getProviderParams(bc, provider), { minStake: 0n, unbondingPeriod: 0, treasury: null });
  assert.equal((await L.getProviderData(bc, provider)).status, ProviderStatus.Unregistered);
  assert.deepEqual(await L.getUsage(bc, provider), { promptTokens: 0n, completionTokens: 0n, earned: 0n });
  const a = await L.getAttestation(bc, provider);
  assert.equal(a.attested, false);
  assert.deepEqual([a.round, a.oracleEpoch, a.votes], [0, 0, []]);
  assert.equal(await L.isAttested(bc, provider), false);
  const p = await L.getProfile(bc, provider);
  assert.deepEqual([p.endpoint, p.modelCount, p.models.size], [null, 0, 0]);

  await F.registerProvider(ctx, owner, toNano('10'));
  await owner.send({ to: provider, value: toNano('0.05'), body: M.setModelPrice({ modelId: 3, promptPricePerMillion: 5n, completionPricePerMillion: 6n }) });
  const p2 = await L.getProfile(bc, provider);
  assert.deepEqual([p2.endpoint, p2.modelCount, p2.models.get(3)], [null, 1, { promptPricePerMillion: 5n, completionPricePerMillion: 6n }]);
  assert.deepEqual(await L.getUsage(bc, provider), { promptTokens: 0n, completionTokens: 0n, earned: 0n });
});
