package contracts

import (
	"context"
	"fmt"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
)

// getterTarget is one deployed contract whose get-methods a client runs; kind names it in errors.
type getterTarget struct {
	chain GetMethodRunner
	addr  *address.Address
	kind  string
}

// callGetter runs method on the target and decodes the result with decode.
func callGetter[T any](ctx context.Context, t getterTarget, method string, decode func(*chain.GetMethodResult) (T, error), args ...any) (T, error) {
	res, err := t.chain.RunGetMethod(ctx, t.addr, method, args...)
	if err != nil {
		var zero T
		return zero, fmt.Errorf("failed to run %s on %s %s: %w", method, t.kind, t.addr, err)
	}
	return decode(res)
}
