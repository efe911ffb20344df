package contracts

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/voucher"
)

// testdata/channel-fixtures.json is written by tolk/tests/go-fixtures-channel.test.js from the
// Tolk engineer's JS builders (tests/lib/channel.js), @ton/crypto signatures with a fixed key and
// a real @ton/sandbox run of the compiled channel (open, claim, partial claim, top-up, remainder,
// close). This test proves the Go side against it: same bytes, same decoded values, the same
// channel address, and the voucher package verifies and reproduces @ton/crypto's signatures.

type channelFixtureFile struct {
	Messages    []fixtureMessage     `json:"messages"`
	Signed      channelFixtureSigned `json:"signed"`
	VoucherRule []VoucherRuleCase    `json:"voucherRule"`
	Sandbox     channelFixtureChain  `json:"sandbox"`
}

// VoucherRuleCase is one (accepted state, voucher) pair of the fixture's voucher-rule table and the
// channel's answer in @ton/sandbox: exit code 0 (accepted, the state becomes After) or 156.
type VoucherRuleCase struct {
	Name     string            `json:"name"`
	Accepted map[string]string `json:"accepted"`
	Voucher  map[string]string `json:"voucher"`
	ExitCode int               `json:"exitCode"`
	After    map[string]string `json:"after"`
}

type channelFixtureSigned struct {
	Seed      string `json:"seed"`
	PublicKey string `json:"publicKey"`
	Vouchers  []struct {
		Fields    map[string]any `json:"fields"`
		BOC       string         `json:"boc"`
		Hash      string         `json:"hash"`
		Signature string         `json:"signature"`
	} `json:"vouchers"`
	CloseRequests []struct {
		Fields    map[string]any `json:"fields"`
		BOC       string         `json:"boc"`
		Signature string         `json:"signature"`
	} `json:"closeRequests"`
}

type channelFixtureChain struct {
	Registry        string            `json:"registry"`
	Provider        string            `json:"provider"`
	Owner           string            `json:"owner"`
	Treasury        string            `json:"treasury"`
	Client          string            `json:"client"`
	Relayer         string            `json:"relayer"`
	ClientKey       string            `json:"clientKey"`
	Channel         string            `json:"channel"`
	ChannelCode     string            `json:"channelCode"`
	ChannelCodeHash string            `json:"channelCodeHash"`
	RegistryParams  map[string]string `json:"registryParams"`
	Vouchers        []map[string]any  `json:"vouchers"`
	ChannelData     map[string]string `json:"channelData"`
	Getters         []struct {
		Label  string         `json:"label"`
		Method string         `json:"method"`
		Args   []fixtureStack `json:"args"`
		Stack  []fixtureStack `json:"stack"`
	} `json:"getters"`
	SentByContracts []fixtureSent `json:"sentByContracts"`
}

func loadChannelFixtures(t *testing.T) *channelFixtureFile {
	t.Helper()
	raw, err := os.ReadFile("testdata/channel-fixtures.json")
	require.NoError(t, err, "run REWRITE_FIXTURES=1 node --test tests/go-fixtures-channel.test.js in tolk/")
	var f channelFixtureFile
	require.NoError(t, json.Unmarshal(raw, &f))
	return &f
}

func fixtureVoucher(t *testing.T, fields map[string]any) voucher.Voucher {
	t.Helper()
	return fromJSON(t, reflect.TypeOf(Voucher{}), fields).Interface().(Voucher).ToVoucher()
}

// The channel's voucher rule, case by case as @ton/sandbox answered: voucher.CheckNewer accepts
// exactly what the contract accepts, and Accept and Owed give its stored state and deltas.
func TestChannelFixtureVoucherRule(t *testing.T) {
	f := loadChannelFixtures(t)
	require.NotEmpty(t, f.VoucherRule)
	ch := testChannelAddr(0x5c)
	triple := func(m map[string]string) voucher.Voucher {
		amount, ok := new(big.Int).SetString(m["amount"], 10)
		require.True(t, ok)
		p, err := strconv.ParseUint(m["promptTokens"], 10, 64)
		require.NoError(t, err)
		c, err := strconv.ParseUint(m["completionTokens"], 10, 64)
		require.NoError(t, err)
		return voucher.Voucher{Channel: ch, Amount: amount, PromptTokens: p, CompletionTokens: c}
	}
	for _, tc := range f.VoucherRule {
		t.Run(tc.Name, func(t *testing.T) {
			acc, next, after := triple(tc.Accepted), triple(tc.Voucher), triple(tc.After)
			err := voucher.CheckNewer(&acc, &next)
			got, aerr := voucher.Accept(&acc, &next)
			switch tc.ExitCode {
			case 0:
				require.NoError(t, err)
				require.NoError(t, aerr)
				require.Zero(t, got.Amount.Cmp(after.Amount))
				require.Equal(t, [2]uint64{after.PromptTokens, after.CompletionTokens}, [2]uint64{got.PromptTokens, got.CompletionTokens})
				d, err := voucher.Owed(&acc, &next)
				require.NoError(t, err)
				require.Zero(t, d.Amount.Cmp(new(big.Int).Sub(after.Amount, acc.Amount)))
				require.Equal(t, after.PromptTokens-acc.PromptTokens, d.PromptTokens)
				require.Equal(t, after.CompletionTokens-acc.CompletionTokens, d.CompletionTokens)
				o, err := voucher.Compare(&acc, &next)
				require.NoError(t, err)
				require.Contains(t, []voucher.Ordering{voucher.Newer, voucher.Conflicting}, o)
			case int(ExitVoucherNotNewer):
				require.Error(t, err)
				require.Error(t, aerr)
				require.Equal(t, acc, after, "a refused claim leaves the state")
				o, err := voucher.Compare(&acc, &next)
				require.NoError(t, err)
				require.Contains(t, []voucher.Ordering{voucher.Same, voucher.Older}, o)
			default:
				t.Fatalf("exit code %d", tc.ExitCode)
			}
		})
	}
}

func TestChannelFixtureMessages(t *testing.T) {
	f := loadChannelFixtures(t)
	covered := map[uint32]bool{}
	for _, fm := range f.Messages {
		t.Run(fm.Name, func(t *testing.T) {
			var typ reflect.Type
			for _, m := range ChannelMessages() {
				if m.MessageName() == fm.Name {
					typ = reflect.TypeOf(m)
					covered[m.Opcode()] = true
				}
			}
			require.NotNil(t, typ, "fixture message %s has no Go type", fm.Name)
			msg := fromJSON(t, typ, fm.Fields).Interface().(Message)
			require.Equal(t, fm.Opcode, "0x"+hex.EncodeToString([]byte{byte(msg.Opcode() >> 24), byte(msg.Opcode() >> 16), byte(msg.Opcode() >> 8), byte(msg.Opcode())}))

			got, err := Encode(msg)
			require.NoError(t, err)
			want := mustBOC(t, fm.BOC)
			require.Equal(t, hex.EncodeToString(want.Hash()), hex.EncodeToString(got.Hash()), "cell hash:\nwant %s\ngot  %s", want.Dump(), got.Dump())

			back, err := Decode(want)
			require.NoError(t, err)
			require.Equal(t, typ, reflect.TypeOf(back))
			require.Equal(t, jsonNormalize(fm.Fields), jsonNormalize(toJSON(t, reflect.ValueOf(back))))
		})
	}
	for _, m := range ChannelMessages() {
		require.True(t, covered[m.Opcode()], "channel message %s (%#08x) has no fixture", m.MessageName(), m.Opcode())
	}
}

// The voucher package against @ton/core cells and @ton/crypto signatures.
func TestChannelFixtureSignatures(t *testing.T) {
	s := loadChannelFixtures(t).Signed
	seed, err := hex.DecodeString(s.Seed)
	require.NoError(t, err)
	key := ed25519.NewKeyFromSeed(seed)
	pub := key.Public().(ed25519.PublicKey)
	require.Equal(t, s.PublicKey, hex.EncodeToString(pub), "@ton/crypto keyPairFromSeed and Go derive the same key")

	require.NotEmpty(t, s.Vouchers)
	var batch []voucher.Signed
	for i, fv := range s.Vouchers {
		v := fixtureVoucher(t, fv.Fields)
		c, err := v.Cell()
		require.NoError(t, err)
		require.Equal(t, fv.Hash, hex.EncodeToString(c.Hash()), "voucher %d cell", i)
		require.Equal(t, fv.Hash, hex.EncodeToString(mustBOC(t, fv.BOC).Hash()))

		// The contracts' mirror struct encodes the same cell.
		mv, err := VoucherFrom(v)
		require.NoError(t, err)
		mc, err := Encode(mv)
		require.NoError(t, err)
		require.Equal(t, fv.Hash, hex.EncodeToString(mc.Hash()))

		// Strict parsing accepts @ton/core's BOC and gives the same values back.
		parsed, err := voucher.ParseBOC(mustBOC(t, fv.BOC).ToBOC())
		require.NoError(t, err)
		rawBOC, err := hex.DecodeString(fv.BOC)
		require.NoError(t, err)
		parsedRaw, err := voucher.ParseBOC(rawBOC)
		require.NoError(t, err)
		require.Equal(t, parsed, parsedRaw)
		require.Equal(t, v.Channel.StringRaw(), parsed.Channel.StringRaw())
		require.Zero(t, v.Amount.Cmp(parsed.Amount))

		// Same signature (ed25519 is deterministic), and the @ton/crypto one verifies.
		signed, err := v.Sign(key)
		require.NoError(t, err)
		require.Equal(t, fv.Signature, hex.EncodeToString(signed.Signature[:]), "voucher %d signature", i)
		theirs := voucher.Signed{Voucher: parsed}
		sig, err := hex.DecodeString(fv.Signature)
		require.NoError(t, err)
		copy(theirs.Signature[:], sig)
		require.NoError(t, theirs.Verify(pub))
		batch = append(batch, theirs)

		// Through the HTTP header and back.
		h, err := voucher.EncodeHeader(&theirs)
		require.NoError(t, err)
		back, err := voucher.DecodeHeader(h)
		require.NoError(t, err)
		require.NoError(t, back.Verify(pub))
	}
	pubs := make([]ed25519.PublicKey, len(batch))
	for i := range pubs {
		pubs[i] = pub
	}
	ok, err := voucher.VerifyBatch(batch, pubs)
	require.NoError(t, err)
	require.NotContains(t, ok, false)

	require.NotEmpty(t, s.CloseRequests)
	for i, fr := range s.CloseRequests {
		r := fromJSON(t, reflect.TypeOf(CloseRequest{}), fr.Fields).Interface().(CloseRequest)
		c, err := r.Cell()
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(mustBOC(t, fr.BOC).Hash()), hex.EncodeToString(c.Hash()), "close request %d", i)
		sig, err := r.Sign(key)
		require.NoError(t, err)
		require.Equal(t, fr.Signature, hex.EncodeToString(sig), "close request %d signature", i)
	}
}

func loadChannelSandbox(t *testing.T) channelFixtureChain {
	t.Helper()
	s := loadChannelFixtures(t).Sandbox
	code := ChannelCode()
	if s.ChannelCodeHash != hex.EncodeToString(code.Hash()) {
		t.Fatalf("testdata/channel-fixtures.json was made with other channel code than contracts/build: " +
			"run `cd tolk && REWRITE_FIXTURES=1 node --test tests/go-fixtures-channel.test.js` after `make contracts`")
	}
	require.Equal(t, s.ChannelCodeHash, hex.EncodeToString(mustBOC(t, s.ChannelCode).Hash()))
	return s
}

func TestChannelFixtureAddress(t *testing.T) {
	s := loadChannelSandbox(t)
	key, err := hex.DecodeString(s.ClientKey)
	require.NoError(t, err)
	got, err := ChannelAddress(mustBOC(t, s.ChannelCode), rawAddr(t, s.Registry), key, rawAddr(t, s.Provider))
	require.NoError(t, err)
	require.Equal(t, s.Channel, got.StringRaw(), "Go derives the address the registry deployed")

	// The initial data is the address preimage: the deployed data before any message differs
	// from it only in what ChannelInit set.
	init, err := ChannelInitData(rawAddr(t, s.Registry), key, rawAddr(t, s.Provider))
	require.NoError(t, err)
	st, err := DecodeChannelStorage(init)
	require.NoError(t, err)
	require.Equal(t, ChannelUninit, st.Status)
	require.Nil(t, st.Setup.PayoutTo)
	require.Nil(t, st.Closing)
}

func TestChannelFixtureStorage(t *testing.T) {
	s := loadChannelSandbox(t)
	key, err := hex.DecodeString(s.ClientKey)
	require.NoError(t, err)
	fee := decBig(t, s.RegistryParams["protocolFeeBps"]).Uint64()
	period := decBig(t, s.RegistryParams["challengePeriod"]).Uint64()
	v1 := fixtureVoucher(t, s.Vouchers[0])

	for _, label := range []string{"opened", "claimed", "closing"} {
		t.Run(label, func(t *testing.T) {
			raw := mustBOC(t, s.ChannelData[label])
			st, err := DecodeChannelStorage(raw)
			require.NoError(t, err)
			require.Equal(t, key, st.ClientKey)
			require.Equal(t, s.Provider, st.Provider.StringRaw())
			require.Equal(t, s.Registry, st.Setup.Registry.StringRaw())
			require.Equal(t, s.Owner, st.Setup.PayoutTo.StringRaw())
			require.Equal(t, s.Treasury, st.Setup.Treasury.StringRaw())
			require.Equal(t, uint16(fee), st.ProtocolFeeBps)
			require.Equal(t, uint32(period), st.Setup.ChallengePeriod)
			switch label {
			case "opened":
				require.Equal(t, ChannelOpen, st.Status)
				require.True(t, st.AcceptedAmount.IsZero())
				require.Nil(t, st.Closing)
			case "claimed":
				require.Equal(t, ChannelOpen, st.Status)
				require.Equal(t, v1.Amount.String(), st.AcceptedAmount.Nano().String())
				require.Equal(t, v1.PromptTokens, st.AcceptedPrompt)
				require.Equal(t, v1.CompletionTokens, st.AcceptedCompletion)
				require.Equal(t, v1.Amount.String(), st.Paid.Nano().String())
			case "closing":
				require.Equal(t, ChannelClosing, st.Status)
				require.NotNil(t, st.Closing)
				require.Equal(t, s.Client, st.Closing.RefundTo.StringRaw())
			}
			again, err := EncodeChannelStorage(st)
			require.NoError(t, err)
			require.Equal(t, raw.Hash(), again.Hash())
		})
	}
}

func TestChannelFixtureGetters(t *testing.T) {
	s := loadChannelSandbox(t)
	key, err := hex.DecodeString(s.ClientKey)
	require.NoError(t, err)
	v1, v2 := fixtureVoucher(t, s.Vouchers[0]), fixtureVoucher(t, s.Vouchers[1])
	seen := map[string]bool{}
	for _, g := range s.Getters {
		res := &chain.GetMethodResult{Stack: fixtureStackValues(t, g.Stack)}
		seen[g.Method+"/"+g.Label] = true
		t.Run(g.Method+"/"+g.Label, func(t *testing.T) {
			switch g.Method {
			case MethodGetChannelAddress:
				a, err := DecodeChannelAddress(res)
				require.NoError(t, err)
				require.Equal(t, s.Channel, a.StringRaw())
				args := fixtureStackValues(t, g.Args)
				require.Equal(t, new(big.Int).SetBytes(key), args[0])
			case MethodGetChannelData:
				d, err := DecodeChannelData(res)
				require.NoError(t, err)
				require.Equal(t, s.Registry, d.Registry.StringRaw())
				require.Equal(t, key, d.ClientKey)
				require.Equal(t, s.Provider, d.Provider.StringRaw())
				require.Equal(t, s.Owner, d.PayoutTo.StringRaw())
				require.Equal(t, s.Treasury, d.Treasury.StringRaw())
				require.Equal(t, s.RegistryParams["protocolFeeBps"], big.NewInt(int64(d.ProtocolFeeBps)).String())
				require.Equal(t, s.RegistryParams["challengePeriod"], big.NewInt(int64(d.ChallengePeriod)).String())
			case MethodGetChannelState:
				st, err := DecodeChannelState(res)
				require.NoError(t, err)
				owed := new(big.Int).Sub(st.AcceptedAmount.Nano(), st.Paid.Nano())
				require.Equal(t, owed.String(), st.Owed.Nano().String(), "owed = accepted - paid")
				switch g.Label {
				case "opened":
					require.Equal(t, ChannelOpen, st.Status)
					require.True(t, st.AcceptedAmount.IsZero())
					require.Nil(t, st.RefundTo)
					require.Positive(t, st.Available.Nano().Sign())
				case "claimed":
					acc := st.Accepted(rawAddr(t, s.Channel))
					o, err := voucher.Compare(&v1, &acc)
					require.NoError(t, err)
					require.Equal(t, voucher.Same, o)
					require.True(t, st.Owed.IsZero())
				case "partial":
					// A voucher above the balance: accepted in full, paid what was available.
					require.Equal(t, v2.Amount.String(), st.AcceptedAmount.Nano().String())
					require.Positive(t, st.Owed.Nano().Sign())
					require.True(t, voucher.IsNewer(&v1, &v2))
				case "closing":
					require.Equal(t, ChannelClosing, st.Status)
					require.Equal(t, s.Client, st.RefundTo.StringRaw())
					require.NotZero(t, st.CloseDeadline)
				case "closed":
					require.NotEqual(t, ChannelClosing, st.Status)
					require.Nil(t, st.RefundTo)
					require.Equal(t, uint32(1), st.CloseNonce)
				default:
					t.Fatalf("unexpected label %s", g.Label)
				}
			default:
				t.Fatalf("fixture has getter %s with no Go decoder", g.Method)
			}
		})
	}
	for _, want := range []string{"get_channel_address/registry", "get_channel_data/opened", "get_channel_state/claimed", "get_channel_state/partial", "get_channel_state/closing"} {
		require.True(t, seen[want], "no fixture for %s", want)
	}
}

// Bodies built by the channel and registry themselves: Go parses each and rebuilds the same cell.
func TestChannelFixtureSentByContracts(t *testing.T) {
	s := loadChannelSandbox(t)
	key, err := hex.DecodeString(s.ClientKey)
	require.NoError(t, err)
	v1 := fixtureVoucher(t, s.Vouchers[0])
	bps := decBig(t, s.RegistryParams["protocolFeeBps"])
	seen := map[string]bool{}
	for _, m := range s.SentByContracts {
		body := mustBOC(t, m.BOC)
		msg, err := Decode(body)
		require.NoError(t, err, "%s from %s", m.Opcode, m.From)
		seen[msg.MessageName()] = true
		again, err := Encode(msg)
		require.NoError(t, err)
		require.Equal(t, hex.EncodeToString(body.Hash()), hex.EncodeToString(again.Hash()), msg.MessageName())
		switch v := msg.(type) {
		case ChannelInit:
			require.Equal(t, s.Client, v.Opener.StringRaw())
			require.Equal(t, s.Owner, v.PayoutTo.StringRaw())
			require.Equal(t, s.Treasury, v.Treasury.StringRaw())
		case ChannelUsage:
			// The first claim: the roots are the channel's data before and after it, and the
			// provider earns the voucher minus the fee, rounded down.
			require.Equal(t, s.Relayer, v.ExcessTo.StringRaw())
			for root, label := range map[*ChannelStorage]string{v.Before: "opened", v.After: "claimed"} {
				c, err := EncodeChannelStorage(root)
				require.NoError(t, err)
				require.Equal(t, hex.EncodeToString(mustBOC(t, s.ChannelData[label]).Hash()), hex.EncodeToString(c.Hash()), label)
			}
			got, err := v.Claimed()
			require.NoError(t, err)
			require.Equal(t, key, got.ClientKey)
			require.Equal(t, v1.PromptTokens, got.PromptTokens)
			require.Equal(t, v1.CompletionTokens, got.CompletionTokens)
			fee := new(big.Int).Div(new(big.Int).Mul(v1.Amount, bps), big.NewInt(10000))
			require.Equal(t, v1.Amount.String(), got.Amount.String())
			require.Equal(t, new(big.Int).Sub(v1.Amount, fee).String(), got.Earned.String())
			require.Equal(t, fee.String(), got.Fee.String())
		}
	}
	for _, name := range []string{"ChannelInit", "ChannelUsage", "ChannelPayout", "ProtocolFee", "ChannelRefund"} {
		require.True(t, seen[name], "no %s sent by a contract in the fixture", name)
	}
}
