package toncenter

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"net/url"
	"strconv"
	"strings"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// maxPage is the most transactions toncenter returns for one getTransactions call.
const maxPage = 100

// SendExternal posts the message BOC to /sendBoc and returns the message cell's hash.
func (c *Client) SendExternal(ctx context.Context, msg *cell.Cell) ([]byte, error) {
	if msg == nil {
		return nil, fmt.Errorf("failed to send external message: nil cell: %w", chain.ErrMalformed)
	}
	return msg.Hash(), c.SendBOC(ctx, msg.ToBOCWithFlags(false))
}

// SendBOC posts raw BOC bytes to /sendBoc as they are; SendExternal is the usual entry point.
func (c *Client) SendBOC(ctx context.Context, boc []byte) error {
	body := map[string]string{"boc": base64.StdEncoding.EncodeToString(boc)}
	if err := c.call(ctx, "sendBoc", nil, body, nil); err != nil {
		return fmt.Errorf("failed to send external message: %w", err)
	}
	return nil
}

// txID is toncenter's internal.transactionId.
type txID struct {
	LT   string `json:"lt"`
	Hash string `json:"hash"`
}

type addressInfo struct {
	Balance           json.RawMessage `json:"balance"` // a string or a number
	Code              string          `json:"code"`
	Data              string          `json:"data"`
	LastTransactionID txID            `json:"last_transaction_id"`
	State             string          `json:"state"`
}

// GetAccount reads /getAddressInformation. toncenter says "uninitialized" both for never-used
// addresses and for uninit accounts; an account without any transaction is reported as nonexist.
func (c *Client) GetAccount(ctx context.Context, addr *address.Address) (*chain.Account, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to get account: nil address: %w", chain.ErrMalformed)
	}
	var info addressInfo
	q := url.Values{"address": {addr.StringRaw()}}
	if err := c.call(ctx, "getAddressInformation", q, nil, &info); err != nil {
		return nil, fmt.Errorf("failed to get account %s: %w", addr.StringRaw(), err)
	}
	acc, err := info.toAccount(addr)
	if err != nil {
		return nil, fmt.Errorf("failed to decode account %s: %w: %w", addr.StringRaw(), ErrBadResponse, err)
	}
	return acc, nil
}

func (info *addressInfo) toAccount(addr *address.Address) (*chain.Account, error) {
	acc := &chain.Account{Address: addr, Balance: new(big.Int)}
	bal := strings.Trim(string(info.Balance), `"`)
	if bal != "" && bal != "null" {
		if _, ok := acc.Balance.SetString(bal, 10); !ok || acc.Balance.Sign() < 0 {
			return nil, fmt.Errorf("bad balance %q", bal)
		}
	}
	if info.LastTransactionID.LT != "" {
		lt, err := strconv.ParseUint(info.LastTransactionID.LT, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("bad last transaction lt %q", info.LastTransactionID.LT)
		}
		acc.LastTxLT = lt
	}
	if acc.LastTxLT != 0 {
		h, err := decodeHash(info.LastTransactionID.Hash)
		if err != nil {
			return nil, fmt.Errorf("bad last transaction hash: %w", err)
		}
		acc.LastTxHash = h
	}
	switch info.State {
	case "active":
		acc.State = chain.StateActive
		var err error
		if acc.Code, err = decodeOptionalBOC(info.Code); err != nil {
			return nil, fmt.Errorf("bad code: %w", err)
		}
		if acc.Data, err = decodeOptionalBOC(info.Data); err != nil {
			return nil, fmt.Errorf("bad data: %w", err)
		}
		if acc.Code == nil {
			return nil, fmt.Errorf("active account without code")
		}
	case "frozen":
		acc.State = chain.StateFrozen
	case "uninitialized", "uninit":
		acc.State = chain.StateUninit
		if acc.LastTxLT == 0 && acc.Balance.Sign() == 0 {
			acc.State = chain.StateNonexist
		}
	case "nonexist", "nonexistent":
		acc.State = chain.StateNonexist
	default:
		return nil, fmt.Errorf("unknown account state %q", info.State)
	}
	return acc, nil
}

// decodeHash accepts the encodings toncenter uses for 32-byte hashes: base64 (standard or URL) and hex.
func decodeHash(s string) ([]byte, error) {
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil && len(b) == 32 {
			return b, nil
		}
	}
	return nil, fmt.Errorf("%q is not a 32-byte hash in base64 or hex", s)
}

func decodeOptionalBOC(s string) (*cell.Cell, error) {
	if s == "" {
		return nil, nil
	}
	raw, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, fmt.Errorf("not base64: %w", err)
	}
	return cell.FromBOC(raw)
}

type rawTransaction struct {
	TransactionID txID   `json:"transaction_id"`
	Data          string `json:"data"`
}

// GetTransactions reads /getTransactions, newest first, paging internally when limit exceeds what
// one toncenter call returns. Each transaction is decoded from its BOC and checked against its id.
func (c *Client) GetTransactions(ctx context.Context, addr *address.Address, limit int, fromLT uint64, fromHash []byte) ([]*tlb.Transaction, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to get transactions: nil address: %w", chain.ErrMalformed)
	}
	if limit <= 0 {
		return nil, fmt.Errorf("failed to get transactions: limit %d must be positive: %w", limit, chain.ErrMalformed)
	}
	if fromLT != 0 && len(fromHash) != 32 {
		return nil, fmt.Errorf("failed to get transactions: starting at lt %d needs the 32-byte transaction hash: %w", fromLT, chain.ErrMalformed)
	}
	var out []*tlb.Transaction
	for len(out) < limit {
		page := min(limit-len(out), maxPage)
		q := url.Values{"address": {addr.StringRaw()}, "limit": {strconv.Itoa(page)}, "archival": {"true"}}
		if fromLT != 0 {
			q.Set("lt", strconv.FormatUint(fromLT, 10))
			q.Set("hash", base64.StdEncoding.EncodeToString(fromHash))
		}
		var raws []rawTransaction
		if err := c.call(ctx, "getTransactions", q, nil, &raws); err != nil {
			return nil, fmt.Errorf("failed to get transactions of %s: %w", addr.StringRaw(), err)
		}
		if len(raws) > page {
			return nil, fmt.Errorf("failed to get transactions of %s: asked for %d, got %d: %w", addr.StringRaw(), page, len(raws), ErrBadResponse)
		}
		for _, r := range raws {
			tx, err := r.decode()
			if err != nil {
				return nil, fmt.Errorf("failed to decode transaction of %s: %w: %w", addr.StringRaw(), ErrBadResponse, err)
			}
			if !bytes.Equal(tx.AccountAddr, addr.Data()) {
				return nil, fmt.Errorf("failed to get transactions of %s: got a transaction of another account: %w", addr.StringRaw(), ErrBadResponse)
			}
			if n := len(out); n > 0 && (out[n-1].PrevTxLT != tx.LT || !bytes.Equal(out[n-1].PrevTxHash, tx.Hash)) {
				return nil, fmt.Errorf("failed to get transactions of %s: transaction %d does not follow %d: %w", addr.StringRaw(), tx.LT, out[n-1].LT, ErrBadResponse)
			}
			out = append(out, tx)
		}
		if len(raws) < page {
			break // reached the account's first transaction
		}
		last := out[len(out)-1]
		if last.PrevTxLT == 0 {
			break
		}
		fromLT, fromHash = last.PrevTxLT, last.PrevTxHash
	}
	return out, nil
}

func (r *rawTransaction) decode() (*tlb.Transaction, error) {
	root, err := decodeOptionalBOC(r.Data)
	if err != nil {
		return nil, fmt.Errorf("bad data BOC: %w", err)
	}
	if root == nil {
		return nil, fmt.Errorf("transaction without data")
	}
	var tx tlb.Transaction
	if err := tlb.Parse(&tx, root); err != nil {
		return nil, fmt.Errorf("bad transaction: %w", err)
	}
	tx.Hash = root.Hash()
	if r.TransactionID.Hash != "" {
		want, err := decodeHash(r.TransactionID.Hash)
		if err != nil {
			return nil, fmt.Errorf("bad transaction id: %w", err)
		}
		if !bytes.Equal(want, tx.Hash) {
			return nil, fmt.Errorf("transaction id hash %x does not match its data hash %x", want, tx.Hash)
		}
	}
	if r.TransactionID.LT != "" && r.TransactionID.LT != strconv.FormatUint(tx.LT, 10) {
		return nil, fmt.Errorf("transaction id lt %s does not match its data lt %d", r.TransactionID.LT, tx.LT)
	}
	return &tx, nil
}

type runGetMethodRequest struct {
	Address string `json:"address"`
	Method  string `json:"method"`
	Stack   []any  `json:"stack"`
}

type runGetMethodResult struct {
	GasUsed  int64             `json:"gas_used"`
	Stack    []json.RawMessage `json:"stack"`
	ExitCode int               `json:"exit_code"`
}

// RunGetMethod posts to /runGetMethod. Arguments may be *big.Int, Go integers, *cell.Cell,
// *cell.Slice, *address.Address (as a slice), []any (a tuple) or nil (see EncodeStack).
func (c *Client) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error) {
	if addr == nil {
		return nil, fmt.Errorf("failed to run get-method %s: nil address: %w", method, chain.ErrMalformed)
	}
	if method == "" {
		return nil, fmt.Errorf("failed to run get-method: empty method name: %w", chain.ErrMalformed)
	}
	stack, err := EncodeStack(args)
	if err != nil {
		return nil, fmt.Errorf("failed to run get-method %s: %w", method, err)
	}
	var res runGetMethodResult
	req := runGetMethodRequest{Address: addr.StringRaw(), Method: method, Stack: stack}
	if err := c.call(ctx, "runGetMethod", nil, req, &res); err != nil {
		return nil, fmt.Errorf("failed to run get-method %s on %s: %w", method, addr.StringRaw(), err)
	}
	if res.ExitCode != 0 && res.ExitCode != 1 {
		return nil, &chain.GetMethodError{Method: method, ExitCode: res.ExitCode}
	}
	values, err := DecodeStack(res.Stack)
	if err != nil {
		return nil, fmt.Errorf("failed to decode get-method %s result: %w: %w", method, ErrBadResponse, err)
	}
	return &chain.GetMethodResult{ExitCode: res.ExitCode, GasUsed: res.GasUsed, Stack: values}, nil
}
