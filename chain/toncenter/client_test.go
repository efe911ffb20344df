package toncenter

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// fakeToncenter replays toncenter v2's documented JSON shapes from in-memory fixtures.
type fakeToncenter struct {
	t      *testing.T
	apiKey string

	mu       sync.Mutex
	accounts map[string]map[string]any // raw address -> getAddressInformation result
	txs      map[string][]*cell.Cell   // raw address -> transactions, newest first
	getters  map[string]any            // method -> runGetMethod result (or an envelope error)
	sent     [][]byte
	// throttle answers that many requests with 429 before serving.
	throttle atomic.Int32
	calls    atomic.Int32
}

func newFake(t *testing.T) (*fakeToncenter, *Client) {
	f := &fakeToncenter{t: t, apiKey: "secret", accounts: map[string]map[string]any{}, txs: map[string][]*cell.Cell{}, getters: map[string]any{}}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	c, err := New(Config{URL: srv.URL, APIKey: "secret", RetryBase: time.Millisecond, MaxBackoff: 5 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return f, c
}

func (f *fakeToncenter) reply(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}

func (f *fakeToncenter) fail(w http.ResponseWriter, status int, msg string) {
	f.reply(w, status, map[string]any{"ok": false, "error": msg, "code": status})
}

func (f *fakeToncenter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if r.Header.Get("X-API-Key") != f.apiKey {
		f.fail(w, 401, "API key does not exist")
		return
	}
	if f.throttle.Load() > 0 {
		f.throttle.Add(-1)
		w.Header().Set("Retry-After", "0")
		f.fail(w, 429, "Ratelimit exceed")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	q := r.URL.Query()
	switch r.URL.Path {
	case "/api/v2/getAddressInformation":
		a, err := address.ParseRawAddr(q.Get("address"))
		if err != nil {
			f.fail(w, 416, "Incorrect address")
			return
		}
		info, ok := f.accounts[a.StringRaw()]
		if !ok { // toncenter's answer for a never-used address
			info = map[string]any{"@type": "raw.fullAccountState", "balance": "0", "code": "", "data": "",
				"last_transaction_id": map[string]any{"@type": "internal.transactionId", "lt": "0", "hash": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="},
				"frozen_hash":         "", "sync_utime": 1700000000, "state": "uninitialized"}
		}
		f.reply(w, 200, map[string]any{"ok": true, "result": info})
	case "/api/v2/getTransactions":
		a, err := address.ParseRawAddr(q.Get("address"))
		if err != nil {
			f.fail(w, 416, "Incorrect address")
			return
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		list := f.txs[a.StringRaw()]
		start := 0
		if lt := q.Get("lt"); lt != "" {
			start = -1
			for i, c := range list {
				var tx tlb.Transaction
				if err := tlb.Parse(&tx, c); err != nil {
					f.t.Errorf("fixture: %v", err)
				}
				if strconv.FormatUint(tx.LT, 10) == lt && base64.StdEncoding.EncodeToString(c.Hash()) == q.Get("hash") {
					start = i
				}
			}
			if start < 0 {
				f.fail(w, 500, "LITE_SERVER_UNKNOWN: cannot find transaction")
				return
			}
		}
		var out []any
		for i := start; i < len(list) && len(out) < limit; i++ {
			var tx tlb.Transaction
			_ = tlb.Parse(&tx, list[i])
			out = append(out, map[string]any{"@type": "raw.transaction", "utime": tx.Now,
				"data":           base64.StdEncoding.EncodeToString(list[i].ToBOC()),
				"transaction_id": map[string]any{"@type": "internal.transactionId", "lt": strconv.FormatUint(tx.LT, 10), "hash": base64.StdEncoding.EncodeToString(list[i].Hash())},
				"fee":            "0", "storage_fee": "0", "other_fee": "0"})
		}
		f.reply(w, 200, map[string]any{"ok": true, "result": out})
	case "/api/v2/runGetMethod":
		var req struct {
			Address string  `json:"address"`
			Method  string  `json:"method"`
			Stack   [][]any `json:"stack"`
		}
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&req) != nil {
			f.fail(w, 422, "bad request")
			return
		}
		if req.Method == "echo" { // returns the request stack, to test argument encoding
			f.reply(w, 200, map[string]any{"ok": true, "result": map[string]any{"gas_used": 10, "exit_code": 0, "stack": req.Stack}})
			return
		}
		res, ok := f.getters[req.Method]
		if !ok {
			res = map[string]any{"gas_used": 0, "exit_code": 11, "stack": []any{}}
		}
		f.reply(w, 200, map[string]any{"ok": true, "result": res})
	case "/api/v2/sendBoc":
		var req struct {
			BOC string `json:"boc"`
		}
		body, _ := io.ReadAll(r.Body)
		if json.Unmarshal(body, &req) != nil {
			f.fail(w, 422, "bad request")
			return
		}
		raw, err := base64.StdEncoding.DecodeString(req.BOC)
		if err != nil {
			f.fail(w, 416, "boc: Incorrect base64")
			return
		}
		c, err := cell.FromBOC(raw)
		if err != nil {
			f.fail(w, 500, "LITE_SERVER_UNKNOWN: cannot apply external message to current state : failed to parse external message external message is not a valid bag of cells")
			return
		}
		if c.BitsSize() == 1 { // the test's stand-in for a message no account accepts
			f.fail(w, 500, "LITE_SERVER_UNKNOWN: cannot apply external message to current state : External message was not accepted\nCannot run message on account: inbound external message rejected by transaction 89:\nexitcode=33, steps=19, gas_used=0")
			return
		}
		f.sent = append(f.sent, raw)
		f.reply(w, 200, map[string]any{"ok": true, "result": map[string]any{"@type": "ok"}})
	default:
		f.fail(w, 404, "Not Found")
	}
}

// txChain builds n linked transactions of addr, newest first, with LTs 1000, 2000, ….
func txChain(t *testing.T, addr *address.Address, n int) []*cell.Cell {
	t.Helper()
	var out []*cell.Cell
	prevLT, prevHash := uint64(0), make([]byte, 32)
	for i := 1; i <= n; i++ {
		tx := tlb.Transaction{
			AccountAddr: addr.Data(),
			LT:          uint64(i) * 1000,
			PrevTxHash:  prevHash,
			PrevTxLT:    prevLT,
			Now:         uint32(1700000000 + i),
			OrigStatus:  tlb.AccountStatusActive,
			EndStatus:   tlb.AccountStatusActive,
			TotalFees:   tlb.CurrencyCollection{Coins: tlb.FromNanoTONU(uint64(i))},
			StateUpdate: tlb.HashUpdate{OldHash: make([]byte, 32), NewHash: make([]byte, 32)},
			Description: tlb.TransactionDescriptionOrdinary{
				ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseSkipped{Reason: tlb.ComputeSkipReason{Type: tlb.ComputeSkipReasonNoState}}},
			},
		}
		c, err := tx.ToCell()
		if err != nil {
			t.Fatal(err)
		}
		out = append([]*cell.Cell{c}, out...)
		prevLT, prevHash = tx.LT, c.Hash()
	}
	return out
}

var testAddr = address.MustParseRawAddr("0:" + strings.Repeat("ab", 32))

func TestGetAccountStates(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	code := cell.BeginCell().MustStoreUInt(0xC0DE, 16).EndCell()
	data := cell.BeginCell().MustStoreUInt(7, 32).EndCell()
	hash := make([]byte, 32)
	hash[0] = 0x42
	active := address.MustParseRawAddr("0:" + strings.Repeat("01", 32))
	uninit := address.MustParseRawAddr("0:" + strings.Repeat("02", 32))
	frozen := address.MustParseRawAddr("0:" + strings.Repeat("03", 32))
	f.accounts[active.StringRaw()] = map[string]any{"balance": "123456789012", "code": base64.StdEncoding.EncodeToString(code.ToBOC()),
		"data": base64.StdEncoding.EncodeToString(data.ToBOC()), "state": "active",
		"last_transaction_id": map[string]any{"lt": "5000", "hash": base64.StdEncoding.EncodeToString(hash)}}
	f.accounts[uninit.StringRaw()] = map[string]any{"balance": 500, "code": "", "data": "", "state": "uninitialized",
		"last_transaction_id": map[string]any{"lt": "77", "hash": hex.EncodeToString(hash)}}
	f.accounts[frozen.StringRaw()] = map[string]any{"balance": "0", "code": "", "data": "", "state": "frozen",
		"last_transaction_id": map[string]any{"lt": "9", "hash": base64.URLEncoding.EncodeToString(hash)}}

	acc, err := c.GetAccount(ctx, active)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != chain.StateActive || acc.Balance.String() != "123456789012" || acc.LastTxLT != 5000 || acc.LastTxHash[0] != 0x42 ||
		string(acc.Code.Hash()) != string(code.Hash()) || string(acc.Data.Hash()) != string(data.Hash()) || !acc.Address.Equals(active) {
		t.Fatalf("active account decoded wrong: %+v", acc)
	}
	acc, err = c.GetAccount(ctx, uninit)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != chain.StateUninit || acc.Balance.Int64() != 500 || acc.Code != nil || acc.LastTxLT != 77 {
		t.Fatalf("uninit account decoded wrong: %+v", acc)
	}
	acc, err = c.GetAccount(ctx, frozen)
	if err != nil || acc.State != chain.StateFrozen || acc.LastTxHash[0] != 0x42 {
		t.Fatalf("frozen account: %+v, %v", acc, err)
	}
	acc, err = c.GetAccount(ctx, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	if acc.State != chain.StateNonexist || acc.Balance == nil || acc.Balance.Sign() != 0 || acc.LastTxLT != 0 || acc.LastTxHash != nil {
		t.Fatalf("nonexistent account decoded wrong: %+v", acc)
	}
}

func TestGetAccountRejectsBadResponses(t *testing.T) {
	f, c := newFake(t)
	for name, info := range map[string]map[string]any{
		"negative balance": {"balance": "-1", "state": "active", "code": "te6cckEBAQEAAgAAAEysuc0=", "last_transaction_id": map[string]any{"lt": "1", "hash": strings.Repeat("00", 32)}},
		"unknown state":    {"balance": "1", "state": "sleeping", "last_transaction_id": map[string]any{"lt": "1", "hash": strings.Repeat("00", 32)}},
		"active no code":   {"balance": "1", "state": "active", "last_transaction_id": map[string]any{"lt": "1", "hash": strings.Repeat("00", 32)}},
		"short hash":       {"balance": "1", "state": "uninitialized", "last_transaction_id": map[string]any{"lt": "1", "hash": "AAAA"}},
		"bad code BOC":     {"balance": "1", "state": "active", "code": "AAAA", "last_transaction_id": map[string]any{"lt": "1", "hash": strings.Repeat("00", 32)}},
	} {
		f.accounts[testAddr.StringRaw()] = info
		if _, err := c.GetAccount(context.Background(), testAddr); !errors.Is(err, ErrBadResponse) {
			t.Errorf("%s: got %v, want ErrBadResponse", name, err)
		}
	}
}

func TestGetTransactionsPagingAndChecks(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	list := txChain(t, testAddr, 250)
	f.txs[testAddr.StringRaw()] = list

	// Newest first, more than one toncenter page (100) in one call.
	txs, err := c.GetTransactions(ctx, testAddr, 230, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 230 || txs[0].LT != 250000 || txs[229].LT != 21000 {
		t.Fatalf("got %d transactions, first %d last %d", len(txs), txs[0].LT, txs[len(txs)-1].LT)
	}
	for i, tx := range txs {
		if string(tx.Hash) != string(list[i].Hash()) {
			t.Fatalf("transaction %d hash not set from its BOC", i)
		}
	}
	// Resume from the last one's predecessor: inclusive start, runs out at the first transaction.
	last := txs[len(txs)-1]
	rest, err := c.GetTransactions(ctx, testAddr, 100, last.PrevTxLT, last.PrevTxHash)
	if err != nil {
		t.Fatal(err)
	}
	if len(rest) != 20 || rest[0].LT != 20000 || rest[19].LT != 1000 {
		t.Fatalf("second page: %d transactions", len(rest))
	}
	// Unknown starting point.
	if _, err := c.GetTransactions(ctx, testAddr, 5, 999, make([]byte, 32)); !errors.Is(err, chain.ErrNotFound) {
		t.Fatalf("unknown start: %v, want ErrNotFound", err)
	}
	// Input checks happen before any request.
	if _, err := c.GetTransactions(ctx, testAddr, 5, 1000, nil); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("lt without hash: %v", err)
	}
	if _, err := c.GetTransactions(ctx, testAddr, 0, 0, nil); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("zero limit: %v", err)
	}
	// Nothing at all for a fresh address.
	none, err := c.GetTransactions(ctx, address.MustParseRawAddr("0:"+strings.Repeat("cd", 32)), 10, 0, nil)
	if err != nil || len(none) != 0 {
		t.Fatalf("fresh address: %d, %v", len(none), err)
	}
}

func TestGetTransactionsRejectsInconsistentAnswers(t *testing.T) {
	f, c := newFake(t)
	list := txChain(t, testAddr, 3)
	other := txChain(t, address.MustParseRawAddr("0:"+strings.Repeat("ef", 32)), 1)
	f.txs[testAddr.StringRaw()] = []*cell.Cell{list[0], list[2]} // a gap
	if _, err := c.GetTransactions(context.Background(), testAddr, 5, 0, nil); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("gap: %v", err)
	}
	f.txs[testAddr.StringRaw()] = other // another account's transaction
	if _, err := c.GetTransactions(context.Background(), testAddr, 5, 0, nil); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("foreign transaction: %v", err)
	}
}

func TestDecodeRealMainnetTransaction(t *testing.T) {
	raw, err := os.ReadFile("testdata/mainnet_tx_35290576000004.hex")
	if err != nil {
		t.Fatal(err)
	}
	boc, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	root, err := cell.FromBOC(boc)
	if err != nil {
		t.Fatal(err)
	}
	r := rawTransaction{TransactionID: txID{LT: "35290576000004", Hash: base64.StdEncoding.EncodeToString(root.Hash())}, Data: base64.StdEncoding.EncodeToString(boc)}
	tx, err := r.decode()
	if err != nil {
		t.Fatal(err)
	}
	if tx.LT != 35290576000004 || tx.IO.In == nil || tx.IO.In.MsgType != tlb.MsgTypeInternal {
		t.Fatalf("decoded %d %+v", tx.LT, tx.IO.In)
	}
	if got := tx.IO.In.AsInternal().Amount.Nano().String(); got != "2100000000" {
		t.Fatalf("in value %s, want 2.1 TON", got)
	}
	// A mismatching id must be refused, not silently trusted.
	r.TransactionID.Hash = base64.StdEncoding.EncodeToString(make([]byte, 32))
	if _, err := r.decode(); err == nil {
		t.Fatal("hash mismatch accepted")
	}
	r.TransactionID = txID{LT: "1"}
	if _, err := r.decode(); err == nil {
		t.Fatal("lt mismatch accepted")
	}
}

func TestRunGetMethodResults(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	cl := cell.BeginCell().MustStoreUInt(0xBEEF, 16).EndCell()
	b64 := base64.StdEncoding.EncodeToString(cl.ToBOC())
	f.getters["seqno"] = map[string]any{"gas_used": 345, "exit_code": 0, "stack": [][]any{{"num", "0x2a"}}}
	f.getters["everything"] = map[string]any{"gas_used": 1, "exit_code": 1, "stack": []any{
		[]any{"num", "-0x10"},
		[]any{"cell", map[string]any{"bytes": b64, "object": map[string]any{}}},
		[]any{"slice", map[string]any{"bytes": b64}},
		[]any{"tuple", map[string]any{"@type": "tvm.tuple", "elements": []any{
			map[string]any{"@type": "tvm.stackEntryNumber", "number": map[string]any{"@type": "tvm.numberDecimal", "number": "-5"}},
			map[string]any{"@type": "tvm.stackEntryCell", "cell": map[string]any{"@type": "tvm.cell", "bytes": b64}},
			map[string]any{"@type": "tvm.stackEntryTuple", "tuple": map[string]any{"elements": []any{}}},
		}}},
		[]any{"list", map[string]any{"@type": "tvm.list", "elements": []any{
			map[string]any{"@type": "tvm.stackEntryNumber", "number": map[string]any{"number": "1"}},
			map[string]any{"@type": "tvm.stackEntryNumber", "number": map[string]any{"number": "2"}},
		}}},
		[]any{"list", map[string]any{"@type": "tvm.list", "elements": []any{}}},
	}}
	f.getters["broken"] = map[string]any{"gas_used": 1, "exit_code": 0, "stack": []any{[]any{"num", "zz"}}}
	f.getters["throws"] = map[string]any{"gas_used": 1, "exit_code": 100, "stack": []any{[]any{"num", "0x0"}}}

	res, err := c.RunGetMethod(ctx, testAddr, "seqno")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 || res.GasUsed != 345 || len(res.Stack) != 1 || res.Stack[0].(*big.Int).Int64() != 42 {
		t.Fatalf("seqno: %+v", res)
	}

	res, err = c.RunGetMethod(ctx, testAddr, "everything")
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stack
	if len(s) != 6 || s[0].(*big.Int).Int64() != -16 {
		t.Fatalf("stack %v", s)
	}
	if string(s[1].(*cell.Cell).Hash()) != string(cl.Hash()) {
		t.Fatal("cell mismatch")
	}
	if v := s[2].(*cell.Slice).MustLoadUInt(16); v != 0xBEEF {
		t.Fatalf("slice %x", v)
	}
	tup := s[3].([]any)
	if len(tup) != 3 || tup[0].(*big.Int).Int64() != -5 || string(tup[1].(*cell.Cell).Hash()) != string(cl.Hash()) || len(tup[2].([]any)) != 0 {
		t.Fatalf("tuple %v", tup)
	}
	// [1, [2, null]]
	l := s[4].([]any)
	if l[0].(*big.Int).Int64() != 1 || l[1].([]any)[0].(*big.Int).Int64() != 2 || l[1].([]any)[1] != nil {
		t.Fatalf("list %v", l)
	}
	if s[5] != nil {
		t.Fatalf("empty list %v, want nil", s[5])
	}

	var gmErr *chain.GetMethodError
	if _, err := c.RunGetMethod(ctx, testAddr, "no_such_method"); !errors.As(err, &gmErr) || gmErr.ExitCode != 11 || gmErr.Method != "no_such_method" {
		t.Fatalf("unknown method: %v", err)
	}
	if _, err := c.RunGetMethod(ctx, testAddr, "throws"); !errors.As(err, &gmErr) || gmErr.ExitCode != 100 {
		t.Fatalf("throwing method: %v", err)
	}
	if _, err := c.RunGetMethod(ctx, testAddr, "broken"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("broken stack: %v", err)
	}
	if _, err := c.RunGetMethod(ctx, testAddr, ""); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("empty method: %v", err)
	}
}

func TestRunGetMethodArgumentsRoundTrip(t *testing.T) {
	_, c := newFake(t)
	cl := cell.BeginCell().MustStoreUInt(0xABCD, 16).MustStoreRef(cell.BeginCell().MustStoreUInt(1, 1).EndCell()).EndCell()
	huge, _ := new(big.Int).SetString("-57896044618658097711785492504343953926634992332820282019728792003956564819968", 10) // -2^255
	res, err := c.RunGetMethod(context.Background(), testAddr, "echo",
		huge, 7, uint64(1<<63), cl, cl.BeginParse, testAddr)
	if err == nil || !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("a func argument must be refused as malformed, got %v", err)
	}
	sl, _ := cl.BeginParse()
	res, err = c.RunGetMethod(context.Background(), testAddr, "echo", huge, 7, uint64(1<<63), cl, sl, testAddr)
	if err != nil {
		t.Fatal(err)
	}
	s := res.Stack
	if s[0].(*big.Int).Cmp(huge) != 0 || s[1].(*big.Int).Int64() != 7 || s[2].(*big.Int).Uint64() != 1<<63 {
		t.Fatalf("numbers: %v", s[:3])
	}
	if string(s[3].(*cell.Cell).Hash()) != string(cl.Hash()) {
		t.Fatal("cell argument changed on the way")
	}
	back, err := s[4].(*cell.Slice).ToCell()
	if err != nil || string(back.Hash()) != string(cl.Hash()) {
		t.Fatal("slice argument changed on the way")
	}
	a, err := s[5].(*cell.Slice).LoadAddr()
	if err != nil || !a.Equals(testAddr) {
		t.Fatalf("address argument: %v %v", a, err)
	}
}

func TestStackDecodeRejectsDeepNesting(t *testing.T) {
	inner := `{"@type":"tvm.stackEntryNumber","number":{"number":"1"}}`
	for i := 0; i < maxStackDepth+2; i++ {
		inner = `{"@type":"tvm.stackEntryTuple","tuple":{"elements":[` + inner + `]}}`
	}
	_, err := DecodeStack([]json.RawMessage{json.RawMessage(`["tuple",{"elements":[` + inner + `]}]`)})
	if err == nil {
		t.Fatal("deep nesting accepted")
	}
	if _, err := DecodeStack([]json.RawMessage{json.RawMessage(`["num","0x` + strings.Repeat("f", 70) + `"]`)}); err == nil {
		t.Fatal("a number wider than 257 bits accepted")
	}
	if _, err := DecodeStack([]json.RawMessage{json.RawMessage(`["weird","x"]`)}); err == nil {
		t.Fatal("unknown type accepted")
	}
}

func TestSendExternal(t *testing.T) {
	f, c := newFake(t)
	ctx := context.Background()
	msg := cell.BeginCell().MustStoreUInt(0xFEED, 16).EndCell()
	h, err := c.SendExternal(ctx, msg)
	if err != nil {
		t.Fatal(err)
	}
	if string(h) != string(msg.Hash()) || len(f.sent) != 1 {
		t.Fatal("message hash or delivery wrong")
	}
	got, _ := cell.FromBOC(f.sent[0])
	if string(got.Hash()) != string(msg.Hash()) {
		t.Fatal("server received another message")
	}
	if _, err := c.SendExternal(ctx, cell.BeginCell().MustStoreUInt(1, 1).EndCell()); !errors.Is(err, chain.ErrRejected) {
		t.Fatalf("rejected message: %v", err)
	}
	if err := c.SendBOC(ctx, []byte("not a bag of cells")); !errors.Is(err, chain.ErrMalformed) {
		t.Fatalf("malformed BOC: %v", err)
	}
	var apiErr *APIError
	if err := c.SendBOC(ctx, []byte("x")); !errors.As(err, &apiErr) || apiErr.Status != 500 || apiErr.Method != "sendBoc" {
		t.Fatalf("APIError not exposed: %v", err)
	}
}

func TestRateLimitRetries(t *testing.T) {
	f, c := newFake(t)
	f.throttle.Store(3)
	if _, err := c.GetAccount(context.Background(), testAddr); err != nil {
		t.Fatalf("three 429s then success: %v", err)
	}
	if got := f.calls.Load(); got != 4 {
		t.Fatalf("%d calls, want 4", got)
	}
	f.throttle.Store(100)
	_, err := c.GetAccount(context.Background(), testAddr)
	if !errors.Is(err, ErrRateLimited) {
		t.Fatalf("persistent 429: %v", err)
	}
	if got := f.calls.Load(); got != 4+6 {
		t.Fatalf("%d calls, want 1 + 5 retries more", got-4)
	}
	// Cancellation stops the backoff.
	slow, err := New(Config{URL: c.base, APIKey: "secret", RetryBase: time.Hour, MaxBackoff: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := slow.GetAccount(ctx, testAddr); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("cancelled backoff: %v", err)
	}
}

func TestWrongAPIKey(t *testing.T) {
	f, _ := newFake(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(Config{URL: srv.URL + "/api/v2/", APIKey: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.GetAccount(context.Background(), testAddr); !errors.Is(err, ErrUnauthorized) {
		t.Fatalf("wrong key: %v", err)
	}
	if f.calls.Load() != 1 {
		t.Fatal("unauthorized must not be retried")
	}
}

func TestUnavailableAndGarbage(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) {
		case 1:
			w.WriteHeader(504)
			fmt.Fprint(w, `{"ok":false,"error":"LITE_SERVER_NETWORK timeout","code":504}`)
		case 2:
			fmt.Fprint(w, `<html>cloudflare</html>`)
		default:
			fmt.Fprint(w, `{"ok":true,"result":{"gas_used":1,"exit_code":0,"stack":"nope"}}`)
		}
	}))
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, RetryBase: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	// 504 is retried, then HTML with status 200 is a bad response.
	if _, err := c.GetAccount(context.Background(), testAddr); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("got %v", err)
	}
	if _, err := c.RunGetMethod(context.Background(), testAddr, "x"); !errors.Is(err, ErrBadResponse) {
		t.Fatalf("got %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, u := range []string{"", "ftp://x", "http://", "::"} {
		if _, err := New(Config{URL: u}); err == nil {
			t.Errorf("URL %q accepted", u)
		}
	}
	c, err := New(Config{URL: "https://toncenter.com/"})
	if err != nil || c.base != "https://toncenter.com/api/v2" {
		t.Fatalf("base %q, %v", c.base, err)
	}
}

func TestClientSideRateLimit(t *testing.T) {
	f, _ := newFake(t)
	srv := httptest.NewServer(f)
	defer srv.Close()
	c, err := New(Config{URL: srv.URL, APIKey: "secret", RequestsPerSecond: 50})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	for i := 0; i < 6; i++ {
		if _, err := c.GetAccount(context.Background(), testAddr); err != nil {
			t.Fatal(err)
		}
	}
	// Six requests at 50/s: the sixth starts at least 5 × 20 ms after the first.
	if el := time.Since(start); el < 100*time.Millisecond {
		t.Fatalf("6 requests took %v at 50 requests/s", el)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	slow, _ := New(Config{URL: srv.URL, APIKey: "secret", RequestsPerSecond: 0.001})
	_, _ = slow.GetAccount(context.Background(), testAddr) // takes the first slot
	if _, err := slow.GetAccount(ctx, testAddr); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled wait for a slot: %v", err)
	}
	if _, err := New(Config{URL: srv.URL, RequestsPerSecond: -1}); err == nil {
		t.Fatal("negative rate accepted")
	}
}

// FuzzDecodeStack: whatever a server sends, decoding returns values or an error, never panics.
func FuzzDecodeStack(f *testing.F) {
	for _, seed := range []string{
		`[["num","0x2a"]]`, `[["num","-0x10"],["cell",{"bytes":"te6cckEBAQEAAgAAAEysuc0="}]]`,
		`[["tuple",{"elements":[{"@type":"tvm.stackEntryNumber","number":{"number":"5"}}]}]]`,
		`[["list",{"elements":[{"@type":"tvm.stackEntryList","list":{"elements":[]}}]}]]`,
		`[["slice","te6cckEBAQEAAgAAAEysuc0="]]`, `[["null",null]]`, `[[1,2]]`, `[["num"]]`, `[]`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var entries []json.RawMessage
		if json.Unmarshal(data, &entries) != nil {
			return
		}
		vals, err := DecodeStack(entries)
		if err == nil && len(vals) != len(entries) {
			t.Fatalf("%d entries decoded into %d values", len(entries), len(vals))
		}
	})
}

// TestEncodeStackTonlibForms: tuples go as toncenter.com takes them, a nil as the empty list
// (neither toncenter nor tonlib has a null entry; tonlib reads the empty list as null), and TVM
// lists (pairs ending in nil) flat, so that a long list is not a deep tuple.
func TestEncodeStackTonlibForms(t *testing.T) {
	num := func(n string) string {
		return `{"@type":"tvm.stackEntryNumber","number":{"@type":"tvm.numberDecimal","number":"` + n + `"}}`
	}
	empty := `{"@type":"tvm.list","elements":[]}`
	for _, c := range []struct {
		arg  any
		want string
	}{
		{nil, `["list",` + empty + `]`},
		{[]any{1, nil, []any{-2}}, `["tuple",{"@type":"tvm.tuple","elements":[` + num("1") + `,` +
			`{"@type":"tvm.stackEntryList","list":` + empty + `},` +
			`{"@type":"tvm.stackEntryTuple","tuple":{"@type":"tvm.tuple","elements":[` + num("-2") + `]}}]}]`},
		{[]any{1, []any{2, nil}}, `["list",{"@type":"tvm.list","elements":[` + num("1") + `,` + num("2") + `]}]`},
		{[]any{[]any{3, nil}}, `["tuple",{"@type":"tvm.tuple","elements":[{"@type":"tvm.stackEntryList","list":{"@type":"tvm.list","elements":[` + num("3") + `]}}]}]`},
	} {
		enc, err := EncodeStack([]any{c.arg})
		if err != nil {
			t.Fatalf("%v: %v", c.arg, err)
		}
		got, _ := json.Marshal(enc[0])
		if string(got) != c.want {
			t.Errorf("%v encodes as\n %s\nwant\n %s", c.arg, got, c.want)
		}
	}

	var long any
	for i := 1000; i > 0; i-- {
		long = []any{i, long}
	}
	enc, err := EncodeStack([]any{long})
	if err != nil {
		t.Fatalf("a list of 1000 values: %v", err)
	}
	wire, _ := json.Marshal(enc[0])
	back, err := DecodeStack([]json.RawMessage{wire})
	if err != nil {
		t.Fatal(err)
	}
	v := back[0]
	for i := 1; i <= 1000; i++ {
		pair, ok := v.([]any)
		if !ok || len(pair) != 2 || pair[0].(*big.Int).Int64() != int64(i) {
			t.Fatalf("value %d of the list came back as %v", i, v)
		}
		v = pair[1]
	}
	if v != nil {
		t.Fatalf("the list ends in %v", v)
	}
}
