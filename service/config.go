package service

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"strconv"
	"time"
)

// ErrConfig is wrapped by every configuration problem that Check methods report, so a main
// can tell bad configuration (exit 2, like bad flags) from a failure at run time.
var ErrConfig = errors.New("invalid configuration")

// FieldError is one configuration problem, in plain English, naming the field and its flag:
// `metrics listen address (--metrics-listen) must be host:port, got "9090"`.
type FieldError struct {
	Field   string // the field in words: "metrics listen address"
	Flag    string // the flag that sets it, without dashes; "" when none does
	Problem string // what is wrong: `must be host:port, got "9090"`
}

func (e *FieldError) Error() string {
	if e.Flag == "" {
		return e.Field + " " + e.Problem
	}
	return e.Field + " (--" + e.Flag + ") " + e.Problem
}

func (e *FieldError) Unwrap() error { return ErrConfig }

// Invalid builds a FieldError; Check methods return one per problem, joined with errors.Join
// so that an operator sees every problem at once.
func Invalid(field, flagName, format string, args ...any) error {
	return &FieldError{Field: field, Flag: flagName, Problem: fmt.Sprintf(format, args...)}
}

// CheckListen checks a host:port listen address (host may be empty, port 0 picks a free one).
// optional allows "" (the part is off).
func CheckListen(field, flagName, addr string, optional bool) error {
	if addr == "" {
		if optional {
			return nil
		}
		return Invalid(field, flagName, "is required (host:port)")
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return Invalid(field, flagName, "must be host:port, got %q", addr)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return Invalid(field, flagName, "has port %q, want a number from 0 to 65535", port)
	}
	return nil
}

// Config is what every daemon's configuration holds for the service shape itself: logging,
// the metrics listener and the drain timeout. A daemon's Config embeds it, calls AddFlags
// from its own AddFlags and Check from its own Check.
type Config struct {
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// LogFormat is text (logfmt-like, for people) or json (one object a line, for machines).
	LogFormat string
	// MetricsListen is the host:port serving /metrics and /healthz; "" turns it off.
	MetricsListen string
	// DrainTimeout bounds the graceful stop after the first interrupt.
	DrainTimeout time.Duration
}

// DefaultConfig is the service part of a daemon's default configuration.
func DefaultConfig() Config {
	return Config{LogLevel: "info", LogFormat: "text", DrainTimeout: DefaultDrainTimeout}
}

// AddFlags registers --log-level, --log-format, --metrics-listen and --drain-timeout on fs,
// with c's current values as defaults.
func (c *Config) AddFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "log level: debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "log format: text or json")
	fs.StringVar(&c.MetricsListen, "metrics-listen", c.MetricsListen, "host:port serving /metrics and /healthz (empty: off)")
	fs.DurationVar(&c.DrainTimeout, "drain-timeout", c.DrainTimeout, "how long the first interrupt waits for a graceful stop")
}

// Check reports every problem in c, joined.
func (c Config) Check() error {
	var errs []error
	_, err := logLevel(c.LogLevel)
	errs = append(errs, err, checkLogFormat(c.LogFormat))
	errs = append(errs, CheckListen("metrics listen address", "metrics-listen", c.MetricsListen, true))
	if c.DrainTimeout <= 0 {
		errs = append(errs, Invalid("drain timeout", "drain-timeout", "must be positive, got %v", c.DrainTimeout))
	}
	return errors.Join(errs...)
}
