package ops

import (
	"context"
	"errors"
	"fmt"
	"math/big"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// TransferInput is TON sent from the wallet to any address.
type TransferInput struct {
	To     *address.Address
	Amount *big.Int
	// Comment is attached as a text comment ("": no body).
	Comment string
	// Bounce is the bounce flag (nil: bounce only to an active account, read from the chain;
	// a user-friendly address already says it: pass its IsBounceable()).
	Bounce *bool
}

// PlanTransfer plans a transfer. Zero TON without a comment does nothing and is refused.
func (o *Ops) PlanTransfer(ctx context.Context, in TransferInput) (*Plan, error) {
	if in.To == nil || in.Amount == nil || in.Amount.Sign() < 0 {
		return nil, badInput("a transfer needs a destination and an amount")
	}
	if in.Amount.Sign() == 0 && in.Comment == "" {
		return nil, badInput("sending 0 TON without a comment does nothing")
	}
	p := &Plan{Op: "send", To: in.To, Value: new(big.Int).Set(in.Amount),
		// Until the transfer arrives (and, bounced, comes back): what is read next sees it.
		Follow: txmgr.Follow{All: true, MaxDepth: 2}}
	if in.Comment != "" {
		body, err := wallet.Comment(in.Comment)
		if err != nil {
			return nil, &InputError{err}
		}
		p.Body = body
	}
	switch {
	case in.Bounce != nil:
		p.Bounce = *in.Bounce
	default:
		if err := o.needChain(); err != nil {
			return nil, err
		}
		acc, err := o.Chain.GetAccount(ctx, in.To)
		if err != nil {
			return nil, err
		}
		p.Bounce = acc.State == chain.StateActive
	}
	return p, nil
}

// SendTransfer sends a transfer plan and, unless p.Wait says otherwise, waits for the transfer to
// arrive (and a bounce to come back). It returns the outcome whenever a node accepted the message,
// with the transaction manager's error: a wallet transaction that sent nothing wraps
// wallet.ErrFailed and says so.
func (o *Ops) SendTransfer(ctx context.Context, p *Plan) (*txmgr.Outcome, error) {
	if err := o.checkFunds(ctx, p.Value, false); err != nil {
		return nil, err
	}
	req := txmgr.Request{Key: p.Key, Transfers: []wallet.Transfer{p.Transfer()}, NoWait: p.Wait == WaitAccepted}
	if p.Wait == WaitCascade {
		req.Follow = p.Follow
	}
	out, err := o.Sender.Send(ctx, req)
	if out != nil && out.Transaction != nil && errors.Is(err, txmgr.ErrNotSent) {
		err = fmt.Errorf("%w: the wallet's transaction sent no message (not enough balance for the amount plus fees?)", wallet.ErrFailed)
	}
	return out, err
}
