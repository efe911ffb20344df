package models

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File is a GGUF model file read into memory once: what is hashed is what is loaded.
type File struct {
	// Name is the name to serve the model under unless the operator gives one: DefaultModelName for
	// the default model, else the file's base name without its extension.
	Name string
	// Path is the file read; "" for the embedded default model.
	Path    string
	Weights []byte
	// SHA256 is the lowercase hex sha256 of Weights (the registry's weights hash).
	SHA256 string
}

// IsDefault reports whether path names the embedded default model: "" or "default".
func IsDefault(path string) bool { return path == "" || path == "default" }

// Read reads the GGUF file at path, or the embedded default model when IsDefault(path).
func Read(path string) (*File, error) {
	f := &File{Name: DefaultModelName, Weights: DefaultGGUF()}
	if !IsDefault(path) {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("failed to read model: %w", err)
		}
		f.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
		f.Path, f.Weights = path, b
	}
	sum := sha256.Sum256(f.Weights)
	f.SHA256 = hex.EncodeToString(sum[:])
	return f, nil
}
