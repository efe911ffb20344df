#!/usr/bin/env node
// Compiles every contract in CONTRACTS to contracts/build/<name>.boc (raw code BOC) and
// contracts/build/<name>.json (code hash, compiler version). With --check it compiles into memory and
// fails when the committed output differs, so CI catches a stale build.
'use strict';
const fs = require('fs');
const path = require('path');
const { runTolkCompiler, getTolkCompilerVersion } = require('@ton/tolk-js');

// Entry points, each tolk/src/<name>.tolk.
const CONTRACTS = ['registry', 'provider'];
const REQUIRED_VERSION = '1.3.0';

const srcDir = path.join(__dirname, '..', 'src');
const outDir = path.join(__dirname, '..', '..', 'contracts', 'build');

async function compile(name) {
  const result = await runTolkCompiler({
    entrypointFileName: `${name}.tolk`,
    fsReadCallback: (p) => fs.readFileSync(path.join(srcDir, p), 'utf-8'),
    optimizationLevel: 2,
    withStackComments: false,
  });
  if (result.status !== 'ok') {
    throw new Error(`${name}.tolk: ${result.message}`);
  }
  const boc = Buffer.from(result.codeBoc64, 'base64');
  const meta = {
    name,
    codeHashHex: result.codeHashHex,
    tolkVersion: result.tolkVersion,
  };
  return { boc, json: JSON.stringify(meta, null, 2) + '\n' };
}

async function main() {
  const check = process.argv.includes('--check');
  const version = await getTolkCompilerVersion();
  if (version !== REQUIRED_VERSION) {
    throw new Error(`Tolk compiler ${version}, expected ${REQUIRED_VERSION}`);
  }
  fs.mkdirSync(outDir, { recursive: true });
  let stale = [];
  for (const name of CONTRACTS) {
    const { boc, json } = await compile(name);
    const bocPath = path.join(outDir, `${name}.boc`);
    const jsonPath = path.join(outDir, `${name}.json`);
    if (check) {
      const sameBoc = fs.existsSync(bocPath) && Buffer.compare(fs.readFileSync(bocPath), boc) === 0;
      const sameJson = fs.existsSync(jsonPath) && fs.readFileSync(jsonPath, 'utf-8') === json;
      if (!sameBoc || !sameJson) stale.push(name);
    } else {
      fs.writeFileSync(bocPath, boc);
      fs.writeFileSync(jsonPath, json);
      console.log(`${name}: ${JSON.parse(json).codeHashHex}`);
    }
  }
  if (stale.length > 0) {
    console.error(`committed build output is stale for: ${stale.join(', ')} (run 'make contracts' and commit contracts/build)`);
    process.exit(1);
  }
  if (check) console.log(`contracts/build is up to date (${CONTRACTS.length} contracts)`);
}

main().catch((e) => {
  console.error(e.message || e);
  process.exit(1);
});
