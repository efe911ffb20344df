package devnet

import (
	"bytes"
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
	"github.com/xssnick/tonutils-go/tvm/op/cellslice"
	"github.com/xssnick/tonutils-go/tvm/op/exec"
	"github.com/xssnick/tonutils-go/tvm/op/funcs"
	"github.com/xssnick/tonutils-go/tvm/op/math"
	"github.com/xssnick/tonutils-go/tvm/op/stack"
	"github.com/xssnick/tonutils-go/tvm/vm"

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

// TestRunGetMethodTupleAndNull sends a tuple (holding a number, a cell, a null, and a tuple with
// a slice) and a null through the project's toncenter client to a get-method that returns its
// arguments with what the VM saw: ISNULL of the second (-1) and TLEN of the first (4).
func TestRunGetMethodTupleAndNull(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	// DROP (the method id), DUP, ISNULL, s2 PUSH, TLEN
	code := cell.BeginCell().MustStoreUInt(0x30206E22, 32).MustStoreUInt(0x6F88, 16).EndCell()
	addr, _, err := d.Deploy(ctx, &tlb.StateInit{Code: code, Data: cell.BeginCell().EndCell()}, ton(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	client, err := toncenter.New(toncenter.Config{URL: srv.URL + "/api/v2"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := cell.BeginCell().MustStoreUInt(0xC0FFEE, 24).EndCell()
	tup := []any{big.NewInt(7), leaf, nil, []any{big.NewInt(-1), leaf.MustBeginParse()}}
	res, err := client.RunGetMethod(ctx, addr, "inspect", tup, nil)
	if err != nil {
		t.Fatalf("runGetMethod: %v", err)
	}
	s := res.Stack
	if len(s) != 4 {
		t.Fatalf("stack %v", s)
	}
	if s[1] != nil || s[2].(*big.Int).Int64() != -1 || s[3].(*big.Int).Int64() != 4 {
		t.Fatalf("the VM saw null=%v, ISNULL %v, TLEN %v", s[1], s[2], s[3])
	}
	back, ok := s[0].([]any)
	if !ok || len(back) != 4 || back[0].(*big.Int).Int64() != 7 || !sameStackValue(back[1], leaf) || back[2] != nil {
		t.Fatalf("tuple came back as %v", s[0])
	}
	if inner, ok := back[3].([]any); !ok || len(inner) != 2 || inner[0].(*big.Int).Int64() != -1 || !sameStackValue(inner[1], leaf) {
		t.Fatalf("inner tuple came back as %v", back[3])
	}
}

// TestGetMethodResultAtGasLimit: a get-method that returns a builder holding 0xAB when less gas is
// left than turning a builder into a cell costs (it spins until only ~400 of the 10M are left).
// The devnet reads results after the VM is done; reading them must not charge the VM's gas,
// whose exhaustion made a builder's EndCell panic in the HTTP handler. The answer is the
// builder's cell, as toncenter gives it, through HTTP and in-process alike.
func TestGetMethodResultAtGasLimit(t *testing.T) {
	ctx := context.Background()
	d := openMem(t)
	ops := func(list ...vm.OP) *cell.Builder {
		b := cell.BeginCell()
		for _, op := range list {
			b.MustStoreBuilder(op.Serialize())
		}
		return b
	}
	spin := ops(funcs.GASCONSUMED(), stack.PUSHINT(big.NewInt(getMethodGas-400)), math.GEQ()).EndCell()
	code := ops(stack.DROP(), stack.PUSHINT(big.NewInt(0xAB)), cellslice.NEWC(), cellslice.STU(8),
		stack.PUSHCONT(spin), exec.UNTIL()).EndCell()
	addr, _, err := d.Deploy(ctx, &tlb.StateInit{Code: code, Data: cell.BeginCell().EndCell()}, ton(1), nil)
	if err != nil {
		t.Fatal(err)
	}
	want := cell.BeginCell().MustStoreUInt(0xAB, 8).EndCell()

	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	client, err := toncenter.New(toncenter.Config{URL: srv.URL + "/api/v2"})
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.RunGetMethod(ctx, addr, "spin")
	if err != nil {
		t.Fatalf("runGetMethod over HTTP: %v", err)
	}
	if res.GasUsed < getMethodGas-500 || len(res.Stack) != 1 || !sameStackValue(res.Stack[0], want) {
		t.Fatalf("HTTP result: gas %d, stack %v", res.GasUsed, res.Stack)
	}

	run, err := d.RunGetMethod(ctx, addr, "spin")
	if err != nil {
		t.Fatal(err)
	}
	b, ok := run.Stack[0].(*cell.Builder)
	if !ok {
		t.Fatalf("in-process result %T", run.Stack[0])
	}
	if c, err := b.EndCellSpecial(false); err != nil || !bytes.Equal(c.Hash(), want.Hash()) {
		t.Fatalf("the in-process builder does not end into its cell: %v", err)
	}
}

// TestStackArgumentForms: the tuple, list and null arguments toncenter.com (ton-http-api-cpp)
// takes are taken, as the values tonlib makes of them, and what it refuses is refused, as are
// arguments past the bounds on nesting, count and tuple length.
func TestStackArgumentForms(t *testing.T) {
	num := func(n string) string {
		return `{"@type":"tvm.stackEntryNumber","number":{"@type":"tvm.numberDecimal","number":"` + n + `"}}`
	}
	boc := base64.StdEncoding.EncodeToString(cell.BeginCell().MustStoreUInt(5, 8).EndCell().ToBOC())
	five := cell.BeginCell().MustStoreUInt(5, 8).EndCell()
	nest := func(n int, inner string) string {
		for i := 0; i < n; i++ {
			inner = `{"@type":"tvm.stackEntryTuple","tuple":{"elements":[` + inner + `]}}`
		}
		return `["tuple",{"elements":[` + inner + `]}]`
	}
	many := func(n int) string {
		return `["list",{"@type":"tvm.list","elements":[` + strings.TrimSuffix(strings.Repeat(num("1")+",", n), ",") + `]}]`
	}
	type null struct{} // want: the null value
	for _, c := range []struct {
		entry string
		want  any // nil: not checked
		ok    bool
	}{
		{`["tuple",{"@type":"tvm.tuple","elements":[]}]`, []any{}, true},
		{`["tvm.Tuple",{"elements":[` + num("-7") + `]}]`, []any{big.NewInt(-7)}, true},
		{`["tuple",{"@type":"tvm.tuple","elements":[` + num("1") + `,{"@type":"tvm.stackEntryCell","cell":{"@type":"tvm.cell","bytes":"` + boc + `"}},` +
			`{"@type":"tvm.stackEntrySlice","slice":{"bytes":"` + boc + `"}},{"@type":"tvm.stackEntryList","list":{"elements":[]}},` +
			`{"@type":"tvm.stackEntryTuple","tuple":{"@type":"tvm.tuple","elements":[` + num("2") + `]}}]}]`,
			[]any{big.NewInt(1), five, five, nil, []any{big.NewInt(2)}}, true},
		{`["list",{"@type":"tvm.list","elements":[]}]`, null{}, true}, // toncenter's null
		{`["tvm.List",{"elements":[]}]`, null{}, true},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryList","list":{"@type":"tvm.list","elements":[]}}]}]`, []any{nil}, true},
		{`["list",{"@type":"tvm.list","elements":[` + num("1") + `,` + num("2") + `]}]`, []any{big.NewInt(1), []any{big.NewInt(2), nil}}, true},
		{nest(maxStackArgDepth-1, num("1")), nil, true},
		{many(maxStackArgValues - 1), nil, true},

		{`["null",null]`, nil, false}, // toncenter: "Unsupported stack entry type: null"
		{`["list",{}]`, nil, false},
		{`["tuple",[]]`, nil, false},
		{`["tuple","x"]`, nil, false},
		{`["tuple",{"@type":"tvm.list","elements":[]}]`, nil, false},
		{`["tuple",{"elements":{}}]`, nil, false},
		{`["tuple",{"elements":[["num","1"]]}]`, nil, false}, // elements are tonlib objects
		{`["tuple",{"elements":[{"number":{"number":"1"}}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryNull"}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryUnsupported"}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryNumber","number":{"number":"0x10"}}]}]`, nil, false}, // tonlib reads decimal
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryNumber","number":{"number":16}}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryNumber","number":{"number":"--1"}}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryCell","cell":{"bytes":"!!"}}]}]`, nil, false},
		{`["tuple",{"elements":[{"@type":"tvm.stackEntryCell","slice":{"bytes":"` + boc + `"}}]}]`, nil, false},
		{`["tuple",{"elements":[` + strings.TrimSuffix(strings.Repeat(num("1")+",", maxTupleLen+1), ",") + `]}]`, nil, false},
		{nest(maxStackArgDepth, num("1")), nil, false},
		{many(maxStackArgValues), nil, false},
	} {
		v, err := decodeEntryJSON(c.entry)
		if err != nil {
			t.Fatalf("bad test JSON %.80s: %v", c.entry, err)
		}
		got, err := parseStackEntry(v)
		name := c.entry
		if len(name) > 100 {
			name = name[:100] + "…"
		}
		switch {
		case !c.ok && err == nil:
			t.Errorf("%s accepted as %v", name, got)
		case c.ok && err != nil:
			t.Errorf("%s refused: %v", name, err)
		case c.want == (null{}) && got != nil:
			t.Errorf("%s read as %v, want null", name, got)
		case c.ok && c.want != nil && c.want != (null{}) && !sameStackValue(got, c.want):
			t.Errorf("%s read as %v, want %v", name, got, c.want)
		}
	}
}
