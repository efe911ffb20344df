// Runs the contract scenarios of tests/parity/testdata/scenarios.json on @ton/sandbox and records
// what every step did, in the shape the Go devnet side (tests/parity) produces for the same steps.
// Actors are V5R1 wallets built here from the scenario's wallet code and fixed seeds, so both
// emulators receive the very same signed external messages.
'use strict';
const crypto = require('crypto');
const fs = require('fs');
const path = require('path');
const { Blockchain, internal } = require('@ton/sandbox');
const { Address, Cell, beginCell, contractAddress, storeStateInit, toNano } = require('@ton/core');
const { keyPairFromSeed, sign } = require('@ton/crypto');
const L = require('../lib/contracts');
const M = require('../lib/messages');
const C = require('../lib/channel');

const TESTDATA = path.join(__dirname, '..', '..', '..', 'tests', 'parity', 'testdata');
const SCENARIOS = path.join(TESTDATA, 'scenarios.json');
const RESULTS = path.join(TESTDATA, 'sandbox-results.json');

const V5_SIGNED_EXTERNAL = 0x7369676e;
const ACTION_SEND_MSG = 0x0ec3c86d;
const DEFAULT_MODE = 3; // pay fees separately + ignore errors: what the Go wallet uses by default
const VALID_FOR = 3600; // seconds a signed external stays valid

function loadScenarios() {
  return JSON.parse(fs.readFileSync(SCENARIOS, 'utf8'));
}

const raw = (a) => `${a.workChain}:${a.hash.toString('hex')}`;
const hashHex = (c) => c.hash().toString('hex');
const big = (h) => BigInt(h);

// ---- V5R1 wallets (wallet_id = context ^ global id, context = 1<<31 for workchain 0, subwallet 0)

function v5WalletId(globalId) {
  return ((0x80000000 ^ (globalId >>> 0)) >>> 0);
}

function makeWallet(doc, name) {
  const seed = crypto.createHash('sha256').update(`parity/${name}`).digest();
  const kp = keyPairFromSeed(seed);
  const code = Cell.fromBase64(doc.walletCode);
  const walletId = v5WalletId(doc.walletGlobalId);
  const data = beginCell().storeBit(1).storeUint(0, 32).storeUint(walletId, 32).storeBuffer(kp.publicKey).storeBit(0).endCell();
  return { name, kp, walletId, init: { code, data }, address: contractAddress(0, { code, data }) };
}

// tonutils-go's `either` placement: inline when it fits with leaveBits/leaveRefs to spare, else a ref.
function storeEither(b, c, leaveBits = 0, leaveRefs = 0) {
  if (b.availableBits >= 1 + c.bits.length + leaveBits && b.availableRefs >= c.refs.length + leaveRefs) {
    b.storeBit(0).storeSlice(c.beginParse());
  } else {
    b.storeBit(1).storeRef(c);
  }
}

// An internal message exactly as tonutils-go's tlb.InternalMessage serializes it (what the Go
// wallet signs): ihr_disabled, no source, zero fees and timestamps, StateInit and body in line
// when they fit.
function internalMessageCell({ to, value, bounce, init, body }) {
  const b = beginCell()
    .storeUint(0, 1)
    .storeBit(1) // ihr_disabled
    .storeBit(bounce)
    .storeBit(0) // bounced
    .storeUint(0, 2) // src: addr_none
    .storeAddress(to)
    .storeCoins(value)
    .storeBit(0) // no extra currencies
    .storeCoins(0) // ihr fee
    .storeCoins(0) // fwd fee
    .storeUint(0, 64)
    .storeUint(0, 32);
  if (init) {
    b.storeBit(1);
    storeEither(b, beginCell().store(storeStateInit(init)).endCell(), 1, 1);
  } else {
    b.storeBit(0);
  }
  storeEither(b, body ?? Cell.EMPTY);
  return b.endCell();
}

function signedExternal(w, { seqno, validUntil, deploy, transfers }) {
  const payload = beginCell().storeUint(V5_SIGNED_EXTERNAL, 32).storeUint(w.walletId, 32).storeUint(validUntil, 32).storeUint(seqno, 32);
  let list = Cell.EMPTY;
  for (const t of transfers) {
    list = beginCell().storeRef(list).storeUint(ACTION_SEND_MSG, 32).storeUint(t.mode, 8).storeRef(internalMessageCell(t)).endCell();
  }
  if (transfers.length === 0) payload.storeBit(0).storeBit(0);
  else payload.storeBit(1).storeRef(list).storeBit(0);
  const unsigned = payload.endCell();
  const signature = sign(unsigned.hash(), w.kp.secretKey);
  const body = beginCell().storeSlice(unsigned.beginParse()).storeBuffer(signature).endCell();
  const ext = beginCell().storeUint(0b10, 2).storeUint(0, 2).storeAddress(w.address).storeCoins(0);
  if (deploy) {
    ext.storeBit(1);
    storeEither(ext, beginCell().store(storeStateInit(w.init)).endCell(), 1, 1);
  } else {
    ext.storeBit(0);
  }
  storeEither(ext, body);
  return ext.endCell();
}

// ---- scenario context: names → addresses, JSON bodies → cells

class Scenario {
  constructor(doc, bc) {
    this.doc = doc;
    this.bc = bc;
    this.wallets = {};
    for (const a of doc.actors) this.wallets[a] = makeWallet(doc, a);
    const reg = doc.registry;
    const providerCode = L.loadCode('provider');
    this.registryInit = {
      code: L.loadCode('registry'),
      data: L.registryData({
        governance: this.addr(reg.governance),
        networkKind: reg.networkKind,
        params: this.registryParams(reg.params),
        providerCode,
      }),
    };
    this.registry = contractAddress(0, this.registryInit);
    this.providerCode = providerCode;
  }

  addr(name) {
    if (name === 'registry') return this.registry;
    if (name.startsWith('provider:')) return L.providerAddress(this.addr(name.slice(9)), this.registry, this.providerCode);
    if (name.startsWith('channel:')) {
      // channel:<client actor>:<provider owner>
      const [client, owner] = name.slice(8).split(':');
      return C.channelAddress(this.registry, this.key(client).publicKey, this.addr(`provider:${owner}`));
    }
    if (this.wallets[name]) return this.wallets[name].address;
    if (this.doc.addresses[name]) return Address.parse(this.doc.addresses[name]);
    if (/^-?\d+:[0-9a-f]{64}$/.test(name)) return Address.parse(name);
    throw new Error(`unknown address name ${JSON.stringify(name)}`);
  }

  registryParams(p) {
    return {
      minProviderStake: toNano(p.minProviderStake),
      unbondingPeriod: p.unbondingPeriod,
      protocolFeeBps: p.protocolFeeBps,
      treasury: this.addr(p.treasury),
      challengePeriod: p.challengePeriod,
      oracleQuorum: p.oracleQuorum,
      maxAttestationLifetime: p.maxAttestationLifetime,
    };
  }

  key(actor) {
    const w = this.wallets[actor];
    if (!w) throw new Error(`unknown actor ${JSON.stringify(actor)}`);
    return w.kp;
  }

  hash(h) {
    if (typeof h === 'string' && h.startsWith('pubkey:')) return big('0x' + this.wallets[h.slice(7)].kp.publicKey.toString('hex'));
    return big(h);
  }

  claim(c) {
    return { measurementHash: big(c.measurementHash), evidenceDigest: big(c.evidenceDigest), tlsKeyHash: big(c.tlsKeyHash), validUntil: c.validUntil };
  }

  body(b) {
    if (!b) return null;
    const queryId = BigInt(b.queryId ?? 0);
    switch (b.type) {
      case 'comment': return beginCell().storeUint(0, 32).storeStringTail(b.text).endCell();
      case 'addMeasurement': return M.addMeasurement({ queryId, measurementHash: big(b.measurementHash), kind: b.kind });
      case 'addOracle': return M.addOracle({ queryId, wallet: this.addr(b.wallet), publicKey: this.hash(b.publicKey) });
      case 'proposeGovernance': return M.proposeGovernance({ queryId, newGovernance: this.addr(b.newGovernance) });
      case 'acceptGovernance': return M.acceptGovernance({ queryId });
      case 'updateParams': return M.updateParams({ queryId, params: this.registryParams(b.params) });
      case 'withdrawRegistrySurplus': return M.withdrawRegistrySurplus({ queryId });
      case 'revokeMeasurement': return M.revokeMeasurement({ queryId, measurementHash: big(b.measurementHash) });
      case 'addModel': return M.addModel({ queryId, modelId: b.modelId, weightsHash: big(b.weightsHash), name: b.name });
      case 'updateModel': return M.updateModel({ queryId, modelId: b.modelId, weightsHash: big(b.weightsHash), name: b.name });
      case 'removeModel': return M.removeModel({ queryId, modelId: b.modelId });
      case 'removeOracle': return M.removeOracle({ queryId, wallet: this.addr(b.wallet) });
      case 'pauseProvider': return M.pauseProvider({ queryId });
      case 'resumeProvider': return M.resumeProvider({ queryId });
      case 'removeModelPrice': return M.removeModelPrice({ queryId, modelId: b.modelId });
      case 'registerProvider': return M.registerProvider({ queryId, stakeAmount: toNano(b.stakeAmount) });
      case 'submitOracleVote': return M.submitOracleVote({ queryId, providerOwner: this.addr(b.providerOwner), claim: this.claim(b.claim) });
      case 'submitUptimeRoot': return M.submitUptimeRoot({ queryId, epoch: b.epoch, root: big(b.root), providerCount: b.providerCount });
      case 'slashProvider':
        return M.slashProvider({ queryId, providerOwner: this.addr(b.providerOwner), amount: toNano(b.amount), evidenceDigest: big(b.evidenceDigest) });
      case 'jailProvider': return M.jailProvider({ queryId, providerOwner: this.addr(b.providerOwner), until: b.until });
      case 'unjailProvider': return M.unjailProvider({ queryId, providerOwner: this.addr(b.providerOwner) });
      case 'addStake': return M.addStake({ queryId, amount: toNano(b.amount) });
      case 'requestUnstake': return M.requestUnstake({ queryId, amount: toNano(b.amount) });
      case 'withdrawUnbonded': return M.withdrawUnbonded({ queryId });
      case 'exitProvider': return M.exitProvider({ queryId });
      case 'setEndpoint': return M.setEndpoint({ queryId, endpoint: b.endpoint });
      case 'setModelPrice':
        return M.setModelPrice({
          queryId,
          modelId: b.modelId,
          promptPricePerMillion: toNano(b.promptPricePerMillion),
          completionPricePerMillion: toNano(b.completionPricePerMillion),
        });
      case 'setChannelCode': return C.setChannelCode({ queryId, channelCode: L.loadCode('channel') });
      case 'openChannel': return C.openChannel({ queryId, providerOwner: this.addr(b.providerOwner), clientKey: this.hash(b.clientKey) });
      case 'claim': {
        const v = b.voucher;
        const { cell, signature } = C.signVoucher({
          channel: this.addr(v.channel), amount: toNano(v.amount), promptTokens: BigInt(v.promptTokens), completionTokens: BigInt(v.completionTokens),
        }, this.key(v.signer).secretKey);
        return C.claim({ queryId, voucher: cell, signature });
      }
      case 'claimRemainder': return C.claimRemainder({ queryId });
      case 'startClose': {
        const r = b.request;
        const { cell, signature } = C.signCloseRequest({ channel: this.addr(r.channel), closeNonce: r.closeNonce, refundTo: this.addr(r.refundTo) },
          this.key(r.signer).secretKey);
        return C.startClose({ queryId, request: cell, signature });
      }
      case 'finalizeClose': return C.finalizeClose({ queryId });
      case 'cooperativeClose': return C.cooperativeClose({ queryId });
      default: throw new Error(`unknown body type ${JSON.stringify(b.type)}`);
    }
  }

  async deployed(a) {
    const c = await this.bc.getContract(a);
    return c.accountState?.type === 'active';
  }

  async seqno(w) {
    if (!(await this.deployed(w.address))) return 0;
    const r = await this.bc.runGetMethod(w.address, 'seqno');
    return Number(r.stackReader.readBigNumber());
  }

  // The signed external message of a `send` step (also what bench.js replays).
  async sendMessageOf(step) {
    const w = this.wallets[step.from];
    if (!w) throw new Error(`send from ${JSON.stringify(step.from)}: not an actor`);
    const deploy = !(await this.deployed(w.address));
    const seqno = deploy ? 0 : await this.seqno(w);
    const transfer = {
      to: this.addr(step.to),
      value: toNano(step.value),
      bounce: step.bounce ?? true,
      mode: step.mode ?? DEFAULT_MODE,
      init: step.init === 'registry' ? this.registryInit : undefined,
      body: this.body(step.body),
    };
    if (step.init && step.init !== 'registry') throw new Error(`unknown init ${JSON.stringify(step.init)}`);
    return signedExternal(w, { seqno, validUntil: this.bc.now + VALID_FOR, deploy, transfers: [transfer] });
  }

  fundMessage(step) {
    return internal({ from: Address.parse(this.doc.addresses.faucet), to: this.addr(step.to), value: toNano(step.value), bounce: false });
  }

  args(list = []) {
    return list.map((a) => {
      if (a.int !== undefined) return { type: 'int', value: this.hash(a.int) };
      if (a.address !== undefined) return { type: 'slice', cell: beginCell().storeAddress(this.addr(a.address)).endCell() };
      throw new Error(`unknown getter argument ${JSON.stringify(a)}`);
    });
  }
}

// ---- records

const skipReason = { 'no-state': 'no_state', 'bad-state': 'bad_state', 'no-gas': 'no_gas', suspended: 'suspended' };

// A rich bounce body (new_bounce_body#fffffffe, TVM 12) names the original message's created_lt,
// which each emulator numbers its own way; it is recorded field by field without it.
function bodyRecord(body) {
  const s = body.beginParse();
  if (s.remainingBits < 73 || s.remainingRefs !== 2 || s.preloadUint(32) !== 0xfffffffe) return hashHex(body);
  s.skip(32);
  const original = s.loadRef();
  const info = s.loadRef().beginParse();
  const r = { richBounce: { original: hashHex(original), phase: s.loadUint(8), exitCode: s.loadInt(32) } };
  r.richBounce.compute = s.loadBit() ? { gasUsed: s.loadUint(32), vmSteps: s.loadUint(32) } : null;
  r.richBounce.value = info.loadCoins().toString();
  if (info.loadBit()) throw new Error('extra currencies in a bounce');
  info.skip(64); // created_lt
  r.richBounce.createdAt = info.loadUint(32);
  return r;
}

function messageRecord(m) {
  const i = m.info;
  if (i.type === 'internal') {
    return {
      type: 'internal', src: raw(i.src), dst: raw(i.dest), value: i.value.coins.toString(), bounce: i.bounce, bounced: i.bounced, body: bodyRecord(m.body),
    };
  }
  if (i.type === 'external-in') return { type: 'external-in', dst: raw(i.dest) };
  return { type: 'external-out' };
}

function txRecord(tx) {
  const d = tx.description;
  if (d.type !== 'generic') throw new Error(`unexpected transaction type ${d.type}`);
  const c = d.computePhase;
  const a = d.actionPhase;
  return {
    account: `0:${tx.address.toString(16).padStart(64, '0')}`,
    in: messageRecord(tx.inMessage),
    compute: c.type === 'skipped'
      ? { skipped: skipReason[c.reason] }
      : { success: c.success, exitCode: c.exitCode, gasUsed: c.gasUsed.toString(), gasFees: c.gasFees.toString() },
    action: a ? { success: a.success, resultCode: a.resultCode, totalActions: a.totalActions, fwdFees: (a.totalFwdFees ?? 0n).toString() } : null,
    aborted: d.aborted,
    bounce: d.bouncePhase ? d.bouncePhase.type : null,
    storageFee: d.storagePhase ? d.storagePhase.storageFeesCollected.toString() : '0',
    totalFees: tx.totalFees.coins.toString(),
    out: [...tx.outMessages.values()].map(messageRecord),
    endStatus: tx.endStatus,
  };
}

function stackRecord(items) {
  return items.map((it) => {
    switch (it.type) {
      case 'int': return it.value.toString();
      case 'null': return null;
      case 'cell': return { cell: hashHex(it.cell) };
      case 'slice': return { slice: hashHex(it.cell) };
      case 'builder': return { builder: hashHex(it.cell) };
      case 'tuple': return { tuple: stackRecord(it.items) };
      default: throw new Error(`unexpected stack entry ${it.type}`);
    }
  });
}

function expandSteps(doc, steps) {
  const out = [];
  for (const s of steps) {
    if (s.include) {
      const inc = doc.includes[s.include];
      if (!inc) throw new Error(`unknown include ${s.include}`);
      out.push(...expandSteps(doc, inc));
    } else out.push(s);
  }
  return out;
}

function stepName(s) {
  switch (s.op) {
    case 'fund': return `fund ${s.to} ${s.value}`;
    case 'send': return `${s.from} → ${s.to} ${s.value}${s.body ? ' ' + s.body.type : ''}${s.init ? ' (deploy)' : ''}`;
    case 'advance': return `advance ${s.seconds}s`;
    case 'get': return `${s.at}.${s.method}`;
    default: throw new Error(`unknown op ${JSON.stringify(s.op)}`);
  }
}

// The leading includes of a scenario (e.g. base, register) are shared set-up: their state and
// records are computed once per run and restored from a sandbox snapshot afterwards.
function leadingIncludes(steps) {
  const names = [];
  for (const s of steps) {
    if (!s.include) break;
    names.push(s.include);
  }
  return names;
}

async function runSteps(sc, steps, records) {
  const bc = sc.bc;
  for (const step of steps) {
    const r = { step: stepName(step) };
    if (step.op === 'advance') {
      bc.now += step.seconds;
    } else if (step.op === 'get') {
      const at = sc.addr(step.at);
      if (!(await sc.deployed(at))) {
        r.notActive = true; // no code to run (the devnet reports exit code -13 like toncenter)
      } else {
        const g = await bc.runGetMethod(at, step.method, sc.args(step.args));
        r.exitCode = g.exitCode;
        r.stack = stackRecord(g.stack);
      }
    } else {
      let res = null;
      let msg;
      if (step.op === 'fund') {
        msg = sc.fundMessage(step);
      } else {
        msg = await sc.sendMessageOf(step);
        r.message = hashHex(msg);
      }
      try {
        res = await bc.sendMessage(msg);
      } catch (e) {
        if (step.op !== 'send') throw e;
        r.rejected = true;
      }
      if (res) {
        r.transactions = res.transactions.map(txRecord);
        const involved = [...new Set(r.transactions.map((t) => t.account))].sort();
        r.balances = {};
        for (const a of involved) r.balances[a] = (await bc.getContract(Address.parse(a))).balance.toString();
      }
    }
    records.push(r);
  }
}

async function runScenario(doc, scenario, cache = new Map()) {
  const bc = await Blockchain.create();
  bc.now = doc.now;
  const sc = new Scenario(doc, bc);
  const prefix = leadingIncludes(scenario.steps);
  const key = prefix.join('+');
  let records = [];
  if (prefix.length > 0 && cache.has(key)) {
    const hit = cache.get(key);
    await bc.loadFrom(hit.snapshot);
    bc.now = hit.now;
    records = hit.records.map((r) => structuredClone(r));
  } else if (prefix.length > 0) {
    await runSteps(sc, expandSteps(doc, scenario.steps.slice(0, prefix.length)), records);
    cache.set(key, { snapshot: bc.snapshot(), now: bc.now, records: records.map((r) => structuredClone(r)) });
  }
  await runSteps(sc, expandSteps(doc, scenario.steps.slice(prefix.length)), records);
  return records;
}

// The code the results were recorded with: a contract rebuild changes gas and fees, so the
// results must be rerecorded (both runners say so instead of listing a thousand differences).
function buildHashes(doc) {
  return {
    registry: hashHex(L.loadCode('registry')),
    provider: hashHex(L.loadCode('provider')),
    channel: hashHex(L.loadCode('channel')),
    wallet: hashHex(Cell.fromBase64(doc.walletCode)),
  };
}

async function runAll(doc = loadScenarios()) {
  const cache = new Map();
  const scenarios = [];
  for (const s of doc.scenarios) scenarios.push({ name: s.name, steps: await runScenario(doc, s, cache) });
  return { build: buildHashes(doc), scenarios };
}

// One step per line: small, and a changed transaction shows as a changed line in a diff.
function formatResults(results) {
  const parts = results.scenarios.map((s) => {
    const steps = s.steps.map((st) => '    ' + JSON.stringify(st)).join(',\n');
    return `  {"name": ${JSON.stringify(s.name)}, "steps": [\n${steps}\n  ]}`;
  });
  return `{\n "comment": ${JSON.stringify(RESULTS_COMMENT)},\n "build": ${JSON.stringify(results.build)},\n`
    + ` "scenarios": [\n${parts.join(',\n')}\n ]\n}\n`;
}

const RESULTS_COMMENT = 'Recorded on @ton/sandbox by tolk/tests/parity/parity.test.js from scenarios.json '
  + '(cd tolk && REWRITE_FIXTURES=1 node --test tests/parity/); tests/parity requires the Go devnet to match it.';

module.exports = { RESULTS, loadScenarios, buildHashes, runAll, runScenario, runSteps, formatResults, Scenario, expandSteps, makeWallet, signedExternal, internalMessageCell };
