// The JS protocol tables and builders of tests/lib against the compiler's ABI of the three contracts
// (contracts/build/*.abi.json): every opcode and signed-structure magic, every field of every message
// and storage layout (each builder's bytes equal the ABI's serialization of the same fields), every
// exit code, status and kind, and every getter's result fields. contracts/abi_test.go checks the Go
// bindings against the same files.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const { Address, beginCell, toNano } = require('@ton/core');
const { AbiSet, CONTRACT_NAMES } = require('./lib/abi');
const { Op, Errors, NetworkKind, MeasurementKind, ProviderStatus } = require('./lib/protocol');
const M = require('./lib/messages');
const L = require('./lib/contracts');
const C = require('./lib/channel');

const abi = new AbiSet();

// ---------------------------------------------------------------- sample values from ABI types

// Distinct, deterministic values for every field type; `nulls` picks null for every nullable field.
function sample(t, seed, nulls) {
  const n = BigInt(seed);
  switch (t.kind) {
    case 'intN': return -((n * 7919n) % (1n << BigInt(t.n - 1))) - 1n;
    case 'uintN': return 1n + ((n * 0x9e3779b97f4a7c15n) % ((1n << BigInt(t.n)) - 1n));
    case 'bitsN': return Buffer.alloc(t.n / 8, seed & 0xff);
    case 'coins': return 1000n + n * 1_000_003n;
    case 'bool': return true;
    case 'address': case 'addressOpt': return new Address(seed % 2 === 0 ? 0 : -1, Buffer.alloc(32, seed & 0xff));
    case 'cell': return beginCell().storeUint(seed, 16).endCell();
    case 'cellOf': case 'struct': return sampleStruct(t.inner?.name ?? t.name, seed * 31, nulls);
    case 'enum': return BigInt(abi.enums.get(t.name).members.at(-1)[1]);
    case 'map': return null;
    case 'nullable': return nulls ? null : sample(t.inner, seed, nulls);
    default: throw new Error(`no sample for ${t.kind}`);
  }
}

function sampleStruct(name, seed, nulls) {
  return Object.fromEntries(abi.struct(name).fields.map((f, i) => [f.name, sample(f.type, seed + i + 1, nulls)]));
}

const lowerFirst = (s) => s[0].toLowerCase() + s.slice(1);

// The lib builder of each ABI struct that has one: messages by their lowerCamel name, plus the
// signed structures and the storage and parameter cells.
function builders() {
  const out = {};
  for (const name of Object.keys(abi.prefixes())) {
    const b = M[lowerFirst(name)] ?? C[lowerFirst(name)];
    if (b) out[name] = b;
  }
  Object.assign(out, {
    Voucher: C.voucherCell,
    CloseRequest: C.closeRequestCell,
    RegistryParams: M.registryParamsCell,
    ProviderParams: M.providerParamsCell,
    AttestationClaim: M.attestationClaimCell,
    UptimeCommitment: M.uptimeCommitmentCell,
    ChannelStorage: C.channelStorageCell,
    ChannelSetup: C.channelSetupCell,
    ClosingState: C.closingStateCell,
  });
  return out;
}

// ---------------------------------------------------------------- tests

test('every opcode and signed-structure magic in the ABI equals lib/protocol.js and lib/channel.js', () => {
  const lib = { ...Op, ...C.ChannelOp, Voucher: C.VOUCHER_MAGIC, CloseRequest: C.CLOSE_REQUEST_MAGIC };
  assert.deepEqual(abi.prefixes(), lib);
  // every prefix is 32 bits and unique
  const prefixes = [...abi.structs.values()].filter((s) => s.prefix);
  for (const s of prefixes) assert.equal(s.prefix.prefix_len, 32, `${s.name} prefix length`);
  assert.equal(new Set(prefixes.map((s) => s.prefix.prefix_num)).size, prefixes.length, 'an opcode is reused');
});

test('every message builder writes each ABI field in order, at its width (values set and nullables null)', () => {
  const all = builders();
  // every message (prefixed struct) has a builder
  for (const name of Object.keys(abi.prefixes())) assert.ok(all[name], `no builder for ${name}`);
  for (const [name, build] of Object.entries(all)) {
    for (const nulls of [false, true]) {
      const fields = sampleStruct(name, name.length, nulls);
      const want = abi.cell(name, fields);
      assert.ok(build(fields).equals(want), `${name} (${nulls ? 'nullables null' : 'all set'}): builder differs from the ABI layout`);
    }
  }
});

test('storage builders (registry deploy data, provider and channel initial data) follow the ABI storage of each contract', () => {
  assert.deepEqual(CONTRACT_NAMES.map((n) => abi.abis[n].storage.storage_ty_idx !== undefined), [true, true, true]);
  const storageName = (n) => abi.resolve(abi.abis[n], abi.abis[n].storage.storage_ty_idx).name;
  assert.deepEqual(CONTRACT_NAMES.map(storageName), ['RegistryStorage', 'ProviderStorage', 'ChannelStorage']);

  const gov = new Address(0, Buffer.alloc(32, 1));
  const registry = new Address(0, Buffer.alloc(32, 2));
  const params = sampleStruct('RegistryParams', 3, false);
  const providerCode = beginCell().storeUint(0xc0de, 16).endCell();
  const channelCode = beginCell().storeUint(0xc4a, 12).endCell();
  for (const cc of [null, channelCode]) {
    const want = abi.cell('RegistryStorage', {
      governance: gov, pendingGovernance: null, networkKind: NetworkKind.Testnet, oracleCount: 0n, oracleSlots: 0n, oracleEpoch: 0n, params,
      measurements: null, oracles: null, catalog: { providerCode, channelCode: cc, modelCount: 0n, models: null },
    });
    assert.ok(L.registryData({ governance: gov, networkKind: NetworkKind.Testnet, params, providerCode, channelCode: cc }).equals(want), 'registryData');
  }
  const owner = new Address(0, Buffer.alloc(32, 3));
  assert.ok(L.providerInitialData(owner, registry).equals(abi.cell('ProviderStorage', {
    owner, registry, status: ProviderStatus.Unregistered, stake: 0n, unbondingAmount: 0n, unlockAt: 0n, jailedUntil: 0n,
    params: null, profile: null, attestation: null, usage: null,
  })), 'providerInitialData');
  const key = 0xabcdefn;
  assert.ok(C.channelInitialData(registry, key, owner).equals(abi.cell('ChannelStorage', {
    clientKey: key, provider: owner, status: C.ChannelStatus.Uninit, protocolFeeBps: 0n, closeNonce: 0n,
    acceptedAmount: 0n, acceptedPrompt: 0n, acceptedCompletion: 0n, paid: 0n,
    setup: { registry, payoutTo: null, treasury: null, challengePeriod: 0n }, closing: null,
  })), 'channelInitialData');
});

test('exit codes, statuses and kinds equal the ABI enums; every thrown code is declared', () => {
  assert.deepEqual(abi.enumMembers('Errors'), { ...Errors });
  assert.deepEqual(abi.enumMembers('ChannelErrors'), { ...C.ChannelErrors });
  assert.deepEqual(abi.enumMembers('ProviderStatus'), { ...ProviderStatus });
  assert.deepEqual(abi.enumMembers('ChannelStatus'), { ...C.ChannelStatus });
  assert.deepEqual(abi.enumMembers('NetworkKind'), { ...NetworkKind });
  assert.deepEqual(abi.enumMembers('MeasurementKind'), { ...MeasurementKind });
  const codes = new Set([...Object.values(Errors), ...Object.values(C.ChannelErrors)]);
  assert.equal(codes.size, Object.keys(Errors).length + Object.keys(C.ChannelErrors).length, 'Errors and ChannelErrors overlap');
  for (const n of CONTRACT_NAMES) {
    for (const e of abi.abis[n].thrown_errors) {
      const [enumName, member] = e.name.split('.');
      assert.equal(abi.enumMembers(enumName)[member], e.err_code, `${n} throws ${e.name}`);
    }
  }
});

// Each getter of the ABI and the lib reader that decodes it. Readers return an object whose keys
// are the fields of the getter's result struct, in order.
const READERS = {
  registry: {
    get_registry_data: (bc, a) => L.getRegistryData(bc, a),
    get_registry_params: (bc, a) => L.getRegistryParams(bc, a),
    get_provider_address: null, get_measurement_kind: null, get_measurements: null, get_models: null, get_oracles: null,
    get_register_fee: null, get_channel_address: null, get_open_channel_fee: null,
    get_model: (bc, a) => L.getModel(bc, a, 1),
    get_oracle: (bc, a) => L.getOracle(bc, a, a),
    get_uptime_root: (bc, a) => L.getUptimeRoot(bc, a, a),
    get_codes: (bc, a) => L.getCodes(bc, a),
  },
  provider: {
    get_provider_data: (bc, a) => L.getProviderData(bc, a),
    get_provider_params: (bc, a) => L.getProviderParams(bc, a),
    get_profile: (bc, a) => L.getProfile(bc, a),
    get_model_price: (bc, a) => L.getModelPrice(bc, a, 1),
    get_attestation: (bc, a) => L.getAttestation(bc, a),
    get_usage: (bc, a) => L.getUsage(bc, a),
    is_attested: null,
  },
  channel: {
    get_channel_data: (bc, a) => C.getChannelData(bc, a),
    get_channel_state: (bc, a) => C.getChannelState(bc, a),
  },
};

test('every getter in the ABI has a lib reader; struct results are read field by field in ABI order', async () => {
  const { setupChannel } = require('./lib/channel-fixture');
  const ctx = await setupChannel({ deposit: toNano('1') });
  const at = { registry: ctx.registry, provider: ctx.provider, channel: ctx.channel };
  for (const n of CONTRACT_NAMES) {
    const getters = abi.abis[n].get_methods;
    assert.deepEqual(getters.map((g) => g.name).sort(), Object.keys(READERS[n]).sort(), `${n} getters`);
    for (const g of getters) {
      const ret = abi.resolve(abi.abis[n], g.return_ty_idx);
      const read = READERS[n][g.name];
      assert.equal(read !== null, ret.kind === 'struct', `${n}.${g.name}: a struct result needs a reader and only then`);
      if (!read) continue;
      const got = await read(ctx.bc, at[n]);
      assert.deepEqual(Object.keys(got), abi.struct(ret.name).fields.map((f) => f.name), `${n}.${g.name} fields`);
    }
  }
});
