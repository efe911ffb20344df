package ops_test

import (
	"bytes"
	"context"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
)

// TestOracleVote: the registry's checks of a vote refuse before sending (not an oracle, a
// measurement not allowed, expired, too long); a good vote with quorum 1 attests the provider.
func TestOracleVote(t *testing.T) {
	n := newNet(t)
	reg, gov := n.governed(10)
	owner := n.actor("owner", 20, reg)
	oracle := n.actor("oracle", 10, reg)
	n.register(owner, "5")
	measurement := bytes.Repeat([]byte{0xab}, 32)
	n.govern(gov, contracts.AddMeasurement{QueryID: ops.NewQueryID(), MeasurementHash: measurement, Kind: contracts.MeasurementSim},
		contracts.AddOracle{QueryID: ops.NewQueryID(), Wallet: oracle.addr(), PublicKey: bytes.Repeat([]byte{0x22}, 32)})
	now := n.d.Now()
	claim := func(m []byte, until time.Time) ops.OracleVoteInput {
		return ops.OracleVoteInput{ProviderOwner: owner.addr(), Claim: contracts.AttestationClaim{MeasurementHash: m,
			EvidenceDigest: bytes.Repeat([]byte{0xcd}, 32), TLSKeyHash: bytes.Repeat([]byte{0xef}, 32), ValidUntil: uint32(until.Unix())}}
	}
	vote := func(a *actor, in ops.OracleVoteInput) func() error {
		return func() error { _, err := a.PlanOracleVote(n.ctx, in); return err }
	}
	n.refused(owner, contracts.ExitNotOracle, vote(owner, claim(measurement, now.Add(time.Hour))))
	n.refused(oracle, contracts.ExitMeasurementNotAllowed, vote(oracle, claim(bytes.Repeat([]byte{0x01}, 32), now.Add(time.Hour))))
	n.refused(oracle, contracts.ExitAttestationExpired, vote(oracle, claim(measurement, now.Add(-time.Second))))
	n.refused(oracle, contracts.ExitAttestationTooLong, vote(oracle, claim(measurement, now.Add(25*time.Hour))))
	stranger := claim(measurement, now.Add(time.Hour))
	stranger.ProviderOwner = oracle.addr()
	_, err := oracle.PlanOracleVote(n.ctx, stranger)
	require.ErrorIs(t, err, ops.ErrNotRegistered)

	in := claim(measurement, now.Add(time.Hour))
	// The same vote planned for a signer elsewhere: no wallet here, the oracle named.
	offline := &ops.Ops{Chain: n.d.Client(), Registry: reg, Clock: oracle.Clock}
	in.Oracle = oracle.addr()
	lp, err := offline.PlanOracleVote(n.ctx, in)
	require.NoError(t, err)
	in.Oracle = nil
	p, err := oracle.PlanOracleVote(n.ctx, in)
	require.NoError(t, err)
	require.Equal(t, uint8(0), p.Slot, "the first oracle has slot 0")
	require.Equal(t, uint32(0), p.Epoch)
	again, err := oracle.PlanOracleVote(n.ctx, in)
	require.NoError(t, err)
	require.Equal(t, p.Key, again.Key, "one vote, one key")
	require.Equal(t, p.Key, lp.Key, "planned here or elsewhere")
	res, err := oracle.SendOracleVote(n.ctx, p)
	require.NoError(t, err)
	require.True(t, res.Attestation.Attested)
	require.Equal(t, in.Claim.ValidUntil, res.Attestation.ValidUntil)
	require.Len(t, res.Attestation.Votes, 1)
	v, err := owner.ReadProvider(n.ctx, owner.addr())
	require.NoError(t, err)
	require.True(t, v.HasClaim())
	require.Equal(t, contracts.MeasurementSim, v.MeasurementKind)
	require.Zero(t, v.PendingVotes(), "the vote for the confirmed claim is not pending")
}

// TestTransfer: a transfer to an address without an active account does not bounce, a comment is
// delivered, and a transfer the wallet cannot pay is refused before signing.
func TestTransfer(t *testing.T) {
	n := newNet(t)
	a := n.actor("sender", 10, nil)
	fresh := address.MustParseRawAddr("0:" + strings.Repeat("5a", 32))
	p, err := a.PlanTransfer(n.ctx, ops.TransferInput{To: fresh, Amount: nano("1.5"), Comment: "first"})
	require.NoError(t, err)
	require.False(t, p.Bounce, "nothing is deployed there")
	out, err := a.SendTransfer(n.ctx, p)
	require.NoError(t, err)
	require.True(t, out.Attempts[0].Deploy, "the first message deploys the wallet")
	require.Equal(t, nano("1.5"), n.balance(fresh))
	txs, err := n.d.Transactions(fresh, 1, 0, nil)
	require.NoError(t, err)
	body, _ := txs[0].IO.In.AsInternal().Body.BeginParse()
	require.Zero(t, body.MustLoadUInt(32))
	require.Equal(t, "first", body.MustLoadStringSnake())

	// A bounceable transfer to nobody comes back (followed to its bounce), less fees.
	bounce := true
	before := n.balance(a.addr())
	p, err = a.PlanTransfer(n.ctx, ops.TransferInput{To: address.MustParseRawAddr("0:" + strings.Repeat("6b", 32)), Amount: nano("2"), Bounce: &bounce})
	require.NoError(t, err)
	out, err = a.SendTransfer(n.ctx, p)
	require.NoError(t, err)
	require.True(t, out.Cascade.Complete)
	if lost := new(big.Int).Sub(before, n.balance(a.addr())); lost.Sign() <= 0 || lost.Cmp(nano("0.1")) > 0 {
		t.Fatalf("a bounced transfer cost %s", lost)
	}

	lt := n.lastLT(a.addr())
	p, err = a.PlanTransfer(n.ctx, ops.TransferInput{To: fresh, Amount: nano("100")})
	require.NoError(t, err)
	_, err = a.SendTransfer(n.ctx, p)
	var fe *ops.FundsError
	require.ErrorAs(t, err, &fe)
	require.Contains(t, err.Error(), "not enough to send 100 TON plus fees")
	n.quiet(a, lt)
	_, err = a.PlanTransfer(n.ctx, ops.TransferInput{To: fresh, Amount: new(big.Int)})
	require.ErrorIs(t, err, ops.ErrBadInput)
}

// TestNoWait: WaitWallet returns with the wallet's transaction and follows nothing.
func TestNoWait(t *testing.T) {
	n := newNet(t)
	_, gov := n.governed(10)
	p, err := gov.PlanGovern(n.ctx, contracts.WithdrawRegistrySurplus{QueryID: 9}, nil)
	require.NoError(t, err)
	p.Wait = ops.WaitWallet
	sent, err := gov.Send(n.ctx, p)
	require.NoError(t, err)
	require.NotNil(t, sent.Outcome.Transaction)
	require.Nil(t, sent.Outcome.Cascade)
	require.Empty(t, sent.Txs)
	// The sender is any Sender: here the manager itself, asked again for the same key.
	var s ops.Sender = gov.Sender
	out, err := s.Send(context.Background(), txmgr.Request{Key: p.Key, Transfers: []wallet.Transfer{p.Transfer()}})
	require.NoError(t, err)
	require.True(t, out.Duplicate)
}

// TestUptimeRoot: a commitment from a wallet outside the oracle set and one for an epoch not above the
// oracle's last are refused before sending (114, 123); a commitment is stored and read back, and the
// same commitment asked twice is sent once.
func TestUptimeRoot(t *testing.T) {
	n := newNet(t)
	reg, gov := n.governed(10)
	oracle := n.actor("oracle", 10, reg)
	stranger := n.actor("stranger", 10, reg)
	n.govern(gov, contracts.AddOracle{QueryID: ops.NewQueryID(), Wallet: oracle.addr(), PublicKey: bytes.Repeat([]byte{0x22}, 32)})
	root := bytes.Repeat([]byte{0x6d}, 32)
	in := ops.UptimeRootInput{Epoch: 490_000, Root: root, ProviderCount: 3}
	n.refused(stranger, contracts.ExitNotOracle, func() error { _, err := stranger.PlanUptimeRoot(n.ctx, in); return err })
	_, err := oracle.PlanUptimeRoot(n.ctx, ops.UptimeRootInput{Epoch: 1, Root: root[:31]})
	require.ErrorIs(t, err, ops.ErrBadInput)

	p, err := oracle.PlanUptimeRoot(n.ctx, in)
	require.NoError(t, err)
	require.False(t, p.Previous.Found)
	res, err := oracle.SendUptimeRoot(n.ctx, p)
	require.NoError(t, err)
	require.True(t, res.Commitment.Found)
	require.Equal(t, contracts.UptimeCommitment{Epoch: 490_000, Root: root, ProviderCount: 3, CommittedAt: res.Commitment.CommittedAt}, res.Commitment.UptimeCommitment)
	require.InDelta(t, n.d.Now().Unix(), int64(res.Commitment.CommittedAt), 5)
	// the same commitment again: the recorded outcome, nothing sent
	lt := n.lastLT(oracle.addr())
	again, err := oracle.Send(n.ctx, p.Plan)
	require.NoError(t, err)
	require.True(t, again.Outcome.Duplicate)
	require.Equal(t, lt, n.lastLT(oracle.addr()))
	// the same epoch with another root, and an older epoch: 123 before sending
	for _, epoch := range []uint32{490_000, 489_999} {
		n.refused(oracle, contracts.ExitUptimeEpochNotNewer, func() error {
			_, err := oracle.PlanUptimeRoot(n.ctx, ops.UptimeRootInput{Epoch: epoch, Root: bytes.Repeat([]byte{1}, 32)})
			return err
		})
	}
	// sent anyway (a plan made before the first went through), the registry refuses it with 123
	stale := &ops.UptimePlan{Plan: p.Plan}
	stale.Plan.Key, stale.Plan.QueryID = "", 0
	_, err = oracle.SendUptimeRoot(n.ctx, stale)
	contractRefused(t, err, "registry", contracts.ExitUptimeEpochNotNewer)
}
