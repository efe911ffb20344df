package service

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// ParseLogLevel reads debug, info, warn (or warning) and error, in any case.
func ParseLogLevel(s string) (slog.Level, error) {
	switch strings.ToLower(s) {
	case "debug":
		return slog.LevelDebug, nil
	case "info":
		return slog.LevelInfo, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q", s)
}

// NewLogger builds the daemon's logger from c.LogLevel and c.LogFormat, writing to w (a
// daemon's stderr): text for people, json for log collectors. Every record carries
// daemon=name.
func NewLogger(w io.Writer, name string, c Config) (*slog.Logger, error) {
	level, err := logLevel(c.LogLevel)
	if err != nil {
		return nil, err
	}
	if err := checkLogFormat(c.LogFormat); err != nil {
		return nil, err
	}
	opts := &slog.HandlerOptions{Level: level}
	var h slog.Handler = slog.NewTextHandler(w, opts)
	if c.LogFormat == "json" {
		h = slog.NewJSONHandler(w, opts)
	}
	return slog.New(h).With("daemon", name), nil
}

// logLevel is ParseLogLevel with Config's error message.
func logLevel(s string) (slog.Level, error) {
	level, err := ParseLogLevel(s)
	if err != nil {
		return 0, Invalid("log level", "log-level", "must be debug, info, warn or error, got %q", s)
	}
	return level, nil
}

func checkLogFormat(s string) error {
	if s != "text" && s != "json" {
		return Invalid("log format", "log-format", "must be text or json, got %q", s)
	}
	return nil
}
