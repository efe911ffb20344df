// Package provider is the provider daemon: what runs inside the attested confidential VM.
//
// Today it serves the OpenAI-compatible API (inference/httpapi) of one backend (the embedded engine
// or an upstream server) over RA-TLS: the TLS key is generated in the VM and every certificate
// carries TEE evidence binding it (attest.Issuer); fresh evidence for a nonce is served at
// attest.EvidencePath on the same listener. With a registry it refuses to start unless every model
// it serves has one entry in the registry's catalog and the embedded weights hash to that entry's
// weights hash. Admission, payment, metering, receipts and settlement come with the provider daemon
// proper; they will live here too.
//
// The simulated TEE exists only when Config.SimulatedTEE says so (devnet only): it is never a
// fallback, and every log line of a simulated provider carries tee="sim (SIMULATED, NOT A TEE)".
package provider

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cocoon-go/cocoon/attest"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/backend/upstream"
	"github.com/cocoon-go/cocoon/inference/httpapi"
)

// ModelResolver looks a model's registry name up in the registry's catalog
// (contracts.RegistryClient implements it over get_models).
type ModelResolver interface {
	ResolveModel(ctx context.Context, name string) (contracts.Model, error)
}

// Config is what the provider serves and how it attests.
type Config struct {
	// Listen is the RA-TLS address, e.g. ":8443"; port 0 picks a free port (see Server.Addr).
	Listen string
	// Embedded serves a GGUF model with the in-process engine; Upstream forwards to an
	// OpenAI-compatible server in the VM. Exactly one is set. Embedded.ExpectedSHA256 may be empty
	// only with a Registry, which then supplies it.
	Embedded *embedded.Config
	Upstream *upstream.Config
	// Registry, when set, is checked at start: every served model name must resolve to exactly one
	// catalog entry, and embedded weights must have that entry's weights hash.
	Registry ModelResolver
	// SimulatedTEE serves simulated evidence instead of TDX/SEV-SNP: devnet only, never a fallback.
	SimulatedTEE bool
	// SimImage is the simulated image measurement; zero means attest.DevnetSimImage.
	SimImage [48]byte
	// GPU adds NVIDIA confidential-computing GPU evidence (a binary built with -tags nvml).
	GPU bool
	// CertValidity of each RA-TLS certificate; zero means attest.DefaultCertValidity.
	CertValidity time.Duration
	// Logger; nil means slog.Default().
	Logger *slog.Logger
}

// Check reports a configuration that cannot work, in plain English.
func (c *Config) Check() error {
	if c.Listen == "" {
		return errors.New("provider: the listen address is empty")
	}
	switch {
	case c.Embedded == nil && c.Upstream == nil:
		return errors.New("provider: no backend: serve a GGUF model (embedded) or forward to an upstream server")
	case c.Embedded != nil && c.Upstream != nil:
		return errors.New("provider: both an embedded model and an upstream server are configured; choose one")
	case c.Embedded != nil && c.Embedded.ExpectedSHA256 == "" && c.Registry == nil:
		return errors.New("provider: the embedded model's weights are not pinned: give their sha256 or a registry to look it up in")
	case c.Upstream != nil:
		if err := c.Upstream.Check(); err != nil {
			return fmt.Errorf("provider: %w", err)
		}
	}
	if c.SimImage != ([48]byte{}) && !c.SimulatedTEE {
		return errors.New("provider: a simulated image is set but the simulated TEE is not enabled")
	}
	if c.CertValidity < 0 {
		return fmt.Errorf("provider: certificate validity %s is negative", c.CertValidity)
	}
	return nil
}

// Server is a running provider. Start it once; Stop is idempotent.
type Server struct {
	cfg Config
	log *slog.Logger

	kind    attest.Kind
	backend backend.Backend
	models  []backend.Model
	catalog map[string]contracts.Model // by name; empty without a registry
	issuer  *attest.Issuer
	ln      net.Listener
	http    *http.Server
	failed  chan error // receives the serve error when serving stops by itself

	stopOnce sync.Once
	stopErr  error
}

// New checks cfg; nothing starts until Start.
func New(cfg Config) (*Server, error) {
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.SimulatedTEE && cfg.SimImage == ([48]byte{}) {
		cfg.SimImage = attest.DevnetSimImage
	}
	return &Server{cfg: cfg, log: cfg.Logger, failed: make(chan error, 1)}, nil
}

// Start resolves the served models in the registry (if any), loads the backend, obtains TEE
// evidence for a fresh TLS key and starts serving. On error nothing keeps running.
func (s *Server) Start(ctx context.Context) error {
	attester, err := s.initAttester()
	if err != nil {
		return err
	}
	// From here on every line says which TEE this is: loud when it is none.
	s.kind = attester.Kind()
	s.log = s.log.With("tee", s.kind.String())
	if s.cfg.SimulatedTEE {
		s.log.Warn("SIMULATED TEE: this provider runs in no TEE and its attestation proves nothing; devnet only")
	}
	if err := s.initBackend(ctx); err != nil {
		return err
	}
	if err := s.initIssuer(ctx, attester); err != nil {
		return err
	}
	return s.initListener()
}

func (s *Server) initAttester() (attest.Attester, error) {
	if s.cfg.SimulatedTEE {
		return attest.NewSimAttester(s.cfg.SimImage), nil
	}
	a, err := attest.DetectAttester()
	if err != nil {
		return nil, fmt.Errorf("provider: no TEE to attest with (the simulated TEE is for the devnet only and must be asked for): %w", err)
	}
	return a, nil
}

// initBackend resolves the model names in the registry first, so that embedded weights are pinned
// to the catalog's hash before they are loaded.
func (s *Server) initBackend(ctx context.Context) error {
	names := s.servedNames()
	s.catalog = map[string]contracts.Model{}
	if s.cfg.Registry != nil {
		for _, name := range names {
			m, err := s.cfg.Registry.ResolveModel(ctx, name)
			if err != nil {
				return fmt.Errorf("provider: refusing to serve model %q: %w", name, err)
			}
			s.catalog[name] = m
		}
	}
	if s.cfg.Embedded != nil {
		ec := *s.cfg.Embedded
		if m, ok := s.catalog[ec.ModelName]; ok {
			registered := fmt.Sprintf("%x", m.WeightsHash)
			if ec.ExpectedSHA256 != "" && !strings.EqualFold(ec.ExpectedSHA256, registered) {
				return fmt.Errorf("provider: %w: model %q is pinned to sha256 %s but the registry lists %s",
					backend.ErrHashMismatch, ec.ModelName, strings.ToLower(ec.ExpectedSHA256), registered)
			}
			ec.ExpectedSHA256 = registered
		}
		b, err := embedded.New(ec)
		if err != nil {
			return fmt.Errorf("provider: %w", err)
		}
		s.backend = b
	} else {
		b, err := upstream.New(*s.cfg.Upstream)
		if err != nil {
			return fmt.Errorf("provider: %w", err)
		}
		s.backend = b
	}
	models, err := s.backend.Models(ctx)
	if err != nil {
		return fmt.Errorf("provider: failed to list the backend's models: %w", err)
	}
	s.models = models
	return nil
}

// servedNames are the registry names the configured backend will serve.
func (s *Server) servedNames() []string {
	if s.cfg.Embedded != nil {
		return []string{s.cfg.Embedded.ModelName}
	}
	var names []string
	for name := range s.cfg.Upstream.Models {
		names = append(names, name)
	}
	return names
}

func (s *Server) initIssuer(ctx context.Context, attester attest.Attester) error {
	ic := attest.IssuerConfig{Attester: attester, Validity: s.cfg.CertValidity, Logger: s.log}
	if s.cfg.GPU {
		gpu, err := attest.NewNVMLAttester()
		if err != nil {
			return fmt.Errorf("provider: GPU evidence: %w", err)
		}
		ic.GPU = gpu
	}
	is, err := attest.NewIssuer(ctx, ic)
	if err != nil {
		return fmt.Errorf("provider: failed to set up RA-TLS: %w", err)
	}
	s.issuer = is
	return nil
}

func (s *Server) initListener() error {
	opts := []httpapi.Option{httpapi.WithLogger(s.log), httpapi.WithResultHook(s.logResult)}
	if len(s.models) == 1 && s.models[0].WeightsSHA256 != "" {
		opts = append(opts, httpapi.WithSystemFingerprint(httpapi.Fingerprint(s.models[0].WeightsSHA256)))
	}
	mux := http.NewServeMux()
	mux.Handle(attest.EvidencePath, s.issuer.EvidenceHandler())
	mux.Handle("/", httpapi.NewHandler(s.backend, opts...))
	ln, err := net.Listen("tcp", s.cfg.Listen)
	if err != nil {
		return fmt.Errorf("provider: failed to listen on %s: %w", s.cfg.Listen, err)
	}
	s.ln = ln
	s.http = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	tlsLn := tls.NewListener(ln, s.issuer.TLSConfig())
	go func() {
		if err := s.http.Serve(tlsLn); !errors.Is(err, http.ErrServerClosed) {
			s.failed <- fmt.Errorf("provider: serving stopped: %w", err)
		}
	}()
	s.log.Info("serving the OpenAI-compatible API over RA-TLS", "addr", ln.Addr().String(),
		"tls_key_hash", fmt.Sprintf("%x", s.issuer.KeyHash()), "models", len(s.models))
	return nil
}

// logResult records every inference request's usage (what the daemon will bill).
func (s *Server) logResult(_ *http.Request, req backend.Request, res backend.Result, err error) {
	attrs := []any{"model", req.Model, "prompt_tokens", res.Usage.PromptTokens, "completion_tokens", res.Usage.CompletionTokens}
	if m, ok := s.catalog[req.Model]; ok {
		attrs = append(attrs, "model_id", m.ID)
	}
	if err != nil {
		s.log.Info("inference failed", append(attrs, "err", err)...)
		return
	}
	s.log.Info("inference done", append(attrs, "finish", res.FinishReason)...)
}

// Wait blocks until ctx is done (nil) or serving stops by itself (its error).
func (s *Server) Wait(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-s.failed:
		return err
	}
}

// Stop stops serving, waiting for requests in flight until ctx ends. It is idempotent and safe on
// a Server that never started or started only partly.
func (s *Server) Stop(ctx context.Context) error {
	s.stopOnce.Do(func() {
		if s.http != nil {
			if err := s.http.Shutdown(ctx); err != nil {
				s.stopErr = fmt.Errorf("provider: failed to shut down: %w", err)
			}
		} else if s.ln != nil {
			s.stopErr = s.ln.Close()
		}
	})
	return s.stopErr
}

// Info describes a started server.
type Info struct {
	Addr       string // host:port served
	Kind       attest.Kind
	TLSKeyHash [32]byte
	// Measurement is the allow-list value of a simulated TEE (hardware kinds are measured by their
	// image build, see attest.MeasurementFromRegisters); zero otherwise.
	Measurement [32]byte
	Models      []ServedModel
}

// ServedModel is one model served, with its catalog entry when a registry was checked.
type ServedModel struct {
	backend.Model
	// Catalog is the registry's entry for Name; nil without a registry.
	Catalog *contracts.Model
}

// Info describes the server; call it after Start.
func (s *Server) Info() Info {
	in := Info{Addr: s.ln.Addr().String(), Kind: s.kind, TLSKeyHash: s.issuer.KeyHash()}
	if s.kind == attest.KindSim {
		in.Measurement = attest.SimMeasurement(s.cfg.SimImage)
	}
	for _, m := range s.models {
		sm := ServedModel{Model: m}
		if c, ok := s.catalog[m.Name]; ok {
			sm.Catalog = &c
		}
		in.Models = append(in.Models, sm)
	}
	return in
}
