package devnet

import (
	_ "embed"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// defaultConfigBOC is the blockchain config of @ton/sandbox 0.41.0 (`defaultConfig`, config seqno
// 52956904), written out byte for byte by:
//
//	node -e 'require("fs").writeFileSync("config.boc", Buffer.from(require("@ton/sandbox").defaultConfig, "base64"))'
//
// With it gas, storage and forwarding fees match the reference emulator.
//
//go:embed config.boc
var defaultConfigBOC []byte

// DefaultGlobalID is the network id the sandbox's config carries and its wallets sign for.
const DefaultGlobalID = -239

// Config configures a devnet. The zero value is an in-memory devnet with the sandbox's config.
type Config struct {
	// DataDir is where state persists; "" keeps everything in memory only.
	DataDir string
	// GlobalID is the network id put in c7 for contracts (wallet V5 signs for it). 0 means DefaultGlobalID.
	GlobalID int32
	// Now is the base clock; nil means time.Now. AdvanceTime adds an offset on top of it.
	Now func() time.Time
	// ConfigBOC overrides the blockchain config (a BOC of the ConfigParams dictionary root).
	ConfigBOC []byte
	// MaxCascade bounds the transactions one external message or fund may cause; 0 means 10000.
	// A cascade longer than that is rolled back and reported as ErrCascadeTooLong. In block mode it
	// bounds the internal messages one block delivers instead (the rest wait for the next block).
	MaxCascade int
	// Log receives one Info line per committed batch and one Debug line per transaction;
	// nil logs nothing.
	Log *slog.Logger
	// BlockInterval switches block mode on: external messages wait for the next block, each hop of
	// a cascade lands in a later block (TON's block time is about 400 ms). 0 is instant mode: every
	// message runs with its whole cascade when it is sent (contract tests, parity scenarios).
	BlockInterval time.Duration
	// NoSync skips the fsync after each committed batch (benchmarks only; a crash may lose the
	// last batches but never leaves a half-applied one).
	NoSync bool
}

// Check validates the config and reports the first problem in plain words.
func (c *Config) Check() error {
	if c.MaxCascade < 0 {
		return fmt.Errorf("%w: MaxCascade must not be negative, got %d", ErrBadConfig, c.MaxCascade)
	}
	if c.BlockInterval < 0 {
		return fmt.Errorf("%w: BlockInterval must not be negative, got %v", ErrBadConfig, c.BlockInterval)
	}
	if c.ConfigBOC != nil {
		if _, err := parseConfigRoot(c.ConfigBOC); err != nil {
			return fmt.Errorf("%w: ConfigBOC: %v", ErrBadConfig, err)
		}
	}
	return nil
}

func (c *Config) withDefaults() Config {
	out := *c
	if out.GlobalID == 0 {
		out.GlobalID = DefaultGlobalID
	}
	if out.Now == nil {
		out.Now = time.Now
	}
	if out.ConfigBOC == nil {
		out.ConfigBOC = defaultConfigBOC
	}
	if out.MaxCascade == 0 {
		out.MaxCascade = 10000
	}
	if out.Log == nil {
		out.Log = slog.New(slog.DiscardHandler)
	}
	return out
}

func parseConfigRoot(boc []byte) (*cell.Cell, error) {
	root, err := cell.FromBOC(boc)
	if err != nil {
		return nil, fmt.Errorf("failed to parse config BOC: %w", err)
	}
	cfg := tlb.BlockchainConfig{Root: root}
	// Params 20/21 (gas) and 24/25 (forwarding) are what every transaction needs.
	for _, p := range []uint32{20, 21, 24, 25} {
		if _, err := cfg.GetParam(p); err != nil {
			return nil, fmt.Errorf("config lacks param %d: %w", p, err)
		}
	}
	return root, nil
}

// Sentinel errors of the devnet (besides the chain.Err* ones it maps onto).
var (
	ErrBadConfig      = errors.New("invalid devnet config")
	ErrClosed         = errors.New("devnet is closed")
	ErrCascadeTooLong = errors.New("message cascade exceeds the transaction limit")
	ErrBadAmount      = errors.New("invalid amount")
)

// maxCoins is the exclusive upper bound of a Grams value (VarUInteger 16).
var maxCoins = new(big.Int).Lsh(big.NewInt(1), 120)
