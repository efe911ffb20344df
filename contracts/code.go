// Package contracts is the Go side of the Cocoon smart contracts: their compiled code (embedded
// from contracts/build, which `make contracts` writes from tolk/src), a Go struct for every
// message and storage layout (tonutils-go tlb tags, mirrored from tolk/src/messages.tolk and
// storage.tolk), address derivation, and decoders for every get-method. abi_test.go checks every
// mirror, exit code, status and getter decoder against the compiler's ABI (build/<name>.abi.json).
//
// The layouts are proven byte for byte against the Tolk side by testdata/fixtures.json, which
// tolk/tests/go-fixtures.test.js produces with @ton/sandbox.
package contracts

import (
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/xssnick/tonutils-go/tvm/cell"
)

// TolkVersion is the compiler version the embedded code was built with (tolk/package.json pins it).
const TolkVersion = "1.4.2"

// Name identifies one of the contracts in contracts/build.
type Name string

// The compiled contracts.
const (
	Registry Name = "registry"
	Provider Name = "provider"
	Channel  Name = "channel"
)

// Names lists every embedded contract.
var Names = []Name{Registry, Provider, Channel}

//go:embed build/*.boc build/*.json
var buildFS embed.FS

// ErrUnknownContract is a Name with no embedded code.
var ErrUnknownContract = errors.New("unknown contract")

// BuildInfo is contracts/build/<name>.json, written by the compile script.
type BuildInfo struct {
	Name        string `json:"name"`
	CodeHashHex string `json:"codeHashHex"`
	TolkVersion string `json:"tolkVersion"`
}

type compiled struct {
	code *cell.Cell
	info BuildInfo
}

var (
	loadOnce sync.Once
	loaded   map[Name]compiled
	loadErr  error
)

// load parses the embedded build output once. It cannot fail for a build that passed the
// package tests (they check every file), but a hand-edited build gets an error, not a panic.
func load() (map[Name]compiled, error) {
	loadOnce.Do(func() {
		loaded = map[Name]compiled{}
		for _, n := range Names {
			c, err := loadContract(n)
			if err != nil {
				loadErr = err
				return
			}
			loaded[n] = c
		}
	})
	return loaded, loadErr
}

func loadContract(n Name) (compiled, error) {
	boc, err := buildFS.ReadFile("build/" + string(n) + ".boc")
	if err != nil {
		return compiled{}, fmt.Errorf("failed to read embedded %s code: %w", n, err)
	}
	code, err := cell.FromBOC(boc)
	if err != nil {
		return compiled{}, fmt.Errorf("failed to parse embedded %s code: %w", n, err)
	}
	raw, err := buildFS.ReadFile("build/" + string(n) + ".json")
	if err != nil {
		return compiled{}, fmt.Errorf("failed to read embedded %s build info: %w", n, err)
	}
	var info BuildInfo
	if err := json.Unmarshal(raw, &info); err != nil {
		return compiled{}, fmt.Errorf("failed to parse embedded %s build info: %w", n, err)
	}
	// The compiler writes the hash in upper case.
	if got := hex.EncodeToString(code.Hash()); !strings.EqualFold(got, info.CodeHashHex) {
		return compiled{}, fmt.Errorf("embedded %s code hash %s differs from build info %s (rerun make contracts)", n, got, info.CodeHashHex)
	}
	return compiled{code: code, info: info}, nil
}

// Code returns the compiled code cell of a contract.
func Code(n Name) (*cell.Cell, error) {
	all, err := load()
	if err != nil {
		return nil, err
	}
	c, ok := all[n]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnknownContract, string(n))
	}
	return c.code, nil
}

// Info returns the build info of a contract (code hash, compiler version).
func Info(n Name) (BuildInfo, error) {
	all, err := load()
	if err != nil {
		return BuildInfo{}, err
	}
	c, ok := all[n]
	if !ok {
		return BuildInfo{}, fmt.Errorf("%w: %q", ErrUnknownContract, string(n))
	}
	return c.info, nil
}

// mustCode is for the embedded contracts, whose loading the package tests prove.
func mustCode(n Name) *cell.Cell {
	c, err := Code(n)
	if err != nil {
		panic("contracts: " + err.Error())
	}
	return c
}

// RegistryCode is the embedded Registry code.
func RegistryCode() *cell.Cell { return mustCode(Registry) }

// ProviderCode is the embedded Provider code.
func ProviderCode() *cell.Cell { return mustCode(Provider) }

// ChannelCode is the embedded Channel code (the code the Registry's SetChannelCode accepts).
func ChannelCode() *cell.Cell { return mustCode(Channel) }
