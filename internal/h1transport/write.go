package h1transport

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cocoon-go/cocoon/internal/httpwire"
)

// writeRequest writes req's request line and headers, then body, and closes body. closeIt is set
// when the request asks for the connection to be closed after it. On error, connErr tells whether
// the connection failed (rather than the request being invalid or its body failing to read).
func (c *conn) writeRequest(req *http.Request, body io.ReadCloser) (closeIt, connErr bool, err error) {
	defer closeBody(body)
	c.writeBroke = false
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	if !httpwire.IsToken(method) {
		return false, false, fmt.Errorf("%w: invalid method %q", ErrMalformedRequest, method)
	}
	uri := req.URL.RequestURI()
	if hasCTLOrSpace(uri) {
		return false, false, fmt.Errorf("%w: invalid request URI %q", ErrMalformedRequest, uri)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if hasCTLOrSpace(host) {
		return false, false, fmt.Errorf("%w: invalid host %q", ErrMalformedRequest, host)
	}

	// The body's framing: a known length, or chunked. A non-nil body with ContentLength 0 is of
	// unknown length (http.Request's rule), like -1.
	length, chunked := int64(0), false
	if body != nil {
		if req.ContentLength > 0 {
			length = req.ContentLength
		} else {
			chunked = true
		}
	}

	bw := c.t.getWriter(c)
	defer c.t.putWriter(bw)
	bw.WriteString(method)
	bw.WriteByte(' ')
	bw.WriteString(uri)
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	switch {
	case chunked:
		bw.WriteString("Transfer-Encoding: chunked\r\n")
	case body != nil || method == http.MethodPost || method == http.MethodPut || method == http.MethodPatch:
		// Like net/http: a bodyless POST, PUT or PATCH says so.
		bw.WriteString("Content-Length: ")
		bw.Write(strconv.AppendInt(bw.AvailableBuffer(), length, 10))
		bw.WriteString("\r\n")
	}
	for k, vs := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue // written above, or unsupported
		case "Connection":
			for _, v := range vs {
				closeIt = closeIt || httpwire.ListHasToken(v, "close")
			}
		}
		if !httpwire.IsToken(k) {
			return false, false, fmt.Errorf("%w: invalid header name %q", ErrMalformedRequest, k)
		}
		for _, v := range vs {
			if k == "User-Agent" && v == "" {
				continue // an empty User-Agent sends none
			}
			if !validHeaderValue(v) {
				return false, false, fmt.Errorf("%w: invalid value for header %q", ErrMalformedRequest, k)
			}
			bw.WriteString(k)
			bw.WriteString(": ")
			bw.WriteString(v)
			bw.WriteString("\r\n")
		}
	}
	if req.Close && !closeIt {
		bw.WriteString("Connection: close\r\n")
	}
	closeIt = closeIt || req.Close
	bw.WriteString("\r\n")

	switch {
	case chunked:
		err = c.writeChunked(bw, body)
	case body != nil:
		err = c.writeLength(bw, body, length)
	}
	if err == nil {
		if ferr := bw.Flush(); ferr != nil {
			err = c.writeFailed(ferr)
		}
	}
	if err != nil {
		return false, c.writeBroke, err
	}
	return closeIt, false, nil
}

// writeFailed is a failure of the connection (not of the body or the request), which writeRequest
// reports as such.
func (c *conn) writeFailed(err error) error {
	c.writeBroke = true
	return fmt.Errorf("h1transport: failed to write request to %s: %w", c.addr, err)
}

// writeLength copies exactly n bytes of body through bw (flushing when full, so a small body goes
// out with the headers in one write) and checks the body holds no more.
func (c *conn) writeLength(bw *bufio.Writer, body io.Reader, n int64) error {
	left := n
	for left > 0 {
		if bw.Available() == 0 {
			if err := bw.Flush(); err != nil {
				return c.writeFailed(err)
			}
		}
		buf := bw.AvailableBuffer()
		buf = buf[:min(int64(cap(buf)), left)]
		m, err := body.Read(buf)
		bw.Write(buf[:m])
		left -= int64(m)
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("h1transport: failed to read the request body: %w", err)
		}
	}
	if left == 0 {
		m, err := body.Read(c.probe[:])
		if m > 0 {
			return fmt.Errorf("%w: body longer than its ContentLength %d", ErrMalformedRequest, n)
		}
		if err != nil && err != io.EOF {
			return fmt.Errorf("h1transport: failed to read the request body: %w", err)
		}
		return nil
	}
	return fmt.Errorf("%w: body of %d bytes, shorter than its ContentLength %d", ErrMalformedRequest, n-left, n)
}

// chunkHead is the fixed-width size line written before each chunk: 8 hex digits (leading zeros
// are allowed) and CRLF, so the data can be read into the buffer first and the size filled in.
const chunkHead = 10

// writeChunked writes body as chunks, each read straight into bw's buffer and flushed, so a body
// produced piece by piece goes out piece by piece.
func (c *conn) writeChunked(bw *bufio.Writer, body io.Reader) error {
	for {
		if bw.Available() < chunkHead+2+512 {
			if err := bw.Flush(); err != nil {
				return c.writeFailed(err)
			}
		}
		buf := bw.AvailableBuffer()
		buf = buf[:cap(buf)]
		m, err := body.Read(buf[chunkHead : len(buf)-2])
		if m > 0 {
			const hex = "0123456789abcdef"
			for i := 0; i < 8; i++ {
				buf[7-i] = hex[(m>>(4*i))&0xf]
			}
			buf[8], buf[9] = '\r', '\n'
			buf[chunkHead+m], buf[chunkHead+m+1] = '\r', '\n'
			bw.Write(buf[:chunkHead+m+2])
			if err := bw.Flush(); err != nil {
				return c.writeFailed(err)
			}
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("h1transport: failed to read the request body: %w", err)
		}
	}
	bw.WriteString("0\r\n\r\n")
	return nil
}

func (t *Transport) getWriter(c *conn) *bufio.Writer {
	if bw, ok := t.wbufs.Get().(*bufio.Writer); ok {
		bw.Reset(c)
		return bw
	}
	return bufio.NewWriterSize(c, writeBufSize)
}

func (t *Transport) putWriter(bw *bufio.Writer) {
	bw.Reset(nil)
	t.wbufs.Put(bw)
}

// validHeaderValue refuses control characters other than horizontal tab (CR and LF above all).
func validHeaderValue(v string) bool {
	for i := 0; i < len(v); i++ {
		if b := v[i]; b < ' ' && b != '\t' || b == 0x7f {
			return false
		}
	}
	return true
}

func hasCTLOrSpace(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b <= ' ' || b == 0x7f {
			return true
		}
	}
	return false
}
