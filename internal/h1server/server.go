// Package h1server serves an http.Handler over HTTP/1.1 connections with less machinery than
// net/http's server: each request is read, handled and answered in its connection's goroutine,
// with no goroutine and no read in the background while the handler runs (net/http starts one for
// every request to notice a client leaving). On the provider's paid path, where a request is a few
// hundred microseconds end to end, that machinery was most of the time the daemon added
// (docs/DECISIONS.md, "The provider's API is served by its own HTTP/1.1 server").
//
// What it keeps from net/http: keep-alive and pipelined requests, Content-Length and chunked
// request bodies (both at once refused), Expect: 100-continue, header size and read timeouts, an
// idle timeout, answers framed with Content-Length when the handler ends before flushing and
// chunked once it flushes (http.Flusher and http.ResponseController work), Date and
// Content-Type sniffing, HEAD, panics recovered, graceful Shutdown. A client that leaves while a
// handler runs is noticed by a read started only once the handler has run for WatchAfter (the
// request's context is then cancelled), or by the first failed write.
//
// Not served: HTTP/2, connection upgrades and Hijack, trailers, CONNECT.
package h1server

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var (
	errTooManyFiles = syscall.EMFILE
	errDeadline     = os.ErrDeadlineExceeded
)

// Server serves Handler on the listeners given to Serve. The zero values of its fields are the
// defaults written beside them.
type Server struct {
	Handler http.Handler
	// ReadHeaderTimeout bounds reading a request's line and headers once its first byte came (and
	// a TLS handshake); 10 seconds when zero.
	ReadHeaderTimeout time.Duration
	// ReadBodyTimeout bounds reading a request body in the handler; 1 minute when zero.
	ReadBodyTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a kept-alive connection; 2 minutes when zero.
	IdleTimeout time.Duration
	// MaxHeaderBytes bounds a request's line and headers; 64 KiB when zero.
	MaxHeaderBytes int
	// WatchAfter is how long a handler runs before the server starts reading its connection to
	// notice the client leaving; 1 ms when zero (a paid answer that takes longer is a real
	// generation, whose client must not be billed for what it left before receiving; a faster one
	// is not worth the goroutine and the read).
	WatchAfter time.Duration
	// AfterResponse, when set, runs on the connection's goroutine after an answer was sent in full
	// and before the connection waits for its next request: work that must not delay an answer
	// but had better be done before the next one (the provider prepares its receipts' nonces).
	AfterResponse func()
	// Log receives handler panics and connection errors (at debug level); slog.Default when nil.
	Log *slog.Logger

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	connsDone chan struct{} // closed when conns empties while closing
}

func (s *Server) readHeaderTimeout() time.Duration {
	return orDefault(s.ReadHeaderTimeout, 10*time.Second)
}

func (s *Server) readBodyTimeout() time.Duration { return orDefault(s.ReadBodyTimeout, time.Minute) }

func (s *Server) idleTimeout() time.Duration { return orDefault(s.IdleTimeout, 2*time.Minute) }

func (s *Server) watchAfter() time.Duration { return orDefault(s.WatchAfter, time.Millisecond) }

func (s *Server) maxHeaderBytes() int {
	if s.MaxHeaderBytes > 0 {
		return s.MaxHeaderBytes
	}
	return 64 << 10
}

func (s *Server) log() *slog.Logger {
	if s.Log != nil {
		return s.Log
	}
	return slog.Default()
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// Serve accepts connections on ln and serves each in its own goroutine until ln fails or the
// server is shut down; it then returns http.ErrServerClosed. A *tls.Conn from ln is handshaken
// first and its state given to handlers as Request.TLS.
func (s *Server) Serve(ln net.Listener) error {
	if !s.track(ln) {
		_ = ln.Close()
		return http.ErrServerClosed
	}
	defer s.untrack(ln)
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, errTooManyFiles) {
				// Out of descriptors or a timeout: wait a little and go on, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.log().Warn("accept failed; retrying", "err", err, "in", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := newConn(s, nc)
		if !s.addConn(c) {
			_ = nc.Close()
			return http.ErrServerClosed
		}
		go c.serve()
	}
}

func (s *Server) track(ln net.Listener) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.listeners == nil {
		s.listeners = map[net.Listener]struct{}{}
	}
	s.listeners[ln] = struct{}{}
	return true
}

func (s *Server) untrack(ln net.Listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.listeners, ln)
}

func (s *Server) addConn(c *conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing.Load() {
		return false
	}
	if s.conns == nil {
		s.conns = map[*conn]struct{}{}
	}
	s.conns[c] = struct{}{}
	return true
}

func (s *Server) removeConn(c *conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
	if len(s.conns) == 0 && s.connsDone != nil {
		close(s.connsDone)
		s.connsDone = nil
	}
}

// Shutdown stops accepting, closes the connections waiting for a request and lets the others
// finish the request they are serving (their answer says Connection: close). It returns when
// every connection is closed, or with ctx's error when ctx ends first (the rest stay open: call
// Close).
func (s *Server) Shutdown(ctx context.Context) error {
	done := s.stop()
	for {
		s.closeIdle()
		select {
		case <-done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(10 * time.Millisecond):
			// A connection that was between requests may have become idle since.
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	return nil
}

// stop closes the listeners and returns a channel closed once no connection is left.
func (s *Server) stop() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
	done := make(chan struct{})
	if len(s.conns) == 0 {
		close(done)
	} else if s.connsDone == nil {
		s.connsDone = done
	} else {
		done = s.connsDone
	}
	return done
}

func (s *Server) closeIdle() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.idle.Load() {
			_ = c.nc.Close()
		}
	}
}

// conn is one client connection and the buffers its requests are read from and answered into.
type conn struct {
	s  *Server
	nc net.Conn
	r  connReader
	br *bufio.Reader
	bw *bufio.Writer
	// idle: waiting for a request's first byte (Shutdown may close it then).
	idle       atomic.Bool
	tls        *tls.ConnectionState
	remoteAddr string
	ctx        context.Context
}

func newConn(s *Server, nc net.Conn) *conn {
	c := &conn{s: s, nc: nc, remoteAddr: nc.RemoteAddr().String()}
	c.r.nc = nc
	c.br = bufio.NewReaderSize(&c.r, 4<<10)
	c.bw = bufio.NewWriterSize(nc, 4<<10)
	c.idle.Store(true)
	return c
}

// connReader reads the connection for the request reader, within a budget while headers are read
// (remain), and first hands out a byte the client-leaving watch read ahead (pending).
type connReader struct {
	nc      net.Conn
	limited bool
	remain  int
	pending []byte
}

var errHeaderTooLarge = errors.New("request headers too large")

func (r *connReader) Read(p []byte) (int, error) {
	if r.limited {
		if r.remain <= 0 {
			return 0, errHeaderTooLarge
		}
		if len(p) > r.remain {
			p = p[:r.remain]
		}
	}
	var n int
	var err error
	if len(r.pending) > 0 {
		n = copy(p, r.pending)
		r.pending = r.pending[n:]
	} else {
		n, err = r.nc.Read(p)
	}
	if r.limited {
		r.remain -= n
	}
	return n, err
}

func (c *conn) serve() {
	defer func() {
		_ = c.nc.Close()
		c.s.removeConn(c)
	}()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c.ctx = ctx
	if tc, ok := c.nc.(*tls.Conn); ok {
		_ = c.nc.SetDeadline(time.Now().Add(c.s.readHeaderTimeout()))
		if err := tc.HandshakeContext(ctx); err != nil {
			c.s.log().Debug("TLS handshake failed", "remote", c.remoteAddr, "err", err)
			return
		}
		_ = c.nc.SetWriteDeadline(time.Time{})
		st := tc.ConnectionState()
		c.tls = &st
	}
	for {
		if !c.serveOne() {
			return
		}
	}
}
