package keys

import (
	"bytes"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/chain/wallet"
)

func TestChannelKeyFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "k")
	seed := bytes.Repeat([]byte{7}, 32)
	if err := WriteChannelKey(path, seed); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode: %v %v", st, err)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("key dir mode: %v %v", st, err)
	}
	raw, _ := os.ReadFile(path)
	if strings.TrimSpace(string(raw)) != hex.EncodeToString(seed) {
		t.Fatalf("key file holds %q", raw)
	}
	priv, err := ReadChannelKey(path)
	if err != nil || !bytes.Equal(priv.Seed(), seed) {
		t.Fatalf("read back: %v", err)
	}
	if err := WriteChannelKey(path, seed); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "refusing to overwrite a channel key") {
		t.Fatalf("overwrite: %v", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadChannelKey(path); err == nil || !strings.Contains(err.Error(), "has permissions 0644: it signs payments and must be private to you (chmod 600 "+path+")") {
		t.Fatalf("a world-readable key file: %v", err)
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, []byte("abcd\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadChannelKey(bad); err == nil || !strings.Contains(err.Error(), "32-byte seed") {
		t.Fatalf("a short key file: %v", err)
	}
	missing := filepath.Join(dir, "missing")
	if _, err := ReadChannelKey(missing); err == nil || err.Error() != "no channel key file at "+missing+": create one with 'cocoon channel key new --out "+missing+"'" {
		t.Fatalf("a missing key file: %v", err)
	}
	if _, err := ReadChannelKey(dir); err == nil || !strings.Contains(err.Error(), "is not a regular file") {
		t.Fatalf("a directory: %v", err)
	}
	fresh := filepath.Join(dir, "fresh")
	k, err := NewChannelKey(fresh)
	if err != nil {
		t.Fatal(err)
	}
	if back, err := ReadChannelKey(fresh); err != nil || !back.Equal(k) {
		t.Fatalf("a new key reads back: %v", err)
	}
}

func TestMnemonicFileAndEnvironment(t *testing.T) {
	t.Setenv(EnvMnemonic, "")
	t.Setenv(EnvWalletKeyFile, "")
	dir := t.TempDir()
	words := wallet.NewMnemonic()
	path := filepath.Join(dir, "w.key")
	if err := WriteMnemonic(path, words); err != nil {
		t.Fatal(err)
	}
	if err := WriteMnemonic(path, words); !errors.Is(err, ErrExists) || err.Error() != "key file "+path+" already exists: refusing to overwrite a key; move it away first" {
		t.Fatalf("overwrite: %v", err)
	}
	got, err := ReadMnemonic(path)
	if err != nil || strings.Join(got, " ") != strings.Join(words, " ") {
		t.Fatalf("read back: %v", err)
	}
	want, err := wallet.FromMnemonic(words, wallet.V5R1, wallet.MainnetGlobalID)
	if err != nil {
		t.Fatal(err)
	}
	src := WalletSource{KeyFile: path, KeyFileSet: true, Version: wallet.V5R1, GlobalID: wallet.MainnetGlobalID}
	if w, err := src.Wallet(); err != nil || !w.Address().Equals(want.Address()) {
		t.Fatalf("wallet from file: %v", err)
	}
	// $COCOON_WALLET_MNEMONIC wins over the default and $COCOON_WALLET_KEY_FILE, not over an explicit file.
	other := wallet.NewMnemonic()
	t.Setenv(EnvMnemonic, strings.Join(other, " "))
	t.Setenv(EnvWalletKeyFile, path)
	otherW, _ := wallet.FromMnemonic(other, wallet.V5R1, wallet.MainnetGlobalID)
	if w, err := (WalletSource{Version: wallet.V5R1, GlobalID: wallet.MainnetGlobalID}).Wallet(); err != nil || !w.Address().Equals(otherW.Address()) {
		t.Fatalf("wallet from the environment: %v", err)
	}
	if w, err := src.Wallet(); err != nil || !w.Address().Equals(want.Address()) {
		t.Fatalf("an explicit key file over the environment: %v", err)
	}
	// Without the mnemonic variable, $COCOON_WALLET_KEY_FILE names the file.
	t.Setenv(EnvMnemonic, "")
	if p, err := WalletKeyFile(""); err != nil || p != path {
		t.Fatalf("key file from the environment: %q %v", p, err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadMnemonic(path); err == nil || !strings.Contains(err.Error(), "it holds your mnemonic and must be private to you (chmod 600 ") {
		t.Fatalf("a group-readable key file: %v", err)
	}
	if _, err := ReadMnemonic(filepath.Join(dir, "none")); err == nil || !strings.Contains(err.Error(), "create one with 'cocoon wallet new' or 'cocoon wallet import', or set $COCOON_WALLET_MNEMONIC") {
		t.Fatalf("a missing key file: %v", err)
	}
	t.Setenv(EnvMnemonic, "not a mnemonic")
	if _, err := (WalletSource{Version: wallet.V5R1}).Wallet(); !errors.Is(err, wallet.ErrMnemonic) {
		t.Fatalf("a bad mnemonic: %v", err)
	}
}

func TestOracleKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k", "oracle.key")
	k, err := NewOracleKey(path)
	if err != nil {
		t.Fatal(err)
	}
	back, err := ReadOracleKey(path)
	if err != nil || !bytes.Equal(k, back) {
		t.Fatalf("read back %x, %v; want %x", back, err, k)
	}
	if _, err := NewOracleKey(path); !errors.Is(err, ErrExists) {
		t.Fatalf("second NewOracleKey: %v, want ErrExists", err)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadOracleKey(path); err == nil || !strings.Contains(err.Error(), "must be private") {
		t.Fatalf("a readable key file: %v", err)
	}
}
