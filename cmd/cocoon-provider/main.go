// Command cocoon-provider is the binary that runs inside a provider's attested confidential VM.
//
// It links only what a provider needs (no devnet, indexer, client or oracle: deps_test.go enforces
// it), so its measurement, which the registry allow-lists, changes only when the provider's own code
// does. It turns flags into a provider.Config, calls the provider package and prints; the work is
// done there. `cocoon` (cmd/cocoon) remains the CLI with every verb.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/dial"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/inference/backend/embedded"
	"github.com/cocoon-go/cocoon/inference/backend/upstream"
	"github.com/cocoon-go/cocoon/internal/buildinfo"
	"github.com/cocoon-go/cocoon/models"
	"github.com/cocoon-go/cocoon/provider"
)

const usage = `usage: cocoon-provider <command> [flags]

commands:
  serve     serve the OpenAI-compatible API over RA-TLS (TDX or SEV-SNP evidence; --simulated-tee on a devnet)
  version   print the version of this binary

Run 'cocoon-provider serve -h' for its flags.`

// envUpstreamKey holds the upstream server's API key, kept off the command line.
const envUpstreamKey = "COCOON_PROVIDER_UPSTREAM_API_KEY"

// errUsage marks bad command-line input: exit code 2, like the flag package.
var errUsage = errors.New("usage error")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	// The first signal cancels ctx; restoring the default handling lets a second one end the process.
	go func() { <-ctx.Done(); stop() }()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	var err error
	switch args[0] {
	case "serve":
		err = serve(ctx, args[1:], stdout, stderr)
	case "version":
		if len(args) > 1 {
			err = fmt.Errorf("%w: version takes no arguments", errUsage)
		} else {
			fmt.Fprintln(stdout, buildinfo.String("cocoon-provider"))
		}
	case "-h", "--help", "help":
		fmt.Fprintln(stdout, usage)
	default:
		err = fmt.Errorf("%w: unknown command %q\n\n%s", errUsage, args[0], usage)
	}
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(stderr, "cocoon-provider: %v\n", err)
		return 2
	default:
		fmt.Fprintf(stderr, "cocoon-provider: %v\n", err)
		return 1
	}
}

// mapFlag collects repeated NAME=VALUE flags.
type mapFlag map[string]string

func (m mapFlag) String() string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	sort.Strings(parts)
	return strings.Join(parts, ",")
}

func (m mapFlag) Set(s string) error {
	k, v, ok := strings.Cut(s, "=")
	if !ok || k == "" || v == "" {
		return fmt.Errorf("%q is not NAME=UPSTREAM_NAME", s)
	}
	if _, dup := m[k]; dup {
		return fmt.Errorf("model %q given twice", k)
	}
	m[k] = v
	return nil
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", ":8443", "address to serve RA-TLS on")
	model := fs.String("model", "default", "GGUF file the embedded engine serves (\"default\": the embedded demo model "+models.DefaultModelName+")")
	name := fs.String("model-name", "", "the model's registry name, which clients request (default: the file name without extension)")
	pin := fs.String("sha256", "", "the weights' sha256 (the default model's is known; with --registry the catalog's is used)")
	threads := fs.Int("threads", 0, "engine threads; 0 means all cores")
	chatTemplate := fs.String("chat-template", "", "chat template family ("+strings.Join(embedded.Families, ", ")+"); default: from the GGUF")
	upstreamURL := fs.String("upstream", "", "forward to this OpenAI-compatible server's API root (e.g. http://127.0.0.1:8000/v1) instead of the embedded engine; its API key is read from $"+envUpstreamKey)
	upstreamModels := mapFlag{}
	fs.Var(upstreamModels, "upstream-model", "registry name served and the upstream's name for it, NAME=UPSTREAM_NAME (repeat; with --upstream)")
	rpc := fs.String("rpc", "", "toncenter v2 API root of the network, for --registry")
	registry := fs.String("registry", "", "registry address: refuse to start unless every served model has one catalog entry, and pin the embedded weights to its hash")
	sim := fs.Bool("simulated-tee", false, "serve SIMULATED evidence instead of TDX/SEV-SNP: devnet only, NOT A TEE")
	gpu := fs.Bool("gpu", false, "add NVIDIA confidential-computing GPU evidence (needs a build with -tags nvml)")
	certValidity := fs.Duration("cert-validity", 0, "lifetime of each RA-TLS certificate (default 1h)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	cfg := provider.Config{Listen: *listen, SimulatedTEE: *sim, GPU: *gpu, CertValidity: *certValidity,
		Logger: slog.New(slog.NewTextHandler(stderr, nil))}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if *upstreamURL != "" {
		for _, f := range []string{"model", "model-name", "sha256", "threads", "chat-template"} {
			if set[f] {
				return fmt.Errorf("%w: --%s is for the embedded engine, not with --upstream", errUsage, f)
			}
		}
		cfg.Upstream = &upstream.Config{BaseURL: *upstreamURL, APIKey: os.Getenv(envUpstreamKey), Models: upstreamModels}
	} else {
		if len(upstreamModels) > 0 {
			return fmt.Errorf("%w: --upstream-model needs --upstream", errUsage)
		}
		f, err := models.Read(*model)
		if err != nil {
			return err
		}
		if *name != "" {
			f.Name = *name
		}
		expected := *pin
		if expected == "" && f.Path == "" {
			expected = models.DefaultSHA256
		}
		cfg.Embedded = &embedded.Config{ModelName: f.Name, Weights: f.Weights, ExpectedSHA256: expected, Threads: *threads, ChatTemplate: *chatTemplate}
	}
	if *registry != "" {
		addr, err := address.ParseAddr(*registry)
		if err != nil {
			return fmt.Errorf("%w: --registry: %v", errUsage, err)
		}
		if *rpc == "" {
			return fmt.Errorf("%w: --registry needs --rpc", errUsage)
		}
		client, release, err := dial.Dial(ctx, dial.Config{RPC: *rpc})
		if err != nil {
			return fmt.Errorf("%w: --rpc: %v", errUsage, err)
		}
		defer release()
		cfg.Registry = contracts.RegistryClient{Chain: client, Address: addr}
	}

	srv, err := provider.New(cfg)
	if err != nil {
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	if err := srv.Start(ctx); err != nil {
		_ = srv.Stop(context.Background())
		return err
	}
	printInfo(stdout, srv.Info())
	serveErr := srv.Wait(ctx)
	stopCtx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return errors.Join(serveErr, srv.Stop(stopCtx))
}

func printInfo(w io.Writer, in provider.Info) {
	fmt.Fprintf(w, "serving on https://%s/v1 (RA-TLS, %s)\n", in.Addr, in.Kind)
	fmt.Fprintf(w, "tls key hash: %x\n", in.TLSKeyHash)
	if in.Measurement != ([32]byte{}) {
		fmt.Fprintf(w, "WARNING: SIMULATED TEE (devnet only); measurement to allow-list: sim %x\n", in.Measurement)
	}
	for _, m := range in.Models {
		fmt.Fprintf(w, "model: %s", m.Name)
		if m.WeightsSHA256 != "" {
			fmt.Fprintf(w, " sha256 %s", m.WeightsSHA256)
		}
		if m.Catalog != nil {
			fmt.Fprintf(w, " registry id %d", m.Catalog.ID)
		}
		fmt.Fprintln(w)
	}
}
