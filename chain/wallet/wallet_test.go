package wallet

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	tonwallet "github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestParseTON(t *testing.T) {
	good := map[string]string{
		"0": "0", "1": "1000000000", "0.5": "500000000", ".5": "500000000", "12.000000001": "12000000001",
		"0.000000001": "1", "1000000": "1000000000000000", "007.10": "7100000000",
	}
	for in, want := range good {
		got, err := ParseTON(in)
		if err != nil || got.String() != want {
			t.Errorf("ParseTON(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", ".", "1.", "-1", "+1", "1e9", "0.0000000001", "1,5", "1.2.3", " 1", "0x10", "１",
		strings.Repeat("9", 40)} {
		if _, err := ParseTON(in); !errors.Is(err, ErrAmount) {
			t.Errorf("ParseTON(%q) accepted (err %v)", in, err)
		}
	}
}

func TestFormatTON(t *testing.T) {
	for in, want := range map[int64]string{0: "0", 1: "0.000000001", 1_500_000_000: "1.5", 2_000_000_000: "2", -1_000_000_001: "-1.000000001"} {
		if got := FormatTON(big.NewInt(in)); got != want {
			t.Errorf("FormatTON(%d) = %s, want %s", in, got, want)
		}
		if in >= 0 {
			back, err := ParseTON(FormatTON(big.NewInt(in)))
			if err != nil || back.Int64() != in {
				t.Errorf("round trip of %d: %v %v", in, back, err)
			}
		}
	}
}

func TestParseVersion(t *testing.T) {
	for in, want := range map[string]Version{"v5r1": V5R1, "V5": V5R1, "w5": V5R1, "v4r2": V4R2, "V4": V4R2} {
		if got, err := ParseVersion(in); err != nil || got != want {
			t.Errorf("ParseVersion(%q) = %s, %v", in, got, err)
		}
	}
	if _, err := ParseVersion("v3r2"); !errors.Is(err, ErrVersion) {
		t.Errorf("v3r2 accepted")
	}
}

func TestMnemonic(t *testing.T) {
	words := NewMnemonic()
	if len(words) != 24 {
		t.Fatalf("%d words", len(words))
	}
	k1, err := KeyFromMnemonic(words)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := KeyFromMnemonic(words)
	if !bytes.Equal(k1, k2) {
		t.Fatal("key derivation is not deterministic")
	}
	if _, err := KeyFromMnemonic(words[:12]); !errors.Is(err, ErrMnemonic) {
		t.Fatal("12 words accepted")
	}
	bad := append([]string{}, words...)
	bad[3] = "notaword"
	if _, err := KeyFromMnemonic(bad); !errors.Is(err, ErrMnemonic) || strings.Contains(err.Error(), "notaword") {
		t.Fatalf("unknown word: %v", err)
	}

	// Same key, same address as tonutils-go derives for the same mnemonic.
	w, err := FromMnemonic(words, V5R1, MainnetGlobalID)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := tonwallet.FromSeedWithOptions(nil, words, tonwallet.ConfigV5R1Final{NetworkGlobalID: MainnetGlobalID})
	if err != nil {
		t.Fatal(err)
	}
	if !w.Address().Equals(ref.WalletAddress()) {
		t.Fatalf("address %s, tonutils-go says %s", w.Address(), ref.WalletAddress())
	}
}

func testKey(b byte) ed25519.PrivateKey { return ed25519.NewKeyFromSeed(bytes.Repeat([]byte{b}, 32)) }

func TestAddressesMatchTonutils(t *testing.T) {
	k := testKey(1)
	for _, tc := range []struct {
		v   Version
		gid int32
		cfg tonwallet.VersionConfig
	}{
		{V5R1, MainnetGlobalID, tonwallet.ConfigV5R1Final{NetworkGlobalID: MainnetGlobalID}},
		{V5R1, TestnetGlobalID, tonwallet.ConfigV5R1Final{NetworkGlobalID: TestnetGlobalID}},
		{V4R2, MainnetGlobalID, tonwallet.V4R2},
	} {
		w, err := New(k, tc.v, tc.gid)
		if err != nil {
			t.Fatal(err)
		}
		ref, err := tonwallet.FromPrivateKeyWithOptions(k, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if !w.Address().Equals(ref.WalletAddress()) {
			t.Errorf("%s/%d: %s, tonutils-go %s", tc.v, tc.gid, w.Address(), ref.WalletAddress())
		}
	}
	a5m, _ := New(k, V5R1, MainnetGlobalID)
	a5t, _ := New(k, V5R1, TestnetGlobalID)
	if a5m.Address().Equals(a5t.Address()) {
		t.Error("V5R1 address must depend on the network id")
	}
	if _, err := New(k[:10], V5R1, MainnetGlobalID); err == nil {
		t.Error("short key accepted")
	}
	if _, err := New(k, "v3", MainnetGlobalID); !errors.Is(err, ErrVersion) {
		t.Error("v3 accepted")
	}
}

// TestSignMatchesTonutils compares our bodies bit for bit with tonutils-go's for the same seqno and
// valid-until: tonutils-go stamps valid_until from the wall clock, so the test takes it from its body.
func TestSignMatchesTonutils(t *testing.T) {
	k := testKey(2)
	to := address.MustParseRawAddr("0:" + strings.Repeat("11", 32))
	for _, tc := range []struct {
		v   Version
		cfg tonwallet.VersionConfig
		// offset of valid_until in the body, in bits
		vuOffset uint
	}{
		{V5R1, tonwallet.ConfigV5R1Final{NetworkGlobalID: -239}, 64},
		{V4R2, tonwallet.V4R2, 512 + 32},
	} {
		ref, err := tonwallet.FromPrivateKeyWithOptions(k, tc.cfg, tonwallet.WithPrivateKey(k))
		if err != nil {
			t.Fatal(err)
		}
		type seqnoSetter interface {
			SetSeqnoFetcher(func(ctx context.Context, sub uint32) (uint32, error))
		}
		ref.GetSpec().(seqnoSetter).SetSeqnoFetcher(func(context.Context, uint32) (uint32, error) { return 7, nil })
		msg, err := ref.BuildTransfer(to, tlb.MustFromTON("1.5"), true, "hi")
		if err != nil {
			t.Fatal(err)
		}
		ext, err := ref.PrepareExternalMessageForMany(context.Background(), false, []*tonwallet.Message{msg})
		if err != nil {
			t.Fatal(err)
		}
		s := ext.Body.MustBeginParse()
		s.MustLoadSlice(tc.vuOffset)
		vu := s.MustLoadUInt(32)

		w, _ := New(k, tc.v, -239)
		comment, _ := Comment("hi")
		signed, err := w.Sign(7, time.Unix(int64(vu), 0), false, Transfer{To: to, Amount: big.NewInt(1_500_000_000), Bounce: true, Body: comment})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(signed.Body.Hash(), ext.Body.Hash()) {
			t.Errorf("%s body differs from tonutils-go's:\nours %s\ntheirs %s", tc.v, signed.Body.Dump(), ext.Body.Dump())
		}
		var m tlb.Message
		if err := tlb.LoadFromCell(&m, signed.Message.MustBeginParse()); err != nil || m.MsgType != tlb.MsgTypeExternalIn {
			t.Fatalf("not an external message: %v", err)
		}
		if !m.AsExternalIn().DstAddr.Equals(w.Address()) || m.AsExternalIn().StateInit != nil {
			t.Error("wrong destination or unexpected StateInit")
		}
	}
}

func TestSignDeployAndLimits(t *testing.T) {
	w, _ := New(testKey(3), V5R1, -239)
	signed, err := w.Sign(0, time.Unix(1_900_000_000, 0), true)
	if err != nil {
		t.Fatal(err)
	}
	var m tlb.Message
	if err := tlb.LoadFromCell(&m, signed.Message.MustBeginParse()); err != nil {
		t.Fatal(err)
	}
	si := m.AsExternalIn().StateInit
	if si == nil || !bytes.Equal(si.Code.Hash(), w.StateInit().Code.Hash()) {
		t.Fatal("deploy message lacks the StateInit")
	}
	siCell, _ := tlb.ToCell(si)
	if !bytes.Equal(siCell.Hash(), w.Address().Data()) {
		t.Fatal("StateInit does not hash to the wallet address")
	}
	// V5R1 signature covers everything before it.
	s := signed.Body.MustBeginParse()
	bits := s.BitsLeft() - 512
	payload := cell.BeginCell().MustStoreSlice(s.MustLoadSlice(bits), bits)
	for s.RefsNum() > 0 {
		payload.MustStoreRef(s.MustLoadRef().MustToCell())
	}
	sig := s.MustLoadSlice(512)
	if !ed25519.Verify(w.PublicKey(), payload.EndCell().Hash(), sig) {
		t.Fatal("signature does not verify")
	}

	to := address.MustParseRawAddr("0:" + strings.Repeat("22", 32))
	five := make([]Transfer, 5)
	for i := range five {
		five[i] = Transfer{To: to, Amount: big.NewInt(1)}
	}
	v4, _ := New(testKey(3), V4R2, -239)
	if _, err := v4.Sign(1, time.Unix(1_900_000_000, 0), false, five...); !errors.Is(err, ErrTooManyMessages) {
		t.Fatalf("five V4R2 transfers: %v", err)
	}
	if _, err := w.Sign(1, time.Unix(1_900_000_000, 0), false, five...); err != nil {
		t.Fatalf("five V5R1 transfers: %v", err)
	}
	if _, err := w.Sign(1, time.Unix(1_900_000_000, 0), false, Transfer{To: to, Amount: big.NewInt(-1)}); err == nil {
		t.Fatal("negative amount accepted")
	}
	if _, err := w.Sign(1, time.Unix(1_900_000_000, 0), false, Transfer{Amount: big.NewInt(1)}); err == nil {
		t.Fatal("missing destination accepted")
	}
	if _, err := w.Sign(1, time.Unix(1<<33, 0), false); err == nil {
		t.Fatal("valid-until past 2106 accepted")
	}
}

func TestCheckSuccess(t *testing.T) {
	ok := &tlb.Transaction{Description: tlb.TransactionDescriptionOrdinary{ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseVM{Success: true}}}}
	if err := CheckSuccess(ok); err != nil {
		t.Fatal(err)
	}
	failed := &tlb.Transaction{LT: 5, Description: tlb.TransactionDescriptionOrdinary{Aborted: true,
		ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseVM{Details: tlb.ComputePhaseVMDetails{ExitCode: 33}}}}}
	if err := CheckSuccess(failed); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "33") {
		t.Fatalf("failed compute: %v", err)
	}
	action := &tlb.Transaction{Description: tlb.TransactionDescriptionOrdinary{Aborted: true,
		ComputePhase: tlb.ComputePhase{Phase: tlb.ComputePhaseVM{Success: true}}, ActionPhase: &tlb.ActionPhase{ResultCode: 37}}}
	if err := CheckSuccess(action); !errors.Is(err, ErrFailed) || !strings.Contains(err.Error(), "37") {
		t.Fatalf("failed action: %v", err)
	}
}
