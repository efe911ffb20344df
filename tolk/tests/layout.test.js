// Cross-checks the JS protocol tables (used by every test and by the Go fixture test) against the
// Tolk sources, and the build output against the address derivation the Go side reimplements.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Blockchain } = require('@ton/sandbox');
const { Op, Errors } = require('./lib/protocol');
const L = require('./lib/contracts');

const src = (f) => fs.readFileSync(path.join(__dirname, '..', 'src', f), 'utf-8');

test('every message struct opcode in messages.tolk matches lib/protocol.js', () => {
  const found = {};
  for (const m of src('messages.tolk').matchAll(/struct \((0x[0-9a-fA-F]+)\) (\w+)/g)) found[m[2]] = Number(m[1]);
  assert.deepEqual(found, { ...Op });
});

test('every Errors member in errors.tolk matches lib/protocol.js', () => {
  const found = {};
  for (const m of src('errors.tolk').matchAll(/^\s+(\w+) = (0x[0-9a-fA-F]+|\d+)/gm)) found[m[1]] = Number(m[2]);
  assert.deepEqual(found, { ...Errors });
});

test('provider address from JS derivation equals the registry getter', async () => {
  const bc = await Blockchain.create();
  const gov = await bc.treasury('gov');
  const owner = await bc.treasury('owner');
  const reg = await L.deployRegistry(bc, gov, { governance: gov.address, params: L.defaultRegistryParams(gov.address) });
  const onChain = await L.getProviderAddress(bc, reg.address, owner.address);
  assert.ok(onChain.equals(L.providerAddress(owner.address, reg.address, L.loadCode('provider'))));
});

test('every struct opcode in channel-messages.tolk matches lib/channel.js', () => {
  const C = require('./lib/channel');
  const found = {};
  for (const m of src('channel-messages.tolk').matchAll(/struct \((0x[0-9a-fA-F]+)\) (\w+)/g)) found[m[2]] = Number(m[1]);
  assert.deepEqual(found, { ...C.ChannelOp, Voucher: C.VOUCHER_MAGIC, CloseRequest: C.CLOSE_REQUEST_MAGIC });
  // channel opcodes never collide with the Registry/Provider ones
  for (const [name, op] of Object.entries(C.ChannelOp)) assert.ok(!Object.values(Op).includes(op), `${name} reuses an opcode`);
});

test('every ChannelErrors member in channel-errors.tolk matches lib/channel.js and no code overlaps Errors', () => {
  const C = require('./lib/channel');
  const found = {};
  for (const m of src('channel-errors.tolk').matchAll(/^\s+(\w+) = (0x[0-9a-fA-F]+|\d+)/gm)) found[m[1]] = Number(m[2]);
  assert.deepEqual(found, { ...C.ChannelErrors });
  for (const [name, code] of Object.entries(C.ChannelErrors)) assert.ok(!Object.values(Errors).includes(code), `${name} reuses ${code}`);
});

test('channel address: JS derivation equals the registry getter; channel-code.tolk is fresh', async () => {
  const C = require('./lib/channel');
  const { Cell } = require('@ton/core');
  // channel-code.tolk is what the compile script generated from the committed channel code
  const code = L.loadCode('channel');
  const gen = src('channel-code.tolk');
  assert.match(gen, new RegExp(`CHANNEL_CODE_HASH = 0x${code.hash().toString('hex')}\\b`));
  assert.match(gen, new RegExp(`CHANNEL_CODE_DEPTH = ${code.depth()}\\b`));
  assert.ok(Cell.fromBoc(require('fs').readFileSync(require('path').join(L.BUILD_DIR, 'channel.boc')))[0].equals(code));
  const bc = await Blockchain.create();
  const gov = await bc.treasury('gov');
  const owner = await bc.treasury('owner');
  const reg = await L.deployRegistry(bc, gov, { governance: gov.address, params: L.defaultRegistryParams(gov.address), channelCode: code });
  const key = Buffer.alloc(32, 7);
  const onChain = await C.getChannelAddress(bc, reg.address, key, owner.address);
  const provider = L.providerAddress(owner.address, reg.address, L.loadCode('provider'));
  assert.ok(onChain.equals(C.channelAddress(reg.address, key, provider)));
  // without channel code the getter answers null
  const bare = await L.deployRegistry(bc, gov, { governance: owner.address, params: L.defaultRegistryParams(gov.address) });
  assert.equal(await C.getChannelAddress(bc, bare.address, key, owner.address), null);
});
