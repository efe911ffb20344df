package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"

	"github.com/cocoon-go/cocoon/chain/toncenter"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/keys"
)

// asMainEnv makes this test binary run as the cocoon command: the end-to-end tests start real
// processes of it.
const asMainEnv = "COCOON_TEST_AS_MAIN"

func TestMain(m *testing.M) {
	if os.Getenv(asMainEnv) == "1" {
		os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// cocoonProcess is `cocoon args…` as its own process.
func cocoonProcess(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Args[0], args...)
	cmd.Env = append(os.Environ(), asMainEnv+"=1")
	return cmd
}

// Two processes send from one wallet at the same time: `cocoon wallet send` in two loops against
// `cocoon devnet --block-interval 50ms`, all real processes on loopback. They read the same seqno,
// sign, and one of each pair loses its seqno at the block; its manager re-signs. Every transfer
// arrives exactly once.
func TestWalletSendTwoProcessesE2E(t *testing.T) {
	t.Setenv(envMnemonic, "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	listen := freePort(t)
	rpc := "http://" + listen
	devnetProc := cocoonProcess(ctx, "devnet", "--listen", listen, "--block-interval", "50ms")
	var devnetLog bytes.Buffer
	devnetProc.Stderr = &devnetLog
	if err := devnetProc.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = devnetProc.Process.Signal(os.Interrupt)
		_ = devnetProc.Wait()
		if t.Failed() {
			t.Logf("devnet log:\n%s", devnetLog.String())
		}
	}()
	for deadline := time.Now().Add(30 * time.Second); ; {
		resp, err := http.Get(rpc + "/devnet/info")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("devnet did not come up: %v", err)
		}
		time.Sleep(20 * time.Millisecond)
	}

	key := filepath.Join(t.TempDir(), "shared.key")
	words := strings.Fields(goldenMnemonics["spare"])
	if err := keys.WriteMnemonic(key, words); err != nil {
		t.Fatal(err)
	}
	w, err := wallet.FromMnemonic(words, wallet.V5R1, wallet.MainnetGlobalID)
	if err != nil {
		t.Fatal(err)
	}
	me := w.Address()
	if out, err := cocoonProcess(ctx, "devnet", "fund", "--rpc", rpc, me.String(), "50").CombinedOutput(); err != nil {
		t.Fatalf("fund: %v\n%s", err, out)
	}

	const loops, each = 2, 6
	amount := func(i int) string { return fmt.Sprintf("0.%03d", 100+i) } // distinct, so a double would show
	dst := func(i int) string { return fmt.Sprintf("0:%064x", 0xe2e000+i) }
	var wg sync.WaitGroup
	var mu sync.Mutex
	var logs []string
	for l := 0; l < loops; l++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := 0; k < each; k++ {
				i := l*each + k
				out, err := cocoonProcess(ctx, "wallet", "send", "--key-file", key, "--network", "devnet", "--rpc", rpc,
					"--to", dst(i), "--amount", amount(i), "--bounce", "false").CombinedOutput()
				mu.Lock()
				logs = append(logs, string(out))
				mu.Unlock()
				if err != nil {
					t.Errorf("send %d: %v\n%s", i, err, out)
					return
				}
			}
		}()
	}
	wg.Wait()
	resigned := 0
	for _, l := range logs {
		resigned += strings.Count(l, "re-signed (seqno taken)")
	}
	t.Logf("%d sends from two processes, %d re-signed after losing their seqno", loops*each, resigned)
	if t.Failed() {
		return
	}

	c, err := toncenter.New(toncenter.Config{URL: rpc})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < loops*each; i++ {
		want, _ := tlb.FromTON(amount(i))
		acc, err := c.GetAccount(ctx, address.MustParseRawAddr(dst(i)))
		if err != nil || acc.Balance.Cmp(want.Nano()) != 0 {
			t.Fatalf("destination %d holds %v (%v), want %s TON exactly once", i, acc.Balance, err, amount(i))
		}
	}
	txs, err := c.GetTransactions(ctx, me, 100, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	sent, msgs := 0, 0
	for _, tx := range txs {
		if tx.IO.In != nil && tx.IO.In.MsgType == tlb.MsgTypeExternalIn {
			sent++
			msgs += int(tx.OutMsgCount)
		}
	}
	if sent != loops*each || msgs != loops*each {
		t.Fatalf("the wallet made %d transactions sending %d messages, want %d each", sent, msgs, loops*each)
	}
}
