// Fixtures for the Go channel bindings (contracts/channel.go) and the voucher package: every
// channel message encoded with fixed field values by the JS helpers in tests/lib/channel.js,
// vouchers and close requests signed by @ton/crypto with a fixed key, and a channel opened,
// claimed, topped up and closed in @ton/sandbox with the account data, get-method stacks and
// bodies the contracts produced.
//
// REWRITE_FIXTURES=1 writes contracts/testdata/channel-fixtures.json; otherwise the test recomputes
// everything and fails when the committed file differs. Read by contracts/channel_fixtures_test.go.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Address, beginCell, toNano } = require('@ton/core');
const { keyPairFromSeed, signVerify } = require('@ton/crypto');

const { bocHex, toJson, stackJson } = require('./lib/fixture-json');
const C = require('./lib/channel');
const F = require('./lib/fixture');
const { setupChannel } = require('./lib/channel-fixture');

const FIXTURE = path.join(__dirname, '..', '..', 'contracts', 'testdata', 'channel-fixtures.json');

// ---------------------------------------------------------------- fixed values

const addr = (wc, byte) => new Address(wc, Buffer.alloc(32, byte));
const ADDR_A = addr(0, 0x11);
const ADDR_B = addr(0, 0x22);
const ADDR_C = addr(0, 0x33);
const QID = 0x0123456789abcdefn;
// The fixed client key: Go rebuilds it with ed25519.NewKeyFromSeed(seed).
const SEED = Buffer.alloc(32, 0x5c);
const KEY = keyPairFromSeed(SEED);
const KEY_INT = BigInt('0x' + KEY.publicKey.toString('hex'));
const MAX_COINS = (1n << 120n) - 1n;
const MAX_U64 = (1n << 64n) - 1n;
const SIG = Buffer.from([...Array(64).keys()].map((i) => (i * 37 + 11) & 0xff)); // distinct bytes; not a real signature

const voucherA = { channel: ADDR_C, amount: 123_456_789n, promptTokens: 1000n, completionTokens: 2000n };
const closeA = { channel: ADDR_C, closeNonce: 0xdeadbeef, refundTo: ADDR_B };
// Storage roots for the ChannelUsage fixture (as fields, so Go decodes them into ChannelStorage): a
// closing channel before and after a claim, field extremes.
const usageRoot = (acceptedAmount, acceptedPrompt, acceptedCompletion, paid) => ({
  clientKey: KEY_INT, provider: ADDR_C, status: 2, protocolFeeBps: 10000, closeNonce: 0xffffffff,
  acceptedAmount, acceptedPrompt, acceptedCompletion, paid,
  setup: { registry: ADDR_A, payoutTo: ADDR_B, treasury: ADDR_C, challengePeriod: 0xfedcba98 },
  closing: { refundTo: ADDR_B, deadline: 0x7fffffff },
});
const usageBefore = usageRoot(1000n, 0n, 1n, 0n);
const usageAfter = usageRoot(MAX_COINS, MAX_U64, MAX_U64, MAX_COINS);

// name → [builder, fields]; every ChannelOp must appear (asserted below).
const MESSAGES = {
  OpenChannel: [C.openChannel, { queryId: QID, providerOwner: ADDR_A, clientKey: KEY_INT }],
  SetChannelCode: [C.setChannelCode, { queryId: 1n, channelCode: beginCell().storeUint(0xc0de, 16).endCell() }],
  ChannelInit: [C.channelInit, { queryId: 2n, opener: ADDR_A, payoutTo: ADDR_B, treasury: ADDR_C, protocolFeeBps: 10000, challengePeriod: 0xfedcba98 }],
  Claim: [C.claim, { queryId: 3n, voucher: voucherA, signature: SIG }],
  ClaimRemainder: [C.claimRemainder, { queryId: 4n }],
  StartClose: [C.startClose, { queryId: 5n, request: closeA, signature: SIG }],
  FinalizeClose: [C.finalizeClose, { queryId: 6n }],
  CooperativeClose: [C.cooperativeClose, { queryId: MAX_U64 }],
  ChannelUsage: [C.channelUsage, { queryId: 8n, excessTo: ADDR_A, before: usageBefore, after: usageAfter }],
  ChannelPayout: [C.channelPayout, { queryId: 9n }],
  ProtocolFee: [C.protocolFee, { queryId: 10n }],
  ChannelRefund: [C.channelRefund, { queryId: 0n }],
};

// ---------------------------------------------------------------- signatures by @ton/crypto

function signedVectors(channel) {
  const vouchers = [
    { channel, amount: 0n, promptTokens: 0n, completionTokens: 0n },
    { channel, amount: 300_000_000n, promptTokens: 1500n, completionTokens: 700n },
    { channel, amount: MAX_COINS, promptTokens: MAX_U64, completionTokens: MAX_U64 },
    { channel: addr(-1, 0xab), amount: 1n, promptTokens: 2n, completionTokens: 3n },
  ];
  return {
    seed: SEED.toString('hex'),
    publicKey: KEY.publicKey.toString('hex'),
    vouchers: vouchers.map((v) => {
      const { cell, signature } = C.signVoucher(v, KEY.secretKey);
      assert.ok(signVerify(cell.hash(), signature, KEY.publicKey));
      return { fields: toJson(v), boc: bocHex(cell), hash: cell.hash().toString('hex'), signature: signature.toString('hex') };
    }),
    closeRequests: [{ channel, closeNonce: 0, refundTo: ADDR_B }, { channel, closeNonce: 0xffffffff, refundTo: addr(0, 0xee) }].map((r) => {
      const { cell, signature } = C.signCloseRequest(r, KEY.secretKey);
      return { fields: toJson(r), boc: bocHex(cell), signature: signature.toString('hex') };
    }),
  };
}

// ---------------------------------------------------------------- the voucher rule, case by case

// (accepted state, voucher) pairs: the channel's answer to a Claim of the voucher after the
// accepted state, recorded from @ton/sandbox, is what voucher.CheckNewer / Accept (Go), the CLI's
// check and C.acceptVoucher (JS) must give. Amounts in nanoTON (the deposit covers none of the
// larger ones: acceptance does not depend on the balance).
const T = 1_000_000_000n;
const VOUCHER_RULE_CASES = [
  ['zero, all zero', [0n, 0n, 0n], [0n, 0n, 0n]],
  ['zero, prompt only', [0n, 0n, 0n], [0n, 1n, 0n]],
  ['zero, amount only', [0n, 0n, 0n], [1n, 0n, 0n]],
  ['zero, absurd tokens at amount 0', [0n, 0n, 0n], [0n, MAX_U64, MAX_U64]],
  ['replay', [5n * T, 100n, 200n], [5n * T, 100n, 200n]],
  ['amount up', [5n * T, 100n, 200n], [5n * T + 1n, 100n, 200n]],
  ['amount up, tokens down', [5n * T, 100n, 200n], [6n * T, 0n, 0n]],
  ['amount down, tokens up', [5n * T, 100n, 200n], [5n * T - 1n, MAX_U64, MAX_U64]],
  ['same amount, prompt up', [5n * T, 100n, 200n], [5n * T, 101n, 0n]],
  ['same amount, completion up', [5n * T, 100n, 200n], [5n * T, 100n, 201n]],
  ['same amount, both down', [5n * T, 100n, 200n], [5n * T, 99n, 199n]],
  ['same amount, one down', [5n * T, 100n, 200n], [5n * T, 100n, 199n]],
  ['same amount, prompt to max', [5n * T, 100n, 200n], [5n * T, MAX_U64, 0n]],
  ['max tokens, replay', [5n * T, MAX_U64, MAX_U64], [5n * T, MAX_U64, MAX_U64]],
  ['max tokens, largest amount', [5n * T, MAX_U64, MAX_U64], [MAX_COINS, 0n, 0n]],
  ['after the absurd report, the genuine voucher', [0n, MAX_U64, MAX_U64], [5n * T, 100_000n, 200_000n]],
];

async function voucherRuleCases() {
  const ctx = await setupChannel({ deposit: toNano('1') });
  const opened = ctx.bc.snapshot();
  const triple = ([amount, promptTokens, completionTokens]) => ({ amount, promptTokens, completionTokens });
  const out = [];
  for (const [name, acc, next] of VOUCHER_RULE_CASES) {
    await ctx.bc.loadFrom(opened);
    if (acc.some((x) => x !== 0n)) F.assertTx(await ctx.claim(ctx.voucher(...acc)), { to: ctx.channel, success: true });
    const r = await ctx.claim(ctx.voucher(...next));
    const exitCode = F.exitCodeOf(F.assertTx(r, { to: ctx.channel, op: C.ChannelOp.Claim }));
    const st = await C.getChannelState(ctx.bc, ctx.channel);
    const after = { amount: st.acceptedAmount, promptTokens: st.acceptedPrompt, completionTokens: st.acceptedCompletion };
    const model = C.acceptVoucher(triple(acc), triple(next));
    assert.equal(exitCode, model ? 0 : C.ChannelErrors.VoucherNotNewer, `${name}: exit code`);
    assert.deepEqual(after, model ?? triple(acc), `${name}: accepted state`);
    out.push({ name, accepted: toJson(triple(acc)), voucher: toJson(triple(next)), exitCode, after: toJson(after) });
  }
  return out;
}

// ---------------------------------------------------------------- the sandbox scenario

async function scenario() {
  const ctx = await setupChannel({ open: false, deposit: toNano('1') });
  const { bc, registry, provider, channelCode } = ctx;
  // The fixed key instead of setupChannel's, so that Go can rebuild it from SEED.
  ctx.key = KEY;
  const clientKey = KEY.publicKey;
  ctx.channel = C.channelAddress(registry, clientKey, provider, channelCode);

  // Bodies the contracts send, first of each opcode.
  const sent = new Map();
  const record = (result) => {
    for (const tx of result.transactions) {
      for (const out of tx.outMessages.values()) {
        if (out.info.type !== 'internal') continue;
        const src = out.info.src;
        if (!(src.equals(registry) || src.equals(provider) || src.equals(ctx.channel))) continue;
        if (out.body.bits.length < 32) continue;
        const op = out.body.beginParse().preloadUint(32);
        if (!Object.values(C.ChannelOp).includes(op) || sent.has(op)) continue;
        const from = src.equals(registry) ? 'registry' : src.equals(provider) ? 'provider' : 'channel';
        sent.set(op, { from, boc: bocHex(out.body) });
      }
    }
    return result;
  };
  const data = async (a) => {
    const st = (await bc.getContract(a)).accountState;
    assert.equal(st?.type, 'active');
    return bocHex(st.state.data);
  };
  const getters = [];
  const runGetters = async (label) => {
    const list = [
      [ctx.channel, 'get_channel_data', []],
      [ctx.channel, 'get_channel_state', []],
    ];
    for (const [at, method, args] of list) {
      const r = await bc.runGetMethod(at, method, args);
      assert.equal(r.exitCode, 0, `${method}: exit code ${r.exitCode}`);
      getters.push({ label, method, args: stackJson(args), stack: stackJson(r.stack) });
    }
  };

  // Open with the fixed key; the registry derives the channel and deploys it.
  const opened = record(await ctx.open({ key: clientKey, value: toNano('1.1') }));
  F.assertTx(opened, { from: registry, to: ctx.channel, success: true });
  const byRegistry = await bc.runGetMethod(registry, 'get_channel_address', [
    { type: 'int', value: C.keyInt(clientKey) },
    { type: 'slice', cell: beginCell().storeAddress(ctx.owner.address).endCell() },
  ]);
  assert.equal(byRegistry.exitCode, 0);
  getters.push({ label: 'registry', method: 'get_channel_address', args: stackJson([{ type: 'int', value: C.keyInt(clientKey) }, { type: 'slice', cell: beginCell().storeAddress(ctx.owner.address).endCell() }]), stack: stackJson(byRegistry.stack) });
  const dataOpened = await data(ctx.channel);
  await runGetters('opened');

  // A claim relayed by a third party: ChannelPayout, ProtocolFee, ChannelUsage.
  const v1 = { channel: ctx.channel, amount: toNano('0.3'), promptTokens: 1500n, completionTokens: 700n };
  const s1 = C.signVoucher(v1, ctx.key.secretKey);
  const claimed = record(await ctx.relayer.send({ to: ctx.channel, value: toNano('0.1'), body: C.claim({ queryId: 11n, voucher: s1.cell, signature: s1.signature }) }));
  F.assertTx(claimed, { from: ctx.relayer.address, to: ctx.channel, success: true });
  const dataClaimed = await data(ctx.channel);
  await runGetters('claimed');

  // A voucher above the deposit pays what the balance allows; a top-up and ClaimRemainder pay the rest.
  const v2 = { channel: ctx.channel, amount: toNano('1.5'), promptTokens: 4000n, completionTokens: 2000n };
  const s2 = C.signVoucher(v2, ctx.key.secretKey);
  record(await ctx.relayer.send({ to: ctx.channel, value: toNano('0.1'), body: C.claim({ queryId: 12n, voucher: s2.cell, signature: s2.signature }) }));
  await runGetters('partial');
  record(await ctx.open({ key: clientKey, value: toNano('1') }));
  record(await ctx.relayer.send({ to: ctx.channel, value: toNano('0.1'), body: C.claimRemainder({ queryId: 13n }) }));

  // Close: the client's signed request, then the provider's cooperative close refunds at once.
  const req = { channel: ctx.channel, closeNonce: 0, refundTo: ctx.client.address };
  const sc = C.signCloseRequest(req, ctx.key.secretKey);
  record(await ctx.client.send({ to: ctx.channel, value: toNano('0.05'), body: C.startClose({ queryId: 14n, request: sc.cell, signature: sc.signature }) }));
  const dataClosing = await data(ctx.channel);
  await runGetters('closing');
  record(await ctx.owner.send({ to: ctx.channel, value: toNano('0.05'), body: C.cooperativeClose({ queryId: 15n }) }));
  await runGetters('closed');

  const sentByContracts = [...sent.entries()]
    .sort(([a], [b]) => a - b)
    .map(([op, m]) => ({ opcode: '0x' + op.toString(16).padStart(8, '0'), ...m }));
  const expectSent = ['ChannelInit', 'ChannelUsage', 'ChannelPayout', 'ProtocolFee', 'ChannelRefund'];
  assert.deepEqual([...sent.keys()].sort(), expectSent.map((n) => C.ChannelOp[n]).sort(), 'messages the contracts sent');

  return {
    registry: registry.toRawString(),
    provider: provider.toRawString(),
    owner: ctx.owner.address.toRawString(),
    treasury: ctx.treasury.address.toRawString(),
    client: ctx.client.address.toRawString(),
    relayer: ctx.relayer.address.toRawString(),
    clientKey: clientKey.toString('hex'),
    channel: ctx.channel.toRawString(),
    channelCode: bocHex(channelCode),
    channelCodeHash: channelCode.hash().toString('hex'),
    registryParams: toJson({ protocolFeeBps: ctx.params.protocolFeeBps, challengePeriod: ctx.params.challengePeriod }),
    vouchers: [toJson(v1), toJson(v2)],
    channelData: { opened: dataOpened, claimed: dataClaimed, closing: dataClosing },
    getters,
    sentByContracts,
  };
}

async function buildFixtures() {
  const messages = Object.entries(MESSAGES).map(([name, [builder, fields]]) => {
    const body = builder(fields);
    assert.equal(body.beginParse().loadUint(32), C.ChannelOp[name], `${name}: builder writes opcode ${C.ChannelOp[name]}`);
    return { name, opcode: '0x' + C.ChannelOp[name].toString(16).padStart(8, '0'), fields: toJson(fields), boc: bocHex(body) };
  });
  const sandbox = await scenario();
  return {
    comment: 'Generated by tolk/tests/go-fixtures-channel.test.js (REWRITE_FIXTURES=1 to regenerate); read by contracts/channel_fixtures_test.go.',
    messages,
    signed: signedVectors(Address.parseRaw(sandbox.channel)),
    voucherRule: await voucherRuleCases(),
    sandbox,
  };
}

test('every channel opcode has a fixture message', () => {
  assert.deepEqual(Object.keys(MESSAGES).sort(), Object.keys(C.ChannelOp).sort());
});

test('Go channel fixtures match the contracts', async () => {
  const fixtures = await buildFixtures();
  const text = JSON.stringify(fixtures, null, 2) + '\n';
  if (process.env.REWRITE_FIXTURES === '1') {
    fs.mkdirSync(path.dirname(FIXTURE), { recursive: true });
    fs.writeFileSync(FIXTURE, text);
    return;
  }
  assert.ok(fs.existsSync(FIXTURE), `${FIXTURE} is missing: run REWRITE_FIXTURES=1 node --test tests/go-fixtures-channel.test.js`);
  const committed = JSON.parse(fs.readFileSync(FIXTURE, 'utf-8'));
  assert.deepEqual(JSON.parse(text), committed, 'contracts/testdata/channel-fixtures.json is stale: rerun with REWRITE_FIXTURES=1 and update the Go bindings');
});
