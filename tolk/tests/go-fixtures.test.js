// Shared fixtures for the Go bindings (contracts/*.go): every message encoded with fixed field
// values by the JS helpers in tests/lib, a registry deployed and a provider registered in
// @ton/sandbox, and the raw get-method stacks and account data the contracts produced.
//
// REWRITE_FIXTURES=1 writes contracts/testdata/fixtures.json; otherwise the test recomputes
// everything and fails when the committed file differs, so a layout change on the Tolk side
// cannot land without the fixture (and therefore the Go test reading it) changing too.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Blockchain } = require('@ton/sandbox');
const { Address, beginCell, toNano } = require('@ton/core');

const { bocHex, toJson, stackJson } = require('./lib/fixture-json');
const M = require('./lib/messages');
const C = require('./lib/contracts');
const { Op, NetworkKind, MeasurementKind } = require('./lib/protocol');

const FIXTURE = path.join(__dirname, '..', '..', 'contracts', 'testdata', 'fixtures.json');
const NOW = 1_800_000_000;

// ---------------------------------------------------------------- fixed values

// Distinct byte patterns so that a swapped, shifted or truncated field shows up as a diff.
const addr = (wc, byte) => new Address(wc, Buffer.alloc(32, byte));
const hash = (byte) => BigInt('0x' + byte.toString(16).padStart(2, '0').repeat(32));

const ADDR_A = addr(0, 0x11);
const ADDR_B = addr(0, 0x22);
const ADDR_MASTER = addr(-1, 0x33);
const QID = 0x0123456789abcdefn;
const providerParams = { minStake: 1_234_567_890_123n, unbondingPeriod: 604_800, treasury: addr(0, 0x44) };
const claim = { measurementHash: hash(0xa1), evidenceDigest: hash(0xb2), tlsKeyHash: hash(0xc3), validUntil: 0xfedcba98 };
const registryParams = {
  minProviderStake: 10_000_000_000n,
  unbondingPeriod: 0x01020304,
  protocolFeeBps: 250,
  treasury: addr(0, 0x55),
  challengePeriod: 86_400,
  oracleQuorum: 3,
  maxAttestationLifetime: 0x7fffffff,
};

// name → [helper, fields]. Every opcode in protocol.js must appear here (asserted below).
const MESSAGES = {
  ProposeGovernance: [M.proposeGovernance, { queryId: QID, newGovernance: ADDR_A }],
  AcceptGovernance: [M.acceptGovernance, { queryId: 1n }],
  UpdateParams: [M.updateParams, { queryId: 2n, params: registryParams }],
  AddMeasurement: [M.addMeasurement, { queryId: 3n, measurementHash: hash(0xa1), kind: MeasurementKind.Snp }],
  RevokeMeasurement: [M.revokeMeasurement, { queryId: 4n, measurementHash: hash(0xfe) }],
  AddModel: [M.addModel, { queryId: 5n, modelId: 0x80000001, weightsHash: hash(0x5a), name: M.textCell('llama-3.1-8b-instruct') }],
  UpdateModel: [M.updateModel, { queryId: 6n, modelId: 7, weightsHash: hash(0x6b), name: M.textCell('q'.repeat(64)) }],
  RemoveModel: [M.removeModel, { queryId: 7n, modelId: 0xffffffff }],
  AddOracle: [M.addOracle, { queryId: 8n, wallet: ADDR_MASTER, publicKey: hash(0x0f) }],
  RemoveOracle: [M.removeOracle, { queryId: 9n, wallet: ADDR_B }],
  SlashProvider: [M.slashProvider, { queryId: 10n, providerOwner: ADDR_A, amount: 1n, evidenceDigest: hash(0xd4) }],
  JailProvider: [M.jailProvider, { queryId: 11n, providerOwner: ADDR_B, until: NOW + 3600 }],
  UnjailProvider: [M.unjailProvider, { queryId: 12n, providerOwner: ADDR_A }],
  WithdrawRegistrySurplus: [M.withdrawRegistrySurplus, { queryId: 0xffffffffffffffffn }],
  RegisterProvider: [M.registerProvider, { queryId: 14n, stakeAmount: (1n << 119n) + 12345n }],
  SubmitOracleVote: [M.submitOracleVote, { queryId: 15n, providerOwner: ADDR_A, claim }],
  SubmitUptimeRoot: [M.submitUptimeRoot, { queryId: 33n, epoch: 0xfedcba98, root: hash(0x7b), providerCount: 0x01020304 }],
  ProviderRegistration: [M.providerRegistration, { queryId: 16n, owner: ADDR_B, stakeAmount: 10_000_000_000n, params: providerParams }],
  ForwardedOracleVote: [M.forwardedOracleVote, { queryId: 17n, oracleWallet: ADDR_MASTER, oracleSlot: 63, oracleEpoch: 0xfffffffe, quorum: 255, claim, params: providerParams }],
  ForwardedSlash: [M.forwardedSlash, { queryId: 18n, excessTo: ADDR_A, amount: 999n, evidenceDigest: hash(0xd4), params: providerParams }],
  ForwardedJail: [M.forwardedJail, { queryId: 19n, excessTo: ADDR_B, until: 0, params: providerParams }],
  SetEndpoint: [M.setEndpoint, { queryId: 20n, endpoint: M.textCell('https://gpu-7.example.org:8443/v1') }],
  SetModelPrice: [M.setModelPrice, { queryId: 21n, modelId: 1, promptPricePerMillion: 150_000_000n, completionPricePerMillion: 0n }],
  RemoveModelPrice: [M.removeModelPrice, { queryId: 22n, modelId: 2 }],
  AddStake: [M.addStake, { queryId: 23n, amount: 5_000_000_000n }],
  RequestUnstake: [M.requestUnstake, { queryId: 24n, amount: 255n }],
  WithdrawUnbonded: [M.withdrawUnbonded, { queryId: 25n }],
  PauseProvider: [M.pauseProvider, { queryId: 26n }],
  ResumeProvider: [M.resumeProvider, { queryId: 27n }],
  ExitProvider: [M.exitProvider, { queryId: 28n }],
  ReturnExcess: [M.returnExcess, { queryId: 29n }],
  RefundBounced: [M.refundBounced, { queryId: 30n }],
  SlashedStake: [M.slashedStake, { queryId: 31n, providerOwner: ADDR_A, evidenceDigest: hash(0xd4) }],
  StakeWithdrawn: [M.stakeWithdrawn, { queryId: 32n, amount: 123_456_789n }],
};

// ---------------------------------------------------------------- the scenario

function assertAllSucceeded(result, what) {
  for (const tx of result.transactions) {

    const d = tx.description;
    if (d.type !== 'generic') continue;
    // A skipped compute phase is a delivery to an account without code (it bounces by design).
    const ok = d.computePhase.type === 'skipped' || (!d.aborted && d.computePhase.success);
    const exit = d.computePhase.type === 'vm' ? d.computePhase.exitCode : 'skipped';
    assert.ok(ok, `${what}: transaction on ${tx.inMessage?.info.dest} failed (exit code ${exit})`);
  }
}

async function scenario() {
  const bc = await Blockchain.create();
  bc.now = NOW;
  const governance = await bc.treasury('governance');
  const owner = await bc.treasury('provider-owner');
  const oracle = await bc.treasury('oracle');
  const treasury = await bc.treasury('treasury');

  const params = C.defaultRegistryParams(treasury.address, { oracleQuorum: 1 });
  const deployed = await C.deployRegistry(bc, governance, { governance: governance.address, networkKind: NetworkKind.Devnet, params });
  assertAllSucceeded(deployed.result, 'deploy registry');
  const registry = deployed.address;
  const initData = C.registryData({ governance: governance.address, networkKind: NetworkKind.Devnet, params, providerCode: deployed.providerCode });

  // Scenario inputs; the Go test reads them back from the fixture to check what it decodes.
  const inputs = {
    measurement: { measurementHash: hash(0x3c), kind: MeasurementKind.Sim },
    model: { modelId: 1, weightsHash: hash(0x9d), name: 'llama-3.1-8b' },
    oracle: { wallet: oracle.address, publicKey: hash(0x7e) },
    stakeAmount: toNano('10'),
    endpoint: 'https://provider.example:8443',
    price: { modelId: 1, promptPricePerMillion: 100_000_000n, completionPricePerMillion: 300_000_000n },
    claim: { measurementHash: hash(0x3c), evidenceDigest: hash(0xe1), tlsKeyHash: hash(0xf2), validUntil: NOW + 3600 },
    uptime: { epoch: 490_000, root: hash(0x6d), providerCount: 3 },
  };
  const steps = [
    [governance, registry, toNano('0.1'), M.addMeasurement({ queryId: 1n, ...inputs.measurement })],
    [governance, registry, toNano('0.1'), M.addModel({ queryId: 2n, ...inputs.model })],
    [governance, registry, toNano('0.1'), M.addOracle({ queryId: 3n, ...inputs.oracle })],
    [owner, registry, toNano('10.5'), M.registerProvider({ queryId: 4n, stakeAmount: inputs.stakeAmount })],
  ];
  // Bodies the contracts themselves send, first of each opcode: the Go test decodes them.
  const sent = new Map();
  const run = async ([from, to, value, body]) => {
    const result = await from.send({ to, value, body });
    assertAllSucceeded(result, `op ${body.beginParse().loadUint(32).toString(16)}`);
    for (const tx of result.transactions) {
      for (const out of tx.outMessages.values()) {
        if (out.info.type !== 'internal' || !(out.info.src.equals(registry) || (provider && out.info.src.equals(provider)))) continue;
        const op = out.body.bits.length >= 32 ? out.body.beginParse().preloadUint(32) : null;
        if (op !== null && !sent.has(op)) sent.set(op, { from: out.info.src.equals(registry) ? 'registry' : 'provider', boc: bocHex(out.body) });
      }
    }
  };
  let provider = null;
  for (const step of steps) await run(step);
  provider = await C.getProviderAddress(bc, registry, owner.address);
  assert.ok(provider.equals(C.providerAddress(owner.address, registry, deployed.providerCode)), 'JS provider address derivation');
  const providerState = (await bc.getContract(provider)).accountState;
  assert.equal(providerState?.type, 'active', 'provider deployed at the derived address');

  const ownerSteps = [
    [owner, provider, toNano('0.1'), M.setEndpoint({ queryId: 5n, endpoint: inputs.endpoint })],
    [owner, provider, toNano('0.1'), M.setModelPrice({ queryId: 6n, ...inputs.price })],
    [oracle, registry, toNano('0.2'), M.submitOracleVote({ queryId: 7n, providerOwner: owner.address, claim: inputs.claim })],
    [oracle, registry, toNano('0.05'), M.submitUptimeRoot({ queryId: 14n, ...inputs.uptime })],
  ];
  for (const step of ownerSteps) await run(step);
  const measurement = inputs.measurement.measurementHash;

  const data = async (a) => {
    const st = (await bc.getContract(a)).accountState;
    assert.equal(st?.type, 'active');
    return bocHex(st.state.data);
  };
  const slice = (a) => ({ type: 'slice', cell: beginCell().storeAddress(a).endCell() });
  const int = (n) => ({ type: 'int', value: BigInt(n) });
  const getters = [
    [registry, 'get_registry_data', []],
    [registry, 'get_registry_params', []],
    [registry, 'get_provider_address', [slice(owner.address)]],
    [registry, 'get_measurement_kind', [int(measurement)]],
    [registry, 'get_measurement_kind', [int(hash(0x01))]],
    [registry, 'get_model', [int(1)]],
    [registry, 'get_model', [int(2)]],
    [registry, 'get_oracle', [slice(oracle.address)]],
    [registry, 'get_oracle', [slice(owner.address)]],
    [registry, 'get_measurements', []],
    [registry, 'get_models', []],
    [registry, 'get_oracles', []],
    [registry, 'get_uptime_root', [slice(oracle.address)]],
    [registry, 'get_uptime_root', [slice(owner.address)]],
    [registry, 'get_codes', []],
    [registry, 'get_register_fee', [int(toNano('10'))]],
    [provider, 'get_provider_data', []],
    [provider, 'get_provider_params', []],
    [provider, 'get_profile', []],
    [provider, 'get_model_price', [int(1)]],
    [provider, 'get_model_price', [int(9)]],
    [provider, 'get_attestation', []],
    [provider, 'is_attested', []],
    [provider, 'get_usage', []],
  ];
  const getterOut = [];
  for (const [at, method, args] of getters) {
    const r = await bc.runGetMethod(at, method, args);
    assert.ok(r.exitCode === 0 || r.exitCode === 1, `${method}: exit code ${r.exitCode}`);
    getterOut.push({
      contract: at.equals(registry) ? 'registry' : 'provider',
      method,
      args: stackJson(args),
      stack: stackJson(r.stack),
    });
  }

  const registryData = await data(registry);
  const providerData = await data(provider);

  // Phase 2, after the state above is recorded: make the contracts send every other message.
  const strangerOwner = addr(0, 0x99); // has no provider: the forwarded slash bounces → RefundBounced
  const phase2 = [
    [governance, registry, toNano('0.2'), M.jailProvider({ queryId: 8n, providerOwner: owner.address, until: NOW + 600 })],
    [governance, registry, toNano('0.2'), M.unjailProvider({ queryId: 9n, providerOwner: owner.address })],
    [governance, registry, toNano('0.2'), M.slashProvider({ queryId: 10n, providerOwner: owner.address, amount: toNano('1'), evidenceDigest: hash(0xd4) })],
    [governance, registry, toNano('0.2'), M.slashProvider({ queryId: 11n, providerOwner: strangerOwner, amount: toNano('1'), evidenceDigest: hash(0xd4) })],
    [owner, provider, toNano('0.1'), M.exitProvider({ queryId: 12n })],
  ];
  for (const step of phase2) await run(step);
  bc.now = NOW + params.unbondingPeriod + 1;
  await run([owner, provider, toNano('0.1'), M.withdrawUnbonded({ queryId: 13n })]);
  const sentByContracts = [...sent.entries()]
    .sort(([a], [b]) => a - b)
    .map(([op, m]) => ({ opcode: '0x' + op.toString(16).padStart(8, '0'), ...m }));
  const expectSent = ['ProviderRegistration', 'ForwardedOracleVote', 'ForwardedSlash', 'ForwardedJail', 'ReturnExcess', 'RefundBounced', 'SlashedStake', 'StakeWithdrawn'];
  assert.deepEqual([...sent.keys()].sort(), expectSent.map((n) => Op[n]).sort(), 'messages the contracts sent');

  return {
    now: NOW,
    governance: governance.address.toRawString(),
    treasury: treasury.address.toRawString(),
    owner: owner.address.toRawString(),
    oracle: oracle.address.toRawString(),
    networkKind: NetworkKind.Devnet,
    registryParams: toJson(params),
    registryCodeHash: deployed.code.hash().toString('hex'),
    providerCodeHash: deployed.providerCode.hash().toString('hex'),
    registryInitData: bocHex(initData),
    registry: registry.toRawString(),
    provider: provider.toRawString(),
    inputs: toJson(inputs),
    registryData,
    providerData,
    getters: getterOut,
    sentByContracts,
  };
}

async function buildFixtures() {
  const messages = Object.entries(MESSAGES).map(([name, [helper, fields]]) => {
    const body = helper(fields);
    assert.equal(body.beginParse().loadUint(32), Op[name], `${name}: helper writes opcode ${Op[name]}`);
    return { name, opcode: '0x' + Op[name].toString(16).padStart(8, '0'), fields: toJson(fields), boc: bocHex(body) };
  });
  return {
    comment: 'Generated by tolk/tests/go-fixtures.test.js (REWRITE_FIXTURES=1 to regenerate); read by contracts/fixtures_test.go.',
    messages,
    sandbox: await scenario(),
  };
}

test('every opcode has a fixture message', () => {
  assert.deepEqual(Object.keys(MESSAGES).sort(), Object.keys(Op).sort());
});

test('Go fixtures match the contracts', async () => {
  const fixtures = await buildFixtures();
  const text = JSON.stringify(fixtures, null, 2) + '\n';
  if (process.env.REWRITE_FIXTURES === '1') {
    fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
    fs.writeFileSync(FIXTURE, text);
    return;
  }
  assert.ok(fs.existsSync(FIXTURE), `${FIXTURE} is missing: run REWRITE_FIXTURES=1 node --test tests/go-fixtures.test.js`);
  const committed = JSON.parse(fs.readFileSync(FIXTURE, 'utf-8'));
  assert.deepEqual(JSON.parse(text), committed, 'contracts/testdata/fixtures.json is stale: rerun with REWRITE_FIXTURES=1 and update the Go bindings');
});
