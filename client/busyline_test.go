package client

import (
	"context"
	"testing"
	"time"
)

func closed(ch chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// The line serves in order of arrival; one that leaves from the middle or the front passes the turn on.
func TestBusyLineOrder(t *testing.T) {
	var b busyLine
	a, c, d := b.join(), b.join(), b.join()
	if !closed(a) || closed(c) || closed(d) || b.waiting() != 3 {
		t.Fatal("the first to join is first, the others wait")
	}
	b.leave(c) // gave up in the middle
	if closed(d) {
		t.Fatal("leaving from the middle passed the turn")
	}
	first, err := b.wait(context.Background(), d, time.Now().Add(20*time.Millisecond))
	if first || err != nil {
		t.Fatalf("waiting behind the first: %v %v", first, err)
	}
	go func() { time.Sleep(10 * time.Millisecond); b.leave(a) }()
	first, err = b.wait(context.Background(), d, time.Now().Add(5*time.Second))
	if !first || err != nil {
		t.Fatalf("the first left, the next is first: %v %v", first, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := b.join()
	cancel()
	if _, err := b.wait(ctx, e, time.Now().Add(5*time.Second)); err != context.Canceled {
		t.Fatalf("a request whose context ended: %v", err)
	}
	b.leave(e)
	b.leave(d)
	if b.waiting() != 0 {
		t.Fatal("the line is not empty")
	}
	var lines busyLines
	if lines.of(1) != lines.of(1) || lines.of(1) == lines.of(2) {
		t.Fatal("one line per model")
	}
}
