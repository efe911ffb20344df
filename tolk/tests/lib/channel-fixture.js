// Sandbox setup for the channel suites: a registry with the channel code, a registered provider, a
// client key, and helpers to open, sign, claim and close.
'use strict';
const { toNano } = require('@ton/core');
const { internal } = require('@ton/sandbox');
const { keyPairFromSeed } = require('@ton/crypto');
const F = require('./fixture');
const L = require('./contracts');
const C = require('./channel');

function clientKeyPair(i = 0) {
  return keyPairFromSeed(Buffer.alloc(32, 0x40 + i));
}

// ctx from F.setup plus: client (wallet), relayer (wallet), key (ed25519 pair), channel (address),
// channelCode, open(), sign(), claim(), startClose(). `open: false` leaves the channel undeployed.
async function setupChannel({ deposit = toNano('10'), params = {}, open = true, register = true, config } = {}) {
  const channelCode = L.loadCode('channel');
  const ctx = await F.setup({ oracles: 0, quorum: 1, params, register, channelCode, config });
  const { bc } = ctx;
  ctx.channelCode = channelCode;
  ctx.client = await bc.treasury('client');
  ctx.relayer = await bc.treasury('relayer');
  ctx.key = clientKeyPair(0);
  ctx.channel = C.channelAddress(ctx.registry, ctx.key.publicKey, ctx.provider, channelCode);
  ctx.channelOf = (key, owner = ctx.owner.address) => C.channelAddress(ctx.registry, key, ctx.providerOf(owner), channelCode);

  // OpenChannel from `from` (default: the client wallet) for `key`, value = deposit + 0.1 TON for fees.
  ctx.open = ({ value = deposit + toNano('0.1'), from = ctx.client, key = ctx.key.publicKey, providerOwner = ctx.owner.address, queryId = 1 } = {}) =>
    from.send({ to: ctx.registry, value, body: C.openChannel({ queryId, providerOwner, clientKey: key }) });
  ctx.voucher = (amount, promptTokens = 0n, completionTokens = 0n, channel = ctx.channel) => ({ channel, amount, promptTokens, completionTokens });
  ctx.signed = (v, secretKey = ctx.key.secretKey) => C.signVoucher(v, secretKey);
  // Claim `v` (voucher fields) relayed by `from` (default: the relayer wallet).
  ctx.claim = (v, { from = ctx.relayer, value = toNano('0.1'), secretKey, queryId = 2 } = {}) => {
    const { cell, signature } = ctx.signed(v, secretKey);
    return from.send({ to: ctx.channel, value, body: C.claim({ queryId, voucher: cell, signature }) });
  };
  ctx.startClose = ({ refundTo = ctx.client.address, closeNonce = 0, from = ctx.client, value = toNano('0.05'), secretKey = ctx.key.secretKey, channel = ctx.channel } = {}) => {
    const { cell, signature } = C.signCloseRequest({ channel, closeNonce, refundTo }, secretKey);
    return from.send({ to: ctx.channel, value, body: C.startClose({ queryId: 3, request: cell, signature }) });
  };
  ctx.direct = (from, body, value = toNano('0.1'), to = ctx.channel) => bc.sendMessage(internal({ from, to, value, body }));
  if (open) {
    const r = await ctx.open();
    F.assertTx(r, { from: ctx.registry, to: ctx.channel, success: true });
  }
  return ctx;
}

module.exports = { clientKeyPair, setupChannel };

// Internal messages `from` sent in `result`: [{ to, value, op, body }] (value = what the receiver gets).
function sentBy(result, from) {
  const out = [];
  for (const tx of result.transactions) {
    for (const m of tx.outMessages.values()) {
      if (m.info.type !== 'internal' || !m.info.src.equals(from)) continue;
      const s = m.body.beginParse();
      out.push({ to: m.info.dest, value: m.info.value.coins, op: s.remainingBits >= 32 ? s.preloadUint(32) : null, body: m.body });
    }
  }
  return out;
}

// The single message `from` sent to `to` with opcode `op` (asserts there is exactly one).
function sentOne(result, from, to, op) {
  const found = sentBy(result, from).filter((m) => m.to.equals(to) && (op === undefined || m.op === op));
  if (found.length !== 1) throw new Error(`expected one message ${from} → ${to} op ${op?.toString(16)}, got ${found.length}`);
  return found[0];
}

module.exports.sentBy = sentBy;
module.exports.sentOne = sentOne;
