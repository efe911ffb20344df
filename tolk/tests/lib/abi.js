// The compiler's ABI of the three contracts (contracts/build/<name>.abi.json, written by
// scripts/compile.js from each entry file's `contract` declaration): lookups by name and a
// serializer that builds any declared struct from its fields exactly as the ABI describes it, so the
// hand-written body builders of lib/ can be checked against what the contracts really parse.
'use strict';
const fs = require('fs');
const path = require('path');
const { beginCell } = require('@ton/core');
const { BUILD_DIR } = require('./contracts');

const CONTRACT_NAMES = ['registry', 'provider', 'channel'];

function loadAbi(name) {
  return JSON.parse(fs.readFileSync(path.join(BUILD_DIR, `${name}.abi.json`), 'utf-8'));
}

// One view over the three ABIs. Types are resolved to self-contained descriptions ({kind, ...,
// inner/key/value/struct names}), so a struct declared identically in two contracts compares equal.
class AbiSet {
  constructor(abis = Object.fromEntries(CONTRACT_NAMES.map((n) => [n, loadAbi(n)]))) {
    this.abis = abis;
    this.structs = new Map(); // name → { name, prefix, fields: [{ name, type }] }
    this.enums = new Map(); // name → { name, encodedAs, members: Map(name → bigint) }
    for (const [contract, abi] of Object.entries(abis)) {
      for (const d of abi.declarations) {
        let item;
        if (d.kind === 'struct') {
          item = { name: d.name, prefix: d.prefix ?? null, fields: d.fields.map((f) => ({ name: f.name, type: this.resolve(abi, f.ty_idx) })) };
          this.put(this.structs, item, contract);
        } else if (d.kind === 'enum') {
          item = { name: d.name, encodedAs: this.resolve(abi, d.encoded_as_ty_idx), members: d.members.map((m) => [m.name, m.value]) };
          this.put(this.enums, item, contract);
        }
      }
    }
  }

  // Adds a declaration, refusing two different declarations under one name.
  put(map, item, contract) {
    const prev = map.get(item.name);
    if (prev && JSON.stringify(prev) !== JSON.stringify(item)) {
      throw new Error(`${item.name} is declared differently in ${contract}.abi.json than in another contract`);
    }
    map.set(item.name, item);
  }

  resolve(abi, idx) {
    const t = abi.unique_types[idx];
    switch (t.kind) {
      case 'intN': case 'uintN': case 'bitsN': return { kind: t.kind, n: t.n };
      case 'StructRef': return { kind: 'struct', name: t.struct_name };
      case 'EnumRef': return { kind: 'enum', name: t.enum_name };
      case 'cellOf': return { kind: 'cellOf', inner: this.resolve(abi, t.inner_ty_idx) };
      case 'nullable': return { kind: 'nullable', inner: this.resolve(abi, t.inner_ty_idx) };
      case 'mapKV': return { kind: 'map', key: this.resolve(abi, t.key_ty_idx), value: this.resolve(abi, t.value_ty_idx) };
      case 'AliasRef': {
        const d = abi.declarations.find((x) => x.kind === 'alias' && x.name === t.alias_name);
        return this.resolve(abi, d.target_ty_idx);
      }
      default: return { kind: t.kind };
    }
  }

  struct(name) {
    const s = this.structs.get(name);
    if (!s) throw new Error(`no struct ${name} in the ABI`);
    return s;
  }

  enumMembers(name) {
    const e = this.enums.get(name);
    if (!e) throw new Error(`no enum ${name} in the ABI`);
    return Object.fromEntries(e.members.map(([k, v]) => [k, Number(v)]));
  }

  // Structs with an opcode (messages) and signed structures (Voucher, CloseRequest): name → prefix.
  prefixes() {
    const out = {};
    for (const s of this.structs.values()) if (s.prefix) out[s.name] = s.prefix.prefix_num;
    return out;
  }

  // The struct `name` serialized from `fields` (a plain object, nested objects for inline structs and
  // typed cells, null for absent nullable values and empty maps).
  cell(name, fields) {
    return this.storeStruct(beginCell(), name, fields).endCell();
  }

  storeStruct(b, name, fields) {
    const s = this.struct(name);
    if (s.prefix) b.storeUint(s.prefix.prefix_num, s.prefix.prefix_len);
    for (const f of s.fields) {
      if (!(f.name in fields)) throw new Error(`${name}.${f.name}: no value`);
      this.store(b, f.type, fields[f.name], `${name}.${f.name}`);
    }
    return b;
  }

  store(b, t, v, where) {
    switch (t.kind) {
      case 'intN': b.storeInt(v, t.n); break;
      case 'uintN': b.storeUint(v, t.n); break;
      case 'bitsN': b.storeBuffer(v, t.n / 8); break;
      case 'coins': b.storeCoins(v); break;
      case 'bool': b.storeBit(v); break;
      case 'address': b.storeAddress(v); break;
      case 'addressOpt': b.storeAddress(v); break;
      case 'cell': b.storeRef(v); break;
      case 'cellOf': b.storeRef(this.cellOf(t.inner, v, where)); break;
      case 'struct': this.storeStruct(b, t.name, v); break;
      case 'enum': this.store(b, this.enums.get(t.name).encodedAs, v, where); break;
      case 'map':
        if (v !== null) throw new Error(`${where}: only empty maps are built here`);
        b.storeBit(0);
        break;
      case 'nullable':
        if (v === null) b.storeBit(0);
        else { b.storeBit(1); this.store(b, t.inner, v, where); }
        break;
      default: throw new Error(`${where}: no serialization for ${t.kind}`);
    }
  }

  cellOf(inner, v, where) {
    if (inner.kind !== 'struct') throw new Error(`${where}: Cell<${inner.kind}>`);
    return this.cell(inner.name, v);
  }
}

module.exports = { CONTRACT_NAMES, loadAbi, AbiSet };
