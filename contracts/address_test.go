package contracts

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestStateInitShape(t *testing.T) {
	code := cell.BeginCell().MustStoreUInt(0xC0DE, 16).EndCell()
	data := cell.BeginCell().MustStoreUInt(0xDA7A, 16).EndCell()
	si, err := StateInit(code, data)
	require.NoError(t, err)
	// split_depth absent, special absent, code present, data present, library empty.
	require.Equal(t, uint(5), si.BitsSize())
	s := si.MustBeginParse()
	require.Equal(t, uint64(0b00110), s.MustLoadUInt(5))
	require.Equal(t, uint(2), si.RefsNum())
	require.Equal(t, code.Hash(), si.MustPeekRef(0).Hash())
	require.Equal(t, data.Hash(), si.MustPeekRef(1).Hash())

	_, err = StateInit(nil, data)
	require.Error(t, err)
}

// A wallet's address is the same derivation, computed by tonutils-go's own wallet code.
func TestAddressOfMatchesWalletDerivation(t *testing.T) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	want, err := wallet.AddressFromPubKey(pub, wallet.V4R2, wallet.DefaultSubwallet)
	require.NoError(t, err)
	si, err := wallet.GetStateInit(pub, wallet.V4R2, wallet.DefaultSubwallet)
	require.NoError(t, err)

	got, err := AddressOf(si.Code, si.Data)
	require.NoError(t, err)
	require.Equal(t, want.StringRaw(), got.StringRaw())
	require.True(t, got.IsBounceable())
}

func TestCheckStdAddr(t *testing.T) {
	ok := address.NewAddress(0, 0, make([]byte, 32))
	require.NoError(t, checkStdAddr("owner", ok))
	for name, a := range map[string]*address.Address{
		"nil":         nil,
		"none":        address.NewAddressNone(),
		"masterchain": address.NewAddress(0, 255, make([]byte, 32)),
		"extern":      address.NewAddressExt(0, 8, []byte{1}),
	} {
		err := checkStdAddr("owner", a)
		require.True(t, errors.Is(err, ErrBadAddress), "%s: %v", name, err)
	}
}
