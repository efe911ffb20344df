package pay_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"math/big"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/client/pay"
	"github.com/cocoon-go/cocoon/payment"
	"github.com/cocoon-go/cocoon/voucher"
)

var (
	testChannel  = address.MustParseRawAddr("0:1111111111111111111111111111111111111111111111111111111111111111")
	testProvider = address.MustParseRawAddr("0:2222222222222222222222222222222222222222222222222222222222222222")
	testOwner    = address.MustParseRawAddr("0:3333333333333333333333333333333333333333333333333333333333333333")
)

func key(seed byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(make32(seed)) }

func make32(b byte) []byte {
	s := make([]byte, 32)
	s[0] = b
	return s
}

func openStore(t *testing.T, dir string) *pay.Store {
	t.Helper()
	s, err := pay.OpenStore(dir)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func receipt(owed, cost int64, prompt, completion uint64) *payment.Receipt {
	return &payment.Receipt{Channel: testChannel, Cost: big.NewInt(cost), Owed: big.NewInt(owed), PromptTokens: prompt, CompletionTokens: completion}
}

// Vouchers cover exactly what is owed, one per amount, stored before they are returned; a
// reopened store resumes with the newest, and a second voucher for a stored amount is refused.
func TestLedgerOneVoucherPerAmount(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	k := key(1)
	l, err := pay.LoadLedger(s, testChannel, testProvider, testOwner, k, big.NewInt(1000))
	require.NoError(t, err)
	require.NoError(t, l.Acquire(t.Context()))
	v0, err := l.Voucher()
	require.NoError(t, err)
	require.Zero(t, v0.Amount.Sign(), "the first request carries a voucher of 0")
	again, err := l.Voucher()
	require.NoError(t, err)
	require.Equal(t, v0.Signature, again.Signature)

	require.NoError(t, l.Begin("r1", big.NewInt(500), nil))
	require.NoError(t, l.Settle("r1", receipt(120, 120, 10, 20)))
	v1, err := l.Voucher()
	require.NoError(t, err)
	require.Equal(t, int64(120), v1.Amount.Int64())
	require.Equal(t, uint64(10), v1.PromptTokens)
	require.Equal(t, uint64(20), v1.CompletionTokens)
	require.NoError(t, v1.Verify(k.Public().(ed25519.PublicKey)))
	l.Release()

	// A zero-cost answer: the amount stays, and so does the voucher.
	require.NoError(t, l.Begin("r2", big.NewInt(500), nil))
	require.NoError(t, l.Settle("r2", receipt(120, 0, 3, 0)))
	v2, err := l.Voucher()
	require.NoError(t, err)
	require.Equal(t, v1.Signature, v2.Signature, "one amount, one voucher")

	stored, err := s.Vouchers(testChannel)
	require.NoError(t, err)
	require.Len(t, stored, 2)

	// Another voucher for 120 nanoTON (other token totals) is refused by the store.
	other, err := voucher.Voucher{Channel: testChannel, Amount: big.NewInt(120), PromptTokens: 99}.Sign(k)
	require.NoError(t, err)
	require.ErrorIs(t, s.PutVoucher(&other), pay.ErrSecondVoucher)

	// Restart: a new ledger from the same store resumes.
	require.NoError(t, s.Close())
	s2 := openStore(t, dir)
	l2, err := pay.LoadLedger(s2, testChannel, testProvider, testOwner, k, big.NewInt(1000))
	require.NoError(t, err)
	require.Equal(t, int64(120), l2.Owed().Int64())
	require.Equal(t, v1.Signature, l2.Latest().Signature)
	v3, err := l2.Voucher()
	require.NoError(t, err)
	require.Equal(t, v1.Signature, v3.Signature)
}

// A receipt's total may include earlier answers that ended without a receipt, up to their caps.
func TestLedgerSettleBounds(t *testing.T) {
	s := openStore(t, t.TempDir())
	l, err := pay.LoadLedger(s, testChannel, testProvider, testOwner, key(1), nil)
	require.NoError(t, err)
	require.NoError(t, l.Begin("cut", big.NewInt(50), nil)) // a stream the app left: no receipt
	require.NoError(t, l.Begin("next", big.NewInt(30), nil))
	require.Equal(t, int64(80), l.Committed().Int64())
	require.NoError(t, l.Settle("next", receipt(10+40, 10, 1, 1)))
	require.Equal(t, int64(50), l.Owed().Int64(), "the cut stream's 40 are inside its cap of 50")
	require.Equal(t, int64(50), l.Committed().Int64(), "nothing is unsettled any more")

	require.NoError(t, l.Begin("cut2", big.NewInt(5), nil))
	require.NoError(t, l.Begin("greedy", big.NewInt(30), nil))
	err = l.Settle("greedy", receipt(50+10+6, 10, 1, 1))
	require.ErrorIs(t, err, pay.ErrOverclaim)
	require.Equal(t, int64(60), l.Owed().Int64(), "only the receipt's own cost is booked")

	// Budget: what is committed plus this request's cap.
	require.ErrorIs(t, l.Begin("big", big.NewInt(1000), big.NewInt(1000)), pay.ErrBudget)
	require.NoError(t, l.Begin("small", big.NewInt(100), big.NewInt(1000)))
}

// After a crash the provider's view is accepted within the bound; a lost store adopts the
// provider's copy of the client's newest voucher.
func TestLedgerResync(t *testing.T) {
	k := key(1)
	signed := func(amount int64) *voucher.Signed {
		v, err := voucher.Voucher{Channel: testChannel, Amount: big.NewInt(amount)}.Sign(k)
		require.NoError(t, err)
		return &v
	}
	s := openStore(t, t.TempDir())
	l, err := pay.LoadLedger(s, testChannel, testProvider, testOwner, k, big.NewInt(100))
	require.NoError(t, err)
	// Lost store: the provider holds a voucher of 500 the client signed, and says 560 are owed.
	require.ErrorIs(t, l.Resync(pay.View{Owed: big.NewInt(601), Voucher: signed(500)}), pay.ErrOverclaim)
	require.NoError(t, l.Resync(pay.View{Owed: big.NewInt(560), Voucher: signed(500), PromptTokens: 7, Completion: 9}))
	require.Equal(t, int64(560), l.Owed().Int64())
	require.Equal(t, int64(500), l.Latest().Amount.Int64())
	v, err := l.Voucher()
	require.NoError(t, err)
	require.Equal(t, int64(560), v.Amount.Int64())
	require.Equal(t, uint64(9), v.CompletionTokens)
	// Now the store knows the channel: no more fresh credit, only the unsettled caps.
	require.ErrorIs(t, l.Resync(pay.View{Owed: big.NewInt(561)}), pay.ErrOverclaim)
	require.NoError(t, l.Begin("cut", big.NewInt(25), nil))
	require.NoError(t, l.Resync(pay.View{Owed: big.NewInt(580)}))
	require.Equal(t, int64(580), l.Committed().Int64())
	// A voucher the client never signed is no reason to pay.
	forged, err := voucher.Voucher{Channel: testChannel, Amount: big.NewInt(900)}.Sign(key(2))
	require.NoError(t, err)
	require.ErrorIs(t, l.Resync(pay.View{Owed: big.NewInt(900), Voucher: &forged}), pay.ErrOverclaim)
}

func TestCheckReceipt(t *testing.T) {
	// The attested key is Ed25519, as a provider's RA-TLS key is; an older provider's was ECDSA P-256.
	attestedPub, attested, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	older, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	body := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	answer := []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1}}`)
	var content payment.Content
	require.NoError(t, content.Add(answer))
	prices := payment.Prices{Prompt: big.NewInt(100_000_000), Completion: big.NewInt(200_000_000)}
	good := payment.Receipt{Channel: testChannel, RequestHash: sha256.Sum256(body), ResponseHash: content.Hash(), IssuedAt: time.Now(),
		ModelID: 7, PromptTokens: 3, CompletionTokens: 1, Prices: prices, Cost: prices.Cost(3, 1), Owed: big.NewInt(100000)}
	enc := func(r payment.Receipt, k crypto.Signer) string {
		s, err := r.Sign(k)
		require.NoError(t, err)
		e, err := s.Encode()
		require.NoError(t, err)
		return e
	}
	check := func(e string) pay.ReceiptCheck {
		return pay.ReceiptCheck{Encoded: e, Key: payment.NewReceiptKey(attestedPub), Channel: testChannel, Body: body, Content: &content,
			ModelID: 7, Prices: []payment.Prices{prices}, PromptTokens: 3, CompletionTokens: 1}
	}
	r, err := pay.CheckReceipt(check(enc(good, attested)))
	require.NoError(t, err)
	require.Equal(t, int64(500), r.Cost.Int64())
	olderCheck := check(enc(good, older))
	olderCheck.Key = payment.NewReceiptKey(&older.PublicKey)
	_, err = pay.CheckReceipt(olderCheck)
	require.NoError(t, err, "a receipt of an older provider's ECDSA key")

	_, other, _ := ed25519.GenerateKey(rand.Reader)
	dear := good
	dear.Prices = payment.Prices{Prompt: big.NewInt(200_000_000), Completion: big.NewInt(400_000_000)}
	dear.Cost = dear.Prices.Cost(3, 1)
	more := good
	more.CompletionTokens, more.Cost = 6, prices.Cost(3, 6)
	wrongBody := good
	wrongBody.RequestHash = sha256.Sum256([]byte("other"))
	wrongAnswer := good
	wrongAnswer.ResponseHash = [32]byte{1}
	wrongModel := good
	wrongModel.ModelID = 8
	for name, c := range map[string]pay.ReceiptCheck{
		"no receipt":        check(""),
		"another key":       check(enc(good, other)),
		"an ECDSA key":      check(enc(good, older)),
		"other prices":      check(enc(dear, attested)),
		"more tokens":       check(enc(more, attested)),
		"other request":     check(enc(wrongBody, attested)),
		"other answer":      check(enc(wrongAnswer, attested)),
		"other model":       check(enc(wrongModel, attested)),
		"garbage":           check("abc.def"),
		"another's channel": func() pay.ReceiptCheck { c := check(enc(good, attested)); c.Channel = testOwner; return c }(),
	} {
		_, err := pay.CheckReceipt(c)
		require.ErrorIs(t, err, pay.ErrBadReceipt, name)
	}
}

// A crash between sending a request and its receipt: the request's cap was written with its
// voucher, so after a restart the provider's total may include the answer, and no more.
func TestLedgerCrashBeforeTheReceipt(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	k := key(1)
	l, err := pay.LoadLedger(s, testChannel, testProvider, testOwner, k, big.NewInt(1))
	require.NoError(t, err)
	require.NoError(t, l.Begin("r1", big.NewInt(100), nil))
	require.NoError(t, l.Settle("r1", receipt(40, 40, 1, 1)))
	require.NoError(t, l.Begin("r2", big.NewInt(70), nil))
	v, err := l.Voucher() // written with r2's cap, synced, before the request leaves
	require.NoError(t, err)
	require.Equal(t, int64(40), v.Amount.Int64())
	require.NoError(t, s.Close()) // the process dies before r2's receipt

	s = openStore(t, dir)
	l, err = pay.LoadLedger(s, testChannel, testProvider, testOwner, k, big.NewInt(1))
	require.NoError(t, err)
	require.Equal(t, int64(40+70), l.Committed().Int64())
	require.ErrorIs(t, l.Resync(pay.View{Owed: big.NewInt(112), Voucher: v}), pay.ErrOverclaim, "40 owed + 70 cap + 1 credit")
	require.NoError(t, l.Resync(pay.View{Owed: big.NewInt(95), Voucher: v}))
	next, err := l.Voucher()
	require.NoError(t, err)
	require.Equal(t, int64(95), next.Amount.Int64())
}

// A voucher Prepare is writing is the one Voucher returns, whichever comes first, and reading the
// ledger meanwhile does not wait for the disk: one voucher per amount.
func TestLedgerPrepareRacesVoucher(t *testing.T) {
	s := openStore(t, t.TempDir())
	k := key(1)
	l, err := pay.LoadLedger(s, testChannel, testProvider, testOwner, k, big.NewInt(1000))
	require.NoError(t, err)
	for i := int64(1); i <= 20; i++ {
		require.NoError(t, l.Acquire(t.Context()))
		id := "r" + big.NewInt(i).String()
		require.NoError(t, l.Begin(id, big.NewInt(500), nil))
		require.NoError(t, l.Settle(id, receipt(10*i, 10, uint64(i), uint64(i))))
		done := make(chan struct{})
		go func() { l.Prepare(); close(done) }()
		_ = l.Committed()
		v, err := l.Voucher()
		require.NoError(t, err)
		require.Equal(t, 10*i, v.Amount.Int64())
		<-done
		require.Equal(t, v.Signature, l.Latest().Signature)
		l.Release()
	}
	stored, err := s.Vouchers(testChannel)
	require.NoError(t, err)
	require.Len(t, stored, 20)
}
