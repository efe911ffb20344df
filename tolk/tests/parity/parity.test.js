// @ton/sandbox side of the emulator parity check (issue 5): runs every scenario of
// tests/parity/testdata/scenarios.json and compares the outcome with the committed
// sandbox-results.json, which the Go devnet test (tests/parity) compares itself with.
// REWRITE_FIXTURES=1 node --test tests/parity/ rewrites the results after a deliberate change
// (scenarios, contracts or the sandbox version); commit them with that change.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const E = require('./engine');

const REWRITE = 'cd tolk && REWRITE_FIXTURES=1 node --test tests/parity/';

test('scenarios on @ton/sandbox match the recorded results', async () => {
  if (process.env.REWRITE_FIXTURES === '1') {
    fs.writeFileSync(E.RESULTS, E.formatResults(await E.runAll()));
    return;
  }
  assert.ok(fs.existsSync(E.RESULTS), `${E.RESULTS} is missing: run ${REWRITE}`);
  const want = JSON.parse(fs.readFileSync(E.RESULTS, 'utf8'));
  const doc = E.loadScenarios();
  assert.deepEqual(E.buildHashes(doc), want.build, `the contract or wallet code changed since the results were recorded: run ${REWRITE} and commit`);
  const got = await E.runAll(doc);
  assert.deepEqual(got.scenarios.map((s) => s.name), want.scenarios.map((s) => s.name), `scenarios changed: run ${REWRITE}`);
  for (let i = 0; i < want.scenarios.length; i++) {
    const w = want.scenarios[i];
    assert.equal(got.scenarios[i].steps.length, w.steps.length, `${w.name}: number of steps (scenarios changed? run ${REWRITE})`);
    for (let j = 0; j < w.steps.length; j++) {
      assert.deepEqual(got.scenarios[i].steps[j], w.steps[j], `${w.name}, step ${j}: ${w.steps[j].step}`);
    }
  }
});
