package toncenter

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// toncenter v2 stacks. Requests carry [type, value] pairs: ["num", "0x…" or "-0x…"], ["tvm.Cell",
// base64 BOC], ["tvm.Slice", base64 BOC], tuples as ["tuple", {"@type": "tvm.tuple", "elements":
// [tonlib entries]}] and TVM lists (nested pairs ending in nil) flat as ["list", {"@type":
// "tvm.list", "elements": […]}], which toncenter.com (ton-http-api-cpp) and the devnet accept; the
// Python ton-http-api takes only numbers, cells and slices. Neither toncenter nor tonlib has a null
// entry: tonlib reads a list back into nested pairs ending in null, so the empty list is null, and
// a nil argument goes as ["list", {"@type": "tvm.list", "elements": []}] (inside a tuple as an
// empty tvm.stackEntryList). Responses carry ["num", "0x…" or "-0x…"], ["cell", {"bytes": …}],
// ["slice", {"bytes": …}], ["tuple", {"elements": …}], ["list", {"elements": …}] where tuple and
// list elements are tonlib objects ({"@type": "tvm.stackEntryNumber", "number": {"number": "123"}}
// and so on).

// maxStackDepth bounds tuple nesting when decoding, so a hostile server cannot exhaust the stack.
const maxStackDepth = 64

var errStackType = errors.New("unsupported stack value")

// EncodeStack converts get-method arguments into toncenter's request stack.
func EncodeStack(args []any) ([]any, error) {
	out := make([]any, 0, len(args))
	for i, a := range args {
		e, err := encodeEntry(a, 0)
		if err != nil {
			return nil, fmt.Errorf("argument %d: %w", i, err)
		}
		out = append(out, e)
	}
	return out, nil
}

func encodeEntry(a any, depth int) ([]any, error) {
	if depth > maxStackDepth {
		return nil, fmt.Errorf("tuple nested deeper than %d: %w", maxStackDepth, chain.ErrMalformed)
	}
	if n, ok := toBigInt(a); ok {
		if n == nil {
			return nil, fmt.Errorf("nil *big.Int: %w", chain.ErrMalformed)
		}
		return []any{"num", hexNum(n)}, nil
	}
	switch v := a.(type) {
	case nil:
		return []any{"list", emptyList()}, nil
	case *cell.Cell:
		if v == nil {
			return nil, fmt.Errorf("nil cell: %w", chain.ErrMalformed)
		}
		return []any{"tvm.Cell", base64.StdEncoding.EncodeToString(v.ToBOCWithFlags(false))}, nil
	case *cell.Slice:
		if v == nil {
			return nil, fmt.Errorf("nil slice: %w", chain.ErrMalformed)
		}
		c, err := v.Copy().ToCell()
		if err != nil {
			return nil, fmt.Errorf("failed to serialize slice: %w", err)
		}
		return []any{"tvm.Slice", base64.StdEncoding.EncodeToString(c.ToBOCWithFlags(false))}, nil
	case *address.Address:
		if v == nil {
			return nil, fmt.Errorf("nil address: %w", chain.ErrMalformed)
		}
		c := cell.BeginCell().MustStoreAddr(v).EndCell()
		return []any{"tvm.Slice", base64.StdEncoding.EncodeToString(c.ToBOCWithFlags(false))}, nil
	case []any:
		// A TVM list, nested pairs [a, [b, null]], goes flat as tonlib reports it and reads it
		// back into the same pairs, so a long one is not a deep tuple.
		vals, isList := listValues(v)
		if !isList {
			vals = v
		}
		elems := make([]any, 0, len(vals))
		for _, x := range vals {
			e, err := tonlibEntry(x, depth+1)
			if err != nil {
				return nil, err
			}
			elems = append(elems, e)
		}
		if isList {
			return []any{"list", map[string]any{"@type": "tvm.list", "elements": elems}}, nil
		}
		return []any{"tuple", map[string]any{"@type": "tvm.tuple", "elements": elems}}, nil
	}
	return nil, fmt.Errorf("%w %T: %w", errStackType, a, chain.ErrMalformed)
}

// tonlibEntry renders one value as a tonlib tvm.StackEntry object (the form inside tuples).
func tonlibEntry(a any, depth int) (map[string]any, error) {
	pair, err := encodeEntry(a, depth)
	if err != nil {
		return nil, err
	}
	switch pair[0] {
	case "num":
		n, _ := toBigInt(a)
		return map[string]any{"@type": "tvm.stackEntryNumber", "number": map[string]any{"@type": "tvm.numberDecimal", "number": n.String()}}, nil
	case "tvm.Cell":
		return map[string]any{"@type": "tvm.stackEntryCell", "cell": map[string]any{"@type": "tvm.cell", "bytes": pair[1]}}, nil
	case "tvm.Slice":
		return map[string]any{"@type": "tvm.stackEntrySlice", "slice": map[string]any{"@type": "tvm.slice", "bytes": pair[1]}}, nil
	case "tuple":
		return map[string]any{"@type": "tvm.stackEntryTuple", "tuple": pair[1]}, nil
	case "list":
		return map[string]any{"@type": "tvm.stackEntryList", "list": pair[1]}, nil
	}
	return nil, fmt.Errorf("%w %q", errStackType, pair[0])
}

// emptyList is tonlib's empty tvm.list, which is null on the TVM stack.
func emptyList() map[string]any {
	return map[string]any{"@type": "tvm.list", "elements": []any{}}
}

// listValues returns the values of the TVM list v, nested pairs ending in nil ([a, [b, nil]]
// holds a and b), and false when v is not one. It is the inverse of listToPairs.
func listValues(v []any) ([]any, bool) {
	var vals []any
	for {
		if len(v) != 2 {
			return nil, false
		}
		vals = append(vals, v[0])
		switch next := v[1].(type) {
		case nil:
			return vals, true
		case []any:
			v = next
		default:
			return nil, false
		}
	}
}

func toBigInt(a any) (*big.Int, bool) {
	switch v := a.(type) {
	case *big.Int:
		return v, true
	case int:
		return big.NewInt(int64(v)), true
	case int8:
		return big.NewInt(int64(v)), true
	case int16:
		return big.NewInt(int64(v)), true
	case int32:
		return big.NewInt(int64(v)), true
	case int64:
		return big.NewInt(v), true
	case uint:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint8:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint16:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint32:
		return new(big.Int).SetUint64(uint64(v)), true
	case uint64:
		return new(big.Int).SetUint64(v), true
	}
	return nil, false
}

func hexNum(n *big.Int) string {
	if n.Sign() < 0 {
		return "-0x" + new(big.Int).Neg(n).Text(16)
	}
	return "0x" + n.Text(16)
}

// DecodeStack converts toncenter's response stack into tonutils-go values (bottom first).
func DecodeStack(entries []json.RawMessage) ([]any, error) {
	out := make([]any, 0, len(entries))
	for i, raw := range entries {
		v, err := decodePair(raw, 0)
		if err != nil {
			return nil, fmt.Errorf("stack entry %d: %w", i, err)
		}
		out = append(out, v)
	}
	return out, nil
}

func decodePair(raw json.RawMessage, depth int) (any, error) {
	var pair []json.RawMessage
	if err := json.Unmarshal(raw, &pair); err != nil || len(pair) != 2 {
		return nil, fmt.Errorf("want a [type, value] pair, got %.100s", raw)
	}
	var typ string
	if err := json.Unmarshal(pair[0], &typ); err != nil {
		return nil, fmt.Errorf("entry type is not a string: %.100s", pair[0])
	}
	val := pair[1]
	switch typ {
	case "num", "number", "int":
		return decodeNumber(val)
	case "cell", "tvm.Cell":
		return decodeCellValue(val)
	case "slice", "tvm.Slice":
		c, err := decodeCellValue(val)
		if err != nil {
			return nil, err
		}
		return c.BeginParse()
	case "null":
		return nil, nil
	case "tuple", "list":
		var t struct {
			Elements []json.RawMessage `json:"elements"`
		}
		if err := json.Unmarshal(val, &t); err != nil {
			return nil, fmt.Errorf("bad %s: %w", typ, err)
		}
		elems, err := decodeTonlibEntries(t.Elements, depth+1)
		if err != nil {
			return nil, err
		}
		if typ == "list" {
			return listToPairs(elems), nil
		}
		return elems, nil
	}
	return nil, fmt.Errorf("%w type %q", errStackType, typ)
}

// listToPairs turns toncenter's flattened TVM list back into what TVM holds: nested pairs
// [a, [b, [c, null]]], with the empty list being null.
func listToPairs(elems []any) any {
	var l any
	for i := len(elems) - 1; i >= 0; i-- {
		l = []any{elems[i], l}
	}
	return l
}

func decodeTonlibEntries(raws []json.RawMessage, depth int) ([]any, error) {
	if depth > maxStackDepth {
		return nil, fmt.Errorf("tuple nested deeper than %d", maxStackDepth)
	}
	out := make([]any, 0, len(raws))
	for _, raw := range raws {
		v, err := decodeTonlibEntry(raw, depth)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

type tonlibEntryJSON struct {
	Type   string `json:"@type"`
	Number *struct {
		Number json.RawMessage `json:"number"`
	} `json:"number"`
	Cell *struct {
		Bytes string `json:"bytes"`
	} `json:"cell"`
	Slice *struct {
		Bytes string `json:"bytes"`
	} `json:"slice"`
	Tuple *struct {
		Elements []json.RawMessage `json:"elements"`
	} `json:"tuple"`
	List *struct {
		Elements []json.RawMessage `json:"elements"`
	} `json:"list"`
}

func decodeTonlibEntry(raw json.RawMessage, depth int) (any, error) {
	if len(raw) > 0 && raw[0] == '[' { // some servers nest [type, value] pairs inside tuples
		return decodePair(raw, depth)
	}
	var e tonlibEntryJSON
	if err := json.Unmarshal(raw, &e); err != nil {
		return nil, fmt.Errorf("bad tuple element %.100s: %w", raw, err)
	}
	switch e.Type {
	case "tvm.stackEntryNumber":
		if e.Number == nil {
			return nil, fmt.Errorf("number entry without number")
		}
		return decodeNumber(e.Number.Number)
	case "tvm.stackEntryCell":
		if e.Cell == nil {
			return nil, fmt.Errorf("cell entry without cell")
		}
		return decodeBOC(e.Cell.Bytes)
	case "tvm.stackEntrySlice":
		if e.Slice == nil {
			return nil, fmt.Errorf("slice entry without slice")
		}
		c, err := decodeBOC(e.Slice.Bytes)
		if err != nil {
			return nil, err
		}
		return c.BeginParse()
	case "tvm.stackEntryTuple":
		if e.Tuple == nil {
			return nil, fmt.Errorf("tuple entry without tuple")
		}
		return decodeTonlibEntries(e.Tuple.Elements, depth+1)
	case "tvm.stackEntryList":
		if e.List == nil {
			return nil, fmt.Errorf("list entry without list")
		}
		elems, err := decodeTonlibEntries(e.List.Elements, depth+1)
		if err != nil {
			return nil, err
		}
		return listToPairs(elems), nil
	case "tvm.stackEntryNull":
		return nil, nil
	}
	return nil, fmt.Errorf("%w type %q", errStackType, e.Type)
}

// decodeNumber accepts "0x…", "-0x…", decimal strings and JSON numbers.
func decodeNumber(raw json.RawMessage) (*big.Int, error) {
	s := strings.TrimSpace(string(raw))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, fmt.Errorf("bad number %.100s", raw)
		}
	}
	neg := strings.HasPrefix(s, "-")
	digits := strings.TrimPrefix(s, "-")
	base := 10
	if strings.HasPrefix(digits, "0x") || strings.HasPrefix(digits, "0X") {
		digits, base = digits[2:], 16
	}
	n, ok := new(big.Int).SetString(digits, base)
	if !ok || digits == "" || strings.HasPrefix(digits, "-") || strings.HasPrefix(digits, "+") {
		return nil, fmt.Errorf("bad number %q", s)
	}
	if neg {
		n.Neg(n)
	}
	if n.BitLen() > 256 {
		return nil, fmt.Errorf("number %q does not fit a TVM integer", s)
	}
	return n, nil
}

// decodeCellValue accepts a base64 string or an object with "bytes".
func decodeCellValue(raw json.RawMessage) (*cell.Cell, error) {
	var s string
	if err := json.Unmarshal(raw, &s); err == nil {
		return decodeBOC(s)
	}
	var obj struct {
		Bytes string `json:"bytes"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil || obj.Bytes == "" {
		return nil, fmt.Errorf("bad cell %.100s", raw)
	}
	return decodeBOC(obj.Bytes)
}

func decodeBOC(s string) (*cell.Cell, error) {
	c, err := decodeOptionalBOC(s)
	if err != nil {
		return nil, fmt.Errorf("bad cell: %w", err)
	}
	if c == nil {
		return nil, fmt.Errorf("empty cell")
	}
	return c, nil
}
