// The build output against the address derivation the JS helpers (and the Go side) reimplement, and
// the generated channel-code.tolk against the committed channel code. The protocol tables are checked
// against the compiler's ABI in abi.test.js.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const path = require('path');
const { Blockchain } = require('@ton/sandbox');
const L = require('./lib/contracts');

const src = (f) => fs.readFileSync(path.join(__dirname, '..', 'src', f), 'utf-8');

test('provider address from JS derivation equals the registry getter', async () => {
  const bc = await Blockchain.create();
  const gov = await bc.treasury('gov');
  const owner = await bc.treasury('owner');
  const reg = await L.deployRegistry(bc, gov, { governance: gov.address, params: L.defaultRegistryParams(gov.address) });
  const onChain = await L.getProviderAddress(bc, reg.address, owner.address);
  assert.ok(onChain.equals(L.providerAddress(owner.address, reg.address, L.loadCode('provider'))));
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
