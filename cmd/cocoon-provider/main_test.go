package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func noEnv(string) (string, bool) { return "", false }

func TestVersionAndUsage(t *testing.T) {
	var out, errb strings.Builder
	if code := run(context.Background(), []string{"version"}, noEnv, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "cocoon-provider ") {
		t.Fatalf("version: %d %q %q", code, out.String(), errb.String())
	}
	for _, args := range [][]string{
		nil,
		{"version", "extra"},
		{"explorer"},
		{"serve", "--simulated-tee"}, // gone: no unpaid mode
		{"run"},                      // no config
		{"run", "--config", "/nonexistent/provider.json"},
		{"run", "--no-such-flag"},
	} {
		var out, errb strings.Builder
		if code := run(context.Background(), args, noEnv, &out, &errb); code != 2 || errb.Len() == 0 {
			t.Errorf("%q: exit %d, stderr %q, want 2 and a message", args, code, errb.String())
		}
	}
}

// Configuration errors name the field (the file's JSON path, and the flag where one sets it) and
// exit 2 before anything starts; flags and COCOON_PROVIDER_* variables override the file.
func TestConfigErrorsNameTheField(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name, body string
		args       []string
		env        map[string]string
		want       []string
	}{
		{"unknown field", `{"registry":"x","setlement":{}}`, nil, nil, []string{"setlement", "is not a field"}},
		{"wrong type", `{"listen":8443}`, nil, nil, []string{"cocoon-provider: listen in ", "wrong type"}},
		{"bad values", `{"network":"devnet","registry":"nope","owner":"","wallet_key_file":"w.key","tee":"sgx",
			"backend":{"kind":"upstream","url":"ftp://x"},"models":[{"name":"m"},{"name":"m","prompt_price_ton":"-1"}],
			"settlement":{"threshold_ton":"0","interval":"30s","max_age":"1h"}}`, nil, nil,
			[]string{"registry is not a TON address", "owner is required", "tee (--tee) must be auto, tdx, snp or sim", "backend.url",
				"models[0].context_length is required", `models[1].name "m" is listed twice`, "models[1].prompt_price_ton",
				"settlement.threshold_ton must be a positive amount"}},
		{"busy poll too long", `{"busy_poll":"1s"}`, nil, nil, []string{"busy_poll must be between 0 (off) and 10ms"}},
		{"busy poll negative", `{"busy_poll":"-1ms"}`, nil, nil, []string{"busy_poll must be between 0 (off) and 10ms"}},
		{"busy poll not a duration", `{"busy_poll":"fast"}`, nil, nil, []string{"cocoon-provider: busy_poll in ", `must be a duration such as "30s" or "200µs", not "fast"`}},
		{"duration of the wrong type", `{"settlement":{"interval":30}}`, nil, nil, []string{"cocoon-provider: settlement.interval in ", `must be a duration such as "30s" or "200µs", not 30`}},
		{"sim image", `{"tee":"sim","sim_image":"abcd"}`, nil, nil, []string{"sim_image must be 48 bytes in hex"}},
		{"sim image without sim", `{"tee":"tdx","sim_image":"abcd"}`, nil, nil, []string{"sim_image is the simulated TEE's image: set it only with tee sim"}},
		{"flag overrides the file", `{"listen":":8443"}`, []string{"--listen", "nonsense"}, nil, []string{"listen (--listen) must be host:port"}},
		{"environment overrides the file", `{"log_level":"info"}`, nil, map[string]string{"COCOON_PROVIDER_LOG_LEVEL": "loud"},
			[]string{"log level (--log-level) must be debug, info, warn or error"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write(strings.ReplaceAll(c.name, " ", "-")+".json", c.body)
			env := func(k string) (string, bool) { v, ok := c.env[k]; return v, ok }
			var out, errb strings.Builder
			code := run(context.Background(), append([]string{"run", "--config", path}, c.args...), env, &out, &errb)
			if code != 2 {
				t.Fatalf("exit %d, want 2; stderr:\n%s", code, errb.String())
			}
			for _, w := range c.want {
				if !strings.Contains(errb.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, errb.String())
				}
			}
		})
	}
}
