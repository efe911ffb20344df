// Records what @ton/sandbox's action phase does when an outbound message's funds cannot pay the
// action fine for its cells (result code 40 there, 37 in tonutils-go before the devnet's
// correction, see chain/devnet/emulatorfix.go), and the neighbouring cases that stay 37 or
// succeed. Each case is a contract whose code sends the message held in its data
// (ACCEPT PUSHROOT CTOS LDREF LDU 8 DROP SENDRAWMSG; ACCEPT so that gas is paid even when the
// inbound value is below it) with the mode held there; the address is funded
// by the faucet, then deployed by a faucet message whose value is the case's inbound value.
// Writes actionfine_sandbox.json (cells, values and results); TestActionFineParity replays it.
// Run from the repository root: node chain/devnet/testdata/actionfine.js
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', '..', 'tolk', 'node_modules');
const { Blockchain, internal } = require(path.join(mods, '@ton/sandbox'));
const { Address, Cell, beginCell, contractAddress } = require(path.join(mods, '@ton/core'));

const FAUCET = Address.parse('0:82c78c6981a5e8211e7b25cc29558e3a9602b68315e60b0d5c6731e9a4ed762c');
const DEST = Address.parse('0:7472656173757279000000000000000000000000000000000000000000000001');
const CODE = beginCell().storeBuffer(Buffer.from('F800ED44D0D4D30730FB00', 'hex')).endCell();
const FUND = 1000000000n;

// A relaxed internal message to DEST laid out bit by bit (so the Go side gets the same cell):
// body 'inline' (16 bits, no refs) or a chain of `cells` cells in a ref.
function message({ value, body, cells = 1 }) {
  const b = beginCell().storeUint(0, 1).storeBit(1).storeBit(0).storeBit(0).storeUint(0, 2)
    .storeAddress(DEST).storeCoins(value).storeBit(0).storeCoins(0).storeCoins(0)
    .storeUint(0, 64).storeUint(0, 32).storeBit(0);
  if (body === 'inline') return b.storeBit(0).storeUint(0xabcd, 16).endCell();
  let c = beginCell().storeUint(0, 8).endCell();
  for (let i = 1; i < cells; i++) c = beginCell().storeUint(i, 8).storeRef(c).endCell();
  return b.storeBit(1).storeRef(c).endCell();
}

async function run(bc, { name, mode, msg, inbound }) {
  const data = beginCell().storeUint(mode, 8).storeRef(message(msg)).endCell();
  const address = contractAddress(0, { code: CODE, data });
  await bc.sendMessage(internal({ from: FAUCET, to: address, value: FUND, bounce: false }));
  const r = await bc.sendMessage(internal({ from: FAUCET, to: address, value: inbound, bounce: false, stateInit: { code: CODE, data } }));
  const tx = r.transactions[0];
  const d = tx.description;
  const a = d.actionPhase;
  return {
    name,
    data: data.toBoc().toString('base64'),
    inbound: inbound.toString(),
    compute: { success: d.computePhase.success, gasFees: d.computePhase.gasFees.toString() },
    action: {
      success: a.success, resultCode: a.resultCode, noFunds: a.noFunds, skippedActions: a.skippedActions,
      totalActionFees: (a.totalActionFees ?? 0n).toString(), totalFwdFees: (a.totalFwdFees ?? 0n).toString(),
    },
    totalFees: tx.totalFees.coins.toString(),
    outMessages: tx.outMessages.size,
    balance: (await bc.getContract(address)).balance.toString(),
  };
}

(async () => {
  const bc = await Blockchain.create();
  bc.now = 1800000000;
  // The gas of the code is the same in every case: the first case tells its fee.
  const first = await run(bc, { name: 'mode 0, 1 nanoTON, body inline (no cells): only the forward fee is missing', mode: 0, msg: { value: 1n, body: 'inline' }, inbound: 100000000n });
  const gas = BigInt(first.compute.gasFees);
  const cases = [
    { name: 'mode 0, 1 nanoTON, body in a ref: the value cannot pay the fine for one cell', mode: 0, msg: { value: 1n, body: 'ref' }, inbound: 100000000n },
    { name: 'mode 16, 1 nanoTON, body in a ref', mode: 16, msg: { value: 1n, body: 'ref' }, inbound: 100000000n },
    { name: 'mode 0, 15000 nanoTON, 3 cells: the value pays the fine for 1 cell', mode: 0, msg: { value: 15000n, body: 'ref', cells: 3 }, inbound: 100000000n },
    { name: 'mode 0, 50000 nanoTON, body in a ref: the fine is paid, the forward fee is not', mode: 0, msg: { value: 50000n, body: 'ref' }, inbound: 100000000n },
    { name: 'mode 2, 1 nanoTON, body in a ref: skipped', mode: 2, msg: { value: 1n, body: 'ref' }, inbound: 100000000n },
    { name: 'mode 64, inbound value below the gas fee: 37 before the cells are counted', mode: 64, msg: { value: 0n, body: 'ref' }, inbound: gas - 1n },
    { name: 'mode 64, nothing left after gas, body in a ref', mode: 64, msg: { value: 0n, body: 'ref' }, inbound: gas },
    { name: 'mode 64, 50 nanoTON left after gas, body in a ref', mode: 64, msg: { value: 0n, body: 'ref' }, inbound: gas + 50n },
    { name: 'mode 64, 1 TON left after gas: sent', mode: 64, msg: { value: 0n, body: 'ref' }, inbound: gas + 1000000000n },
    { name: 'mode 1, 1 nanoTON, body in a ref: the account pays, sent', mode: 1, msg: { value: 1n, body: 'ref' }, inbound: 100000000n },
  ];
  const out = { code: CODE.toBoc().toString('base64'), fund: FUND.toString(), now: bc.now, cases: [first] };
  for (const c of cases) out.cases.push(await run(bc, c));
  fs.writeFileSync(path.join(__dirname, 'actionfine_sandbox.json'), JSON.stringify(out, null, 1) + '\n');
  for (const c of out.cases) console.log(c.action.resultCode, c.action.noFunds, c.action.totalActionFees, c.name);
})().catch((e) => { console.error(e); process.exit(1); });
