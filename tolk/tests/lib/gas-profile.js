// Per-instruction gas of one transaction from @ton/sandbox's VM log (verbosity vmLogs: 'vm_logs_gas'),
// and its attribution to the source constructs of the channel's Claim (docs/GAS.md).
'use strict';

const START_GAS = 250000n;     // the log only gives "gas remaining"; the first step is measured from the start

// [{ op, gas }] in execution order. Each "execute X" line is followed by "gas remaining: N"; the gas of X
// is the drop since the previous remaining value (cell loads and creations are charged to the instruction
// that causes them).
function parseVmLog(text, startGas = START_GAS) {
  const steps = [];
  let op = null;
  let prev = null;
  for (const line of text.split('\n')) {
    const ex = /^execute (.*)$/.exec(line);
    if (ex) { op = ex[1].trim(); continue; }
    const gr = /^gas remaining: (\d+)$/.exec(line);
    if (!gr) continue;
    const remaining = BigInt(gr[1]);
    if (prev === null) prev = startGas;
    if (op !== null) steps.push({ op, gas: Number(prev - remaining) });
    prev = remaining;
    op = null;
  }
  return steps;
}

// The Claim's sections, in execution order. Each ends (inclusive) at the next instruction matching
// `end`, searched from where the previous section ended; the last takes the rest. A missing anchor
// (the code changed shape) throws, so the breakdown never silently drifts from the code.
const CLAIM_SECTIONS = [
  { name: 'entry: SETCP, method dictionary (recv_internal), bounced test, op dispatch, Claim arm (code ref)', end: /^NIP$/ },
  { name: 'storage load: c4 cell, head slice, accepted*/paid, clientKey/provider/status, status check', end: /^THROWIFNOT 153$/ },
  { name: 'Claim body: queryId, voucher ref, 512-bit signature', end: /^PLDSLICEX$/ },
  { name: 'voucher: cell load, magic, fields, ENDS, channel == my address', end: /^THROWIFNOT 155$/ },
  { name: 'newer check: two token maxima (the stored totals), three differences, OR, > 0', end: /^THROWIFNOT 156$/ },
  { name: 'signature: HASHCU + CHKSIGNU', end: /^THROWIFNOT 154$/ },
  { name: 'claimCost() check: GETGASFEE + GETFORWARDFEE', end: /^THROWIFNOT 118$/ },
  { name: 'pay = min(available, owed) (includes a code-cell JMPREF)', end: /^MIN$/ },
  { name: 'storage save: head/tail re-stored as slices, 4 fields, ENDC, c4', end: /^POP c4$/ },
  { name: 'usage report: hand-built header (147 constant bits in one slice), inline body (queryId, relayer, refs to both roots), ENDC + SENDRAWMSG', end: null },
];

// [{ name, gas, instructions }] covering every step exactly once.
function attribute(steps, sections = CLAIM_SECTIONS) {
  const out = [];
  let from = 0;
  for (const s of sections) {
    let to;
    if (s.end === null) {
      to = steps.length;
    } else {
      const i = steps.findIndex((st, k) => k >= from && s.end.test(st.op));
      if (i < 0) throw new Error(`gas profile: no ${s.end} after step ${from} for "${s.name}": the Claim's code changed, update CLAIM_SECTIONS`);
      to = s.before ? i : i + 1;
    }
    const part = steps.slice(from, to);
    out.push({ name: s.name, gas: part.reduce((a, st) => a + st.gas, 0), instructions: part.length });
    from = to;
  }
  return out;
}

// Gas of the steps whose op matches `re` (e.g. /^ENDC$/ for cell creations).
function gasOf(steps, re) {
  return steps.filter((s) => re.test(s.op)).reduce((a, s) => a + s.gas, 0);
}

module.exports = { parseVmLog, attribute, gasOf, CLAIM_SECTIONS };
