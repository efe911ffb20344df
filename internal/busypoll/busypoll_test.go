package busypoll

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"io"
	"math/big"
	"net"
	"testing"
	"time"
)

// pair is a connected loopback TCP pair: the accepted side and the dialled side.
func pair(t *testing.T) (server, client net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		accepted <- c
	}()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server = <-accepted
	if server == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

func TestReadGetsBytesArrivingWithinTheWindow(t *testing.T) {
	g := &Gate{Window: 5 * time.Second}
	s, c := pair(t)
	go func() {
		time.Sleep(5 * time.Millisecond)
		c.Write([]byte("hello"))
	}()
	buf := make([]byte, 64)
	start := time.Now()
	n, ok := g.Poller(0).Read(s, buf)
	if !ok || string(buf[:n]) != "hello" {
		t.Fatalf("Read = %d %v %q, want the 5 bytes written", n, ok, buf[:n])
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("took %v: polled past the bytes' arrival", d)
	}
	if g.polling.Load() {
		t.Fatal("still marked polling")
	}
}

func TestReadGivesUpAfterTheWindowAndConsumesNothing(t *testing.T) {
	g := &Gate{Window: 3 * time.Millisecond}
	s, c := pair(t)
	start := time.Now()
	if n, ok := g.Poller(0).Read(s, make([]byte, 64)); ok || n != 0 {
		t.Fatalf("Read = %d %v with nothing sent", n, ok)
	}
	if d := time.Since(start); d < g.Window || d > time.Second {
		t.Fatalf("gave up after %v, window %v", d, g.Window)
	}
	c.Write([]byte("later"))
	buf := make([]byte, 64)
	n, err := s.Read(buf)
	if err != nil || string(buf[:n]) != "later" {
		t.Fatalf("the ordinary read after it: %d %v %q", n, err, buf[:n])
	}
}

func TestReadDoesNotPollWhileOtherRequestsAreInProgress(t *testing.T) {
	g := &Gate{Window: 5 * time.Second}
	s, _ := pair(t)
	g.Begin()
	g.Begin()
	start := time.Now()
	if _, ok := g.Poller(1).Read(s, make([]byte, 8)); ok {
		t.Fatal("polled with 2 requests in progress, 1 allowed")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v before declining", d)
	}
	g.End()
	g.End()
	if n := g.inProgress.Load(); n != 0 {
		t.Fatalf("in progress %d after ending both", n)
	}
}

func TestReadStopsPollingWhenARequestBegins(t *testing.T) {
	g := &Gate{Window: 5 * time.Second}
	s, _ := pair(t)
	done := make(chan bool)
	go func() {
		_, ok := g.Poller(0).Read(s, make([]byte, 8))
		done <- ok
	}()
	waitPolling(t, g)
	start := time.Now()
	g.Begin()
	defer g.End()
	select {
	case ok := <-done:
		if ok {
			t.Fatal("read bytes nobody sent")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("kept polling after a request began")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("stopped %v after the request began", d)
	}
}

func TestOnlyOneReadPollsAtATime(t *testing.T) {
	g := &Gate{Window: 5 * time.Second}
	s1, c1 := pair(t)
	s2, _ := pair(t)
	first := make(chan string)
	go func() {
		buf := make([]byte, 8)
		n, ok := g.Poller(0).Read(s1, buf)
		if !ok {
			n = 0
		}
		first <- string(buf[:n])
	}()
	waitPolling(t, g)
	start := time.Now()
	if _, ok := g.Poller(0).Read(s2, make([]byte, 8)); ok {
		t.Fatal("a second read polled while the first did")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the second read waited %v", d)
	}
	c1.Write([]byte("one"))
	if got := <-first; got != "one" {
		t.Fatalf("first read got %q", got)
	}
}

func TestReadLeavesTheEndOfStreamToTheOrdinaryRead(t *testing.T) {
	g := &Gate{Window: 5 * time.Second}
	s, c := pair(t)
	c.Close()
	start := time.Now()
	if _, ok := g.Poller(0).Read(s, make([]byte, 8)); ok {
		t.Fatal("read bytes from a closed peer")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("polled %v on a closed connection", d)
	}
	if _, err := s.Read(make([]byte, 8)); err != io.EOF {
		t.Fatalf("ordinary read after it: %v, want EOF", err)
	}
}

func TestNothingPollsWithoutAGateOrASocket(t *testing.T) {
	s, c := pair(t)
	go c.Write([]byte("x"))
	var g *Gate
	if _, ok := g.Poller(0).Read(s, make([]byte, 8)); ok {
		t.Fatal("a nil gate polled")
	}
	g.Begin() // no-ops on nil
	g.End()
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if _, ok := (&Gate{Window: time.Second}).Poller(0).Read(p1, make([]byte, 8)); ok {
		t.Fatal("polled a pipe")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	if g.Listener(ln) != ln || (&Gate{}).Listener(ln) != ln {
		t.Fatal("a gate that never polls wrapped the listener")
	}
}

// TestListenerUnderTLS: a TLS server on the polling listener answers a client whose requests come
// both within the window and after it, with and without a request in progress.
func TestListenerUnderTLS(t *testing.T) {
	g := &Gate{Window: 2 * time.Millisecond}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	cert := selfSigned(t)
	tln := tls.NewListener(g.Listener(ln), &tls.Config{Certificates: []tls.Certificate{cert}})
	go func() {
		c, err := tln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 1024)
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			g.Begin()
			_, err = c.Write(bytes.ToUpper(buf[:n]))
			g.End()
			if err != nil {
				return
			}
		}
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{InsecureSkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i, pause := range []time.Duration{0, 0, 10 * time.Millisecond, 0, 5 * time.Millisecond} {
		time.Sleep(pause)
		msg := []byte("message " + string(rune('a'+i)))
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := io.ReadAtLeast(c, buf, len(msg))
		if err != nil || !bytes.Equal(buf[:n], bytes.ToUpper(msg)) {
			t.Fatalf("exchange %d: %q %v", i, buf[:n], err)
		}
	}
}

// TestUnansweredPollsBackOff: after n polls in a row whose window passed, a poller leaves the next
// 2^n−1 waits unpolled (at most maxSkip); a poll that reads something starts over.
func TestUnansweredPollsBackOff(t *testing.T) {
	// A window long enough that a skipped wait, which returns at once, is never mistaken for a poll.
	g := &Gate{Window: 100 * time.Millisecond}
	pl := g.Poller(0)
	s, c := pair(t)
	buf := make([]byte, 8)
	miss := func() {
		t.Helper()
		if _, ok := pl.Read(s, buf); ok {
			t.Fatal("read bytes nobody sent")
		}
	}
	var skips []int32
	for i := 0; i < 8; i++ {
		miss() // polls for the window
		skips = append(skips, pl.skip.Load())
		for pl.skip.Load() > 0 {
			start := time.Now()
			miss() // parks at once: the caller's read
			if d := time.Since(start); d >= g.Window {
				t.Fatalf("a skipped wait polled for %v", d)
			}
		}
	}
	want := []int32{1, 3, 7, 15, 31, 63, 64, 64}
	for i := range want {
		if skips[i] != want[i] {
			t.Fatalf("waits skipped after each unanswered poll: %v, want %v", skips, want)
		}
	}
	// An answered poll starts over.
	go func() {
		time.Sleep(2 * time.Millisecond)
		c.Write([]byte("x"))
	}()
	if n, ok := pl.Read(s, buf); !ok || n != 1 {
		t.Fatalf("Read = %d %v, want the byte", n, ok)
	}
	miss()
	if got := pl.skip.Load(); got != 1 {
		t.Fatalf("%d waits skipped after one unanswered poll following an answered one, want 1", got)
	}
	// Declining (another request in progress) is not a miss.
	pl.skip.Store(0)
	pl.misses.Store(0)
	g.Begin()
	miss()
	g.End()
	if pl.skip.Load() != 0 || pl.misses.Load() != 0 {
		t.Fatal("a declined poll counted as unanswered")
	}
}

func waitPolling(t *testing.T, g *Gate) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !g.polling.Load(); {
		if time.Now().After(deadline) {
			t.Fatal("the read never started polling")
		}
		time.Sleep(100 * time.Microsecond)
	}
}

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}
