// Package busypoll reads a socket by polling it for a short window before parking, while the
// process has nothing else to do.
//
// A goroutine that reads an empty socket parks, and its thread sleeps in epoll; on a virtual
// machine the idle vCPU then halts, and the wake-up when the bytes arrive costs tens of
// microseconds, on every hop of every request (docs/BENCHMARKS.md, "Provider daemon"). The
// provider's two waits that are short when the daemon is idle — an upstream's answer head, a
// keep-alive client's next request — poll instead, for at most Window, and only while the daemon
// is otherwise idle: the CPU it spends is CPU nothing else wanted.
package busypoll

import (
	"net"
	"runtime"
	"sync/atomic"
	"syscall"
	"time"
)

// Gate decides when reads poll. A nil *Gate, or one with a zero Window, never polls.
//
// Invariants: at most one read polls at a time (polling); a read polls only while no more than
// its allowance of requests are in progress (Begin/End), and stops polling as soon as more are.
type Gate struct {
	// Window is how long one read polls before it parks.
	Window time.Duration

	inProgress atomic.Int32
	polling    atomic.Bool
}

// Begin counts a request in progress; End ends it. A server calls them around each request.
func (g *Gate) Begin() {
	if g != nil {
		g.inProgress.Add(1)
	}
}

// End: see Begin.
func (g *Gate) End() {
	if g != nil {
		g.inProgress.Add(-1)
	}
}

// InProgress is the number of requests between Begin and End.
func (g *Gate) InProgress() int {
	if g == nil {
		return 0
	}
	return int(g.inProgress.Load())
}

// checkEvery is how many empty polls pass between looks at the clock (a look costs about as much
// as a poll).
const checkEvery = 8

// Read polls nc for bytes into p for up to the gate's window, while at most allowed requests are in
// progress. It reports ok when it read n > 0 bytes; otherwise nothing was consumed and the caller
// reads nc as usual (which parks, and reports an end of stream or an error the poll saw). nc must
// be a socket (syscall.Conn): anything else is not polled.
//
// While it polls, nc's deadlines are not looked at: a read past its deadline can return data up
// to Window late, never block longer than Window more.
func (g *Gate) Read(nc net.Conn, p []byte, allowed int) (n int, ok bool) {
	if g == nil || g.Window <= 0 || len(p) == 0 || int(g.inProgress.Load()) > allowed {
		return 0, false
	}
	sc, isSocket := nc.(syscall.Conn)
	if !isSocket || !g.polling.CompareAndSwap(false, true) {
		return 0, false
	}
	defer g.polling.Store(false)
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, false
	}
	end := time.Now().Add(g.Window)
	// The callback runs with the descriptor held open; returning true ends RawConn.Read at once.
	_ = rc.Read(func(fd uintptr) bool {
		for i := 1; ; i++ {
			m, err := syscall.Read(int(fd), p)
			if m > 0 {
				n, ok = m, true
				return true
			}
			// 0 bytes: the end of the stream; another error: the caller's read reports it.
			if err != syscall.EAGAIN && err != syscall.EINTR {
				return true
			}
			if int(g.inProgress.Load()) > allowed || i%checkEvery == 0 && time.Now().After(end) {
				return true
			}
			// Lets a goroutine that became runnable (a timer, another connection) run first.
			runtime.Gosched()
		}
	})
	return n, ok
}

// Listener wraps ln so that each accepted connection's reads poll through g with no request in
// progress (a keep-alive client's next request, or a TLS handshake's next flight). Put it under
// the TLS listener: polling works on the socket.
func (g *Gate) Listener(ln net.Listener) net.Listener {
	if g == nil || g.Window <= 0 {
		return ln
	}
	return &listener{Listener: ln, g: g}
}

type listener struct {
	net.Listener
	g *Gate
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, g: l.g}, nil
}

// conn polls its reads while no request is in progress.
type conn struct {
	net.Conn
	g *Gate
}

func (c *conn) Read(p []byte) (int, error) {
	if n, ok := c.g.Read(c.Conn, p, 0); ok {
		return n, nil
	}
	return c.Conn.Read(p)
}
