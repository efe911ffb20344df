package indexer_test

import (
	"context"
	"encoding/json"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/indexer/api"
	"github.com/cocoon-go/cocoon/indexer/indexertest"
)

// chromium finds a Chromium (Debian's `chromium` package) or Chrome binary; "" when none.
func chromium() string {
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// browser starts a headless Chromium (a fresh profile, no background traffic of its own) with a
// window of w×h and returns a tab's context, closed with the test (at most 90 s).
func browser(t *testing.T, bin string, w, h int) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.NoFirstRun, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(w, h))
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 90*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancel(); cancelAlloc() })
	return ctx
}

// browserLog collects what the browser reports: console errors, uncaught exceptions, error log
// entries (failed loads, Content-Security-Policy violations) and the URL of every request.
type browserLog struct {
	mu       sync.Mutex
	errors   []string
	requests []string
}

func (b *browserLog) listen(ev any) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch e := ev.(type) {
	case *runtime.EventConsoleAPICalled:
		if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
			var args []string
			for _, a := range e.Args {
				args = append(args, string(a.Value))
			}
			b.errors = append(b.errors, "console."+string(e.Type)+": "+strings.Join(args, " "))
		}
	case *runtime.EventExceptionThrown:
		b.errors = append(b.errors, "exception: "+e.ExceptionDetails.Text)
	case *log.EventEntryAdded:
		if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
			b.errors = append(b.errors, "log "+string(e.Entry.Level)+": "+e.Entry.Text+" "+e.Entry.URL)
		}
	case *network.EventRequestWillBeSent:
		b.requests = append(b.requests, e.Request.URL)
	}
}

// TestExplorerInBrowser drives the explorer in a real headless Chromium: the pages load without a
// console error, every request goes to the indexer itself, the providers table shows what the API
// says (and re-sorts), and the links lead from the overview to a provider, its channel, a
// transaction's trace, and through the search box.
func TestExplorerInBrowser(t *testing.T) {
	bin := chromium()
	if bin == "" {
		t.Skip("chromium is not installed (Debian: apt-get install chromium); the explorer's browser test needs a real browser")
	}
	f := world(t)
	base := f.ix.URL()
	host := mustHost(t, base)

	ctx := browser(t, bin, 1400, 1800)
	var bl browserLog
	require.NoError(t, chromedp.Listen(ctx, bl.listen))
	_, err := chromedp.Call(ctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, log.Enable, cdp.Empty{})
	require.NoError(t, err)
	_, err = chromedp.Call(ctx, runtime.Enable, cdp.Empty{})
	require.NoError(t, err)
	eval := func(expr string, v any) {
		t.Helper()
		raw, err := chromedp.Run(ctx, chromedp.Evaluate[[]byte](expr))
		require.NoError(t, err, expr)
		require.NoError(t, json.Unmarshal(raw, v), expr)
	}
	text := func(id string) string {
		t.Helper()
		s, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID(id)))
		require.NoError(t, err, id)
		return strings.TrimSpace(s)
	}
	attr := func(id, name string) string {
		t.Helper()
		a, err := chromedp.Run(ctx, chromedp.AttributeValue(chromedp.ID(id), name))
		require.NoError(t, err, id)
		return a.Value
	}

	// The overview: cards, charts and the providers table as the API lists them.
	var page api.ProviderPage
	getJSON(t, base+"/api/v1/providers?limit=50", &page)
	type row struct{ Address, Stake, Tokens string }
	var rows []row
	var cards, charts int
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(base+"/"), chromedp.WaitVisible(chromedp.ID("providers"))))
	eval(`[...document.querySelectorAll('#providers tbody tr')].map(r => ({Address: r.dataset.address, Stake: r.cells[7].dataset.v, Tokens: r.cells[6].dataset.v}))`, &rows)
	eval(`document.querySelectorAll('.card').length`, &cards)
	eval(`document.querySelectorAll('svg.chart rect.bar').length`, &charts)
	require.Equal(t, 6, cards)
	require.Greater(t, charts, 0)
	require.Len(t, rows, len(page.Providers))
	for i, p := range page.Providers {
		require.Equal(t, row{p.Address.Raw, p.Stake.Nano, p.Usage.Tokens}, rows[i], "row %d", i)
	}

	// Sorting by stake (ascending on the first click) re-orders the rows in the browser.
	var stakes []string
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(`#providers thead th:nth-child(8)`))))
	eval(`[...document.querySelectorAll('#providers tbody tr')].map(r => r.cells[7].dataset.v)`, &stakes)
	for i := 1; i < len(stakes); i++ {
		require.LessOrEqual(t, len(stakes[i-1]), len(stakes[i]), "stakes not ascending after the click: %v", stakes)
	}

	// clickTo clicks the link matching css and waits for the element id of the page it leads to.
	clickTo := func(css, id string) {
		t.Helper()
		require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(css)), chromedp.WaitVisible(chromedp.ID(id))), css)
	}

	// Overview → the first provider's page.
	first := page.Providers[0]
	clickTo(`#providers a[href="/providers/`+first.Address.Raw+`"]`, "provider-address")
	require.Equal(t, first.Address.Friendly, text("provider-address"))
	require.Equal(t, first.Stake.Nano, attr("provider-stake", "data-nano"))
	var detail api.ProviderDetail
	getJSON(t, base+"/api/v1/providers/"+first.Address.Raw, &detail)
	require.NotEmpty(t, detail.ChannelList)

	// Provider → its first channel.
	ch := detail.ChannelList[0]
	clickTo(`#channels a[href="/channels/`+ch.Address.Raw+`"]`, "channel-address")
	require.Equal(t, ch.Address.Friendly, text("channel-address"))
	require.Equal(t, ch.Paid.Nano, attr("channel-paid", "data-nano"))

	// Channel → the trace of its first claim.
	var cd api.ChannelDetail
	getJSON(t, base+"/api/v1/channels/"+ch.Address.Raw, &cd)
	require.NotEmpty(t, cd.ClaimList)
	claim := cd.ClaimList[0].Tx
	var td api.TxDetail
	getJSON(t, base+"/api/v1/tx/"+claim, &td)
	clickTo(`#claims a[href="/tx/`+claim+`"]`, "trace")
	var nodes int
	eval(`document.querySelectorAll('#trace li.node').length`, &nodes)
	require.Equal(t, claim, text("tx-hash"))
	require.Equal(t, len(td.Trace.Nodes), nodes)
	require.GreaterOrEqual(t, nodes, 2, "a claim's trace holds the channel and the provider")

	// The search box finds a provider by its raw address, and the remaining pages load.
	require.NoError(t, chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`input[name="q"]`), first.Address.Raw),
		chromedp.Submit(chromedp.CSS(`form.search`)),
		chromedp.WaitVisible(chromedp.ID("provider-address")),
	))
	require.Equal(t, first.Address.Friendly, text("provider-address"))
	require.NoError(t, chromedp.Do(ctx,
		chromedp.Navigate(base+"/providers?attested=true&sort=price"),
		chromedp.WaitVisible(chromedp.ID("providers")),
		chromedp.Navigate(base+"/models"),
		chromedp.WaitVisible(chromedp.ID("models")),
		chromedp.Navigate(base+"/oracles"),
		chromedp.WaitVisible(chromedp.ID("oracles")),
	))
	// Oracles → the first oracle's page with its uptime commitments.
	var oracles api.OracleSet
	getJSON(t, base+"/api/v1/oracles", &oracles)
	o := oracles.Oracles[0]
	clickTo(`#oracles a[href="/oracles/`+o.Wallet.Raw+`"]`, "oracle-address")
	require.Equal(t, o.Wallet.Friendly, text("oracle-address"))
	var commitments int
	eval(`document.querySelectorAll('#uptime-history tbody tr').length`, &commitments)
	require.Equal(t, o.Commitments, commitments)

	bl.mu.Lock()
	defer bl.mu.Unlock()
	require.Empty(t, bl.errors, "the browser reported errors")
	require.NotEmpty(t, bl.requests)
	for _, r := range bl.requests {
		if strings.HasPrefix(r, "data:") {
			continue
		}
		require.Equal(t, host, mustHost(t, r), "a request left the indexer's host: %s", r)
	}
}

func mustHost(t *testing.T, s string) string {
	t.Helper()
	u, err := url.Parse(s)
	require.NoError(t, err)
	return u.Host
}

// TestExplorerScreenshot writes a screenshot of the overview of a network with two days of
// traffic (indexertest's Demo) to $INDEXER_SCREENSHOT (docs/explorer.png):
// INDEXER_SCREENSHOT=$PWD/docs/explorer.png go test ./indexer -run TestExplorerScreenshot.
func TestExplorerScreenshot(t *testing.T) {
	out := os.Getenv("INDEXER_SCREENSHOT")
	bin := chromium()
	if out == "" || bin == "" {
		t.Skip("set INDEXER_SCREENSHOT to a file (and install chromium) to take the explorer's screenshot")
	}
	n := indexertest.New(t, indexertest.Options{})
	w := indexertest.Scenario(n)
	n.Demo(w, 48)
	ix := startIndexer(t, n, w.Registry, t.TempDir())
	ctx := browser(t, bin, 1280, 900)
	require.NoError(t, chromedp.Do(ctx, chromedp.Navigate(ix.URL()+"/"), chromedp.WaitVisible(chromedp.ID("providers"))))
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100)) // 100: PNG (below: JPEG)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(out, png, 0o644))
}
