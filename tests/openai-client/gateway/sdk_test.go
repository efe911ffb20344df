// Package gateway runs the official OpenAI SDK suite (../test) against the client gateway in front
// of the paid provider daemon, unchanged: a block-mode devnet with a registry, a provider daemon
// (embedded demo model, simulated TEE) registered, priced, published and attested by an oracle,
// and `cocoon client gateway` in-process with its own wallet. run-gateway.sh runs it.
package gateway

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/cocoon-go/cocoon/client/gateway"
	"github.com/cocoon-go/cocoon/provider"
	"github.com/cocoon-go/cocoon/tests/client/clientnet"
)

// The suite's files that run against an existing server (instruct.test.mjs serves GGUF files of
// its own, which no registry lists).
var suiteFiles = []string{"test/chat.test.mjs", "test/completions.test.mjs", "test/errors.test.mjs", "test/sse.test.mjs"}

// TestOpenAISDKAgainstGatewayE2E runs the suite twice: the gateway discovering providers from the
// chain, and from an indexer. The gateway runs with --usage-cost=false: three of the suite's
// assertions compare the usage object's keys with OpenAI's exactly (docs/DECISIONS.md).
func TestOpenAISDKAgainstGatewayE2E(t *testing.T) {
	if os.Getenv("COCOON_SDK_GATEWAY") == "" {
		t.Skip("run by tests/openai-client/run-gateway.sh (needs the npm packages)")
	}
	suite, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"chain", "indexer"} {
		t.Run(mode, func(t *testing.T) {
			n := clientnet.New(t)
			n.Start(clientnet.Options{Edit: func(c *provider.Config) { c.Limits.ChannelRate, c.Limits.ChannelBurst = 1000, 1000 }})
			indexer := ""
			if mode == "indexer" {
				indexer = n.Indexer(1)
			}
			g := n.Gateway(func(c *gateway.Config) { c.UsageCost, c.Indexer, c.Deposit = false, indexer, "20" })
			cmd := exec.CommandContext(n.Ctx, "node", append([]string{"--test", "--test-concurrency=1"}, suiteFiles...)...)
			cmd.Dir = suite
			cmd.Env = append(os.Environ(), "COCOON_BASE_URL="+g.URL+"/v1")
			out, err := cmd.CombinedOutput()
			t.Logf("node --test (discovery from the %s):\n%s", mode, out)
			if err != nil {
				t.Fatalf("the OpenAI SDK suite failed against the gateway (discovery from the %s): %v", mode, err)
			}
		})
	}
}
