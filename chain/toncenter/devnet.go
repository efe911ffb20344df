package toncenter

import (
	"context"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// The local devnet serves, next to toncenter v2, a few endpoints of its own under /devnet/
// (a faucet and its clock). These methods call them; on a real toncenter they fail with 404.

// devnetCall calls /devnet/<path> at the server root (the base URL without /api/v2).
func (c *Client) devnetCall(ctx context.Context, path string, body any, out any) error {
	root := &Client{
		base:       strings.TrimSuffix(c.base, "/api/v2") + "/devnet",
		apiKey:     c.apiKey,
		http:       c.http,
		maxRetries: c.maxRetries,
		retryBase:  c.retryBase,
		maxBackoff: c.maxBackoff,
		limit:      c.limit,
	}
	return root.call(ctx, path, nil, body, out)
}

// DevnetTime reads the devnet's clock, which AdvanceTime can have moved ahead of the wall clock.
func (c *Client) DevnetTime(ctx context.Context) (time.Time, error) {
	var res struct {
		Now int64 `json:"now"`
	}
	if err := c.devnetCall(ctx, "time", nil, &res); err != nil {
		return time.Time{}, fmt.Errorf("failed to read the devnet clock: %w", err)
	}
	if res.Now <= 0 {
		return time.Time{}, fmt.Errorf("failed to read the devnet clock: %w: now=%d", ErrBadResponse, res.Now)
	}
	return time.Unix(res.Now, 0), nil
}

// DevnetAdvance moves the devnet's clock forward by whole seconds (at least one).
func (c *Client) DevnetAdvance(ctx context.Context, d time.Duration) error {
	secs := int64(d / time.Second)
	if secs < 1 {
		return fmt.Errorf("failed to advance the devnet clock: %v is less than a second", d)
	}
	if err := c.devnetCall(ctx, "time/advance", map[string]any{"seconds": secs}, nil); err != nil {
		return fmt.Errorf("failed to advance the devnet clock: %w", err)
	}
	return nil
}

// DevnetFund credits nanoTON to addr from the devnet's faucet.
func (c *Client) DevnetFund(ctx context.Context, addr *address.Address, nanoTON *big.Int) error {
	if addr == nil || nanoTON == nil {
		return fmt.Errorf("failed to fund: address and amount are required")
	}
	body := map[string]any{"address": addr.StringRaw(), "amount": nanoTON.String()}
	if err := c.devnetCall(ctx, "fund", body, nil); err != nil {
		return fmt.Errorf("failed to fund %s: %w", addr.StringRaw(), err)
	}
	return nil
}
