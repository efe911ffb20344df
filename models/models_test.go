package models

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestDefaultSHA256(t *testing.T) {
	sum := sha256.Sum256(DefaultGGUF())
	if got := hex.EncodeToString(sum[:]); got != DefaultSHA256 {
		t.Fatalf("embedded GGUF sha256 is %s, DefaultSHA256 says %s", got, DefaultSHA256)
	}
}

func TestDefaultGGUFIsGGUFv3(t *testing.T) {
	b := DefaultGGUF()
	if len(b) < 8 || string(b[:4]) != "GGUF" || b[4] != 3 || b[5] != 0 || b[6] != 0 || b[7] != 0 {
		t.Fatalf("embedded file does not start with a GGUF v3 header")
	}
}

func TestRead(t *testing.T) {
	for _, p := range []string{"", "default"} {
		f, err := Read(p)
		if err != nil || f.Name != DefaultModelName || f.Path != "" || f.SHA256 != DefaultSHA256 || len(f.Weights) != len(DefaultGGUF()) {
			t.Fatalf("Read(%q) = %+v, %v", p, f, err)
		}
	}
	path := filepath.Join(t.TempDir(), "my-model.Q8_0.gguf")
	if err := os.WriteFile(path, []byte("GGUF"), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Read(path)
	sum := sha256.Sum256([]byte("GGUF"))
	if err != nil || f.Name != "my-model.Q8_0" || f.Path != path || f.SHA256 != hex.EncodeToString(sum[:]) || string(f.Weights) != "GGUF" {
		t.Fatalf("Read(%q) = %+v, %v", path, f, err)
	}
	if _, err := Read(filepath.Join(t.TempDir(), "missing.gguf")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
}
