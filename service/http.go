package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"
)

// HTTPServer is an HTTP listener run as a part of a daemon: StartHTTP binds and serves in the
// background, Stop shuts it down gracefully (in-flight requests finish) until its context
// ends and then closes what is left.
type HTTPServer struct {
	name string
	log  *slog.Logger
	ln   net.Listener
	srv  *http.Server
	done chan error // receives Serve's result once

	stopOnce sync.Once
	stopErr  error
}

// StartHTTP listens on addr ("127.0.0.1:0" picks a free port) and serves h in the background.
// name says what the listener is for in logs ("api", "metrics"). The listener is bound when
// StartHTTP returns, so Addr is final and a port in use fails here, not later.
func StartHTTP(ctx context.Context, log *slog.Logger, name, addr string, h http.Handler) (*HTTPServer, error) {
	if log == nil {
		log = slog.Default()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("failed to listen on %s for %s: %w", addr, name, err)
	}
	s := &HTTPServer{
		name: name,
		log:  log,
		ln:   ln,
		srv:  &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second},
		done: make(chan error, 1),
	}
	go func() {
		err := s.srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.done <- err
	}()
	log.Info("listening", "part", name, "addr", s.Addr())
	return s, nil
}

// Addr is the bound address, e.g. "127.0.0.1:40123"; "" on a nil server (a part that is off or
// not started), so a daemon's accessors need no check of their own.
func (s *HTTPServer) Addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// URL is "http://" + Addr(); "" on a nil server.
func (s *HTTPServer) URL() string {
	if s == nil {
		return ""
	}
	return "http://" + s.Addr()
}

// Stop stops accepting connections, waits for in-flight requests until ctx ends, then closes
// the remaining connections. Calls after the first return the first's result.
func (s *HTTPServer) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		err := s.srv.Shutdown(ctx)
		if err != nil {
			err = errors.Join(fmt.Errorf("%s did not drain: %w", s.name, err), s.srv.Close())
		}
		s.stopErr = errors.Join(err, <-s.done)
	})
	return s.stopErr
}
