//go:build !cocoon_pprof

package provider

import "time"

// phaseMarks is empty outside the profiling build.
type phaseMarks struct{}

func (*phaseMarks) mark(int)              {}
func (*phaseMarks) markAt(int, time.Time) {}
func (*phaseMarks) done()                 {}
