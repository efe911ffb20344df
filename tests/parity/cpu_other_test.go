//go:build !unix

package parity

import "time"

// processCPU is not measured on this platform; benchmarks then report 0 CPU µs/op.
func processCPU() time.Duration { return 0 }
