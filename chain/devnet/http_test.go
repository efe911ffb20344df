package devnet

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/toncenter"
)

func newHTTP(t *testing.T) (*Devnet, *httptest.Server, *toncenter.V2) {
	t.Helper()
	d := openMem(t)
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(srv.Close)
	return d, srv, toncenter.New(srv.URL).V2()
}

// TestToncenterClient drives the devnet only through tonutils' toncenter v2 client.
func TestToncenterClient(t *testing.T) {
	ctx := context.Background()
	d, _, api := newHTTP(t)
	alice := newTestWallet(t, d, wallet.V4R2, "alice")
	bob := newTestWallet(t, d, wallet.ConfigV5R1Final{NetworkGlobalID: DefaultGlobalID}, "bob")

	info, err := api.GetAddressInformation(ctx, alice.addr)
	if err != nil {
		t.Fatalf("getAddressInformation: %v", err)
	}
	if info.State != "uninitialized" || info.Balance.MustCoins(9).Nano().Sign() != 0 {
		t.Fatalf("fresh address: %+v", info)
	}
	if err := d.Fund(ctx, alice.addr, ton(5)); err != nil {
		t.Fatal(err)
	}
	if err := api.SendBoc(ctx, alice.transfer(t, bob.addr, 2_000_000_000, false, nil).ToBOC()); err != nil {
		t.Fatalf("sendBoc: %v", err)
	}
	wi, err := api.GetWalletInformation(ctx, alice.addr)
	if err != nil {
		t.Fatalf("getWalletInformation: %v", err)
	}
	if !wi.IsWallet || wi.WalletType != "wallet v4 r2" || wi.Seqno != 1 || wi.AccountState != "active" || wi.WalletId != int64(wallet.DefaultSubwallet) {
		t.Fatalf("wallet information: %+v", wi)
	}
	info, err = api.GetAddressInformation(ctx, alice.addr)
	if err != nil {
		t.Fatal(err)
	}
	if info.State != "active" || info.Code == nil || info.LastTransactionID == nil || info.LastTransactionID.LT == 0 {
		t.Fatalf("deployed wallet: %+v", info)
	}
	ext, err := api.GetExtendedAddressInformation(ctx, alice.addr)
	if err != nil || ext.AccountState["@type"] != "wallet.v4.accountState" || ext.AccountState["seqno"] != float64(1) || ext.LastTransactionId.LT == 0 {
		t.Fatalf("getExtendedAddressInformation: %+v %v", ext, err)
	}
	bal, err := api.GetAddressBalance(ctx, bob.addr)
	if err != nil {
		t.Fatal(err)
	}
	if bal.MustCoins(9).Nano().Cmp(ton(2)) != 0 {
		t.Fatalf("bob balance %s", bal.MustCoins(9))
	}

	res, err := api.RunGetMethod(ctx, alice.addr, "seqno", nil, nil)
	if err != nil {
		t.Fatalf("runGetMethod: %v", err)
	}
	if res.ExitCode != 0 || len(res.Stack) != 1 || res.Stack[0].(*big.Int).Int64() != 1 {
		t.Fatalf("seqno result: %+v", res)
	}
	res, err = api.RunGetMethod(ctx, alice.addr, "no_such_method", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 11 {
		t.Fatalf("unknown get-method exit code %d, want 11", res.ExitCode)
	}

	txs, err := api.GetTransactions(ctx, alice.addr, nil)
	if err != nil {
		t.Fatalf("getTransactions: %v", err)
	}
	if len(txs) != 2 {
		t.Fatalf("alice has %d transactions, want 2 (fund, transfer)", len(txs))
	}
	var tx tlb.Transaction
	if err := tlb.LoadFromCell(&tx, txs[0].Data.MustBeginParse()); err != nil {
		t.Fatalf("transaction data does not parse: %v", err)
	}
	if tx.LT != txs[0].TransactionID.LT || string(txs[0].Data.Hash()) != string(txs[0].TransactionID.Hash) {
		t.Fatalf("transaction id does not match its data")
	}
	if len(txs[0].OutMessages) != 1 || !txs[0].OutMessages[0].Destination.Addr.Equals(bob.addr) {
		t.Fatalf("out message: %+v", txs[0].OutMessages)
	}
	if txs[0].InMsg == nil || txs[0].InMsg.Source.Addr != nil {
		t.Fatalf("in message of the transfer must be external: %+v", txs[0].InMsg)
	}
	// Paging from the second transaction.
	lt, hash := int64(txs[1].TransactionID.LT), encodeB64(txs[1].TransactionID.Hash)
	older, err := api.GetTransactions(ctx, alice.addr, &toncenter.GetTransactionsV2Opts{Lt: &lt, Hash: &hash})
	if err != nil || len(older) != 1 || older[0].TransactionID.LT != uint64(lt) {
		t.Fatalf("paging: %v %d", err, len(older))
	}

	// The same start given in hex and in URL-safe base64.
	for _, h := range []string{hex.EncodeToString(txs[1].TransactionID.Hash), base64.URLEncoding.EncodeToString(txs[1].TransactionID.Hash)} {
		older, err := api.GetTransactions(ctx, alice.addr, &toncenter.GetTransactionsV2Opts{Lt: &lt, Hash: &h})
		if err != nil || len(older) != 1 || older[0].TransactionID.LT != uint64(lt) {
			t.Fatalf("paging with hash %s: %v", h, err)
		}
	}

	mc, err := api.GetMasterchainInfo(ctx)
	if err != nil {
		t.Fatalf("getMasterchainInfo: %v", err)
	}
	if mc.Last.Seqno != 2 || mc.Last.Workchain != -1 {
		t.Fatalf("masterchain info: %+v", mc.Last)
	}
	// Following the chain block by block: batch 2 is alice's transfer (her tx, then bob's).
	shards, err := api.GetShards(ctx, mc.Last.Seqno)
	if err != nil || len(shards) != 1 || shards[0].Workchain != 0 {
		t.Fatalf("shards: %v %v", shards, err)
	}
	one := 1
	bt, err := api.GetBlockTransactions(ctx, 0, shards[0].Shard, shards[0].Seqno, &toncenter.GetBlockTransactionsV2Options{Count: &one})
	if err != nil || len(bt.Transactions) != 1 || !bt.Incomplete || bt.Transactions[0].LT != txs[0].TransactionID.LT {
		t.Fatalf("getBlockTransactions: %+v %v", bt, err)
	}
	afterLT := bt.Transactions[0].LT
	bx, err := api.GetBlockTransactionsExt(ctx, 0, shards[0].Shard, shards[0].Seqno, &toncenter.GetBlockTransactionsV2Options{AfterLt: &afterLT, AfterHash: bt.Transactions[0].Hash})
	if err != nil || len(bx.Transactions) != 1 || bx.Incomplete || !bx.Transactions[0].InMsg.Source.Addr.Equals(alice.addr) {
		t.Fatalf("getBlockTransactionsExt: %+v %v", bx, err)
	}
	if mcTxs, err := api.GetBlockTransactions(ctx, -1, shards[0].Shard, shards[0].Seqno, nil); err != nil || len(mcTxs.Transactions) != 0 {
		t.Fatalf("masterchain block of the devnet has transactions: %+v %v", mcTxs, err)
	}
	if _, err := api.GetShards(ctx, mc.Last.Seqno+1); err == nil {
		t.Fatalf("shards of a future block")
	}

	cfg, err := api.GetConfigParam(ctx, 20, nil)
	if err != nil || cfg == nil {
		t.Fatalf("getConfigParam: %v", err)
	}
}

func encodeB64(b []byte) string { return jsonString(b) }

func jsonString(b []byte) string {
	s, _ := json.Marshal(b)
	return strings.Trim(string(s), `"`)
}

func postJSON(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	return resp.StatusCode, out
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("response is not JSON: %s", raw)
	}
	return resp.StatusCode, out
}

func TestHTTPErrors(t *testing.T) {
	_, srv, _ := newHTTP(t)
	cases := []struct {
		name, method, path, body string
		code                     int
		errPart                  string
	}{
		{"bad address", "GET", "/api/v2/getAddressInformation?address=nope", "", 400, "Incorrect address"},
		{"missing address", "GET", "/api/v2/getAddressInformation", "", 400, "missing parameter"},
		{"unknown method", "GET", "/api/v2/noSuchMethod", "", 404, "unknown method"},
		{"bad base64", "POST", "/api/v2/sendBoc", `{"boc":"%%%"}`, 400, "base64"},
		{"bad boc", "POST", "/api/v2/sendBoc", `{"boc":"AAAA"}`, 400, "BOC"},
		{"internal msg", "POST", "/api/v2/sendBoc", `{"boc":"te6cckEBAQEAAgAAAEysuc0="}`, 400, ""},
		{"malformed json", "POST", "/api/v2/sendBoc", `{"boc":`, 400, "malformed JSON"},
		{"bad stack", "POST", "/api/v2/runGetMethod", `{"address":"0:` + strings.Repeat("0", 64) + `","method":"seqno","stack":[["num","zz"]]}`, 400, "bad number"},
		{"bad limit", "GET", "/api/v2/getTransactions?address=0:" + strings.Repeat("0", 64) + "&limit=0", "", 400, "limit"},
		{"tx not found", "GET", "/api/v2/getTransactions?address=0:" + strings.Repeat("0", 64) + "&lt=5", "", 404, "not found"},
		{"fund zero", "POST", "/devnet/fund", `{"address":"0:` + strings.Repeat("0", 64) + `","amount":"0"}`, 400, "positive"},
		{"fund junk", "POST", "/devnet/fund", `{"address":"0:` + strings.Repeat("0", 64) + `","amount":"1.5"}`, 400, "integer"},
		{"advance zero", "POST", "/devnet/time/advance", `{"seconds":0}`, 400, "seconds"},
		{"wrong path", "GET", "/elsewhere", "", 404, "Not Found"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var code int
			var out map[string]any
			if c.method == "GET" {
				code, out = getJSON(t, srv.URL+c.path)
			} else {
				code, out = postJSON(t, srv.URL+c.path, c.body)
			}
			if code != c.code || out["ok"] != false {
				t.Fatalf("got %d %v, want %d", code, out, c.code)
			}
			if msg, _ := out["error"].(string); !strings.Contains(msg, c.errPart) {
				t.Fatalf("error %q lacks %q", msg, c.errPart)
			}
			if out["code"].(float64) != float64(c.code) {
				t.Fatalf("code field %v", out["code"])
			}
		})
	}
	// A browser's preflight.
	req, _ := http.NewRequest(http.MethodOptions, srv.URL+"/api/v2/sendBoc", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent || resp.Header.Get("Access-Control-Allow-Origin") != "*" {
		t.Fatalf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	// The server still answers after all that.
	if code, out := getJSON(t, srv.URL+"/api/v2/getMasterchainInfo"); code != 200 || out["ok"] != true {
		t.Fatalf("server broken after bad input: %d %v", code, out)
	}
}

func TestJSONRPC(t *testing.T) {
	ctx := context.Background()
	d, srv, _ := newHTTP(t)
	a := newTestWallet(t, d, wallet.V4R2, "rpc")
	if err := d.Fund(ctx, a.addr, ton(1)); err != nil {
		t.Fatal(err)
	}
	code, out := postJSON(t, srv.URL+"/api/v2/jsonRPC", `{"id":"7","jsonrpc":"2.0","method":"getAddressBalance","params":{"address":"`+a.addr.String()+`"}}`)
	if code != 200 || out["ok"] != true || out["result"] != "1000000000" || out["id"] != "7" || out["jsonrpc"] != "2.0" {
		t.Fatalf("jsonRPC: %d %v", code, out)
	}
	code, out = postJSON(t, srv.URL+"/api/v2/jsonRPC", `{"id":1,"jsonrpc":"2.0","method":"nope","params":{}}`)
	if code != 404 || out["ok"] != false || out["id"] != float64(1) {
		t.Fatalf("jsonRPC unknown method: %d %v", code, out)
	}
	code, out = postJSON(t, srv.URL+"/api/v2/jsonRPC", `{"id":2,"jsonrpc":"2.0","method":"runGetMethod","params":{"address":"`+a.addr.String()+`","method":"seqno","stack":[]}}`)
	if code != 200 || out["ok"] != true {
		t.Fatalf("jsonRPC runGetMethod: %d %v", code, out)
	}
	if ec := out["result"].(map[string]any)["exit_code"]; ec != float64(ExitCodeNotActive) {
		t.Fatalf("get-method on uninit account: exit code %v", ec)
	}
}

func TestDevnetEndpoints(t *testing.T) {
	d, srv, _ := newHTTP(t)
	a := newTestWallet(t, d, wallet.V4R2, "faucet-user")
	code, out := postJSON(t, srv.URL+"/devnet/fund", `{"address":"`+a.addr.String()+`","amount":"3000000000"}`)
	if code != 200 || out["ok"] != true {
		t.Fatalf("fund: %d %v", code, out)
	}
	if r := out["result"].(map[string]any); r["balance"] != "3000000000" || r["state"] != "uninitialized" {
		t.Fatalf("fund result: %v", r)
	}
	_, out = getJSON(t, srv.URL+"/devnet/info")
	if info := out["result"].(map[string]any); info["network"] != "devnet" || info["global_id"] != float64(DefaultGlobalID) || info["faucet"] != FaucetAddress.String() || info["seqno"] != float64(1) {
		t.Fatalf("info: %v", out)
	}
	_, out = getJSON(t, srv.URL+"/devnet/time")
	before := out["result"].(map[string]any)["now"].(float64)
	if before != float64(fixedClock().Unix()) {
		t.Fatalf("time %v", before)
	}
	code, out = postJSON(t, srv.URL+"/devnet/time/advance", `{"seconds":3600}`)
	if code != 200 || out["result"].(map[string]any)["now"].(float64) != before+3600 {
		t.Fatalf("advance: %d %v", code, out)
	}
	if d.Now().Unix() != int64(before)+3600 {
		t.Fatalf("devnet clock did not move")
	}
}

func TestWalletInformationV5(t *testing.T) {
	ctx := context.Background()
	d, _, api := newHTTP(t)
	w := newTestWallet(t, d, wallet.ConfigV5R1Final{NetworkGlobalID: DefaultGlobalID}, "v5")
	if err := d.Fund(ctx, w.addr, ton(1)); err != nil {
		t.Fatal(err)
	}
	wi, err := api.GetWalletInformation(ctx, w.addr)
	if err != nil || wi.IsWallet || wi.AccountState != "uninitialized" {
		t.Fatalf("undeployed: %+v %v", wi, err)
	}
	if _, err := d.Send(ctx, w.transfer(t, w.addr, 0, false, nil)); err != nil {
		t.Fatal(err)
	}
	wi, err = api.GetWalletInformation(ctx, w.addr)
	if err != nil || !wi.IsWallet || wi.WalletType != "wallet v5 r1" || wi.Seqno != 1 || wi.WalletId == 0 {
		t.Fatalf("deployed v5: %+v %v", wi, err)
	}
}
