package devnet

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

// Server serves a devnet's Handler on a TCP address. Start/Stop follow the daemon lifecycle:
// Stop is idempotent and skips what never started.
type Server struct {
	Devnet *Devnet
	// Listen is the address to listen on, e.g. "127.0.0.1:8081" (":0" picks a free port).
	Listen string
	Log    *slog.Logger

	mu   sync.Mutex
	ln   net.Listener
	srv  *http.Server
	done chan error
}

// ErrServerStarted is Start called twice.
var ErrServerStarted = errors.New("devnet server already started")

// Start listens and serves in the background.
func (s *Server) Start(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil {
		return ErrServerStarted
	}
	if s.Devnet == nil {
		return fmt.Errorf("%w: devnet server needs a Devnet", ErrBadConfig)
	}
	log := s.Log
	if log == nil {
		log = slog.Default()
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", s.Listen)
	if err != nil {
		return fmt.Errorf("failed to listen on %q: %w", s.Listen, err)
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s.Devnet.Handler(), ReadHeaderTimeout: 10 * time.Second}
	srv, done := s.srv, make(chan error, 1)
	s.done = done
	go func() {
		err := srv.Serve(ln)
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		done <- err
	}()
	log.Info("devnet serving toncenter v2 API", "url", "http://"+ln.Addr().String()+"/api/v2/")
	return nil
}

// Addr is the address actually listened on, or "" before Start.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Stop shuts the HTTP server down gracefully (until ctx ends) and waits for it.
func (s *Server) Stop(ctx context.Context) error {
	s.mu.Lock()
	srv, done := s.srv, s.done
	s.srv, s.done = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	err := srv.Shutdown(ctx)
	if err != nil {
		err = errors.Join(err, srv.Close())
	}
	return errors.Join(err, <-done)
}
