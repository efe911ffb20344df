//go:build !linux

package busypoll

import "syscall"

// supported: polling is implemented for Linux only; elsewhere every read parks at once.
const supported = false

func readFD(uintptr, []byte) (int, error) { return 0, syscall.EAGAIN }

func yield() {}
