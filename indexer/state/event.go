package state

import (
	"math/big"

	"github.com/cocoon-go/cocoon/indexer/decode"
)

// Event types. Provider: EvRegistered … EvUsage; channel: EvOpened … EvUsageBounced; registry: the
// governance and catalog changes (EvRegistry, with Op and Fields) and uptime commitments.
const (
	EvRegistered        = "registered"           // first registration: Amount staked
	EvStakeAdded        = "stake_added"          // registration top-up or AddStake: Amount
	EvUnstakeRequested  = "unstake_requested"    // Amount moved to unbonding until UnlockAt
	EvWithdrawn         = "withdrawn"            // Amount of unbonded stake paid out
	EvExited            = "exited"               // Amount (all stake) moved to unbonding
	EvSlashed           = "slashed"              // Amount taken (Requested asked), EvidenceDigest
	EvJailed            = "jailed"               // Until
	EvUnjailed          = "unjailed"             //
	EvPaused            = "paused"               //
	EvResumed           = "resumed"              //
	EvEndpoint          = "endpoint"             // Endpoint
	EvPrice             = "price"                // ModelID, Prompt, Completion (nanoTON per 1M tokens)
	EvPriceRemoved      = "price_removed"        // ModelID
	EvVote              = "vote"                 // Oracle, Slot, Epoch, Quorum, claim, ValidUntil
	EvAttested          = "attested"             // a claim confirmed: claim, ValidUntil, Round
	EvAttestationExtend = "attestation_extended" // the confirmed claim's ValidUntil grew
	EvUsage             = "usage"                // Channel, token deltas, Amount earned, Fee

	EvOpened       = "opened"        // first ChannelInit: Amount deposited, Counterparty (opener)
	EvDeposit      = "deposit"       // Amount, Counterparty (sender)
	EvClaim        = "claim"         // Amount paid, Fee, Earned, token deltas, Voucher, Counterparty (relayer)
	EvCloseStarted = "close_started" // Counterparty (refund to), Deadline
	EvClosed       = "closed"        // Amount refunded, Counterparty (refund to), Cooperative
	EvUsageBounced = "usage_bounced" // the usage report bounced: the channel paid Earned and Fee itself

	EvRegistry   = "registry"    // Op names the governance or catalog message; Fields are its fields
	EvUptimeRoot = "uptime_root" // an oracle's SubmitUptimeRoot: Oracle, Epoch, Root, ProviderCount
)

// Event is one change in an account's history, caused by one successful transaction.
type Event struct {
	Account string `json:"account"`
	LT      uint64 `json:"lt"`
	// Seq orders the events of one transaction.
	Seq  int    `json:"seq"`
	Time uint32 `json:"time"`
	Tx   string `json:"tx"`
	Type string `json:"type"`

	Amount    *big.Int `json:"amount,omitempty"`
	Requested *big.Int `json:"requested,omitempty"`
	Fee       *big.Int `json:"fee,omitempty"`
	Earned    *big.Int `json:"earned,omitempty"`
	// Provider state after the event.
	Stake     *big.Int `json:"stake,omitempty"`
	Unbonding *big.Int `json:"unbonding,omitempty"`
	Status    *uint8   `json:"status,omitempty"`
	UnlockAt  uint32   `json:"unlock_at,omitempty"`
	Until     uint32   `json:"until,omitempty"`

	ModelID    *uint32  `json:"model_id,omitempty"`
	Prompt     *big.Int `json:"prompt,omitempty"`
	Completion *big.Int `json:"completion,omitempty"`
	Endpoint   string   `json:"endpoint,omitempty"`

	Oracle         string `json:"oracle,omitempty"`
	Slot           *uint8 `json:"slot,omitempty"`
	Epoch          uint32 `json:"epoch,omitempty"`
	Quorum         uint8  `json:"quorum,omitempty"`
	ClaimHash      string `json:"claim_hash,omitempty"`
	Measurement    string `json:"measurement,omitempty"`
	EvidenceDigest string `json:"evidence_digest,omitempty"`
	TLSKeyHash     string `json:"tls_key_hash,omitempty"`
	ValidUntil     uint32 `json:"valid_until,omitempty"`
	Round          uint32 `json:"round,omitempty"`
	// Root and ProviderCount: an uptime commitment (Epoch is then the oracle's uptime epoch).
	Root          string  `json:"root,omitempty"`
	ProviderCount *uint32 `json:"provider_count,omitempty"`

	Channel          string `json:"channel,omitempty"`
	Counterparty     string `json:"counterparty,omitempty"`
	PromptTokens     uint64 `json:"prompt_tokens,omitempty"`
	CompletionTokens uint64 `json:"completion_tokens,omitempty"`
	// Voucher is the accepted amount after a claim; Paid the channel's paid total after it.
	Voucher     *big.Int `json:"voucher,omitempty"`
	Paid        *big.Int `json:"paid,omitempty"`
	Remainder   bool     `json:"remainder,omitempty"`
	Deadline    uint32   `json:"deadline,omitempty"`
	Cooperative bool     `json:"cooperative,omitempty"`

	Op     string         `json:"op,omitempty"`
	Fields map[string]any `json:"fields,omitempty"`
}

// emitter collects the events of one transaction.
type emitter struct {
	tx  *decode.Tx
	out []Event
}

func (e *emitter) add(ev Event) *Event {
	ev.Account, ev.LT, ev.Time, ev.Tx, ev.Seq = e.tx.Account, e.tx.LT, e.tx.Now, e.tx.Hash, len(e.out)
	e.out = append(e.out, ev)
	return &e.out[len(e.out)-1]
}

func u8(v uint8) *uint8    { return &v }
func u32(v uint32) *uint32 { return &v }
