// @ton/sandbox side of the emulator parity check (issue 5): runs every scenario of
// tests/parity/testdata/scenarios.json and compares the outcome with the committed
// sandbox-results.json, which the Go devnet test (tests/parity) compares itself with.
// REWRITE_FIXTURES=1 node --test tests/parity/ rewrites the results after a deliberate change.
'use strict';
const test = require('node:test');
const assert = require('node:assert/strict');
const fs = require('fs');
const E = require('./engine');

test('scenarios on @ton/sandbox match the recorded results', async () => {
  const got = await E.runAll();
  const text = E.formatResults(got);
  if (process.env.REWRITE_FIXTURES === '1') {
    fs.writeFileSync(E.RESULTS, text);
    return;
  }
  const want = JSON.parse(fs.readFileSync(E.RESULTS, 'utf8'));
  assert.equal(got.length, want.length, 'number of scenarios');
  for (let i = 0; i < want.length; i++) {
    assert.equal(got[i].name, want[i].name);
    assert.equal(got[i].steps.length, want[i].steps.length, `${want[i].name}: number of steps`);
    for (let j = 0; j < want[i].steps.length; j++) {
      assert.deepEqual(got[i].steps[j], want[i].steps[j], `${want[i].name}, step ${j}: ${want[i].steps[j].step}`);
    }
  }
});
