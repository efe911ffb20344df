package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
)

// serveLean is --lean: the same proxy without net/http. Each connection's goroutine reads a
// request (line, headers, a Content-Length body), writes it to a pooled keep-alive backend
// connection, reads the answer (Content-Length or chunked, each chunk flushed as it comes) and
// writes it back: the floor of a Go TLS proxy on this machine, which the provider's own HTTP/1.1
// server and upstream transport (internal/h1server, internal/h1transport) build on. It serves what
// the benchmark sends and nothing more (no chunked requests, no pipelining, no error answers).
func serveLean(ln net.Listener, cfg *tls.Config, backend string) error {
	pool := &backendPool{addr: backend}
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go leanConn(tls.Server(c, cfg), pool)
	}
}

type backendConn struct {
	c  net.Conn
	br *bufio.Reader
}

// backendPool keeps idle backend connections, reused last in, first out.
type backendPool struct {
	addr string
	mu   sync.Mutex
	idle []*backendConn
}

func (p *backendPool) get() (*backendConn, error) {
	p.mu.Lock()
	if n := len(p.idle); n > 0 {
		b := p.idle[n-1]
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		return b, nil
	}
	p.mu.Unlock()
	c, err := net.Dial("tcp", p.addr)
	if err != nil {
		return nil, err
	}
	return &backendConn{c: c, br: bufio.NewReaderSize(c, 16<<10)}, nil
}

func (p *backendPool) put(b *backendConn) {
	p.mu.Lock()
	p.idle = append(p.idle, b)
	p.mu.Unlock()
}

func leanConn(c *tls.Conn, pool *backendPool) {
	defer c.Close()
	br := bufio.NewReaderSize(c, 8<<10)
	bw := bufio.NewWriterSize(c, 16<<10)
	var req []byte
	for {
		req = req[:0]
		line, err := br.ReadSlice('\n')
		if err != nil {
			return
		}
		req = append(req, line...)
		length := 0
		err = headerLines(br, func(name, value, line []byte) {
			switch {
			case bytes.EqualFold(name, []byte("content-length")):
				length, _ = strconv.Atoi(string(value))
			case bytes.EqualFold(name, []byte("connection")):
				return // hop by hop
			}
			req = append(req, line...)
		})
		if err != nil {
			return
		}
		req = append(req, "\r\n"...)
		n := len(req)
		req = append(req, make([]byte, length)...)
		if _, err := io.ReadFull(br, req[n:]); err != nil {
			return
		}
		b, err := pool.get()
		if err != nil {
			return
		}
		if _, err := b.c.Write(req); err != nil {
			b.c.Close()
			return
		}
		if err := relayAnswer(b.br, bw); err != nil {
			b.c.Close()
			return
		}
		pool.put(b)
		if err := bw.Flush(); err != nil {
			return
		}
	}
}

// headerLines reads header lines up to the blank line that ends them, calling each with a line's
// name, trimmed value and whole text (CRLF included).
func headerLines(r *bufio.Reader, each func(name, value, line []byte)) error {
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			return nil
		}
		name, value, _ := bytes.Cut(line, []byte{':'})
		each(name, bytes.TrimSpace(value), line)
	}
}

// relayAnswer copies one answer from r to w, flushing each chunk of a chunked body.
func relayAnswer(r *bufio.Reader, w *bufio.Writer) error {
	length, chunked := -1, false
	err := headerLines(r, func(name, value, line []byte) {
		w.Write(line)
		switch {
		case bytes.EqualFold(name, []byte("content-length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("transfer-encoding")):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		}
	})
	if err != nil {
		return err
	}
	w.WriteString("\r\n")
	if !chunked {
		if length < 0 {
			return errors.New("an answer with neither Content-Length nor chunks")
		}
		_, err := io.CopyN(w, r, int64(length))
		return err
	}
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return err
		}
		w.Write(line)
		size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
		if err != nil {
			return fmt.Errorf("chunk size %q: %w", line, err)
		}
		if _, err := io.CopyN(w, r, size+2); err != nil {
			return err
		}
		if err := w.Flush(); err != nil || size == 0 {
			return err
		}
	}
}
