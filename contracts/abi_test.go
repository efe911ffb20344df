package contracts

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// The Go bindings against the compiler's ABI of the three contracts (build/<name>.abi.json, written
// by tolk/scripts/compile.js from each entry file's `contract` declaration): every message and
// storage struct has its Go mirror with the same opcode, field names, order and wire types; every
// exit code, status and kind has its Go constant; every getter has a decoder that reads the
// result's fields in order. tolk/tests/abi.test.js checks the JS helpers against the same files.
// The fixture tests then prove the bytes.

// abiFile is the part of the ABI JSON (schema 1.0) the checks read.
type abiFile struct {
	ContractName string    `json:"contract_name"`
	Types        []abiType `json:"unique_types"`
	Declarations []struct {
		Kind           string `json:"kind"`
		Name           string `json:"name"`
		EncodedAsTyIdx int    `json:"encoded_as_ty_idx"`
		TargetTyIdx    int    `json:"target_ty_idx"`
		Prefix         *struct {
			Num uint64 `json:"prefix_num"`
			Len int    `json:"prefix_len"`
		} `json:"prefix"`
		Fields []struct {
			Name  string `json:"name"`
			TyIdx int    `json:"ty_idx"`
		} `json:"fields"`
		Members []struct {
			Name  string `json:"name"`
			Value string `json:"value"`
		} `json:"members"`
	} `json:"declarations"`
	Storage struct {
		TyIdx int `json:"storage_ty_idx"`
	} `json:"storage"`
	GetMethods []struct {
		Name       string `json:"name"`
		Parameters []struct {
			Name  string `json:"name"`
			TyIdx int    `json:"ty_idx"`
		} `json:"parameters"`
		ReturnTyIdx int `json:"return_ty_idx"`
	} `json:"get_methods"`
	ThrownErrors []struct {
		Name string `json:"name"`
		Code int    `json:"err_code"`
	} `json:"thrown_errors"`
}

type abiType struct {
	Kind       string `json:"kind"`
	N          int    `json:"n"`
	StructName string `json:"struct_name"`
	EnumName   string `json:"enum_name"`
	AliasName  string `json:"alias_name"`
	Inner      *int   `json:"inner_ty_idx"`
	Key        *int   `json:"key_ty_idx"`
	Value      *int   `json:"value_ty_idx"`
}

// rtype is an ABI type resolved to a self-contained value (names instead of indexes), so that the
// same declaration in two contracts compares equal.
type rtype struct {
	Kind  string // intN uintN bitsN coins bool address addressOpt cell cellOf nullable map struct enum int slice ...
	N     int
	Name  string // struct / enum name
	Inner *rtype // cellOf, nullable; map value
	Key   *rtype // map key
}

func (t rtype) String() string {
	switch t.Kind {
	case "intN", "uintN", "bitsN":
		return strings.TrimSuffix(t.Kind, "N") + strconv.Itoa(t.N)
	case "struct", "enum":
		return t.Name
	case "cellOf":
		return "Cell<" + t.Inner.String() + ">"
	case "nullable":
		return t.Inner.String() + "?"
	case "map":
		return "map<" + t.Key.String() + ", " + t.Inner.String() + ">"
	}
	return t.Kind
}

type abiStruct struct {
	Name   string
	Opcode *uint32 // nil: no prefix
	Fields []abiField
}

type abiField struct {
	Name string
	Type rtype
}

type abiEnum struct {
	Name      string
	EncodedAs rtype
	Members   map[string]int64
}

type abiGetter struct {
	Contract, Name string
	Params         []rtype
	Return         rtype
}

// abiSet is the three ABIs merged: a struct or enum declared in several contracts must be declared
// the same way in each.
type abiSet struct {
	files   map[Name]*abiFile
	structs map[string]abiStruct
	enums   map[string]abiEnum
	getters []abiGetter
	storage map[Name]string
}

func loadABIs(t *testing.T) *abiSet {
	t.Helper()
	s := &abiSet{files: map[Name]*abiFile{}, structs: map[string]abiStruct{}, enums: map[string]abiEnum{}, storage: map[Name]string{}}
	for _, n := range Names {
		raw, err := os.ReadFile("build/" + string(n) + ".abi.json")
		require.NoError(t, err)
		f := &abiFile{}
		require.NoError(t, json.Unmarshal(raw, f))
		s.files[n] = f
		for _, d := range f.Declarations {
			switch d.Kind {
			case "struct":
				st := abiStruct{Name: d.Name}
				if d.Prefix != nil {
					require.Equal(t, 32, d.Prefix.Len, "%s: prefix length", d.Name)
					op := uint32(d.Prefix.Num)
					st.Opcode = &op
				}
				for _, fd := range d.Fields {
					st.Fields = append(st.Fields, abiField{fd.Name, f.resolve(t, fd.TyIdx)})
				}
				if prev, ok := s.structs[d.Name]; ok {
					require.Equal(t, prev, st, "%s is declared differently in %s.abi.json", d.Name, n)
				}
				s.structs[d.Name] = st
			case "enum":
				e := abiEnum{Name: d.Name, EncodedAs: f.resolve(t, d.EncodedAsTyIdx), Members: map[string]int64{}}
				for _, m := range d.Members {
					v, err := strconv.ParseInt(m.Value, 10, 64)
					require.NoError(t, err)
					e.Members[m.Name] = v
				}
				if prev, ok := s.enums[d.Name]; ok {
					require.Equal(t, prev, e, "enum %s is declared differently in %s.abi.json", d.Name, n)
				}
				s.enums[d.Name] = e
			}
		}
		for _, g := range f.GetMethods {
			ag := abiGetter{Contract: f.ContractName, Name: g.Name, Return: f.resolve(t, g.ReturnTyIdx)}
			for _, p := range g.Parameters {
				ag.Params = append(ag.Params, f.resolve(t, p.TyIdx))
			}
			s.getters = append(s.getters, ag)
		}
		s.storage[n] = f.resolve(t, f.Storage.TyIdx).Name
	}
	return s
}

func (f *abiFile) resolve(t *testing.T, idx int) rtype {
	t.Helper()
	require.Less(t, idx, len(f.Types))
	at := f.Types[idx]
	switch at.Kind {
	case "StructRef":
		return rtype{Kind: "struct", Name: at.StructName}
	case "EnumRef":
		return rtype{Kind: "enum", Name: at.EnumName}
	case "cellOf", "nullable":
		inner := f.resolve(t, *at.Inner)
		return rtype{Kind: at.Kind, Inner: &inner}
	case "mapKV":
		k, v := f.resolve(t, *at.Key), f.resolve(t, *at.Value)
		return rtype{Kind: "map", Key: &k, Inner: &v}
	case "AliasRef":
		if at.AliasName == "dict" {
			return rtype{Kind: "dict"} // a low-level dictionary cell or null (getters only)
		}
		for _, d := range f.Declarations {
			if d.Kind == "alias" && d.Name == at.AliasName {
				return f.resolve(t, d.TargetTyIdx)
			}
		}
		t.Fatalf("alias %s not declared", at.AliasName)
	}
	return rtype{Kind: at.Kind, N: at.N}
}

// goMirrors maps every Tolk struct that has a Go mirror (all messages, storage layouts and signed
// structures) to it.
func goMirrors() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, t := range messageTypes {
		m[t.Name()] = t
	}
	for _, v := range []any{
		RegistryParams{}, ModelInfo{}, UptimeCommitment{}, OracleInfo{}, RegistryCatalog{}, RegistryStorage{},
		AttestationClaim{}, ProviderParams{}, ModelPrice{}, ProviderProfile{}, AttestationRecord{},
		OracleVote{}, AttestationState{}, UsageTotals{}, ProviderStorage{},
		Voucher{}, CloseRequest{}, ChannelSetup{}, ClosingState{}, ChannelStorage{},
	} {
		m[reflect.TypeOf(v).Name()] = reflect.TypeOf(v)
	}
	return m
}

// storageClosure is every struct reachable from the three storage layouts.
func (s *abiSet) storageClosure(t *testing.T) map[string]bool {
	seen := map[string]bool{}
	var walk func(rt rtype)
	walk = func(rt rtype) {
		switch rt.Kind {
		case "struct":
			if seen[rt.Name] {
				return
			}
			seen[rt.Name] = true
			st, ok := s.structs[rt.Name]
			require.True(t, ok, "struct %s", rt.Name)
			for _, f := range st.Fields {
				walk(f.Type)
			}
		case "cellOf", "nullable":
			walk(*rt.Inner)
		case "map":
			walk(*rt.Key)
			walk(*rt.Inner)
		}
	}
	for _, name := range s.storage {
		walk(rtype{Kind: "struct", Name: name})
	}
	return seen
}

func TestABIMessageAndStorageLayouts(t *testing.T) {
	s := loadABIs(t)
	require.Equal(t, map[Name]string{Registry: "RegistryStorage", Provider: "ProviderStorage", Channel: "ChannelStorage"}, s.storage)
	mirrors := goMirrors()
	// Every message and signed structure (a struct with a prefix) and every storage struct has a Go
	// mirror, and every Go mirror has an ABI struct.
	need := s.storageClosure(t)
	for name, st := range s.structs {
		if st.Opcode != nil {
			need[name] = true
		}
	}
	for name := range need {
		require.Contains(t, mirrors, name, "ABI struct %s has no Go mirror", name)
	}
	for name := range mirrors {
		require.Contains(t, s.structs, name, "Go type %s has no struct in the ABI", name)
	}
	for name, gt := range mirrors {
		st := s.structs[name]
		var fields []reflect.StructField
		for i := 0; i < gt.NumField(); i++ {
			f := gt.Field(i)
			if f.Type == magicType {
				require.Zero(t, i, "%s: the opcode must be the first Go field", name)
				require.NotNil(t, st.Opcode, "%s: Go has an opcode, the ABI does not", name)
				require.Equal(t, "#"+fmt.Sprintf("%08x", *st.Opcode), strings.ToLower(f.Tag.Get("tlb")), "%s opcode", name)
				continue
			}
			fields = append(fields, f)
		}
		if st.Opcode != nil {
			require.Equal(t, magicType, gt.Field(0).Type, "%s: the ABI has opcode %#x, Go none", name, *st.Opcode)
			if msg, ok := reflect.Zero(gt).Interface().(Message); ok {
				require.Equal(t, *st.Opcode, msg.Opcode(), name)
				require.Equal(t, name, msg.MessageName())
			}
		}
		require.Len(t, fields, len(st.Fields), "%s: field count", name)
		for i, af := range st.Fields {
			where := name + "." + af.Name
			require.Equal(t, af.Name, strings.Split(fields[i].Tag.Get("json"), ",")[0], "%s: field %d", name, i)
			s.checkField(t, where, af.Type, fields[i])
		}
	}
}

var goIntKinds = map[bool]map[int]reflect.Kind{
	true:  {8: reflect.Uint8, 16: reflect.Uint16, 32: reflect.Uint32, 64: reflect.Uint64},
	false: {8: reflect.Int8, 16: reflect.Int16, 32: reflect.Int32, 64: reflect.Int64},
}

// plainFields maps the ABI types that have one Go mapping to its tlb tag and Go type (or kind).
var plainFields = map[string]struct {
	tag  string
	typ  reflect.Type
	kind reflect.Kind
}{
	"address":    {"addr std required", addressType, reflect.Pointer},
	"addressOpt": {"addr std", addressType, reflect.Pointer},
	"coins":      {".", coinsType, reflect.Struct},
	"bool":       {"bool", nil, reflect.Bool},
	"cell":       {"^", cellType, reflect.Pointer},
}

// checkField requires the Go field's tlb tag and type to serialize the ABI type.
func (s *abiSet) checkField(t *testing.T, where string, at rtype, f reflect.StructField) {
	t.Helper()
	tag := f.Tag.Get("tlb")
	if p, ok := plainFields[at.Kind]; ok {
		require.Equal(t, p.tag, tag, where)
		require.Equal(t, p.kind, f.Type.Kind(), where)
		if p.typ != nil {
			require.Equal(t, p.typ, f.Type, where)
		}
		return
	}
	switch at.Kind {
	case "bitsN":
		require.Equal(t, "bits "+strconv.Itoa(at.N), tag, where)
		require.Equal(t, reflect.Slice, f.Type.Kind(), where)
	case "cellOf":
		require.Equal(t, "^", tag, where)
		require.Equal(t, reflect.Pointer, f.Type.Kind(), where)
		require.Equal(t, at.Inner.Name, f.Type.Elem().Name(), where)
	case "nullable":
		inner := *at.Inner
		require.Contains(t, []string{"cell", "cellOf"}, inner.Kind, "%s: nullable %s has no Go mapping yet", where, inner)
		require.Equal(t, "maybe ^", tag, where)
		if inner.Kind == "cell" {
			require.Equal(t, cellType, f.Type, where)
		} else {
			require.Equal(t, inner.Inner.Name, f.Type.Elem().Name(), where)
		}
	case "map":
		bits := 267
		if at.Key.Kind != "address" {
			require.Contains(t, []string{"uintN", "intN"}, at.Key.Kind, "%s: map key %s", where, at.Key)
			bits = at.Key.N
		}
		require.Equal(t, "dict "+strconv.Itoa(bits), tag, where)
		require.Equal(t, dictType, f.Type, where)
	case "enum":
		// A typed enum maps to the Go type of the same name, stored at the enum's width.
		require.Equal(t, at.Name, f.Type.Name(), "%s: Go type for enum %s", where, at.Name)
		s.checkField(t, where, s.enums[at.Name].EncodedAs, f)
	case "uintN", "intN":
		if at.N == 256 && at.Kind == "uintN" && f.Type.Kind() == reflect.Slice {
			// uint256 hashes and keys are 32 raw bytes in Go.
			require.Equal(t, "bits 256", tag, where)
			return
		}
		require.Equal(t, "## "+strconv.Itoa(at.N), tag, where)
		want, ok := goIntKinds[at.Kind == "uintN"][at.N]
		require.True(t, ok, "%s: %s has no Go integer mapping", where, at)
		require.Equal(t, want, f.Type.Kind(), where)
	default:
		t.Fatalf("%s: ABI type %s has no Go mapping", where, at)
	}
}

func TestABIExitCodes(t *testing.T) {
	s := loadABIs(t)
	declared := map[ExitCode]string{}
	for _, enum := range []string{"Errors", "ChannelErrors"} {
		e, ok := s.enums[enum]
		require.True(t, ok, "enum %s missing from the ABI (forceAbiExport)", enum)
		for name, v := range e.Members {
			code := ExitCode(v)
			prev, dup := declared[code]
			require.False(t, dup, "%s.%s = %d collides with %s", enum, name, v, prev)
			declared[code] = enum + "." + name
			require.Equal(t, name, code.String(), "%s.%s = %d", enum, name, v)
			require.True(t, code.Known())
		}
	}
	require.Len(t, exitCodeNames, len(declared), "Go names exit codes the ABI does not declare")
	for n, f := range s.files {
		for _, e := range f.ThrownErrors {
			require.Equal(t, e.Name, declared[ExitCode(e.Code)], "%s throws %s = %d", n, e.Name, e.Code)
		}
	}
	require.Equal(t, "contract exit code 156 (VoucherNotNewer)", ExitCode(156).Error())
}

// TestABIStatusesAndKinds: the Go enum types name exactly the ABI's members (Go's String is the
// member name in lower case, and the fallback format for every other value of the width).
func TestABIStatusesAndKinds(t *testing.T) {
	s := loadABIs(t)
	for enum, str := range map[string]func(uint8) string{
		"ProviderStatus":  func(v uint8) string { return ProviderStatus(v).String() },
		"ChannelStatus":   func(v uint8) string { return ChannelStatus(v).String() },
		"NetworkKind":     func(v uint8) string { return NetworkKind(v).String() },
		"MeasurementKind": func(v uint8) string { return MeasurementKind(v).String() },
	} {
		e, ok := s.enums[enum]
		require.True(t, ok, "enum %s missing from the ABI", enum)
		require.Equal(t, rtype{Kind: "uintN", N: 8}, e.EncodedAs, enum)
		byValue := map[int64]string{}
		for name, v := range e.Members {
			byValue[v] = name
		}
		for v := 0; v < 256; v++ {
			got := str(uint8(v))
			if name, ok := byValue[int64(v)]; ok {
				require.Equal(t, strings.ToLower(name), got, "%s.%s = %d", enum, name, v)
			} else {
				require.Contains(t, got, fmt.Sprintf("(%d)", v), "%s: Go names value %d, the ABI does not", enum, v)
			}
		}
	}
}

// decoders maps every getter to its Go decoder.
var decoders = map[string]func(*chain.GetMethodResult) (any, error){
	MethodGetRegistryData:    func(r *chain.GetMethodResult) (any, error) { return DecodeRegistryData(r) },
	MethodGetRegistryParams:  func(r *chain.GetMethodResult) (any, error) { return DecodeRegistryParams(r) },
	MethodGetProviderAddress: func(r *chain.GetMethodResult) (any, error) { return DecodeProviderAddress(r) },
	MethodGetMeasurementKind: func(r *chain.GetMethodResult) (any, error) { return DecodeMeasurementKind(r) },
	MethodGetModel:           func(r *chain.GetMethodResult) (any, error) { return DecodeModel(r) },
	MethodGetOracle:          func(r *chain.GetMethodResult) (any, error) { return DecodeOracle(r) },
	MethodGetMeasurements:    func(r *chain.GetMethodResult) (any, error) { return DecodeMeasurements(r) },
	MethodGetModels:          func(r *chain.GetMethodResult) (any, error) { return DecodeModels(r) },
	MethodGetOracles:         func(r *chain.GetMethodResult) (any, error) { return DecodeOracles(r) },
	MethodGetUptimeRoot:      func(r *chain.GetMethodResult) (any, error) { return DecodeUptimeRoot(r) },
	MethodGetCodes:           func(r *chain.GetMethodResult) (any, error) { return DecodeCodes(r) },
	MethodGetRegisterFee:     func(r *chain.GetMethodResult) (any, error) { return decodeFee(MethodGetRegisterFee)(r) },
	MethodGetChannelAddress:  func(r *chain.GetMethodResult) (any, error) { return DecodeChannelAddress(r) },
	MethodGetOpenChannelFee:  func(r *chain.GetMethodResult) (any, error) { return decodeFee(MethodGetOpenChannelFee)(r) },
	MethodGetProviderData:    func(r *chain.GetMethodResult) (any, error) { return DecodeProviderData(r) },
	MethodGetProviderParams:  func(r *chain.GetMethodResult) (any, error) { return DecodeProviderParams(r) },
	MethodGetProfile:         func(r *chain.GetMethodResult) (any, error) { return DecodeProfile(r) },
	MethodGetModelPrice:      func(r *chain.GetMethodResult) (any, error) { return DecodeModelPrice(r) },
	MethodGetAttestation:     func(r *chain.GetMethodResult) (any, error) { return DecodeAttestation(r) },
	MethodIsAttested:         func(r *chain.GetMethodResult) (any, error) { return DecodeIsAttested(r) },
	MethodGetUsage:           func(r *chain.GetMethodResult) (any, error) { return DecodeUsage(r) },
	MethodGetChannelData:     func(r *chain.GetMethodResult) (any, error) { return DecodeChannelData(r) },
	MethodGetChannelState:    func(r *chain.GetMethodResult) (any, error) { return DecodeChannelState(r) },
}

// flatStack is a valid stack for a getter result of type rt (a struct's fields flattened, as Tolk
// returns them; nullable values present, dictionaries empty) and the field names in order.
func (s *abiSet) flatStack(t *testing.T, rt rtype, name string) (stack []any, names []string) {
	t.Helper()
	addr := cell.BeginCell().MustStoreAddr(address.NewAddress(0, 0, make([]byte, 32))).EndCell().MustBeginParse()
	switch rt.Kind {
	case "struct":
		for _, f := range s.structs[rt.Name].Fields {
			st, ns := s.flatStack(t, f.Type, f.Name)
			stack, names = append(stack, st...), append(names, ns...)
		}
		return stack, names
	case "int", "intN", "uintN", "coins", "enum":
		return []any{big.NewInt(1)}, []string{name}
	case "bool":
		return []any{big.NewInt(-1)}, []string{name}
	case "address", "addressOpt":
		return []any{addr}, []string{name}
	case "cell":
		return []any{cell.BeginCell().EndCell()}, []string{name}
	case "nullable":
		st, _ := s.flatStack(t, *rt.Inner, name)
		return st, []string{name}
	case "dict":
		return []any{nil}, []string{name}
	}
	t.Fatalf("%s: no stack value for %s", name, rt)
	return nil, nil
}

func TestABIGetters(t *testing.T) {
	s := loadABIs(t)
	var names []string
	for _, g := range s.getters {
		names = append(names, g.Name)
	}
	var goNames []string
	for n := range decoders {
		goNames = append(goNames, n)
	}
	require.ElementsMatch(t, names, goNames, "getters in the ABI vs Go decoders")

	var reads []string
	traceStackRead = func(_, what string) { reads = append(reads, what) }
	defer func() { traceStackRead = nil }()
	for _, g := range s.getters {
		stack, fields := s.flatStack(t, g.Return, "result")
		reads = nil
		_, err := decoders[g.Name](&chain.GetMethodResult{Stack: stack})
		require.NoError(t, err, "%s.%s", g.Contract, g.Name)
		if g.Return.Kind == "struct" {
			require.Equal(t, fields, reads, "%s.%s: the decoder reads other fields than the ABI's %s", g.Contract, g.Name, g.Return.Name)
		} else {
			require.Len(t, reads, 1, "%s.%s returns one %s", g.Contract, g.Name, g.Return)
		}
	}
}
