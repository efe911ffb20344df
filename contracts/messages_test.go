package contracts

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
)

var (
	testAddr = address.NewAddress(0, 0, append(make([]byte, 31), 1))
	testHash = append(make([]byte, 31), 7)
)

func TestEncodeRejects(t *testing.T) {
	cases := []struct {
		name string
		msg  Message
		want error
	}{
		{"missing address", ProposeGovernance{QueryID: 1}, ErrBadAddress},
		{"addr_none in address", ProposeGovernance{NewGovernance: address.NewAddressNone()}, ErrBadAddress},
		{"external address", RemoveOracle{Wallet: address.NewAddressExt(0, 8, []byte{1})}, ErrBadAddress},
		{"short hash", AddMeasurement{MeasurementHash: testHash[:31], Kind: MeasurementTDX}, nil},
		{"long hash", RevokeMeasurement{MeasurementHash: append(testHash, 0)}, nil},
		{"negative coins", RegisterProvider{StakeAmount: tlb.FromNanoTON(big.NewInt(-1))}, nil},
		{"coins over 120 bits", AddStake{Amount: tlb.FromNanoTON(new(big.Int).Lsh(big.NewInt(1), 120))}, nil},
		{"address inside a ref", UpdateParams{Params: &RegistryParams{}}, ErrBadAddress},
		{"missing ref", UpdateParams{}, nil},
		{"missing cell", SetEndpoint{}, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Encode(tc.msg)
			require.Error(t, err)
			require.Contains(t, err.Error(), tc.msg.MessageName())
			if tc.want != nil {
				require.ErrorIs(t, err, tc.want)
			}
		})
	}
	_, err := Encode(nil)
	require.Error(t, err)
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	name, err := TextCell("mistral-7b", MaxModelNameBytes)
	require.NoError(t, err)
	master := address.NewAddress(0, 255, testHash)
	msgs := []Message{
		AddModel{QueryID: 1, ModelID: 2, WeightsHash: testHash, Name: name},
		AddOracle{QueryID: 3, Wallet: master, PublicKey: testHash},
		SubmitOracleVote{QueryID: 4, ProviderOwner: testAddr, Claim: &AttestationClaim{
			MeasurementHash: testHash, EvidenceDigest: testHash, TLSKeyHash: testHash, ValidUntil: 5}},
		SetModelPrice{QueryID: 6, ModelID: 7, PromptPricePerMillion: tlb.MustFromTON("0.1"), CompletionPricePerMillion: tlb.ZeroCoins},
	}
	for _, m := range msgs {
		c, err := Encode(m)
		require.NoError(t, err)
		back, err := Decode(c)
		require.NoError(t, err)
		again, err := Encode(back)
		require.NoError(t, err)
		require.Equal(t, c.Hash(), again.Hash(), m.MessageName())
	}
	v, err := DecodeAs[AddOracle](mustEncode(t, msgs[1]))
	require.NoError(t, err)
	require.True(t, v.Wallet.Equals(master))
	require.Equal(t, int32(-1), v.Wallet.Workchain())

	_, err = DecodeAs[AddModel](mustEncode(t, msgs[1]))
	require.ErrorIs(t, err, ErrMalformedBody)
}

func mustEncode(t *testing.T, m Message) *cell.Cell {
	t.Helper()
	c, err := Encode(m)
	require.NoError(t, err)
	return c
}

func TestDecodeRejects(t *testing.T) {
	good := mustEncode(t, RemoveOracle{QueryID: 1, Wallet: testAddr})
	op := func() *cell.Builder {
		return cell.BeginCell().MustStoreUInt(uint64(OpRemoveOracle), 32).MustStoreUInt(1, 64)
	}
	cases := []struct {
		name string
		body *cell.Cell
		want error
	}{
		{"nil", nil, ErrMalformedBody},
		{"empty", cell.BeginCell().EndCell(), ErrMalformedBody},
		{"short opcode", cell.BeginCell().MustStoreUInt(1, 16).EndCell(), ErrMalformedBody},
		{"unknown opcode", cell.BeginCell().MustStoreUInt(0xdeadbeef, 32).EndCell(), ErrUnknownOpcode},
		{"truncated", op().EndCell(), ErrMalformedBody},
		{"trailing bit", good.ToBuilder().MustStoreUInt(1, 1).EndCell(), ErrMalformedBody},
		{"trailing ref", good.ToBuilder().MustStoreRef(cell.BeginCell().EndCell()).EndCell(), ErrMalformedBody},
		{"addr_none for address", op().MustStoreUInt(0, 2).EndCell(), ErrMalformedBody},
		{"external address", op().MustStoreAddr(address.NewAddressExt(0, 8, []byte{1})).EndCell(), ErrMalformedBody},
		{"missing ref", cell.BeginCell().MustStoreUInt(uint64(OpUpdateParams), 32).MustStoreUInt(1, 64).EndCell(), ErrMalformedBody},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Decode(tc.body)
			require.ErrorIs(t, err, tc.want)
		})
	}
}

func TestMessagesRegistry(t *testing.T) {
	all := Messages()
	require.Len(t, all, len(messageTypes))
	for i, m := range all {
		if i > 0 {
			require.Less(t, all[i-1].Opcode(), m.Opcode())
		}
		// The opcode method and the tlb magic agree.
		c := mustEncode(t, zeroFilled(t, m))
		require.Equal(t, uint64(m.Opcode()), c.MustBeginParse().MustLoadUInt(32), m.MessageName())
	}
}

// zeroFilled returns m with the fields Encode requires (addresses, hashes, refs) set.
func zeroFilled(t *testing.T, m Message) Message {
	t.Helper()
	params := &ProviderParams{Treasury: testAddr}
	claim := &AttestationClaim{MeasurementHash: testHash, EvidenceDigest: testHash, TLSKeyHash: testHash}
	text := cell.BeginCell().MustStoreSlice([]byte("x"), 8).EndCell()
	switch m.(type) {
	case ProposeGovernance:
		return ProposeGovernance{NewGovernance: testAddr}
	case UpdateParams:
		return UpdateParams{Params: &RegistryParams{Treasury: testAddr}}
	case AddMeasurement:
		return AddMeasurement{MeasurementHash: testHash}
	case RevokeMeasurement:
		return RevokeMeasurement{MeasurementHash: testHash}
	case AddModel:
		return AddModel{WeightsHash: testHash, Name: text}
	case UpdateModel:
		return UpdateModel{WeightsHash: testHash, Name: text}
	case AddOracle:
		return AddOracle{Wallet: testAddr, PublicKey: testHash}
	case RemoveOracle:
		return RemoveOracle{Wallet: testAddr}
	case SlashProvider:
		return SlashProvider{ProviderOwner: testAddr, EvidenceDigest: testHash}
	case JailProvider:
		return JailProvider{ProviderOwner: testAddr}
	case UnjailProvider:
		return UnjailProvider{ProviderOwner: testAddr}
	case SubmitOracleVote:
		return SubmitOracleVote{ProviderOwner: testAddr, Claim: claim}
	case SubmitUptimeRoot:
		return SubmitUptimeRoot{Root: testHash}
	case ProviderRegistration:
		return ProviderRegistration{Owner: testAddr, Params: params}
	case ForwardedOracleVote:
		return ForwardedOracleVote{OracleWallet: testAddr, Claim: claim, Params: params}
	case ForwardedSlash:
		return ForwardedSlash{ExcessTo: testAddr, EvidenceDigest: testHash, Params: params}
	case ForwardedJail:
		return ForwardedJail{ExcessTo: testAddr, Params: params}
	case SetEndpoint:
		return SetEndpoint{Endpoint: text}
	case SlashedStake:
		return SlashedStake{ProviderOwner: testAddr, EvidenceDigest: testHash}
	case OpenChannel:
		return OpenChannel{ProviderOwner: testAddr, ClientKey: testHash}
	case SetChannelCode:
		return SetChannelCode{ChannelCode: text}
	case ChannelInit:
		return ChannelInit{Opener: testAddr, PayoutTo: testAddr, Treasury: testAddr}
	case Claim:
		return Claim{Voucher: &Voucher{Channel: testAddr}, Signature: make([]byte, 64)}
	case StartClose:
		return StartClose{Request: &CloseRequest{Channel: testAddr, RefundTo: testAddr}, Signature: make([]byte, 64)}
	case ChannelUsage:
		root := &ChannelStorage{ClientKey: testHash, Provider: testAddr, Setup: &ChannelSetup{Registry: testAddr}}
		return ChannelUsage{ExcessTo: testAddr, Before: root, After: root}
	}
	return m
}

func TestTextCell(t *testing.T) {
	c, err := TextCell("https://a.example", MaxEndpointBytes)
	require.NoError(t, err)
	s, err := CellText(c)
	require.NoError(t, err)
	require.Equal(t, "https://a.example", s)

	_, err = TextCell("", MaxEndpointBytes)
	require.ErrorIs(t, err, ErrBadText)
	_, err = TextCell(strings.Repeat("a", MaxModelNameBytes+1), MaxModelNameBytes)
	require.ErrorIs(t, err, ErrBadText)
	_, err = TextCell("\xff\xfe", MaxModelNameBytes)
	require.ErrorIs(t, err, ErrBadText)

	_, err = CellText(cell.BeginCell().MustStoreUInt(1, 3).EndCell())
	require.ErrorIs(t, err, ErrBadText)
	_, err = CellText(c.ToBuilder().MustStoreRef(cell.BeginCell().EndCell()).EndCell())
	require.ErrorIs(t, err, ErrBadText)
	empty, err := CellText(cell.BeginCell().EndCell())
	require.NoError(t, err)
	require.Empty(t, empty)
}

func TestExitCode(t *testing.T) {
	require.Equal(t, "NotGovernance", ExitNotGovernance.String())
	require.Equal(t, "contract exit code 100 (NotGovernance)", ExitNotGovernance.Error())
	require.Equal(t, "WrongOpcode", ExitCode(0xFFFF).String())
	require.True(t, ExitWrongOpcode.Known())
	require.False(t, ExitCode(9).Known())
	require.Equal(t, "9", ExitCode(9).String())

	wrapped := fmt.Errorf("failed to register: %w", ExitStakeBelowMinimum)
	require.True(t, errors.Is(wrapped, ExitStakeBelowMinimum))
	code, ok := AsExitCode(wrapped)
	require.True(t, ok)
	require.Equal(t, ExitStakeBelowMinimum, code)

	code, ok = AsExitCode(fmt.Errorf("x: %w", &chain.GetMethodError{Method: "m", ExitCode: 11}))
	require.True(t, ok)
	require.Equal(t, ExitCode(11), code)
	_, ok = AsExitCode(errors.New("other"))
	require.False(t, ok)
}

func TestProviderAddressRejects(t *testing.T) {
	_, err := ProviderAddress(ProviderCode(), testAddr, address.NewAddress(0, 255, testHash))
	require.ErrorIs(t, err, ErrBadAddress)
	_, err = ProviderAddress(ProviderCode(), nil, testAddr)
	require.ErrorIs(t, err, ErrBadAddress)
	a, err := ProviderAddress(ProviderCode(), testAddr, testAddr)
	require.NoError(t, err)
	b, err := ProviderAddress(ProviderCode(), testAddr, address.NewAddress(0, 0, testHash))
	require.NoError(t, err)
	require.False(t, a.Equals(b))
}

// FuzzDecode: any body either fails with an error or decodes to a message that encodes back to
// the very same cell. Seeds are every fixture message.
func FuzzDecode(f *testing.F) {
	for _, m := range Messages() {
		c, err := Encode(zeroFilled(&testing.T{}, m))
		if err == nil {
			f.Add(c.ToBOC())
		}
	}
	f.Fuzz(func(t *testing.T, boc []byte) {
		c, err := cell.FromBOC(boc)
		if err != nil {
			return
		}
		m, err := Decode(c)
		if err != nil {
			return
		}
		again, err := Encode(m)
		if err != nil {
			t.Fatalf("decoded %s does not encode: %v", m.MessageName(), err)
		}
		if string(again.Hash()) != string(c.Hash()) {
			t.Fatalf("%s round trip changed the cell", m.MessageName())
		}
	})
}

func BenchmarkEncodeSubmitOracleVote(b *testing.B) {
	m := SubmitOracleVote{QueryID: 1, ProviderOwner: testAddr, Claim: &AttestationClaim{
		MeasurementHash: testHash, EvidenceDigest: testHash, TLSKeyHash: testHash, ValidUntil: 5}}
	for b.Loop() {
		if _, err := Encode(m); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeSubmitOracleVote(b *testing.B) {
	c, err := Encode(SubmitOracleVote{QueryID: 1, ProviderOwner: testAddr, Claim: &AttestationClaim{
		MeasurementHash: testHash, EvidenceDigest: testHash, TLSKeyHash: testHash, ValidUntil: 5}})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if _, err := Decode(c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkProviderAddress(b *testing.B) {
	code := ProviderCode()
	for b.Loop() {
		if _, err := ProviderAddress(code, testAddr, testAddr); err != nil {
			b.Fatal(err)
		}
	}
}
