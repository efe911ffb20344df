//go:build cocoon_pprof

package provider

import (
	"fmt"
	"net/http"
	"slices"
	"sync"
	"time"
)

// phaseMarks are when a request reached each phase.
type phaseMarks [numPhases]time.Time

func (m *phaseMarks) mark(i int)                 { m[i] = time.Now() }
func (m *phaseMarks) markAt(i int, at time.Time) { m[i] = at }

var phaseTimes struct {
	sync.Mutex
	d [numPhases][]time.Duration // d[i]: from phase i-1 to phase i
}

// done records the request's time in each phase it went through.
func (m *phaseMarks) done() {
	phaseTimes.Lock()
	defer phaseTimes.Unlock()
	for i := 1; i < numPhases; i++ {
		if !m[i].IsZero() && !m[i-1].IsZero() {
			phaseTimes.d[i] = append(phaseTimes.d[i], m[i].Sub(m[i-1]))
		}
	}
}

var phaseNames = [numPhases]string{"arrived", "body read", "payment checked", "request parsed", "admitted", "generated",
	"content hashed", "billed", "receipt signed", "written", "ended"}

func init() {
	http.HandleFunc("/debug/phases", func(w http.ResponseWriter, r *http.Request) {
		phaseTimes.Lock()
		defer phaseTimes.Unlock()
		for i, d := range phaseTimes.d {
			if len(d) == 0 {
				continue
			}
			slices.Sort(d)
			fmt.Fprintf(w, "%-16s n=%d p50=%v p90=%v\n", phaseNames[i], len(d), d[len(d)/2], d[len(d)*9/10])
		}
		if r.URL.Query().Get("reset") != "" {
			phaseTimes.d = [numPhases][]time.Duration{}
		}
	})
}
