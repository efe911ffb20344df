package indexer_test

import (
	"flag"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cocoon-go/cocoon/indexer"
	"github.com/cocoon-go/cocoon/service"
)

// TestOracleAPIConfig: --oracle-api repeats (and takes several URLs at once, as
// COCOON_INDEXER_ORACLE_API does), and Check refuses what is not an http(s) URL.
func TestOracleAPIConfig(t *testing.T) {
	parse := func(args []string, env map[string]string) indexer.Config {
		t.Helper()
		cfg := indexer.DefaultConfig()
		fs := flag.NewFlagSet("indexer run", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		cfg.AddFlags(fs)
		require.NoError(t, service.ParseFlags(fs, args, indexer.EnvPrefix, func(k string) (string, bool) { v, ok := env[k]; return v, ok }))
		cfg.Registry, cfg.DataDir = "0:"+strings.Repeat("0", 64), t.TempDir()
		return cfg
	}
	cfg := parse([]string{"--oracle-api", "http://a:8090", "--oracle-api", "https://b.example/base,http://c:1"}, nil)
	require.Equal(t, []string{"http://a:8090", "https://b.example/base", "http://c:1"}, cfg.OracleAPIs)
	require.NoError(t, cfg.Check())

	cfg = parse(nil, map[string]string{"COCOON_INDEXER_ORACLE_API": "http://a:1, http://b:2", "COCOON_INDEXER_ORACLE_POLL": "5s"})
	require.Equal(t, []string{"http://a:1", "http://b:2"}, cfg.OracleAPIs)
	require.Equal(t, "5s", cfg.OraclePoll.String())

	cfg = parse([]string{"--oracle-api", "oracle.example:8090", "--oracle-api", "ftp://x", "--oracle-poll", "0s"}, nil)
	err := cfg.Check()
	require.ErrorContains(t, err, `oracle API (--oracle-api) must be an http:// or https:// URL, got "oracle.example:8090"`)
	require.ErrorContains(t, err, `"ftp://x"`)
	require.ErrorContains(t, err, "--oracle-poll")
}
