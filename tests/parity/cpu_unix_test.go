//go:build unix

package parity

import (
	"syscall"
	"time"
)

// processCPU is the user+system CPU time of the whole process (every thread, GC included), a
// measure that does not depend on how busy the rest of the machine is.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
