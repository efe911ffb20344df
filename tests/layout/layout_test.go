package layout

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
)

// daemonTrees are the top-level folders of the four daemons; they may import only shared
// packages. cmd/ and tests/ are free; every other tree is shared.
var daemonTrees = []string{"provider", "client", "oracle", "indexer"}

// freeTrees may import anything.
var freeTrees = []string{"cmd", "tests"}

// violation is one import that crosses a boundary.
type violation struct {
	From, To string // package paths relative to the module
	Test     bool   // only the From package's tests import To
}

func (v violation) String() string {
	s := v.From + " -> " + v.To
	if v.Test {
		s += " (tests)"
	}
	return s
}

// listedPackage is the part of `go list -json` the check reads.
type listedPackage struct {
	ImportPath   string
	Deps         []string // every package the package needs to build, transitively (go list -deps)
	TestImports  []string
	XTestImports []string
}

// goTool is the go command of the toolchain running the test.
func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// listModule runs go list over the module in dir and returns its path and packages.
func listModule(t *testing.T, dir string, extraEnv ...string) (string, []listedPackage) {
	t.Helper()
	run := func(args ...string) []byte {
		cmd := exec.Command(goTool(), args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), extraEnv...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go %s in %s: %v\n%s", strings.Join(args, " "), dir, err, stderr.String())
		}
		return out
	}
	module := strings.TrimSpace(string(run("list", "-m")))
	dec := json.NewDecoder(bytes.NewReader(run("list", "-json=ImportPath,Deps,TestImports,XTestImports", "./...")))
	var pkgs []listedPackage
	for {
		var p listedPackage
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return module, pkgs
}

// tree is the top-level folder of a package path relative to the module ("" for the root).
func tree(rel string) string {
	top, _, _ := strings.Cut(rel, "/")
	return top
}

// checkBoundaries returns every import in pkgs that crosses a boundary, sorted.
func checkBoundaries(module string, pkgs []listedPackage) []violation {
	byPath := map[string]listedPackage{}
	for _, p := range pkgs {
		byPath[p.ImportPath] = p
	}
	rel := func(path string) (string, bool) {
		if path == module {
			return "", true
		}
		r, ok := strings.CutPrefix(path, module+"/")
		return r, ok
	}
	var out []violation
	for _, p := range pkgs {
		from, _ := rel(p.ImportPath)
		fromTree := tree(from)
		if slices.Contains(freeTrees, fromTree) {
			continue
		}
		// What the package builds with, then what only its tests add (with their own deps).
		deps := map[string]bool{}
		for _, d := range p.Deps {
			deps[d] = false
		}
		for _, d := range append(slices.Clone(p.TestImports), p.XTestImports...) {
			for _, dd := range append([]string{d}, byPath[d].Deps...) {
				if _, seen := deps[dd]; !seen {
					deps[dd] = true
				}
			}
		}
		for d, testOnly := range deps {
			to, inModule := rel(d)
			if !inModule || tree(to) == fromTree || !slices.Contains(daemonTrees, tree(to)) {
				continue
			}
			// to is in a daemon tree other than from's: wrong both from another daemon and
			// from a shared package.
			out = append(out, violation{From: from, To: to, Test: testOnly})
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test")
		}
		dir = parent
	}
}

// TestImportBoundaries is the check on this repository.
func TestImportBoundaries(t *testing.T) {
	module, pkgs := listModule(t, moduleRoot(t))
	// The list must really be this module's packages, or the check below proves nothing.
	seen := map[string]bool{}
	for _, p := range pkgs {
		if r, ok := strings.CutPrefix(p.ImportPath, module+"/"); ok {
			seen[tree(r)] = true
		}
	}
	for _, want := range []string{"chain", "contracts", "voucher", "attest", "service", "cmd", "tests"} {
		if !seen[want] {
			t.Fatalf("go list found no package under %s/ (saw %v)", want, seen)
		}
	}
	for _, v := range checkBoundaries(module, pkgs) {
		if slices.Contains(daemonTrees, tree(v.From)) {
			t.Errorf("daemon package %s: daemons import only shared packages, never another daemon", v)
		} else {
			t.Errorf("shared package %s: shared packages never import a daemon tree", v)
		}
	}
}

// writeModule lays out a module of tiny packages: files maps a path to the module-relative
// import paths its package imports.
func writeModule(t *testing.T, module string, files map[string][]string) string {
	t.Helper()
	dir := t.TempDir()
	write := func(name, content string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module "+module+"\n\ngo 1.26\n")
	for name, imports := range files {
		pkg := filepath.Base(filepath.Dir(name))
		if strings.HasPrefix(name, "cmd/") {
			pkg = "main"
		}
		if strings.HasSuffix(name, "_x_test.go") {
			pkg += "_test"
		}
		var b strings.Builder
		fmt.Fprintf(&b, "package %s\n\n", pkg)
		for _, imp := range imports {
			fmt.Fprintf(&b, "import _ %q\n", module+"/"+imp)
		}
		if pkg == "main" {
			b.WriteString("\nfunc main() {}\n")
		}
		write(name, b.String())
	}
	return dir
}

// offline keeps go list from reaching for a proxy or a workspace: the synthetic modules have
// no requirements.
var offline = []string{"GOWORK=off", "GOPROXY=off", "GOFLAGS=-mod=mod"}

// The check fails when daemon trees appear and cross a boundary, and only then.
func TestImportBoundariesCatchViolations(t *testing.T) {
	const module = "example.com/synthetic"

	// A module where only shared trees exist, like this repository before the daemons: clean.
	dir := writeModule(t, module, map[string][]string{
		"chain/chain.go":     nil,
		"voucher/voucher.go": {"chain"},
		"cmd/tool/main.go":   {"voucher"},
	})
	m, pkgs := listModule(t, dir, offline...)
	if len(pkgs) != 3 {
		t.Fatalf("go list saw %d packages, want 3", len(pkgs))
	}
	if v := checkBoundaries(m, pkgs); len(v) != 0 {
		t.Fatalf("violations without daemon trees: %v", v)
	}

	// The daemons appear, with every kind of crossing.
	dir = writeModule(t, module, map[string][]string{
		"chain/chain.go":                   nil,
		"voucher/voucher.go":               {"chain"},
		"service/service.go":               nil,
		"provider/provider.go":             {"chain", "service", "provider/store"}, // fine: shared and its own tree
		"provider/store/store.go":          nil,
		"provider/api/api.go":              {"client/sdk"},     // daemon -> daemon
		"client/sdk/sdk.go":                {"voucher"},        // fine
		"oracle/oracle.go":                 {"attest"},         // daemon -> daemon, through a shared package
		"attest/attest.go":                 {"indexer/store"},  // shared -> daemon
		"indexer/store/store.go":           nil,                // fine
		"indexer/api/api.go":               nil,                //
		"indexer/api/api_test.go":          {"oracle"},         // daemon -> daemon, in a test
		"client/gateway/gateway.go":        nil,                //
		"client/gateway/gateway_x_test.go": {"provider/store"}, // daemon -> daemon, in an external test
		"cmd/cocoon/main.go":               {"provider", "client/sdk", "oracle", "indexer/api"},
		"tests/e2e/e2e.go":                 {"provider/api", "client/sdk", "oracle"},
	})
	m, pkgs = listModule(t, dir, offline...)
	var got []string
	for _, v := range checkBoundaries(m, pkgs) {
		got = append(got, v.String())
	}
	want := []string{
		"attest -> indexer/store",
		"client/gateway -> provider/store (tests)",
		"indexer/api -> oracle (tests)",
		"oracle -> indexer/store",
		"provider/api -> client/sdk",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("violations\n got %q\nwant %q", got, want)
	}
}
