package e2e

import (
	"context"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/demo"
)

// TestCloseWithUnclaimedVoucherE2E: a provider that claims only at 1,000 TON holds the client's
// newest voucher unclaimed when the client starts closing the channel. The provider, told nothing,
// sees the close and claims the voucher within the challenge period; once the period is over (the
// devnet's clock moved on) the client finalizes and gets exactly the rest: what it deposited less
// what the provider claimed and the storage fees the chain took, the 0.02 TON reserve staying.
func TestCloseWithUnclaimedVoucherE2E(t *testing.T) {
	n, ctx := startNet(t, func(c *demo.Config) { c.Providers[0].ThresholdTON = "1000" })
	p := n.Providers[0]
	c := payingClient(t, ctx, n, p, "close", "1")
	cc := contracts.ChannelClient{Chain: n.Chain, Address: c.Ch}

	// Three answers: each request carries the voucher for the answers before it, so the provider
	// holds the voucher for the first two (the third is the one request of credit it gives).
	var owedAfter []*big.Int
	for _, prompt := range []string{"In the beginning", "And God said", "And the earth"} {
		_, r := c.Chat(chatBody(prompt, 8, false))
		owedAfter = append(owedAfter, r.Owed)
	}
	held := c.View()
	owed, ok := new(big.Int).SetString(held.VoucherAmount, 10)
	require.True(t, ok)
	require.Equal(t, owedAfter[1].String(), owed.String(), "the provider holds the voucher for the first two answers")
	require.Equal(t, owedAfter[2].String(), held.Owed)
	// The provider holds a voucher it has not claimed (the threshold is far away).
	time.Sleep(2 * time.Second) // two settlement intervals
	st, err := cc.State(ctx)
	require.NoError(t, err)
	require.Zero(t, st.Paid.Nano().Sign(), "nothing claimed before the close")
	require.Zero(t, st.AcceptedAmount.Nano().Sign())
	available := st.Available.Nano()

	c.CloseChannel()
	st, err = cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, contracts.ChannelClosing, st.Status)
	deadline := ops.Deadline(st)

	// The provider's claim lands within the challenge period: exactly the voucher it held.
	eventually(t, "the provider's claim of the closing channel", 30*time.Second, func() bool {
		st, err = cc.State(ctx)
		return err == nil && st.Paid.Nano().Sign() > 0
	})
	require.Equal(t, owed.String(), st.Paid.Nano().String(), "claimed: the voucher the provider held")
	require.Equal(t, owed.String(), st.AcceptedAmount.Nano().String())
	claim, err := n.LastClaim(ctx, c.Ch)
	require.NoError(t, err)
	require.Equal(t, owed.String(), claim.Paid.String())
	now, err := n.Now(ctx)
	require.NoError(t, err)
	require.True(t, now.Before(deadline), "claimed at %s, before the challenge deadline %s", now, deadline)
	require.Equal(t, contracts.ChannelClosing, st.Status)

	// The challenge period ends; the client finalizes and gets the rest.
	require.NoError(t, n.AdvanceTime(ctx, time.Duration(demo.ChallengePeriod+5)*time.Second))
	fp, err := c.O.PlanFinalize(ctx, ops.FinalizeInput{Channel: c.Ch})
	require.NoError(t, err)
	fr, err := c.O.SendEndClose(ctx, fp)
	require.NoError(t, err)
	require.True(t, fr.RefundTo.Equals(c.O.Sender.Address()), "the refund goes to the client's wallet")

	// The rest: what was available at the close, less the claim, the storage fees the chain took
	// and the refund's own forward fee (it carries the whole balance above the reserve, fees
	// deducted from it).
	storage := storageFees(t, ctx, n, c.Ch)
	fwd := refundForwardFee(t, fr.Sent.Last(fp.Plan))
	want := new(big.Int).Sub(available, owed)
	want.Sub(want, storage)
	want.Sub(want, fwd)
	require.Equal(t, want.String(), fr.Refunded.String(),
		"refunded: %s available at the close - %s claimed - %s storage fees - %s forward fee", available, owed, storage, fwd)
	t.Logf("available at the close %s, claimed %s, storage fees %s, refund forward fee %s, refunded %s nanoTON", available, owed, storage, fwd, fr.Refunded)

	final, err := cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, contracts.ChannelOpen, final.Status, "finalized: open again, with its totals")
	require.Zero(t, final.Available.Nano().Sign(), "nothing left above the reserve")
	require.Equal(t, owed.String(), final.Paid.Nano().String())
}

// storageFees sums the storage fees of ch's transactions after its open (ChannelInit): the
// channel's only transactions are the open, then the close, the claim and the finalize.
func storageFees(t *testing.T, ctx context.Context, n *demo.Network, ch *address.Address) *big.Int {
	t.Helper()
	txs, err := n.Chain.GetTransactions(ctx, ch, 100, 0, nil)
	require.NoError(t, err)
	total := new(big.Int)
	// newest first, down to the open
	for _, tx := range txs {
		if isOpen(tx) {
			break
		}
		if d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary); ok && d.StoragePhase != nil {
			total.Add(total, d.StoragePhase.StorageFeesCollected.Nano())
		}
	}
	return total
}

// isOpen: tx is the channel's ChannelInit (its open).
func isOpen(tx *tlb.Transaction) bool {
	if tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		return false
	}
	m, err := contracts.Decode(tx.IO.In.AsInternal().Body)
	if err != nil {
		return false
	}
	_, ok := m.(contracts.ChannelInit)
	return ok
}

// refundForwardFee is the forward fee the finalize transaction paid for its ChannelRefund. It
// sends two messages of the same shape (ReturnExcess and ChannelRefund: an opcode and a query id,
// no references, to a wallet), so each cost half the transaction's forward fees.
func refundForwardFee(t *testing.T, tx *tlb.Transaction) *big.Int {
	t.Helper()
	require.NotNil(t, tx, "the finalize transaction")
	msgs, err := tx.IO.Out.ToSlice()
	require.NoError(t, err)
	var ops []string
	for _, m := range msgs {
		d, err := contracts.Decode(m.AsInternal().Body)
		require.NoError(t, err)
		ops = append(ops, d.MessageName())
	}
	require.ElementsMatch(t, []string{"ReturnExcess", "ChannelRefund"}, ops)
	require.Equal(t, msgs[0].AsInternal().FwdFee.Nano().String(), msgs[1].AsInternal().FwdFee.Nano().String(), "the two messages cost the same")
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	require.True(t, ok)
	require.NotNil(t, d.ActionPhase)
	require.NotNil(t, d.ActionPhase.TotalFwdFees)
	total := d.ActionPhase.TotalFwdFees.Nano()
	half, rem := new(big.Int).QuoRem(total, big.NewInt(2), new(big.Int))
	require.Zero(t, rem.Sign(), "forward fees %s of two equal messages", total)
	return half
}
