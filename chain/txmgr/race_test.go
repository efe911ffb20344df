package txmgr_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"math/big"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/voucher"
)

// raceActor is a funded wallet with its manager.
type raceActor struct {
	w *wallet.Wallet
	m *txmgr.Manager
}

func newRaceActor(t *testing.T, d *devnet.Devnet, seed string) *raceActor {
	t.Helper()
	w := newWallet(t, d, seed, ton(100))
	return &raceActor{w: w, m: newManager(t, d, w, nil)}
}

// send sends msg (nil: a plain transfer) with value to dst and follows the whole cascade; every
// hop but the ones back on the sending wallet (a dust excess can be below the wallet's own gas)
// must succeed.
func (a *raceActor) send(t *testing.T, dst *address.Address, value *big.Int, msg contracts.Message, init *tlb.StateInit) *txmgr.Outcome {
	t.Helper()
	out, err := a.m.Send(context.Background(), a.request(t, dst, value, msg, init))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range out.Cascade.Hops {
		if err := h.Err(); err != nil && !h.Account.Equals(a.w.Address()) {
			t.Fatalf("%T: %v", msg, err)
		}
	}
	return out
}

func (a *raceActor) request(t *testing.T, dst *address.Address, value *big.Int, msg contracts.Message, init *tlb.StateInit) txmgr.Request {
	t.Helper()
	tr := wallet.Transfer{To: dst, Amount: value, Bounce: init == nil, StateInit: init}
	if msg != nil {
		body, err := contracts.Encode(msg)
		if err != nil {
			t.Fatal(err)
		}
		tr.Body = body
	}
	return txmgr.Request{Transfers: []wallet.Transfer{tr}, Follow: txmgr.FollowAll()}
}

// On TON a close and a claim can be in flight at once, and the block decides. Here the client
// finalizes a channel whose challenge period is over while the provider relays its voucher: both
// wallets send in the same block, both messages reach the channel in the next one, and the
// finalize (first in the block) refunds the deposit before the claim runs. The claim is still
// accepted (the voucher and its usage are recorded) but pays nothing: what it asked for stays owed.
// A provider daemon must therefore claim before the challenge deadline, not at it.
func TestBlockModeCloseRacesClaim(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	d := openDevnet(t, 20*time.Millisecond)
	gov, owner, client := newRaceActor(t, d, "race-gov"), newRaceActor(t, d, "race-owner"), newRaceActor(t, d, "race-client")

	const challenge = 3600
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("10"), UnbondingPeriod: 7 * 24 * 3600, ProtocolFeeBps: 100,
		Treasury: gov.w.Address(), ChallengePeriod: challenge, OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600}
	st := contracts.NewRegistryStorage(gov.w.Address(), contracts.NetworkDevnet, params, contracts.ProviderCode())
	st.Catalog.ChannelCode = contracts.ChannelCode()
	init, registry, err := contracts.RegistryDeploy(st)
	if err != nil {
		t.Fatal(err)
	}
	gov.send(t, registry, ton(1), nil, init)
	rc := contracts.RegistryClient{Chain: d.Client(), Address: registry}
	stake := ton(10)
	fee, err := rc.RegisterFee(ctx, stake)
	if err != nil {
		t.Fatal(err)
	}
	owner.send(t, registry, new(big.Int).Add(stake, fee), contracts.RegisterProvider{QueryID: 1, StakeAmount: tlb.FromNanoTON(stake)}, nil)

	clientKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x5c}, 32))
	pub := clientKey.Public().(ed25519.PublicKey)
	open, err := contracts.NewOpenChannel(2, owner.w.Address(), pub)
	if err != nil {
		t.Fatal(err)
	}
	openFee, err := rc.OpenChannelFee(ctx)
	if err != nil {
		t.Fatal(err)
	}
	client.send(t, registry, new(big.Int).Add(openFee, ton(5)), open, nil)
	provider, _ := contracts.ProviderAddress(contracts.ProviderCode(), registry, owner.w.Address())
	ch, err := contracts.ChannelAddress(contracts.ChannelCode(), registry, pub, provider)
	if err != nil {
		t.Fatal(err)
	}
	cc := contracts.ChannelClient{Chain: d.Client(), Address: ch}
	start, err := contracts.NewStartClose(3, contracts.CloseRequest{Channel: ch, CloseNonce: 0, RefundTo: client.w.Address()}, clientKey)
	if err != nil {
		t.Fatal(err)
	}
	client.send(t, ch, big.NewInt(50_000_000), start, nil)
	before, err := cc.State(ctx)
	if err != nil || before.Status != contracts.ChannelClosing || before.Available.Nano().Cmp(ton(4)) < 0 {
		t.Fatalf("channel before the race: %+v %v", before, err)
	}
	d.AdvanceTime((challenge + 60) * time.Second)

	signed, err := voucher.Voucher{Channel: ch, Amount: ton(1), PromptTokens: 100, CompletionTokens: 50}.Sign(clientKey)
	if err != nil {
		t.Fatal(err)
	}
	claim, err := contracts.NewClaim(4, signed)
	if err != nil {
		t.Fatal(err)
	}
	claimValue := new(big.Int).Add(before.ClaimCost.Nano(), big.NewInt(10_000_000))

	// Both wallets sign for the same block: the finalize first, then the claim.
	d.PauseBlocks()
	finalizing := sendAsync(ctx, client.m, client.request(t, ch, big.NewInt(50_000_000), contracts.FinalizeClose{QueryID: 5}, nil))
	waitPending(t, d, 1)
	claiming := sendAsync(ctx, owner.m, owner.request(t, ch, claimValue, claim, nil))
	waitPending(t, d, 2)
	wallets, err := d.ProduceBlock(ctx)
	if err != nil || len(wallets.Transactions) != 2 {
		t.Fatalf("both wallet messages in one block: %+v %v", wallets, err)
	}
	atChannel, err := d.ProduceBlock(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var onChannel []*tlb.Transaction
	for _, tx := range atChannel.Transactions {
		if bytes.Equal(tx.AccountAddr, ch.Data()) {
			onChannel = append(onChannel, tx)
		}
	}
	if len(onChannel) != 2 {
		t.Fatalf("%d channel transactions in the block after the wallets', want the finalize and the claim together", len(onChannel))
	}
	first, second := onChannel[0].IO.In.AsInternal(), onChannel[1].IO.In.AsInternal()
	if !first.SrcAddr.Equals(client.w.Address()) || !second.SrcAddr.Equals(owner.w.Address()) {
		t.Fatal("the block did not run the finalize before the claim")
	}
	d.ResumeBlocks()
	for _, r := range []sent{<-finalizing, <-claiming} {
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	if err := d.WaitBlocks(ctx, 3); err != nil { // the refund, the usage report and its payouts
		t.Fatal(err)
	}

	after, err := cc.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if after.Status != contracts.ChannelOpen || after.CloseNonce != 1 {
		t.Fatalf("channel after the race: status %v, close nonce %d; want finalized", after.Status, after.CloseNonce)
	}
	if after.AcceptedAmount.Nano().Cmp(ton(1)) != 0 || after.Paid.Nano().Sign() != 0 || after.Owed.Nano().Cmp(ton(1)) != 0 {
		t.Fatalf("claim after the finalize: accepted %s, paid %s, owed %s; want 1 TON accepted, nothing paid",
			after.AcceptedAmount, after.Paid, after.Owed)
	}
}
