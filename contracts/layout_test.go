package contracts

import (
	"os"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// These tests read the Tolk sources and check that every struct, field, opcode and exit code has
// its Go mirror, with the same order, names and wire types. The fixture test proves the bytes;
// this one catches a field added on one side before anyone writes a fixture for it.

const tolkSrc = "../tolk/src/"

// tolkStruct is a struct declaration parsed from a .tolk file.
type tolkStruct struct {
	name   string
	opcode *uint32
	fields []tolkField
}

type tolkField struct{ name, typ string }

var (
	structRe = regexp.MustCompile(`(?m)^struct\s*(?:\((0x[0-9a-fA-F]+)\))?\s*(\w+)\s*\{`)
	fieldRe  = regexp.MustCompile(`^\s*(\w+)\s*:\s*([^/]+?)\s*(//.*)?$`)
)

func parseTolkStructs(t *testing.T, file string) []tolkStruct {
	t.Helper()
	src, err := os.ReadFile(tolkSrc + file)
	require.NoError(t, err)
	text := string(src)
	var out []tolkStruct
	for _, m := range structRe.FindAllStringSubmatchIndex(text, -1) {
		s := tolkStruct{name: text[m[4]:m[5]]}
		if m[2] >= 0 {
			op, err := strconv.ParseUint(text[m[2]+2:m[3]], 16, 32)
			require.NoError(t, err)
			op32 := uint32(op)
			s.opcode = &op32
		}
		body := text[m[1]:]
		body = body[:strings.Index(body, "}")]
		for _, line := range strings.Split(body, "\n") {
			if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "//") {
				continue
			}
			fm := fieldRe.FindStringSubmatch(line)
			require.NotNil(t, fm, "%s: cannot parse field line %q", s.name, line)
			s.fields = append(s.fields, tolkField{name: fm[1], typ: fm[2]})
		}
		out = append(out, s)
	}
	return out
}

// goLayoutTypes maps every Tolk struct name to its Go mirror.
func goLayoutTypes() map[string]reflect.Type {
	m := map[string]reflect.Type{}
	for _, t := range messageTypes {
		if !isChannelMessage(t) { // mirrored from channel-messages.tolk: TestChannelLayoutsMirrorTolk
			m[t.Name()] = t
		}
	}
	for _, v := range []any{
		RegistryParams{}, ModelInfo{}, OracleInfo{}, RegistryCatalog{}, RegistryStorage{},
		AttestationClaim{}, ProviderParams{}, ModelPrice{}, ProviderProfile{}, AttestationRecord{},
		AttestationRound{}, AttestationState{}, UsageTotals{}, ProviderStorage{},
	} {
		m[reflect.TypeOf(v).Name()] = reflect.TypeOf(v)
	}
	return m
}

var intTypeRe = regexp.MustCompile(`^(u?)int(\d+)$`)

// wantTag is the tlb tag and Go type kind a Tolk field type must map to.
func checkFieldType(t *testing.T, where, tolkType string, f reflect.StructField) {
	t.Helper()
	tag := f.Tag.Get("tlb")
	nullable := strings.HasSuffix(tolkType, "?")
	base := strings.TrimSuffix(tolkType, "?")
	if m := bitsTypeRe.FindStringSubmatch(tolkType); m != nil {
		require.Equal(t, "bits "+m[1], tag, where)
		require.Equal(t, reflect.Slice, f.Type.Kind(), where)
		return
	}
	switch {
	case base == "address":
		want := "addr std required"
		if nullable {
			want = "addr std"
		}
		require.Equal(t, want, tag, where)
		require.Equal(t, addressType, f.Type, where)
	case nullable && !strings.HasPrefix(base, "Cell<") && base != "cell":
		t.Fatalf("%s: nullable %s has no Go mapping yet", where, tolkType)
	case base == "coins":
		require.Equal(t, ".", tag, where)
		require.Equal(t, coinsType, f.Type, where)
	case base == "bool":
		require.Equal(t, "bool", tag, where)
		require.Equal(t, reflect.Bool, f.Type.Kind(), where)
	case base == "cell":
		want := "^"
		if nullable {
			want = "maybe ^"
		}
		require.Equal(t, want, tag, where)
		require.Equal(t, cellType, f.Type, where)
	case strings.HasPrefix(base, "Cell<"):
		inner := strings.TrimSuffix(strings.TrimPrefix(base, "Cell<"), ">")
		want := "^"
		if nullable {
			want = "maybe ^"
		}
		require.Equal(t, want, tag, where)
		require.Equal(t, reflect.Pointer, f.Type.Kind(), where)
		require.Equal(t, inner, f.Type.Elem().Name(), where)
	case strings.HasPrefix(base, "map<"):
		key := strings.TrimSpace(strings.SplitN(strings.TrimPrefix(base, "map<"), ",", 2)[0])
		bits := "267"
		if key != "address" {
			km := intTypeRe.FindStringSubmatch(key)
			require.NotNil(t, km, "%s: map key %s", where, key)
			bits = km[2]
		}
		require.Equal(t, "dict "+bits, tag, where)
		require.Equal(t, dictType, f.Type, where)
	case intTypeRe.MatchString(base):
		m := intTypeRe.FindStringSubmatch(base)
		bits, _ := strconv.Atoi(m[2])
		if bits == 256 && m[1] == "u" && f.Type.Kind() == reflect.Slice {
			// uint256 hashes and keys are 32 raw bytes in Go.
			require.Equal(t, "bits 256", tag, where)
			return
		}
		require.Equal(t, "## "+m[2], tag, where)
		kinds := map[int]reflect.Kind{8: reflect.Uint8, 16: reflect.Uint16, 32: reflect.Uint32, 64: reflect.Uint64}
		if m[1] == "" {
			kinds = map[int]reflect.Kind{8: reflect.Int8, 16: reflect.Int16, 32: reflect.Int32, 64: reflect.Int64}
		}
		want, ok := kinds[bits]
		require.True(t, ok, "%s: %s has no Go integer mapping", where, base)
		require.Equal(t, want, f.Type.Kind(), where)
	default:
		t.Fatalf("%s: Tolk type %s has no Go mapping", where, tolkType)
	}
}

func TestGoLayoutsMirrorTolk(t *testing.T) {
	requireLayoutsMirrorTolk(t, []string{"messages.tolk", "storage.tolk"}, goLayoutTypes())
}

var bitsTypeRe = regexp.MustCompile(`^bits(\d+)$`)

// requireLayoutsMirrorTolk checks that every struct in the Tolk files has a Go type with the same
// opcode, field names, field order and wire types, and that every Go type has a Tolk struct.
func requireLayoutsMirrorTolk(t *testing.T, files []string, goTypes map[string]reflect.Type) {
	t.Helper()
	seen := map[string]bool{}
	for _, file := range files {
		for _, s := range parseTolkStructs(t, file) {
			gt, ok := goTypes[s.name]
			require.True(t, ok, "%s: struct %s has no Go type", file, s.name)
			seen[s.name] = true

			var goFields []reflect.StructField
			for i := 0; i < gt.NumField(); i++ {
				f := gt.Field(i)
				if f.Type == magicType {
					require.NotNil(t, s.opcode, "%s: Go has an opcode, Tolk does not", s.name)
					require.Equal(t, "#"+strconv.FormatUint(uint64(*s.opcode), 16), strings.ToLower(f.Tag.Get("tlb")), "%s magic", s.name)
					continue
				}
				goFields = append(goFields, f)
			}
			if s.opcode != nil {
				require.Equal(t, gt.Field(0).Type, magicType, "%s: first Go field must be the opcode", s.name)
				msg := reflect.Zero(gt).Interface().(Message)
				require.Equal(t, *s.opcode, msg.Opcode(), s.name)
				require.Equal(t, s.name, msg.MessageName())
			}
			require.Len(t, goFields, len(s.fields), "%s: field count", s.name)
			for i, tf := range s.fields {
				where := s.name + "." + tf.name
				require.Equal(t, tf.name, strings.Split(goFields[i].Tag.Get("json"), ",")[0], "%s: field %d", s.name, i)
				checkFieldType(t, where, tf.typ, goFields[i])
			}
		}
	}
	for name := range goTypes {
		require.True(t, seen[name], "Go type %s has no Tolk struct", name)
	}
}

func TestExitCodesMirrorTolk(t *testing.T) {
	re := regexp.MustCompile(`(?m)^\s*(\w+)\s*=\s*(0x[0-9a-fA-F]+|\d+)`)
	seen := map[ExitCode]string{}
	for _, f := range []struct{ file, enum string }{{"errors.tolk", "enum Errors"}, {"channel-errors.tolk", "enum ChannelErrors"}} {
		src, err := os.ReadFile(tolkSrc + f.file)
		require.NoError(t, err)
		text := string(src)
		text = text[strings.Index(text, f.enum):]
		text = text[:strings.Index(text, "}")]
		matches := re.FindAllStringSubmatch(text, -1)
		require.NotEmpty(t, matches, f.file)
		for _, m := range matches {
			n, err := strconv.ParseInt(m[2], 0, 32)
			require.NoError(t, err)
			code := ExitCode(n)
			prev, dup := seen[code]
			require.False(t, dup, "%s %s = %d collides with %s", f.file, m[1], n, prev)
			seen[code] = f.file + " " + m[1]
			require.Equal(t, m[1], code.String(), "%s %s = %s", f.file, m[1], m[2])
			require.True(t, code.Known())
		}
	}
	require.Len(t, exitCodeNames, len(seen), "Go has exit codes errors.tolk and channel-errors.tolk do not")
	require.Equal(t, "VoucherNotNewer", ExitCode(156).String())
	require.Equal(t, "contract exit code 156 (VoucherNotNewer)", ExitCode(156).Error())
}

// allGetters is every get-method the Go side decodes.
var allGetters = []string{
	MethodGetRegistryData, MethodGetRegistryParams, MethodGetProviderAddress, MethodGetMeasurementKind,
	MethodGetModel, MethodGetOracle, MethodGetMeasurements, MethodGetModels, MethodGetOracles, MethodGetCodes,
	MethodGetRegisterFee,
	MethodGetProviderData, MethodGetProviderParams, MethodGetProfile, MethodGetModelPrice,
	MethodGetAttestation, MethodIsAttested, MethodGetUsage,
}

func TestGettersMirrorTolk(t *testing.T) {
	re := regexp.MustCompile(`(?m)^get fun (\w+)\(`)
	var tolk []string
	for _, file := range []string{"registry.tolk", "provider.tolk"} {
		src, err := os.ReadFile(tolkSrc + file)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(src), -1) {
			tolk = append(tolk, m[1])
		}
	}
	require.ElementsMatch(t, tolk, allGetters, "getters in tolk/src vs Go decoders")
}
