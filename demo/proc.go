package demo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Proc is one process of the network: a daemon started from its binary with the flags an operator
// would give it, its output appended to its own log file. It can be stopped gracefully (SIGTERM,
// then SIGKILL after a timeout), killed (SIGKILL, as a crash) and started again with the same
// command line.
type Proc struct {
	// Name is the process's name in progress lines and its log file's name.
	Name string
	// Bin and Args are the command line; Env is added to the orchestrator's environment, from
	// which every COCOON_ variable is left out (the flags say everything).
	Bin  string
	Args []string
	Env  []string
	// LogPath receives stdout and stderr, appended across restarts.
	LogPath string
	// Ready reports whether the started process serves (nil: started is ready).
	Ready func(ctx context.Context) error

	mu sync.Mutex
	// cmd is the running process (nil before the first start); done is closed when it exits and
	// err then holds its exit. stopping marks an exit the orchestrator asked for. REQUIRES mu.
	cmd      *exec.Cmd
	done     chan struct{}
	err      error
	stopping bool
	log      *os.File
}

// ErrExited is a process that exited while it was expected to run.
var ErrExited = errors.New("process exited")

// Start starts the process and waits until Ready answers, the process exits (an error holding the
// end of its log), or ctx ends.
func (p *Proc) Start(ctx context.Context) error {
	p.mu.Lock()
	if p.cmd != nil && !p.exitedLocked() {
		p.mu.Unlock()
		return fmt.Errorf("%s is already running (pid %d)", p.Name, p.cmd.Process.Pid)
	}
	if err := os.MkdirAll(filepath.Dir(p.LogPath), 0o700); err != nil {
		p.mu.Unlock()
		return err
	}
	f, err := os.OpenFile(p.LogPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		p.mu.Unlock()
		return fmt.Errorf("failed to open %s's log: %w", p.Name, err)
	}
	fmt.Fprintf(f, "==== %s: %s %s\n", time.Now().Format(time.RFC3339), p.Bin, strings.Join(p.Args, " "))
	cmd := exec.Command(p.Bin, p.Args...)
	cmd.Env = append(cleanEnv(), p.Env...)
	cmd.Stdout, cmd.Stderr = f, f
	cmd.SysProcAttr = childAttr()
	if err := spawn(cmd); err != nil {
		f.Close()
		p.mu.Unlock()
		return fmt.Errorf("failed to start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	p.cmd, p.done, p.err, p.stopping, p.log = cmd, done, nil, false, f
	p.mu.Unlock()
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		p.err = err
		p.mu.Unlock()
		fmt.Fprintf(f, "==== %s: exited: %v\n", time.Now().Format(time.RFC3339), exitText(err))
		f.Close()
		close(done)
	}()
	if p.Ready == nil {
		return nil
	}
	for {
		rctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err := p.Ready(rctx)
		cancel()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%w: %s stopped before it was ready (%s); the end of %s:\n%s", ErrExited, p.Name, p.ExitText(), p.LogPath, p.Tail(20))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready (%v): %w; the end of %s:\n%s", p.Name, err, ctx.Err(), p.LogPath, p.Tail(20))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Proc) exitedLocked() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Running reports whether the process runs.
func (p *Proc) Running() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && !p.exitedLocked()
}

// Pid is the running process's id (0 when none).
func (p *Proc) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.exitedLocked() {
		return 0
	}
	return p.cmd.Process.Pid
}

// Done is closed when the current run exits (nil before the first start).
func (p *Proc) Done() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.done
}

// Unexpected reports whether the last run exited without the orchestrator asking.
func (p *Proc) Unexpected() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd != nil && p.exitedLocked() && !p.stopping
}

// ExitText says how the last run ended ("running" while it runs).
func (p *Proc) ExitText() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil {
		return "never started"
	}
	if !p.exitedLocked() {
		return "running"
	}
	return exitText(p.err)
}

func exitText(err error) string {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return "exit status 0"
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return ee.Error()
	}
	return err.Error()
}

// Stop asks the process to stop (SIGTERM: the daemon drains and settles) and kills it when it has
// not exited after timeout. It returns once the process is gone; an exit status other than 0
// after SIGTERM is returned as an error.
func (p *Proc) Stop(timeout time.Duration) error {
	p.mu.Lock()
	if p.cmd == nil || p.exitedLocked() {
		p.mu.Unlock()
		return nil
	}
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
		p.mu.Lock()
		err := p.err
		p.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s stopped with %s", p.Name, exitText(err))
		}
		return nil
	case <-time.After(timeout):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
	return fmt.Errorf("%s did not stop within %v after SIGTERM and was killed", p.Name, timeout)
}

// Kill kills the process with SIGKILL, as a crash or a power cut would, and waits until it is gone.
func (p *Proc) Kill() {
	p.mu.Lock()
	if p.cmd == nil || p.exitedLocked() {
		p.mu.Unlock()
		return
	}
	p.stopping = true
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	_ = cmd.Process.Signal(syscall.SIGKILL)
	<-done
}

// Log is the whole log file (every run).
func (p *Proc) Log() string {
	b, _ := os.ReadFile(p.LogPath)
	return string(b)
}

// Tail is the log's last n lines.
func (p *Proc) Tail(n int) string {
	b, _ := os.ReadFile(p.LogPath)
	b = bytes.TrimRight(b, "\n")
	lines := bytes.Split(b, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + string(bytes.Join(lines, []byte("\n    ")))
}
