package devnet

// Corrections applied to tonutils-go v1.17.0's transactions where they differ from the reference
// C++ emulator (@ton/sandbox); each is found by a parity scenario (tests/parity) and applied only
// to the case it names, so everything else is left as tonutils-go computed it.

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// fixNewUninitStorageUsed corrects the storage usage recorded when a credit turns a nonexistent
// account into an uninit one. tonutils-go v1.17.0 records the whole account_storage root (1 cell,
// 103+ bits); the reference emulator starts such an account from an empty stat and counts only the
// bits the balance adds: 0 cells and 8 bits per byte of the balance. Without this, an idle uninit
// account (a funded wallet not yet deployed) pays ~18x the storage fee @ton/sandbox charges
// (tests/parity, scenario uninit_storage). Later transactions move the bits by the same deltas on
// both emulators, so correcting the first one is enough.
//
// The transaction names the account it leaves in its state_update (old and new hash of the
// Account cell), and the account's next transaction starts from the stored one, so the
// transaction is re-encoded with the corrected account's hash as its new hash; its own hash
// changes and the account's last_trans_hash with it. Both corrections are made or neither.
func fixNewUninitStorageUsed(res *tvm.TransactionExecutionResult) error {
	tx := res.Transaction
	if tx.OrigStatus != tlb.AccountStatusNonExist || tx.EndStatus != tlb.AccountStatusUninit || res.ShardAccount == nil {
		return nil
	}
	built := res.ShardAccount.Account
	s, err := built.BeginParse()
	if err != nil {
		return fmt.Errorf("failed to read new uninit account: %w", err)
	}
	var st tlb.AccountState
	if err := st.LoadFromCell(s); err != nil {
		return fmt.Errorf("failed to decode new uninit account: %w", err)
	}
	st.StorageInfo.StorageUsed = tlb.StorageUsed{
		CellsUsed: big.NewInt(0),
		BitsUsed:  big.NewInt(int64(8 * len(st.Balance.Nano().Bytes()))),
	}
	acc, err := st.ToCell()
	if err != nil {
		return fmt.Errorf("failed to encode new uninit account: %w", err)
	}
	if !bytes.Equal(tx.StateUpdate.NewHash, built.Hash()) {
		return nil // not the account this transaction names: keep tonutils-go's result whole
	}
	oldUpdate, err := tlb.ToCell(&tx.StateUpdate)
	if err != nil {
		return fmt.Errorf("failed to encode state update: %w", err)
	}
	update := tx.StateUpdate
	update.NewHash = acc.Hash()
	newUpdate, err := tlb.ToCell(&update)
	if err != nil {
		return fmt.Errorf("failed to encode state update: %w", err)
	}
	sa := *res.ShardAccount
	sa.Account = acc
	ok, err := rewriteTransaction(res, &sa, map[cell.Hash]*cell.Cell{oldUpdate.HashKey(): newUpdate}, func(fixed *tlb.Transaction) bool {
		return bytes.Equal(fixed.StateUpdate.NewHash, acc.Hash()) && bytes.Equal(fixed.StateUpdate.OldHash, tx.StateUpdate.OldHash)
	})
	if err != nil || !ok {
		return err
	}
	res.AccountState, res.AccountCell = &st, acc
	return nil
}

// Action-phase result codes and send-message flags used below.
const (
	resultNotEnoughFunds = 37 // not enough funds (no_funds is set)
	resultMessageTooBig  = 40 // the message has more cells than the limit, or than its funds can pay the fine for
	actionSendMsgTag     = 0x0ec3c86d
	richBounceOp         = 0xfffffffe
	bouncePhaseAction    = 2
)

// fixActionFineResultCode corrects the result code of an action phase that fails because the funds
// behind an outbound message cannot pay the action fine for its cells.
//
// The C++ emulator (Transaction::try_action_send_message) inspects at most max_cells =
// funds / fine_per_cell cells of a message (fine_per_cell = cell_price / 2^16 / 4), where funds
// is the remaining balance, or, for an internal message that pays its fees from its own value
// (no +1, no +128), the smaller of that and the value (plus the inbound value less gas and fines
// for +64). A message with more cells fails with result code 40 and pays the fine for max_cells.
// tonutils-go computes the same fine (transactionComputeSendActionFineForUsage) but checks only
// the configured size limits (transactionCheckOutboundMessageSize), so it goes on to the fee
// check, which such a message always fails (a forward fee is at least 4 * fine_per_cell per cell
// plus the lump price), and reports 37 with no_funds. Money is the same on both, nothing is
// sent, and both bounce when asked to; the result code, no_funds and a rich bounce's exit code
// differ (tests/parity, scenario "an outbound message whose value cannot pay the action fine for
// its cells": 1 nanoTON with the body in a ref, sent with mode 16; TestActionFineParity).
//
// The fine tells the two apart: a failing send's fine is fine_per_cell * min(cells, max_cells),
// so it is below fine_per_cell * cells exactly when the message has more cells than its funds
// cover. That holds when no action was skipped before (skipped actions pay fines too), which is
// required here; the one 37 that charges no fine (+64 whose value is used up by gas) is told
// apart by recomputing that value. The transaction is then re-encoded with result code 40,
// no_funds false and the bounce's exit code 40; its hash changes and the account's
// last_trans_hash with it.
func fixActionFineResultCode(res *tvm.TransactionExecutionResult, cfg tlb.BlockchainConfig, acc *address.Address) error {
	tx := res.Transaction
	desc, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok || desc.ActionPhase == nil || res.Actions == nil || res.ShardAccount == nil {
		return nil
	}
	ap := desc.ActionPhase
	if ap.Success || ap.ResultCode != resultNotEnoughFunds || !ap.NoFunds || ap.SkippedActions != 0 ||
		!bytes.Equal(res.Actions.Hash(), ap.ActionListHash) || isSpecialAccount(cfg, acc) {
		return nil
	}
	idx := 0
	if ap.ResultArg != nil {
		idx = int(*ap.ResultArg)
	}
	actions, err := actionList(res.Actions)
	if err != nil || idx >= len(actions) {
		return nil // not the list tonutils-go ran; leave its result
	}
	mode, msgCell, ok := sendAction(actions[idx])
	if !ok {
		return nil // a reserve or library action: no cells, no fine
	}
	var msg tlb.Message
	if err := tlb.LoadFromCell(&msg, msgCell.MustBeginParse()); err != nil {
		return nil
	}
	toMasterchain := false
	if msg.MsgType == tlb.MsgTypeInternal {
		in := msg.AsInternal()
		if in.ExtraCurrencies != nil && !in.ExtraCurrencies.IsEmpty() {
			return nil // the devnet has no extra currencies; their cells count by other rules
		}
		toMasterchain = in.DstAddr != nil && in.DstAddr.Workchain() == -1
	}
	prices, err := cfg.GetMsgForwardPrices(toMasterchain || acc.Workchain() == -1)
	if err != nil || prices == nil {
		return nil
	}
	finePerCell := new(big.Int).SetUint64((prices.CellPrice >> 16) / 4)
	cells := big.NewInt(int64(cellsBelow(msgCell)))
	fine := big.NewInt(0)
	if ap.TotalActionFees != nil {
		fine = ap.TotalActionFees.Nano()
	}
	if fine.Cmp(new(big.Int).Mul(finePerCell, cells)) >= 0 {
		return nil // the fine covers every cell: a plain lack of funds, 37 on both
	}
	mode &^= 16
	if msg.MsgType == tlb.MsgTypeInternal && mode&0x80 == 0 && mode&1 == 0 && mode&0x40 != 0 {
		// +64 without +1: both emulators answer 37 before counting cells when the value and
		// the inbound value left after gas (no fine yet: nothing was skipped) are negative.
		funds := new(big.Int).Set(msg.AsInternal().Amount.Nano())
		if desc.CreditPhase != nil && !msgBalanceUsed(actions[:idx]) {
			funds.Add(funds, desc.CreditPhase.Credit.Coins.Nano())
		}
		if vm, ok := desc.ComputePhase.Phase.(tlb.ComputePhaseVM); ok {
			funds.Sub(funds, vm.GasFees.Nano())
		}
		if funds.Sign() < 0 {
			return nil
		}
	}
	return rewriteFailedAction(res, resultMessageTooBig)
}

// rewriteFailedAction re-encodes res's transaction with the failed action phase reporting code
// (no_funds cleared) and the exit code of a rich bounce it sent changed to match. The rest of
// each cell is kept bit for bit. It leaves res as it is when a cell does not re-encode to itself
// or the action phase is not where it was expected.
func rewriteFailedAction(res *tvm.TransactionExecutionResult, code int32) error {
	tx := res.Transaction
	desc := tx.Description.(tlb.TransactionDescriptionOrdinary)
	oldAP, err := tlb.ToCell(desc.ActionPhase)
	if err != nil {
		return fmt.Errorf("failed to encode action phase: %w", err)
	}
	ap := *desc.ActionPhase
	ap.ResultCode, ap.NoFunds = code, false
	newAP, err := tlb.ToCell(&ap)
	if err != nil {
		return fmt.Errorf("failed to encode action phase: %w", err)
	}
	repl := map[cell.Hash]*cell.Cell{oldAP.HashKey(): newAP}
	outs, err := outMessageCells(tx)
	if err != nil {
		return err
	}
	for _, out := range outs {
		fixed, err := richBounceWithExitCode(out, code)
		if err != nil {
			return nil // keep tonutils-go's transaction whole rather than half corrected
		}
		if fixed != nil {
			repl[out.HashKey()] = fixed
		}
	}
	_, err = rewriteTransaction(res, res.ShardAccount, repl, func(fixed *tlb.Transaction) bool {
		got, ok := fixed.Description.(tlb.TransactionDescriptionOrdinary)
		return ok && got.ActionPhase != nil && got.ActionPhase.ResultCode == code
	})
	return err
}

// rewriteTransaction re-encodes res's transaction with every cell whose hash is a key of repl
// replaced by its value (the rest kept bit for bit) and stores it with sa, whose last_trans_hash
// it points at the new hash. applied reports whether it did: it leaves res as it is when the
// shard account did not point at the transaction, or when the re-encoded transaction does not
// pass check (a replaced cell was not where it was expected).
func rewriteTransaction(res *tvm.TransactionExecutionResult, sa *tlb.ShardAccount, repl map[cell.Hash]*cell.Cell, check func(*tlb.Transaction) bool) (applied bool, err error) {
	if !bytes.Equal(res.ShardAccount.LastTransHash, res.Transaction.Hash) {
		return false, nil
	}
	root, err := replaceCells(res.TransactionCell, repl, map[cell.Hash]*cell.Cell{})
	if err != nil {
		return false, err
	}
	s, err := root.BeginParse()
	if err != nil {
		return false, fmt.Errorf("failed to read corrected transaction: %w", err)
	}
	var fixed tlb.Transaction
	if err := tlb.LoadFromCell(&fixed, s); err != nil {
		return false, fmt.Errorf("failed to decode corrected transaction: %w", err)
	}
	fixed.Hash = root.Hash()
	if !check(&fixed) {
		return false, nil
	}
	out := *sa
	out.LastTransHash = fixed.Hash
	saCell, err := tlb.ToCell(&out)
	if err != nil {
		return false, fmt.Errorf("failed to encode shard account: %w", err)
	}
	res.Transaction, res.TransactionCell, res.ShardAccount, res.ShardAccountCell = &fixed, root, &out, saCell
	return true, nil
}

// errNotReencoded: a cell tonutils-go built does not come out the same from its own encoder.
var errNotReencoded = errors.New("cell does not re-encode to itself")

// richBounceWithExitCode returns msgCell with its exit code set to code when it is a bounced
// internal message whose body is a rich bounce (new_bounce_body#fffffffe) for an action phase
// that failed with 37, and nil for any other message.
func richBounceWithExitCode(msgCell *cell.Cell, code int32) (*cell.Cell, error) {
	var msg tlb.Message
	if err := tlb.LoadFromCell(&msg, msgCell.MustBeginParse()); err != nil || msg.MsgType != tlb.MsgTypeInternal {
		return nil, nil
	}
	in := *msg.AsInternal()
	if !in.Bounced || in.Body == nil || in.Body.RefsNum() != 2 {
		return nil, nil
	}
	s := in.Body.MustBeginParse()
	op, err1 := s.LoadUInt(32)
	phase, err2 := s.LoadUInt(8)
	exit, err3 := s.LoadInt(32)
	if err1 != nil || err2 != nil || err3 != nil || op != richBounceOp || phase != bouncePhaseAction || exit != resultNotEnoughFunds {
		return nil, nil
	}
	rest, err := s.LoadSlice(s.BitsLeft())
	if err != nil {
		return nil, err
	}
	body := cell.BeginCell().MustStoreUInt(richBounceOp, 32).
		MustStoreRef(in.Body.MustPeekRef(0)).MustStoreRef(in.Body.MustPeekRef(1)).
		MustStoreUInt(phase, 8).MustStoreInt(int64(code), 32).
		MustStoreSlice(rest, in.Body.BitsSize()-72).EndCell()
	// Encoded as tonutils-go encoded it (the same tlb.ToCell); the body keeps its size, so it
	// keeps its place (in line or in a ref) too.
	if again, err := tlb.ToCell(&in); err != nil || !bytes.Equal(again.Hash(), msgCell.Hash()) {
		return nil, errNotReencoded
	}
	in.Body = body
	return tlb.ToCell(&in)
}

// actionList returns the actions of an out-action list (c5) in the order they run.
func actionList(root *cell.Cell) ([]*cell.Cell, error) {
	var list []*cell.Cell
	for c := root; c.RefsNum() > 0 || c.BitsSize() > 0; {
		if len(list) > 255 { // config param 43 allows 255
			return nil, fmt.Errorf("action list longer than 255")
		}
		list = append(list, c)
		prev, err := c.PeekRef(0)
		if err != nil {
			return nil, err
		}
		c = prev
	}
	for i, j := 0, len(list)-1; i < j; i, j = i+1, j-1 {
		list[i], list[j] = list[j], list[i]
	}
	return list, nil
}

// sendAction reads an action_send_msg node of an action list: its mode and message.
func sendAction(node *cell.Cell) (uint8, *cell.Cell, bool) {
	s, err := node.BeginParse()
	if err != nil || node.RefsNum() != 2 {
		return 0, nil, false
	}
	if _, err := s.LoadRefCell(); err != nil {
		return 0, nil, false
	}
	tag, err := s.LoadUInt(32)
	if err != nil || tag != actionSendMsgTag {
		return 0, nil, false
	}
	mode, err := s.LoadUInt(8)
	if err != nil {
		return 0, nil, false
	}
	msg, err := s.LoadRefCell()
	if err != nil {
		return 0, nil, false
	}
	return uint8(mode), msg, true
}

// msgBalanceUsed says whether one of the actions sent the rest of the inbound value (+64 or +128).
func msgBalanceUsed(actions []*cell.Cell) bool {
	for _, a := range actions {
		if mode, _, ok := sendAction(a); ok && mode&0xc0 != 0 {
			return true
		}
	}
	return false
}

// cellsBelow counts the distinct cells under root, root excluded: the cells the C++ emulator
// counts for an outbound message (its StateInit and body, in line or in refs).
func cellsBelow(root *cell.Cell) int {
	seen := map[cell.Hash]bool{}
	var walk func(c *cell.Cell)
	walk = func(c *cell.Cell) {
		for i := 0; i < int(c.RefsNum()); i++ {
			r, err := c.PeekRef(i)
			if err != nil || seen[r.HashKey()] {
				continue
			}
			seen[r.HashKey()] = true
			walk(r)
		}
	}
	walk(root)
	return len(seen)
}

// replaceCells rebuilds root with every cell whose hash is a key of repl replaced by its value,
// keeping each rebuilt cell's bits and the order of its references.
func replaceCells(root *cell.Cell, repl, done map[cell.Hash]*cell.Cell) (*cell.Cell, error) {
	h := root.HashKey()
	if r, ok := repl[h]; ok {
		return r, nil
	}
	if r, ok := done[h]; ok {
		return r, nil
	}
	refs := make([]*cell.Cell, root.RefsNum())
	changed := false
	for i := range refs {
		r, err := root.PeekRef(i)
		if err != nil {
			return nil, err
		}
		if refs[i], err = replaceCells(r, repl, done); err != nil {
			return nil, err
		}
		changed = changed || refs[i] != r
	}
	if !changed {
		done[h] = root
		return root, nil
	}
	if root.IsSpecial() {
		return nil, fmt.Errorf("cannot rebuild an exotic cell")
	}
	s, err := root.BeginParse()
	if err != nil {
		return nil, err
	}
	data, err := s.LoadSlice(root.BitsSize())
	if err != nil {
		return nil, err
	}
	b := cell.BeginCell().MustStoreSlice(data, root.BitsSize())
	for _, r := range refs {
		b.MustStoreRef(r)
	}
	done[h] = b.EndCell()
	return done[h], nil
}

// isSpecialAccount says whether acc is a masterchain account the config exempts from fees (the
// config contract and the fundamental addresses of param 31): it pays no fines, so it never
// takes the C++ emulator's funds-bounded cell limit.
func isSpecialAccount(cfg tlb.BlockchainConfig, acc *address.Address) bool {
	if acc.Workchain() != -1 {
		return false
	}
	if a, err := cfg.GetConfigAddress(); err == nil && bytes.Equal(a, acc.Data()) {
		return true
	}
	f, err := cfg.GetFundamentalSmartContractAddresses()
	if err != nil || f.Addresses == nil {
		return false
	}
	_, err = f.Addresses.LoadValue(cell.BeginCell().MustStoreSlice(acc.Data(), 256).EndCell())
	return err == nil
}
