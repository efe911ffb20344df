package h1server_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/internal/h1server"
)

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// serve runs s on a loopback listener (TLS when tc is set) and returns its address and listener.
func serve(t *testing.T, s *h1server.Server, tc *tls.Config) (string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	var l net.Listener = cl
	if tc != nil {
		l = tls.NewListener(cl, tc)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() {
		_ = s.Close()
		if err := <-done; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want http.ErrServerClosed", err)
		}
	})
	return ln.Addr().String(), cl
}

func selfSigned(t testing.TB) (*tls.Config, *tls.Config) {
	pub, key, _ := ed25519.GenerateKey(rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: []string{"localhost"}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, key)
	if err != nil {
		t.Fatal(err)
	}
	srv := &tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
	cli := &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13}
	return srv, cli
}

// raw sends text on a new plain connection and returns what comes back until the server closes
// it or nothing more arrives for wait.
func raw(t *testing.T, addr, text string, wait time.Duration) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, text); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	buf := make([]byte, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(wait))
		n, err := c.Read(buf)
		out.Write(buf[:n])
		if err != nil {
			return out.String()
		}
	}
}

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("X-Method", r.Method)
		w.Header().Set("X-Host", r.Host)
		w.Header().Set("X-TLS", fmt.Sprint(r.TLS != nil))
		fmt.Fprintf(w, "%s %s %d %s", r.Method, r.URL.Path, r.ContentLength, b)
	})
}

func TestKeepAliveOverTLS(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	addr, ln := serve(t, &h1server.Server{Handler: echo()}, srvTLS)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}}
	for i := 0; i < 5; i++ {
		resp, err := client.Post("https://"+addr+"/v1/x", "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`POST /v1/x 7 {"n":%d}`, i); string(b) != want || resp.StatusCode != 200 {
			t.Fatalf("answer %d: %d %q, want %q", i, resp.StatusCode, b, want)
		}
		if resp.Header.Get("X-TLS") != "true" || resp.Header.Get("Date") == "" || resp.ContentLength != int64(len(b)) ||
			resp.Header.Get("Content-Type") != "text/plain; charset=utf-8" {
			t.Fatalf("headers %v, content length %d", resp.Header, resp.ContentLength)
		}
	}
	if n := ln.n.Load(); n != 1 {
		t.Fatalf("%d connections for 5 sequential requests, want 1 (keep-alive)", n)
	}
}

func TestPipelinedRequestsAnsweredInOrder(t *testing.T) {
	addr, _ := serve(t, &h1server.Server{Handler: echo()}, nil)
	out := raw(t, addr, "POST /a HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nonePOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\ntwoGET /c HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 2*time.Second)
	ia, ib, ic := strings.Index(out, "POST /a 3 one"), strings.Index(out, "POST /b 3 two"), strings.Index(out, "GET /c 0 ")
	if ia < 0 || ib < ia || ic < ib || strings.Count(out, "HTTP/1.1 200 OK") != 3 || !strings.Contains(out, "Connection: close") {
		t.Fatalf("pipelined answers:\n%s", out)
	}
}

func TestChunkedRequestBody(t *testing.T) {
	addr, _ := serve(t, &h1server.Server{Handler: echo()}, nil)
	// Kept alive after each body, with and without trailer fields, and an unread one dropped.
	out := raw(t, addr, "POST /c HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"+
		"POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nx\r\n0\r\nX-Checksum: 1\r\nX-Other: 2\r\n\r\n"+
		"GET /last HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 2*time.Second)
	if strings.Count(out, "HTTP/1.1 200 OK") != 3 || !strings.Contains(out, "POST /c -1 abcde") || !strings.Contains(out, "POST /t -1 x") ||
		!strings.HasSuffix(out, "GET /last 0 ") {
		t.Fatalf("chunked bodies on one connection:\n%s", out)
	}
	// The standard library's client sends a body of unknown length chunked.
	pr, pw := io.Pipe()
	go func() { io.WriteString(pw, "streamed "); io.WriteString(pw, "body"); pw.Close() }()
	resp, err := http.Post("http://"+addr+"/p", "text/plain", pr)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "POST /p -1 streamed body" {
		t.Fatalf("a chunked body from net/http's client: %q", b)
	}
}

func TestUnreadChunkedBodyKeepsTheConnection(t *testing.T) {
	ignore := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored "+r.URL.Path) })
	addr, _ := serve(t, &h1server.Server{Handler: ignore}, nil)
	out := raw(t, addr, "POST /a HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 2*time.Second)
	if strings.Count(out, "200 OK") != 2 || !strings.HasSuffix(out, "ignored /b") {
		t.Fatalf("after an unread chunked body:\n%s", out)
	}
}

func TestMalformedRequests(t *testing.T) {
	s := &h1server.Server{Handler: echo(), MaxHeaderBytes: 1024}
	addr, _ := serve(t, s, nil)
	for _, tc := range []struct{ name, req, status, reason string }{
		{"both framings", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "400 Bad Request", "both Transfer-Encoding and Content-Length"},
		{"conflicting lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", "400 Bad Request", "conflicting Content-Length"},
		{"bad length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -3\r\n\r\n", "400 Bad Request", `malformed Content-Length "-3"`},
		{"request line", "HELLO\r\n\r\n", "400 Bad Request", `malformed request line "HELLO"`},
		{"method", "G(T / HTTP/1.1\r\nHost: h\r\n\r\n", "400 Bad Request", `invalid method "G(T"`},
		{"no host", "GET / HTTP/1.1\r\n\r\n", "400 Bad Request", "missing required Host header"},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "400 Bad Request", "more than one Host header"},
		{"version", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", "505 HTTP Version Not Supported", "unsupported HTTP version HTTP/2.0"},
		{"bad version", "GET / HTTQ/1.1\r\nHost: h\r\n\r\n", "400 Bad Request", `malformed HTTP version "HTTQ/1.1"`},
		{"target", "GET %zz HTTP/1.1\r\nHost: h\r\n\r\n", "400 Bad Request", `malformed request target "%zz"`},
		{"encoding", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip\r\n\r\n", "501 Not Implemented", `unsupported Transfer-Encoding "gzip"`},
		{"expect", "POST / HTTP/1.1\r\nHost: h\r\nExpect: bananas\r\nContent-Length: 1\r\n\r\nx", "417 Expectation Failed", "unsupported Expect bananas"},
		{"connect", "CONNECT h:443 HTTP/1.1\r\nHost: h\r\n\r\n", "405 Method Not Allowed", "CONNECT is not served"},
		{"headers too large", "GET / HTTP/1.1\r\nHost: h\r\nX-Big: " + strings.Repeat("a", 2000) + "\r\n\r\n", "431 Request Header Fields Too Large", "request headers too large"},
		{"header line", "GET / HTTP/1.1\r\nHost: h\r\nno colon here\r\n\r\n", "400 Bad Request", `malformed MIME header: missing colon: "no colon here"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := raw(t, addr, tc.req, 2*time.Second)
			if !strings.HasPrefix(out, "HTTP/1.1 "+tc.status+"\r\n") || !strings.Contains(out, tc.reason) || !strings.Contains(out, "Connection: close") {
				t.Fatalf("got:\n%s\nwant %s with %q", out, tc.status, tc.reason)
			}
		})
	}
}

func TestHTTP10ClosesAfterAnswer(t *testing.T) {
	addr, _ := serve(t, &h1server.Server{Handler: echo()}, nil)
	out := raw(t, addr, "GET /old HTTP/1.0\r\n\r\n", 5*time.Second) // returns when the server closes
	if !strings.HasPrefix(out, "HTTP/1.1 200 OK") || !strings.Contains(out, "Connection: close") || !strings.HasSuffix(out, "GET /old 0 ") {
		t.Fatalf("HTTP/1.0 answer:\n%s", out)
	}
}

func TestExpectContinue(t *testing.T) {
	addr, _ := serve(t, &h1server.Server{Handler: echo()}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "POST /e HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	br := bufio.NewReader(c)
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := br.ReadString('\n')
	if err != nil || line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("first line %q, %v; want 100 Continue before the body is sent", line, err)
	}
	br.ReadString('\n')
	io.WriteString(c, "hello")
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "POST /e 5 hello" {
		t.Fatalf("answer %q", b)
	}
}

func TestUnreadBody(t *testing.T) {
	ignore := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ignored "+r.URL.Path) })
	addr, ln := serve(t, &h1server.Server{Handler: ignore}, nil)
	client := &http.Client{}
	// A small unread body is read and dropped: the connection serves the next request.
	for i := 0; i < 2; i++ {
		resp, err := client.Post("http://"+addr+"/small", "text/plain", strings.NewReader(strings.Repeat("x", 1000)))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.Close {
			t.Fatal("a small unread body closed the connection")
		}
	}
	if ln.n.Load() != 1 {
		t.Fatalf("%d connections, want 1", ln.n.Load())
	}
	// A large one closes it (answered first).
	resp, err := client.Post("http://"+addr+"/large", "text/plain", bytes.NewReader(make([]byte, 2<<20)))
	if err == nil {
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ignored /large" || !resp.Close {
			t.Fatalf("large unread body: %q close=%v", b, resp.Close)
		}
	}
}

func TestStreamedAnswerArrivesAsFlushed(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	second := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		if err := http.NewResponseController(w).Flush(); err != nil {
			t.Errorf("flush: %v", err)
		}
		<-second
		io.WriteString(w, "data: two\n\n")
	})
	addr, _ := serve(t, &h1server.Server{Handler: h}, srvTLS)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}}
	resp, err := client.Get("https://" + addr + "/s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.TransferEncoding == nil || resp.TransferEncoding[0] != "chunked" {
		t.Fatalf("transfer encoding %v, want chunked", resp.TransferEncoding)
	}
	br := bufio.NewReader(resp.Body)
	line, _ := br.ReadString('\n')
	if line != "data: one\n" {
		t.Fatalf("first piece %q before the second was written", line)
	}
	close(second)
	rest, _ := io.ReadAll(br)
	if string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q", rest)
	}
}

func TestLargeAnswerWithoutFlush(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 10_000)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; i < len(big); i += 1000 {
			w.Write(big[i : i+1000])
		}
	})
	addr, _ := serve(t, &h1server.Server{Handler: h}, nil)
	for range 2 {
		resp, err := http.Get("http://" + addr + "/big")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Equal(b, big) || resp.ContentLength != -1 {
			t.Fatalf("got %d bytes (content length %d), want %d chunked", len(b), resp.ContentLength, len(big))
		}
	}
}

func TestDeclaredLengthAndHead(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/short":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "abc")
		case "/over":
			w.Header().Set("Content-Length", "2")
			if _, err := io.WriteString(w, "abc"); !errors.Is(err, http.ErrContentLength) {
				t.Errorf("writing past the declared length: %v", err)
			}
			io.WriteString(w, "ab")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
			if _, err := io.WriteString(w, "x"); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("writing a 204's body: %v", err)
			}
		default:
			w.Header().Set("X-Split", "a\r\nX-Injected: 1")
			io.WriteString(w, "head body")
		}
	})
	addr, _ := serve(t, &h1server.Server{Handler: h}, nil)
	out := raw(t, addr, "GET /short HTTP/1.1\r\nHost: h\r\n\r\n", 5*time.Second)
	if !strings.Contains(out, "Content-Length: 10") || !strings.Contains(out, "Connection: close") || !strings.HasSuffix(out, "\r\n\r\nabc") {
		t.Fatalf("short answer (must close the connection):\n%s", out)
	}
	out = raw(t, addr, "GET /over HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasSuffix(out, "Content-Length: 2\r\n\r\nab") && !strings.Contains(out, "\r\n\r\nab") {
		t.Fatalf("declared length:\n%s", out)
	}
	out = raw(t, addr, "GET /nocontent HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.HasPrefix(out, "HTTP/1.1 204 No Content") || strings.Contains(out, "Content-Length") {
		t.Fatalf("204:\n%s", out)
	}
	out = raw(t, addr, "HEAD /h HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 5*time.Second)
	if !strings.Contains(out, "Content-Length: 9\r\n") || !strings.HasSuffix(out, "\r\n\r\n") || strings.Contains(out, "\r\nX-Injected") {
		t.Fatalf("HEAD:\n%s", out)
	}
}

func TestClientLeavingCancelsTheRequest(t *testing.T) {
	cancelled := make(chan time.Duration, 2)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		io.ReadAll(r.Body)
		select {
		case <-r.Context().Done():
			cancelled <- time.Since(start)
		case <-time.After(10 * time.Second):
			cancelled <- -1
		}
	})
	srvTLS, _ := selfSigned(t)
	for _, tc := range []struct {
		name string
		tls  *tls.Config
	}{{"plain", nil}, {"tls", srvTLS}} {
		t.Run(tc.name, func(t *testing.T) {
			addr, _ := serve(t, &h1server.Server{Handler: h, WatchAfter: 5 * time.Millisecond}, tc.tls)
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			if tc.tls != nil {
				tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
				if err := tc.Handshake(); err != nil {
					t.Fatal(err)
				}
				c = tc
			}
			io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
			time.Sleep(50 * time.Millisecond)
			c.Close()
			if d := <-cancelled; d < 0 || d > 5*time.Second {
				t.Fatalf("the handler's context ended after %v (-1: never) once the client left", d)
			}
		})
	}
}

func TestPipelinedByteSeenByTheWatchIsKept(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(100 * time.Millisecond) // the watch reads the next request's first byte meanwhile
		}
		if r.Context().Err() != nil {
			t.Errorf("%s: context ended: %v", r.URL.Path, r.Context().Err())
		}
		io.WriteString(w, "done "+r.URL.Path)
	})
	addr, _ := serve(t, &h1server.Server{Handler: h, WatchAfter: time.Millisecond}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(30 * time.Millisecond)
	io.WriteString(c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	br := bufio.NewReader(c)
	for _, want := range []string{"done /slow", "done /next"} {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		if string(b) != want {
			t.Fatalf("got %q, want %q", b, want)
		}
	}
}

func TestFailedStreamWriteCancelsTheRequest(t *testing.T) {
	ended := make(chan error, 1)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i := 0; ; i++ {
			if _, err := fmt.Fprintf(w, "data: %d %s\n\n", i, strings.Repeat("x", 1000)); err != nil {
				ended <- r.Context().Err()
				return
			}
			w.(http.Flusher).Flush()
			time.Sleep(time.Millisecond)
		}
	})
	// A watch that never starts: only the failed write can notice.
	addr, _ := serve(t, &h1server.Server{Handler: h, WatchAfter: time.Hour}, nil)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	c.Read(make([]byte, 100))
	c.Close()
	select {
	case err := <-ended:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("context after a failed write: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the handler kept writing to a closed connection")
	}
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
		io.WriteString(w, "fine")
	})
	addr, _ := serve(t, &h1server.Server{Handler: h, Log: slog.New(slog.DiscardHandler)}, nil)
	if out := raw(t, addr, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n", 5*time.Second); out != "" {
		t.Fatalf("a panicking handler answered %q", out)
	}
	if out := raw(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n", 5*time.Second); !strings.HasSuffix(out, "fine") {
		t.Fatalf("after a panic: %q", out)
	}
}

func TestTimeouts(t *testing.T) {
	s := &h1server.Server{Handler: echo(), ReadHeaderTimeout: 100 * time.Millisecond, IdleTimeout: 200 * time.Millisecond}
	addr, _ := serve(t, s, nil)
	start := time.Now()
	if out := raw(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n", 5*time.Second); out != "" {
		t.Fatalf("unfinished headers answered %q", out)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("unfinished headers kept the connection %v (header timeout 100ms)", d)
	}
	start = time.Now()
	out := raw(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n", 5*time.Second)
	if d := time.Since(start); !strings.Contains(out, "200 OK") || d < 150*time.Millisecond || d > 2*time.Second {
		t.Fatalf("idle connection closed after %v (idle timeout 200ms): %q", d, out)
	}
}

func TestShutdownDrains(t *testing.T) {
	release := make(chan struct{})
	started := make(chan struct{})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "ok "+r.URL.Path)
	})
	s := &h1server.Server{Handler: h}
	addr, _ := serve(t, s, nil)
	idle, err := net.Dial("tcp", addr) // an idle connection: closed by Shutdown
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	got := make(chan string, 1)
	go func() { got <- raw(t, addr, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n", 10*time.Second) }()
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v while a request was in flight", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	if err := s.Shutdown(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with a short deadline: %v", err)
	}
	cancel()
	close(release)
	if err := <-shut; err != nil {
		t.Fatal(err)
	}
	out := <-got
	if !strings.Contains(out, "Connection: close") || !strings.HasSuffix(out, "ok /slow") {
		t.Fatalf("the request in flight during Shutdown got:\n%s", out)
	}
	_ = idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := idle.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("the idle connection stayed open: %d, %v", n, err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Fatal("the listener still accepts after Shutdown")
	}
}

func TestConcurrentClients(t *testing.T) {
	srvTLS, cliTLS := selfSigned(t)
	addr, _ := serve(t, &h1server.Server{Handler: echo()}, srvTLS)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS, MaxIdleConnsPerHost: 16}}
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Go(func() {
			for i := 0; i < 50; i++ {
				body := fmt.Sprintf("g%d-%d", g, i)
				resp, err := client.Post("https://"+addr+"/c", "text/plain", strings.NewReader(body))
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if want := fmt.Sprintf("POST /c %d %s", len(body), body); string(b) != want {
					t.Errorf("got %q, want %q", b, want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// BenchmarkServe is one small POST answered over TLS 1.3 on a kept-alive connection, by this
// server and by net/http's, with the same handler and client, side by side.
func BenchmarkServe(b *testing.B) {
	srvTLS, cliTLS := selfSigned(b)
	payload := []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":8}`)
	answer := bytes.Repeat([]byte("a"), 300)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Write(answer)
	})
	for _, kind := range []string{"h1server", "net-http"} {
		b.Run(kind, func(b *testing.B) {
			ln, _ := net.Listen("tcp", "127.0.0.1:0")
			tl := tls.NewListener(ln, srvTLS)
			if kind == "h1server" {
				s := &h1server.Server{Handler: h}
				go s.Serve(tl)
				defer s.Close()
			} else {
				s := &http.Server{Handler: h}
				go s.Serve(tl)
				defer s.Close()
			}
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}}
			url := "https://" + ln.Addr().String() + "/v1/chat/completions"
			b.ResetTimer()
			for b.Loop() {
				resp, err := client.Post(url, "application/json", bytes.NewReader(payload))
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// AfterResponse runs once per answer, after the client has the whole answer (the hook waits for
// the client to have read it) and before the next request on the connection is read.
func TestAfterResponseRunsAfterTheAnswerWasSent(t *testing.T) {
	received := make(chan int, 1)
	var calls atomic.Int64
	s := &h1server.Server{Handler: echo(), AfterResponse: func() {
		n := calls.Add(1)
		select {
		case got := <-received:
			if int64(got) != n {
				t.Errorf("AfterResponse call %d after the client received answer %d", n, got)
			}
		case <-time.After(5 * time.Second):
			t.Errorf("AfterResponse call %d ran before its answer reached the client", n)
		}
	}}
	srvTLS, cliTLS := selfSigned(t)
	addr, ln := serve(t, s, srvTLS)
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: cliTLS}}
	for i := 1; i <= 3; i++ {
		resp, err := client.Post("https://"+addr+"/x", "text/plain", strings.NewReader("hi"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "POST /x 2 hi" {
			t.Fatalf("answer %d: %q", i, b)
		}
		received <- i
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() < 3 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("AfterResponse ran %d times for 3 answers", n)
	}
	if n := ln.n.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}
