package h1server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/cocoon-go/cocoon/internal/httpwire"
)

// maxDiscard is the most of a request body the handler left unread that is read and dropped to
// keep the connection; with more left the connection is closed instead (net/http's figure).
const maxDiscard = 256 << 10

// serveOne reads a request, runs the handler and completes the answer. It reports whether the
// connection goes on to the next request.
func (c *conn) serveOne() bool {
	s := c.s
	now := time.Now()
	c.r.limited, c.r.remain = true, s.maxHeaderBytes()+c.br.Buffered()
	if c.br.Buffered() == 0 && len(c.r.pending) == 0 {
		_ = c.nc.SetReadDeadline(now.Add(s.idleTimeout()))
		c.idle.Store(true)
		if s.closing.Load() {
			return false
		}
		if _, err := c.br.Peek(1); err != nil {
			return false
		}
		now = time.Now()
	}
	c.idle.Store(false)
	_ = c.nc.SetReadDeadline(now.Add(s.readHeaderTimeout()))
	req, herr := c.readRequest()
	c.r.limited = false
	if herr != nil {
		if herr.status != 0 {
			c.refuse(herr)
		}
		return false
	}
	if req.Body != http.NoBody {
		_ = c.nc.SetReadDeadline(time.Now().Add(s.readBodyTimeout()))
	}
	ctx, cancel := context.WithCancel(c.ctx)
	defer cancel()
	req = req.WithContext(ctx)
	w := &response{c: c, req: req, header: http.Header{}, cancel: cancel, keepAlive: !req.Close && !s.closing.Load()}
	watch := &watch{c: c, cancel: cancel}
	if b, ok := req.Body.(*body); ok {
		b.w, b.watch = w, watch // the watch starts when the body ends
	} else {
		watch.arm()
	}
	ok := c.runHandler(w, req)
	gone := watch.stop()
	if !ok || gone {
		return false
	}
	// The body the handler left unread is read and dropped, up to maxDiscard.
	if b, ok := req.Body.(*body); ok && !b.done() {
		if b.expectContinue && !b.sentContinue {
			// The client waits for a 100 to send it: it is never sent, so the connection closes.
			w.keepAlive = false
		} else if _, err := io.CopyN(io.Discard, b, maxDiscard+1); !errors.Is(err, io.EOF) {
			w.keepAlive = false
		}
	}
	if err := w.finish(); err != nil {
		return false
	}
	if s.AfterResponse != nil {
		s.AfterResponse()
	}
	return w.keepAlive && !s.closing.Load()
}

// runHandler calls the handler, recovering a panic (logged, except http.ErrAbortHandler); it
// reports whether the answer may still be completed.
func (c *conn) runHandler(w *response, req *http.Request) (ok bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				c.s.log().Error("http handler panicked", "method", req.Method, "uri", req.RequestURI, "panic", v)
			}
			ok = false
		}
	}()
	c.s.Handler.ServeHTTP(w, req)
	return true
}

// headerError is a request the server answers itself: status and the reason given in the body
// (status 0: the connection just closes).
type headerError struct {
	status int
	reason string
}

func badRequest(format string, args ...any) *headerError {
	return &headerError{status: http.StatusBadRequest, reason: fmt.Sprintf(format, args...)}
}

// refuse answers a request the server could not read and closes the connection.
func (c *conn) refuse(e *headerError) {
	_ = c.nc.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(c.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s",
		e.status, http.StatusText(e.status), len(e.reason), e.reason)
	_ = c.bw.Flush()
}

// readRequest reads a request line and headers and sets up the body.
func (c *conn) readRequest() (*http.Request, *headerError) {
	tp := textproto.NewReader(c.br)
	line, err := tp.ReadLine()
	if err != nil {
		return nil, readError(err)
	}
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" || uri == "" {
		return nil, badRequest("malformed request line %q", truncate(line))
	}
	if !httpwire.IsToken(method) {
		return nil, badRequest("invalid method %q", truncate(method))
	}
	major, minor, ok := http.ParseHTTPVersion(proto)
	if !ok {
		return nil, badRequest("malformed HTTP version %q", truncate(proto))
	}
	if major != 1 {
		return nil, &headerError{status: http.StatusHTTPVersionNotSupported, reason: "unsupported HTTP version " + truncate(proto)}
	}
	if method == http.MethodConnect {
		return nil, &headerError{status: http.StatusMethodNotAllowed, reason: "CONNECT is not served"}
	}
	var u *url.URL
	if uri == "*" && method == http.MethodOptions {
		u = &url.URL{Path: "*"}
	} else if u, err = url.ParseRequestURI(uri); err != nil {
		return nil, badRequest("malformed request target %q", truncate(uri))
	}
	mh, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, readError(err)
	}
	req := &http.Request{Method: method, URL: u, Proto: proto, ProtoMajor: major, ProtoMinor: minor,
		Header: http.Header(mh), RequestURI: uri, RemoteAddr: c.remoteAddr, TLS: c.tls}
	hosts := req.Header["Host"]
	switch {
	case len(hosts) > 1:
		return nil, badRequest("more than one Host header")
	case len(hosts) == 0 && minor >= 1:
		return nil, badRequest("missing required Host header")
	case len(hosts) == 1:
		req.Host = hosts[0]
	}
	if req.Host == "" {
		req.Host = u.Host
	}
	delete(req.Header, "Host")
	req.Close = wantsClose(req)
	if herr := c.setBody(req); herr != nil {
		return nil, herr
	}
	return req, nil
}

// readError is the answer to a failed read of a request's line or headers.
func readError(err error) *headerError {
	var ne net.Error
	switch {
	case errors.Is(err, errHeaderTooLarge):
		return &headerError{status: http.StatusRequestHeaderFieldsTooLarge, reason: "request headers too large"}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed), errors.As(err, &ne):
		return &headerError{} // the client left or timed out: no answer
	}
	return badRequest("%v", err)
}

// setBody reads the framing headers and gives req its body.
func (c *conn) setBody(req *http.Request) *headerError {
	te := req.Header["Transfer-Encoding"]
	cls := req.Header["Content-Length"]
	if len(te) > 0 {
		if req.ProtoMinor == 0 {
			return badRequest("Transfer-Encoding in an HTTP/1.0 request")
		}
		if len(te) != 1 || !strings.EqualFold(strings.TrimSpace(te[0]), "chunked") {
			return &headerError{status: http.StatusNotImplemented, reason: fmt.Sprintf("unsupported Transfer-Encoding %q", strings.Join(te, ", "))}
		}
		if len(cls) > 0 {
			// Both framings at once: how proxies in front would read it is ambiguous (smuggling).
			return badRequest("both Transfer-Encoding and Content-Length")
		}
		req.ContentLength = -1
		req.TransferEncoding = []string{"chunked"}
		delete(req.Header, "Transfer-Encoding")
		req.Body = &body{c: c, r: httputil.NewChunkedReader(c.br), remain: -1, expectContinue: expectsContinue(req)}
		return c.checkExpect(req)
	}
	if len(cls) > 0 {
		first := strings.TrimSpace(cls[0])
		for _, v := range cls[1:] {
			if strings.TrimSpace(v) != first {
				return badRequest("conflicting Content-Length headers %q", strings.Join(cls, ", "))
			}
		}
		n, err := strconv.ParseInt(first, 10, 64)
		if err != nil || n < 0 || first[0] == '+' {
			return badRequest("malformed Content-Length %q", truncate(first))
		}
		req.ContentLength = n
		if n > 0 {
			req.Body = &body{c: c, r: c.br, remain: n, expectContinue: expectsContinue(req)}
			return c.checkExpect(req)
		}
	}
	req.Body = http.NoBody
	return c.checkExpect(req)
}

func expectsContinue(req *http.Request) bool {
	return strings.EqualFold(req.Header.Get("Expect"), "100-continue") && req.ProtoMinor >= 1
}

func (c *conn) checkExpect(req *http.Request) *headerError {
	if e := req.Header.Get("Expect"); e != "" && !strings.EqualFold(e, "100-continue") {
		return &headerError{status: http.StatusExpectationFailed, reason: "unsupported Expect " + truncate(e)}
	}
	return nil
}

// wantsClose reports whether the request asks for the connection to close after its answer
// (HTTP/1.0 always, here: its keep-alive extension is not served).
func wantsClose(req *http.Request) bool {
	if req.ProtoMinor == 0 {
		return true
	}
	for _, v := range req.Header["Connection"] {
		if httpwire.ListHasToken(v, "close") {
			return true
		}
	}
	return false
}

func truncate(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// body is a request body: remain bytes of the connection (Content-Length), or chunks (remain -1).
// Its first read sends 100 Continue when the client asked for it.
type body struct {
	c              *conn
	w              *response
	r              io.Reader
	remain         int64
	eof            bool
	expectContinue bool
	sentContinue   bool
	err            error
	watch          *watch // armed when the body ends
}

func (b *body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.err != nil {
		return 0, b.err
	}
	if b.expectContinue && !b.sentContinue {
		b.sentContinue = true
		if b.w == nil || !b.w.committed {
			if _, err := b.c.bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n"); err == nil {
				_ = b.c.bw.Flush()
			}
		}
	}
	if b.remain >= 0 && int64(len(p)) > b.remain {
		p = p[:b.remain]
	}
	n, err := b.r.Read(p)
	if b.remain >= 0 {
		b.remain -= int64(n)
		if b.remain == 0 {
			b.eof = true
			b.watch.arm()
			return n, io.EOF
		}
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
	} else if errors.Is(err, io.EOF) {
		// The last chunk is followed by trailer fields (dropped) and a blank line, which must be
		// read too, or the next request on the connection would start with them.
		if terr := httpwire.SkipTrailer(b.c.br, maxTrailer); terr != nil {
			terr = fmt.Errorf("h1server: reading a chunked body's trailer: %w", terr)
			b.err = terr
			return n, terr
		}
		b.eof = true
		b.watch.arm()
	}
	if err != nil && !b.eof {
		b.err = err
	}
	return n, err
}

// maxTrailer bounds the trailer fields after a chunked body.
const maxTrailer = 64 << 10

// done reports whether the body was read to its end.
func (b *body) done() bool { return b.eof }

func (b *body) Close() error { return nil }
