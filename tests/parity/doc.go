// Package parity checks that the Go devnet (chain/devnet) and the reference emulator
// (@ton/sandbox) agree on the project's contracts, and measures both side by side.
//
// testdata/scenarios.json describes contract scenarios once, as data (fund, wallet sends, clock
// advances, getters). tolk/tests/parity/parity.test.js runs them on @ton/sandbox and records
// every transaction in testdata/sandbox-results.json; the tests here run the very same steps on
// an in-process devnet and require the same exit codes, gas, fees, balances and getter results.
//
// Regenerate the sandbox side after a deliberate change (contracts, scenarios):
//
//	cd tolk && REWRITE_FIXTURES=1 node --test tests/parity/
//
// (REWRITE_FIXTURES=1 node --test tests/ also regenerates contracts/testdata/fixtures.json.) Both
// sides fail with that hint when the contract or wallet code changed since the recording.
package parity
