// Package keys reads and writes the secrets Cocoon's tools and daemons sign with: wallet mnemonic
// files (24 words, what `cocoon wallet new` writes) and channel key files (a client's ed25519 seed
// in hex, what `cocoon channel key new` writes).
//
// Both are files private to their owner: created with mode 0600 in a directory of mode 0700, never
// overwritten, and refused when group or others may read or write them. The environment can name
// them (EnvWalletKeyFile, EnvChannelKeyFile) or, for a wallet, hold the mnemonic itself
// (EnvMnemonic).
package keys

import (
	"crypto/ed25519"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/cocoon-go/cocoon/chain/wallet"
)

// Environment variables that name keys.
const (
	// EnvMnemonic holds a wallet mnemonic itself; it is used when no key file is named explicitly.
	EnvMnemonic = "COCOON_WALLET_MNEMONIC"
	// EnvWalletKeyFile names the wallet key file when none is given explicitly.
	EnvWalletKeyFile = "COCOON_WALLET_KEY_FILE"
	// EnvChannelKeyFile names a client's channel key file when none is given explicitly.
	EnvChannelKeyFile = "COCOON_CHANNEL_KEY_FILE"
)

// ErrExists is a key file that is already there: keys are never overwritten.
var ErrExists = errors.New("key file already exists")

// WalletKeyFile is the wallet key file to use: explicit when given, else $COCOON_WALLET_KEY_FILE,
// else ~/.config/cocoon/wallet.key (the per-user config directory).
func WalletKeyFile(explicit string) (string, error) {
	if explicit != "" {
		return explicit, nil
	}
	if p := os.Getenv(EnvWalletKeyFile); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("failed to find a place for the key file (give --key-file): %w", err)
	}
	return filepath.Join(dir, "cocoon", "wallet.key"), nil
}

// WalletSource says where a wallet's mnemonic comes from.
type WalletSource struct {
	// KeyFile is the key file given explicitly ("" when none was).
	KeyFile string
	// KeyFileSet: KeyFile was given explicitly (a flag on the command line), so it wins over
	// $COCOON_WALLET_MNEMONIC.
	KeyFileSet bool
	Version    wallet.Version
	GlobalID   int32
}

// Mnemonic returns the wallet's words: $COCOON_WALLET_MNEMONIC when set and no key file was
// given explicitly, otherwise the key file's (WalletKeyFile).
func (s WalletSource) Mnemonic() ([]string, error) {
	if env := os.Getenv(EnvMnemonic); env != "" && !s.KeyFileSet {
		return strings.Fields(env), nil
	}
	path, err := WalletKeyFile(s.KeyFile)
	if err != nil {
		return nil, err
	}
	return ReadMnemonic(path)
}

// Wallet loads the wallet the source names.
func (s WalletSource) Wallet() (*wallet.Wallet, error) {
	words, err := s.Mnemonic()
	if err != nil {
		return nil, err
	}
	w, err := wallet.FromMnemonic(words, s.Version, s.GlobalID)
	if err != nil {
		return nil, fmt.Errorf("failed to load wallet: %w", err)
	}
	return w, nil
}

// ReadMnemonic reads a wallet key file's words, refusing a file that group or others can read or
// write.
func ReadMnemonic(path string) ([]string, error) {
	raw, err := ReadPrivate(path, "wallet key file",
		fmt.Sprintf("create one with 'cocoon wallet new' or 'cocoon wallet import', or set $%s", EnvMnemonic),
		"it holds your mnemonic")
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(raw)), nil
}

// WriteMnemonic creates a wallet key file holding words (mode 0600, its directory 0700); it never
// overwrites a file.
func WriteMnemonic(path string, words []string) error {
	return writePrivate(path, strings.Join(words, " "), "refusing to overwrite a key; move it away first")
}

// ReadChannelKey reads a channel key file (a 32-byte ed25519 seed in hex), refusing one that group
// or others can read or write.
func ReadChannelKey(path string) (ed25519.PrivateKey, error) {
	return readSeedKey(path, "channel key file", fmt.Sprintf("create one with 'cocoon channel key new --out %s'", path), "it signs payments")
}

// readSeedKey reads a file holding a 32-byte ed25519 seed in hex (ReadPrivate's rules).
func readSeedKey(path, kind, create, holds string) (ed25519.PrivateKey, error) {
	raw, err := ReadPrivate(path, kind, create, holds)
	if err != nil {
		return nil, err
	}
	seed, err := hex.DecodeString(strings.TrimSpace(string(raw)))
	if err != nil || len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%s %s does not hold a 32-byte seed in hex (64 hex digits)", kind, path)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// WriteChannelKey creates a channel key file holding seed in hex (mode 0600, its directory 0700);
// it never overwrites a file.
func WriteChannelKey(path string, seed []byte) error {
	if len(seed) != ed25519.SeedSize {
		return fmt.Errorf("a channel key seed has %d bytes, not %d", ed25519.SeedSize, len(seed))
	}
	return writePrivate(path, hex.EncodeToString(seed),
		"refusing to overwrite a channel key (vouchers signed with it would become unclaimable by you); move it away first")
}

// NewChannelKey creates a channel key file with a fresh key and returns the key.
func NewChannelKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("failed to generate a channel key: %w", err)
	}
	if err := WriteChannelKey(path, priv.Seed()); err != nil {
		return nil, err
	}
	return priv, nil
}

// ReadPrivate reads a secret file, refusing one that is missing (create says how to make one), not
// a regular file, or readable or writable by group or others (holds says what the secret is for).
// kind names the file in messages ("wallet key file").
func ReadPrivate(path, kind, create, holds string) ([]byte, error) {
	st, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no %s at %s: %s", kind, path, create)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", kind, err)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s %s is not a regular file", kind, path)
	}
	if perm := st.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s %s has permissions %04o: %s and must be private to you (chmod 600 %s)", kind, path, perm, holds, path)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", kind, err)
	}
	return raw, nil
}

// writePrivate creates path with mode 0600 (its directory 0700) holding text and a newline; an
// existing file is ErrExists, described by refusal.
func writePrivate(path, text, refusal string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("failed to create key directory: %w", err)
	}
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if errors.Is(err, fs.ErrExist) {
		return &existsError{path: path, refusal: refusal}
	}
	if err != nil {
		return fmt.Errorf("failed to create key file: %w", err)
	}
	_, werr := fmt.Fprintln(fh, text)
	if err := errors.Join(werr, fh.Sync(), fh.Close()); err != nil {
		_ = os.Remove(path)
		return fmt.Errorf("failed to write key file: %w", err)
	}
	return nil
}

// existsError is ErrExists with the file and what to do about it.
type existsError struct{ path, refusal string }

func (e *existsError) Error() string {
	return fmt.Sprintf("key file %s already exists: %s", e.path, e.refusal)
}

func (e *existsError) Is(target error) bool { return target == ErrExists }

// ReadOracleKey reads an oracle key file (a 32-byte ed25519 seed in hex: the key the registry lists
// for the oracle, which signs its uptime tables), refusing one that group or others can read or write.
func ReadOracleKey(path string) (ed25519.PrivateKey, error) {
	return readSeedKey(path, "oracle key file", fmt.Sprintf("create one with 'cocoon oracle key new --out %s'", path), "it signs the oracle's reports")
}

// NewOracleKey creates an oracle key file with a fresh key (mode 0600, never overwriting) and returns it.
func NewOracleKey(path string) (ed25519.PrivateKey, error) {
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		return nil, fmt.Errorf("failed to generate an oracle key: %w", err)
	}
	if err := writePrivate(path, hex.EncodeToString(priv.Seed()),
		"refusing to overwrite an oracle key (the registry lists its public key); move it away first"); err != nil {
		return nil, err
	}
	return priv, nil
}
