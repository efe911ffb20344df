package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	var out, errb bytes.Buffer
	// version writes to os.Stdout; only the exit code and stderr are checked here.
	if code := run([]string{"version"}, &out, &errb); code != 0 {
		t.Fatalf("exit code %d, stderr %q", code, errb.String())
	}
	if !strings.HasPrefix(versionString(), "cocoon ") {
		t.Fatalf("version string %q", versionString())
	}
}

func TestUnknownCommandIsUsageError(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"no-such-command"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
	if !strings.Contains(errb.String(), `unknown command "no-such-command"`) {
		t.Fatalf("stderr %q", errb.String())
	}
}

func TestVersionRejectsArguments(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"version", "extra"}, &out, &errb); code != 2 {
		t.Fatalf("exit code %d, want 2", code)
	}
}
