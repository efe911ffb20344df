// Side-by-side benchmark: replays the messages written by
//   go test ./chain/devnet -run TestWriteSandboxBenchInput -v -write-bench-input=FILE
// (a faucet message, a wallet deployment, then signed V4R2 transfers) on @ton/sandbox and prints
// the transfers per second. Run from the repository root: node chain/devnet/testdata/sandbox_bench.js FILE
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', '..', 'tolk', 'node_modules');
const { Blockchain } = require(path.join(mods, '@ton/sandbox'));
const { Cell, Address, loadMessage } = require(path.join(mods, '@ton/core'));

(async () => {
    const input = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
    const msgs = input.bocs.map((b) => loadMessage(Cell.fromBase64(b).beginParse()));
    const bc = await Blockchain.create();
    bc.now = input.now;
    await bc.sendMessage(msgs[0]);
    await bc.sendMessage(msgs[1]);
    const transfers = msgs.slice(2);
    const start = process.hrtime.bigint();
    for (const m of transfers) await bc.sendMessage(m);
    const secs = Number(process.hrtime.bigint() - start) / 1e9;
    const to = transfers[0].body.beginParse().skip(512 + 32 + 32 + 32 + 8 + 8).loadRef().beginParse();
    to.skip(4);
    to.loadMaybeAddress();
    const receiver = to.loadAddress();
    const bal = (await bc.getContract(receiver)).balance.toString();
    console.log(`sandbox: ${transfers.length} transfers in ${secs.toFixed(2)} s = ${(transfers.length / secs).toFixed(0)} transfers/s; receiver balance ${bal} (devnet: ${input.receiver_balance})`);
})().catch((e) => { console.error(e); process.exit(1); });
