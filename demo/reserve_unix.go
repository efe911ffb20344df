//go:build unix

package demo

import (
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
)

// reserved holds the lock files of the ports this process reserved, open until it exits.
var reserved struct {
	sync.Mutex
	files []*os.File
}

// reservePort takes an exclusive lock on <temp dir>/cocoon-ports/<port>, kept until the process
// exits (the kernel drops the lock then, even after kill -9): false when another process (or this
// one) holds it. Without the directory it reserves nothing and says yes.
func reservePort(port int) bool {
	dir := filepath.Join(os.TempDir(), "cocoon-ports")
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return true
	}
	f, err := os.OpenFile(filepath.Join(dir, strconv.Itoa(port)), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return true
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	reserved.Lock()
	reserved.files = append(reserved.files, f)
	reserved.Unlock()
	return true
}
