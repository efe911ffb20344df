package web

import (
	"encoding/json"
	"fmt"
	"html/template"
	"math/big"
	"net/url"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/indexer/api"
)

var funcs = template.FuncMap{
	"ton":      func(v any) string { return polyString(v, formatTON) },
	"tonp":     func(v any) string { return polyString(v, formatTON) },
	"tonExact": func(a api.Amount) string { return a.TON + " TON (" + a.Nano + " nanoTON)" },
	"count":    formatCount,
	"short":    func(v any) string { return polyString(v, func(a api.Addr) string { return shortAddr(a.Friendly) }) },
	"shortp":   func(v any) string { return polyString(v, func(a api.Addr) string { return shortAddr(a.Friendly) }) },
	"shorthex": shortHex,
	"time":     func(v any) string { return polyString(v, fmtTime) },
	"timep":    func(v any) string { return polyString(v, fmtTime) },
	"str":      func(v any) string { return polyString(v, func(x string) string { return x }) },
	"deref": func(s *string) string {
		if s == nil {
			return ""
		}
		return *s
	},
	"path":      url.PathEscape,
	"kindPath":  kindPath,
	"trend":     func(s string) string { return "trend-" + s },
	"statusCls": func(s string) string { return "status status-" + s },
	"nano":      func(a api.Amount) string { return a.Nano },
	"pct":       func(v any) string { return polyString(v, formatPct) },
	"pctv": func(f *float64) string {
		if f == nil {
			return "-1"
		}
		return fmt.Sprint(*f)
	},
	"ms": func(v any) string { return polyString(v, func(x uint32) string { return fmt.Sprintf("%d ms", x) }) },
	"tableCls": func(state string) string {
		switch state {
		case "verified":
			return "badge ok"
		case "refused":
			return "badge fail"
		case "pending":
			return "badge"
		}
		return "badge warn"
	},
	"nanop": func(a *api.Amount) string { return optional(a, func(x api.Amount) string { return x.Nano }) },
	"modelNames": func(ms []api.ProviderModel) string {
		var out []string
		for _, m := range ms {
			if m.Name != nil {
				out = append(out, *m.Name)
			} else {
				out = append(out, fmt.Sprintf("#%d", m.ModelID))
			}
		}
		return strings.Join(out, ", ")
	},
	"sel": func(q url.Values, k, v string) bool { return q.Get(k) == v },
	"qv":  func(q url.Values, k string) string { return q.Get(k) },
	"add": func(a, b int) int { return a + b },
	"json": func(v any) string {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err.Error()
		}
		return string(b)
	},
	"dict": func(kv ...any) map[string]any {
		m := map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i].(string)] = kv[i+1]
		}
		return m
	},
}

// optional renders a pointer, "—" when nil.
func optional[T any](p *T, f func(T) string) string {
	if p == nil {
		return "—"
	}
	return f(*p)
}

// polyString renders a T or a *T (nil: "—") with f, so templates need not care which they hold.
func polyString[T any](v any, f func(T) string) string {
	switch x := v.(type) {
	case T:
		return f(x)
	case *T:
		return optional(x, f)
	}
	return fmt.Sprintf("%v", v)
}

// formatTON renders an amount for people: TON with at most 4 decimals ("< 0.0001" for dust).
func formatTON(a api.Amount) string {
	n := bigOf(a.Nano)
	if n.Sign() == 0 {
		return "0 TON"
	}
	r := new(big.Rat).SetFrac(n, big.NewInt(1_000_000_000))
	f, _ := r.Float64()
	if f > 0 && f < 0.0001 {
		return "< 0.0001 TON"
	}
	return trim(fmt.Sprintf("%.4f", f)) + " TON"
}

// formatPct renders a fraction (0..1) as a percentage: "99.5%".
func formatPct(f float64) string { return trim(fmt.Sprintf("%.2f", f*100)) + "%" }

func tonFloat(a api.Amount) float64 {
	f, _ := new(big.Rat).SetFrac(bigOf(a.Nano), big.NewInt(1_000_000_000)).Float64()
	return f
}

func bigOf(s string) *big.Int {
	n, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return new(big.Int)
	}
	return n
}

func floatOf(s string) float64 {
	f, _ := new(big.Float).SetInt(bigOf(s)).Float64()
	return f
}

// formatCount puts thin separators in a decimal count: 1 234 567.
func formatCount(s string) string {
	if len(s) <= 3 {
		return s
	}
	var b strings.Builder
	lead := len(s) % 3
	if lead > 0 {
		b.WriteString(s[:lead])
	}
	for i := lead; i < len(s); i += 3 {
		if b.Len() > 0 {
			b.WriteString("\u202f")
		}
		b.WriteString(s[i : i+3])
	}
	return b.String()
}

func compactBig(n *big.Int) string {
	f, _ := new(big.Float).SetInt(n).Float64()
	return compact(f)
}

func shortAddr(s string) string {
	if len(s) <= 14 {
		return s
	}
	return s[:6] + "…" + s[len(s)-6:]
}

func shortHex(s string) string {
	if len(s) <= 12 {
		return s
	}
	return s[:8] + "…" + s[len(s)-4:]
}

func fmtTime(t int64) string {
	if t == 0 {
		return "—"
	}
	return time.Unix(t, 0).UTC().Format("2006-01-02 15:04:05 UTC")
}

// kindPath is the page of an indexed account ("" when it has none).
func kindPath(kind *string, a api.Addr) string {
	if kind == nil {
		return ""
	}
	switch *kind {
	case "provider":
		return "/providers/" + url.PathEscape(a.Raw)
	case "channel":
		return "/channels/" + url.PathEscape(a.Raw)
	}
	return ""
}
