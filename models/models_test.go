package models

import (
	"crypto/sha256"
	"encoding/hex"
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
