package h1transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cocoon-go/cocoon/internal/httpwire"
)

type bodyKind uint8

const (
	bodyNone       bodyKind = iota // HEAD, 204, 304
	bodyLength                     // Content-Length
	bodyChunked                    // Transfer-Encoding: chunked
	bodyUntilClose                 // neither: the body ends when the server closes the connection
)

// Body states: the body owns its connection until it releases it (pooled or closed). A Close
// that interrupts a Read moves the state to closing, so that the Read cannot pool the connection.
const (
	stateOwned int32 = iota
	stateReleased
	stateClosing
)

var errBodyClosed = errors.New("h1transport: read on closed response body")

// maxTrailer bounds the trailer section of a chunked body (read and dropped).
const maxTrailer = 64 << 10

// body is a response body read straight from its connection. When it has been read to its end,
// the connection goes back to the pool (if the response allows keep-alive) or is closed.
type body struct {
	c    *conn
	ctx  context.Context
	stop func() bool // stops the context's abort of c; nil when the context cannot end
	kind bodyKind
	keep bool // the connection may be reused once the body is read

	state atomic.Int32 // stateOwned, stateReleased or stateClosing

	mu     sync.Mutex // held by Read and Close
	left   int64      // bodyLength: bytes still to read. REQUIRES: mu held.
	chunks io.Reader  // bodyChunked: the chunked decoder over c.br
	done   bool       // the connection is released. REQUIRES: mu held.
	err    error      // what Read returns from now on. REQUIRES: mu held.
}

// Read reads the body; it returns io.EOF (possibly with the last bytes) at its end, and wraps the
// context's error once the request's context has ended.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return 0, b.err
	}
	if err := b.ctx.Err(); err != nil {
		b.err = fmt.Errorf("h1transport: reading response body from %s: %w", b.c.addr, err)
		b.finish(false)
		return 0, b.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var err error
	br := b.c.br
	switch b.kind {
	case bodyLength:
		if int64(len(p)) > b.left {
			p = p[:b.left]
		}
		n, err = br.Read(p)
		b.left -= int64(n)
		switch {
		case b.left == 0:
			err = io.EOF
		case err == io.EOF:
			err = io.ErrUnexpectedEOF
		}
	case bodyChunked:
		n, err = b.chunks.Read(p)
		if err == io.EOF {
			if terr := httpwire.SkipTrailer(br, maxTrailer); terr != nil {
				err = terr
			}
		}
	case bodyUntilClose:
		n, err = br.Read(p)
	}
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		b.err = io.EOF
		b.finish(true)
		return n, io.EOF
	}
	b.err = b.readError(err)
	b.finish(false)
	return n, b.err
}

// readError names what a failed body read means: the context ended, a Close interrupted it, the
// connection failed, or the server sent something that is not the body's framing.
func (b *body) readError(err error) error {
	c := b.c
	if cerr := b.ctx.Err(); cerr != nil {
		return fmt.Errorf("h1transport: reading response body from %s: %w", c.addr, cerr)
	}
	if b.state.Load() == stateClosing {
		return errBodyClosed
	}
	if c.rerr != nil && (errors.Is(err, c.rerr) || err == io.ErrUnexpectedEOF) {
		return fmt.Errorf("h1transport: reading response body from %s: %w", c.addr, err)
	}
	return fmt.Errorf("%w from %s: %v", ErrMalformedResponse, c.addr, err)
}

// Close closes the body. Before its end this closes the connection, unless what is left may be
// small: a Content-Length remainder of at most 4 KiB that has already arrived is skipped and the
// connection kept; one that has not, or the rest of a chunked body, is read in the background for
// at most 100 ms and 4 KiB, and the connection pooled if the body ends within them. That is the
// end of every SSE stream whose reader stops at "data: [DONE]": the chunked body's last chunk
// follows the event, but often in another packet. Close may be called while a Read is blocked,
// which it interrupts.
func (b *body) Close() error {
	if !b.mu.TryLock() {
		// A Read holds the body: interrupt it, unless it releases the connection first.
		if b.state.CompareAndSwap(stateOwned, stateClosing) {
			b.c.nc.SetDeadline(aLongTimeAgo)
		}
		b.mu.Lock()
	}
	defer b.mu.Unlock()
	if !b.done {
		br := b.c.br
		switch {
		case b.err != nil || !b.keep || b.ctx.Err() != nil:
			b.finish(false)
		case b.kind == bodyLength && b.left <= maxDrain && int64(br.Buffered()) >= b.left:
			br.Discard(int(b.left))
			b.left = 0
			b.finish(true)
		case b.kind == bodyChunked || b.kind == bodyLength && b.left <= maxDrain:
			b.finishLater()
		default:
			b.finish(false)
		}
	}
	b.err = errBodyClosed
	return nil
}

// drainWait bounds the background read of a body's end after an early Close.
const drainWait = 100 * time.Millisecond

// finishLater hands the connection to a goroutine that reads what is left of the body (at most
// maxDrain bytes, for at most drainWait) and pools the connection if the body ended cleanly.
// REQUIRES: b.mu held, b.keep, no read error.
func (b *body) finishLater() {
	b.done = true
	c := b.c
	if b.stop != nil && !b.stop() || !b.state.CompareAndSwap(stateOwned, stateReleased) {
		b.state.Store(stateReleased)
		c.nc.Close()
		return
	}
	chunked, rest, left := b.kind == bodyChunked, b.chunks, b.left
	if !chunked {
		rest = io.LimitReader(c.br, left)
	}
	go func() {
		c.nc.SetReadDeadline(time.Now().Add(drainWait))
		n, err := io.CopyN(io.Discard, rest, maxDrain+1)
		ok := n == left // Content-Length
		if chunked {
			// The chunked decoder ends with io.EOF only at the last chunk.
			ok = err == io.EOF && httpwire.SkipTrailer(c.br, maxTrailer) == nil
		}
		if ok && c.br.Buffered() == 0 && c.nc.SetReadDeadline(time.Time{}) == nil {
			c.t.putIdle(c)
			return
		}
		c.nc.Close()
	}()
}

// finish releases the connection: back to the pool when the body was read to its end (ok), the
// response allows keep-alive, the context's abort did not start, and no Close interrupted a Read;
// closed otherwise. REQUIRES: b.mu held.
func (b *body) finish(ok bool) {
	if b.done {
		return
	}
	b.done = true
	c := b.c
	reuse := ok && b.keep
	if b.stop != nil && !b.stop() {
		reuse = false // the abort ran or is running: the deadline is in the past
	}
	if reuse && c.br.Buffered() > 0 {
		reuse = false // bytes after the response: the connection is out of step
	}
	if !b.state.CompareAndSwap(stateOwned, stateReleased) {
		reuse = false // a Close moved the deadline into the past
	}
	if reuse {
		c.t.putIdle(c)
		return
	}
	b.state.Store(stateReleased)
	c.nc.Close()
}
