package service_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/service"
)

// The example daemon as a real process (this test binary re-run with childEnv set), driven
// with real SIGINTs: the first drains, the second exits at once.

const childEnv = "COCOON_SERVICE_E2E_CHILD"

// TestGreeterChildProcess is the child's main; it does nothing in a normal test run.
func TestGreeterChildProcess(t *testing.T) {
	if os.Getenv(childEnv) != "1" {
		t.Skip("runs only as the child of TestRunE2E")
	}
	os.Exit(runGreeter(context.Background(), flag.Args(), os.LookupEnv, os.Stderr))
}

// child is a running greeter process and its JSON log lines.
type child struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs []map[string]any
	more chan struct{} // closed and replaced on every new line
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, once done is closed
}

// startChild runs the greeter with the given flags; its configuration also comes from
// COCOON_GREETER_* variables, as a deployed daemon's would.
func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^TestGreeterChildProcess$", "--"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"=1",
		"COCOON_GREETER_LISTEN=127.0.0.1:0",
		"COCOON_GREETER_LOG_FORMAT=json",
	)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{t: t, cmd: cmd, more: make(chan struct{}), done: make(chan struct{})}
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			_ = cmd.Process.Kill()
			<-c.done
		}
	})
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				rec = map[string]any{"msg": "(not JSON) " + sc.Text()}
			}
			c.mu.Lock()
			c.logs = append(c.logs, rec)
			close(c.more)
			c.more = make(chan struct{})
			c.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, stderr)
		c.err = cmd.Wait()
		close(c.done)
	}()
	return c
}

// waitLog waits for a log record with the given message (and part, if not ""), up to 20 s.
func (c *child) waitLog(msg, part string) map[string]any {
	c.t.Helper()
	timeout := time.After(20 * time.Second)
	for seen := 0; ; {
		c.mu.Lock()
		logs, more := c.logs, c.more
		c.mu.Unlock()
		for ; seen < len(logs); seen++ {
			if r := logs[seen]; r["msg"] == msg && (part == "" || r["part"] == part) {
				return r
			}
		}
		select {
		case <-more:
		case <-c.done:
			c.t.Fatalf("child exited (%v) without logging %q %q; logs: %v", c.err, msg, part, c.allLogs())
		case <-timeout:
			c.t.Fatalf("no log %q %q within 20s; logs: %v", msg, part, c.allLogs())
		}
	}
}

func (c *child) allLogs() []map[string]any {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]map[string]any(nil), c.logs...)
}

func (c *child) signal(sig os.Signal) {
	c.t.Helper()
	if err := c.cmd.Process.Signal(sig); err != nil {
		c.t.Fatal(err)
	}
}

// exitCode waits (up to within) for the child to exit and returns its code.
func (c *child) exitCode(within time.Duration) int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(within):
		c.t.Fatalf("child still running after %v; logs: %v", within, c.allLogs())
	}
	var ee *exec.ExitError
	if errors.As(c.err, &ee) {
		return ee.ExitCode()
	}
	if c.err != nil {
		c.t.Fatal(c.err)
	}
	return 0
}

// apiURL is the greeting API's URL from the child's "listening" log.
func (c *child) apiURL() string {
	c.t.Helper()
	return "http://" + c.waitLog("listening", "api")["addr"].(string)
}

// inflight starts a request whose answer the child sends after delay, and returns once the
// child has sent the headers, i.e. while the request is in flight.
func inflight(t *testing.T, url, delay string) *http.Response {
	t.Helper()
	resp, err := http.Get(url + "/hello?name=eve&delay=" + delay)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("in-flight request: %s", resp.Status)
	}
	return resp
}

func TestRunE2E(t *testing.T) {
	if testing.Short() {
		t.Skip("starts child processes")
	}
	t.Parallel()

	// The first SIGINT cancels the run context and drains: the API stops taking connections,
	// the request already in flight gets its whole answer, the parts stop in reverse order
	// and the process exits 0.
	t.Run("FirstInterruptDrains", func(t *testing.T) {
		t.Parallel()
		c := startChild(t, "--greeting", "ave")
		url := c.apiURL()
		c.waitLog("started", "up")
		resp := inflight(t, url, "1500ms")
		c.signal(syscall.SIGINT)
		c.waitLog("draining; interrupt again to exit at once", "")
		eventually(t, "the API to refuse new connections while draining", func() bool {
			resp, err := http.Get(url + "/hello?name=late")
			if err == nil {
				resp.Body.Close()
			}
			return err != nil
		})
		body, err := io.ReadAll(resp.Body)
		if err != nil || string(body) != "ave, eve\n" {
			t.Fatalf("in-flight answer %q, %v", body, err)
		}
		if code := c.exitCode(20 * time.Second); code != 0 {
			t.Fatalf("exit code %d, want 0; logs: %v", code, c.allLogs())
		}
		var order []string
		for _, r := range c.allLogs() {
			if r["msg"] == "stopped" {
				order = append(order, r["part"].(string))
			}
		}
		if strings.Join(order, ",") != "up,api,heartbeat,guest book" {
			t.Fatalf("stop order %v", order)
		}
		c.waitLog("stopped cleanly", "")
	})

	// The second SIGINT, while the drain waits for a long request, exits at once with 130.
	t.Run("SecondInterruptForcesExit", func(t *testing.T) {
		t.Parallel()
		c := startChild(t, "--drain-timeout", "5m")
		inflight(t, c.apiURL(), "5m")
		c.signal(syscall.SIGINT)
		c.waitLog("draining; interrupt again to exit at once", "")
		t0 := time.Now()
		c.signal(syscall.SIGINT)
		if code := c.exitCode(20 * time.Second); code != service.ExitInterrupted {
			t.Fatalf("exit code %d, want %d; logs: %v", code, service.ExitInterrupted, c.allLogs())
		}
		c.waitLog("second interrupt, exiting now", "")
		if d := time.Since(t0); d > 10*time.Second {
			t.Fatalf("forced exit took %v", d)
		}
	})

	// A drain that outlasts --drain-timeout ends the process with an error (exit 1) that
	// says which part did not drain; SIGTERM is an interrupt too.
	t.Run("DrainTimeout", func(t *testing.T) {
		t.Parallel()
		c := startChild(t, "--drain-timeout", "300ms")
		inflight(t, c.apiURL(), "5m")
		c.signal(syscall.SIGTERM)
		if code := c.exitCode(20 * time.Second); code != 1 {
			t.Fatalf("exit code %d, want 1; logs: %v", code, c.allLogs())
		}
		r := c.waitLog("greeter failed", "")
		if e, _ := r["err"].(string); !strings.Contains(e, "failed to stop api: api did not drain: context deadline exceeded") {
			t.Fatalf("error %q", e)
		}
	})
}
