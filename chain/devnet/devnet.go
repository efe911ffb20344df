// Package devnet is a local TON emulator: accounts, message routing in logical-time order with
// bounces, fees from the blockchain config, transactions and get-methods, all executed by
// tonutils-go's pure-Go TVM and persisted in Pebble. It serves the toncenter v2 HTTP API (see
// Handler and docs/PROTOCOL.md) plus a faucet and an advanceable clock, and implements
// chain.Client in-process (Client).
//
// Entry points: Open/Close; Send (external messages), Fund and Deploy (faucet messages, the
// latter with a StateInit); Account, Transactions, TransactionByHash, Batch, RunGetMethod and
// RunGetMethodID (reads); Now and AdvanceTime (clock); Handler and Server (HTTP).
//
// Two modes (Config.BlockInterval):
//
//   - Instant (the default): Send, Fund and Deploy run the whole cascade of internal messages the
//     message causes before they return, and commit it as one atomic batch. A cascade that cannot
//     be executed (emulator error, too many transactions) is rolled back whole. Contract tests and
//     the parity scenarios run here: results are exact and need no waiting.
//   - Block mode keeps TON's time: Send checks an external message against the committed state (as
//     a liteserver does), queues it and returns before it is included; a block every interval
//     applies the queued externals in arrival order (an external its account no longer accepts,
//     such as a second message with the same wallet seqno, is simply not included) and delivers the
//     internal messages created by earlier blocks, so every hop of a cascade lands in a later
//     block. Each block is one atomic batch, the messages in flight included (blocks.go).
package devnet

import (
	"container/heap"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sort"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// FaucetAddress is the source of every Fund message. It has no account behind it: the faucet
// mints value out of nothing, which is what a devnet is for.
var FaucetAddress = func() *address.Address {
	h := sha256.Sum256([]byte("cocoon devnet faucet"))
	return address.NewAddress(0, 0, h[:])
}()

// Devnet is one emulated TON network. All methods are safe for concurrent use.
type Devnet struct {
	cfg        Config
	configRoot *cell.Cell
	vm         *tvm.TVM
	store      *store
	wallets    map[string]walletKind // code hash (string of bytes) → wallet kind

	// mu serialises state changes; reads (accounts, transactions, get-methods) share it.
	mu sync.RWMutex
	// vmMu serialises every TVM run (transactions and get-methods): tonutils-go's VM attaches its gas
	// trace to the cells it loads, and accounts' cells are shared between runs, so two runs at once
	// would charge each other's gas (and race). Taken inside mu, never the other way round.
	vmMu   sync.Mutex
	closed bool
	// cacheMu guards accounts: readers holding mu.RLock fill it too.
	cacheMu sync.Mutex
	// accounts caches stored ShardAccounts. REQUIRES cacheMu, and mu held for writing to put
	// a changed account. INVARIANT: equal to the store's value.
	accounts map[addrKey]*tlb.ShardAccount
	// stats caches each account's storage-stat dictionary from its last transaction so the
	// emulator updates it incrementally instead of rebuilding it (memory only: it is derivable
	// from the account, and an absent entry just means a full recount). REQUIRES mu.
	stats map[addrKey]*cell.Cell
	// meta: nextLT is greater than every LT used so far; seqno counts committed batches
	// ("blocks"); offset is what AdvanceTime added to the base clock. REQUIRES mu.
	meta meta
	// blocks is the block mode's state; nil in instant mode.
	blocks *blockProducer
}

// Open creates a devnet, or reopens the one persisted in cfg.DataDir.
func Open(cfg Config) (*Devnet, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	root, err := parseConfigRoot(c.ConfigBOC)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	machine := tvm.NewTVM()
	if v, err := (tlb.BlockchainConfig{Root: root}).GetGlobalVersion(); err == nil {
		// The pure-Go TVM supports global version 13 and later; older configs run at its minimum.
		_ = machine.SetGlobalVersion(int(v.Version))
	}
	st, err := openStore(c.DataDir, c.NoSync)
	if err != nil {
		return nil, err
	}
	m, ok, err := st.meta()
	if err != nil {
		_ = st.close()
		return nil, fmt.Errorf("failed to read devnet meta: %w", err)
	}
	if !ok {
		m = meta{nextLT: 1_000_000}
	}
	wallets, err := knownWallets()
	if err != nil {
		_ = st.close()
		return nil, err
	}
	d := &Devnet{
		cfg:        c,
		configRoot: root,
		vm:         machine,
		store:      st,
		wallets:    wallets,
		accounts:   map[addrKey]*tlb.ShardAccount{},
		stats:      map[addrKey]*cell.Cell{},
		meta:       m,
	}
	inflight, err := st.queued()
	if err != nil {
		_ = st.close()
		return nil, fmt.Errorf("failed to read the devnet's messages in flight: %w", err)
	}
	if c.BlockInterval > 0 {
		d.startBlocks(inflight)
		return d, nil
	}
	if len(inflight) > 0 {
		// A data directory last served in block mode: deliver what was in flight now.
		if err := d.deliverInflight(inflight); err != nil {
			_ = st.close()
			return nil, err
		}
	}
	return d, nil
}

// Close flushes and closes the store. It is idempotent.
func (d *Devnet) Close() error {
	if d.blocks != nil {
		d.blocks.halt()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	if d.blocks != nil {
		d.blocks.failFaucetsLocked(ErrClosed)
	}
	return d.store.close()
}

// Now is the devnet's clock: the base clock plus every AdvanceTime so far.
func (d *Devnet) Now() time.Time {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.nowLocked()
}

func (d *Devnet) nowLocked() time.Time {
	return d.cfg.Now().Add(time.Duration(d.meta.offset))
}

// MaxUnixTime caps the devnet clock: TON stores unix time in 32 bits, and the base clock keeps
// running after an advance, so the cap leaves a decade of headroom below 2^32.
const MaxUnixTime = 4_000_000_000

// AdvanceTime moves the devnet's clock forward by dt (zero or negative values are ignored), but
// never past MaxUnixTime. The offset is persisted at once, so a restart never moves time back.
func (d *Devnet) AdvanceTime(dt time.Duration) {
	if dt <= 0 {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if room := time.Unix(MaxUnixTime, 0).Sub(d.nowLocked()); dt > room {
		dt = max(room, 0)
	}
	d.meta.offset += int64(dt)
	if !d.closed {
		// A failed write only loses the offset on restart; the running devnet keeps it.
		_ = d.store.commit(nil, nil, d.meta, nil)
	}
}

// GlobalID is the network id contracts see in c7.
func (d *Devnet) GlobalID() int32 { return d.cfg.GlobalID }

// ConfigRoot is the blockchain config in use.
func (d *Devnet) ConfigRoot() *cell.Cell { return d.configRoot }

func keyOf(addr *address.Address) (addrKey, error) {
	if addr == nil || addr.Type() != address.StdAddress || len(addr.Data()) != 32 {
		return addrKey{}, fmt.Errorf("%w: need a standard 256-bit address", chain.ErrMalformed)
	}
	var k addrKey
	k.wc = addr.Workchain()
	copy(k.id[:], addr.Data())
	return k, nil
}

func (k addrKey) address() *address.Address {
	return address.NewAddress(0, byte(k.wc), append([]byte(nil), k.id[:]...))
}

var emptyAccountCell = cell.BeginCell().MustStoreBoolBit(false).EndCell()

// shardAccountLocked returns the stored account, or an empty (nonexistent) one. REQUIRES mu
// (read or write).
func (d *Devnet) shardAccountLocked(k addrKey) (*tlb.ShardAccount, error) {
	if d.closed {
		return nil, ErrClosed
	}
	d.cacheMu.Lock()
	sa, ok := d.accounts[k]
	d.cacheMu.Unlock()
	if ok {
		return sa, nil
	}
	boc, ok, err := d.store.account(k)
	if err != nil {
		return nil, fmt.Errorf("failed to read account: %w", err)
	}
	if !ok {
		return &tlb.ShardAccount{Account: emptyAccountCell, LastTransHash: make([]byte, 32)}, nil
	}
	c, err := cell.FromBOC(boc)
	if err != nil {
		return nil, fmt.Errorf("failed to decode stored account: %w", err)
	}
	var loaded tlb.ShardAccount
	if err := tlb.LoadFromCell(&loaded, c.MustBeginParse()); err != nil {
		return nil, fmt.Errorf("failed to decode stored account: %w", err)
	}
	d.cacheMu.Lock()
	d.accounts[k] = &loaded
	d.cacheMu.Unlock()
	return &loaded, nil
}

// queuedMsg is an internal message waiting for delivery.
type queuedMsg struct {
	lt  uint64 // created_lt: delivery order
	seq uint64 // tie-break: order of creation
	dst addrKey
	msg *cell.Cell
}

type msgQueue []queuedMsg

func (q msgQueue) Len() int { return len(q) }
func (q msgQueue) Less(i, j int) bool {
	if q[i].lt != q[j].lt {
		return q[i].lt < q[j].lt
	}
	return q[i].seq < q[j].seq
}
func (q msgQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *msgQueue) Push(x any)   { *q = append(*q, x.(queuedMsg)) }
func (q *msgQueue) Pop() any {
	old := *q
	x := old[len(old)-1]
	*q = old[:len(old)-1]
	return x
}

// cascade is one batch in progress: an overlay over the committed state that is written
// atomically at the end, or dropped.
type cascade struct {
	d        *Devnet
	now      uint32
	lt       uint64
	seqno    uint32
	accounts map[addrKey]*tlb.ShardAccount
	stats    map[addrKey]*cell.Cell
	cells    map[addrKey][]byte
	txs      []txRecord
	results  []*tlb.Transaction
	queue    msgQueue
	seq      uint64
}

func (d *Devnet) newCascadeLocked() *cascade {
	return &cascade{
		d:        d,
		now:      uint32(d.nowLocked().Unix()),
		lt:       d.meta.nextLT,
		seqno:    d.meta.seqno + 1,
		accounts: map[addrKey]*tlb.ShardAccount{},
		stats:    map[addrKey]*cell.Cell{},
		cells:    map[addrKey][]byte{},
	}
}

func (c *cascade) account(k addrKey) (*tlb.ShardAccount, error) {
	if sa, ok := c.accounts[k]; ok {
		return sa, nil
	}
	return c.d.shardAccountLocked(k)
}

// execute runs one message on its destination account and records the transaction. It returns
// (nil, nil) for an external message the account did not accept.
func (c *cascade) execute(dst addrKey, msg *cell.Cell) (*tvm.TransactionExecutionResult, error) {
	sa, err := c.account(dst)
	if err != nil {
		return nil, err
	}
	var seed [32]byte
	binary.BigEndian.PutUint32(seed[:], c.seqno)
	binary.BigEndian.PutUint64(seed[4:], c.lt)
	seed = sha256.Sum256(seed[:])
	stat, ok := c.stats[dst]
	if !ok {
		stat = c.d.stats[dst]
	}
	c.d.vmMu.Lock()
	res, err := c.d.vm.EmulateTransaction(sa, msg, tvm.TransactionEmulationConfig{
		Now:                c.now,
		LogicalTime:        int64(c.lt),
		ConfigRoot:         c.d.configRoot,
		GlobalID:           c.d.cfg.GlobalID,
		RandSeed:           seed[:],
		AccountStorageStat: stat,
	})
	c.d.vmMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("failed to emulate transaction on %s: %w", dst.address(), err)
	}
	if res.Transaction == nil {
		return res, nil
	}
	if err := fixNewUninitStorageUsed(res); err != nil {
		return nil, err
	}
	if err := fixActionFineResultCode(res, tlb.BlockchainConfig{Root: c.d.configRoot}, dst.address()); err != nil {
		return nil, err
	}
	tx := res.Transaction
	c.accounts[dst] = res.ShardAccount
	c.stats[dst] = res.AccountStorageStat
	c.cells[dst] = res.ShardAccountCell.ToBOC()
	c.txs = append(c.txs, txRecord{acc: dst, lt: tx.LT, hash: tx.Hash, boc: res.TransactionCell.ToBOC()})
	c.results = append(c.results, tx)
	// Out messages take LTs tx.LT+1 … tx.LT+n and the account's end LT is tx.LT+n+1.
	if end := tx.LT + uint64(tx.OutMsgCount) + 1; end > c.lt {
		c.lt = end
	}
	outs, err := outMessageCells(tx)
	if err != nil {
		return nil, err
	}
	for _, out := range outs {
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, out.MustBeginParse()); err != nil {
			return nil, fmt.Errorf("failed to decode out message: %w", err)
		}
		if m.MsgType != tlb.MsgTypeInternal {
			continue // external out messages only live in the transaction
		}
		in := m.AsInternal()
		k, err := keyOf(in.DstAddr)
		if err != nil {
			continue // anycast/var addresses are not routable here
		}
		c.seq++
		heap.Push(&c.queue, queuedMsg{lt: in.CreatedLT, seq: c.seq, dst: k, msg: out})
	}
	return res, nil
}

// drain delivers queued internal messages in LT order until none are left.
func (c *cascade) drain() error {
	for c.queue.Len() > 0 {
		if len(c.txs) >= c.d.cfg.MaxCascade {
			return fmt.Errorf("%w (%d)", ErrCascadeTooLong, c.d.cfg.MaxCascade)
		}
		q := heap.Pop(&c.queue).(queuedMsg)
		if _, err := c.execute(q.dst, q.msg); err != nil {
			return err
		}
	}
	return nil
}

// commitLocked writes the cascade (and, in block mode, what it did to the messages in flight) and
// makes it the devnet's state. A batch without transactions keeps the seqno. REQUIRES mu (write).
func (c *cascade) commitLocked(q *queueChange) error {
	m := c.d.meta
	m.nextLT = c.lt
	if len(c.txs) > 0 {
		m.seqno = c.seqno
	}
	if err := c.d.store.commit(c.cells, c.txs, m, q); err != nil {
		return err
	}
	c.d.cacheMu.Lock()
	for k, sa := range c.accounts {
		c.d.accounts[k] = sa
	}
	c.d.cacheMu.Unlock()
	for k, st := range c.stats {
		if st == nil {
			delete(c.d.stats, k)
		} else {
			c.d.stats[k] = st
		}
	}
	c.d.meta = m
	c.logCommitted()
	return nil
}

func (c *cascade) logCommitted() {
	log := c.d.cfg.Log
	ctx := context.Background()
	if log.Enabled(ctx, slog.LevelDebug) {
		for _, tx := range c.results {
			attrs := []any{"account", address.NewAddress(0, 0, tx.AccountAddr).String(), "lt", tx.LT,
				"status", tx.EndStatus, "fees", tx.TotalFees.Coins.Nano().String(), "out_msgs", tx.OutMsgCount}
			if desc, ok := tx.Description.(tlb.TransactionDescriptionOrdinary); ok {
				attrs = append(attrs, "aborted", desc.Aborted)
				if vm, ok := desc.ComputePhase.Phase.(tlb.ComputePhaseVM); ok {
					attrs = append(attrs, "exit_code", vm.Details.ExitCode, "gas", vm.Details.GasUsed.String())
				}
			}
			log.Debug("devnet transaction", attrs...)
		}
	}
	log.Info("devnet batch", "seqno", c.seqno, "transactions", len(c.results))
}

func outMessageCells(tx *tlb.Transaction) ([]*cell.Cell, error) {
	if tx.IO.Out == nil || tx.IO.Out.List == nil {
		return nil, nil
	}
	kvs, err := tx.IO.Out.List.LoadAll()
	if err != nil {
		return nil, fmt.Errorf("failed to read out messages: %w", err)
	}
	type indexed struct {
		i uint64
		c *cell.Cell
	}
	list := make([]indexed, 0, len(kvs))
	for _, kv := range kvs {
		i, err := kv.Key.LoadUInt(15)
		if err != nil {
			return nil, fmt.Errorf("failed to read out message index: %w", err)
		}
		m, err := kv.Value.LoadRefCell()
		if err != nil {
			return nil, fmt.Errorf("failed to read out message: %w", err)
		}
		list = append(list, indexed{i, m})
	}
	sort.Slice(list, func(a, b int) bool { return list[a].i < list[b].i })
	out := make([]*cell.Cell, len(list))
	for i, x := range list {
		out[i] = x.c
	}
	return out, nil
}

// SendResult is what one accepted external message did.
type SendResult struct {
	// MsgHash is the hash of the message cell as sent; NormHash the TEP-467 normalized hash.
	MsgHash, NormHash []byte
	// Transactions lists every transaction of the cascade in execution order (instant mode; in
	// block mode nothing has run yet and it is empty).
	Transactions []*tlb.Transaction
}

// Send runs an external inbound message (a full Message cell) and the cascade it causes; in block
// mode it only checks that the account accepts the message now and queues it for the next block.
// A message no account accepts returns an error wrapping chain.ErrRejected and changes nothing.
func (d *Devnet) Send(ctx context.Context, msg *cell.Cell) (*SendResult, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if msg == nil {
		return nil, fmt.Errorf("%w: nil message", chain.ErrMalformed)
	}
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, msg.MustBeginParse()); err != nil {
		return nil, fmt.Errorf("%w: not a message: %v", chain.ErrMalformed, err)
	}
	if m.MsgType != tlb.MsgTypeExternalIn {
		return nil, fmt.Errorf("%w: only external inbound messages can be sent, got %s", chain.ErrMalformed, m.MsgType)
	}
	ext := m.AsExternalIn()
	k, err := keyOf(ext.DstAddr)
	if err != nil {
		return nil, err
	}
	norm := normalizedHash(ext)

	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	c := d.newCascadeLocked()
	res, err := c.execute(k, msg)
	if err != nil {
		// The emulator refuses externals it cannot even start (e.g. import fee above the
		// balance of an empty account); on TON such a message is simply not accepted.
		return nil, fmt.Errorf("%w: %v", chain.ErrRejected, err)
	}
	if res.Transaction == nil {
		return nil, fmt.Errorf("%w: %s did not accept it (exit code %d)", chain.ErrRejected, ext.DstAddr, res.ExitCode)
	}
	if d.blocks != nil {
		// Accepted by the committed state: wait for the next block, which may still refuse it.
		d.blocks.queueExternalLocked(k, msg)
		return &SendResult{MsgHash: msg.Hash(), NormHash: norm}, nil
	}
	if err := c.drain(); err != nil {
		return nil, err
	}
	if err := c.commitLocked(nil); err != nil {
		return nil, err
	}
	return &SendResult{MsgHash: msg.Hash(), NormHash: norm, Transactions: c.results}, nil
}

// normalizedHash is the hash of the message with source, import fee and StateInit cleared and the
// body in a reference (TEP-467), which identifies it however the sender serialized it.
func normalizedHash(ext *tlb.ExternalMessage) []byte {
	body := ext.Body
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	c := cell.BeginCell().
		MustStoreUInt(0b10, 2).
		MustStoreUInt(0, 2). // addr_none
		MustStoreAddr(ext.DstAddr).
		MustStoreCoins(0).
		MustStoreBoolBit(false). // no StateInit
		MustStoreBoolBit(true).  // body in a ref
		MustStoreRef(body).
		EndCell()
	return c.Hash()
}

// Fund credits nanoTON to any address, deployed or not, with a non-bounceable internal message
// from FaucetAddress. In block mode it returns once the block that delivered it is committed.
func (d *Devnet) Fund(ctx context.Context, addr *address.Address, nanoTON *big.Int) error {
	_, err := d.FundTx(ctx, addr, nanoTON)
	return err
}

// FundTx is Fund that also returns the transactions of the cascade (in block mode only the
// faucet message's own transaction: the rest of the cascade lands in later blocks).
func (d *Devnet) FundTx(ctx context.Context, addr *address.Address, nanoTON *big.Int) ([]*tlb.Transaction, error) {
	k, err := keyOf(addr)
	if err != nil {
		return nil, err
	}
	return d.faucetSend(ctx, k, nanoTON, nil, nil)
}

// Deploy creates a contract from its StateInit with a non-bounceable faucet message carrying
// nanoTON, the StateInit and body (nil: empty), as a deployer contract would. It returns the
// contract's address (basechain) and the transactions; check the first one's compute phase to
// see whether the contract's receiver accepted the message.
func (d *Devnet) Deploy(ctx context.Context, init *tlb.StateInit, nanoTON *big.Int, body *cell.Cell) (*address.Address, []*tlb.Transaction, error) {
	if init == nil || init.Code == nil {
		return nil, nil, fmt.Errorf("%w: deploy needs a StateInit with code", chain.ErrMalformed)
	}
	ic, err := tlb.ToCell(init)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: bad StateInit: %v", chain.ErrMalformed, err)
	}
	var k addrKey
	copy(k.id[:], ic.Hash())
	txs, err := d.faucetSend(ctx, k, nanoTON, init, body)
	return k.address(), txs, err
}

func (d *Devnet) faucetSend(ctx context.Context, k addrKey, nanoTON *big.Int, init *tlb.StateInit, body *cell.Cell) ([]*tlb.Transaction, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if nanoTON == nil || nanoTON.Sign() <= 0 || nanoTON.Cmp(maxCoins) >= 0 {
		return nil, fmt.Errorf("%w: faucet amount must be positive and below 2^120 nanoTON, got %v", ErrBadAmount, nanoTON)
	}
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	if d.blocks != nil {
		return d.blocks.fund(ctx, d, pendingFaucet{dst: k, amount: nanoTON, init: init, body: body})
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, ErrClosed
	}
	c := d.newCascadeLocked()
	msg, err := c.faucetMessage(k, nanoTON, init, body)
	if err != nil {
		return nil, err
	}
	c.seq++
	heap.Push(&c.queue, queuedMsg{lt: c.lt, seq: c.seq, dst: k, msg: msg})
	c.lt++
	if err := c.drain(); err != nil {
		return nil, err
	}
	if err := c.commitLocked(nil); err != nil {
		return nil, err
	}
	return c.results, nil
}

// faucetMessage builds the faucet's message to k, created at the cascade's current LT.
func (c *cascade) faucetMessage(k addrKey, nanoTON *big.Int, init *tlb.StateInit, body *cell.Cell) (*cell.Cell, error) {
	msg, err := tlb.ToCell(&tlb.InternalMessage{
		IHRDisabled: true,
		Bounce:      false,
		SrcAddr:     FaucetAddress,
		DstAddr:     k.address(),
		Amount:      tlb.FromNanoTON(nanoTON),
		CreatedLT:   c.lt,
		CreatedAt:   c.now,
		StateInit:   init,
		Body:        body,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: failed to build faucet message: %v", chain.ErrMalformed, err)
	}
	return msg, nil
}

// Account reads an account's state; a never-used address is chain.StateNonexist.
func (d *Devnet) Account(addr *address.Address) (*chain.Account, error) {
	k, err := keyOf(addr)
	if err != nil {
		return nil, err
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	sa, err := d.shardAccountLocked(k)
	if err != nil {
		return nil, err
	}
	return accountFromShard(k, sa)
}

func accountFromShard(k addrKey, sa *tlb.ShardAccount) (*chain.Account, error) {
	out := &chain.Account{Address: k.address(), State: chain.StateNonexist, Balance: new(big.Int)}
	if sa.LastTransLT != 0 {
		out.LastTxLT = sa.LastTransLT
		out.LastTxHash = append([]byte(nil), sa.LastTransHash...)
	}
	var st tlb.AccountState
	if err := tlb.LoadFromCell(&st, sa.Account.MustBeginParse()); err != nil {
		return nil, fmt.Errorf("failed to decode account state: %w", err)
	}
	if !st.IsValid {
		return out, nil
	}
	out.Balance = new(big.Int).Set(st.Balance.Nano())
	switch st.Status {
	case tlb.AccountStatusActive:
		out.State = chain.StateActive
		if st.StateInit != nil {
			out.Code, out.Data = st.StateInit.Code, st.StateInit.Data
		}
	case tlb.AccountStatusFrozen:
		out.State = chain.StateFrozen
	default:
		out.State = chain.StateUninit
	}
	return out, nil
}

// accountState returns the decoded account too (for the HTTP API's frozen hash and libraries).
func (d *Devnet) accountState(k addrKey) (*tlb.ShardAccount, *tlb.AccountState, uint32, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	sa, err := d.shardAccountLocked(k)
	if err != nil {
		return nil, nil, 0, err
	}
	var st tlb.AccountState
	if err := tlb.LoadFromCell(&st, sa.Account.MustBeginParse()); err != nil {
		return nil, nil, 0, fmt.Errorf("failed to decode account state: %w", err)
	}
	return sa, &st, d.meta.seqno, nil
}

// Transactions lists an account's transactions newest first, starting at (fromLT, fromHash)
// inclusive, or at the newest when fromLT is 0. A fromHash that does not match the transaction
// at fromLT is chain.ErrNotFound.
func (d *Devnet) Transactions(addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error) {
	txs, _, err := d.transactions(addr, limit, fromLT, fromHash)
	return txs, err
}

// transactions is Transactions that also returns each transaction's BOC.
func (d *Devnet) transactions(addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, [][]byte, error) {
	k, err := keyOf(addr)
	if err != nil {
		return nil, nil, err
	}
	if limit <= 0 {
		return nil, nil, fmt.Errorf("%w: limit must be positive, got %d", chain.ErrMalformed, limit)
	}
	if fromLT == 0 {
		fromLT = ^uint64(0)
	}
	d.mu.RLock()
	bocs, err := d.txBOCsLocked(k, fromLT, limit)
	d.mu.RUnlock()
	if err != nil {
		return nil, nil, err
	}
	out := make([]*tlb.Transaction, 0, len(bocs))
	for _, b := range bocs {
		tx, err := decodeTx(b)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, tx)
	}
	if fromLT != ^uint64(0) && (len(out) == 0 || out[0].LT != fromLT ||
		(len(fromHash) > 0 && string(out[0].Hash) != string(fromHash))) {
		return nil, nil, fmt.Errorf("%w: no transaction of %s at lt %d with that hash", chain.ErrNotFound, addr, fromLT)
	}
	return out, bocs, nil
}

func (d *Devnet) txBOCsLocked(k addrKey, fromLT uint64, limit int) ([][]byte, error) {
	if d.closed {
		return nil, ErrClosed
	}
	bocs, err := d.store.txs(k, fromLT, limit)
	if err != nil {
		return nil, fmt.Errorf("failed to read transactions: %w", err)
	}
	return bocs, nil
}

// TransactionByHash finds one transaction by its hash.
func (d *Devnet) TransactionByHash(hash []byte) (*address.Address, *tlb.Transaction, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, nil, ErrClosed
	}
	k, lt, ok, err := d.store.txByHash(hash)
	if err != nil {
		return nil, nil, err
	}
	if !ok {
		return nil, nil, fmt.Errorf("%w: no transaction with that hash", chain.ErrNotFound)
	}
	bocs, err := d.store.txs(k, lt, 1)
	if err != nil || len(bocs) == 0 {
		return nil, nil, fmt.Errorf("failed to read transaction: %w", errors.Join(err, chain.ErrNotFound))
	}
	tx, err := decodeTx(bocs[0])
	return k.address(), tx, err
}

func decodeTx(boc []byte) (*tlb.Transaction, error) {
	c, err := cell.FromBOC(boc)
	if err != nil {
		return nil, fmt.Errorf("failed to decode stored transaction: %w", err)
	}
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, c.MustBeginParse()); err != nil {
		return nil, fmt.Errorf("failed to decode stored transaction: %w", err)
	}
	tx.Hash = c.Hash()
	return &tx, nil
}

// BatchTx is one transaction of a committed batch.
type BatchTx struct {
	Account *address.Address
	Tx      *tlb.Transaction
	BOC     []byte
}

// Batch returns the transactions committed as batch seqno (1 … Seqno()), in execution order.
// A seqno that was never committed is chain.ErrNotFound.
func (d *Devnet) Batch(seqno uint32) ([]BatchTx, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	if d.closed {
		return nil, ErrClosed
	}
	recs, ok, err := d.store.batch(seqno)
	if err != nil {
		return nil, fmt.Errorf("failed to read batch %d: %w", seqno, err)
	}
	if !ok {
		return nil, fmt.Errorf("%w: no batch %d (last is %d)", chain.ErrNotFound, seqno, d.meta.seqno)
	}
	out := make([]BatchTx, 0, len(recs))
	for _, r := range recs {
		bocs, err := d.store.txs(r.acc, r.lt, 1)
		if err != nil || len(bocs) == 0 {
			return nil, fmt.Errorf("failed to read transaction of batch %d: %w", seqno, errors.Join(err, chain.ErrNotFound))
		}
		tx, err := decodeTx(bocs[0])
		if err != nil {
			return nil, err
		}
		out = append(out, BatchTx{Account: r.acc.address(), Tx: tx, BOC: bocs[0]})
	}
	return out, nil
}

// Seqno is the number of committed batches, the devnet's stand-in for a masterchain seqno.
func (d *Devnet) Seqno() uint32 {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return d.meta.seqno
}
