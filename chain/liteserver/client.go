// Package liteserver is a chain.Client over TON liteservers (ADNL), through tonutils-go's
// liteclient connection pool and ton.APIClient with proof checks.
//
// The conversion layer (Client) sits on a small API interface, which ton.APIClientWrapped
// satisfies; Dial builds the real one from a global config file or URL.
package liteserver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/liteclient"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// maxPage is the most transactions one liteServer.getTransactions returns.
const maxPage = 16

// API is the part of tonutils-go's ton.APIClientWrapped this client uses.
type API interface {
	Client() ton.LiteClient
	CurrentMasterchainInfo(ctx context.Context) (*ton.BlockIDExt, error)
	GetAccount(ctx context.Context, block *ton.BlockIDExt, addr *address.Address) (*tlb.Account, error)
	RunGetMethod(ctx context.Context, block *ton.BlockIDExt, addr *address.Address, method string, params ...any) (*ton.ExecutionResult, error)
	ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error)
}

var _ API = ton.APIClientWrapped(nil)

// Client implements chain.Client over a liteserver API.
type Client struct {
	api  API
	stop func()
}

var _ chain.Client = (*Client)(nil)

// New wraps an API (usually ton.NewAPIClient(pool).WithRetry()).
func New(api API) *Client { return &Client{api: api} }

// Config says where the global network config comes from.
type Config struct {
	// GlobalConfig is a path to global.config.json or an http(s) URL serving it
	// (e.g. https://ton.org/testnet-global.config.json).
	GlobalConfig string
	// Timeout bounds each liteserver query (default 10 s); queries are retried on other servers.
	Timeout time.Duration
}

// Check reports what is wrong with the configuration.
func (c Config) Check() error {
	if c.GlobalConfig == "" {
		return errors.New("liteserver global config path or URL is empty")
	}
	return nil
}

// Dial connects to the liteservers of a global config. Close releases the connections.
func Dial(ctx context.Context, cfg Config) (*Client, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	var gc *liteclient.GlobalConfig
	var err error
	if u, perr := url.Parse(cfg.GlobalConfig); perr == nil && (u.Scheme == "http" || u.Scheme == "https") {
		gc, err = liteclient.GetConfigFromUrl(ctx, cfg.GlobalConfig)
	} else {
		gc, err = liteclient.GetConfigFromFile(cfg.GlobalConfig)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load liteserver global config %s: %w", cfg.GlobalConfig, err)
	}
	if len(gc.Liteservers) == 0 {
		return nil, fmt.Errorf("liteserver global config %s lists no liteservers", cfg.GlobalConfig)
	}
	pool := liteclient.NewConnectionPool()
	if err := pool.AddConnectionsFromConfig(ctx, gc); err != nil {
		pool.Stop()
		return nil, fmt.Errorf("failed to connect to liteservers: %w", err)
	}
	api := ton.NewAPIClient(pool, ton.ProofCheckPolicyFast)
	api.SetTrustedBlockFromConfig(gc)
	return &Client{api: api.WithRetryTimeout(3, cfg.Timeout), stop: pool.Stop}, nil
}

// Close releases the liteserver connections of a dialed client.
func (c *Client) Close() {
	if c.stop != nil {
		c.stop()
	}
}

// SendExternal sends the message bytes as they are (liteServer.sendMessage), so the hash returned
// is the hash of exactly what was sent.
func (c *Client) SendExternal(ctx context.Context, msg *cell.Cell) ([]byte, error) {
	if msg == nil {
		return nil, fmt.Errorf("failed to send external message: nil cell: %w", chain.ErrMalformed)
	}
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, msg.MustBeginParse()); err != nil {
		return nil, fmt.Errorf("failed to send external message: not a message: %v: %w", err, chain.ErrMalformed)
	}
	if m.MsgType != tlb.MsgTypeExternalIn {
		return nil, fmt.Errorf("failed to send external message: %s message: %w", m.MsgType, chain.ErrMalformed)
	}
	var resp tl.Serializable
	if err := c.api.Client().QueryLiteserver(ctx, ton.SendMessage{Body: msg.ToBOCWithFlags(false)}, &resp); err != nil {
		return nil, fmt.Errorf("failed to send external message: %w", mapErr(err))
	}
	switch r := resp.(type) {
	case ton.SendMessageStatus:
		if r.Status != 1 {
			return nil, fmt.Errorf("failed to send external message: status %d: %w", r.Status, chain.ErrRejected)
		}
		return msg.Hash(), nil
	case ton.LSError:
		return nil, fmt.Errorf("failed to send external message: %w", mapErr(r))
	}
	return nil, fmt.Errorf("failed to send external message: unexpected response %T", resp)
}

// GetAccount reads the account at the latest masterchain block.
func (c *Client) GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to get account: nil address: %w", chain.ErrMalformed)
	}
	block, err := c.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to get masterchain block: %w", mapErr(err))
	}
	acc, err := c.api.GetAccount(ctx, block, addr)
	if err != nil {
		return nil, fmt.Errorf("failed to get account %s: %w", addr.StringRaw(), mapErr(err))
	}
	return ConvertAccount(addr, acc)
}

// ConvertAccount maps tonutils-go's account onto chain.Account.
func ConvertAccount(addr *address.Address, acc *tlb.Account) (*chain.Account, error) {
	out := &chain.Account{Address: addr, State: chain.StateNonexist, Balance: new(big.Int)}
	if acc == nil || !acc.IsActive || acc.State == nil || !acc.State.IsValid {
		return out, nil
	}
	out.Balance.Set(acc.State.Balance.Nano())
	if acc.LastTxLT != 0 {
		out.LastTxLT = acc.LastTxLT
		out.LastTxHash = bytes.Clone(acc.LastTxHash)
	}
	switch acc.State.Status {
	case tlb.AccountStatusActive:
		out.State = chain.StateActive
		out.Code, out.Data = acc.Code, acc.Data
		if out.Code == nil && acc.State.StateInit != nil {
			out.Code, out.Data = acc.State.StateInit.Code, acc.State.StateInit.Data
		}
		if out.Code == nil {
			return nil, fmt.Errorf("active account %s has no code", addr.StringRaw())
		}
	case tlb.AccountStatusUninit:
		out.State = chain.StateUninit
	case tlb.AccountStatusFrozen:
		out.State = chain.StateFrozen
	case tlb.AccountStatusNonExist:
		out.State = chain.StateNonexist
	default:
		return nil, fmt.Errorf("account %s has unknown status %q", addr.StringRaw(), acc.State.Status)
	}
	return out, nil
}

// RunGetMethod runs a get-method at the latest masterchain block. Liteservers do not report gas
// for get-methods through tonutils-go, so GasUsed is 0; ExitCode is 0 on success.
func (c *Client) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to run get-method %s: nil address: %w", method, chain.ErrMalformed)
	}
	if method == "" {
		return nil, fmt.Errorf("failed to run get-method: empty method name: %w", chain.ErrMalformed)
	}
	for i, a := range args {
		if !supportedArg(a, 0) {
			return nil, fmt.Errorf("failed to run get-method %s: argument %d has unsupported type %T: %w", method, i, a, chain.ErrMalformed)
		}
	}
	block, err := c.api.CurrentMasterchainInfo(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to get masterchain block: %w", mapErr(err))
	}
	res, err := c.api.RunGetMethod(ctx, block, addr, method, args...)
	if err != nil {
		var exec ton.ContractExecError
		if errors.As(err, &exec) {
			return nil, &chain.GetMethodError{Method: method, ExitCode: int(exec.Code)}
		}
		return nil, fmt.Errorf("failed to run get-method %s on %s: %w", method, addr.StringRaw(), mapErr(err))
	}
	return &chain.GetMethodResult{Stack: res.AsTuple()}, nil
}

// supportedArg mirrors what tonutils-go's stack serializer accepts.
func supportedArg(a any, depth int) bool {
	if depth > 64 {
		return false
	}
	switch v := a.(type) {
	case nil, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64, *cell.Cell, *cell.Slice, *cell.Builder, *address.Address:
		return true
	case *big.Int:
		return v != nil && v.BitLen() <= 256
	case []any:
		for _, x := range v {
			if !supportedArg(x, depth+1) {
				return false
			}
		}
		return true
	}
	return false
}

// GetTransactions lists transactions newest first from (fromLT, fromHash) inclusive, or from the
// account's last transaction when fromLT is 0, paging internally.
func (c *Client) GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to get transactions: nil address: %w", chain.ErrMalformed)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("failed to get transactions: limit %d must be positive: %w", limit, chain.ErrMalformed)
	}
	if fromLT == 0 {
		acc, err := c.GetAccount(ctx, addr)
		if err != nil {
			return nil, err
		}
		if acc.LastTxLT == 0 {
			return nil, nil
		}
		fromLT, fromHash = acc.LastTxLT, acc.LastTxHash
	} else if len(fromHash) != 32 {
		return nil, fmt.Errorf("failed to get transactions: starting at lt %d needs the 32-byte transaction hash: %w", fromLT, chain.ErrMalformed)
	}
	var out []*tlb.Transaction
	for len(out) < limit && fromLT != 0 {
		page := min(limit-len(out), maxPage)
		txs, err := c.api.ListTransactions(ctx, addr, uint32(page), fromLT, fromHash)
		if err != nil {
			if errors.Is(err, ton.ErrNoTransactionsWereFound) {
				if len(out) == 0 {
					return nil, fmt.Errorf("failed to get transactions of %s from lt %d: %w", addr.StringRaw(), fromLT, chain.ErrNotFound)
				}
				break
			}
			return nil, fmt.Errorf("failed to get transactions of %s: %w", addr.StringRaw(), mapErr(err))
		}
		if len(txs) == 0 {
			break
		}
		// tonutils-go returns them oldest first and has checked the hash chain.
		for i := len(txs) - 1; i >= 0; i-- {
			out = append(out, txs[i])
		}
		last := out[len(out)-1]
		if len(txs) < page {
			break
		}
		fromLT, fromHash = last.PrevTxLT, last.PrevTxHash
	}
	for _, tx := range out {
		if !bytes.Equal(tx.AccountAddr, addr.Data()) {
			return nil, fmt.Errorf("failed to get transactions of %s: liteserver returned a transaction of another account", addr.StringRaw())
		}
	}
	return out, nil
}

// mapErr maps liteserver errors onto chain sentinels, keeping the original text.
func mapErr(err error) error {
	var ls ton.LSError
	if !errors.As(err, &ls) {
		return err
	}
	text := strings.ToLower(ls.Text)
	switch {
	case strings.Contains(text, "failed to parse external message"), strings.Contains(text, "bag of cells"),
		strings.Contains(text, "deserialize"):
		return fmt.Errorf("%w: %w", chain.ErrMalformed, err)
	case strings.Contains(text, "not accepted"), strings.Contains(text, "rejected"),
		strings.Contains(text, "cannot apply external message"):
		return fmt.Errorf("%w: %w", chain.ErrRejected, err)
	case strings.Contains(text, "not found"), strings.Contains(text, "cannot find"), strings.Contains(text, "not in db"):
		return fmt.Errorf("%w: %w", chain.ErrNotFound, err)
	}
	return err
}
