// JSON forms of sandbox values for the fixtures the Go tests read (contracts/testdata/*.json):
// integers as decimal strings (uint256 too: Go turns them into 32 bytes), addresses raw "wc:hex",
// cells hex BOC, buffers (signatures, keys) hex, absent values null.
'use strict';
const { Address, Cell } = require('@ton/core');

const bocHex = (c) => c.toBoc().toString('hex');

function toJson(v) {
  if (v === null || v === undefined) return null;
  if (typeof v === 'bigint' || typeof v === 'number') return v.toString();
  if (typeof v === 'boolean' || typeof v === 'string') return v;
  if (Address.isAddress(v)) return v.toRawString();
  if (v instanceof Cell) return bocHex(v);
  if (Buffer.isBuffer(v)) return v.toString('hex');
  if (typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, toJson(x)]));
  throw new Error(`no JSON form for ${typeof v}`);
}

// A get-method result stack, item by item.
function stackJson(items) {
  return items.map((it) => {
    switch (it.type) {
      case 'null':
        return { type: 'null' };
      case 'int':
        return { type: 'int', value: it.value.toString() };
      case 'cell':
      case 'slice':
      case 'builder':
        return { type: it.type, boc: bocHex(it.cell) };
      case 'tuple':
        return { type: 'tuple', items: stackJson(it.items) };
      default:
        throw new Error(`unexpected stack item ${it.type}`);
    }
  });
}

module.exports = { bocHex, toJson, stackJson };
