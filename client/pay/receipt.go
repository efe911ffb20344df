package pay

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/payment"
)

// ErrBadReceipt is a receipt that does not prove what the client was charged: a provider that
// signs one is dropped.
var ErrBadReceipt = errors.New("receipt refused")

// ErrPrices is a receipt refused for its prices only (it also matches ErrBadReceipt).
var ErrPrices = fmt.Errorf("%w: prices", ErrBadReceipt)

// ReceiptCheck is what a receipt must match.
type ReceiptCheck struct {
	// Encoded is the receipt as the provider sent it.
	Encoded string
	// Key is the verified RA-TLS certificate's key of the connection that answered, prepared
	// (payment.NewReceiptKey).
	Key     *payment.ReceiptKey
	Channel *address.Address
	// Body is the request body exactly as sent.
	Body []byte
	// Content is what was received (its hash is the response hash).
	Content *payment.Content
	ModelID uint32
	// Prices are the provider's on-chain prices that may apply (when the request was sent, and
	// read again since): the receipt's must be one of them.
	Prices []payment.Prices
	// PromptTokens and CompletionTokens are the usage the answer itself reported.
	PromptTokens, CompletionTokens uint64
}

// CheckReceipt decodes and verifies a receipt: the attested key's signature, the channel, the
// request and response hashes, the model, the prices against the on-chain ones, the tokens against
// the answer's usage, and the cost against the rule (payment.Prices.Cost).
func CheckReceipt(c ReceiptCheck) (*payment.SignedReceipt, error) {
	bad := func(format string, args ...any) (*payment.SignedReceipt, error) {
		return nil, fmt.Errorf("%w: %s", ErrBadReceipt, fmt.Sprintf(format, args...))
	}
	if c.Encoded == "" {
		return bad("the answer carries no receipt")
	}
	r, err := payment.DecodeReceipt(c.Encoded)
	if err != nil {
		return bad("%v", err)
	}
	if c.Key == nil {
		return bad("no attested key to check it with")
	}
	if err := r.VerifyKey(c.Key); err != nil {
		return bad("not signed by the provider's attested key: %v", err)
	}
	if !r.Channel.Equals(c.Channel) {
		return bad("it bills channel %s, not %s", r.Channel.StringRaw(), c.Channel.StringRaw())
	}
	if r.RequestHash != sha256.Sum256(c.Body) {
		return bad("its request hash is not the hash of the request sent")
	}
	if r.ResponseHash != c.Content.Hash() {
		return bad("its response hash is not the hash of the answer received")
	}
	if r.ModelID != c.ModelID {
		return bad("it bills model %d, not %d", r.ModelID, c.ModelID)
	}
	ok := false
	for _, p := range c.Prices {
		ok = ok || (p.Prompt.Cmp(r.Prices.Prompt) == 0 && p.Completion.Cmp(r.Prices.Completion) == 0)
	}
	if !ok {
		return nil, fmt.Errorf("%w: it bills %s/%s nanoTON per 1M tokens, not the provider's on-chain prices", ErrPrices, r.Prices.Prompt, r.Prices.Completion)
	}
	if r.PromptTokens != c.PromptTokens || r.CompletionTokens != c.CompletionTokens {
		return bad("it bills %d prompt and %d completion tokens, the answer reported %d and %d", r.PromptTokens, r.CompletionTokens, c.PromptTokens, c.CompletionTokens)
	}
	if want := r.Prices.Cost(r.PromptTokens, r.CompletionTokens); want.Cmp(r.Cost) != 0 {
		return bad("its cost %s is not %s", r.Cost, want)
	}
	return &r, nil
}
