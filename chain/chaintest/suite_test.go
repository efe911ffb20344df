package chaintest_test

import (
	"context"
	"math/big"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/chaintest"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/toncenter"
)

func openDevnet(t *testing.T, blocks time.Duration) *devnet.Devnet {
	t.Helper()
	d, err := devnet.Open(devnet.Config{GlobalID: -239, BlockInterval: blocks})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// TestDevnetInProcess runs the suite against the devnet's own chain.Client, in instant mode and in
// block mode (where nothing is included when sendBoc answers).
func TestDevnetInProcess(t *testing.T) {
	chaintest.RunSuite(t, func(t *testing.T) chaintest.Env { return openDevnet(t, 0) })
}

func TestDevnetInProcessBlocks(t *testing.T) {
	chaintest.RunSuite(t, func(t *testing.T) chaintest.Env { return openDevnet(t, 20*time.Millisecond) })
}

// httpEnv drives the devnet only over HTTP: the toncenter client for the chain, and the devnet's
// /devnet/ endpoints for the faucet and the clock.
type httpEnv struct {
	t *testing.T
	d *devnet.Devnet
	c *toncenter.Client
}

func (e *httpEnv) Client() chain.Client { return e.c }
func (e *httpEnv) Fund(ctx context.Context, a *address.Address, n *big.Int) error {
	return e.c.DevnetFund(ctx, a, n)
}
func (e *httpEnv) AdvanceTime(d time.Duration) {
	if err := e.c.DevnetAdvance(context.Background(), d); err != nil {
		e.t.Fatal(err)
	}
}
func (e *httpEnv) Now() time.Time {
	now, err := e.c.DevnetTime(context.Background())
	if err != nil {
		e.t.Fatal(err)
	}
	return now
}
func (e *httpEnv) GlobalID() int32 { return e.d.GlobalID() }

// TestToncenterOverDevnetHTTP runs the suite through the toncenter v2 client against the devnet's
// HTTP API, so the client and the server agree on every shape and error; in block mode too.
func TestToncenterOverDevnetHTTP(t *testing.T) {
	runOverHTTP(t, 0)
}

func TestToncenterOverDevnetHTTPBlocks(t *testing.T) {
	runOverHTTP(t, 20*time.Millisecond)
}

func runOverHTTP(t *testing.T, blocks time.Duration) {
	chaintest.RunSuite(t, func(t *testing.T) chaintest.Env {
		d := openDevnet(t, blocks)
		srv := httptest.NewServer(d.Handler())
		t.Cleanup(srv.Close)
		c, err := toncenter.New(toncenter.Config{URL: srv.URL, RetryBase: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		return &httpEnv{t: t, d: d, c: c}
	})
}
