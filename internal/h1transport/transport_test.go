package h1transport

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/internal/busypoll"
)

// server starts a real net/http server and counts the connections it accepted.
func server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &conns
}

// held answers /stream with one event and /slow with nothing, then holds either until its client
// leaves or release is closed; anything else with "ok".
func held(release <-chan struct{}) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/stream":
			io.WriteString(w, "data: first\n\n")
			w.(http.Flusher).Flush()
		case "/slow":
		default:
			io.WriteString(w, "ok")
			return
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}
}

// rawServer accepts connections and hands each to handle (with its number, from 0) in its own
// goroutine, for answers net/http's server would not give.
func rawServer(t *testing.T, handle func(n int, c net.Conn)) (addr string, conns *atomic.Int32) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	conns = new(atomic.Int32)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n := int(conns.Add(1)) - 1
			wg.Go(func() {
				defer c.Close()
				handle(n, c)
			})
		}
	})
	return ln.Addr().String(), conns
}

// readRequest reads one request (and its body) from a raw connection.
func readRequest(br *bufio.Reader) (*http.Request, []byte, error) {
	req, err := http.ReadRequest(br)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(req.Body)
	return req, body, err
}

// newTransport polls for answers' heads (a short window, so most waits also park afterwards): the
// tests that build a Transport themselves cover it without polling.
func newTransport(t *testing.T) *Transport {
	tr := &Transport{Poll: (&busypoll.Gate{Window: 2 * time.Millisecond}).Poller(1)}
	t.Cleanup(tr.CloseIdleConnections)
	return tr
}

// do sends a request through tr and reads the whole answer.
func do(t *testing.T, tr http.RoundTripper, method, url string, body io.Reader) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

func mustGet(t *testing.T, tr http.RoundTripper, url string) string {
	t.Helper()
	resp, body, err := do(t, tr, "GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	return body
}

func TestKeepAliveReusesOneConnection(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "hello %s", r.URL.Query().Get("n"))
	})
	tr := newTransport(t)
	for i := range 20 {
		if got, want := mustGet(t, tr, fmt.Sprintf("%s/?n=%d", srv.URL, i)), fmt.Sprintf("hello %d", i); got != want {
			t.Fatalf("body %q, want %q", got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections for 20 sequential requests, want 1", n)
	}
}

func TestContentLengthAndChunkedBodies(t *testing.T) {
	big := strings.Repeat("0123456789abcdef", 20000) // 320 KB, many reads
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/length":
			w.Header().Set("Content-Length", fmt.Sprint(len(big)))
			io.WriteString(w, big)
		case "/chunked":
			for i := 0; i < len(big); i += 7000 {
				io.WriteString(w, big[i:min(i+7000, len(big))])
				w.(http.Flusher).Flush()
			}
		case "/empty":
			w.Header().Set("Content-Length", "0")
		case "/nocontent":
			w.WriteHeader(http.StatusNoContent)
		}
	})
	tr := newTransport(t)
	for range 2 {
		resp, body, err := do(t, tr, "GET", srv.URL+"/length", nil)
		if err != nil || body != big || resp.ContentLength != int64(len(big)) {
			t.Fatalf("content-length body: %d bytes, length %d, err %v", len(body), resp.ContentLength, err)
		}
		resp, body, err = do(t, tr, "GET", srv.URL+"/chunked", nil)
		if err != nil || body != big || len(resp.TransferEncoding) != 1 || resp.TransferEncoding[0] != "chunked" {
			t.Fatalf("chunked body: %d bytes, %v, err %v", len(body), resp.TransferEncoding, err)
		}
		for _, path := range []string{"/empty", "/nocontent"} {
			if resp, body, err := do(t, tr, "GET", srv.URL+path, nil); err != nil || body != "" || resp.Body != http.NoBody {
				t.Fatalf("%s: %q %v", path, body, err)
			}
		}
		if _, body, err := do(t, tr, "HEAD", srv.URL+"/length", nil); err != nil || body != "" {
			t.Fatalf("HEAD: %q %v", body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestSSEStreamIsReadPieceByPiece(t *testing.T) {
	next := make(chan struct{})
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-next // the client must see the first event before the second is written
		io.WriteString(w, "data: two\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "data: [DONE]\n\n")
	})
	tr := newTransport(t)
	req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("first event %q %v", line, err)
	}
	close(next)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "\ndata: two\n\ndata: [DONE]\n\n" {
		t.Fatalf("rest %q %v", rest, err)
	}
	resp.Body.Close()
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections: the stream's connection was not reused", n)
	}
}

func TestConnectionCloseIsNotPooled(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	tr := newTransport(t)
	for range 3 {
		if got := mustGet(t, tr, srv.URL); got != "bye" {
			t.Fatal(got)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("%d connections, want 3", n)
	}
	// The request asking to close is not pooled either.
	srv2, conns2 := server(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	for range 2 {
		req, _ := http.NewRequest("GET", srv2.URL, nil)
		req.Close = true
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if n := conns2.Load(); n != 2 {
		t.Fatalf("req.Close: %d connections, want 2", n)
	}
}

func TestHTTP10ResponseIsNotPooled(t *testing.T) {
	addr, conns := rawServer(t, func(_ int, c net.Conn) {
		br := bufio.NewReader(c)
		for {
			if _, _, err := readRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	tr := newTransport(t)
	for range 2 {
		if got := mustGet(t, tr, "http://"+addr+"/"); got != "ok" {
			t.Fatal(got)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestBodyUntilClose(t *testing.T) {
	addr, conns := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil")
		time.Sleep(20 * time.Millisecond)
		io.WriteString(c, " the end")
	})
	tr := newTransport(t)
	for range 2 {
		resp, body, err := do(t, tr, "GET", "http://"+addr+"/", nil)
		if err != nil || body != "until the end" || resp.ContentLength != -1 {
			t.Fatalf("%q %v", body, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestHundredContinueIsSkipped(t *testing.T) {
	addr, _ := rawServer(t, func(_ int, c net.Conn) {
		if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok")
	})
	resp, body, err := do(t, newTransport(t), "POST", "http://"+addr+"/", strings.NewReader("x"))
	if err != nil || resp.StatusCode != 201 || body != "ok" {
		t.Fatalf("%v %q %v", resp, body, err)
	}
}

func TestRequestWriting(t *testing.T) {
	type seen struct {
		method, uri, host, ua string
		length                int64
		te                    []string
		header                http.Header
		body                  string
	}
	got := make(chan seen, 1)
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.RequestURI, r.Host, r.Header.Get("User-Agent"), r.ContentLength, r.TransferEncoding, r.Header, string(b)}
	})
	tr := newTransport(t)
	big := strings.Repeat("x", 100<<10) // more than the write buffer

	// Known length, small and large, with the request's headers and no User-Agent of ours.
	for _, body := range []string{`{"model":"m","prompt":"hi"}`, big} {
		req, _ := http.NewRequest("POST", srv.URL+"/v1/completions?a=b%20c", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Add("X-Multi", "1")
		req.Header.Add("X-Multi", "2")
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
		s := <-got
		if s.method != "POST" || s.uri != "/v1/completions?a=b%20c" || s.host != srv.Listener.Addr().String() || s.ua != "" ||
			s.length != int64(len(body)) || s.te != nil || s.body != body ||
			s.header.Get("Content-Type") != "application/json" || strings.Join(s.header["X-Multi"], ",") != "1,2" {
			t.Fatalf("server saw %+v", s)
		}
	}

	// Unknown length: chunked, with the body arriving in pieces.
	pr, pw := io.Pipe()
	go func() {
		for i := range 3 {
			fmt.Fprintf(pw, "piece %d;", i)
			time.Sleep(5 * time.Millisecond)
		}
		pw.Close()
	}()
	req, _ := http.NewRequest("PUT", srv.URL+"/x", pr)
	req.Header.Set("User-Agent", "cocoon-test")
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	io.ReadAll(resp.Body)
	resp.Body.Close()
	s := <-got
	if s.method != "PUT" || s.length != -1 || len(s.te) != 1 || s.te[0] != "chunked" || s.body != "piece 0;piece 1;piece 2;" || s.ua != "cocoon-test" {
		t.Fatalf("chunked: server saw %+v", s)
	}

	// No body: a GET says nothing, a POST says Content-Length: 0; a custom Host.
	req, _ = http.NewRequest("POST", srv.URL+"/nobody", nil)
	req.Host = "upstream.local"
	resp, err = tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := <-got; s.length != 0 || s.te != nil || s.host != "upstream.local" {
		t.Fatalf("bodyless POST: %+v", s)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}

	// Bodies that do not match their length, and header injection, are refused before sending.
	for name, mk := range map[string]func() *http.Request{
		"short body": func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL, strings.NewReader("abc"))
			r.ContentLength = 5
			return r
		},
		"long body": func() *http.Request {
			r, _ := http.NewRequest("POST", srv.URL, strings.NewReader("abcdef"))
			r.ContentLength = 5
			return r
		},
		"newline in header": func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL, nil)
			r.Header.Set("X-Evil", "a\r\nX-Injected: 1")
			return r
		},
		"bad method": func() *http.Request {
			r, _ := http.NewRequest("GET", srv.URL, nil)
			r.Method = "GE T"
			return r
		},
	} {
		_, err := tr.RoundTrip(mk())
		if !errors.Is(err, ErrMalformedRequest) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestCancelWhileAwaitingHeaders(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := server(t, held(release))
	tr := newTransport(t)
	mustGet(t, tr, srv.URL) // a pooled connection, which the slow request reuses
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	req, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/slow", strings.NewReader("{}"))
	start := time.Now()
	_, err := tr.RoundTrip(req)
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "h1transport: awaiting response from 127.0.0.1:") {
		t.Fatalf("err %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The aborted connection is closed, not pooled: the next request dials.
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	// Through http.Client, with a deadline.
	ctx, cancel2 := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel2()
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL+"/slow", nil)
	if _, err := (&http.Client{Transport: tr}).Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("deadline: %v", err)
	}
	// A context that has already ended sends nothing.
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if _, err := tr.RoundTrip(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ended context: %v", err)
	}
}

func TestCancelWhileReadingBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := server(t, held(release))
	tr := newTransport(t)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/stream", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	n, err := resp.Body.Read(buf)
	if err != nil || string(buf[:n]) != "data: first\n\n" {
		t.Fatalf("first read %q %v", buf[:n], err)
	}
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err = resp.Body.Read(buf) // blocks until the cancel
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "reading response body from 127.0.0.1:") {
		t.Fatalf("blocked read: %v", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("cancel took %v", d)
	}
	if _, err := resp.Body.Read(buf); !errors.Is(err, context.Canceled) {
		t.Fatalf("read after cancel: %v", err)
	}
	resp.Body.Close()
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}

	// A body whose bytes have all arrived still fails once the context has ended.
	ctx, cancel = context.WithCancel(context.Background())
	req, _ = http.NewRequestWithContext(ctx, "GET", srv.URL, nil)
	if resp, err = tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.ReadAll(resp.Body); !errors.Is(err, context.Canceled) {
		t.Fatalf("buffered body after cancel: %v", err)
	}
}

func TestCloseInterruptsBlockedRead(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, conns := server(t, held(release))
	tr := newTransport(t)
	req, _ := http.NewRequest("GET", srv.URL+"/stream", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(50*time.Millisecond, func() { resp.Body.Close() })
	start := time.Now()
	_, err = io.ReadAll(resp.Body)
	if !errors.Is(err, errBodyClosed) || time.Since(start) > time.Second {
		t.Fatalf("read interrupted by Close: %v after %v", err, time.Since(start))
	}
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	srv, _ := server(t, held(release))
	tr := &Transport{ResponseHeaderTimeout: 100 * time.Millisecond}
	defer tr.CloseIdleConnections()
	start := time.Now()
	_, _, err := do(t, tr, "GET", srv.URL+"/slow", nil)
	if !errors.Is(err, ErrResponseHeaderTimeout) || !strings.Contains(err.Error(), "h1transport: timeout awaiting response headers from 127.0.0.1:") {
		t.Fatalf("err %v", err)
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("not a timeout: %v", err)
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > time.Second {
		t.Fatalf("timed out after %v", d)
	}
	// The deadline does not outlive the headers: a body slower than the timeout is fine.
	srv2, _ := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "a")
		w.(http.Flusher).Flush()
		time.Sleep(250 * time.Millisecond)
		io.WriteString(w, "b")
	})
	for range 2 {
		if got := mustGet(t, tr, srv2.URL); got != "ab" {
			t.Fatal(got)
		}
	}
}

func TestStaleIdleConnectionIsRetried(t *testing.T) {
	// A server that closes each connection after its first response, without "Connection: close",
	// as a server closing an idle keep-alive connection does.
	var handled atomic.Int32
	closed := make(chan struct{}, 10)
	addr, conns := rawServer(t, func(_ int, c net.Conn) {
		req, body, err := readRequest(bufio.NewReader(c))
		if err != nil {
			return
		}
		handled.Add(1)
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s %s", len(req.Method)+1+len(body), req.Method, body)
		c.Close()
		closed <- struct{}{}
	})
	tr := newTransport(t)
	url := "http://" + addr + "/"
	if _, body, err := do(t, tr, "POST", url, strings.NewReader("first")); err != nil || body != "POST first" {
		t.Fatalf("%q %v", body, err)
	}
	<-closed
	time.Sleep(20 * time.Millisecond) // the FIN has arrived
	// The pooled connection is dead; the request goes again, body included, on a new one.
	if _, body, err := do(t, tr, "POST", url, strings.NewReader("second")); err != nil || body != "POST second" {
		t.Fatalf("retry: %q %v", body, err)
	}
	if c, h := conns.Load(), handled.Load(); c != 2 || h != 2 {
		t.Fatalf("%d connections, %d requests handled, want 2 and 2", c, h)
	}
	<-closed
	time.Sleep(20 * time.Millisecond)
	// Without GetBody the body cannot be sent again: the error is returned.
	req, _ := http.NewRequest("POST", url, strings.NewReader("third"))
	req.GetBody = nil
	if _, err := tr.RoundTrip(req); !errors.Is(err, io.EOF) && !strings.Contains(err.Error(), "reset") {
		t.Fatalf("no GetBody: %v", err)
	}
	if c := conns.Load(); c != 2 {
		t.Fatalf("%d connections, want 2 (no retry without GetBody)", c)
	}
}

func TestFreshConnectionFailureIsNotRetried(t *testing.T) {
	addr, conns := rawServer(t, func(_ int, c net.Conn) {
		readRequest(bufio.NewReader(c)) // then close without answering
	})
	_, _, err := do(t, newTransport(t), "GET", "http://"+addr+"/", nil)
	if err == nil || !strings.Contains(err.Error(), "h1transport: "+addr+" closed the connection without answering") {
		t.Fatalf("err %v", err)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
}

func TestCloseBeforeEOF(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			io.WriteString(w, big)
		case "/small":
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, strings.Repeat("y", 100))
		default:
			io.WriteString(w, "ok")
		}
	})
	tr := newTransport(t)
	req, _ := http.NewRequest("GET", srv.URL+"/big", nil)
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if _, err := resp.Body.Read(buf); !errors.Is(err, errBodyClosed) {
		t.Fatalf("read after close: %v", err)
	}
	if got := mustGet(t, tr, srv.URL); got != "ok" {
		t.Fatal(got)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the big body's closed)", n)
	}
	// A small remainder that has arrived is skipped and the connection kept.
	req, _ = http.NewRequest("GET", srv.URL+"/small", nil)
	if resp, err = tr.RoundTrip(req); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2 (the small remainder drained)", n)
	}
}

func TestMalformedResponses(t *testing.T) {
	for name, answer := range map[string]string{
		"status line":     "HTTP/1.1 abc OK\r\n\r\n",
		"not http":        "SSH-2.0-OpenSSH_9.6\r\n",
		"chunked framing": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
		"switching":       "HTTP/1.1 101 Switching Protocols\r\n\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			addr, _ := rawServer(t, func(_ int, c net.Conn) {
				if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, answer)
				time.Sleep(50 * time.Millisecond)
			})
			_, _, err := do(t, newTransport(t), "GET", "http://"+addr+"/", nil)
			if !errors.Is(err, ErrMalformedResponse) || !strings.Contains(err.Error(), "h1transport: malformed response from "+addr+": ") {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestTruncatedBodies(t *testing.T) {
	for name, answer := range map[string]string{
		"content-length": "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"chunked":        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nab",
	} {
		t.Run(name, func(t *testing.T) {
			addr, _ := rawServer(t, func(_ int, c net.Conn) {
				if _, _, err := readRequest(bufio.NewReader(c)); err != nil {
					return
				}
				io.WriteString(c, answer)
			})
			_, _, err := do(t, newTransport(t), "GET", "http://"+addr+"/", nil)
			if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "h1transport: reading response body from "+addr) {
				t.Fatalf("err %v", err)
			}
		})
	}
}

func TestOnlyHTTPIsSupported(t *testing.T) {
	for _, url := range []string{"https://example.com/v1/models", "ftp://example.com/x"} {
		req, _ := http.NewRequest("GET", url, nil)
		_, err := (&Transport{}).RoundTrip(req)
		if !errors.Is(err, ErrUnsupportedScheme) || !strings.Contains(err.Error(), "only http:// is supported") {
			t.Fatalf("%s: %v", url, err)
		}
	}
}

func TestIdleConnectionsExpire(t *testing.T) {
	var closedConns atomic.Int32
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			conns.Add(1)
		case http.StateClosed:
			closedConns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	tr := &Transport{IdleTimeout: 50 * time.Millisecond}
	defer tr.CloseIdleConnections()
	mustGet(t, tr, srv.URL)
	time.Sleep(120 * time.Millisecond)
	mustGet(t, tr, srv.URL) // the idle connection is too old: a new one
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
	// With no request coming, the janitor closes the idle connections.
	deadline := time.Now().Add(2 * time.Second)
	for closedConns.Load() != 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := closedConns.Load(); n != 2 {
		t.Fatalf("%d connections closed, want 2", n)
	}
}

func TestMaxIdlePerHost(t *testing.T) {
	hold := make(chan struct{})
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hold" {
			<-hold
		}
		io.WriteString(w, "ok")
	})
	tr := &Transport{MaxIdlePerHost: 2}
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { mustGet(t, tr, srv.URL+"/hold") })
	}
	for conns.Load() != 4 {
		time.Sleep(time.Millisecond)
	}
	close(hold)
	wg.Wait()
	tr.mu.Lock()
	n := len(tr.idle[srv.Listener.Addr().String()])
	tr.mu.Unlock()
	if n != 2 {
		t.Fatalf("%d idle connections, want 2", n)
	}
}

func TestConcurrentUse(t *testing.T) {
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		if r.URL.Query().Get("chunked") != "" {
			w.Write(b[:len(b)/2])
			w.(http.Flusher).Flush()
			w.Write(b[len(b)/2:])
			return
		}
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		w.Write(b)
	})
	tr := newTransport(t)
	const workers, each = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for g := range workers {
		wg.Go(func() {
			for i := range each {
				want := fmt.Sprintf("worker %d request %d %s", g, i, strings.Repeat("z", i*37))
				url := srv.URL + "/echo"
				if i%2 == 1 {
					url += "?chunked=1"
				}
				_, got, err := do(t, tr, "POST", url, bytes.NewReader([]byte(want)))
				if err != nil || got != want {
					errs <- fmt.Errorf("worker %d request %d: %q %v", g, i, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := conns.Load(); n > workers {
		t.Fatalf("%d connections for %d workers", n, workers)
	}
}

// idleCount is the number of pooled connections to addr.
func idleCount(tr *Transport, addr string) int {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return len(tr.idle[addr])
}

func TestStreamClosedAtItsLastEventKeepsTheConnection(t *testing.T) {
	// The reader stops at "data: [DONE]" and closes the body; the chunked body's last chunk comes
	// after, in another packet, as uvicorn sends it. The connection is still pooled.
	end := make(chan struct{})
	srv, conns := server(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: one\n\ndata: [DONE]\n\n")
		w.(http.Flusher).Flush()
		if r.URL.Path == "/hang" {
			<-r.Context().Done() // never ends the body
			return
		}
		<-end
	})
	tr := newTransport(t)
	addr := srv.Listener.Addr().String()
	readToDone := func(path string) {
		req, _ := http.NewRequest("GET", srv.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "data: [DONE]\n" {
				break
			}
		}
		resp.Body.Close()
	}
	readToDone("/")
	close(end)
	for deadline := time.Now().Add(2 * time.Second); idleCount(tr, addr) != 1 && time.Now().Before(deadline); {
		time.Sleep(time.Millisecond)
	}
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1", n)
	}
	// A body that does not end within 100 ms: its connection is closed.
	readToDone("/hang")
	time.Sleep(drainWait + 50*time.Millisecond)
	if n := idleCount(tr, addr); n != 0 {
		t.Fatalf("%d idle connections, want 0 (the hanging stream's closed)", n)
	}
	mustGet(t, tr, srv.URL)
	if n := conns.Load(); n != 2 {
		t.Fatalf("%d connections, want 2", n)
	}
}
