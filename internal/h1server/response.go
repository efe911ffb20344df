package h1server

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/internal/httpwire"
)

// holdLimit is how much of an answer is held before its headers are sent: an answer that ends
// within it goes out with a Content-Length in one write; a longer one, or one flushed, is chunked.
const holdLimit = 32 << 10

// response is the http.ResponseWriter of one request (also http.Flusher and, for
// http.ResponseController, FlushError).
type response struct {
	c         *conn
	req       *http.Request
	header    http.Header
	cancel    context.CancelFunc
	keepAlive bool

	status      int
	wroteHeader bool
	committed   bool // the status line and headers are in the connection's buffer
	chunked     bool
	declared    int64 // the handler's Content-Length, -1 when it set none
	written     int64
	held        []byte
	err         error // the first write error: the client is gone
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if code < 100 || code > 999 {
		panic("h1server: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if w.wroteHeader {
		w.c.s.log().Debug("superfluous WriteHeader call", "uri", w.req.RequestURI, "code", code)
		return
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational answer (103 Early Hints) goes out at once; the final one follows.
		if w.err == nil {
			w.writeHead(code)
			w.c.bw.WriteString("\r\n")
			w.flushConn()
		}
		return
	}
	w.status, w.wroteHeader, w.declared = code, true, -1
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.declared = n
		} else {
			w.c.s.log().Debug("ignoring an invalid Content-Length set by the handler", "value", cl)
			w.header.Del("Content-Length")
		}
	}
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return 0, w.err
	}
	if !bodyAllowed(w.status) {
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if w.req.Method == http.MethodHead {
		return len(p), nil
	}
	if !w.committed {
		if len(w.held)+len(p) <= holdLimit {
			w.held = append(w.held, p...)
			return len(p), nil
		}
		w.commit(false)
	}
	w.writeBody(p)
	if w.err != nil {
		return 0, w.err
	}
	return len(p), nil
}

func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends the headers and what was written so far (http.ResponseController.Flush).
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if !w.committed {
		w.commit(false)
	}
	w.flushConn()
	return w.err
}

// finish completes the answer after the handler returned.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.err != nil {
		return w.err
	}
	if !w.committed {
		w.commit(true)
	} else if w.chunked {
		w.c.bw.WriteString("0\r\n\r\n")
	}
	if w.short() {
		// Shorter than it said: only closing the connection tells the client.
		w.keepAlive = false
	}
	w.flushConn()
	return w.err
}

// commit writes the status line and headers, framing the body: with a Content-Length when the
// answer is complete (final) or the handler declared one, else chunked (HTTP/1.1) or ended by
// closing the connection (HTTP/1.0).
func (w *response) commit(final bool) {
	w.committed = true
	h := w.header
	if _, ok := h["Date"]; !ok {
		h["Date"] = []string{httpDate()}
	}
	allowed := bodyAllowed(w.status)
	if _, ok := h["Content-Type"]; !ok && allowed && len(w.held) > 0 {
		h["Content-Type"] = []string{http.DetectContentType(w.held)}
	}
	if strings.EqualFold(h.Get("Connection"), "close") || final && w.short() {
		w.keepAlive = false
	}
	switch {
	case !allowed || w.declared >= 0:
	case final:
		h["Content-Length"] = []string{strconv.FormatInt(w.written, 10)}
	case w.req.ProtoMinor >= 1:
		w.chunked = true
		h["Transfer-Encoding"] = []string{"chunked"}
	default:
		w.keepAlive = false
	}
	if w.keepAlive && w.c.s.closing.Load() {
		w.keepAlive = false
	}
	if !w.keepAlive {
		h["Connection"] = []string{"close"}
	}
	w.writeHead(w.status)
	w.c.bw.WriteString("\r\n")
	held := w.held
	w.held = nil
	if len(held) > 0 {
		w.writeBody(held)
	}
}

// writeHead writes the status line and the header fields (without the blank line).
func (w *response) writeHead(code int) {
	bw := w.c.bw
	bw.WriteString("HTTP/1.1 ")
	var num [3]byte
	bw.Write(strconv.AppendInt(num[:0], int64(code), 10))
	bw.WriteByte(' ')
	bw.WriteString(http.StatusText(code))
	bw.WriteString("\r\n")
	for k, vs := range w.header {
		if !httpwire.IsToken(k) { // as net/http, which drops such fields
			continue
		}
		for _, v := range vs {
			bw.WriteString(k)
			bw.WriteString(": ")
			if strings.ContainsAny(v, "\r\n") {
				// A value must not end the header early (response splitting).
				v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
			}
			bw.WriteString(strings.TrimSpace(v))
			bw.WriteString("\r\n")
		}
	}
}

func (w *response) writeBody(p []byte) {
	bw := w.c.bw
	if w.chunked {
		var size [16]byte
		bw.Write(strconv.AppendInt(size[:0], int64(len(p)), 16))
		bw.WriteString("\r\n")
	}
	_, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil { // bufio.Writer's errors stay: this one covers the writes above too
		w.fail(err)
	}
}

func (w *response) flushConn() {
	if err := w.c.bw.Flush(); err != nil {
		w.fail(err)
	}
}

// fail records that the client cannot be written to: the request's context ends and the
// connection closes after the handler.
func (w *response) fail(err error) {
	if w.err == nil {
		w.err = err
		w.keepAlive = false
		w.cancel()
	}
}

// short reports whether the body is shorter than the Content-Length the handler declared.
func (w *response) short() bool {
	return w.declared >= 0 && w.written != w.declared && w.req.Method != http.MethodHead && bodyAllowed(w.status)
}

func bodyAllowed(status int) bool {
	return status >= 200 && status != http.StatusNoContent && status != http.StatusNotModified
}

var dateCache struct {
	sync.Mutex
	sec int64
	s   string
}

// httpDate is the Date header's value, formatted once a second.
func httpDate() string {
	now := time.Now()
	dateCache.Lock()
	defer dateCache.Unlock()
	if sec := now.Unix(); sec != dateCache.sec {
		dateCache.sec, dateCache.s = sec, now.UTC().Format(http.TimeFormat)
	}
	return dateCache.s
}

// watch notices a client that leaves while the handler runs: once the request's body is read and
// the handler has run for WatchAfter, it reads the connection; an end of stream or an error cancels
// the request's context. A byte that arrives instead (the client's next request) is kept for it.
type watch struct {
	c      *conn
	cancel context.CancelFunc
	timer  *time.Timer // set by arm; arm and stop run on the connection's goroutine

	// mu orders run (the timer's goroutine) with stop. stopped is written only by stop, so arm
	// reads it without mu.
	mu      sync.Mutex
	started bool
	stopped bool
	gone    bool
	done    chan struct{}
}

// arm starts the watch's clock; the body calls it at its end, serveOne for a request without one.
func (wt *watch) arm() {
	if wt == nil || wt.timer != nil || wt.stopped {
		return // stopped: the server reads the rest of the body after the handler
	}
	c := wt.c
	if c.br.Buffered() > 0 || len(c.r.pending) > 0 {
		return // the client already sent more: it is there
	}
	wt.timer = time.AfterFunc(c.s.watchAfter(), wt.run)
}

func (wt *watch) run() {
	wt.mu.Lock()
	if wt.stopped {
		wt.mu.Unlock()
		return
	}
	wt.started = true
	wt.done = make(chan struct{})
	_ = wt.c.nc.SetReadDeadline(time.Time{})
	wt.mu.Unlock()
	defer close(wt.done)
	var b [1]byte
	n, err := wt.c.nc.Read(b[:])
	if n > 0 {
		wt.c.r.pending = append(wt.c.r.pending, b[0])
	}
	if err != nil && !errors.Is(err, errDeadline) {
		wt.mu.Lock()
		wt.gone = true
		wt.mu.Unlock()
		wt.cancel()
	}
}

// stop ends the watch and reports whether the client left.
func (wt *watch) stop() bool {
	if wt == nil {
		return false
	}
	wt.mu.Lock()
	wt.stopped = true
	started := wt.started
	if started {
		_ = wt.c.nc.SetReadDeadline(aLongTimeAgo)
	}
	wt.mu.Unlock()
	if wt.timer != nil {
		wt.timer.Stop()
	}
	if started {
		<-wt.done
	}
	wt.mu.Lock()
	defer wt.mu.Unlock()
	return wt.gone
}

var aLongTimeAgo = time.Unix(1, 0)
