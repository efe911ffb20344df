// Replays parity_input.json on @ton/sandbox and writes parity_sandbox.json, the reference the
// Go devnet is compared with (chain/devnet/parity_test.go). Run from the repository root:
//   node chain/devnet/testdata/sandbox_parity.js
// It loads @ton/sandbox and @ton/core from tolk/node_modules (the pinned versions).
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', '..', 'tolk', 'node_modules');
const { Blockchain } = require(path.join(mods, '@ton/sandbox'));
const { Cell, Address, loadMessage } = require(path.join(mods, '@ton/core'));

const statusName = { active: 'ACTIVE', uninitialized: 'UNINIT', frozen: 'FROZEN', 'non-existing': 'NON_EXIST' };

function txOf(tx) {
    const d = tx.description;
    return {
        account: '0:' + tx.address.toString(16).padStart(64, '0'),
        total_fees: tx.totalFees.coins.toString(),
        gas_used: d.computePhase && d.computePhase.type === 'vm' ? d.computePhase.gasUsed.toString() : '0',
        aborted: !!d.aborted,
        out_msgs: tx.outMessagesCount,
        storage_fee: d.storagePhase ? d.storagePhase.storageFeesCollected.toString() : '0',
        end_status: statusName[tx.endStatus],
    };
}

(async () => {
    const steps = JSON.parse(fs.readFileSync(path.join(__dirname, 'parity_input.json'), 'utf8'));
    const bc = await Blockchain.create();
    const out = [];
    for (const s of steps) {
        bc.now = s.now;
        const msg = loadMessage(Cell.fromBase64(s.boc).beginParse());
        const r = { name: s.name, rejected: false, transactions: [], balances: {} };
        try {
            const res = await bc.sendMessage(msg);
            r.transactions = res.transactions.map(txOf);
        } catch (e) {
            if (msg.info.type !== 'external-in') throw e;
            r.rejected = true;
        }
        for (const a of s.watch) {
            const c = await bc.getContract(Address.parse(a));
            r.balances[a] = c.balance.toString();
        }
        out.push(r);
    }
    fs.writeFileSync(path.join(__dirname, 'parity_sandbox.json'), JSON.stringify(out, null, 2) + '\n');
    console.log('wrote parity_sandbox.json:', out.length, 'steps');
})().catch((e) => { console.error(e); process.exit(1); });
