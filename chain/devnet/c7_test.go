package devnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TestGetMethodContext deploys testdata/c7probe (compiled from c7probe.tolk by c7probe.js) and
// checks what its getters see in c7 against the devnet's own state and against @ton/sandbox's
// answers for the config-derived values.
func TestGetMethodContext(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	raw, err := os.ReadFile("testdata/c7probe.boc")
	if err != nil {
		t.Fatal(err)
	}
	code, err := cell.FromBOC(raw)
	if err != nil {
		t.Fatal(err)
	}
	addr, txs, err := d.Deploy(ctx, &tlb.StateInit{Code: code, Data: cell.BeginCell().EndCell()}, ton(2.5), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(txs) != 1 || txs[0].EndStatus != tlb.AccountStatusActive {
		t.Fatalf("deploy: %d transactions", len(txs))
	}
	raw, err = os.ReadFile("testdata/c7probe_sandbox.json")
	if err != nil {
		t.Fatal(err)
	}
	var sandbox map[string]string
	if err := json.Unmarshal(raw, &sandbox); err != nil {
		t.Fatal(err)
	}
	num := func(method string, args ...any) *big.Int {
		t.Helper()
		r, err := d.RunGetMethod(ctx, addr, method, args...)
		if err != nil {
			t.Fatalf("%s: %v", method, err)
		}
		return r.Stack[0].(*big.Int)
	}
	for _, m := range []string{"probe_now", "probe_code_hash", "probe_has_config", "probe_gas_fee", "probe_fwd_fee", "probe_storage_fee"} {
		if got := num(m).String(); got != sandbox[m] {
			t.Errorf("%s: devnet %s, sandbox %s", m, got, sandbox[m])
		}
	}
	if got := num("probe_balance"); got.Cmp(balance(t, d, addr)) != 0 {
		t.Errorf("probe_balance %s, account balance %s", got, balance(t, d, addr))
	}
	r, err := d.RunGetMethod(ctx, addr, "probe_address")
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.Stack[0].(*cell.Slice).LoadAddr()
	if err != nil || !got.Equals(addr) || got.StringRaw() != sandbox["probe_address"] {
		t.Errorf("probe_address %v (%v), deployed at %s, sandbox %s", got, err, addr.StringRaw(), sandbox["probe_address"])
	}

	// Arguments of each kind, results bottom of the stack first.
	arg := cell.BeginCell().MustStoreUInt(7, 8).EndCell()
	r, err = d.RunGetMethod(ctx, addr, "probe_args", 21, arg, cell.BeginCell().MustStoreUInt(1, 13).ToSlice())
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Stack) != 3 || r.Stack[0].(*big.Int).Int64() != 42 ||
		r.Stack[1].(*big.Int).Cmp(new(big.Int).SetBytes(arg.Hash())) != 0 || r.Stack[2].(*big.Int).Int64() != 13 {
		t.Fatalf("probe_args: %v", r.Stack)
	}
	r, err = d.RunGetMethod(ctx, addr, "probe_tuple")
	if err != nil {
		t.Fatal(err)
	}
	tup, ok := r.Stack[0].([]any)
	if !ok || len(tup) != 3 || tup[0].(*big.Int).Int64() != 1 || tup[2] != nil {
		t.Fatalf("probe_tuple: %#v", r.Stack)
	}
	if inner, ok := tup[1].([]any); !ok || len(inner) != 2 || inner[0].(*big.Int).Int64() != -2 || inner[1] != nil {
		t.Fatalf("probe_tuple inner: %#v", tup[1])
	}

	// The same through the HTTP API: input entries of each kind, output in toncenter's shapes.
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	b64 := func(c *cell.Cell) string { return base64.StdEncoding.EncodeToString(c.ToBOC()) }
	body := `{"address":"` + addr.String() + `","method":"probe_args","stack":[["num","0x15"],["tvm.Cell","` + b64(arg) +
		`"],["tvm.Slice","` + b64(cell.BeginCell().MustStoreUInt(1, 13).EndCell()) + `"]]}`
	code2, out := postJSON(t, srv.URL+"/api/v2/runGetMethod", body)
	res, _ := out["result"].(map[string]any)
	if code2 != 200 || res["exit_code"] != float64(0) {
		t.Fatalf("HTTP probe_args: %d %v", code2, out)
	}
	stack := res["stack"].([]any)
	if first := stack[0].([]any); first[0] != "num" || first[1] != "0x2a" {
		t.Fatalf("HTTP probe_args stack: %v", stack)
	}
	_, out = postJSON(t, srv.URL+"/api/v2/runGetMethod", `{"address":"`+addr.String()+`","method":"probe_tuple","stack":[]}`)
	// [-2, null] is a pair ending in null, which tonlib (and so toncenter) reports as the list (-2).
	want := `[["tuple",{"@type":"tvm.tuple","elements":[` +
		`{"@type":"tvm.stackEntryNumber","number":{"@type":"tvm.numberDecimal","number":"1"}},` +
		`{"@type":"tvm.stackEntryList","list":{"@type":"tvm.list","elements":[` +
		`{"@type":"tvm.stackEntryNumber","number":{"@type":"tvm.numberDecimal","number":"-2"}}]}},` +
		`{"@type":"tvm.stackEntryList","list":{"@type":"tvm.list","elements":[]}}]}]]`
	if got := canonicalJSON(t, out["result"].(map[string]any)["stack"]); got != canonicalJSON(t, want) {
		t.Fatalf("HTTP probe_tuple stack:\n got %s\nwant %s", got, canonicalJSON(t, want))
	}
	_, out = postJSON(t, srv.URL+"/api/v2/runGetMethod", `{"address":"`+addr.String()+`","method":"probe_address","stack":[]}`)
	entry := out["result"].(map[string]any)["stack"].([]any)[0].([]any)
	obj := entry[1].(map[string]any)
	rawCell, _ := base64.StdEncoding.DecodeString(obj["bytes"].(string))
	c, err := cell.FromBOC(rawCell)
	if entry[0] != "cell" || err != nil || obj["object"].(map[string]any)["data"].(map[string]any)["len"] != float64(267) {
		t.Fatalf("HTTP probe_address entry: %v", entry)
	}
	if a, err := c.MustBeginParse().LoadAddr(); err != nil || !a.Equals(addr) {
		t.Fatalf("HTTP probe_address cell holds %v", a)
	}
}

func canonicalJSON(t *testing.T, v any) string {
	t.Helper()
	if s, ok := v.(string); ok {
		if err := json.Unmarshal([]byte(s), &v); err != nil {
			t.Fatal(err)
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
