// Package web is the indexer's explorer: plain HTML pages rendered on the server from the same
// views the API answers with (package api), a stylesheet, a small script that sorts tables, and
// SVG charts drawn on the server — all embedded in the binary. Nothing is loaded from another host
// (the Content-Security-Policy forbids it), so the explorer works offline and tells no third party
// who looks at what; every page works with JavaScript off.
package web

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"math/big"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/indexer/api"
)

//go:embed templates/*.html static/*
var files embed.FS

// Web serves the explorer.
type Web struct {
	api   *api.API
	m     api.Metricer
	pages map[string]*template.Template
}

// New builds the explorer over a.
func New(a *api.API, m api.Metricer) *Web {
	if m == nil {
		m = api.NoopMetrics{}
	}
	w := &Web{api: a, m: m, pages: map[string]*template.Template{}}
	for _, p := range []string{"index", "providers", "provider", "channel", "tx", "models", "oracles", "oracle", "error"} {
		w.pages[p] = template.Must(template.New("layout.html").Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/"+p+".html"))
	}
	return w
}

// securityHeaders: only this host, no inline script or style, no referrer to anyone.
func securityHeaders(h http.Header) {
	h.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
}

// Handler serves the pages, the static files and a 404 page for everything else.
func (w *Web) Handler() http.Handler {
	mux := http.NewServeMux()
	page := func(pattern, name string, fn func(r *http.Request) (any, error)) {
		mux.HandleFunc(pattern, func(rw http.ResponseWriter, r *http.Request) {
			t0 := time.Now()
			status := http.StatusOK
			data, err := fn(r)
			tmpl := name
			if err != nil {
				e := api.AsError(err)
				status, tmpl, data = e.Status, "error", e
			}
			w.render(rw, status, tmpl, data)
			w.m.RecordRequest("page "+name, status, time.Since(t0))
		})
	}
	page("GET /{$}", "index", w.index)
	page("GET /providers", "providers", w.providers)
	page("GET /providers/{address}", "provider", w.provider)
	page("GET /channels/{address}", "channel", w.channel)
	page("GET /tx/{hash}", "tx", w.tx)
	page("GET /models", "models", func(*http.Request) (any, error) { return w.api.Models() })
	page("GET /oracles", "oracles", func(*http.Request) (any, error) { return w.api.Oracles() })
	page("GET /oracles/{address}", "oracle", w.oracle)
	mux.HandleFunc("GET /search", w.search)
	static, _ := fs.Sub(files, "static")
	fileServer := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.Handle("GET /static/", http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		securityHeaders(rw.Header())
		rw.Header().Set("Cache-Control", "public, max-age=3600")
		fileServer.ServeHTTP(rw, r)
	}))
	mux.HandleFunc("GET /favicon.ico", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/static/favicon.svg", http.StatusMovedPermanently)
	})
	mux.HandleFunc("/", func(rw http.ResponseWriter, r *http.Request) {
		w.render(rw, http.StatusNotFound, "error", &api.Error{Status: http.StatusNotFound, Code: "not_found", Message: "No page at " + r.URL.Path})
	})
	return mux
}

func (w *Web) render(rw http.ResponseWriter, status int, name string, data any) {
	var buf bytes.Buffer
	if err := w.pages[name].Execute(&buf, data); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		fmt.Fprintf(&buf, "<!doctype html><title>error</title><p>failed to render the page: %s</p>", template.HTMLEscapeString(err.Error()))
	}
	securityHeaders(rw.Header())
	rw.Header().Set("Content-Type", "text/html; charset=utf-8")
	rw.Header().Set("Cache-Control", "no-store")
	rw.WriteHeader(status)
	_, _ = rw.Write(buf.Bytes())
}

// search sends a transaction hash or an address to its page.
func (w *Web) search(rw http.ResponseWriter, r *http.Request) {
	q := strings.TrimSpace(r.URL.Query().Get("q"))
	if len(q) == 64 {
		http.Redirect(rw, r, "/tx/"+url.PathEscape(strings.ToLower(q)), http.StatusSeeOther)
		return
	}
	if a, err := chain.ParseAddress(q); err == nil {
		raw := a.StringRaw()
		if _, err := w.api.Provider(raw); err == nil {
			http.Redirect(rw, r, "/providers/"+url.PathEscape(raw), http.StatusSeeOther)
			return
		}
		if _, err := w.api.Channel(raw); err == nil {
			http.Redirect(rw, r, "/channels/"+url.PathEscape(raw), http.StatusSeeOther)
			return
		}
		if _, err := w.api.Oracle(raw); err == nil {
			http.Redirect(rw, r, "/oracles/"+url.PathEscape(raw), http.StatusSeeOther)
			return
		}
	}
	w.render(rw, http.StatusNotFound, "error", &api.Error{Status: http.StatusNotFound, Code: "not_found",
		Message: fmt.Sprintf("Nothing indexed matches %q: search for a provider, channel or oracle address, or a transaction hash.", q)})
}

// ---------------------------------------------------------------- pages

// Card is one number of the front page with its 24 h change.
type Card struct {
	Title, Value, Sub string
	Change            string
	Trend             string // up, down, flat
}

type indexPage struct {
	Stats                                            *api.StatsView
	Cards                                            []Card
	TokensHourly, PaidHourly, TokensDaily, PaidDaily template.HTML
	Providers                                        *api.ProviderPage
}

func (w *Web) index(*http.Request) (any, error) {
	st, err := w.api.Stats()
	if err != nil {
		return nil, err
	}
	hourly, err := w.api.Series("hour", "48")
	if err != nil {
		return nil, err
	}
	daily, err := w.api.Series("day", "30")
	if err != nil {
		return nil, err
	}
	q, _ := api.ParseProviderQuery(url.Values{"limit": {"50"}})
	provs, err := w.api.Providers(q)
	if err != nil {
		return nil, err
	}
	p := &indexPage{Stats: st, Providers: provs}
	p.Cards = []Card{
		countCard("Active providers", st.Providers.Active, st.Providers.ActiveDayAgo, fmt.Sprintf("%d registered", st.Providers.Registered)),
		countCard("Attested providers", st.Providers.Attested, st.Providers.AttestedDayAgo, fmt.Sprintf("%d may serve now", st.Providers.Eligible)),
		flowCard("Tokens served (24 h)", bigOf(st.Last24h.Tokens), bigOf(st.Prev24h.Tokens), formatCount(st.Last24h.Tokens), "total "+compactBig(bigOf(st.Total.Tokens))),
		flowCard("TON paid (24 h)", bigOf(st.Last24h.Paid.Nano), bigOf(st.Prev24h.Paid.Nano), formatTON(st.Last24h.Paid), "total "+formatTON(st.Total.Paid)),
		flowCard("Protocol fees (24 h)", bigOf(st.Last24h.Fees.Nano), bigOf(st.Prev24h.Fees.Nano), formatTON(st.Last24h.Fees), "total "+formatTON(st.Total.Fees)),
		{Title: "Open channels", Value: fmt.Sprint(st.Channels.Open), Sub: fmt.Sprintf("%d closing · %d in all", st.Channels.Closing, st.Channels.Total),
			Change: "stake " + formatTON(st.Stake), Trend: "flat"},
	}
	p.TokensHourly = BarChart("Tokens served per hour, last 48 hours", tokenBars(hourly, "Jan 2 15:04"), "tokens")
	p.PaidHourly = BarChart("TON paid per hour, last 48 hours", paidBars(hourly, "Jan 2 15:04"), "TON")
	p.TokensDaily = BarChart("Tokens served per day, last 30 days", tokenBars(daily, "Jan 2"), "tokens")
	p.PaidDaily = BarChart("TON paid per day, last 30 days", paidBars(daily, "Jan 2"), "TON")
	return p, nil
}

// seriesBars makes one bar per point, its value and tooltip from value.
func seriesBars(s *api.SeriesView, layout string, value func(api.SeriesPoint) (float64, string)) []Bar {
	out := make([]Bar, 0, len(s.Points))
	for _, pt := range s.Points {
		v, tip := value(pt)
		out = append(out, Bar{Label: time.Unix(pt.Start, 0).UTC().Format(layout), Value: v, Tip: tip})
	}
	return out
}

func tokenBars(s *api.SeriesView, layout string) []Bar {
	return seriesBars(s, layout, func(pt api.SeriesPoint) (float64, string) {
		return floatOf(pt.Tokens), formatCount(pt.Tokens) + " tokens"
	})
}

func paidBars(s *api.SeriesView, layout string) []Bar {
	return seriesBars(s, layout, func(pt api.SeriesPoint) (float64, string) { return tonFloat(pt.Paid), formatTON(pt.Paid) })
}

// trendOf names the direction of a change by its sign.
func trendOf(sign int) string {
	switch {
	case sign > 0:
		return "up"
	case sign < 0:
		return "down"
	}
	return "flat"
}

func countCard(title string, now, dayAgo int, sub string) Card {
	d := now - dayAgo
	return Card{Title: title, Value: fmt.Sprint(now), Sub: sub, Change: fmt.Sprintf("%+d in 24 h", d), Trend: trendOf(d)}
}

func flowCard(title string, cur, prev *big.Int, value, sub string) Card {
	c := Card{Title: title, Value: value, Sub: sub, Trend: "flat"}
	switch {
	case prev.Sign() == 0 && cur.Sign() == 0:
		c.Change = "no change vs previous 24 h"
	case prev.Sign() == 0:
		c.Change, c.Trend = "new vs previous 24 h", "up"
	default:
		diff := new(big.Int).Sub(cur, prev)
		pct, _ := new(big.Rat).SetFrac(diff, prev).Float64()
		c.Change, c.Trend = fmt.Sprintf("%+.1f%% vs previous 24 h", pct*100), trendOf(diff.Sign())
	}
	return c
}

func (w *Web) providers(r *http.Request) (any, error) {
	q, err := api.ParseProviderQuery(r.URL.Query())
	if err != nil {
		return nil, err
	}
	page, err := w.api.Providers(q)
	if err != nil {
		return nil, err
	}
	models, err := w.api.Models()
	if err != nil {
		return nil, err
	}
	next := ""
	if page.NextCursor != nil {
		v := r.URL.Query()
		v.Set("cursor", *page.NextCursor)
		next = "/providers?" + v.Encode()
	}
	return map[string]any{"Page": page, "Models": models.Models, "Query": r.URL.Query(), "Next": next}, nil
}

type providerPage struct {
	P                          *api.ProviderDetail
	PriceChart, StakeChart     template.HTML
	EarningsChart, AttestChart template.HTML
	UptimeChart                template.HTML
	Votes                      []api.AttestationEntry
	Now                        int64
}

func (w *Web) provider(r *http.Request) (any, error) {
	d, err := w.api.Provider(r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	st, err := w.api.Status()
	if err != nil {
		return nil, err
	}
	now := st.Now
	p := &providerPage{P: d, Now: now}
	from := now - 30*86400
	if d.RegisteredAt != nil && *d.RegisteredAt > from {
		from = *d.RegisteredAt
	}
	// Price over time: one line per model (completion price per 1M tokens).
	lines := map[uint32]*Line{}
	var order []uint32
	for _, c := range d.PriceHistory {
		l := lines[c.ModelID]
		if l == nil {
			name := fmt.Sprintf("model %d", c.ModelID)
			if c.Name != nil {
				name = *c.Name
			}
			l = &Line{Name: name + " (completion)", Class: fmt.Sprintf("s%d", len(order)%6)}
			lines[c.ModelID] = l
			order = append(order, c.ModelID)
		}
		if c.Removed || c.Completion == nil {
			l.Points = append(l.Points, Point{T: c.Time, End: true})
			continue
		}
		l.Points = append(l.Points, Point{T: c.Time, V: tonFloat(*c.Completion)})
	}
	var ls []Line
	for _, id := range order {
		ls = append(ls, *lines[id])
	}
	p.PriceChart = StepChart("Completion price per 1M tokens", ls, from, now, "TON")
	var stake Line
	stake.Name, stake.Class = "bonded stake", "s0"
	for _, e := range d.StakeHistory {
		if e.Stake != nil {
			stake.Points = append(stake.Points, Point{T: e.Time, V: tonFloat(*e.Stake)})
		}
	}
	p.StakeChart = StepChart("Bonded stake", []Line{stake}, from, now, "TON")
	bars := seriesBars(&api.SeriesView{Points: d.Earnings}, "Jan 2", func(pt api.SeriesPoint) (float64, string) { return tonFloat(pt.Earned), formatTON(pt.Earned) })
	p.EarningsChart = BarChart("Earned per day, last 30 days", bars, "TON")
	var ups []Bar
	for _, day := range d.UptimeHistory {
		b := Bar{Label: time.Unix(day.Start, 0).UTC().Format("Jan 2"), Tip: "not probed"}
		if day.Uptime != nil {
			b.Value, b.Tip = *day.Uptime*100, fmt.Sprintf("%s (%d of %d probes, %d oracles)", formatPct(*day.Uptime), day.ProbesOK, day.Probes, day.Oracles)
		}
		ups = append(ups, b)
	}
	p.UptimeChart = PercentChart("Uptime per day, last 30 days", ups)
	var spans []Span
	for _, e := range d.AttestationTimeline {
		switch e.Type {
		case "attested":
			spans = append(spans, Span{From: e.Time, To: e.ValidUntil, Label: "claim " + shortHex(e.ClaimHash), Class: "s0"})
		case "attestation_extended":
			spans = append(spans, Span{From: e.Time, To: e.ValidUntil, Label: "claim " + shortHex(e.ClaimHash), Class: "s1"})
		case "vote":
			p.Votes = append([]api.AttestationEntry{e}, p.Votes...)
		}
	}
	if len(p.Votes) > 50 {
		p.Votes = p.Votes[:50]
	}
	if len(spans) > 0 {
		lo, hi := spans[0].From, now
		for _, s := range spans {
			hi = max(hi, s.To)
		}
		p.AttestChart = Timeline("Confirmed attestations (from confirmation to valid until)", spans, lo, hi)
	}
	return p, nil
}

type oraclePage struct {
	O     *api.OracleDetail
	Chart template.HTML
}

// oracle is an oracle's page: what it did and its uptime commitments with their tables.
func (w *Web) oracle(r *http.Request) (any, error) {
	d, err := w.api.Oracle(r.PathValue("address"))
	if err != nil {
		return nil, err
	}
	var bars []Bar
	for i := min(len(d.UptimeHistory), 48) - 1; i >= 0; i-- {
		c := d.UptimeHistory[i]
		bars = append(bars, Bar{Label: fmt.Sprintf("epoch %d", c.Epoch), Value: float64(c.ProviderCount),
			Tip: fmt.Sprintf("%d providers, table %s", c.ProviderCount, c.Table.State)})
	}
	return &oraclePage{O: d, Chart: BarChart("Providers in each committed table, last 48", bars, "providers")}, nil
}

func (w *Web) channel(r *http.Request) (any, error) { return w.api.Channel(r.PathValue("address")) }

// traceNode is a trace transaction with its children, for the recursive template.
type traceNode struct {
	Tx       api.TxView
	Children []*traceNode
	Focus    bool
}

type txPage struct {
	T    *api.TxDetail
	Root *traceNode
}

func (w *Web) tx(r *http.Request) (any, error) {
	d, err := w.api.Tx(r.PathValue("hash"))
	if err != nil {
		return nil, err
	}
	nodes := make([]*traceNode, len(d.Trace.Nodes))
	for i, n := range d.Trace.Nodes {
		nodes[i] = &traceNode{Tx: n.Tx, Focus: n.Tx.Hash == d.Transaction.Hash}
		if n.Parent >= 0 {
			nodes[n.Parent].Children = append(nodes[n.Parent].Children, nodes[i])
		}
	}
	if len(nodes) == 0 {
		return nil, errors.New("empty trace")
	}
	return &txPage{T: d, Root: nodes[0]}, nil
}
