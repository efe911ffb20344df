// Compiles c7probe.tolk into c7probe.boc and records @ton/sandbox's answers to its getters in
// c7probe_sandbox.json (the fee getters depend only on the config, the rest on the fixed
// scenario below). Run from the repository root: node chain/devnet/testdata/c7probe.js
const path = require('path');
const fs = require('fs');
const mods = path.join(__dirname, '..', '..', '..', 'tolk', 'node_modules');
const { runTolkCompiler } = require(path.join(mods, '@ton/tolk-js'));
const { Blockchain, createShardAccount } = require(path.join(mods, '@ton/sandbox'));
const { Cell, beginCell, contractAddress, toNano } = require(path.join(mods, '@ton/core'));

(async () => {
    const res = await runTolkCompiler({
        entrypointFileName: 'c7probe.tolk',
        fsReadCallback: (p) => fs.readFileSync(path.join(__dirname, p), 'utf-8'),
        optimizationLevel: 2,
    });
    if (res.status !== 'ok') throw new Error(res.message);
    const code = Cell.fromBase64(res.codeBoc64);
    fs.writeFileSync(path.join(__dirname, 'c7probe.boc'), code.toBoc());

    const data = beginCell().endCell();
    const address = contractAddress(0, { code, data });
    const bc = await Blockchain.create();
    bc.now = 1800000000;
    await bc.setShardAccount(address, createShardAccount({ address, code, data, balance: toNano('2.5') }));
    const out = {};
    for (const m of ['probe_now', 'probe_balance', 'probe_code_hash', 'probe_has_config', 'probe_gas_fee', 'probe_fwd_fee', 'probe_storage_fee']) {
        const r = await bc.runGetMethod(address, m, []);
        out[m] = r.stackReader.readBigNumber().toString();
    }
    out.probe_address = (await bc.runGetMethod(address, 'probe_address', [])).stackReader.readAddress().toRawString();
    fs.writeFileSync(path.join(__dirname, 'c7probe_sandbox.json'), JSON.stringify(out, null, 2) + '\n');
    console.log(out);
})().catch((e) => { console.error(e); process.exit(1); });
