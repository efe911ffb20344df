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
