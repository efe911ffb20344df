package busypoll

import (
	"runtime"
	"syscall"
)

const supported = true

func readFD(fd uintptr, p []byte) (int, error) { return syscall.Read(int(fd), p) }

// yield lets a goroutine that became runnable (a timer, another connection) run, then another
// process waiting for this vCPU (a client or a backend on a busy machine): polling takes only
// CPU nothing else wants.
func yield() {
	runtime.Gosched()
	syscall.Syscall(syscall.SYS_SCHED_YIELD, 0, 0, 0)
}
