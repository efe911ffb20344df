package discover

import (
	"bytes"
	"context"
	"fmt"
	"net/http"

	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/uptime"
)

// Uptime is what the oracles' committed uptime tables say of one provider: its probes summed over
// the oracles whose latest table lists it.
type Uptime struct {
	ProbesOK, ProbesTotal uint32
	// LatencyP50Ms is the highest of the oracles' median probe latencies.
	LatencyP50Ms uint32
	// Oracles counts the tables the provider is in.
	Oracles int
}

// Ratio is the fraction of successful probes (0 when none).
func (u Uptime) Ratio() float64 {
	if u.ProbesTotal == 0 {
		return 0
	}
	return float64(u.ProbesOK) / float64(u.ProbesTotal)
}

// ReadUptime reads each oracle's latest uptime table from its API (urls) and keeps it only when it
// is exactly the table the oracle committed on-chain: the Merkle root and leaf count rebuilt from its
// entries (package uptime) must equal the oracle's UptimeCommitment in the registry. Nothing in an
// oracle's answer is trusted otherwise. It returns the uptime by Provider contract (raw address) and
// why each oracle that gave nothing was skipped.
func ReadUptime(ctx context.Context, reg *Registry, urls []string, hc *http.Client) (map[string]Uptime, []error) {
	out := map[string]Uptime{}
	var problems []error
	for _, u := range urls {
		oc := uptime.Client{BaseURL: u, HTTP: hc}
		eps, err := oc.Epochs(ctx)
		if err != nil {
			problems = append(problems, fmt.Errorf("oracle %s: %w", u, err))
			continue
		}
		var commit *contracts.UptimeCommitment
		for _, o := range reg.Oracles {
			if o.Wallet.StringRaw() == eps.Oracle {
				commit = o.Uptime
			}
		}
		if commit == nil {
			problems = append(problems, fmt.Errorf("oracle %s (%s) is not in the registry's oracle set or has committed no uptime root", u, eps.Oracle))
			continue
		}
		t, err := oc.Table(ctx, commit.Epoch)
		if err != nil {
			problems = append(problems, fmt.Errorf("oracle %s: epoch %d: %w", u, commit.Epoch, err))
			continue
		}
		entries := make([]uptime.Entry, 0, len(t.Entries))
		for _, ej := range t.Entries {
			e, err := ej.Entry()
			if err != nil {
				problems = append(problems, fmt.Errorf("oracle %s: epoch %d: %w", u, commit.Epoch, err))
				entries = nil
				break
			}
			entries = append(entries, e)
		}
		table, err := uptime.Build(commit.Epoch, entries)
		if err != nil {
			problems = append(problems, fmt.Errorf("oracle %s: epoch %d: %w", u, commit.Epoch, err))
			continue
		}
		root := table.Root()
		if table.Count() != commit.ProviderCount || !bytes.Equal(root[:], commit.Root) {
			problems = append(problems, fmt.Errorf("oracle %s: its table of epoch %d is not the one it committed on-chain (%d entries, root %x; committed %d, %x)",
				u, commit.Epoch, table.Count(), root, commit.ProviderCount, commit.Root))
			continue
		}
		for _, e := range table.Entries {
			k := e.Provider.StringRaw()
			cur := out[k]
			cur.ProbesOK += e.ProbesOK
			cur.ProbesTotal += e.ProbesTotal
			cur.LatencyP50Ms = max(cur.LatencyP50Ms, e.LatencyP50Ms)
			cur.Oracles++
			out[k] = cur
		}
	}
	return out, problems
}
