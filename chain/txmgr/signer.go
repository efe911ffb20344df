package txmgr

import (
	"context"
	"crypto/ed25519"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Signer signs the messages of one wallet. The mnemonic key (*wallet.Wallet) is the first
// implementation; a remote or hardware signer implements the same four methods: it is shown the
// whole unsigned message (seqno, validity, every transfer) and returns the signed external message,
// so it can display and refuse what it signs. The manager never asks it to sign a raw hash.
type Signer interface {
	// Address is the wallet contract's address.
	Address() *address.Address
	// PublicKey is the key the wallet contract checks.
	PublicKey() ed25519.PublicKey
	// StateInit deploys the wallet (attached when wallet.Message.Deploy is set).
	StateInit() *tlb.StateInit
	// MaxTransfers is how many transfers one message may carry.
	MaxTransfers() int
	// SignMessage returns the signed external message (whole Message cell and its body).
	SignMessage(ctx context.Context, m wallet.Message) (*wallet.Signed, error)
}

var _ Signer = (*wallet.Wallet)(nil)
