// Side-by-side benchmark of @ton/sandbox with the Go devnet's (tests/parity/bench_test.go): the
// same operations, each a signed V5R1 external message prepared before timing starts.
//   wallet transfer:   alice → bob (both deployed), 2 transactions
//   registry cascade:  owner → registry RegisterProvider (top-up) → provider → excess, 4 transactions
//   channel claim:     the owner relays the client's next voucher as Claim → channel → provider
//                      (ChannelUsage) → protocol fee to the treasury and payout to the owner: 5
//                      transactions with the current contracts (learnt from an untimed probe)
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
    { op: 'send', from: 'bob', to: 'alice', value: '1', bounce: false },
    { op: 'send', from: 'gov', to: 'registry', value: '0.05', body: { type: 'setChannelCode' } },
    { op: 'fund', to: 'client', value: '1000000' },
    { op: 'send', from: 'client', to: 'registry', value: '900000', body: { type: 'openChannel', providerOwner: 'owner', clientKey: 'pubkey:client' } }];
  await E.runSteps(sc, E.expandSteps(doc, setup), []);
  return sc;
}

// `transfer` is a transfer or a function of the operation's index returning one.
async function presign(sc, from, n, transfer) {
  const w = sc.wallets[from];
  const seqno = await sc.seqno(w);
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = typeof transfer === 'function' ? transfer(i) : transfer;
    out.push(E.signedExternal(w, { seqno: seqno + i, validUntil: sc.bc.now + 3600, deploy: false, transfers: [{ mode: 3, ...t }] }));
  }
  return out;
}

// Vouchers grow by 1 milliTON and a few tokens per claim (as claimMsgs in Go).
const milliTON = (n) => `${Math.floor(n / 1000)}.${String(n % 1000).padStart(3, '0')}`;
const claimOf = (sc, i) => ({
  to: sc.addr('channel:client:owner'),
  value: toNano('0.2'),
  bounce: true,
  body: sc.body({ type: 'claim', voucher: { signer: 'client', channel: 'channel:client:owner', amount: milliTON(i + 1), promptTokens: 100 * (i + 1), completionTokens: 200 * (i + 1) } }),
});

// Signs N+1 operations; the first, untimed, is a probe that checks (or, when txsPerOp is 0,
// learns) the cascade length and warms the accounts up.
async function run(name, txsPerOp, prepare) {
  const doc = E.loadScenarios();
  const sc = await world(doc);
  const msgs = await prepare(sc, N + 1);
  const probe = await sc.bc.sendMessage(msgs.shift());
  const want = txsPerOp || probe.transactions.length;
  if (probe.transactions.length !== want || want < 2) throw new Error(`${name}: the probe made ${probe.transactions.length} transactions, want ${want}`);
  const cpu0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (const m of msgs) {
    const r = await sc.bc.sendMessage(m);
    if (r.transactions.length !== want) throw new Error(`${name}: ${r.transactions.length} transactions, want ${want}`);
  }
  const sec = Number(process.hrtime.bigint() - t0) / 1e9;
  const cpu = process.cpuUsage(cpu0); // user+system µs of this process: independent of other jobs' load
  console.log(`${name.padEnd(16)} ${String(N).padStart(6)} ops ${(sec * 1e6 / N).toFixed(0).padStart(8)} µs/op`
    + ` ${(N / sec).toFixed(1).padStart(8)} ops/s ${(N * want / sec).toFixed(1).padStart(8)} tx/s`
    + ` ${((cpu.user + cpu.system) / N).toFixed(0).padStart(8)} cpu-µs/op  (${want} tx/op)`);
}

(async () => {
  console.log(`@ton/sandbox ${require('@ton/sandbox/package.json').version}, node ${process.version}`);
  await run('WalletTransfer', 2, (sc, n) =>
    presign(sc, 'alice', n, { to: sc.addr('bob'), value: toNano('0.01'), bounce: false }));
  await run('RegistryCascade', 4, (sc, n) =>
    presign(sc, 'owner', n, { to: sc.registry, value: toNano('10.2'), bounce: true, body: M.registerProvider({ queryId: 7n, stakeAmount: toNano('10') }) }));
  await run('ChannelClaim', 0, (sc, n) => presign(sc, 'owner', n, (i) => claimOf(sc, i)));
})().catch((e) => {
  console.error(e);
  process.exit(1);
});
