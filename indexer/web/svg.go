package web

import (
	"fmt"
	"html"
	"html/template"
	"math"
	"strings"
	"time"
)

// Charts are drawn on the server as inline SVG: no script, no library, nothing fetched. Colours come
// from the stylesheet through classes (the Content-Security-Policy allows no inline style).

const (
	chartW, chartH         = 640.0, 180.0
	timelineW              = 1200.0
	timelinePadL           = 150.0 // room for the row labels
	padL, padR, padT, padB = 56.0, 8.0, 10.0, 24.0
)

// Bar is one bar of a bar chart.
type Bar struct {
	Label string  // under the bar when there is room, and in its tooltip
	Value float64 // ≥ 0
	Tip   string  // the tooltip's value text
}

// BarChart draws bars scaled to the largest; unit labels the axis maximum.
func BarChart(title string, bars []Bar, unit string) template.HTML {
	maxV := 0.0
	for _, x := range bars {
		maxV = math.Max(maxV, x.Value)
	}
	return barChart(title, bars, unit, maxV)
}

// PercentChart draws bars of percentages (0–100) on a fixed 0–100 % axis.
func PercentChart(title string, bars []Bar) template.HTML { return barChart(title, bars, "%", 100) }

func barChart(title string, bars []Bar, unit string, maxV float64) template.HTML {
	var b strings.Builder
	open(&b, title)
	axes(&b, maxV, unit)
	if len(bars) > 0 {
		slot := (chartW - padL - padR) / float64(len(bars))
		w := math.Max(slot*0.8, 1)
		every := int(math.Ceil(float64(len(bars)) / 8))
		for i, x := range bars {
			h := 0.0
			if maxV > 0 {
				h = x.Value / maxV * (chartH - padT - padB)
			}
			px := padL + float64(i)*slot + (slot-w)/2
			fmt.Fprintf(&b, `<rect class="bar" x="%.1f" y="%.1f" width="%.1f" height="%.1f"><title>%s: %s</title></rect>`,
				px, chartH-padB-h, w, math.Max(h, 0), esc(x.Label), esc(x.Tip))
			if i%every == 0 {
				fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="middle">%s</text>`, px+w/2, chartH-6, esc(x.Label))
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Point is one value at a time; End stops the line there (a price removed).
type Point struct {
	T   int64
	V   float64
	End bool
}

// Line is one named step series.
type Line struct {
	Name   string
	Class  string // s0..s5
	Points []Point
}

// StepChart draws step lines over [from, to]: a value holds until the next point.
func StepChart(title string, lines []Line, from, to int64, unit string) template.HTML {
	var b strings.Builder
	open(&b, title)
	maxV := 0.0
	for _, l := range lines {
		for _, p := range l.Points {
			maxV = math.Max(maxV, p.V)
		}
	}
	axes(&b, maxV, unit)
	if to <= from {
		to = from + 1
	}
	x := func(t int64) float64 { return padL + float64(t-from)/float64(to-from)*(chartW-padL-padR) }
	y := func(v float64) float64 {
		if maxV == 0 {
			return chartH - padB
		}
		return chartH - padB - v/maxV*(chartH-padT-padB)
	}
	for _, l := range lines {
		if len(l.Points) == 0 {
			continue
		}
		var d strings.Builder
		drawing := false
		for _, p := range l.Points {
			t := max(p.T, from)
			switch {
			case p.End && drawing:
				fmt.Fprintf(&d, " H%.1f", x(t))
				drawing = false
			case p.End:
			case !drawing:
				fmt.Fprintf(&d, " M%.1f %.1f", x(t), y(p.V))
				drawing = true
			default:
				fmt.Fprintf(&d, " H%.1f V%.1f", x(t), y(p.V))
			}
		}
		if drawing {
			fmt.Fprintf(&d, " H%.1f", x(to))
		}
		fmt.Fprintf(&b, `<path class="line %s" d="%s"><title>%s</title></path>`, l.Class, d.String(), esc(l.Name))
	}
	timeTicks(&b, from, to, x)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

// Span is one interval of a timeline.
type Span struct {
	From, To int64
	Label    string
	Class    string
}

// Timeline draws spans on rows (one row per distinct Label) over [from, to]. It is drawn wider than
// the other charts: it spans a page's width.
func Timeline(title string, spans []Span, from, to int64) template.HTML {
	var b strings.Builder
	rows := map[string]int{}
	var order []string
	for _, s := range spans {
		if _, ok := rows[s.Label]; !ok {
			rows[s.Label] = len(order)
			order = append(order, s.Label)
		}
	}
	h := padT + padB + float64(max(len(order), 1))*22
	fmt.Fprintf(&b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s"><title>%s</title>`, timelineW, h, esc(title), esc(title))
	if to <= from {
		to = from + 1
	}
	x := func(t int64) float64 {
		t = min(max(t, from), to)
		return timelinePadL + float64(t-from)/float64(to-from)*(timelineW-timelinePadL-padR)
	}
	for i, label := range order {
		fmt.Fprintf(&b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">%s</text>`, timelinePadL-4, padT+float64(i)*22+15, esc(label))
	}
	for _, s := range spans {
		r := rows[s.Label]
		w := math.Max(x(s.To)-x(s.From), 2)
		fmt.Fprintf(&b, `<rect class="span %s" x="%.1f" y="%.1f" width="%.1f" height="16"><title>%s: %s → %s</title></rect>`,
			s.Class, x(s.From), padT+float64(r)*22+2, w, esc(s.Label), fmtTime(s.From), fmtTime(s.To))
	}
	fmt.Fprintf(&b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, timelinePadL, h-padB, timelineW-padR, h-padB)
	ticks(&b, from, to, x, h-6)
	b.WriteString(`</svg>`)
	return template.HTML(b.String())
}

func open(b *strings.Builder, title string) {
	fmt.Fprintf(b, `<svg class="chart" viewBox="0 0 %.0f %.0f" role="img" aria-label="%s"><title>%s</title>`, chartW, chartH, esc(title), esc(title))
}

// axes draws the baseline, the maximum's grid line and its label.
func axes(b *strings.Builder, maxV float64, unit string) {
	fmt.Fprintf(b, `<line class="axis" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, chartH-padB, chartW-padR, chartH-padB)
	fmt.Fprintf(b, `<line class="grid" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f"/>`, padL, padT, chartW-padR, padT)
	fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="start">%s</text>`, padL+4, padT+12, esc(compact(maxV)+" "+unit))
	fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="end">0</text>`, padL-4, chartH-padB)
}

func timeTicks(b *strings.Builder, from, to int64, x func(int64) float64) {
	ticks(b, from, to, x, chartH-6)
}

func ticks(b *strings.Builder, from, to int64, x func(int64) float64, y float64) {
	for i := range 5 {
		t := from + (to-from)*int64(i)/4
		anchor := "middle"
		switch i {
		case 0:
			anchor = "start"
		case 4:
			anchor = "end"
		}
		fmt.Fprintf(b, `<text class="tick" x="%.1f" y="%.1f" text-anchor="%s">%s</text>`, x(t), y, anchor, esc(shortTime(t, to-from)))
	}
}

func shortTime(t, span int64) string {
	u := time.Unix(t, 0).UTC()
	if span <= 2*86400 {
		return u.Format("15:04")
	}
	return u.Format("Jan 2")
}

// compact formats a number with k/M/G suffixes.
func compact(v float64) string {
	switch {
	case v >= 1e9:
		return trim(fmt.Sprintf("%.2f", v/1e9)) + "G"
	case v >= 1e6:
		return trim(fmt.Sprintf("%.2f", v/1e6)) + "M"
	case v >= 1e4:
		return trim(fmt.Sprintf("%.1f", v/1e3)) + "k"
	case v >= 1 || v == 0:
		return trim(fmt.Sprintf("%.2f", v))
	default:
		return trim(fmt.Sprintf("%.4f", v))
	}
}

func trim(s string) string {
	if strings.Contains(s, ".") {
		s = strings.TrimRight(strings.TrimRight(s, "0"), ".")
	}
	return s
}

func esc(s string) string { return html.EscapeString(s) }
