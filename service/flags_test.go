package service_test

import (
	"bytes"
	"errors"
	"flag"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/service"
)

func TestEnvName(t *testing.T) {
	for flagName, want := range map[string]string{
		"listen":         "COCOON_PROVIDER_LISTEN",
		"metrics-listen": "COCOON_PROVIDER_METRICS_LISTEN",
		"tls.cert":       "COCOON_PROVIDER_TLS_CERT",
	} {
		if got := service.EnvName("COCOON_PROVIDER", flagName); got != want {
			t.Errorf("EnvName(%q) = %q, want %q", flagName, got, want)
		}
	}
}

type testFlags struct {
	listen  string
	workers int
	verbose bool
	wait    time.Duration
}

func newTestFlags() (*flag.FlagSet, *testFlags, *bytes.Buffer) {
	var v testFlags
	var out bytes.Buffer
	fs := flag.NewFlagSet("test", flag.ContinueOnError)
	fs.SetOutput(&out)
	fs.StringVar(&v.listen, "listen", "127.0.0.1:1", "listen address")
	fs.IntVar(&v.workers, "workers", 1, "worker count")
	fs.BoolVar(&v.verbose, "verbose", false, "say more")
	fs.DurationVar(&v.wait, "max-wait", time.Second, "longest wait")
	return fs, &v, &out
}

// Flags win over the environment, the environment over defaults.
func TestParseFlagsPrecedence(t *testing.T) {
	fs, v, _ := newTestFlags()
	env := map[string]string{
		"COCOON_TEST_LISTEN":   "from-env:1",
		"COCOON_TEST_WORKERS":  "5",
		"COCOON_TEST_VERBOSE":  "true",
		"COCOON_TEST_MAX_WAIT": "3m",
		"OTHER_WORKERS":        "9",
	}
	if err := service.ParseFlags(fs, []string{"--listen", "from-flag:2", "--max-wait=2s", "rest"}, "COCOON_TEST", envMap(env)); err != nil {
		t.Fatal(err)
	}
	want := testFlags{listen: "from-flag:2", workers: 5, verbose: true, wait: 2 * time.Second}
	if *v != want {
		t.Fatalf("got %+v, want %+v", *v, want)
	}
	if !reflect.DeepEqual(fs.Args(), []string{"rest"}) {
		t.Fatalf("positional arguments %q", fs.Args())
	}

	fs, v, _ = newTestFlags()
	if err := service.ParseFlags(fs, nil, "COCOON_TEST", envMap(nil)); err != nil {
		t.Fatal(err)
	}
	if want := (testFlags{listen: "127.0.0.1:1", workers: 1, wait: time.Second}); *v != want {
		t.Fatalf("defaults: got %+v", *v)
	}
}

func TestParseFlagsBadEnvironment(t *testing.T) {
	fs, _, _ := newTestFlags()
	err := service.ParseFlags(fs, nil, "COCOON_TEST", envMap(map[string]string{"COCOON_TEST_WORKERS": "many"}))
	if err == nil || !strings.Contains(err.Error(), `invalid value "many" for $COCOON_TEST_WORKERS (flag --workers)`) {
		t.Fatalf("error %v", err)
	}
	// The same value given as a flag is the flag package's error, and the environment is not read.
	fs, _, _ = newTestFlags()
	if err := service.ParseFlags(fs, []string{"--workers", "2"}, "COCOON_TEST", envMap(map[string]string{"COCOON_TEST_WORKERS": "many"})); err != nil {
		t.Fatalf("a bad variable behind a given flag: %v", err)
	}
}

func TestParseFlagsHelpShowsEnvNames(t *testing.T) {
	fs, _, out := newTestFlags()
	err := service.ParseFlags(fs, []string{"-h"}, "COCOON_TEST", envMap(nil))
	if !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
	for _, want := range []string{"worker count ($COCOON_TEST_WORKERS)", "longest wait ($COCOON_TEST_MAX_WAIT)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, out)
		}
	}
	// Parsing again does not repeat the name.
	_ = service.ParseFlags(fs, nil, "COCOON_TEST", envMap(nil))
	if u := fs.Lookup("workers").Usage; strings.Count(u, "$COCOON_TEST_WORKERS") != 1 {
		t.Fatalf("usage %q", u)
	}
}

func TestUnknownEnv(t *testing.T) {
	fs, _, _ := newTestFlags()
	got := service.UnknownEnv(fs, "COCOON_TEST", []string{
		"COCOON_TEST_LISTEN=x", "COCOON_TEST_WORKRS=3", "COCOON_TESTING=1", "COCOON_TEST_A=b=c", "PATH=/bin",
	})
	if want := []string{"COCOON_TEST_A", "COCOON_TEST_WORKRS"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("UnknownEnv = %q, want %q", got, want)
	}
}
