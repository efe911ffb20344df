// Side-by-side benchmark of @ton/sandbox with the Go devnet's (tests/parity/bench_test.go): the
// same operations, each a signed V5R1 external message prepared before timing starts.
//   wallet transfer:   alice → bob (both deployed), 2 transactions
//   registry cascade:  owner → registry RegisterProvider (top-up) → provider → excess, 4 transactions
// TODO(channel): the channel claim cascade, once the Channel contract exists in tolk/src.
// Not a *.test.js file: `node --test` never runs it. Run from tolk/:
//   node tests/parity/bench.js [operations per scenario, default 500]
'use strict';
const { Blockchain } = require('@ton/sandbox');
const { toNano } = require('@ton/core');
const E = require('./engine');
const M = require('../lib/messages');

const N = Number(process.argv[2] ?? 500);
if (!Number.isInteger(N) || N <= 0) {
  console.error(`operations per scenario must be a positive integer, got ${process.argv[2]}`);
  process.exit(2);
}

// A sandbox with the scenario file's base set-up plus deployed alice and bob (as benchWorld in Go).
async function world(doc) {
  const bc = await Blockchain.create();
  bc.now = doc.now;
  const sc = new E.Scenario(doc, bc);
  const setup = [{ include: 'base' }, { include: 'register' },
    { op: 'fund', to: 'alice', value: '1000000' }, { op: 'fund', to: 'bob', value: '10' }, { op: 'fund', to: 'owner', value: '10000000' },
    { op: 'send', from: 'alice', to: 'bob', value: '1', bounce: false },
    { op: 'send', from: 'bob', to: 'alice', value: '1', bounce: false }];
  await E.runSteps(sc, E.expandSteps(doc, setup), []);
  return sc;
}

async function presign(sc, from, n, transfer) {
  const w = sc.wallets[from];
  const seqno = await sc.seqno(w);
  const out = [];
  for (let i = 0; i < n; i++) {
    out.push(E.signedExternal(w, { seqno: seqno + i, validUntil: sc.bc.now + 3600, deploy: false, transfers: [{ mode: 3, ...transfer }] }));
  }
  return out;
}

async function run(name, txsPerOp, prepare) {
  const doc = E.loadScenarios();
  const sc = await world(doc);
  const msgs = await prepare(sc);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const m of msgs) {
    const r = await sc.bc.sendMessage(m);
    if (r.transactions.length !== txsPerOp) throw new Error(`${name}: ${r.transactions.length} transactions, want ${txsPerOp}`);
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0); // user+system µs of this process: independent of other jobs' load
  console.log(`${name.padEnd(16)} ${String(N).padStart(6)} ops ${(sec * 1e6 / N).toFixed(0).padStart(8)} µs/op`
    + ` ${(N / sec).toFixed(1).padStart(8)} ops/s ${(N * txsPerOp / sec).toFixed(1).padStart(8)} tx/s`
    + ` ${((cpu.user + cpu.system) / N).toFixed(0).padStart(8)} cpu-µs/op`);
}

(async () => {
  console.log(`@ton/sandbox ${require('@ton/sandbox/package.json').version}, node ${process.version}`);
  await run('WalletTransfer', 2, (sc) =>
    presign(sc, 'alice', N, { to: sc.addr('bob'), value: toNano('0.01'), bounce: false }));
  await run('RegistryCascade', 4, (sc) =>
    presign(sc, 'owner', N, { to: sc.registry, value: toNano('10.2'), bounce: true, body: M.registerProvider({ queryId: 7n, stakeAmount: toNano('10') }) }));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
