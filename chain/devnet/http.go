package devnet

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// maxBodyBytes bounds a request body; a BOC of a few hundred KiB is already far beyond TON's limits.
const maxBodyBytes = 1 << 20

// apiError is a failure with the HTTP status toncenter would answer with.
type apiError struct {
	code int
	msg  string
}

func (e *apiError) Error() string { return e.msg }

func badRequest(format string, args ...any) error {
	return &apiError{code: http.StatusBadRequest, msg: fmt.Sprintf(format, args...)}
}

// params are a request's arguments: query values for GET, a JSON object for POST.
type params map[string]any

func (p params) str(name string) (string, bool) {
	v, ok := p[name]
	if !ok || v == nil {
		return "", false
	}
	switch x := v.(type) {
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return strconv.FormatBool(x), true
	default:
		return "", false
	}
}

func (p params) required(name string) (string, error) {
	s, ok := p.str(name)
	if !ok || s == "" {
		return "", badRequest("missing parameter %q", name)
	}
	return s, nil
}

func (p params) address(name string) (*address.Address, error) {
	s, err := p.required(name)
	if err != nil {
		return nil, err
	}
	a, err := chain.ParseAddress(s)
	if err != nil {
		return nil, badRequest("Incorrect address: %v", err)
	}
	return a, nil
}

func (p params) uint(name string, def uint64) (uint64, error) {
	s, ok := p.str(name)
	if !ok || s == "" {
		return def, nil
	}
	v, err := strconv.ParseUint(s, 10, 64)
	if err != nil {
		return 0, badRequest("parameter %q must be a non-negative integer, got %q", name, s)
	}
	return v, nil
}

// decodeBytes accepts standard or URL-safe base64 (padded or not) and hex, as toncenter does.
func decodeBytes(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b, nil
		}
	}
	if b, err := hex.DecodeString(s); err == nil {
		return b, nil
	}
	return nil, errors.New("neither base64 nor hex")
}

// decodeHash reads a 32-byte hash given as 64 hex digits or as base64 (either alphabet). A
// space is read as '+', which an unescaped base64 hash in a query string turns into.
func decodeHash(s string) ([]byte, error) {
	s = strings.ReplaceAll(s, " ", "+")
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return b, nil
		}
	}
	b, err := decodeBytes(s)
	if err != nil || len(b) != 32 {
		return nil, errors.New("not a 32-byte hash")
	}
	return b, nil
}

// Handler serves the toncenter v2 API under /api/v2/ (GET/POST per method and POST
// /api/v2/jsonRPC) and the devnet-only endpoints under /devnet/. See docs/PROTOCOL.md.
func (d *Devnet) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/api/v2/jsonRPC", d.serveJSONRPC)
	mux.HandleFunc("/api/v2/", d.serveV2)
	mux.HandleFunc("POST /devnet/fund", d.serveFund)
	mux.HandleFunc("GET /devnet/time", d.serveTime)
	mux.HandleFunc("GET /devnet/info", d.serveInfo)
	mux.HandleFunc("POST /devnet/time/advance", d.serveAdvance)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusNotFound, map[string]any{"ok": false, "error": "Not Found", "code": http.StatusNotFound})
	})
	return withCORS(mux)
}

// withCORS lets browser pages (explorers, tonweb) call the API, as toncenter does.
func withCORS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Methods", "GET, POST, OPTIONS")
		h.Set("Access-Control-Allow-Headers", "Content-Type, X-API-Key")
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func errorStatus(err error) (int, string) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
		return ae.code, ae.msg
	case errors.Is(err, chain.ErrRejected):
		// toncenter's wording for an external message no account accepted.
		return http.StatusInternalServerError, "LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted (" + err.Error() + ")"
	case errors.Is(err, chain.ErrMalformed), errors.Is(err, ErrBadAmount):
		return http.StatusBadRequest, err.Error()
	case errors.Is(err, chain.ErrNotFound):
		return http.StatusNotFound, err.Error()
	case errors.Is(err, ErrClosed):
		return http.StatusServiceUnavailable, err.Error()
	default:
		return http.StatusInternalServerError, err.Error()
	}
}

func readParams(r *http.Request) (params, error) {
	p := params{}
	for k, v := range r.URL.Query() {
		if len(v) > 0 {
			p[k] = v[0]
		}
	}
	if r.Method != http.MethodPost {
		return p, nil
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err != nil {
		return nil, badRequest("failed to read body: %v", err)
	}
	if len(body) > maxBodyBytes {
		return nil, &apiError{code: http.StatusRequestEntityTooLarge, msg: "request body too large"}
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return p, nil
	}
	if strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		q, err := url.ParseQuery(string(body))
		if err != nil {
			return nil, badRequest("malformed form body: %v", err)
		}
		for k, v := range q {
			p[k] = v[0]
		}
		return p, nil
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		return nil, badRequest("malformed JSON body: %v", err)
	}
	for k, v := range obj {
		p[k] = v
	}
	return p, nil
}

func (d *Devnet) serveV2(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/v2/")
	if r.Method != http.MethodGet && r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"ok": false, "error": "Method Not Allowed", "code": http.StatusMethodNotAllowed})
		return
	}
	p, err := readParams(r)
	var res any
	if err == nil {
		res, err = d.call(r.Context(), method, p)
	}
	if err != nil {
		code, msg := errorStatus(err)
		writeJSON(w, code, map[string]any{"ok": false, "error": msg, "code": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}

func (d *Devnet) serveJSONRPC(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		writeJSON(w, http.StatusMethodNotAllowed, map[string]any{"ok": false, "error": "jsonRPC needs POST", "code": http.StatusMethodNotAllowed})
		return
	}
	var req struct {
		ID      any             `json:"id"`
		JSONRPC string          `json:"jsonrpc"`
		Method  string          `json:"method"`
		Params  json.RawMessage `json:"params"`
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBodyBytes+1))
	if err == nil && len(body) > maxBodyBytes {
		err = errors.New("request body too large")
	}
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	reply := func(status int, v map[string]any) {
		v["jsonrpc"] = "2.0"
		v["id"] = req.ID
		writeJSON(w, status, v)
	}
	if err != nil {
		reply(http.StatusBadRequest, map[string]any{"ok": false, "error": "malformed jsonRPC request: " + err.Error(), "code": http.StatusBadRequest})
		return
	}
	p := params{}
	if len(req.Params) > 0 && string(req.Params) != "null" {
		dec := json.NewDecoder(bytes.NewReader(req.Params))
		dec.UseNumber()
		if err := dec.Decode(&p); err != nil {
			reply(http.StatusBadRequest, map[string]any{"ok": false, "error": "params must be an object: " + err.Error(), "code": http.StatusBadRequest})
			return
		}
	}
	res, err := d.call(r.Context(), req.Method, p)
	if err != nil {
		code, msg := errorStatus(err)
		reply(code, map[string]any{"ok": false, "error": msg, "code": code})
		return
	}
	reply(http.StatusOK, map[string]any{"ok": true, "result": res})
}

// call dispatches one toncenter v2 method.
func (d *Devnet) call(ctx context.Context, method string, p params) (any, error) {
	switch method {
	case "getAddressInformation":
		return d.apiAddressInformation(p)
	case "getWalletInformation":
		return d.apiWalletInformation(ctx, p)
	case "getExtendedAddressInformation":
		return d.apiExtendedAddressInformation(ctx, p)
	case "getAddressBalance":
		info, err := d.apiAddressInformation(p)
		if err != nil {
			return nil, err
		}
		return info["balance"], nil
	case "getAddressState":
		info, err := d.apiAddressInformation(p)
		if err != nil {
			return nil, err
		}
		return info["state"], nil
	case "runGetMethod":
		return d.apiRunGetMethod(ctx, p)
	case "sendBoc", "sendBocReturnHash":
		return d.apiSendBoc(ctx, p, method == "sendBocReturnHash")
	case "getTransactions":
		return d.apiTransactions(p)
	case "getMasterchainInfo":
		seqno := d.Seqno()
		return map[string]any{
			"@type":           "blocks.masterchainInfo",
			"last":            blockID(-1, seqno),
			"state_root_hash": base64.StdEncoding.EncodeToString(seqHash("state", seqno)),
			"init":            blockID(-1, 0),
		}, nil
	case "getConfigParam":
		id, err := p.uint("config_id", 1<<32)
		if err != nil {
			return nil, err
		}
		if id >= 1<<32 {
			return nil, badRequest("missing parameter %q", "config_id")
		}
		c, err := tlb.BlockchainConfig{Root: d.configRoot}.GetParam(uint32(id))
		if err != nil {
			return nil, &apiError{code: http.StatusNotFound, msg: fmt.Sprintf("config param %d not found", id)}
		}
		return configInfo(c), nil
	case "getConfigAll":
		return configInfo(d.configRoot), nil
	case "shards":
		seqno, err := p.uint("seqno", 0)
		if err != nil {
			return nil, err
		}
		if seqno == 0 || seqno > uint64(d.Seqno()) {
			return nil, &apiError{code: http.StatusNotFound, msg: fmt.Sprintf("block %d not found (last is %d)", seqno, d.Seqno())}
		}
		return map[string]any{"@type": "blocks.shards", "shards": []any{blockID(0, uint32(seqno))}}, nil
	case "getBlockTransactions", "getBlockTransactionsExt":
		return d.apiBlockTransactions(p, method == "getBlockTransactionsExt")
	default:
		return nil, &apiError{code: http.StatusNotFound, msg: fmt.Sprintf("unknown method %q", method)}
	}
}

func configInfo(c *cell.Cell) map[string]any {
	return map[string]any{"@type": "configInfo", "config": map[string]any{"@type": "tvm.cell", "bytes": base64.StdEncoding.EncodeToString(c.ToBOC())}}
}

// seqHash derives stable placeholder block hashes: the devnet has no blocks, only a counter
// of committed batches.
func seqHash(kind string, seqno uint32) []byte {
	h := sha256.Sum256(fmt.Appendf(nil, "cocoon devnet %s %d", kind, seqno))
	return h[:]
}

func blockID(wc int32, seqno uint32) map[string]any {
	return map[string]any{
		"@type":     "ton.blockIdExt",
		"workchain": wc,
		"shard":     "-9223372036854775808",
		"seqno":     seqno,
		"root_hash": base64.StdEncoding.EncodeToString(seqHash("root", seqno)),
		"file_hash": base64.StdEncoding.EncodeToString(seqHash("file", seqno)),
	}
}

func txID(lt uint64, hash []byte) map[string]any {
	if len(hash) == 0 {
		hash = make([]byte, 32)
	}
	return map[string]any{"@type": "internal.transactionId", "lt": strconv.FormatUint(lt, 10), "hash": base64.StdEncoding.EncodeToString(hash)}
}

func apiState(s chain.AccountState) string {
	switch s {
	case chain.StateActive:
		return "active"
	case chain.StateFrozen:
		return "frozen"
	default:
		return "uninitialized"
	}
}

func (d *Devnet) apiAddressInformation(p params) (map[string]any, error) {
	addr, err := p.address("address")
	if err != nil {
		return nil, err
	}
	k, _ := keyOf(addr)
	sa, st, seqno, err := d.accountState(k)
	if err != nil {
		return nil, err
	}
	acc, err := accountFromShard(k, sa)
	if err != nil {
		return nil, err
	}
	code, data, frozen := "", "", ""
	if acc.Code != nil {
		code = base64.StdEncoding.EncodeToString(acc.Code.ToBOC())
	}
	if acc.Data != nil {
		data = base64.StdEncoding.EncodeToString(acc.Data.ToBOC())
	}
	if st.IsValid && st.Status == tlb.AccountStatusFrozen {
		frozen = base64.StdEncoding.EncodeToString(st.StateHash)
	}
	return map[string]any{
		"@type":               "raw.fullAccountState",
		"balance":             acc.Balance.String(),
		"extra_currencies":    []any{},
		"code":                code,
		"data":                data,
		"last_transaction_id": txID(acc.LastTxLT, acc.LastTxHash),
		"block_id":            blockID(0, seqno),
		"frozen_hash":         frozen,
		"sync_utime":          d.Now().Unix(),
		"state":               apiState(acc.State),
	}, nil
}

func (d *Devnet) apiWalletInformation(ctx context.Context, p params) (map[string]any, error) {
	addr, err := p.address("address")
	if err != nil {
		return nil, err
	}
	acc, err := d.Account(addr)
	if err != nil {
		return nil, err
	}
	out := map[string]any{
		"@type":               "ext.accounts.walletInformation",
		"wallet":              false,
		"balance":             acc.Balance.String(),
		"account_state":       apiState(acc.State),
		"last_transaction_id": txID(acc.LastTxLT, acc.LastTxHash),
	}
	if acc.State != chain.StateActive || acc.Code == nil {
		return out, nil
	}
	kind, ok := d.wallets[string(acc.Code.Hash())]
	if !ok {
		return out, nil
	}
	out["wallet"] = true
	out["wallet_type"] = string(kind)
	if r, err := d.RunGetMethod(ctx, addr, "seqno"); err == nil && len(r.Stack) == 1 {
		if n, ok := r.Stack[0].(*big.Int); ok {
			out["seqno"] = n.Uint64()
		}
	}
	if r, err := d.RunGetMethod(ctx, addr, "get_subwallet_id"); err == nil && len(r.Stack) == 1 {
		if n, ok := r.Stack[0].(*big.Int); ok {
			out["wallet_id"] = n.Int64()
		}
	}
	return out, nil
}

func (d *Devnet) apiExtendedAddressInformation(ctx context.Context, p params) (any, error) {
	info, err := d.apiAddressInformation(p)
	if err != nil {
		return nil, err
	}
	wi, err := d.apiWalletInformation(ctx, p)
	if err != nil {
		return nil, err
	}
	addr, _ := p.address("address")
	var state map[string]any
	switch {
	case wi["wallet"] == true:
		kind := strings.Fields(wi["wallet_type"].(string)) // "wallet v4 r2"
		state = map[string]any{"@type": "wallet." + kind[1] + ".accountState", "seqno": wi["seqno"], "wallet_id": fmt.Sprint(wi["wallet_id"])}
	case info["state"] == "uninitialized":
		state = map[string]any{"@type": "uninited.accountState", "frozen_hash": ""}
	default:
		state = map[string]any{"@type": "raw.accountState", "code": info["code"], "data": info["data"], "frozen_hash": info["frozen_hash"]}
	}
	return map[string]any{
		"@type":               "fullAccountState",
		"address":             map[string]any{"@type": "accountAddress", "account_address": addr.String()},
		"balance":             info["balance"],
		"extra_currencies":    []any{},
		"last_transaction_id": info["last_transaction_id"],
		"block_id":            info["block_id"],
		"sync_utime":          info["sync_utime"],
		"account_state":       state,
		"revision":            0,
	}, nil
}

func (d *Devnet) apiSendBoc(ctx context.Context, p params, returnHash bool) (any, error) {
	s, err := p.required("boc")
	if err != nil {
		return nil, err
	}
	raw, err := decodeBytes(s)
	if err != nil {
		return nil, badRequest("boc is not base64: %v", err)
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		return nil, badRequest("failed to parse BOC: %v", err)
	}
	res, err := d.Send(ctx, c)
	if err != nil {
		return nil, err
	}
	if !returnHash {
		return map[string]any{"@type": "ok"}, nil
	}
	return map[string]any{
		"@type":     "raw.extMessageInfo",
		"hash":      base64.StdEncoding.EncodeToString(res.MsgHash),
		"hash_norm": base64.StdEncoding.EncodeToString(res.NormHash),
	}, nil
}

func (d *Devnet) apiTransactions(p params) (any, error) {
	addr, err := p.address("address")
	if err != nil {
		return nil, err
	}
	limit, err := p.uint("limit", 10)
	if err != nil {
		return nil, err
	}
	if limit == 0 || limit > 1000 {
		return nil, badRequest("limit must be between 1 and 1000, got %d", limit)
	}
	lt, err := p.uint("lt", 0)
	if err != nil {
		return nil, err
	}
	toLT, err := p.uint("to_lt", 0)
	if err != nil {
		return nil, err
	}
	var hash []byte
	if s, ok := p.str("hash"); ok && s != "" {
		if hash, err = decodeHash(s); err != nil {
			return nil, badRequest("hash must be 32 bytes in base64 or hex, got %q", s)
		}
		if lt == 0 {
			return nil, badRequest("hash needs lt")
		}
	}
	txs, bocs, err := d.transactions(addr, int(limit), lt, hash)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(txs))
	for i, tx := range txs {
		if toLT != 0 && tx.LT <= toLT {
			break
		}
		out = append(out, renderTx(addr, tx, bocs[i]))
	}
	return out, nil
}

// apiBlockTransactions lists one batch's transactions of the asked workchain: the devnet's
// batch seqno is both the masterchain seqno and that of its single basechain shard block.
func (d *Devnet) apiBlockTransactions(p params, ext bool) (any, error) {
	wcStr, err := p.required("workchain")
	if err != nil {
		return nil, err
	}
	wc, err := strconv.ParseInt(wcStr, 10, 32)
	if err != nil {
		return nil, badRequest("workchain must be an integer, got %q", wcStr)
	}
	seqno, err := p.uint("seqno", 0)
	if err != nil {
		return nil, err
	}
	if seqno == 0 || seqno >= 1<<32 {
		return nil, badRequest("seqno must be a positive block number")
	}
	count, err := p.uint("count", 40)
	if err != nil {
		return nil, err
	}
	if count == 0 || count > 256 {
		return nil, badRequest("count must be between 1 and 256, got %d", count)
	}
	afterLT, err := p.uint("after_lt", 0)
	if err != nil {
		return nil, err
	}
	var afterHash []byte
	if s, ok := p.str("after_hash"); ok && s != "" {
		if afterHash, err = decodeHash(s); err != nil {
			return nil, badRequest("after_hash must be 32 bytes in base64 or hex, got %q", s)
		}
	}
	txs, err := d.Batch(uint32(seqno))
	if err != nil {
		return nil, err
	}
	var list []BatchTx
	skipping := afterLT != 0
	for _, t := range txs {
		if int64(t.Account.Workchain()) != wc {
			continue
		}
		if skipping {
			if t.Tx.LT == afterLT && (afterHash == nil || bytes.Equal(t.Tx.Hash, afterHash)) {
				skipping = false
			}
			continue
		}
		list = append(list, t)
	}
	incomplete := len(list) > int(count)
	if incomplete {
		list = list[:count]
	}
	out := make([]any, 0, len(list))
	for _, t := range list {
		if ext {
			out = append(out, renderTx(t.Account, t.Tx, t.BOC))
			continue
		}
		out = append(out, map[string]any{
			"@type":   "blocks.shortTxId",
			"mode":    135,
			"account": t.Account.StringRaw(),
			"lt":      strconv.FormatUint(t.Tx.LT, 10),
			"hash":    base64.StdEncoding.EncodeToString(t.Tx.Hash),
		})
	}
	typ := "blocks.transactions"
	if ext {
		typ = "blocks.transactionsExt"
	}
	return map[string]any{
		"@type":        typ,
		"id":           blockID(int32(wc), uint32(seqno)),
		"req_count":    count,
		"incomplete":   incomplete,
		"transactions": out,
	}, nil
}

func renderTx(addr *address.Address, tx *tlb.Transaction, boc []byte) map[string]any {
	fee := tx.TotalFees.Coins.Nano()
	storage := big.NewInt(0)
	if desc, ok := tx.Description.(tlb.TransactionDescriptionOrdinary); ok && desc.StoragePhase != nil {
		storage = desc.StoragePhase.StorageFeesCollected.Nano()
	}
	var in any
	if tx.IO.In != nil {
		in = renderMsg(tx.IO.In)
	}
	outs := []any{}
	if tx.IO.Out != nil {
		if msgs, err := tx.IO.Out.ToSlice(); err == nil {
			for i := range msgs {
				outs = append(outs, renderMsg(&msgs[i]))
			}
		}
	}
	return map[string]any{
		"@type":          "raw.transaction",
		"address":        map[string]any{"@type": "accountAddress", "account_address": addr.String()},
		"account":        addr.String(),
		"utime":          tx.Now,
		"data":           base64.StdEncoding.EncodeToString(boc),
		"transaction_id": txID(tx.LT, tx.Hash),
		"fee":            fee.String(),
		"storage_fee":    storage.String(),
		"other_fee":      new(big.Int).Sub(fee, storage).String(),
		"in_msg":         in,
		"out_msgs":       outs,
	}
}

func renderMsg(m *tlb.Message) map[string]any {
	addrStr := func(a *address.Address) string {
		if a == nil || a.IsAddrNone() || a.Type() == address.NoneAddress {
			return ""
		}
		return a.String()
	}
	out := map[string]any{
		"@type":            "raw.message",
		"value":            "0",
		"extra_currencies": []any{},
		"fwd_fee":          "0",
		"ihr_fee":          "0",
		"created_lt":       "0",
	}
	var body *cell.Cell
	var init *tlb.StateInit
	switch m.MsgType {
	case tlb.MsgTypeInternal:
		in := m.AsInternal()
		out["source"], out["destination"] = addrStr(in.SrcAddr), addrStr(in.DstAddr)
		out["value"] = in.Amount.Nano().String()
		out["fwd_fee"] = in.FwdFee.Nano().String()
		out["ihr_fee"] = in.IHRFee.Nano().String()
		out["created_lt"] = strconv.FormatUint(in.CreatedLT, 10)
		body, init = in.Body, in.StateInit
	case tlb.MsgTypeExternalIn:
		ex := m.AsExternalIn()
		out["source"], out["destination"] = addrStr(ex.SrcAddr), addrStr(ex.DstAddr)
		body, init = ex.Body, ex.StateInit
	case tlb.MsgTypeExternalOut:
		ex := m.AsExternalOut()
		out["source"], out["destination"] = addrStr(ex.SrcAddr), addrStr(ex.DstAddr)
		out["created_lt"] = strconv.FormatUint(ex.CreatedLT, 10)
		body, init = ex.Body, ex.StateInit
	}
	if body == nil {
		body = cell.BeginCell().EndCell()
	}
	if mc, err := m.ToCell(); err == nil {
		out["hash"] = base64.StdEncoding.EncodeToString(mc.Hash())
	}
	initStr := ""
	if init != nil {
		if c, err := tlb.ToCell(init); err == nil {
			initStr = base64.StdEncoding.EncodeToString(c.ToBOC())
		}
	}
	b64 := base64.StdEncoding.EncodeToString(body.ToBOC())
	out["body_hash"] = base64.StdEncoding.EncodeToString(body.Hash())
	out["msg_data"] = map[string]any{"@type": "msg.dataRaw", "body": b64, "init_state": initStr}
	out["body"] = b64
	return out
}

// --- runGetMethod ---

func (d *Devnet) apiRunGetMethod(ctx context.Context, p params) (any, error) {
	addr, err := p.address("address")
	if err != nil {
		return nil, err
	}
	var methodID int64
	switch m := p["method"].(type) {
	case string:
		if m == "" {
			return nil, badRequest("missing parameter %q", "method")
		}
		if n, err := strconv.ParseInt(m, 10, 64); err == nil {
			methodID = n
		} else {
			methodID = int64(tlb.MethodNameHash(m))
		}
	case json.Number:
		if methodID, err = m.Int64(); err != nil {
			return nil, badRequest("method id %q is not an integer", m)
		}
	default:
		return nil, badRequest("missing parameter %q", "method")
	}
	var entries []any
	switch s := p["stack"].(type) {
	case nil:
	case []any:
		entries = s
	case string:
		// GET form: a JSON array in the query string.
		if s != "" {
			dec := json.NewDecoder(strings.NewReader(s))
			dec.UseNumber()
			if err := dec.Decode(&entries); err != nil {
				return nil, badRequest("stack must be a JSON array: %v", err)
			}
		}
	default:
		return nil, badRequest("stack must be an array")
	}
	args := make([]any, 0, len(entries))
	parser := newStackArgs()
	for i, e := range entries {
		v, err := parser.entry(e)
		if err != nil {
			return nil, badRequest("stack entry %d: %v", i, err)
		}
		args = append(args, v)
	}
	run, err := d.RunGetMethodID(ctx, addr, methodID, args)
	if err != nil {
		return nil, err
	}
	stack := make([]any, 0, len(run.Stack))
	for _, v := range run.Stack {
		e, err := renderStackEntry(v)
		if err != nil {
			return nil, err
		}
		stack = append(stack, e)
	}
	return map[string]any{
		"@type":               "smc.runResult",
		"gas_used":            run.GasUsed,
		"stack":               stack,
		"exit_code":           run.ExitCode,
		"block_id":            blockID(0, run.Seqno),
		"last_transaction_id": txID(run.LastTxLT, run.LastTxHash),
	}, nil
}

// Bounds on runGetMethod arguments. Tuples and lists nest at most maxStackArgDepth deep (as in
// chain/toncenter), all arguments together hold at most maxStackArgValues values (a list of n
// values is n nested pairs in the VM), and a tuple holds at most maxTupleLen, as in TVM.
const (
	maxStackArgDepth  = 64
	maxStackArgValues = 4096
	maxTupleLen       = 255
)

// stackArgs reads runGetMethod's input stack, counting the values of all entries against
// maxStackArgValues.
type stackArgs struct {
	left int // values still allowed
}

func newStackArgs() *stackArgs { return &stackArgs{left: maxStackArgValues} }

// parseStackEntry reads one input entry on its own (see stackArgs.entry).
func parseStackEntry(e any) (any, error) { return newStackArgs().entry(e) }

// entry reads one toncenter v2 input entry, a [type, value] pair: ["num", "0x…"|"123"],
// ["tvm.Cell", b64] (alias "cell"), ["tvm.Slice", b64] (alias "slice"), and, as toncenter.com
// (ton-http-api-cpp) takes them, ["tuple", {"@type":"tvm.tuple","elements":[…]}] (alias
// "tvm.Tuple") and ["list", {"@type":"tvm.list","elements":[…]}] (alias "tvm.List"), whose
// elements are tonlib entries (tonlibArg). A list becomes TVM's nested pairs [a, [b, null]]; the
// empty list is null, which is how toncenter takes a null (it has no null entry).
func (a *stackArgs) entry(e any) (any, error) {
	pair, ok := e.([]any)
	if !ok || len(pair) != 2 {
		return nil, errors.New("must be a [type, value] pair")
	}
	typ, ok := pair[0].(string)
	if !ok {
		return nil, errors.New("type must be a string")
	}
	if err := a.take(); err != nil {
		return nil, err
	}
	switch typ {
	case "tuple", "tvm.Tuple":
		return a.container(pair[1], "tvm.tuple", false, 1)
	case "list", "tvm.List":
		return a.container(pair[1], "tvm.list", true, 1)
	}
	var val string
	switch v := pair[1].(type) {
	case string:
		val = v
	case json.Number:
		val = v.String()
	default:
		return nil, fmt.Errorf("value of %q must be a string", typ)
	}
	switch typ {
	case "num", "number", "int":
		n, err := parseNum(val)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: %w", val, err)
		}
		return n, nil
	case "tvm.Cell", "cell":
		return parseBOCArg(val, typ, false)
	case "tvm.Slice", "slice":
		return parseBOCArg(val, typ, true)
	default:
		return nil, fmt.Errorf("unsupported stack entry type %q", typ)
	}
}

func (a *stackArgs) take() error {
	if a.left--; a.left < 0 {
		return fmt.Errorf("more than %d values in the stack", maxStackArgValues)
	}
	return nil
}

// container reads a tvm.tuple or tvm.list object ({"@type" (optional), "elements": [tonlib
// entries]}) whose elements sit at depth; a list becomes nested pairs ending in null.
func (a *stackArgs) container(v any, typ string, list bool, depth int) (any, error) {
	if depth > maxStackArgDepth {
		return nil, fmt.Errorf("tuples and lists nested deeper than %d", maxStackArgDepth)
	}
	obj, err := typedObject(v, typ)
	if err != nil {
		return nil, err
	}
	raw, ok := obj["elements"].([]any)
	if !ok {
		return nil, fmt.Errorf("%s needs an elements array", typ)
	}
	if !list && len(raw) > maxTupleLen {
		return nil, fmt.Errorf("a tuple holds at most %d values, got %d", maxTupleLen, len(raw))
	}
	if len(raw) > a.left {
		return nil, fmt.Errorf("more than %d values in the stack", maxStackArgValues)
	}
	elems := make([]any, len(raw))
	for i, e := range raw {
		if elems[i], err = a.tonlibArg(e, depth); err != nil {
			return nil, fmt.Errorf("%s element %d: %w", typ, i, err)
		}
	}
	if !list {
		return elems, nil
	}
	var l any // the empty list is null
	for i := len(elems) - 1; i >= 0; i-- {
		l = []any{elems[i], l}
	}
	return l, nil
}

// tonlibArg reads one element of a tuple or list: a tonlib tvm.StackEntry object,
// tvm.stackEntryNumber {"number":{"number":"-12"}} (decimal, as tonlib reads it),
// tvm.stackEntryCell {"cell":{"bytes":b64}}, tvm.stackEntrySlice {"slice":{"bytes":b64}},
// tvm.stackEntryTuple {"tuple":{"elements":[…]}} or tvm.stackEntryList {"list":{"elements":[…]}}.
// Inner objects may carry their own "@type" (tvm.numberDecimal, tvm.cell, …).
func (a *stackArgs) tonlibArg(e any, depth int) (any, error) {
	if err := a.take(); err != nil {
		return nil, err
	}
	obj, ok := e.(map[string]any)
	if !ok {
		return nil, errors.New(`must be a tonlib stack entry object {"@type":"tvm.stackEntry…",…}`)
	}
	typ, _ := obj["@type"].(string)
	switch typ {
	case "tvm.stackEntryNumber":
		num, err := typedObject(obj["number"], "tvm.numberDecimal")
		if err != nil {
			return nil, err
		}
		s, ok := num["number"].(string)
		if !ok || strings.HasPrefix(strings.TrimPrefix(s, "-"), "0x") {
			return nil, fmt.Errorf("tvm.numberDecimal number must be a decimal string, got %v", num["number"])
		}
		n, err := parseNum(s)
		if err != nil {
			return nil, fmt.Errorf("bad number %q: want decimal digits with at most one leading minus", s)
		}
		return n, nil
	case "tvm.stackEntryCell", "tvm.stackEntrySlice":
		field, inner := "cell", "tvm.cell"
		if typ == "tvm.stackEntrySlice" {
			field, inner = "slice", "tvm.slice"
		}
		c, err := typedObject(obj[field], inner)
		if err != nil {
			return nil, err
		}
		b, ok := c["bytes"].(string)
		if !ok {
			return nil, fmt.Errorf("%s bytes must be a base64 string", inner)
		}
		return parseBOCArg(b, inner, field == "slice")
	case "tvm.stackEntryTuple":
		return a.container(obj["tuple"], "tvm.tuple", false, depth+1)
	case "tvm.stackEntryList":
		return a.container(obj["list"], "tvm.list", true, depth+1)
	case "":
		return nil, errors.New(`tonlib stack entry without "@type"`)
	default:
		return nil, fmt.Errorf("unsupported tonlib stack entry %q", typ)
	}
}

// typedObject reads a JSON object whose "@type", when present, must be typ.
func typedObject(v any, typ string) (map[string]any, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s must be an object", typ)
	}
	if t, present := obj["@type"]; present && t != typ {
		return nil, fmt.Errorf("%s has @type %v", typ, t)
	}
	return obj, nil
}

// parseBOCArg reads a cell or slice argument given as a BOC (base64 or hex).
func parseBOCArg(val, typ string, slice bool) (any, error) {
	raw, err := decodeBytes(val)
	if err != nil {
		return nil, fmt.Errorf("bad %s: %v", typ, err)
	}
	c, err := cell.FromBOC(raw)
	if err != nil {
		return nil, fmt.Errorf("bad %s BOC: %v", typ, err)
	}
	if !slice {
		return c, nil
	}
	s, err := c.BeginParse()
	if err != nil {
		return nil, fmt.Errorf("bad %s: %v", typ, err)
	}
	return s, nil
}

// errBadNumber says which number syntax a stack entry takes.
var errBadNumber = errors.New("want decimal digits, or 0x and hex digits, with at most one leading minus (\"-12\", \"0x1f\", \"-0x1f\")")

// parseNum reads a stack number in the syntax both toncenter v2 implementations accept: the
// Python ton-http-api reads it with int(s, 0), ton-http-api-cpp with td::string_to_int256, and
// what either refuses is refused here, so a client that works on the devnet works on both. That
// leaves an optional "-", then "0x" and hex digits, or decimal digits without leading zeros
// (Python refuses "007"). "0x-5", which tonutils-go's toncenter client sends for -5, is refused
// as the Python service refuses it ("-0x5" is the portable form, what chain/toncenter sends);
// "-0x-5" and "--5" are refused, never read as +5.
func parseNum(s string) (*big.Int, error) {
	digits, neg := strings.CutPrefix(s, "-")
	base := 10
	if hex, ok := strings.CutPrefix(digits, "0x"); ok {
		digits, base = hex, 16
	}
	if digits == "" || base == 10 && len(digits) > 1 && digits[0] == '0' && strings.Trim(digits, "0") != "" {
		return nil, errBadNumber
	}
	for _, r := range digits {
		if !('0' <= r && r <= '9' || base == 16 && ('a' <= r && r <= 'f' || 'A' <= r && r <= 'F')) {
			return nil, errBadNumber
		}
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok {
		return nil, errBadNumber
	}
	if neg {
		n.Neg(n)
	}
	return n, nil
}

func hexNum(n *big.Int) string {
	if n.Sign() < 0 {
		return "-0x" + new(big.Int).Neg(n).Text(16)
	}
	return "0x" + n.Text(16)
}

// renderStackEntry writes one result entry in toncenter v2's format: ["num","0x…"],
// ["cell",{"bytes","object"}] for cells, slices and builders, ["tuple",{tvm.tuple}], and
// ["list",{tvm.list}] for what tonlib reports as a list (listElements; null is the empty list).
func renderStackEntry(v any) (any, error) {
	if elems, ok := listElements(v); ok {
		els, err := tonlibEntries(elems)
		if err != nil {
			return nil, err
		}
		return []any{"list", map[string]any{"@type": "tvm.list", "elements": els}}, nil
	}
	switch x := v.(type) {
	case *big.Int:
		return []any{"num", hexNum(x)}, nil
	case *cell.Cell, *cell.Slice, *cell.Builder:
		c, err := asCell(x)
		if err != nil {
			return nil, err
		}
		obj, err := cellObject(c)
		if err != nil {
			return nil, err
		}
		return []any{"cell", map[string]any{"bytes": base64.StdEncoding.EncodeToString(c.ToBOC()), "object": obj}}, nil
	case []any:
		els, err := tonlibEntries(x)
		if err != nil {
			return nil, err
		}
		return []any{"tuple", map[string]any{"@type": "tvm.tuple", "elements": els}}, nil
	default:
		return nil, fmt.Errorf("cannot render stack value of type %T", v)
	}
}

// listElements returns the values of v when tonlib reports it as a list: null (no values), or a
// pair whose second value is a list, as in [a, [b, null]] (a, b). Any other value is not one.
func listElements(v any) ([]any, bool) {
	var elems []any
	for {
		if v == nil {
			return elems, true
		}
		pair, ok := v.([]any)
		if !ok || len(pair) != 2 {
			return nil, false
		}
		elems = append(elems, pair[0])
		v = pair[1]
	}
}

// asCell is the cell a cell, slice or builder result holds (toncenter reports all three as cells).
// Values read from the VM carry no gas trace (fromVMValue), so this charges nothing; a value that
// still has one gets an error where the VM's gas is exhausted, never a panic.
func asCell(v any) (*cell.Cell, error) {
	var c *cell.Cell
	var err error
	switch x := v.(type) {
	case *cell.Cell:
		c = x
	case *cell.Slice:
		c, err = x.ToCell()
	case *cell.Builder:
		c, err = x.EndCellSpecial(false)
	default:
		err = fmt.Errorf("%T is not a cell", v)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read a result cell: %w", err)
	}
	return c, nil
}

// tonlibEntries renders the elements of a tuple or list.
func tonlibEntries(vals []any) ([]any, error) {
	els := make([]any, 0, len(vals))
	for _, v := range vals {
		e, err := tonlibEntry(v)
		if err != nil {
			return nil, err
		}
		els = append(els, e)
	}
	return els, nil
}

// tonlibEntry is an element inside a tuple or list, in tonlib's typed form.
func tonlibEntry(v any) (any, error) {
	if elems, ok := listElements(v); ok {
		els, err := tonlibEntries(elems)
		if err != nil {
			return nil, err
		}
		return map[string]any{"@type": "tvm.stackEntryList", "list": map[string]any{"@type": "tvm.list", "elements": els}}, nil
	}
	switch x := v.(type) {
	case *big.Int:
		return map[string]any{"@type": "tvm.stackEntryNumber", "number": map[string]any{"@type": "tvm.numberDecimal", "number": x.String()}}, nil
	case *cell.Cell:
		return map[string]any{"@type": "tvm.stackEntryCell", "cell": map[string]any{"@type": "tvm.cell", "bytes": base64.StdEncoding.EncodeToString(x.ToBOC())}}, nil
	case *cell.Slice, *cell.Builder:
		c, err := asCell(x)
		if err != nil {
			return nil, err
		}
		return map[string]any{"@type": "tvm.stackEntrySlice", "slice": map[string]any{"@type": "tvm.slice", "bytes": base64.StdEncoding.EncodeToString(c.ToBOC())}}, nil
	case []any:
		els, err := tonlibEntries(x)
		if err != nil {
			return nil, err
		}
		return map[string]any{"@type": "tvm.stackEntryTuple", "tuple": map[string]any{"@type": "tvm.tuple", "elements": els}}, nil
	default:
		return nil, fmt.Errorf("cannot render stack value of type %T", v)
	}
}

// maxCellObjectNodes bounds the "object" tree of a rendered cell, counted as the tree is written
// out (a cell referenced twice counts twice): as many cells as a message may hold (config
// param 43). Past it "object" is the truncation marker and only "bytes" carries the cell.
const maxCellObjectNodes = 1 << 13

// cellObject is toncenter's JSON view of a cell tree ({"data":{"b64","len"},"refs":[…],"special"},
// as pytonlib's serialize_to_object and ton-http-api-cpp's SerializeCell write it). Both expand the
// tree, repeating a cell at every reference, so a DAG of n cells that refer to the next one twice
// (a BOC of a few dozen bytes) stands for 2^n nodes. Here the tree's size is counted first, per
// distinct cell (memoized by hash, so in time linear in the distinct cells); a tree within
// maxCellObjectNodes is rendered with one JSON object per distinct cell, shared by its
// references, and a larger one becomes {"truncated":true,"distinct_cells":N,"max_tree_cells":M}
// (clients read "bytes", which is always complete).
func cellObject(c *cell.Cell) (map[string]any, error) {
	sizes := map[cell.Hash]int{}
	if treeCells(c, sizes) > maxCellObjectNodes {
		return map[string]any{"truncated": true, "distinct_cells": len(sizes), "max_tree_cells": maxCellObjectNodes}, nil
	}
	return renderCellObject(c, map[cell.Hash]map[string]any{})
}

// treeCells counts the nodes of c's expanded tree, saturating at maxCellObjectNodes+1, and
// records c and every distinct cell below it in sizes with its own count.
func treeCells(c *cell.Cell, sizes map[cell.Hash]int) int {
	h := c.HashKey()
	if n, ok := sizes[h]; ok {
		return n
	}
	n := 1
	for i := 0; i < int(c.RefsNum()); i++ {
		if r, err := c.PeekRef(i); err == nil {
			n += treeCells(r, sizes)
		}
	}
	n = min(n, maxCellObjectNodes+1)
	sizes[h] = n
	return n
}

func renderCellObject(c *cell.Cell, done map[cell.Hash]map[string]any) (map[string]any, error) {
	h := c.HashKey()
	if o, ok := done[h]; ok {
		return o, nil
	}
	s, err := c.BeginParse()
	if err != nil {
		return nil, fmt.Errorf("failed to read a result cell: %w", err)
	}
	data, err := s.LoadSlice(c.BitsSize())
	if err != nil {
		return nil, fmt.Errorf("failed to read a result cell: %w", err)
	}
	refs := make([]any, 0, c.RefsNum())
	for i := 0; i < int(c.RefsNum()); i++ {
		r, err := c.PeekRef(i)
		if err != nil {
			return nil, fmt.Errorf("failed to read a result cell: %w", err)
		}
		o, err := renderCellObject(r, done)
		if err != nil {
			return nil, err
		}
		refs = append(refs, o)
	}
	o := map[string]any{
		"data":    map[string]any{"b64": base64.StdEncoding.EncodeToString(data), "len": c.BitsSize()},
		"refs":    refs,
		"special": c.IsSpecial(),
	}
	done[h] = o
	return o, nil
}

// --- devnet-only endpoints ---

func (d *Devnet) serveFund(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	var res any
	if err == nil {
		res, err = d.apiFund(r.Context(), p)
	}
	if err != nil {
		code, msg := errorStatus(err)
		writeJSON(w, code, map[string]any{"ok": false, "error": msg, "code": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": res})
}

func (d *Devnet) apiFund(ctx context.Context, p params) (any, error) {
	addr, err := p.address("address")
	if err != nil {
		return nil, err
	}
	s, err := p.required("amount")
	if err != nil {
		return nil, err
	}
	amount, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return nil, badRequest("amount must be an integer number of nanoTON, got %q", s)
	}
	txs, err := d.FundTx(ctx, addr, amount)
	if err != nil {
		return nil, err
	}
	acc, err := d.Account(addr)
	if err != nil {
		return nil, err
	}
	var first *tlb.Transaction
	if len(txs) > 0 {
		first = txs[0]
	}
	res := map[string]any{"address": addr.String(), "balance": acc.Balance.String(), "state": apiState(acc.State)}
	if first != nil {
		res["transaction_id"] = txID(first.LT, first.Hash)
	}
	return res, nil
}

func (d *Devnet) timeResult() map[string]any {
	now := d.Now()
	d.mu.RLock()
	off := time.Duration(d.meta.offset)
	d.mu.RUnlock()
	return map[string]any{"now": now.Unix(), "offset_seconds": int64(off / time.Second)}
}

func (d *Devnet) serveInfo(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": map[string]any{
		"network":     "devnet",
		"global_id":   d.cfg.GlobalID,
		"faucet":      FaucetAddress.String(),
		"seqno":       d.Seqno(),
		"now":         d.Now().Unix(),
		"config_hash": base64.StdEncoding.EncodeToString(d.configRoot.Hash()),
		// 0: instant mode (a message runs with its cascade when sent).
		"block_interval_ms": d.cfg.BlockInterval.Milliseconds(),
	}})
}

func (d *Devnet) serveTime(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": d.timeResult()})
}

func (d *Devnet) serveAdvance(w http.ResponseWriter, r *http.Request) {
	p, err := readParams(r)
	if err == nil {
		var secs uint64
		secs, err = p.uint("seconds", 0)
		if err == nil && (secs == 0 || secs > uint64(MaxUnixTime-d.Now().Unix())) {
			err = badRequest("seconds must be between 1 and %d (the clock stops at unix time %d)", MaxUnixTime-d.Now().Unix(), MaxUnixTime)
		}
		if err == nil {
			d.AdvanceTime(time.Duration(secs) * time.Second)
		}
	}
	if err != nil {
		code, msg := errorStatus(err)
		writeJSON(w, code, map[string]any{"ok": false, "error": msg, "code": code})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": d.timeResult()})
}
