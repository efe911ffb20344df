package provider_test

import (
	"bufio"
	"io"
	"math/big"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/internal/fakeupstream"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/provider/providertest"
)

// buildProvider builds cmd/cocoon-provider into a temporary directory.
func buildProvider(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "cocoon-provider")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	out, err := exec.Command(goBin, "build", "-o", bin, "../cmd/cocoon-provider").CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// daemon is a cocoon-provider process.
type daemon struct {
	cmd  *exec.Cmd
	addr string
	logs string
}

// startDaemon runs `cocoon-provider run --config path` and waits until it serves.
func startDaemon(t *testing.T, bin, path string) *daemon {
	t.Helper()
	logs := filepath.Join(t.TempDir(), "provider.log")
	f, err := os.Create(logs)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Close() })
	cmd := exec.Command(bin, "run", "--config", path)
	cmd.Stderr = f
	out, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		re := regexp.MustCompile(`^serving on https://([0-9.:]+)/v1 `)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return &daemon{cmd: cmd, addr: a, logs: logs}
	case <-time.After(60 * time.Second):
		t.Fatalf("the provider did not start; its log:\n%s", providertest.ReadFile(logs))
	}
	return nil
}

// A provider killed with SIGKILL in the middle of a stream forgets nothing it delivered: after a
// restart it owes exactly the delivered tokens' cost on top of what its receipts said, and the
// claim at its next (graceful) stop covers every delivered token and nothing more.
func TestKillNineMidStreamE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the provider binary")
	}
	bin := buildProvider(t)
	n := providertest.NewNet(t, providertest.Options{})
	rpc := httptest.NewServer(n.D.Handler())
	t.Cleanup(rpc.Close)
	fake := &fakeupstream.Server{Models: []string{"fake-model"}}
	cfg := n.UpstreamConfig(t.TempDir(), fake)
	cfg.Chain, cfg.ChainClock = nil, nil
	cfg.Network, cfg.RPC = "devnet", rpc.URL
	path := filepath.Join(t.TempDir(), "provider.json")
	require.NoError(t, provider.WriteConfig(path, cfg))

	a := startDaemon(t, bin, path)
	c := n.OpenClient("a", "1").ConnectAddr(a.addr)
	_, first := c.Chat(chatBody("one two three", 4, false))

	// Five tokens delivered, then the upstream holds the stream: kill -9 now.
	ev := c.OpenStream("/v1/chat/completions", chatBody("a b c pause-after:5", 50, true))
	for got := 0; got < 5; {
		d := ev.Next()
		require.NotEmpty(t, d, "the stream ended early")
		if strings.Contains(d, `"content":"t`) {
			got++
		}
	}
	require.NoError(t, a.cmd.Process.Signal(syscall.SIGKILL))
	_ = a.cmd.Wait()
	_ = ev.Resp.Body.Close()

	b := startDaemon(t, bin, path)
	c.ConnectAddr(b.addr)
	v := c.View()
	delivered := providertest.Prices.Cost(5, 5) // the fake counts "a b c pause-after:5" as 4 words + 1
	require.Equal(t, new(big.Int).Add(first.Owed, delivered).String(), v.Owed, "owed after the restart")
	require.Equal(t, first.CompletionTokens+5, v.CompletionTokens)
	require.Equal(t, first.PromptTokens+5, v.PromptTokens)
	require.Equal(t, "0", v.Reserved)
	require.Contains(t, providertest.ReadFile(b.logs), "billed what requests in flight at the last stop had delivered")

	// The client resumes from the provider's view: its next voucher covers every delivered token.
	c.Learn(v)
	c.Chat(chatBody("four five", 3, false))
	require.NoError(t, b.cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, b.cmd.Wait(), "a graceful stop; log:\n%s", providertest.ReadFile(b.logs))

	// The stop claimed the voucher held: the first answer and the five delivered tokens, exactly.
	require.NoError(t, n.D.WaitBlocks(n.Ctx, 6))
	st := n.ChannelState(c.Ch)
	require.Equal(t, v.Owed, st.AcceptedAmount.Nano().String())
	require.Equal(t, v.CompletionTokens, st.AcceptedCompletion)
	require.Equal(t, v.PromptTokens, st.AcceptedPrompt)
	u, err := contracts.ProviderClient{Chain: n.D.Client(), Address: providerAddress(t, n)}.Usage(n.Ctx)
	require.NoError(t, err)
	require.Equal(t, v.CompletionTokens, u.CompletionTokens, "the Provider contract's usage: every delivered token and nothing more")
	require.Equal(t, v.PromptTokens, u.PromptTokens)
}

func providerAddress(t *testing.T, n *providertest.Net) *address.Address {
	t.Helper()
	ps, err := n.Owner.LookupProvider(n.Ctx, n.OwnerAddr)
	require.NoError(t, err)
	return ps.Address
}
