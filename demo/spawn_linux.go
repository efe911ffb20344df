package demo

import (
	"os/exec"
	"runtime"
	"syscall"
)

// childAttr puts each child in its own process group, so that a Ctrl-C in the terminal reaches
// the orchestrator alone (it stops the children in order: gateway, providers, oracles, indexer,
// devnet last, so that the providers' claims at shutdown still find a chain), and asks the kernel
// to kill the child with SIGKILL when the thread that started it dies: a second Ctrl-C (or the
// orchestrator's crash) leaves no daemon behind.
func childAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// spawnReq is one exec.Cmd to start on the spawner thread.
type spawnReq struct {
	cmd  *exec.Cmd
	done chan error
}

var spawns = make(chan spawnReq)

// The parent-death signal follows the thread that forked, not the process: children are started
// from one goroutine locked to its OS thread for the process's lifetime, so that no child sees its
// "parent" exit while the orchestrator still runs (the Go runtime may end other threads).
func init() {
	go func() {
		runtime.LockOSThread()
		for r := range spawns {
			r.done <- r.cmd.Start()
		}
	}()
}

func spawn(cmd *exec.Cmd) error {
	done := make(chan error, 1)
	spawns <- spawnReq{cmd, done}
	return <-done
}
