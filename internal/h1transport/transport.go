// Package h1transport is an http.RoundTripper for plain http:// over HTTP/1.1 that does all its I/O
// in the caller's goroutine: it writes the request and reads the response on a pooled keep-alive
// connection, with no goroutine per connection. It is made for one hop, the provider's calls to the
// inference server next to it (vLLM, SGLang) on loopback, where net/http's Transport spends more on
// handing each request between its per-connection read and write goroutines than the hop itself
// costs (docs/DECISIONS.md, "The upstream hop uses a hand-rolled HTTP/1.1 transport").
//
// What it does:
//   - Requests: the request line and headers are written by hand (Host, Content-Length when the
//     length is known, Transfer-Encoding: chunked when it is not, the request's own headers, and
//     User-Agent only when the request sets one), with a small body in the same write.
//   - Responses are parsed by http.ReadResponse. A body is delimited by Content-Length, by chunked
//     encoding (read as it arrives, so an SSE stream is readable event by event) or by the server
//     closing the connection (the connection is then not reused).
//   - A connection goes back to the pool when its response body has been read to the end and the
//     response allows keep-alive (HTTP/1.1, no "Connection: close"). Closing a body before its end
//     closes the connection, unless what is left may be small: a Content-Length remainder of at
//     most 4 KiB that has already arrived is skipped; otherwise the rest (the last chunk of an SSE
//     stream read up to "data: [DONE]", typically) is read by a short-lived goroutine for at most
//     100 ms and 4 KiB, and the connection pooled if the body ended within them.
//   - The request's context aborts a blocked write, the wait for headers, or a body read: the
//     connection's deadline is moved into the past, the connection is closed, and the error wraps
//     ctx.Err().
//   - Stale connections: a server may close an idle keep-alive connection just as it is reused (see
//     Transport.IdleTimeout). When a reused connection fails with EOF, ECONNRESET or EPIPE before a
//     single byte of the response arrived, the request is sent once more on a new connection, if its
//     body can be sent again (no body, or Request.GetBody). A failure on a new connection is never
//     retried.
//
// Not supported: https (RoundTrip refuses any scheme but http), HTTP/2, proxies (the environment's
// proxy settings are ignored), user info in the URL, request trailers (response trailers are read
// and dropped), transparent gzip (no Accept-Encoding is added), and informational responses other
// than "100 Continue", which is skipped.
package h1transport

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/cocoon-go/cocoon/internal/busypoll"
)

// Defaults of the Transport's zero-valued fields.
const (
	DefaultDialTimeout    = 10 * time.Second
	DefaultIdleTimeout    = 4 * time.Second
	DefaultMaxIdlePerHost = 256
)

const (
	// maxHeaderBytes bounds a response's status line and headers.
	maxHeaderBytes = 1 << 20
	// maxDrain is the largest Content-Length remainder Body.Close consumes to keep the connection.
	maxDrain = 4 << 10
	// readBufSize is each connection's read buffer; writeBufSize the pooled write buffer, the
	// largest request (headers and body) sent in one write.
	readBufSize  = 4 << 10
	writeBufSize = 32 << 10
)

var (
	// ErrUnsupportedScheme is returned for a URL whose scheme is not http.
	ErrUnsupportedScheme = errors.New("h1transport: unsupported URL scheme")
	// ErrMalformedResponse is returned when the server's answer is not HTTP/1.x.
	ErrMalformedResponse = errors.New("h1transport: malformed response")
	// ErrMalformedRequest is returned for a request that cannot be written (a bad method, header
	// or host, or a body shorter or longer than its ContentLength).
	ErrMalformedRequest = errors.New("h1transport: malformed request")
	// ErrResponseHeaderTimeout is returned when no response headers arrived within
	// Transport.ResponseHeaderTimeout. It reports Timeout() true, like a net.Error.
	ErrResponseHeaderTimeout error = timeoutError{}
)

type timeoutError struct{}

func (timeoutError) Error() string   { return "h1transport: timeout awaiting response headers" }
func (timeoutError) Timeout() bool   { return true }
func (timeoutError) Temporary() bool { return true }

// Transport is an HTTP/1.1 http.RoundTripper for http:// URLs. The zero value is ready to use; a
// Transport is safe for concurrent use and must not be copied after first use.
type Transport struct {
	// DialTimeout bounds establishing a TCP connection; 0 means 10 seconds.
	DialTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers once the request is written;
	// 0 means no bound (the request's context still applies).
	ResponseHeaderTimeout time.Duration
	// IdleTimeout is how long a connection may sit idle in the pool before it is closed instead of
	// reused; 0 means 4 seconds. Keep it below the server's own keep-alive timeout: uvicorn, the
	// server of vLLM and SGLang, closes connections idle for 5 seconds.
	IdleTimeout time.Duration
	// MaxIdlePerHost bounds the idle connections kept per host:port; 0 means 256. When the pool is
	// full the oldest idle connection is closed.
	MaxIdlePerHost int
	// Poll, when set, polls for a response's first bytes (internal/busypoll); nil parks at once.
	Poll *busypoll.Poller

	dialer net.Dialer // zero value; Timeout is passed per dial

	mu sync.Mutex
	// idle holds each host:port's idle connections, oldest first: connections are reused from the
	// end (LIFO), so a stale one is always below a fresher one.
	// REQUIRES: mu held.
	idle map[string][]*conn
	// janitor closes connections left idle past IdleTimeout when no request comes to do it; it is
	// armed while some connection is idle. REQUIRES: mu held.
	janitor      *time.Timer
	janitorArmed bool

	wbufs sync.Pool // *bufio.Writer of writeBufSize, reset to the connection being written
}

var _ http.RoundTripper = (*Transport)(nil)

func (t *Transport) dialTimeout() time.Duration {
	if t.DialTimeout > 0 {
		return t.DialTimeout
	}
	return DefaultDialTimeout
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return DefaultIdleTimeout
}

func (t *Transport) maxIdlePerHost() int {
	if t.MaxIdlePerHost > 0 {
		return t.MaxIdlePerHost
	}
	return DefaultMaxIdlePerHost
}

// RoundTrip sends req and returns the response, whose body must be read to its end or closed.
// Like every RoundTripper it closes req.Body, also on error. Errors caused by the request's
// context wrap ctx.Err().
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL == nil {
		closeBody(req.Body)
		return nil, fmt.Errorf("%w: nil URL", ErrMalformedRequest)
	}
	if req.URL.Scheme != "http" {
		closeBody(req.Body)
		return nil, fmt.Errorf("%w %q in %q: only http:// is supported (use net/http's Transport for https)", ErrUnsupportedScheme, req.URL.Scheme, req.URL.Redacted())
	}
	addr, err := hostPort(req.URL.Host)
	if err != nil {
		closeBody(req.Body)
		return nil, err
	}
	ctx := req.Context()
	body := req.Body
	if body == http.NoBody {
		body = nil
	}
	for retried := false; ; retried = true {
		if err := ctx.Err(); err != nil {
			closeBody(body)
			return nil, fmt.Errorf("h1transport: request to %s: %w", addr, err)
		}
		c, err := t.getConn(ctx, addr, retried)
		if err != nil {
			closeBody(body)
			return nil, err
		}
		resp, retry, err := c.roundTrip(ctx, req, body)
		if err == nil {
			return resp, nil
		}
		// c is closed, and body too (the write closes it).
		if !retry || retried {
			return nil, err
		}
		if body != nil {
			if req.GetBody == nil {
				return nil, err
			}
			if body, err = req.GetBody(); err != nil {
				return nil, fmt.Errorf("h1transport: failed to get the body again to retry on a new connection to %s: %w", addr, err)
			}
			if body == http.NoBody {
				body = nil
			}
		}
	}
}

// CloseIdleConnections closes the pooled connections. Connections in use are not affected.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.nc.Close()
		}
	}
}

// getConn returns the most recently used idle connection to addr that has not idled past
// IdleTimeout, or dials a new one (always when fresh is set).
func (t *Transport) getConn(ctx context.Context, addr string, fresh bool) (*conn, error) {
	if !fresh {
		if c := t.popIdle(addr); c != nil {
			return c, nil
		}
	}
	d := t.dialer
	d.Timeout = t.dialTimeout()
	nc, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			return nil, fmt.Errorf("h1transport: failed to connect to %s: %w", addr, cerr)
		}
		return nil, fmt.Errorf("h1transport: failed to connect to %s: %w", addr, err)
	}
	c := &conn{t: t, addr: addr, nc: nc}
	c.br = bufio.NewReaderSize(connReader{c}, readBufSize)
	return c, nil
}

func (t *Transport) popIdle(addr string) *conn {
	var stale []*conn
	t.mu.Lock()
	cs := t.idle[addr]
	var c *conn
	if n := len(cs); n > 0 {
		c, cs[n-1] = cs[n-1], nil
		cs = cs[:n-1]
		if time.Since(c.idleSince) > t.idleTimeout() {
			// Everything below it idled longer still.
			stale = append(cs, c)
			cs, c = nil, nil
		}
		t.idle[addr] = cs
	}
	t.mu.Unlock()
	for _, s := range stale {
		s.nc.Close()
	}
	if c != nil {
		c.reused = true
	}
	return c
}

// putIdle pools c, closing the oldest idle connection to its host if the pool is full.
func (t *Transport) putIdle(c *conn) {
	now := time.Now()
	var evicted *conn
	t.mu.Lock()
	c.idleSince = now
	if t.idle == nil {
		t.idle = make(map[string][]*conn)
	}
	cs := t.idle[c.addr]
	if len(cs) >= t.maxIdlePerHost() {
		evicted = cs[0]
		copy(cs, cs[1:])
		cs = cs[:len(cs)-1]
	}
	t.idle[c.addr] = append(cs, c)
	if !t.janitorArmed {
		t.janitorArmed = true
		if t.janitor == nil {
			t.janitor = time.AfterFunc(t.idleTimeout(), t.closeStale)
		} else {
			t.janitor.Reset(t.idleTimeout())
		}
	}
	t.mu.Unlock()
	if evicted != nil {
		evicted.nc.Close()
	}
}

// closeStale closes the connections idle past IdleTimeout, and comes back while any stay idle.
func (t *Transport) closeStale() {
	var stale []*conn
	now := time.Now()
	t.mu.Lock()
	for addr, cs := range t.idle {
		i := 0
		for i < len(cs) && now.Sub(cs[i].idleSince) > t.idleTimeout() {
			i++
		}
		stale = append(stale, cs[:i]...)
		if i == len(cs) {
			delete(t.idle, addr)
			continue
		}
		clear(cs[:i])
		t.idle[addr] = cs[i:]
	}
	t.janitorArmed = len(t.idle) > 0
	if t.janitorArmed {
		t.janitor.Reset(t.idleTimeout() / 2)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.nc.Close()
	}
}

// conn is one connection. It belongs to one request at a time: the one being written or whose
// body is being read; while pooled, to nobody.
type conn struct {
	t      *Transport
	addr   string
	nc     net.Conn
	br     *bufio.Reader // reads through connReader
	reused bool          // taken from the pool, not dialed for this request

	idleSince time.Time // REQUIRES: t.mu held, while pooled

	// Per request:
	canceled atomic.Bool // the request's context ended; the deadline is in the past
	nread    int64       // bytes read from nc since the request was written
	limit    int64       // while > 0, reading past it fails (the header bound)
	rerr     error       // the last error from nc.Read
	// writeBroke is set when writing the request failed on the connection.
	writeBroke bool
	probe      [1]byte // checks that a request body ends at its ContentLength
}

// connReader counts what is read from the connection and keeps the last error, so a failed
// ReadResponse can be told apart: nothing received, an I/O failure, or a malformed response.
type connReader struct{ c *conn }

var errHeaderTooLarge = errors.New("response headers exceed 1 MiB")

func (r connReader) Read(p []byte) (int, error) {
	c := r.c
	if c.limit > 0 {
		left := c.limit - c.nread
		if left <= 0 {
			c.rerr = errHeaderTooLarge
			return 0, errHeaderTooLarge
		}
		if int64(len(p)) > left {
			p = p[:left]
		}
	}
	if c.nread == 0 {
		// The wait for the answer's head: polled when the Poller allows it.
		if n, ok := c.t.Poll.Read(c.nc, p); ok {
			c.nread += int64(n)
			return n, nil
		}
	}
	n, err := c.nc.Read(p)
	c.nread += int64(n)
	if err != nil {
		c.rerr = err
	}
	return n, err
}

// Write makes conn the bufio.Writer's destination without exposing nc's ReadFrom, so a body
// larger than the buffer goes through the buffer rather than a fresh copy buffer.
func (c *conn) Write(p []byte) (int, error) { return c.nc.Write(p) }

// aLongTimeAgo is a deadline in the past: it makes blocked and later I/O fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// abort runs when the request's context ends.
func (c *conn) abort() {
	c.canceled.Store(true)
	c.nc.SetDeadline(aLongTimeAgo)
}

// setReadDeadline sets a read deadline without undoing a concurrent abort.
func (c *conn) setReadDeadline(d time.Time) {
	c.nc.SetReadDeadline(d)
	if c.canceled.Load() {
		c.nc.SetDeadline(aLongTimeAgo)
	}
}

// roundTrip writes req with body and reads the response headers. On error c is closed, and retry
// tells whether the request may be sent again: c was reused and failed the way a connection the
// server closed while idle fails, before any byte of the response.
func (c *conn) roundTrip(ctx context.Context, req *http.Request, reqBody io.ReadCloser) (resp *http.Response, retry bool, err error) {
	c.canceled.Store(false)
	c.nread, c.rerr = 0, nil
	var stop func() bool
	if ctx.Done() != nil {
		stop = context.AfterFunc(ctx, c.abort)
	}
	fail := func(op string, err error) (*http.Response, bool, error) {
		if stop != nil {
			stop()
		}
		c.nc.Close()
		if c.canceled.Load() || ctx.Err() != nil {
			if cerr := ctx.Err(); cerr != nil {
				return nil, false, fmt.Errorf("h1transport: %s %s: %w", op, c.addr, cerr)
			}
		}
		retry := c.reused && c.nread == 0 && isStale(err)
		return nil, retry, err
	}

	closeIt, connErr, err := c.writeRequest(req, reqBody)
	if err != nil {
		resp, retry, err := fail("writing request to", err)
		return resp, retry && connErr, err
	}

	ht := c.t.ResponseHeaderTimeout
	if ht > 0 {
		c.setReadDeadline(time.Now().Add(ht))
	}
	c.limit = maxHeaderBytes
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			switch {
			case c.rerr == nil || !errors.Is(err, c.rerr) && !errors.Is(err, io.ErrUnexpectedEOF):
				// Not the connection failing but what came over it.
				err = fmt.Errorf("%w from %s: %v", ErrMalformedResponse, c.addr, err)
			case ht > 0 && !c.canceled.Load() && errors.Is(c.rerr, os.ErrDeadlineExceeded):
				err = fmt.Errorf("%w from %s after %v", ErrResponseHeaderTimeout, c.addr, ht)
			case c.rerr == errHeaderTooLarge:
				err = fmt.Errorf("%w from %s: %v", ErrMalformedResponse, c.addr, c.rerr)
			case c.nread == 0 && c.rerr == io.EOF:
				err = fmt.Errorf("h1transport: %s closed the connection without answering: %w", c.addr, c.rerr)
			default:
				err = fmt.Errorf("h1transport: failed to read response from %s: %w", c.addr, c.rerr)
			}
			return fail("awaiting response from", err)
		}
		if resp.StatusCode == http.StatusContinue {
			continue
		}
		if resp.StatusCode < 200 {
			return fail("reading response from", fmt.Errorf("%w from %s: unsupported informational response %q", ErrMalformedResponse, c.addr, resp.Status))
		}
		break
	}
	c.limit = 0
	if ht > 0 {
		c.setReadDeadline(time.Time{})
	}

	b := &body{c: c, ctx: ctx, stop: stop}
	b.keep = !closeIt && !resp.Close && resp.ProtoAtLeast(1, 1)
	switch {
	case req.Method == http.MethodHead || resp.StatusCode == http.StatusNoContent || resp.StatusCode == http.StatusNotModified:
		b.kind = bodyNone
	case len(resp.TransferEncoding) > 0 && resp.TransferEncoding[0] == "chunked":
		b.kind = bodyChunked
		b.chunks = httputil.NewChunkedReader(c.br)
	case resp.ContentLength >= 0:
		b.kind = bodyLength
		b.left = resp.ContentLength
	default:
		b.kind = bodyUntilClose
		b.keep = false
	}
	if b.kind == bodyNone || b.kind == bodyLength && b.left == 0 {
		b.mu.Lock()
		b.finish(true)
		b.mu.Unlock()
		resp.Body = http.NoBody
		return resp, false, nil
	}
	resp.Body = b
	return resp, false, nil
}

// isStale reports whether err is how a connection the server has closed fails.
func isStale(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

func closeBody(b io.ReadCloser) {
	if b != nil {
		b.Close()
	}
}

// hostPort is the dial address of a URL host: the port defaults to 80.
func hostPort(host string) (string, error) {
	if host == "" {
		return "", fmt.Errorf("%w: no host in the URL", ErrMalformedRequest)
	}
	h, p, err := net.SplitHostPort(host)
	switch {
	case err == nil && p != "":
		return host, nil // the usual case, with no allocation
	case err != nil:
		// No port (or an IPv6 literal in brackets without one).
		h = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	}
	return net.JoinHostPort(h, "80"), nil
}
