package contracts

import (
	"encoding/hex"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

func TestEmbeddedCode(t *testing.T) {
	for _, n := range Names {
		code, err := Code(n)
		require.NoError(t, err, n)
		info, err := Info(n)
		require.NoError(t, err, n)
		require.Equal(t, string(n), info.Name)
		require.Equal(t, TolkVersion, info.TolkVersion, "%s compiled with another Tolk", n)
		require.Equal(t, strings.ToLower(info.CodeHashHex), hex.EncodeToString(code.Hash()), n)

		// The embedded bytes are the committed file.
		boc, err := os.ReadFile("build/" + string(n) + ".boc")
		require.NoError(t, err)
		fromDisk, err := cell.FromBOC(boc)
		require.NoError(t, err)
		require.Equal(t, fromDisk.Hash(), code.Hash())
	}
	require.Equal(t, mustCode(Registry).Hash(), RegistryCode().Hash())
	require.Equal(t, mustCode(Provider).Hash(), ProviderCode().Hash())
	require.Equal(t, mustCode(Channel).Hash(), ChannelCode().Hash())
	require.NotEqual(t, RegistryCode().Hash(), ProviderCode().Hash())
	require.NotEqual(t, RegistryCode().Hash(), ChannelCode().Hash())
	require.NotEqual(t, ProviderCode().Hash(), ChannelCode().Hash())

	_, err := Code("wallet")
	require.ErrorIs(t, err, ErrUnknownContract)
}
