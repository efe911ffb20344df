package contracts

import (
	"encoding/hex"
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
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

// testdata/fixtures.json is written by tolk/tests/go-fixtures.test.js from the Tolk engineer's JS
// encoders and a real @ton/sandbox run of the compiled contracts (see that file). This test proves
// the Go side against it: same bytes for every message, same decoded values, same addresses, and
// the decoders read the contracts' real storage and get-method stacks.

type fixtureFile struct {
	Messages []fixtureMessage `json:"messages"`
	Sandbox  fixtureSandbox   `json:"sandbox"`
}

type fixtureMessage struct {
	Name   string         `json:"name"`
	Opcode string         `json:"opcode"`
	Fields map[string]any `json:"fields"`
	BOC    string         `json:"boc"`
}

type fixtureSandbox struct {
	Now              uint32          `json:"now"`
	Governance       string          `json:"governance"`
	Treasury         string          `json:"treasury"`
	Owner            string          `json:"owner"`
	Oracle           string          `json:"oracle"`
	NetworkKind      uint8           `json:"networkKind"`
	RegistryParams   map[string]any  `json:"registryParams"`
	RegistryCodeHash string          `json:"registryCodeHash"`
	ProviderCodeHash string          `json:"providerCodeHash"`
	RegistryInitData string          `json:"registryInitData"`
	Registry         string          `json:"registry"`
	Provider         string          `json:"provider"`
	Inputs           fixtureInputs   `json:"inputs"`
	RegistryData     string          `json:"registryData"`
	ProviderData     string          `json:"providerData"`
	Getters          []fixtureGetter `json:"getters"`
	SentByContracts  []fixtureSent   `json:"sentByContracts"`
}

// fixtureSent is a message body a contract itself built and sent in the sandbox run.
type fixtureSent struct {
	Opcode string `json:"opcode"`
	From   string `json:"from"`
	BOC    string `json:"boc"`
}

type fixtureInputs struct {
	Measurement struct {
		MeasurementHash string `json:"measurementHash"`
		Kind            string `json:"kind"`
	} `json:"measurement"`
	Model struct {
		ModelID     string `json:"modelId"`
		WeightsHash string `json:"weightsHash"`
		Name        string `json:"name"`
	} `json:"model"`
	Oracle struct {
		Wallet    string `json:"wallet"`
		PublicKey string `json:"publicKey"`
	} `json:"oracle"`
	StakeAmount string         `json:"stakeAmount"`
	Endpoint    string         `json:"endpoint"`
	Price       map[string]any `json:"price"`
	Claim       map[string]any `json:"claim"`
	Uptime      struct {
		Epoch         string `json:"epoch"`
		Root          string `json:"root"`
		ProviderCount string `json:"providerCount"`
	} `json:"uptime"`
}

type fixtureGetter struct {
	Contract string         `json:"contract"`
	Method   string         `json:"method"`
	Args     []fixtureStack `json:"args"`
	Stack    []fixtureStack `json:"stack"`
}

type fixtureStack struct {
	Type  string         `json:"type"`
	Value string         `json:"value"`
	BOC   string         `json:"boc"`
	Items []fixtureStack `json:"items"`
}

func loadFixtures(t *testing.T) *fixtureFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/fixtures.json")
	require.NoError(t, err, "run REWRITE_FIXTURES=1 node --test tests/go-fixtures.test.js in tolk/")
	var f fixtureFile
	require.NoError(t, json.Unmarshal(raw, &f))
	return &f
}

// loadSandboxFixtures is loadFixtures for the tests that depend on the contract code (addresses,
// storage, getters): a fixture made with other code than the embedded one is stale, not wrong.
func loadSandboxFixtures(t *testing.T) fixtureSandbox {
	t.Helper()
	s := loadFixtures(t).Sandbox
	if s.RegistryCodeHash != hex.EncodeToString(RegistryCode().Hash()) || s.ProviderCodeHash != hex.EncodeToString(ProviderCode().Hash()) {
		t.Fatalf("testdata/fixtures.json was made with other contract code than contracts/build: " +
			"run `cd tolk && REWRITE_FIXTURES=1 node --test tests/go-fixtures.test.js` after `make contracts`")
	}
	return s
}

// ---------------------------------------------------------------- JSON form ↔ Go, by tlb tag

// The JS side writes integers (uint256 too) as decimal strings, addresses raw, cells as hex BOC,
// nested Cell<T> as objects, and null for absent values.

func mustBOC(t *testing.T, h string) *cell.Cell {
	t.Helper()
	b, err := hex.DecodeString(h)
	require.NoError(t, err)
	c, err := cell.FromBOC(b)
	require.NoError(t, err)
	return c
}

func bocHex(c *cell.Cell) string { return hex.EncodeToString(c.ToBOC()) }

func decBig(t *testing.T, s any) *big.Int {
	t.Helper()
	str, ok := s.(string)
	require.True(t, ok, "want a decimal string, got %T %v", s, s)
	n, ok := new(big.Int).SetString(str, 10)
	require.True(t, ok, "bad decimal %q", str)
	return n
}

func hash32(t *testing.T, s any) []byte { return decBig(t, s).FillBytes(make([]byte, 32)) }

func mustUint(t *testing.T, s string) uint64 { return decBig(t, s).Uint64() }

func rawAddr(t *testing.T, s string) *address.Address {
	t.Helper()
	a, err := address.ParseRawAddr(s)
	require.NoError(t, err)
	return a
}

// fromJSON fills a value of type typ (a tlb-tagged struct) from the fixture's field map.
func fromJSON(t *testing.T, typ reflect.Type, fields map[string]any) reflect.Value {
	t.Helper()
	v := reflect.New(typ).Elem()
	used := 0
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if f.Type == magicType || name == "" {
			continue
		}
		raw, ok := fields[name]
		require.True(t, ok, "%s.%s missing from fixture", typ.Name(), name)
		used++
		v.Field(i).Set(fieldFromJSON(t, typ.Name()+"."+name, f, raw))
	}
	require.Equal(t, len(fields), used, "%s: fixture has fields Go does not: %v", typ.Name(), fields)
	return v
}

func fieldFromJSON(t *testing.T, where string, f reflect.StructField, raw any) reflect.Value {
	tag := f.Tag.Get("tlb")
	switch {
	case f.Type == addressType:
		if raw == nil {
			return reflect.Zero(f.Type)
		}
		return reflect.ValueOf(rawAddr(t, raw.(string)))
	case f.Type == coinsType:
		return reflect.ValueOf(tlb.FromNanoTON(decBig(t, raw)))
	case f.Type == cellType:
		if raw == nil {
			return reflect.Zero(f.Type)
		}
		return reflect.ValueOf(mustBOC(t, raw.(string)))
	case f.Type == dictType:
		if raw == nil {
			return reflect.Zero(f.Type)
		}
		bits, _ := strconv.Atoi(strings.TrimPrefix(tag, "dict "))
		return reflect.ValueOf(mustBOC(t, raw.(string)).AsDict(uint(bits)))
	case tag == "bits 256":
		return reflect.ValueOf(hash32(t, raw))
	case tag == "bits 512": // signatures, hex in the fixture
		b, err := hex.DecodeString(raw.(string))
		require.NoError(t, err, where)
		return reflect.ValueOf(b)
	case tag == "bool":
		return reflect.ValueOf(raw.(bool))
	case strings.HasPrefix(tag, "## "):
		n := decBig(t, raw)
		out := reflect.New(f.Type).Elem()
		require.True(t, n.IsUint64(), where)
		out.SetUint(n.Uint64())
		require.Equal(t, n.Uint64(), out.Uint(), "%s overflows %s", where, f.Type)
		return out
	case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
		if raw == nil {
			return reflect.Zero(f.Type)
		}
		return fromJSON(t, f.Type.Elem(), raw.(map[string]any)).Addr()
	}
	t.Fatalf("%s: no fixture mapping for tag %q", where, tag)
	return reflect.Value{}
}

// toJSON renders a tlb-tagged struct in the fixture's JSON form.
func toJSON(t *testing.T, v reflect.Value) map[string]any {
	t.Helper()
	out := map[string]any{}
	typ := v.Type()
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := strings.Split(f.Tag.Get("json"), ",")[0]
		if f.Type == magicType || name == "" {
			continue
		}
		out[name] = fieldToJSON(t, f, v.Field(i))
	}
	return out
}

func fieldToJSON(t *testing.T, f reflect.StructField, fv reflect.Value) any {
	tag := f.Tag.Get("tlb")
	switch {
	case f.Type == addressType:
		a := fv.Interface().(*address.Address)
		if a == nil || a.IsAddrNone() {
			return nil
		}
		return a.StringRaw()
	case f.Type == coinsType:
		return fv.Interface().(tlb.Coins).Nano().String()
	case f.Type == cellType:
		if fv.IsNil() {
			return nil
		}
		return bocHex(fv.Interface().(*cell.Cell))
	case f.Type == dictType:
		d := fv.Interface().(*cell.Dictionary)
		if d == nil || d.IsEmpty() {
			return nil
		}
		return bocHex(d.AsCell())
	case tag == "bits 256":
		return new(big.Int).SetBytes(fv.Bytes()).String()
	case tag == "bits 512":
		return hex.EncodeToString(fv.Bytes())
	case tag == "bool":
		return fv.Bool()
	case strings.HasPrefix(tag, "## "):
		return strconv.FormatUint(fv.Uint(), 10)
	case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct:
		if fv.IsNil() {
			return nil
		}
		return toJSON(t, fv.Elem())
	}
	t.Fatalf("%s: no fixture mapping for tag %q", f.Name, tag)
	return nil
}

// jsonNormalize turns a fixture's decoded `any` into the same shapes toJSON produces.
func jsonNormalize(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

// ---------------------------------------------------------------- messages

func TestFixtureMessages(t *testing.T) {
	f := loadFixtures(t)
	covered := map[uint32]bool{}
	for _, fm := range f.Messages {
		t.Run(fm.Name, func(t *testing.T) {
			op, err := strconv.ParseUint(strings.TrimPrefix(fm.Opcode, "0x"), 16, 32)
			require.NoError(t, err)
			typ, ok := messageTypes[uint32(op)]
			require.True(t, ok, "no Go type for opcode %s", fm.Opcode)
			require.Equal(t, fm.Name, typ.Name())
			covered[uint32(op)] = true

			// Go encodes the fixture's field values to the very same bytes.
			msg := fromJSON(t, typ, fm.Fields).Interface().(Message)
			got, err := Encode(msg)
			require.NoError(t, err)
			want := mustBOC(t, fm.BOC)
			require.Equal(t, hex.EncodeToString(want.Hash()), hex.EncodeToString(got.Hash()), "cell hash:\nwant %s\ngot  %s", want.Dump(), got.Dump())
			require.Equal(t, fm.BOC, bocHex(got), "BOC bytes")

			// And decodes those bytes back to the same values.
			back, err := Decode(want)
			require.NoError(t, err)
			require.Equal(t, typ, reflect.TypeOf(back))
			require.Equal(t, jsonNormalize(fm.Fields), jsonNormalize(toJSON(t, reflect.ValueOf(back))))
		})
	}
	for op, typ := range messageTypes {
		if isChannelMessage(typ) {
			continue // in channel-fixtures.json: TestChannelFixtureMessages
		}
		require.True(t, covered[op], "message %s (%#08x) has no fixture", typ.Name(), op)
	}
}

// ---------------------------------------------------------------- sandbox deployment

func TestFixtureAddressesAndCode(t *testing.T) {
	s := loadSandboxFixtures(t)

	// Go builds the registry's deploy data byte for byte, so its address matches.
	params := fromJSON(t, reflect.TypeOf(RegistryParams{}), s.RegistryParams).Interface().(RegistryParams)
	init := NewRegistryStorage(rawAddr(t, s.Governance), NetworkKind(s.NetworkKind), params, ProviderCode())
	data, err := EncodeRegistryStorage(init)
	require.NoError(t, err)
	// Cell trees are compared by representation hash (every bit and ref at every level): BOC
	// bytes of a many-cell tree differ only by cell order, which @ton/core and tonutils-go
	// choose differently and which does not change the cells.
	require.Equal(t, hex.EncodeToString(mustBOC(t, s.RegistryInitData).Hash()), hex.EncodeToString(data.Hash()))
	reg, err := AddressOf(RegistryCode(), data)
	require.NoError(t, err)
	require.Equal(t, s.Registry, reg.StringRaw())

	// Provider address: exactly what the registry computed and the sandbox deployed.
	prov, err := ProviderAddress(ProviderCode(), rawAddr(t, s.Registry), rawAddr(t, s.Owner))
	require.NoError(t, err)
	require.Equal(t, s.Provider, prov.StringRaw())
}

func TestFixtureRegistryStorage(t *testing.T) {
	s := loadSandboxFixtures(t)
	in := s.Inputs
	raw := mustBOC(t, s.RegistryData)
	st, err := DecodeRegistryStorage(raw)
	require.NoError(t, err)

	require.Equal(t, s.Governance, st.Governance.StringRaw())
	require.Nil(t, st.PendingGovernance)
	require.Equal(t, NetworkKind(s.NetworkKind), st.NetworkKind)
	require.Equal(t, uint16(1), st.OracleCount)
	require.Equal(t, jsonNormalize(s.RegistryParams), jsonNormalize(toJSON(t, reflect.ValueOf(*st.Params))))
	require.Equal(t, ProviderCode().Hash(), st.Catalog.ProviderCode.Hash())
	require.Nil(t, st.Catalog.ChannelCode)
	require.Equal(t, uint16(1), st.Catalog.ModelCount)

	ms, err := st.MeasurementList()
	require.NoError(t, err)
	require.Equal(t, []Measurement{{Hash: hash32(t, in.Measurement.MeasurementHash), Kind: MeasurementKind(decBig(t, in.Measurement.Kind).Uint64())}}, ms)
	require.Equal(t, MeasurementSim, ms[0].Kind)

	oracles, err := st.OracleList()
	require.NoError(t, err)
	require.Len(t, oracles, 1)
	require.Equal(t, in.Oracle.Wallet, oracles[0].Wallet.StringRaw())
	require.Equal(t, hash32(t, in.Oracle.PublicKey), oracles[0].PublicKey)

	models, err := st.Catalog.ModelList()
	require.NoError(t, err)
	require.Equal(t, []Model{{ID: uint32(decBig(t, in.Model.ModelID).Uint64()), WeightsHash: hash32(t, in.Model.WeightsHash), Name: in.Model.Name}}, models)

	// Re-encoding what was decoded gives the contract's own cell back.
	again, err := EncodeRegistryStorage(st)
	require.NoError(t, err)
	require.Equal(t, raw.Hash(), again.Hash())
}

func TestFixtureProviderStorage(t *testing.T) {
	s := loadSandboxFixtures(t)
	in := s.Inputs
	raw := mustBOC(t, s.ProviderData)
	st, err := DecodeProviderStorage(raw)
	require.NoError(t, err)

	require.Equal(t, s.Owner, st.Owner.StringRaw())
	require.Equal(t, s.Registry, st.Registry.StringRaw())
	require.Equal(t, ProviderActive, st.Status)
	require.Equal(t, in.StakeAmount, st.Stake.Nano().String())
	require.Equal(t, "0", st.UnbondingAmount.Nano().String())

	require.NotNil(t, st.Params)
	require.Equal(t, s.RegistryParams["minProviderStake"], st.Params.MinStake.Nano().String())
	require.Equal(t, s.Treasury, st.Params.Treasury.StringRaw())

	require.NotNil(t, st.Profile)
	endpoint, err := CellText(st.Profile.Endpoint)
	require.NoError(t, err)
	require.Equal(t, in.Endpoint, endpoint)
	require.Equal(t, uint8(1), st.Profile.ModelCount)
	prices, err := st.Profile.PriceList()
	require.NoError(t, err)
	require.Len(t, prices, 1)
	require.Equal(t, jsonNormalize(in.Price), jsonNormalize(map[string]any{
		"modelId":                   strconv.FormatUint(uint64(prices[0].ModelID), 10),
		"promptPricePerMillion":     prices[0].PromptPricePerMillion.Nano().String(),
		"completionPricePerMillion": prices[0].CompletionPricePerMillion.Nano().String(),
	}))

	// Quorum is 1 in the scenario: the single vote confirmed the claim.
	require.NotNil(t, st.Attestation)
	require.NotNil(t, st.Attestation.Confirmed)
	c := st.Attestation.Confirmed
	require.Equal(t, jsonNormalize(in.Claim), jsonNormalize(map[string]any{
		"measurementHash": new(big.Int).SetBytes(c.MeasurementHash).String(),
		"evidenceDigest":  new(big.Int).SetBytes(c.EvidenceDigest).String(),
		"tlsKeyHash":      new(big.Int).SetBytes(c.TLSKeyHash).String(),
		"validUntil":      strconv.FormatUint(uint64(c.ValidUntil), 10),
	}))

	again, err := EncodeProviderStorage(st)
	require.NoError(t, err)
	require.Equal(t, raw.Hash(), again.Hash())
}

// ---------------------------------------------------------------- getters

func fixtureStackValues(t *testing.T, items []fixtureStack) []any {
	out := make([]any, 0, len(items))
	for _, it := range items {
		switch it.Type {
		case "null":
			out = append(out, nil)
		case "int":
			n, ok := new(big.Int).SetString(it.Value, 10)
			require.True(t, ok)
			out = append(out, n)
		case "cell":
			out = append(out, mustBOC(t, it.BOC))
		case "slice":
			out = append(out, mustBOC(t, it.BOC).MustBeginParse())
		case "tuple":
			out = append(out, fixtureStackValues(t, it.Items))
		default:
			t.Fatalf("unexpected stack item %s", it.Type)
		}
	}
	return out
}

func TestFixtureGetters(t *testing.T) {
	s := loadSandboxFixtures(t)
	in := s.Inputs
	regSt, err := DecodeRegistryStorage(mustBOC(t, s.RegistryData))
	require.NoError(t, err)
	provSt, err := DecodeProviderStorage(mustBOC(t, s.ProviderData))
	require.NoError(t, err)

	seen := map[string]bool{}
	for _, g := range s.Getters {
		res := &chain.GetMethodResult{Stack: fixtureStackValues(t, g.Stack)}
		args := fixtureStackValues(t, g.Args)
		name := fmt.Sprintf("%s(%d args)", g.Method, len(args))
		seen[g.Method] = true
		t.Run(name, func(t *testing.T) {
			switch g.Method {
			case MethodGetRegistryData:
				d, err := DecodeRegistryData(res)
				require.NoError(t, err)
				require.Equal(t, RegistryData{Governance: regSt.Governance, NetworkKind: regSt.NetworkKind, OracleCount: 1, ModelCount: 1},
					RegistryData{Governance: d.Governance, PendingGovernance: d.PendingGovernance, NetworkKind: d.NetworkKind, OracleCount: d.OracleCount, ModelCount: d.ModelCount})
			case MethodGetRegistryParams:
				p, err := DecodeRegistryParams(res)
				require.NoError(t, err)
				require.Equal(t, jsonNormalize(s.RegistryParams), jsonNormalize(toJSON(t, reflect.ValueOf(*p))))
			case MethodGetProviderAddress:
				a, err := DecodeProviderAddress(res)
				require.NoError(t, err)
				require.Equal(t, s.Provider, a.StringRaw())
			case MethodGetMeasurementKind:
				k, err := DecodeMeasurementKind(res)
				require.NoError(t, err)
				want := MeasurementKind(0)
				if args[0].(*big.Int).String() == in.Measurement.MeasurementHash {
					want = MeasurementSim
				}
				require.Equal(t, want, k)
			case MethodGetModel:
				m, err := DecodeModel(res)
				require.NoError(t, err)
				if args[0].(*big.Int).String() == in.Model.ModelID {
					require.Equal(t, ModelLookup{Found: true, WeightsHash: hash32(t, in.Model.WeightsHash), Name: in.Model.Name}, *m)
				} else {
					require.Equal(t, ModelLookup{WeightsHash: make([]byte, 32)}, *m)
				}
			case MethodGetOracle:
				o, err := DecodeOracle(res)
				require.NoError(t, err)
				a, err := sliceAddress(args[0])
				require.NoError(t, err)
				if a.StringRaw() == in.Oracle.Wallet {
					require.Equal(t, OracleLookup{Found: true, PublicKey: hash32(t, in.Oracle.PublicKey)}, *o)
				} else {
					require.Equal(t, OracleLookup{PublicKey: make([]byte, 32)}, *o)
				}
			case MethodGetMeasurements:
				ms, err := DecodeMeasurements(res)
				require.NoError(t, err)
				want, err := regSt.MeasurementList()
				require.NoError(t, err)
				require.Equal(t, want, ms)
			case MethodGetModels:
				ms, err := DecodeModels(res)
				require.NoError(t, err)
				want, err := regSt.Catalog.ModelList()
				require.NoError(t, err)
				require.Equal(t, want, ms)
			case MethodGetOracles:
				os, err := DecodeOracles(res)
				require.NoError(t, err)
				require.Len(t, os, 1)
				require.Equal(t, in.Oracle.Wallet, os[0].Wallet.StringRaw())
				require.Equal(t, hash32(t, in.Oracle.PublicKey), os[0].PublicKey)
				require.Equal(t, &UptimeCommitment{Epoch: uint32(mustUint(t, in.Uptime.Epoch)), Root: hash32(t, in.Uptime.Root),
					ProviderCount: uint32(mustUint(t, in.Uptime.ProviderCount)), CommittedAt: s.Now}, os[0].Uptime)
			case MethodGetUptimeRoot:
				u, err := DecodeUptimeRoot(res)
				require.NoError(t, err)
				a, err := sliceAddress(args[0])
				require.NoError(t, err)
				if a.StringRaw() == in.Oracle.Wallet {
					require.Equal(t, UptimeLookup{Found: true, UptimeCommitment: UptimeCommitment{Epoch: uint32(mustUint(t, in.Uptime.Epoch)),
						Root: hash32(t, in.Uptime.Root), ProviderCount: uint32(mustUint(t, in.Uptime.ProviderCount)), CommittedAt: s.Now}}, *u)
				} else {
					require.Equal(t, UptimeLookup{UptimeCommitment: UptimeCommitment{Root: make([]byte, 32)}}, *u)
				}
			case MethodGetRegisterFee:
				// beyond a 10 TON stake: the provider's 0.02 TON reserve, gas of both hops, the deploy's forward fee
				fee, err := decodeFee(MethodGetRegisterFee)(res)
				require.NoError(t, err)
				require.True(t, fee.Cmp(big.NewInt(20_000_000)) > 0 && fee.Cmp(big.NewInt(100_000_000)) < 0, "fee %s", fee)
			case MethodGetCodes:
				c, err := DecodeCodes(res)
				require.NoError(t, err)
				require.Equal(t, ProviderCode().Hash(), c.ProviderCode.Hash())
				require.Nil(t, c.ChannelCode)
			case MethodGetProviderData:
				d, err := DecodeProviderData(res)
				require.NoError(t, err)
				require.Equal(t, s.Owner, d.Owner.StringRaw())
				require.Equal(t, s.Registry, d.Registry.StringRaw())
				require.Equal(t, ProviderActive, d.Status)
				require.Equal(t, ProviderActive, d.EffectiveStatus)
				require.Equal(t, in.StakeAmount, d.Stake.Nano().String())
				require.Equal(t, "0", d.UnbondingAmount.Nano().String())
				require.Equal(t, provSt.UnlockAt, d.UnlockAt)
				require.Equal(t, provSt.JailedUntil, d.JailedUntil)
			case MethodGetProviderParams:
				p, err := DecodeProviderParams(res)
				require.NoError(t, err)
				require.Equal(t, provSt.Params.MinStake.Nano().String(), p.MinStake.Nano().String())
				require.Equal(t, provSt.Params.UnbondingPeriod, p.UnbondingPeriod)
				require.Equal(t, s.Treasury, p.Treasury.StringRaw())
			case MethodGetProfile:
				p, err := DecodeProfile(res)
				require.NoError(t, err)
				require.Equal(t, in.Endpoint, p.Endpoint)
				require.Equal(t, uint8(1), p.ModelCount)
				want, err := provSt.Profile.PriceList()
				require.NoError(t, err)
				require.Equal(t, want, p.Prices)
			case MethodGetModelPrice:
				m, err := DecodeModelPrice(res)
				require.NoError(t, err)
				if args[0].(*big.Int).String() == in.Price["modelId"] {
					require.True(t, m.Found)
					require.Equal(t, in.Price["promptPricePerMillion"], m.PromptPricePerMillion.Nano().String())
					require.Equal(t, in.Price["completionPricePerMillion"], m.CompletionPricePerMillion.Nano().String())
				} else {
					require.False(t, m.Found)
					require.True(t, m.PromptPricePerMillion.IsZero())
				}
			case MethodGetAttestation:
				v, err := DecodeAttestation(res)
				require.NoError(t, err)
				c := provSt.Attestation.Confirmed
				require.True(t, v.Attested)
				require.Equal(t, c.MeasurementHash, v.MeasurementHash)
				require.Equal(t, c.EvidenceDigest, v.EvidenceDigest)
				require.Equal(t, c.TLSKeyHash, v.TLSKeyHash)
				require.Equal(t, c.ValidUntil, v.ValidUntil)
				require.Equal(t, c.AttestedAt, v.AttestedAt)
				require.Equal(t, provSt.Attestation.Round, v.Round)
				require.Equal(t, provSt.Attestation.OracleEpoch, v.OracleEpoch)
				held, err := VoteList(provSt.Attestation.Votes)
				require.NoError(t, err)
				require.Equal(t, held, v.Votes)
				require.NotEmpty(t, v.Votes)
				want, err := ClaimHash(c.MeasurementHash, c.EvidenceDigest, c.TLSKeyHash)
				require.NoError(t, err)
				require.Equal(t, want, v.Votes[0].ClaimHash, "the vote is for the confirmed claim")
			case MethodIsAttested:
				b, err := DecodeIsAttested(res)
				require.NoError(t, err)
				require.True(t, b)
			case MethodGetUsage:
				u, err := DecodeUsage(res)
				require.NoError(t, err)
				require.Equal(t, UsageTotals{Earned: tlb.FromNanoTON(big.NewInt(0))}.Earned.Nano().String(), u.Earned.Nano().String())
				require.Zero(t, u.PromptTokens)
				require.Zero(t, u.CompletionTokens)
			default:
				t.Fatalf("fixture has getter %s with no Go decoder", g.Method)
			}
		})
	}
	for _, m := range allGetters {
		require.True(t, seen[m], "getter %s has no fixture", m)
	}
}

// allGetters is every Registry and Provider get-method (the channel getters have their fixtures in
// channel-fixtures.json); TestABIGetters checks the list against the ABI.
var allGetters = []string{
	MethodGetRegistryData, MethodGetRegistryParams, MethodGetProviderAddress, MethodGetMeasurementKind,
	MethodGetModel, MethodGetOracle, MethodGetMeasurements, MethodGetModels, MethodGetOracles, MethodGetCodes,
	MethodGetRegisterFee, MethodGetUptimeRoot,
	MethodGetProviderData, MethodGetProviderParams, MethodGetProfile, MethodGetModelPrice,
	MethodGetAttestation, MethodIsAttested, MethodGetUsage,
}

// ---------------------------------------------------------------- what the contracts send

// Bodies built by the contracts themselves (not by the JS helpers): Go must parse each one and
// rebuild the same cell.
func TestFixtureSentByContracts(t *testing.T) {
	s := loadSandboxFixtures(t)
	in := s.Inputs
	seen := map[string]bool{}
	for _, m := range s.SentByContracts {
		body := mustBOC(t, m.BOC)
		msg, err := Decode(body)
		require.NoError(t, err, "%s from %s", m.Opcode, m.From)
		require.Equal(t, m.Opcode, fmt.Sprintf("%#08x", msg.Opcode()))
		seen[msg.MessageName()] = true
		again, err := Encode(msg)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(body.Hash()), hex.EncodeToString(again.Hash()), msg.MessageName())

		switch v := msg.(type) {
		case ProviderRegistration:
			require.Equal(t, s.Owner, v.Owner.StringRaw())
			require.Equal(t, in.StakeAmount, v.StakeAmount.Nano().String())
			require.Equal(t, s.Treasury, v.Params.Treasury.StringRaw())
		case ForwardedOracleVote:
			require.Equal(t, in.Oracle.Wallet, v.OracleWallet.StringRaw())
			require.Zero(t, v.OracleSlot, "the fixture's only oracle has the first slot")
			require.Zero(t, v.OracleEpoch, "no oracle was removed")
			require.Equal(t, hash32(t, in.Claim["evidenceDigest"]), v.Claim.EvidenceDigest)
		case ForwardedSlash:
			require.Equal(t, s.Governance, v.ExcessTo.StringRaw())
		case ForwardedJail:
			require.Equal(t, s.Governance, v.ExcessTo.StringRaw())
		case SlashedStake:
			require.Equal(t, s.Owner, v.ProviderOwner.StringRaw())
		}
	}
	for _, name := range []string{"ProviderRegistration", "ForwardedOracleVote", "ForwardedSlash", "ForwardedJail",
		"ReturnExcess", "RefundBounced", "SlashedStake", "StakeWithdrawn"} {
		require.True(t, seen[name], "no %s sent by a contract in the fixture", name)
	}
}
