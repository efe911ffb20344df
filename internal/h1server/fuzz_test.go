package h1server_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/internal/h1server"
)

// FuzzRequests sends arbitrary bytes as requests: the server never panics, answers only with
// well-formed HTTP/1.1 responses (each one parsable by net/http's client code), and leaves the
// connection in a state where it either closed or still serves a valid request.
func FuzzRequests(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST /v1/chat/completions HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\n{}",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx",
		"GET / HTTP/1.0\r\n\r\n",
		"HEAD /x?y=1 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nhello",
		"GET / HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\n",
		"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
		"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
	} {
		f.Add(seed)
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodHead {
			// A HEAD answer's framing depends on the request, which the checking side does not
			// parse: answer one that needs no request to read.
			w.WriteHeader(http.StatusNoContent)
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/stream" {
			w.Write(b)
			w.(http.Flusher).Flush()
		}
		w.Write([]byte(r.Method + " " + r.URL.Path))
	})
	s := &h1server.Server{Handler: h, ReadHeaderTimeout: time.Second, ReadBodyTimeout: time.Second, MaxHeaderBytes: 4096}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		f.Fatal(err)
	}
	go s.Serve(ln)
	f.Cleanup(func() { s.Close() })
	addr := ln.Addr().String()
	f.Fuzz(func(t *testing.T, in string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		// What the fuzzer sent, then a request the server must still understand if it kept the
		// connection: its answer is the last.
		go io.WriteString(c, in+"\r\n\r\nGET /probe HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		br := bufio.NewReader(c)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				if err == io.EOF || strings.Contains(err.Error(), "connection reset") {
					return // the server closed the connection: fine
				}
				if ne, ok := err.(net.Error); ok && ne.Timeout() {
					t.Fatalf("the server neither answered nor closed within 5 s for %q", in)
				}
				t.Fatalf("malformed answer to %q: %v", in, err)
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil {
				t.Fatalf("malformed answer body to %q: %v", in, err)
			}
			resp.Body.Close()
			if resp.Close {
				return
			}
		}
	})
}
