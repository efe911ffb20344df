package contracts

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"math/big"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/voucher"
)

// isChannelMessage says whether a registered message is one of channel-messages.tolk's (their
// fixtures are in channel-fixtures.json).
func isChannelMessage(t reflect.Type) bool {
	for _, m := range ChannelMessages() {
		if reflect.TypeOf(m) == t {
			return true
		}
	}
	return false
}

func testChannelAddr(b byte) *address.Address {
	return address.NewAddress(0, 0, bytes.Repeat([]byte{b}, 32))
}

// The mirror struct and the voucher package build the same cell for any voucher.
func TestVoucherMirrorMatchesVoucherPackage(t *testing.T) {
	max120 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 120), big.NewInt(1))
	for _, v := range []voucher.Voucher{
		{Channel: testChannelAddr(1), Amount: new(big.Int)},
		{Channel: testChannelAddr(2), Amount: big.NewInt(255), PromptTokens: 256, CompletionTokens: 1},
		{Channel: testChannelAddr(3), Amount: max120, PromptTokens: ^uint64(0), CompletionTokens: ^uint64(0)},
	} {
		want, err := v.Cell()
		require.NoError(t, err)
		mv, err := VoucherFrom(v)
		require.NoError(t, err)
		got, err := Encode(mv)
		require.NoError(t, err)
		require.Equal(t, want.Hash(), got.Hash())
		back := mv.ToVoucher()
		require.Zero(t, back.Amount.Cmp(v.Amount))
	}
	_, err := VoucherFrom(voucher.Voucher{Amount: big.NewInt(1)})
	require.ErrorIs(t, err, voucher.ErrInvalid)
}

func TestClaimAndStartClose(t *testing.T) {
	key := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{9}, 32))
	pub := key.Public().(ed25519.PublicKey)
	ch := testChannelAddr(7)
	v := voucher.Voucher{Channel: ch, Amount: big.NewInt(5e8), PromptTokens: 10, CompletionTokens: 20}
	s, err := v.Sign(key)
	require.NoError(t, err)

	c, err := NewClaim(42, s)
	require.NoError(t, err)
	body, err := Encode(c)
	require.NoError(t, err)
	msg, err := Decode(body)
	require.NoError(t, err)
	back, err := msg.(Claim).SignedVoucher()
	require.NoError(t, err)
	require.NoError(t, back.Verify(pub), "the voucher a claim carries verifies after the round trip")
	require.Equal(t, uint64(42), msg.(Claim).QueryID)
	_, err = Claim{}.SignedVoucher()
	require.ErrorIs(t, err, ErrMalformedBody)
	_, err = NewClaim(1, voucher.Signed{})
	require.Error(t, err)

	req := CloseRequest{Channel: ch, CloseNonce: 3, RefundTo: testChannelAddr(8)}
	sc, err := NewStartClose(43, req, key)
	require.NoError(t, err)
	rc, err := sc.Request.Cell()
	require.NoError(t, err)
	require.True(t, ed25519.Verify(pub, rc.Hash(), sc.Signature))
	body, err = Encode(sc)
	require.NoError(t, err)
	msg, err = Decode(body)
	require.NoError(t, err)
	require.Equal(t, sc.Signature, msg.(StartClose).Signature)
	_, err = NewStartClose(1, req, key[:32])
	require.ErrorIs(t, err, ErrBadKey)
	_, err = NewStartClose(1, CloseRequest{Channel: ch}, key)
	require.ErrorIs(t, err, ErrBadAddress)

	open, err := NewOpenChannel(1, testChannelAddr(9), pub)
	require.NoError(t, err)
	require.Equal(t, []byte(pub), open.ClientKey)
	_, err = NewOpenChannel(1, testChannelAddr(9), pub[:5])
	require.ErrorIs(t, err, ErrBadKey)
}

func TestChannelOpcodesDistinct(t *testing.T) {
	// Every channel message is in the shared table under its own opcode, none shadowed.
	for _, m := range ChannelMessages() {
		require.Equal(t, reflect.TypeOf(m), messageTypes[m.Opcode()], m.MessageName())
	}
	// Every registered type sits under its own opcode, and the names are distinct, so no two
	// messages of any contract share one.
	names := map[string]bool{}
	for op, typ := range messageTypes {
		require.Equal(t, op, reflect.Zero(typ).Interface().(Message).Opcode(), typ.Name())
		require.False(t, names[typ.Name()], typ.Name())
		names[typ.Name()] = true
	}
	// The signed structures are never sent, so their magic must not read as a message.
	for _, m := range []Message{Voucher{}, CloseRequest{}} {
		_, dup := messageTypes[m.Opcode()]
		require.False(t, dup, m.MessageName())
	}
	// A collision is refused at registration and leaves the table as it was.
	before := len(messageTypes)
	require.Panics(t, func() { registerMessages(Claim{}) })
	require.Panics(t, func() { registerMessages(RegisterProvider{}) })
	require.Len(t, messageTypes, before)
}

func TestDecodeChannelMessages(t *testing.T) {
	_, err := Decode(nil)
	require.ErrorIs(t, err, ErrMalformedBody)
	_, err = Decode(cell.BeginCell().MustStoreUInt(1, 8).EndCell())
	require.ErrorIs(t, err, ErrMalformedBody)
	m, err := Decode(cell.BeginCell().MustStoreUInt(uint64(OpReturnExcess), 32).MustStoreUInt(0, 64).EndCell())
	require.NoError(t, err, "one decoder takes provider and channel messages alike")
	require.Equal(t, uint32(OpReturnExcess), m.Opcode())
	m, err = Decode(cell.BeginCell().MustStoreUInt(uint64(OpFinalizeClose), 32).MustStoreUInt(5, 64).EndCell())
	require.NoError(t, err)
	require.Equal(t, FinalizeClose{QueryID: 5}, m)
	_, err = Decode(cell.BeginCell().MustStoreUInt(uint64(MagicVoucher), 32).EndCell())
	require.ErrorIs(t, err, ErrUnknownOpcode, "a voucher is signed, never sent")
	_, err = Decode(cell.BeginCell().MustStoreUInt(uint64(OpFinalizeClose), 32).MustStoreUInt(0, 64).MustStoreUInt(1, 1).EndCell())
	require.ErrorIs(t, err, ErrMalformedBody, "trailing bits")
	_, err = Decode(cell.BeginCell().MustStoreUInt(uint64(OpClaim), 32).MustStoreUInt(0, 64).EndCell())
	require.ErrorIs(t, err, ErrMalformedBody, "claim without voucher")

	// Encode refuses what the contract would.
	_, err = Encode(Claim{Voucher: &Voucher{Channel: testChannelAddr(1), Amount: tlb.ZeroCoins}, Signature: make([]byte, 63)})
	require.Error(t, err)
	_, err = Encode(ChannelInit{Opener: testChannelAddr(1), PayoutTo: testChannelAddr(2)})
	require.ErrorIs(t, err, ErrBadAddress)
}

func TestChannelAddressRejects(t *testing.T) {
	code := cell.BeginCell().MustStoreUInt(1, 8).EndCell()
	key := make([]byte, 32)
	a, err := ChannelAddress(code, testChannelAddr(1), key, testChannelAddr(2))
	require.NoError(t, err)
	// Every input moves the address.
	for _, other := range []func() (*address.Address, error){
		func() (*address.Address, error) {
			return ChannelAddress(code, testChannelAddr(3), key, testChannelAddr(2))
		},
		func() (*address.Address, error) {
			return ChannelAddress(code, testChannelAddr(1), bytes.Repeat([]byte{1}, 32), testChannelAddr(2))
		},
		func() (*address.Address, error) {
			return ChannelAddress(code, testChannelAddr(1), key, testChannelAddr(3))
		},
		func() (*address.Address, error) {
			return ChannelAddress(cell.BeginCell().MustStoreUInt(2, 8).EndCell(), testChannelAddr(1), key, testChannelAddr(2))
		},
	} {
		b, err := other()
		require.NoError(t, err)
		require.False(t, a.Equals(b))
	}
	_, err = ChannelAddress(code, testChannelAddr(1), key[:31], testChannelAddr(2))
	require.ErrorIs(t, err, ErrBadKey)
	_, err = ChannelAddress(code, nil, key, testChannelAddr(2))
	require.ErrorIs(t, err, ErrBadAddress)
	_, err = ChannelAddress(code, testChannelAddr(1), key, address.NewAddress(0, 0xff, make([]byte, 32)))
	require.ErrorIs(t, err, ErrBadAddress)
}

func TestChannelGetterDecodersRejectShape(t *testing.T) {
	_, err := DecodeChannelState(&chain.GetMethodResult{Stack: []any{big.NewInt(1)}})
	require.ErrorIs(t, err, ErrStackShape)
	_, err = DecodeChannelData(&chain.GetMethodResult{Stack: []any{big.NewInt(1)}})
	require.ErrorIs(t, err, ErrStackShape)
	a, err := DecodeChannelAddress(&chain.GetMethodResult{Stack: []any{nil}})
	require.NoError(t, err)
	require.Nil(t, a, "null while channels are disabled")
}

// ---------------------------------------------------------------- end to end on the Go devnet

// chActor is a funded V4R2 wallet on the devnet.
type chActor struct {
	w     *wallet.Wallet
	seqno uint32
}

type chHarness struct {
	t   *testing.T
	d   *devnet.Devnet
	now time.Time
}

func (h *chHarness) actor(seed string) *chActor {
	h.t.Helper()
	s := sha256.Sum256([]byte(seed))
	w, err := wallet.New(ed25519.NewKeyFromSeed(s[:]), wallet.V4R2, h.d.GlobalID())
	require.NoError(h.t, err)
	require.NoError(h.t, h.d.Fund(context.Background(), w.Address(), big.NewInt(100_000_000_000)))
	return &chActor{w: w}
}

// send has a send one message (body built with Encode) and returns the cascade's transactions.
func (h *chHarness) send(a *chActor, to *address.Address, value string, m Message, init *tlb.StateInit) []*tlb.Transaction {
	h.t.Helper()
	var body *cell.Cell
	if m != nil {
		var err error
		body, err = Encode(m)
		require.NoError(h.t, err)
	}
	amount, err := wallet.ParseTON(value)
	require.NoError(h.t, err)
	signed, err := a.w.Sign(a.seqno, h.now.Add(time.Hour), a.seqno == 0,
		wallet.Transfer{To: to, Amount: amount, Bounce: init == nil, Body: body, StateInit: init})
	require.NoError(h.t, err)
	res, err := h.d.Send(context.Background(), signed.Message)
	require.NoError(h.t, err)
	a.seqno++
	return res.Transactions
}

func (h *chHarness) ok(txs []*tlb.Transaction) {
	h.t.Helper()
	for _, tx := range txs {
		require.NoError(h.t, wallet.CheckSuccess(tx))
	}
}

// exitAt is the compute-phase exit code of at's transaction in txs (0 when it succeeded).
func (h *chHarness) exitAt(txs []*tlb.Transaction, at *address.Address) ExitCode {
	h.t.Helper()
	for _, tx := range txs {
		if !bytes.Equal(tx.AccountAddr, at.Data()) {
			continue
		}
		d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
		require.True(h.t, ok)
		vm, ok := d.ComputePhase.Phase.(tlb.ComputePhaseVM)
		require.True(h.t, ok, "compute phase skipped")
		if vm.Success {
			return 0
		}
		return ExitCode(vm.Details.ExitCode)
	}
	h.t.Fatalf("no transaction on %s", at)
	return 0
}

// The Go API alone drives a channel through its life on the Go devnet: Go-built messages, vouchers
// signed by the voucher package, state read through the getter decoders.
func TestChannelOnDevnet(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	d, err := devnet.Open(devnet.Config{Now: func() time.Time { return now }})
	require.NoError(t, err)
	t.Cleanup(func() { _ = d.Close() })
	h := &chHarness{t: t, d: d, now: now}
	ctx := context.Background()
	gov, owner, treasury, client, relayer := h.actor("governance"), h.actor("owner"), h.actor("treasury"), h.actor("client"), h.actor("relayer")
	// Deploy the treasury's wallet, so that fee payments to it run its code (ok() wants every
	// transaction of a cascade to succeed).
	h.ok(h.send(treasury, treasury.w.Address(), "0.01", nil, nil))

	params := RegistryParams{
		MinProviderStake: tlb.MustFromTON("10"), UnbondingPeriod: 7 * 24 * 3600, ProtocolFeeBps: 250,
		Treasury: treasury.w.Address(), ChallengePeriod: 24 * 3600, OracleQuorum: 1, MaxAttestationLifetime: 24 * 3600,
	}
	init, registry, err := RegistryDeploy(NewRegistryStorage(gov.w.Address(), NetworkDevnet, params, ProviderCode()))
	require.NoError(t, err)
	h.ok(h.send(gov, registry, "1", nil, init))
	channelCode := ChannelCode()
	h.ok(h.send(gov, registry, "0.1", SetChannelCode{QueryID: 1, ChannelCode: channelCode}, nil))
	// The fee getters price exactly what the registry checks: one nanoTON less is refused.
	rc := RegistryClient{Chain: d.Client(), Address: registry}
	stake := tlb.MustFromTON("10").Nano()
	regFee, err := rc.RegisterFee(ctx, stake)
	require.NoError(t, err)
	ton := func(nano *big.Int, delta int64) string {
		return tlb.FromNanoTON(new(big.Int).Add(nano, big.NewInt(delta))).String()
	}
	register := RegisterProvider{QueryID: 2, StakeAmount: tlb.FromNanoTON(stake)}
	require.Equal(t, ExitNotEnoughValue, h.exitAt(h.send(owner, registry, ton(new(big.Int).Add(stake, regFee), -1), register, nil), registry))
	provider, err := ProviderAddress(ProviderCode(), registry, owner.w.Address())
	require.NoError(t, err)
	// (the dust excess back to the owner is below the wallet's own gas: only the contracts are checked)
	txs := h.send(owner, registry, ton(new(big.Int).Add(stake, regFee), 0), register, nil)
	require.Equal(t, ExitCode(0), h.exitAt(txs, registry))
	require.Equal(t, ExitCode(0), h.exitAt(txs, provider))

	// Open: the registry's getter, the offline derivation and the deployed account agree.
	clientKey := ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x77}, 32))
	pub := clientKey.Public().(ed25519.PublicKey)
	open, err := NewOpenChannel(3, owner.w.Address(), pub)
	require.NoError(t, err)
	openFee, err := rc.OpenChannelFee(ctx)
	require.NoError(t, err)
	require.Equal(t, ExitNotEnoughValue, h.exitAt(h.send(client, registry, ton(openFee, -1), open, nil), registry))
	h.ok(h.send(client, registry, ton(openFee, 1_000_000_000), open, nil))
	ch, err := ChannelAddress(channelCode, registry, pub, provider)
	require.NoError(t, err)
	onChain, err := RegistryChannelAddress(ctx, d.Client(), registry, pub, owner.w.Address())
	require.NoError(t, err)
	require.Equal(t, ch.StringRaw(), onChain.StringRaw())
	cc := ChannelClient{Chain: d.Client(), Address: ch}
	data, err := cc.Data(ctx)
	require.NoError(t, err)
	require.Equal(t, []byte(pub), data.ClientKey)
	require.True(t, data.PayoutTo.Equals(owner.w.Address()))
	require.Equal(t, uint16(250), data.ProtocolFeeBps)

	// A claim relayed by a third party pays the provider and reports the usage.
	v1 := voucher.Voucher{Channel: ch, Amount: big.NewInt(300_000_000), PromptTokens: 1500, CompletionTokens: 700}
	s1, err := v1.Sign(clientKey)
	require.NoError(t, err)
	claim, err := NewClaim(4, s1)
	require.NoError(t, err)
	h.ok(h.send(relayer, ch, "0.1", claim, nil))
	st, err := cc.State(ctx)
	require.NoError(t, err)
	acc := st.Accepted(ch)
	o, err := voucher.Compare(&v1, &acc)
	require.NoError(t, err)
	require.Equal(t, voucher.Same, o)
	require.Equal(t, "300000000", st.Paid.Nano().String())
	usage, err := ProviderClient{Chain: d.Client(), Address: provider}.Usage(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1500), usage.PromptTokens)
	require.Equal(t, uint64(700), usage.CompletionTokens)
	require.Equal(t, "292500000", usage.Earned.Nano().String(), "0.3 TON minus the 2.5% fee")

	// Rejections come back as the channel's exit codes.
	require.Equal(t, ExitVoucherNotNewer, h.exitAt(h.send(relayer, ch, "0.1", claim, nil), ch), "replay")
	v2 := v1.Copy()
	v2.Amount = big.NewInt(400_000_000)
	forged, err := v2.Sign(ed25519.NewKeyFromSeed(bytes.Repeat([]byte{0x78}, 32)))
	require.NoError(t, err)
	forgedClaim, err := NewClaim(5, forged)
	require.NoError(t, err)
	require.Equal(t, ExitInvalidSignature, h.exitAt(h.send(relayer, ch, "0.1", forgedClaim, nil), ch))

	// Close: the client's signed request, then the provider's cooperative close refunds at once.
	startClose, err := NewStartClose(6, CloseRequest{Channel: ch, CloseNonce: 0, RefundTo: client.w.Address()}, clientKey)
	require.NoError(t, err)
	h.ok(h.send(client, ch, "0.05", startClose, nil))
	st, err = cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, ChannelClosing, st.Status)
	require.True(t, st.RefundTo.Equals(client.w.Address()))
	require.Equal(t, ExitNotPayee, h.exitAt(h.send(relayer, ch, "0.05", CooperativeClose{QueryID: 7}, nil), ch))
	h.ok(h.send(owner, ch, "0.05", CooperativeClose{QueryID: 8}, nil))
	st, err = cc.State(ctx)
	require.NoError(t, err)
	require.Equal(t, ChannelOpen, st.Status)
	require.Equal(t, uint32(1), st.CloseNonce)
	require.Nil(t, st.RefundTo)
}

func TestChannelUsageClaimed(t *testing.T) {
	key := bytes.Repeat([]byte{7}, 32)
	root := func(amount, prompt, completion, paid int64, bps uint16) *ChannelStorage {
		return &ChannelStorage{
			ClientKey: key, Provider: testAddr, Status: ChannelOpen, ProtocolFeeBps: bps,
			AcceptedAmount: tlb.FromNanoTONU(uint64(amount)), AcceptedPrompt: uint64(prompt), AcceptedCompletion: uint64(completion),
			Paid: tlb.FromNanoTONU(uint64(paid)), Setup: &ChannelSetup{Registry: testAddr},
		}
	}
	// 39 nanoTON already paid at 2.5%: fee floor(139*250/1e4) - floor(39*250/1e4) = 3 - 0.
	u := ChannelUsage{ExcessTo: testAddr, Before: root(39, 10, 20, 39, 250), After: root(200, 15, 20, 139, 250)}
	got, err := u.Claimed()
	require.NoError(t, err)
	require.Equal(t, key, got.ClientKey)
	require.Equal(t, []uint64{5, 0}, []uint64{got.PromptTokens, got.CompletionTokens})
	require.Equal(t, []string{"100", "97", "3"}, []string{got.Amount.String(), got.Earned.String(), got.Fee.String()})

	// The message round-trips with both roots.
	c, err := Encode(u)
	require.NoError(t, err)
	back, err := Decode(c)
	require.NoError(t, err)
	again, err := back.(ChannelUsage).Claimed()
	require.NoError(t, err)
	require.Equal(t, got, again)

	// Totals that go down, or a missing root, are not a genuine report.
	for _, bad := range []ChannelUsage{
		{ExcessTo: testAddr, Before: root(200, 15, 20, 139, 250), After: root(200, 14, 20, 139, 250)},
		{ExcessTo: testAddr, Before: root(200, 15, 20, 139, 250), After: root(200, 15, 20, 138, 250)},
		{ExcessTo: testAddr, Before: root(200, 15, 20, 139, 250)},
	} {
		_, err := bad.Claimed()
		require.ErrorIs(t, err, ErrMalformedBody)
	}
}

func TestClaimFeeAddsUp(t *testing.T) {
	// Any split of a total pays floor(total * bps / 1e4) in fees.
	paid := big.NewInt(0)
	sum := big.NewInt(0)
	for _, pay := range []int64{1, 29, 29, 30, 1_000_000_007, 1, 234_567_803} {
		sum.Add(sum, ClaimFee(paid, big.NewInt(pay), 333))
		paid.Add(paid, big.NewInt(pay))
	}
	want := new(big.Int).Div(new(big.Int).Mul(paid, big.NewInt(333)), big.NewInt(FeeBpsDenominator))
	require.Equal(t, want.String(), sum.String())
}
