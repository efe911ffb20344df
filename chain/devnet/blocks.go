package devnet

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/big"
	"sync"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Block mode: the devnet keeps TON's time. What a block does, in order:
//
//  1. delivers the internal messages earlier blocks created (in created-LT order, at most
//     Config.MaxCascade of them; the rest wait for the next block, as on a congested shard);
//  2. delivers the faucet messages asked for since the last block (Fund, Deploy);
//  3. applies the queued external messages in arrival order; one its account no longer accepts
//     (the seqno was used by an earlier message of the block, it expired, …) is not included;
//
// then commits everything, the messages it created included, as one Pebble batch. Messages
// created in a block are delivered by a later one, so every hop of a cascade takes a block, and a
// second request can find a cascade half done. External messages waiting for a block are not
// persisted: like a node's mempool, a restart loses them (senders resend).

// ErrNotBlockMode is a block-mode operation on an instant-mode devnet.
var ErrNotBlockMode = errors.New("devnet is not in block mode")

// Block is what one block did.
type Block struct {
	// Seqno is the batch the block was committed as (Batch, getBlockTransactions); 0 when it ran
	// no transaction and so was not recorded.
	Seqno uint32
	// Transactions in execution order.
	Transactions []*tlb.Transaction
	// Dropped are the hashes of queued external messages the block did not include.
	Dropped [][]byte
}

// blockProducer is the block mode's state.
type blockProducer struct {
	interval time.Duration

	// Guarded by Devnet.mu (REQUIRES mu):
	externals []pendingExternal
	faucets   []*pendingFaucet
	// inflight holds the internal messages committed blocks created, by created LT.
	// INVARIANT: equal to the store's queue records.
	inflight msgQueue
	paused   bool

	// tickMu guards tick, which is closed (and replaced) after every block attempt, empty or not.
	tickMu sync.Mutex
	tick   chan struct{}

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
}

type pendingExternal struct {
	dst addrKey
	msg *cell.Cell
}

type pendingFaucet struct {
	dst    addrKey
	amount *big.Int
	init   *tlb.StateInit
	body   *cell.Cell
	done   chan faucetResult // buffered, receives once
}

type faucetResult struct {
	tx  *tlb.Transaction
	err error
}

func (d *Devnet) startBlocks(inflight []queuedMsg) {
	p := &blockProducer{
		interval: d.cfg.BlockInterval,
		inflight: msgQueue(inflight),
		tick:     make(chan struct{}),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	heap.Init(&p.inflight)
	d.blocks = p
	go d.runBlocks(p)
}

// runBlocks produces a block every interval until halted.
func (d *Devnet) runBlocks(p *blockProducer) {
	defer close(p.done)
	t := time.NewTicker(p.interval)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		d.mu.Lock()
		produced := !p.paused && !d.closed
		if produced {
			if _, err := d.produceBlockLocked(); err != nil {
				d.cfg.Log.Error("devnet block failed", "err", err)
			}
		}
		d.mu.Unlock()
		if produced {
			p.ticked()
		}
	}
}

// halt stops the producer and waits for it; it is idempotent.
func (p *blockProducer) halt() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

func (p *blockProducer) ticked() {
	p.tickMu.Lock()
	close(p.tick)
	p.tick = make(chan struct{})
	p.tickMu.Unlock()
}

// queueExternalLocked queues an accepted external message; the same message twice is queued once,
// as a node's mempool keeps it. REQUIRES mu.
func (p *blockProducer) queueExternalLocked(dst addrKey, msg *cell.Cell) {
	h := string(msg.Hash())
	for _, e := range p.externals {
		if string(e.msg.Hash()) == h {
			return
		}
	}
	p.externals = append(p.externals, pendingExternal{dst: dst, msg: msg})
}

// fund queues a faucet message and waits for the block that delivers it.
func (p *blockProducer) fund(ctx context.Context, d *Devnet, f pendingFaucet) ([]*tlb.Transaction, error) {
	f.done = make(chan faucetResult, 1)
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		return nil, ErrClosed
	}
	p.faucets = append(p.faucets, &f)
	d.mu.Unlock()
	select {
	case r := <-f.done:
		if r.err != nil {
			return nil, r.err
		}
		return []*tlb.Transaction{r.tx}, nil
	case <-ctx.Done():
		// The message stays queued: like a transfer already sent, it cannot be called back.
		return nil, ctx.Err()
	}
}

// failFaucetsLocked answers every waiting Fund with err. REQUIRES mu.
func (p *blockProducer) failFaucetsLocked(err error) {
	for _, f := range p.faucets {
		f.done <- faucetResult{err: err}
	}
	p.faucets = nil
}

// produceBlockLocked runs and commits one block. REQUIRES mu (write).
func (d *Devnet) produceBlockLocked() (*Block, error) {
	p := d.blocks
	if d.closed {
		return nil, ErrClosed
	}
	blk := &Block{}
	if len(p.externals) == 0 && len(p.faucets) == 0 && p.inflight.Len() == 0 {
		return blk, nil
	}
	c := d.newCascadeLocked()
	// This block's internal messages leave the queue before anything runs: what the block
	// creates waits for the next one. The queue is a copy until the commit succeeds.
	inflight := append(msgQueue(nil), p.inflight...)
	var delivered []queuedMsg
	for inflight.Len() > 0 && len(delivered) < d.cfg.MaxCascade {
		delivered = append(delivered, heap.Pop(&inflight).(queuedMsg))
	}
	for _, q := range delivered {
		if _, err := c.execute(q.dst, q.msg); err != nil {
			// Only an emulator failure gets here (any message makes a transaction on TON).
			d.cfg.Log.Error("devnet dropped an internal message it could not execute", "to", q.dst.address().String(), "created_lt", q.lt, "err", err)
		}
	}
	faucets := p.faucets
	p.faucets = nil
	faucetTx := make([]faucetResult, len(faucets))
	for i, f := range faucets {
		msg, err := c.faucetMessage(f.dst, f.amount, f.init, f.body)
		if err != nil {
			faucetTx[i].err = err
			continue
		}
		c.lt++
		n := len(c.results)
		if _, err := c.execute(f.dst, msg); err != nil {
			faucetTx[i].err = err
			continue
		}
		faucetTx[i].tx = c.results[n]
	}
	exts := p.externals
	p.externals = nil
	for _, e := range exts {
		res, err := c.execute(e.dst, e.msg)
		if err != nil || res.Transaction == nil {
			blk.Dropped = append(blk.Dropped, e.msg.Hash())
		}
	}
	created := append([]queuedMsg(nil), c.queue...)
	for _, q := range created {
		heap.Push(&inflight, q)
	}
	if len(c.txs) > 0 || len(delivered) > 0 { // otherwise nothing ran and nothing left the queue: no batch
		if err := c.commitLocked(&queueChange{delivered: delivered, created: created}); err != nil {
			for _, f := range faucets {
				f.done <- faucetResult{err: err}
			}
			return nil, err
		}
		p.inflight = inflight
	}
	for i, f := range faucets {
		f.done <- faucetTx[i]
	}
	if len(c.txs) > 0 {
		blk.Seqno = c.seqno
	}
	blk.Transactions = c.results
	if len(blk.Dropped) > 0 {
		d.cfg.Log.Info("devnet block left out external messages", "seqno", blk.Seqno, "dropped", len(blk.Dropped))
	}
	return blk, nil
}

// deliverInflight runs, at Open in instant mode, the messages a block-mode run left in flight,
// with everything they cause, as one batch.
func (d *Devnet) deliverInflight(inflight []queuedMsg) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	c := d.newCascadeLocked()
	for _, q := range inflight {
		c.seq++
		q.seq = c.seq
		heap.Push(&c.queue, q)
	}
	if err := c.drain(); err != nil {
		return fmt.Errorf("failed to deliver the messages in flight: %w", err)
	}
	return c.commitLocked(&queueChange{delivered: inflight})
}

// BlockInterval is the block mode's interval; 0 in instant mode.
func (d *Devnet) BlockInterval() time.Duration { return d.cfg.BlockInterval }

// ProduceBlock runs one block now, also while block production is paused (block mode only).
func (d *Devnet) ProduceBlock(ctx context.Context) (*Block, error) {
	if d.blocks == nil {
		return nil, ErrNotBlockMode
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	d.mu.Lock()
	blk, err := d.produceBlockLocked()
	d.mu.Unlock()
	d.blocks.ticked()
	return blk, err
}

// PauseBlocks stops the block timer: queued messages wait until ResumeBlocks or ProduceBlock.
// Tests use it to hold a message between submission and inclusion. No-op in instant mode.
func (d *Devnet) PauseBlocks() { d.setPaused(true) }

// ResumeBlocks restarts the block timer after PauseBlocks.
func (d *Devnet) ResumeBlocks() { d.setPaused(false) }

func (d *Devnet) setPaused(v bool) {
	if d.blocks == nil {
		return
	}
	d.mu.Lock()
	d.blocks.paused = v
	d.mu.Unlock()
}

// WaitBlocks returns after n more blocks have been produced (empty ones count); at once in
// instant mode, where everything is already applied.
func (d *Devnet) WaitBlocks(ctx context.Context, n int) error {
	if d.blocks == nil {
		return nil
	}
	for i := 0; i < n; i++ {
		d.blocks.tickMu.Lock()
		ch := d.blocks.tick
		d.blocks.tickMu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		case <-d.blocks.done:
			return ErrClosed
		}
	}
	return nil
}

// Pending counts what waits for a block: external messages queued and internal messages in
// flight. Both are zero in instant mode.
func (d *Devnet) Pending() (externals, internals int) {
	if d.blocks == nil {
		return 0, 0
	}
	d.mu.RLock()
	defer d.mu.RUnlock()
	return len(d.blocks.externals), d.blocks.inflight.Len()
}
