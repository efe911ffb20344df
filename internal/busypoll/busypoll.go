// Package busypoll reads a socket by polling it for a short window before parking, while the
// process has nothing else to do.
//
// A goroutine that reads an empty socket parks, and its thread sleeps in epoll; on a virtual
// machine the idle vCPU then halts, and the wake-up when the bytes arrive costs tens of
// microseconds, on every hop of every request (docs/BENCHMARKS.md, "Provider daemon"). The
// provider's two waits that are short when the daemon is idle — an upstream's answer head, a
// keep-alive client's next request — poll instead, for at most Window, and only while the daemon
// is otherwise idle: the CPU it spends is CPU nothing else wanted. Polling is implemented for
// Linux; elsewhere every read parks at once.
package busypoll

import (
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// Gate decides when reads poll. A nil *Gate, or one with a zero Window, never polls.
//
// Invariants: at most one read polls at a time (polling); a read polls only while no more than
// its Poller's allowance of requests are in progress (Begin/End), and stops polling as soon as
// more are.
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

// checkEvery is how many empty polls pass between looks at the clock (the window is coarse: a
// poll is a read system call, about a microsecond).
const checkEvery = 8

// maxSkip bounds how many waits a Poller leaves unpolled after polls that went unanswered.
const maxSkip = 64

// Poller is one kind of wait that polls through a gate while at most allowed requests are in
// progress (0: the daemon is idle; 1: the request waiting is the only one). It remembers how its
// last polls went: after n polls in a row whose window passed unanswered it leaves the next
// 2^n−1 waits (at most maxSkip) unpolled, so a wait that is always long (a GPU generating) costs
// about one window in maxSkip waits, not one each.
type Poller struct {
	g       *Gate
	allowed int32
	misses  atomic.Int32 // polls in a row whose window passed with nothing read
	skip    atomic.Int32 // waits left to park at once
}

// Poller returns a poller of g for waits with at most allowed requests in progress; nil when g
// never polls.
func (g *Gate) Poller(allowed int) *Poller {
	if g == nil || g.Window <= 0 {
		return nil
	}
	return &Poller{g: g, allowed: int32(allowed)}
}

// Read polls nc for bytes into p for up to the gate's window. It reports ok when it read n > 0
// bytes; otherwise nothing was consumed and the caller reads nc as usual (which parks, and reports
// an end of stream or an error the poll saw). nc must be a socket (syscall.Conn): anything else is
// not polled. A nil Poller never polls.
//
// While it polls, nc's deadlines are not looked at: a read past its deadline can return data up
// to Window late, never block longer than Window more.
func (pl *Poller) Read(nc net.Conn, p []byte) (n int, ok bool) {
	if pl == nil || !supported || len(p) == 0 {
		return 0, false
	}
	if pl.skip.Load() > 0 {
		pl.skip.Add(-1)
		return 0, false
	}
	g := pl.g
	if g.inProgress.Load() > pl.allowed {
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
	unanswered := false
	// The callback runs with the descriptor held open; returning true ends RawConn.Read at once.
	_ = rc.Read(func(fd uintptr) bool {
		for i := 1; ; i++ {
			m, err := readFD(fd, p)
			if m > 0 {
				n, ok = m, true
				return true
			}
			// 0 bytes: the end of the stream; another error: the caller's read reports it.
			if err != syscall.EAGAIN && err != syscall.EINTR {
				return true
			}
			if g.inProgress.Load() > pl.allowed {
				return true
			}
			if i%checkEvery == 0 && time.Now().After(end) {
				unanswered = true
				return true
			}
			yield()
		}
	})
	switch {
	case ok:
		pl.misses.Store(0)
	case unanswered:
		m := min(pl.misses.Load()+1, 7) // 2^7−1 > maxSkip: no need to count further
		pl.misses.Store(m)
		pl.skip.Store(min(1<<m-1, int32(maxSkip)))
	}
	return n, ok
}

// Listener wraps ln so that the accepted connections' reads poll, with one Poller for them all,
// while no request is in progress (a keep-alive client's next request, or a TLS handshake's next
// flight). Put it under the TLS listener: polling works on the socket.
func (g *Gate) Listener(ln net.Listener) net.Listener {
	pl := g.Poller(0)
	if pl == nil {
		return ln
	}
	return &listener{Listener: ln, pl: pl}
}

type listener struct {
	net.Listener
	pl *Poller
}

func (l *listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &conn{Conn: c, pl: l.pl}, nil
}

// conn polls its reads through pl.
type conn struct {
	net.Conn
	pl *Poller
}

func (c *conn) Read(p []byte) (int, error) {
	if n, ok := c.pl.Read(c.Conn, p); ok {
		return n, nil
	}
	return c.Conn.Read(p)
}
