package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestOracleVerbs: the key verbs print the public key the registry is given; `oracle run` reports every
// configuration problem at once (exit 2), taking flags from COCOON_ORACLE_* too.
func TestOracleVerbs(t *testing.T) {
	var out bytes.Buffer
	saved := oracleOut
	oracleOut = &out
	defer func() { oracleOut = saved }()
	path := filepath.Join(t.TempDir(), "o", "oracle.key")
	var errb bytes.Buffer
	if code := run([]string{"oracle", "key", "new", "--out", path}, &out, &errb); code != 0 {
		t.Fatalf("key new: exit %d: %s", code, errb.String())
	}
	created := out.String()
	out.Reset()
	if code := run([]string{"oracle", "key", "show", "--key", path}, &out, &errb); code != 0 {
		t.Fatalf("key show: exit %d: %s", code, errb.String())
	}
	if !strings.Contains(created, out.String()) || !strings.HasPrefix(out.String(), "public key: ") || len(out.String()) != len("public key: ")+64+1 {
		t.Fatalf("key new printed %q, key show %q", created, out.String())
	}
	if code := run([]string{"oracle", "key", "new", "--out", path}, &out, &errb); code != 1 || !strings.Contains(errb.String(), "already exists") {
		t.Fatalf("a second key new: exit %d: %s", code, errb.String())
	}

	env := map[string]string{"COCOON_ORACLE_EPOCH": "90m"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	errb.Reset()
	err := oracleRun(context.Background(), []string{"--concurrency", "0"}, lookup, &errb)
	if err == nil {
		t.Fatal("oracle run without a registry started")
	}
	for _, want := range []string{"--registry", "--oracle-key-file", "--concurrency"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	if strings.Contains(err.Error(), "--epoch") {
		t.Errorf("COCOON_ORACLE_EPOCH=90m was not taken: %v", err)
	}
	env["COCOON_ORACLE_EPOCH"] = "1500ms"
	if err := oracleRun(context.Background(), nil, lookup, &errb); err == nil || !strings.Contains(err.Error(), "--epoch") {
		t.Errorf("a fractional epoch from the environment: %v", err)
	}
}
