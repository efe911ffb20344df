package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/devnet"
)

func init() {
	register("devnet", "local TON emulator serving the toncenter v2 API; fund, time, advance", runDevnet)
}

// devnetOut is where devnet commands print results; tests swap it.
var devnetOut io.Writer = os.Stdout

const (
	defaultDevnetListen = "127.0.0.1:8081"
	envDevnetListen     = "COCOON_DEVNET_LISTEN"
	envDevnetData       = "COCOON_DEVNET_DATA"
	envDevnetBlocks     = "COCOON_DEVNET_BLOCK_INTERVAL"
	// defaultDevnetBlocks is TON's block time: a served devnet keeps it unless told otherwise.
	defaultDevnetBlocks = 400 * time.Millisecond
	// envDevnetRPC is the same variable the wallet commands read for their toncenter URL.
	envDevnetRPC = "COCOON_RPC"
)

const devnetUsage = `usage:
  cocoon devnet [--listen ADDR] [--data DIR] [--block-interval D] [--verbose]  serve until interrupted
  cocoon devnet fund [--rpc URL] ADDRESS AMOUNT_TON        credit any address from the faucet
  cocoon devnet time [--rpc URL]                           print the devnet clock
  cocoon devnet advance [--rpc URL] SECONDS                move the devnet clock forward`

func runDevnet(ctx context.Context, args []string) error {
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "fund":
			return devnetFund(ctx, args[1:])
		case "time":
			return devnetTime(ctx, args[1:])
		case "advance":
			return devnetAdvance(ctx, args[1:])
		default:
			return fmt.Errorf("%w: unknown verb %q\n%s", errUsage, args[0], devnetUsage)
		}
	}
	return devnetServe(ctx, args)
}

func devnetEnvOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func devnetServe(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("devnet", flag.ContinueOnError)
	listen := fs.String("listen", devnetEnvOr(envDevnetListen, defaultDevnetListen), "address to serve the toncenter v2 API on ($"+envDevnetListen+")")
	data := fs.String("data", os.Getenv(envDevnetData), "directory for the persistent state; empty keeps it in memory ($"+envDevnetData+")")
	blocks := fs.Duration("block-interval", defaultDevnetBlocks, "block time: messages wait for the next block and each hop of a cascade takes one; 0 runs every message with its whole cascade at once ($"+envDevnetBlocks+")")
	verbose := fs.Bool("verbose", false, "log every transaction, not just every batch")
	fs.Usage = func() { fmt.Fprintln(fs.Output(), devnetUsage); fs.PrintDefaults() }
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q\n%s", errUsage, fs.Args(), devnetUsage)
	}
	if v := os.Getenv(envDevnetBlocks); v != "" && !devnetFlagSet(fs, "block-interval") {
		d, err := time.ParseDuration(v)
		if err != nil {
			return fmt.Errorf("%w: $%s: %v", errUsage, envDevnetBlocks, err)
		}
		*blocks = d
	}
	if *blocks < 0 {
		return fmt.Errorf("%w: --block-interval must not be negative", errUsage)
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	if *data != "" {
		if err := os.MkdirAll(*data, 0o700); err != nil {
			return fmt.Errorf("failed to create data directory: %w", err)
		}
	}
	d, err := devnet.Open(devnet.Config{DataDir: *data, Log: log, BlockInterval: *blocks})
	if err != nil {
		return err
	}
	srv := &devnet.Server{Devnet: d, Listen: *listen, Log: log}
	if err := srv.Start(ctx); err != nil {
		return errors.Join(err, d.Close())
	}
	where := *data
	if where == "" {
		where = "memory (lost on exit)"
	}
	mode := "instant (every message runs with its cascade when sent)"
	if *blocks > 0 {
		mode = "a block every " + blocks.String()
	}
	log.Info("devnet ready", "state", where, "faucet", devnet.FaucetAddress.String(), "global_id", d.GlobalID(), "blocks", mode)
	<-ctx.Done()
	log.Info("devnet stopping")
	stopCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := errors.Join(srv.Stop(stopCtx), d.Close()); err != nil {
		return err
	}
	log.Info("devnet stopped")
	return nil
}

// devnetFlagSet reports whether the flag was given on the command line.
func devnetFlagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

// devnetClientFlags parses --rpc and checks the positional arguments' count.
func devnetClientFlags(name string, args []string, nargs int, argsUsage string) (string, []string, error) {
	fs := flag.NewFlagSet("devnet "+name, flag.ContinueOnError)
	rpc := fs.String("rpc", devnetEnvOr(envDevnetRPC, "http://"+defaultDevnetListen), "devnet base URL ($"+envDevnetRPC+")")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: cocoon devnet %s [--rpc URL] %s\n", name, argsUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return "", nil, err
		}
		return "", nil, fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != nargs {
		return "", nil, fmt.Errorf("%w: devnet %s takes %s", errUsage, name, argsUsage)
	}
	u, err := url.Parse(*rpc)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", nil, fmt.Errorf("%w: --rpc must be an http(s) URL, got %q", errUsage, *rpc)
	}
	return strings.TrimRight(*rpc, "/"), fs.Args(), nil
}

// devnetCall does one request against the devnet and decodes the toncenter envelope's result.
func devnetCall(ctx context.Context, method, u string, body any, result any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("failed to reach the devnet: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("failed to read devnet response: %w", err)
	}
	var env struct {
		OK     bool            `json:"ok"`
		Result json.RawMessage `json:"result"`
		Error  string          `json:"error"`
	}
	if err := json.Unmarshal(raw, &env); err != nil {
		return fmt.Errorf("devnet answered %s with non-JSON: %.200s", resp.Status, raw)
	}
	if !env.OK {
		return fmt.Errorf("devnet error (%s): %s", resp.Status, env.Error)
	}
	if result != nil {
		return json.Unmarshal(env.Result, result)
	}
	return nil
}

func devnetFund(ctx context.Context, args []string) error {
	rpc, pos, err := devnetClientFlags("fund", args, 2, "ADDRESS AMOUNT_TON")
	if err != nil {
		return err
	}
	addr, err := chain.ParseAddress(pos[0])
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	coins, err := tlb.FromTON(pos[1])
	if err != nil || coins.Nano().Sign() <= 0 {
		return fmt.Errorf("%w: amount must be a positive number of TON with at most 9 decimals, got %q", errUsage, pos[1])
	}
	var res struct {
		Balance       string `json:"balance"`
		State         string `json:"state"`
		TransactionID struct {
			LT string `json:"lt"`
		} `json:"transaction_id"`
	}
	if err := devnetCall(ctx, http.MethodPost, rpc+"/devnet/fund", map[string]string{"address": addr.String(), "amount": coins.Nano().String()}, &res); err != nil {
		return err
	}
	// Wait until the toncenter API itself shows the faucet's transaction (it does at once on
	// this devnet; the wait keeps scripts honest if the server ever becomes asynchronous).
	// Balances are not compared: storage fees may take a little on the way.
	fundLT, err := strconv.ParseUint(res.TransactionID.LT, 10, 64)
	if err != nil {
		return fmt.Errorf("devnet returned a bad transaction lt %q", res.TransactionID.LT)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		info, err := devnetAccount(ctx, rpc, addr)
		if err != nil {
			return err
		}
		if lt, err := strconv.ParseUint(info.LastTransactionID.LT, 10, 64); err == nil && lt >= fundLT {
			bal, ok := new(big.Int).SetString(info.Balance, 10)
			if !ok {
				return fmt.Errorf("devnet returned a bad balance %q", info.Balance)
			}
			fmt.Fprintf(devnetOut, "funded %s with %s TON; balance %s TON (%s)\n", addr.String(), coins.String(), tlb.FromNanoTON(bal).String(), info.State)
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("faucet transaction at lt %s did not show up within 30s", res.TransactionID.LT)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

type devnetAccountInfo struct {
	Balance           string `json:"balance"`
	State             string `json:"state"`
	LastTransactionID struct {
		LT string `json:"lt"`
	} `json:"last_transaction_id"`
}

func devnetAccount(ctx context.Context, rpc string, addr *address.Address) (*devnetAccountInfo, error) {
	var info devnetAccountInfo
	if err := devnetCall(ctx, http.MethodGet, rpc+"/api/v2/getAddressInformation?address="+url.QueryEscape(addr.String()), nil, &info); err != nil {
		return nil, err
	}
	return &info, nil
}

type devnetClock struct {
	Now           int64 `json:"now"`
	OffsetSeconds int64 `json:"offset_seconds"`
}

func (c devnetClock) print() {
	fmt.Fprintf(devnetOut, "%d %s (offset %ds)\n", c.Now, time.Unix(c.Now, 0).UTC().Format(time.RFC3339), c.OffsetSeconds)
}

func devnetTime(ctx context.Context, args []string) error {
	rpc, _, err := devnetClientFlags("time", args, 0, "")
	if err != nil {
		return err
	}
	var c devnetClock
	if err := devnetCall(ctx, http.MethodGet, rpc+"/devnet/time", nil, &c); err != nil {
		return err
	}
	c.print()
	return nil
}

func devnetAdvance(ctx context.Context, args []string) error {
	rpc, pos, err := devnetClientFlags("advance", args, 1, "SECONDS")
	if err != nil {
		return err
	}
	var secs uint64
	if _, err := fmt.Sscan(pos[0], &secs); err != nil || secs == 0 {
		return fmt.Errorf("%w: SECONDS must be a positive integer, got %q", errUsage, pos[0])
	}
	var c devnetClock
	if err := devnetCall(ctx, http.MethodPost, rpc+"/devnet/time/advance", map[string]uint64{"seconds": secs}, &c); err != nil {
		return err
	}
	c.print()
	return nil
}
