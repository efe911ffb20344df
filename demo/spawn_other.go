//go:build unix && !linux

package demo

import (
	"os/exec"
	"syscall"
)

// childAttr puts each child in its own process group (see spawn_linux.go); without Linux's
// parent-death signal a second Ctrl-C may leave children running.
func childAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func spawn(cmd *exec.Cmd) error { return cmd.Start() }
