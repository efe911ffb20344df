// Package payment is the off-chain payment protocol between a client and a provider
// (docs/PROTOCOL.md, "Paid inference"): the request headers a paid request carries (the channel,
// the client's newest voucher, and an authorization signed with the channel key), the cost rule,
// the admission rule a provider applies before serving on credit, the receipt the attested key
// signs over each answer, and the 402 error codes. Both the provider daemon and the client SDK
// build on it, so the two sides cannot drift apart.
package payment

import (
	"errors"
	"fmt"
	"math/big"
	"strconv"
	"strings"
)

// HTTP headers of a paid request and its answer. The voucher header is voucher.HeaderVoucher.
const (
	// HeaderChannel names the channel (raw address form "0:<64 hex>") a request is paid from.
	HeaderChannel = "X-Cocoon-Channel"
	// HeaderAuth is the request authorization signed with the channel's client key (Auth).
	HeaderAuth = "X-Cocoon-Auth"
	// HeaderCost is the answer's cost in nanoTON (decimal).
	HeaderCost = "X-Cocoon-Cost"
	// HeaderOwed is what the channel owes the provider in total after this answer (nanoTON): the
	// amount the client's next voucher must reach.
	HeaderOwed = "X-Cocoon-Owed"
	// HeaderReceipt is the signed receipt (EncodeReceipt) of a non-streamed answer.
	HeaderReceipt = "X-Cocoon-Receipt"
	// HeaderVoucherMin, on a 402, is the least voucher amount that admits the request (nanoTON).
	HeaderVoucherMin = "X-Cocoon-Voucher-Min"
)

// ChannelPathPrefix is the provider endpoint where a channel's client reads the provider's view
// of its channel: GET ChannelPathPrefix + "<raw channel address>", authorized like a request.
const ChannelPathPrefix = "/cocoon/v1/channels/"

// The 402 answer: an OpenAI-shaped error body with this type and one of these codes.
const (
	TypePaymentRequired = "payment_required"

	CodeVoucherMissing = "voucher_missing"      // no X-Cocoon-Voucher (or no X-Cocoon-Channel)
	CodeVoucherInvalid = "voucher_invalid"      // malformed, another channel's, or a bad signature
	CodeVoucherTooLow  = "voucher_too_low"      // does not cover what is owed and in flight
	CodeAuthInvalid    = "request_auth_invalid" // X-Cocoon-Auth missing, malformed, stale, replayed or forged
	CodeChannelUnknown = "channel_unknown"      // not a channel of this provider under its registry
	CodeChannelNotOpen = "channel_not_open"     // uninitialised or closing
	CodeDepositTooLow  = "deposit_insufficient" // the deposit cannot cover this request's maximum cost
)

const (
	tokensPerPriceUnit  = 1_000_000
	maxCoinsBitLen      = 120 // Coins is VarUInteger 16
	nanoPerTON          = 1_000_000_000
	maxPriceDescription = "prices are nanoTON per 1,000,000 tokens, 0 <= price < 2^120"
)

// ErrBadPrices is a price that is missing, negative or does not fit in coins.
var ErrBadPrices = errors.New("bad prices")

// Prices are a model's on-chain prices (the Provider contract's ModelPrice): nanoTON per
// 1,000,000 prompt and completion tokens.
type Prices struct {
	Prompt, Completion *big.Int
}

// Check reports why p cannot price a request.
func (p Prices) Check() error {
	for _, x := range []*big.Int{p.Prompt, p.Completion} {
		if x == nil || x.Sign() < 0 || x.BitLen() > maxCoinsBitLen {
			return fmt.Errorf("%w: %s", ErrBadPrices, maxPriceDescription)
		}
	}
	return nil
}

// Cost is what promptTokens and completionTokens cost at p, rounded up to the nanoTON:
// ceil((promptTokens × Prompt + completionTokens × Completion) / 1,000,000). It is also the
// maximum cost of a request when given its prompt tokens and its completion-token limit.
// p must pass Check.
func (p Prices) Cost(promptTokens, completionTokens uint64) *big.Int {
	total := new(big.Int).Mul(new(big.Int).SetUint64(promptTokens), p.Prompt)
	total.Add(total, new(big.Int).Mul(new(big.Int).SetUint64(completionTokens), p.Completion))
	total.Add(total, big.NewInt(tokensPerPriceUnit-1))
	return total.Quo(total, big.NewInt(tokensPerPriceUnit))
}

// FormatTON renders nanoTON as TON with up to nine decimals and no trailing zeros ("0.0000125").
func FormatTON(nano *big.Int) string {
	if nano.IsUint64() {
		// Every answer's cost: without big.Int division and fmt (~2 µs on the answer's path).
		n := nano.Uint64()
		s := strconv.FormatUint(n/nanoPerTON, 10)
		if r := n % nanoPerTON; r != 0 {
			frac := strconv.FormatUint(r+nanoPerTON, 10)[1:] // nine digits, leading zeros kept
			s += "." + strings.TrimRight(frac, "0")
		}
		return s
	}
	return formatTONBig(nano)
}

// formatTONBig is FormatTON for any amount.
func formatTONBig(nano *big.Int) string {
	neg := nano.Sign() < 0
	abs := new(big.Int).Abs(nano)
	q, r := new(big.Int).QuoRem(abs, big.NewInt(nanoPerTON), new(big.Int))
	s := q.String()
	if r.Sign() != 0 {
		frac := fmt.Sprintf("%09d", r.Int64())
		for frac[len(frac)-1] == '0' {
			frac = frac[:len(frac)-1]
		}
		s += "." + frac
	}
	if neg {
		s = "-" + s
	}
	return s
}

// Ledger is a provider's account of one channel, in nanoTON, as the admission rule reads it.
//
// INVARIANT: Owed, Reserved and Voucher are non-nil and non-negative. Owed is the sum of the costs
// of every answered request; Reserved the sum of the maximum costs of admitted requests still
// running; Voucher the largest amount the client signed for the channel; Capacity what the
// channel can ever pay in total (on-chain paid + available deposit).
type Ledger struct {
	Owed, Reserved, Voucher, Capacity *big.Int
}

// Refusal is a request the admission rule refuses: a 402 with Code, and the amount the client's
// voucher must reach (VoucherMin, nil when a voucher cannot help, e.g. a deposit too low).
type Refusal struct {
	Code       string
	VoucherMin *big.Int
	Message    string
}

func (r *Refusal) Error() string { return r.Message }

// Admit applies the admission rule to a request whose maximum cost is maxCost:
//
//  1. everything answered or in flight is covered by the voucher: Owed + Reserved <= Voucher
//     (so the unpaid amount never exceeds one request's maximum cost: the credit this request
//     gets), else CodeVoucherTooLow with VoucherMin = Owed + Reserved;
//  2. the deposit covers it all: Owed + Reserved + maxCost <= Capacity, else CodeDepositTooLow.
//
// A nil result admits the request; the provider then adds maxCost to Reserved until it answers.
func Admit(l Ledger, maxCost *big.Int) *Refusal {
	due := new(big.Int).Add(l.Owed, l.Reserved)
	if due.Cmp(l.Voucher) > 0 {
		return &Refusal{Code: CodeVoucherTooLow, VoucherMin: due,
			Message: fmt.Sprintf("the channel's voucher covers %s nanoTON but %s nanoTON are owed or in flight: sign a voucher of at least %s nanoTON (%s TON)",
				l.Voucher, due, due, FormatTON(due))}
	}
	need := new(big.Int).Add(due, maxCost)
	if need.Cmp(l.Capacity) > 0 {
		return &Refusal{Code: CodeDepositTooLow,
			Message: fmt.Sprintf("the channel can pay %s nanoTON in total but this request may bring what it owes to %s nanoTON: top up the channel by at least %s TON",
				l.Capacity, need, FormatTON(new(big.Int).Sub(need, l.Capacity)))}
	}
	return nil
}

// ChannelView is the provider's account of a channel as its client reads it
// (GET ChannelPathPrefix + "<raw channel address>"): amounts in nanoTON as decimal strings,
// Voucher the newest signed voucher the provider holds in header form (nil before the first),
// and the metered token totals. A client that lost its state signs its next voucher for at
// least Owed.
type ChannelView struct {
	Channel          string  `json:"channel"`
	Owed             string  `json:"owed"`
	Reserved         string  `json:"reserved"`
	Voucher          *string `json:"voucher"`
	VoucherAmount    string  `json:"voucher_amount"`
	PromptTokens     uint64  `json:"prompt_tokens"`
	CompletionTokens uint64  `json:"completion_tokens"`
}
