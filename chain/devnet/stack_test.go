package devnet

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/toncenter"
)

// TestParseNum: a stack number is what both toncenter v2 implementations read as one (the Python
// ton-http-api's int(s, 0) and ton-http-api-cpp's td::string_to_int256): decimal, or 0x and hex
// digits, with at most one leading minus. Anything else is refused, never reinterpreted.
func TestParseNum(t *testing.T) {
	huge, _ := new(big.Int).SetString("1"+strings.Repeat("0", 64), 16)
	cases := []struct {
		in   string
		want *big.Int // nil: refused
	}{
		{"0", big.NewInt(0)},
		{"-0", big.NewInt(0)},
		{"00", big.NewInt(0)},
		{"5", big.NewInt(5)},
		{"-5", big.NewInt(-5)},
		{"123456789012345678901234567890", func() *big.Int { n, _ := new(big.Int).SetString("123456789012345678901234567890", 10); return n }()},
		{"0x1f", big.NewInt(31)},
		{"0x1F", big.NewInt(31)},
		{"0x001f", big.NewInt(31)},
		{"-0x1f", big.NewInt(-31)},
		{"-0x8000", big.NewInt(-0x8000)},
		{"0x1" + strings.Repeat("0", 64), huge}, // too big for the VM, refused there with its own error
		{"", nil},
		{"-", nil},
		{"--5", nil},
		{"-0x-5", nil},
		{"0x-5", nil}, // tonutils-go's toncenter client writes negatives so; the Python toncenter refuses it
		{"0x", nil},
		{"-0x", nil},
		{"0X1f", nil},
		{"+5", nil},
		{"+0x5", nil},
		{" 5", nil},
		{"5 ", nil},
		{"1_000", nil},
		{"007", nil},
		{"-007", nil},
		{"0b101", nil},
		{"0o17", nil},
		{"1.5", nil},
		{"1e3", nil},
		{"0x1g", nil},
		{"zz", nil},
		{"٣", nil}, // a non-ASCII digit
	}
	for _, c := range cases {
		got, err := parseNum(c.in)
		switch {
		case c.want == nil && err == nil:
			t.Errorf("parseNum(%q) = %v, want refused", c.in, got)
		case c.want != nil && err != nil:
			t.Errorf("parseNum(%q): %v, want %v", c.in, err, c.want)
		case c.want != nil && got.Cmp(c.want) != 0:
			t.Errorf("parseNum(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

// TestStackNumberErrors: a refused number is a 400 that names the entry and the syntax, in the
// POST JSON form (string and JSON number values) and in the GET form.
func TestStackNumberErrors(t *testing.T) {
	_, srv, _ := newHTTP(t)
	addr := "0:" + strings.Repeat("0", 64)
	for _, entry := range []string{`["num","--5"]`, `["num","-0x-5"]`, `["num","0x-5"]`, `["int","+5"]`, `["num",1.5]`, `["num",1e3]`} {
		code, out := postJSON(t, srv.URL+"/api/v2/runGetMethod", `{"address":"`+addr+`","method":"seqno","stack":[["num","1"],`+entry+`]}`)
		msg, _ := out["error"].(string)
		if code != 400 || out["ok"] != false || !strings.Contains(msg, "stack entry 1") || !strings.Contains(msg, "0x") {
			t.Errorf("POST %s: %d %v", entry, code, out)
		}
	}
	code, out := getJSON(t, srv.URL+"/api/v2/runGetMethod?address="+addr+"&method=seqno&stack="+`[["num","--5"]]`)
	if code != 400 || !strings.Contains(out["error"].(string), "stack entry 0") {
		t.Errorf("GET --5: %d %v", code, out)
	}
	// The accepted forms still reach the VM (an account without code answers exit code -13).
	code, out = postJSON(t, srv.URL+"/api/v2/runGetMethod", `{"address":"`+addr+`","method":"seqno","stack":[["num","-5"],["num","-0x5"],["num",7],["number","0x0"]]}`)
	if code != 200 || out["result"].(map[string]any)["exit_code"] != float64(ExitCodeNotActive) {
		t.Errorf("accepted numbers: %d %v", code, out)
	}
}

// doubleRefDAG is a cell DAG of depth n in which every cell refers to the next one twice: n+1
// distinct cells, a BOC of a few dozen bytes, but a tree of 2^(n+1)-1 cells when expanded.
func doubleRefDAG(n int) *cell.Cell {
	c := cell.BeginCell().EndCell()
	for i := 0; i < n; i++ {
		c = cell.BeginCell().MustStoreUInt(uint64(i), 8).MustStoreRef(c).MustStoreRef(c).EndCell()
	}
	return c
}

// renderWithin renders a stack value and fails when that takes longer than d.
func renderWithin(t *testing.T, v any, d time.Duration) any {
	t.Helper()
	type result struct {
		v   any
		err error
	}
	done := make(chan result, 1)
	go func() { v, err := renderStackEntry(v); done <- result{v, err} }()
	select {
	case r := <-done:
		if r.err != nil {
			t.Fatalf("render: %v", r.err)
		}
		return r.v
	case <-time.After(d):
		t.Fatalf("rendering took more than %v", d)
	}
	return nil
}

// TestRenderCellDAG: a get-method result holding a small BOC whose cells share references (here
// 105 bytes, depth 22) renders at once; its "bytes" are complete and its "object" tree, which
// would have 2^23-1 nodes, is replaced by the truncation marker.
func TestRenderCellDAG(t *testing.T) {
	dag := doubleRefDAG(22)
	if n := len(dag.ToBOC()); n > 128 {
		t.Fatalf("the DAG's BOC is %d bytes", n)
	}
	entry := renderWithin(t, dag, 2*time.Second).([]any)
	obj := entry[1].(map[string]any)
	raw, _ := base64.StdEncoding.DecodeString(obj["bytes"].(string))
	if c, err := cell.FromBOC(raw); err != nil || string(c.Hash()) != string(dag.Hash()) {
		t.Fatalf("bytes do not hold the cell: %v", err)
	}
	want := map[string]any{"truncated": true, "distinct_cells": 23, "max_tree_cells": maxCellObjectNodes}
	if got := obj["object"]; canonicalJSON(t, got) != canonicalJSON(t, want) {
		t.Fatalf("object %v, want %v", got, want)
	}
	// A slice of it too (slices render as cells).
	renderWithin(t, dag.MustBeginParse(), 2*time.Second)

	// A tree at the bound renders whole: depth 12 is 2^13-1 nodes.
	small := doubleRefDAG(12)
	wire, err := json.Marshal(renderWithin(t, small, 2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(wire), `"refs"`); n != 1<<13-1 {
		t.Fatalf("depth 12 rendered %d nodes, want %d", n, 1<<13-1)
	}
	var decoded []any
	_ = json.Unmarshal(wire, &decoded)
	if got := countObjectNodes(decoded[1].(map[string]any)["object"].(map[string]any)); got != 1<<13-1 {
		t.Fatalf("object tree has %d nodes", got)
	}
	// One more level is past the bound.
	if obj := renderWithin(t, doubleRefDAG(13), 2*time.Second).([]any)[1].(map[string]any)["object"].(map[string]any); obj["truncated"] != true {
		t.Fatalf("depth 13 not truncated: %v", obj)
	}
}

func countObjectNodes(o map[string]any) int {
	n := 1
	for _, r := range o["refs"].([]any) {
		n += countObjectNodes(r.(map[string]any))
	}
	return n
}

// TestRunGetMethodCellDAG sends the DAG through runGetMethod to a contract that returns its
// arguments (code: DROP the method id) and reads it back with the project's toncenter client.
func TestRunGetMethodCellDAG(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	echo := cell.BeginCell().MustStoreUInt(0x30, 8).EndCell() // DROP
	addr, _, err := d.Deploy(ctx, &tlb.StateInit{Code: echo, Data: cell.BeginCell().EndCell()}, ton(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	dag := doubleRefDAG(22)
	client, err := toncenter.New(toncenter.Config{URL: srv.URL + "/api/v2"})
	if err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := client.RunGetMethod(cctx, addr, "anything", dag)
	if err != nil {
		t.Fatalf("runGetMethod: %v", err)
	}
	if res.ExitCode != 0 || len(res.Stack) != 1 {
		t.Fatalf("result %+v", res)
	}
	if c, ok := res.Stack[0].(*cell.Cell); !ok || string(c.Hash()) != string(dag.Hash()) {
		t.Fatalf("echoed %T, not the DAG", res.Stack[0])
	}
}
