package service_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/cocoon-go/cocoon/service"
)

func TestConfigCheck(t *testing.T) {
	if err := service.DefaultConfig().Check(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	ok := service.DefaultConfig()
	ok.LogLevel, ok.LogFormat, ok.MetricsListen = "WARN", "json", ":9090"
	if err := ok.Check(); err != nil {
		t.Fatalf("valid config: %v", err)
	}
	for _, tc := range []struct {
		change func(*service.Config)
		want   string
	}{
		{func(c *service.Config) { c.LogLevel = "verbose" }, `log level (--log-level) must be debug, info, warn or error, got "verbose"`},
		{func(c *service.Config) { c.LogFormat = "" }, `log format (--log-format) must be text or json, got ""`},
		{func(c *service.Config) { c.MetricsListen = "9090" }, `metrics listen address (--metrics-listen) must be host:port, got "9090"`},
		{func(c *service.Config) { c.MetricsListen = "localhost:http" }, `metrics listen address (--metrics-listen) has port "http", want a number from 0 to 65535`},
		{func(c *service.Config) { c.MetricsListen = "localhost:70000" }, `has port "70000"`},
		{func(c *service.Config) { c.DrainTimeout = 0 }, `drain timeout (--drain-timeout) must be positive, got 0s`},
	} {
		c := service.DefaultConfig()
		tc.change(&c)
		err := c.Check()
		if err == nil || !strings.Contains(err.Error(), tc.want) || !errors.Is(err, service.ErrConfig) {
			t.Errorf("Check() = %v, want %q wrapping ErrConfig", err, tc.want)
		}
	}
	// Every problem at once.
	bad := service.Config{LogLevel: "loud", LogFormat: "xml", MetricsListen: "x", DrainTimeout: -1}
	if err := bad.Check(); err == nil || strings.Count(err.Error(), "\n") != 3 {
		t.Fatalf("want four problems, got %v", err)
	}
}

func TestCheckListen(t *testing.T) {
	if err := service.CheckListen("API address", "listen", "", false); err == nil || err.Error() != "API address (--listen) is required (host:port)" {
		t.Fatalf("required: %v", err)
	}
	for _, ok := range []string{"127.0.0.1:0", ":8080", "[::1]:443", "localhost:65535"} {
		if err := service.CheckListen("x", "x", ok, false); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	if err := (&service.FieldError{Field: "key file", Problem: "is missing"}); err.Error() != "key file is missing" {
		t.Fatalf("a field without a flag: %q", err)
	}
}

func TestNewLogger(t *testing.T) {
	var buf bytes.Buffer
	log, err := service.NewLogger(&buf, "oracle", service.Config{LogLevel: "info", LogFormat: "json"})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("hidden")
	log.Info("vote sent", "provider", "EQabc")
	var rec map[string]any
	if err := json.Unmarshal(buf.Bytes(), &rec); err != nil {
		t.Fatalf("not one JSON record: %q", buf.String())
	}
	if rec["msg"] != "vote sent" || rec["daemon"] != "oracle" || rec["provider"] != "EQabc" || rec["level"] != "INFO" {
		t.Fatalf("record %v", rec)
	}

	buf.Reset()
	log, err = service.NewLogger(&buf, "indexer", service.Config{LogLevel: "debug", LogFormat: "text"})
	if err != nil {
		t.Fatal(err)
	}
	log.Debug("shown")
	if s := buf.String(); !strings.Contains(s, "level=DEBUG msg=shown daemon=indexer") {
		t.Fatalf("text record %q", s)
	}

	if _, err := service.NewLogger(&buf, "x", service.Config{LogLevel: "info", LogFormat: "yaml"}); !errors.Is(err, service.ErrConfig) {
		t.Fatalf("bad format: %v", err)
	}
	if _, err := service.NewLogger(&buf, "x", service.Config{LogLevel: "trace", LogFormat: "text"}); !errors.Is(err, service.ErrConfig) {
		t.Fatalf("bad level: %v", err)
	}
}
