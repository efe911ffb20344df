package parity

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/xssnick/tonutils-go/address"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// rewriteHint is how the sandbox results are rerecorded.
const rewriteHint = "cd tolk && REWRITE_FIXTURES=1 node --test tests/parity/"

type scenarioResult struct {
	Name  string           `json:"name"`
	Steps []map[string]any `json:"steps"`
}

type sandboxResults struct {
	Comment string `json:"comment"`
	// Build holds the code hashes (hex) the results were recorded with.
	Build     map[string]string `json:"build"`
	Scenarios []scenarioResult  `json:"scenarios"`
}

// loadSandboxResults reads the recorded results and fails, saying how to rerecord them, when the
// contracts or the wallet code changed since (a rebuild changes gas and fees everywhere).
func loadSandboxResults(t testing.TB, doc *scenarioDoc) []scenarioResult {
	t.Helper()
	raw, err := os.ReadFile(resultsPath)
	if err != nil {
		t.Fatalf("failed to read the sandbox results (%s): %v", rewriteHint, err)
	}
	var out sandboxResults
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("failed to parse %s: %v", resultsPath, err)
	}
	code, err := walletCodeFromDoc(doc)
	if err != nil {
		t.Fatal(err)
	}
	current := map[string]string{
		"registry": hex.EncodeToString(contracts.RegistryCode().Hash()),
		"provider": hex.EncodeToString(contracts.ProviderCode().Hash()),
		"channel":  hex.EncodeToString(contracts.ChannelCode().Hash()),
		"wallet":   hex.EncodeToString(code.Hash()),
	}
	if !reflect.DeepEqual(current, out.Build) {
		t.Fatalf("%s was recorded with other code (%v, now %v): run %s and commit", resultsPath, out.Build, current, rewriteHint)
	}
	return out.Scenarios
}

func mustScenarios(t testing.TB) *scenarioDoc {
	t.Helper()
	doc, err := loadScenarios()
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

// The scenario file's fixed data must be what the Go side really uses: the same wallet code as
// chain/wallet's V5R1 and the devnet's faucet as the source of fund steps.
func TestScenarioFileMatchesGoConstants(t *testing.T) {
	doc := mustScenarios(t)
	code, err := walletCodeFromDoc(doc)
	if err != nil {
		t.Fatal(err)
	}
	w, err := wallet.New(actorKey("any"), wallet.V5R1, doc.WalletGlobalID)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(code.Hash(), w.StateInit().Code.Hash()) {
		t.Errorf("walletCode in %s is not chain/wallet's V5R1 code", scenariosPath)
	}
	if doc.WalletGlobalID != devnet.DefaultGlobalID {
		t.Errorf("walletGlobalId %d, the devnet and the sandbox use %d", doc.WalletGlobalID, devnet.DefaultGlobalID)
	}
	faucet, err := address.ParseRawAddr(doc.Addresses["faucet"])
	if err != nil {
		t.Fatalf("addresses.faucet: %v", err)
	}
	if !faucet.Equals(devnet.FaucetAddress) {
		t.Errorf("addresses.faucet is %s, the devnet's faucet is %s", faucet.StringRaw(), devnet.FaucetAddress.StringRaw())
	}
	seen := map[string]bool{}
	for _, s := range doc.Scenarios {
		if seen[s.Name] {
			t.Errorf("scenario name %q repeats", s.Name)
		}
		seen[s.Name] = true
		if _, err := doc.expand(s.Steps); err != nil {
			t.Errorf("scenario %q: %v", s.Name, err)
		}
	}
}

// TestDevnetMatchesSandbox runs every scenario on the devnet and requires, step by step, what
// @ton/sandbox recorded: the same transactions (account, in/out messages and values, compute exit
// code and gas, action result code, bounce, storage and total fees, end status), the same
// balances afterwards, the same external message bytes and the same getter results.
func TestDevnetMatchesSandbox(t *testing.T) {
	doc := mustScenarios(t)
	want := loadSandboxResults(t, doc)
	if len(want) != len(doc.Scenarios) {
		t.Fatalf("%s has %d scenarios, %s %d: run %s", resultsPath, len(want), scenariosPath, len(doc.Scenarios), rewriteHint)
	}
	ctx := context.Background()
	for i, sc := range doc.Scenarios {
		w := want[i]
		t.Run(sc.Name, func(t *testing.T) {
			if w.Name != sc.Name {
				t.Fatalf("sandbox results hold scenario %q here, want %q: run %s", w.Name, sc.Name, rewriteHint)
			}
			got, err := runScenario(ctx, doc, sc)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(w.Steps) {
				t.Fatalf("%d steps on the devnet, %d in the sandbox results (scenario changed? run %s)", len(got), len(w.Steps), rewriteHint)
			}
			for j := range got {
				if diffs := diff("", w.Steps[j], got[j]); len(diffs) > 0 {
					t.Errorf("step %d (%v):\n%s", j, w.Steps[j]["step"], joinDiffs(diffs))
				}
			}
		})
	}
}

// diff lists the paths where the sandbox value a and the devnet value b differ.
func diff(path string, a, b any) []string {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok {
			break
		}
		keys := map[string]bool{}
		for k := range x {
			keys[k] = true
		}
		for k := range y {
			keys[k] = true
		}
		sorted := make([]string, 0, len(keys))
		for k := range keys {
			sorted = append(sorted, k)
		}
		sort.Strings(sorted)
		var out []string
		for _, k := range sorted {
			out = append(out, diff(path+"."+k, x[k], y[k])...)
		}
		return out
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			break
		}
		var out []string
		for i := range x {
			out = append(out, diff(fmt.Sprintf("%s[%d]", path, i), x[i], y[i])...)
		}
		return out
	}
	if reflect.DeepEqual(a, b) {
		return nil
	}
	return []string{fmt.Sprintf("  %s: sandbox %s, devnet %s", path, compact(a), compact(b))}
}

func compact(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func joinDiffs(d []string) string {
	var b bytes.Buffer
	for _, s := range d {
		b.WriteString(s)
		b.WriteByte('\n')
	}
	return b.String()
}

// The comparison must notice a one-unit change anywhere: mutate a recorded gas figure, a balance
// and a getter value of the first scenario and expect exactly those paths to be reported.
func TestComparisonCatchesChanges(t *testing.T) {
	doc := mustScenarios(t)
	want := loadSandboxResults(t, doc)
	got, err := runScenario(context.Background(), doc, doc.Scenarios[0])
	if err != nil {
		t.Fatal(err)
	}
	deploy, getter := -1, -1
	for i, s := range want[0].Steps {
		if s["transactions"] != nil && deploy < 0 && i > 0 {
			deploy = i
		}
		if s["stack"] != nil && getter < 0 {
			getter = i
		}
	}
	if deploy < 0 || getter < 0 {
		t.Fatal("the first scenario needs a transaction step after the first and a getter")
	}
	mutated := map[int]map[string]any{}
	for _, i := range []int{deploy, getter} {
		var m map[string]any
		b, _ := json.Marshal(want[0].Steps[i])
		_ = json.Unmarshal(b, &m)
		mutated[i] = m
	}
	tx := mutated[deploy]["transactions"].([]any)[0].(map[string]any)
	compute := tx["compute"].(map[string]any)
	compute["gasUsed"] = bump(t, compute["gasUsed"])
	acct := tx["account"].(string)
	bal := mutated[deploy]["balances"].(map[string]any)
	bal[acct] = bump(t, bal[acct])
	stack := mutated[getter]["stack"].([]any)
	stack[len(stack)-1] = "12345"

	d1 := diff("", mutated[deploy], got[deploy])
	if len(d1) != 2 || !strings.Contains(d1[0], ".balances."+acct+":") || !strings.Contains(d1[1], ".transactions[0].compute.gasUsed:") {
		t.Fatalf("want the balance and gas differences, got:\n%s", joinDiffs(d1))
	}
	if d2 := diff("", mutated[getter], got[getter]); len(d2) != 1 {
		t.Fatalf("want the getter difference, got:\n%s", joinDiffs(d2))
	}
	if d := diff("", want[0].Steps[deploy], got[deploy]); len(d) != 0 {
		t.Fatalf("unmutated step differs:\n%s", joinDiffs(d))
	}
}

func bump(t *testing.T, v any) string {
	t.Helper()
	s, ok := v.(string)
	n, ok2 := new(big.Int).SetString(s, 10)
	if !ok || !ok2 {
		t.Fatalf("not a decimal string: %v", v)
	}
	return n.Add(n, big.NewInt(1)).String()
}
