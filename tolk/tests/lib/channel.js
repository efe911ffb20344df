// Payment channel protocol for JS: opcodes, exit codes, the signed Voucher and CloseRequest cells,
// body builders for every channel message, address derivation and get-method readers. Byte-for-byte
// what tolk/src/channel*.tolk parse and build (docs/PROTOCOL.md "Channel contract"). The Go bindings'
// fixture test (tests/go-fixtures-channel.test.js) imports these: keep the names and argument shapes stable.
'use strict';
const { beginCell, Cell, contractAddress } = require('@ton/core');
const { sign, signVerify } = require('@ton/crypto');
const { loadCode } = require('./contracts');

// Kept apart from protocol.js's Op/Errors (the Registry/Provider tables, which their Go fixtures
// enumerate); tests/abi.test.js checks these against the compiler's ABI (contracts/build/*.abi.json).
const ChannelOp = Object.freeze({
  // anyone → registry
  OpenChannel: 0x52470012,
  // governance → registry
  SetChannelCode: 0x5247000f,
  // registry → channel
  ChannelInit: 0x43480001,
  // anyone → channel
  Claim: 0x43480010,
  ClaimRemainder: 0x43480011,
  StartClose: 0x43480012,
  FinalizeClose: 0x43480013,
  // provider owner → channel
  CooperativeClose: 0x43480014,
  // channel → provider
  ChannelUsage: 0x50520005,
  // channel → wallets
  ChannelPayout: 0x43480020,
  ProtocolFee: 0x43480021,
  ChannelRefund: 0x43480022,
});

// Magics of the signed structures (struct prefixes in channel-messages.tolk).
const VOUCHER_MAGIC = 0x766f7563; // "vouc"
const CLOSE_REQUEST_MAGIC = 0x636c6f73; // "clos"

const ChannelErrors = Object.freeze({
  ChannelsDisabled: 150,
  ChannelCodeMismatch: 151,
  NotChannel: 152,
  ChannelNotOpen: 153,
  InvalidSignature: 154,
  WrongChannel: 155,
  VoucherNotNewer: 156,
  NothingToClaim: 157,
  AlreadyClosing: 158,
  NotClosing: 159,
  ChallengeNotOver: 160,
  WrongCloseNonce: 161,
  NotPayee: 162,
  BadVoucher: 163,
});

const ChannelStatus = Object.freeze({ Uninit: 0, Open: 1, Closing: 2 });

const FEE_BPS_DENOMINATOR = 10000n;
// Balance every channel keeps for storage fees (MIN_TONS_FOR_STORAGE in fees-management.tolk).
const CHANNEL_STORAGE_RESERVE = 20_000_000n;

const q = (queryId) => BigInt(queryId ?? 0);
const head = (op, queryId) => beginCell().storeUint(op, 32).storeUint(q(queryId), 64);

// An ed25519 public key as a uint256: a 32-byte Buffer or a bigint.
function keyInt(key) {
  if (typeof key === 'bigint') return key;
  if (Buffer.isBuffer(key) && key.length === 32) return BigInt('0x' + key.toString('hex'));
  throw new Error('client key must be a 32-byte Buffer or a bigint');
}

// ---------------------------------------------------------------- signed structures

function voucherCell({ channel, amount, promptTokens, completionTokens }) {
  return beginCell()
    .storeUint(VOUCHER_MAGIC, 32)
    .storeAddress(channel)
    .storeCoins(amount)
    .storeUint(promptTokens, 64)
    .storeUint(completionTokens, 64)
    .endCell();
}

function parseVoucher(cell) {
  const s = cell.beginParse();
  if (s.loadUint(32) !== VOUCHER_MAGIC) throw new Error('not a voucher');
  const v = { channel: s.loadAddress(), amount: s.loadCoins(), promptTokens: s.loadUintBig(64), completionTokens: s.loadUintBig(64) };
  s.endParse();
  return v;
}

function closeRequestCell({ channel, closeNonce, refundTo }) {
  return beginCell().storeUint(CLOSE_REQUEST_MAGIC, 32).storeAddress(channel).storeUint(closeNonce, 32).storeAddress(refundTo).endCell();
}

// ed25519 over the cell's representation hash (what the contract checks with isSignatureValid).
// `secretKey` is the 64-byte @ton/crypto secret key. Returns { cell, signature } (signature: 64-byte Buffer).
function signCell(cell, secretKey) {
  return { cell, signature: sign(cell.hash(), secretKey) };
}

const signVoucher = (voucher, secretKey) => signCell(voucherCell(voucher), secretKey);
const signCloseRequest = (request, secretKey) => signCell(closeRequestCell(request), secretKey);
const verifySigned = (cell, signature, publicKey) => signVerify(cell.hash(), signature, publicKey);

// The channel's voucher rule: a Claim of `v` after the accepted state `a` is accepted iff v's amount
// is higher, or equal with a token total higher (a report-only update); the channel then stores
// v's amount and the larger of each token total (acceptVoucher). Money orders vouchers.
function isNewer(v, a) {
  const [va, aa] = [BigInt(v.amount), BigInt(a.amount)];
  if (va !== aa) return va > aa;
  return BigInt(v.promptTokens) > BigInt(a.promptTokens) || BigInt(v.completionTokens) > BigInt(a.completionTokens);
}

// The accepted state after a Claim of `v` on `a` (null when the channel refuses it with 156).
function acceptVoucher(a, v) {
  if (!isNewer(v, a)) return null;
  const max = (x, y) => (BigInt(x) > BigInt(y) ? BigInt(x) : BigInt(y));
  return { amount: BigInt(v.amount), promptTokens: max(v.promptTokens, a.promptTokens), completionTokens: max(v.completionTokens, a.completionTokens) };
}

// The channel's fee rule: paying `pay` on top of `paid` already paid costs
// floor((paid + pay) * bps / 10000) - floor(paid * bps / 10000); the provider gets the rest.
function feeSplit({ paid, pay, bps }) {
  const [p, x, b] = [BigInt(paid), BigInt(pay), BigInt(bps)];
  const fee = ((p + x) * b) / FEE_BPS_DENOMINATOR - (p * b) / FEE_BPS_DENOMINATOR;
  return { fee, net: x - fee };
}

// ---------------------------------------------------------------- message bodies

const openChannel = ({ queryId, providerOwner, clientKey }) =>
  head(ChannelOp.OpenChannel, queryId).storeAddress(providerOwner).storeUint(keyInt(clientKey), 256).endCell();
const setChannelCode = ({ queryId, channelCode }) => head(ChannelOp.SetChannelCode, queryId).storeRef(channelCode).endCell();
const channelInit = ({ queryId, opener, payoutTo, treasury, protocolFeeBps, challengePeriod }) =>
  head(ChannelOp.ChannelInit, queryId)
    .storeAddress(opener)
    .storeAddress(payoutTo)
    .storeAddress(treasury)
    .storeUint(protocolFeeBps, 16)
    .storeUint(challengePeriod, 32)
    .endCell();

// `voucher` is a ready voucher cell or voucher fields; `signature` a 64-byte Buffer.
const claim = ({ queryId, voucher, signature }) =>
  head(ChannelOp.Claim, queryId)
    .storeRef(voucher instanceof Cell ? voucher : voucherCell(voucher))
    .storeBuffer(signature, 64)
    .endCell();
const claimRemainder = ({ queryId } = {}) => head(ChannelOp.ClaimRemainder, queryId).endCell();
// `request` is a ready close request cell or its fields.
const startClose = ({ queryId, request, signature }) =>
  head(ChannelOp.StartClose, queryId)
    .storeRef(request instanceof Cell ? request : closeRequestCell(request))
    .storeBuffer(signature, 64)
    .endCell();
const finalizeClose = ({ queryId } = {}) => head(ChannelOp.FinalizeClose, queryId).endCell();
const cooperativeClose = ({ queryId } = {}) => head(ChannelOp.CooperativeClose, queryId).endCell();

// Built by the contracts; here for fixtures and spoofing tests. `before` / `after` are channel storage
// roots (cells or channelStorageCell fields): the provider reads the claim's usage and money from
// their difference.
const channelUsage = ({ queryId, excessTo, before, after }) =>
  head(ChannelOp.ChannelUsage, queryId)
    .storeAddress(excessTo)
    .storeRef(asCell(before, channelStorageCell))
    .storeRef(asCell(after, channelStorageCell))
    .endCell();
const channelPayout = ({ queryId } = {}) => head(ChannelOp.ChannelPayout, queryId).endCell();
const protocolFee = ({ queryId } = {}) => head(ChannelOp.ProtocolFee, queryId).endCell();
const channelRefund = ({ queryId } = {}) => head(ChannelOp.ChannelRefund, queryId).endCell();

// ---------------------------------------------------------------- address derivation

// ChannelSetup cell; payoutTo / treasury null before ChannelInit.
const channelSetupCell = ({ registry, payoutTo = null, treasury = null, challengePeriod = 0 }) =>
  beginCell().storeAddress(registry).storeAddress(payoutTo).storeAddress(treasury).storeUint(challengePeriod, 32).endCell();

const closingStateCell = ({ refundTo, deadline }) => beginCell().storeAddress(refundTo).storeUint(deadline, 32).endCell();
const asCell = (v, build) => (v instanceof Cell ? v : build(v));

// ChannelStorage root cell (channel-storage.tolk); `setup` is a ChannelSetup cell or its fields,
// `closing` a ClosingState cell, its fields or null.
function channelStorageCell({
  clientKey, provider, status = 0, protocolFeeBps = 0, closeNonce = 0,
  acceptedAmount = 0n, acceptedPrompt = 0n, acceptedCompletion = 0n, paid = 0n, setup, closing = null,
}) {
  return beginCell()
    .storeUint(keyInt(clientKey), 256)
    .storeAddress(provider)
    .storeUint(status, 8)
    .storeUint(protocolFeeBps, 16)
    .storeUint(closeNonce, 32)
    .storeCoins(acceptedAmount)
    .storeUint(acceptedPrompt, 64)
    .storeUint(acceptedCompletion, 64)
    .storeCoins(paid)
    .storeRef(asCell(setup, channelSetupCell))
    .storeMaybeRef(closing === null ? null : asCell(closing, closingStateCell))
    .endCell();
}

// Initial data: ChannelStorage with registry, client key and provider set, everything else zero / none.
const channelInitialData = (registry, clientKey, provider) =>
  channelStorageCell({ clientKey, provider, setup: channelSetupCell({ registry }) });

// `provider` is the Provider contract address (not its owner).
function channelAddress(registry, clientKey, provider, channelCode = loadCode('channel')) {
  return contractAddress(0, { code: channelCode, data: channelInitialData(registry, clientKey, provider) });
}

// ---------------------------------------------------------------- get-method readers

async function get(bc, address, method, args = []) {
  const r = await bc.runGetMethod(address, method, args);
  if (r.exitCode !== 0 && r.exitCode !== 1) throw new Error(`${method} failed: exit code ${r.exitCode}`);
  return r.stackReader;
}

async function getChannelData(bc, channel) {
  const s = await get(bc, channel, 'get_channel_data');
  return {
    registry: s.readAddress(),
    clientKey: s.readBigNumber(),
    provider: s.readAddress(),
    payoutTo: s.readAddressOpt(),
    treasury: s.readAddressOpt(),
    protocolFeeBps: s.readNumber(),
    challengePeriod: s.readNumber(),
  };
}

// What OpenChannel must carry beyond the deposit (throws while channels are disabled).
async function getOpenChannelFee(bc, registry) {
  return (await get(bc, registry, 'get_open_channel_fee')).readBigNumber();
}

async function getChannelState(bc, channel) {
  const s = await get(bc, channel, 'get_channel_state');
  return {
    status: s.readNumber(),
    closeNonce: s.readNumber(),
    acceptedAmount: s.readBigNumber(),
    acceptedPrompt: s.readBigNumber(),
    acceptedCompletion: s.readBigNumber(),
    paid: s.readBigNumber(),
    owed: s.readBigNumber(),
    available: s.readBigNumber(),
    refundTo: s.readAddressOpt(),
    closeDeadline: s.readNumber(),
    claimCost: s.readBigNumber(),
  };
}

// Registry getter: the channel of (registry, clientKey, provider of providerOwner); null while the
// registry has no channel code.
async function getChannelAddress(bc, registry, clientKey, providerOwner) {
  const s = await get(bc, registry, 'get_channel_address', [
    { type: 'int', value: keyInt(clientKey) },
    { type: 'slice', cell: beginCell().storeAddress(providerOwner).endCell() },
  ]);
  return s.readAddressOpt();
}

module.exports = {
  getOpenChannelFee,
  ChannelOp,
  ChannelErrors,
  ChannelStatus,
  VOUCHER_MAGIC,
  CLOSE_REQUEST_MAGIC,
  FEE_BPS_DENOMINATOR,
  CHANNEL_STORAGE_RESERVE,
  keyInt,
  voucherCell,
  parseVoucher,
  closeRequestCell,
  signCell,
  signVoucher,
  signCloseRequest,
  verifySigned,
  isNewer,
  acceptVoucher,
  feeSplit,
  openChannel,
  setChannelCode,
  channelInit,
  claim,
  claimRemainder,
  startClose,
  finalizeClose,
  cooperativeClose,
  channelUsage,
  channelSetupCell,
  channelStorageCell,
  closingStateCell,
  channelPayout,
  protocolFee,
  channelRefund,
  channelInitialData,
  channelAddress,
  getChannelData,
  getChannelState,
  getChannelAddress,
};
