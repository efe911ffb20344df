package uptime

import (
	"context"
	"crypto/ed25519"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/xssnick/tonutils-go/address"
)

// HTTP paths an oracle serves its tables at (docs/PROTOCOL.md "Oracle HTTP API").
const (
	// PathEpochs lists the epochs the oracle holds tables for.
	PathEpochs = "/api/v1/epochs"
	// PathEpoch is one epoch's table: /api/v1/epochs/{n}.
	PathEpoch = "/api/v1/epochs/{epoch}"
	// PathProof is one provider's entry and proof: /api/v1/epochs/{n}/proof/{provider}.
	PathProof = "/api/v1/epochs/{epoch}/proof/{provider}"
)

// RootDomain prefixes the message an oracle signs over a table's root.
const RootDomain = "cocoon/v1/uptime-root\x00"

// RootMessage is what an oracle signs (ed25519, with the key the registry lists for it) over the
// table of epoch: RootDomain || registry (workchain:i8 || hash:32) || oracle wallet (the same) ||
// epoch:u32 || root:32 || count:u32.
func RootMessage(registry, oracle *address.Address, epoch uint32, root Hash, count uint32) []byte {
	b := []byte(RootDomain)
	b = append(b, byte(int8(registry.Workchain())))
	b = append(b, registry.Data()...)
	b = append(b, byte(int8(oracle.Workchain())))
	b = append(b, oracle.Data()...)
	b = binary.BigEndian.AppendUint32(b, epoch)
	b = append(b, root[:]...)
	return binary.BigEndian.AppendUint32(b, count)
}

// EntryJSON is an Entry on the wire.
type EntryJSON struct {
	// Provider is the Provider contract's raw address "0:<64 hex>".
	Provider     string `json:"provider"`
	ProbesOK     uint32 `json:"probes_ok"`
	ProbesTotal  uint32 `json:"probes_total"`
	LatencyP50Ms uint32 `json:"latency_p50_ms"`
	LatencyP90Ms uint32 `json:"latency_p90_ms"`
	// Leaf is the entry's leaf hash in hex (informative: a verifier recomputes it).
	Leaf string `json:"leaf,omitempty"`
}

// ToJSON is e on the wire, with its leaf hash in the table of epoch.
func (e Entry) ToJSON(epoch uint32) EntryJSON {
	l := e.Leaf(epoch)
	return EntryJSON{Provider: e.Provider.StringRaw(), ProbesOK: e.ProbesOK, ProbesTotal: e.ProbesTotal,
		LatencyP50Ms: e.LatencyP50Ms, LatencyP90Ms: e.LatencyP90Ms, Leaf: hex.EncodeToString(l[:])}
}

// Entry decodes the wire form.
func (j EntryJSON) Entry() (Entry, error) {
	a, err := address.ParseRawAddr(j.Provider)
	if err != nil {
		return Entry{}, fmt.Errorf("%w: provider %q: %v", ErrTable, j.Provider, err)
	}
	e := Entry{Provider: a, ProbesOK: j.ProbesOK, ProbesTotal: j.ProbesTotal, LatencyP50Ms: j.LatencyP50Ms, LatencyP90Ms: j.LatencyP90Ms}
	return e, e.Check()
}

// Commit is what became of a table's on-chain commitment.
type Commit struct {
	// State is "pending" (being sent), "done" (the registry stored it) or "failed" (Error says why).
	State  string `json:"state"`
	TxLT   uint64 `json:"tx_lt,omitempty"`
	TxHash string `json:"tx_hash,omitempty"`
	Error  string `json:"error,omitempty"`
}

// TableResponse is GET /api/v1/epochs/{n}.
type TableResponse struct {
	Registry string `json:"registry"`
	// Oracle is the oracle's wallet (raw), the registry's key for it; OracleKey its ed25519 key (hex).
	Oracle    string `json:"oracle"`
	OracleKey string `json:"oracle_key"`
	Epoch     uint32 `json:"epoch"`
	// EpochSeconds is the epoch length; Start and End bound the probes counted: [Start, End).
	EpochSeconds  int64     `json:"epoch_seconds"`
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"`
	Root          string    `json:"root"`
	ProviderCount uint32    `json:"provider_count"`
	// Signature is the oracle's ed25519 signature over RootMessage, hex.
	Signature string      `json:"signature"`
	Commit    Commit      `json:"commit"`
	Entries   []EntryJSON `json:"entries"`
}

// ProofResponse is GET /api/v1/epochs/{n}/proof/{provider}.
type ProofResponse struct {
	Registry      string    `json:"registry"`
	Oracle        string    `json:"oracle"`
	Epoch         uint32    `json:"epoch"`
	Root          string    `json:"root"`
	ProviderCount uint32    `json:"provider_count"`
	Entry         EntryJSON `json:"entry"`
	Index         uint32    `json:"index"`
	// Siblings are the sibling hashes from the leaf up, hex.
	Siblings  []string `json:"siblings"`
	Signature string   `json:"signature"`
	Commit    Commit   `json:"commit"`
}

// EpochsResponse is GET /api/v1/epochs.
type EpochsResponse struct {
	Oracle       string `json:"oracle"`
	EpochSeconds int64  `json:"epoch_seconds"`
	// Epochs are the epochs with a table, newest first.
	Epochs []EpochSummary `json:"epochs"`
}

// EpochSummary is one epoch in the list.
type EpochSummary struct {
	Epoch         uint32 `json:"epoch"`
	Root          string `json:"root"`
	ProviderCount uint32 `json:"provider_count"`
	Commit        Commit `json:"commit"`
}

// ParseHash decodes 64 hex digits.
func ParseHash(s string) (Hash, error) {
	var h Hash
	b, err := hex.DecodeString(s)
	if err != nil || len(b) != 32 {
		return h, fmt.Errorf("%w: %q is not a 32-byte hex hash", ErrProof, s)
	}
	copy(h[:], b)
	return h, nil
}

// Proof decodes the response's entry and proof.
func (r *ProofResponse) Proof() (Entry, Proof, error) {
	e, err := r.Entry.Entry()
	if err != nil {
		return Entry{}, Proof{}, err
	}
	p := Proof{Index: r.Index, Count: r.ProviderCount}
	for _, s := range r.Siblings {
		h, err := ParseHash(s)
		if err != nil {
			return Entry{}, Proof{}, err
		}
		p.Siblings = append(p.Siblings, h)
	}
	return e, p, nil
}

// VerifyAgainst checks the response against an oracle's on-chain commitment (get_uptime_root:
// epoch, root, providerCount): the epochs match and the entry's proof leads to that root among that
// many leaves. The response's own root and count are not trusted. It returns the verified entry.
func (r *ProofResponse) VerifyAgainst(epoch uint32, root []byte, count uint32) (Entry, error) {
	if r.Epoch != epoch {
		return Entry{}, fmt.Errorf("%w: proof for epoch %d, the commitment is for epoch %d", ErrProof, r.Epoch, epoch)
	}
	if len(root) != 32 {
		return Entry{}, fmt.Errorf("%w: a root is 32 bytes, got %d", ErrProof, len(root))
	}
	e, p, err := r.Proof()
	if err != nil {
		return Entry{}, err
	}
	return e, Verify(Hash(root), count, epoch, e, p)
}

// VerifySignature checks the oracle's signature over (registry, oracle, epoch, root, count) with its
// registry-listed key.
func VerifySignature(key ed25519.PublicKey, registry, oracle *address.Address, epoch uint32, root Hash, count uint32, sigHex string) error {
	sig, err := hex.DecodeString(sigHex)
	if err != nil || len(key) != ed25519.PublicKeySize || !ed25519.Verify(key, RootMessage(registry, oracle, epoch, root, count), sig) {
		return fmt.Errorf("%w: the oracle's signature over the root does not verify", ErrProof)
	}
	return nil
}

// Client reads an oracle's tables.
type Client struct {
	// BaseURL is the oracle's API root, e.g. http://oracle.example:8091.
	BaseURL string
	// HTTP is the client to use (nil: http.DefaultClient).
	HTTP *http.Client
}

func (c Client) get(ctx context.Context, path string, out any) error {
	u, err := url.JoinPath(c.BaseURL, path)
	if err != nil {
		return fmt.Errorf("failed to build oracle URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return fmt.Errorf("failed to build oracle request: %w", err)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("failed to ask the oracle: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("failed to read the oracle's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("oracle answered %s: %s", resp.Status, body)
	}
	if err := json.Unmarshal(body, out); err != nil {
		return fmt.Errorf("failed to decode the oracle's answer: %w", err)
	}
	return nil
}

// Epochs runs GET /api/v1/epochs.
func (c Client) Epochs(ctx context.Context) (*EpochsResponse, error) {
	var r EpochsResponse
	return &r, c.get(ctx, PathEpochs, &r)
}

// Table runs GET /api/v1/epochs/{n}.
func (c Client) Table(ctx context.Context, epoch uint32) (*TableResponse, error) {
	var r TableResponse
	return &r, c.get(ctx, PathEpochs+"/"+strconv.FormatUint(uint64(epoch), 10), &r)
}

// Proof runs GET /api/v1/epochs/{n}/proof/{provider}.
func (c Client) Proof(ctx context.Context, epoch uint32, provider *address.Address) (*ProofResponse, error) {
	var r ProofResponse
	return &r, c.get(ctx, PathEpochs+"/"+strconv.FormatUint(uint64(epoch), 10)+"/proof/"+provider.StringRaw(), &r)
}
