// Package models ships Cocoon's default demo model inside the binary, so a devnet, the tests and
// `cocoon model` work without downloading weights.
//
// The model is a ~1.1M-parameter llama-architecture base model trained on the King James Bible
// (public domain) by models/train; see models/README.md for how it was made. It writes
// Bible-flavoured English and nothing more: it exists to exercise the whole inference path.
package models

import _ "embed"

//go:embed cocoon-kjv-demo-1m.gguf
var defaultGGUF []byte

const (
	// DefaultModelName is the name the default model is registered, served and requested under.
	DefaultModelName = "cocoon-kjv-demo-1m"
	// DefaultName is the model's general.name.
	DefaultName = "cocoon-kjv-demo-1m"
	// DefaultSHA256 is the hex sha256 of the GGUF file: the weights hash the registry lists.
	// INVARIANT: equals sha256(cocoon-kjv-demo-1m.gguf); TestDefaultSHA256 enforces it.
	DefaultSHA256 = "f8e1db281883715efb913209f82e6f8f6b94f31a8631abeccb0bd538888af8dd"
)

// DefaultGGUF returns the default model's GGUF file. The slice is shared: callers must not modify it.
func DefaultGGUF() []byte { return defaultGGUF }
