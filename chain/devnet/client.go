package devnet

import (
	"context"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Client returns the devnet as an in-process chain.Client.
func (d *Devnet) Client() chain.Client { return client{d} }

type client struct{ d *Devnet }

var _ chain.Client = client{}

func (c client) SendExternal(ctx context.Context, msg *cell.Cell) ([]byte, error) {
	res, err := c.d.Send(ctx, msg)
	if err != nil {
		return nil, err
	}
	return res.MsgHash, nil
}

func (c client) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error) {
	return c.d.RunGetMethod(ctx, addr, method, args...)
}

func (c client) GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.d.Account(addr)
}

func (c client) GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return c.d.Transactions(addr, limit, fromLT, fromHash)
}

// DevnetTime is the devnet's clock, as the toncenter client reads it over HTTP.
func (c client) DevnetTime(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	return c.d.Now(), nil
}
