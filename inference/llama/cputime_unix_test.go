//go:build unix

package llama

import (
	"syscall"
	"time"
)

// cpuTime is the process's user+system CPU time, so benchmarks can report throughput per CPU-second,
// which stays meaningful on a machine shared with other work (wall time does not).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
