package parity

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/voucher"
)

// The scenario file's shape. Unknown fields are errors, so a typo never silently drops a step.

type scenarioDoc struct {
	Comment        string            `json:"comment"`
	Now            uint32            `json:"now"`
	WalletCode     string            `json:"walletCode"`
	WalletGlobalID int32             `json:"walletGlobalId"`
	Actors         []string          `json:"actors"`
	Addresses      map[string]string `json:"addresses"`
	Registry       registrySpec      `json:"registry"`
	Includes       map[string][]step `json:"includes"`
	Scenarios      []scenarioSpec    `json:"scenarios"`
	_              struct{}          `json:"-"`
}

type registrySpec struct {
	Governance  string     `json:"governance"`
	NetworkKind uint8      `json:"networkKind"`
	Params      paramsSpec `json:"params"`
}

type paramsSpec struct {
	MinProviderStake       string `json:"minProviderStake"`
	UnbondingPeriod        uint32 `json:"unbondingPeriod"`
	ProtocolFeeBps         uint16 `json:"protocolFeeBps"`
	Treasury               string `json:"treasury"`
	ChallengePeriod        uint32 `json:"challengePeriod"`
	OracleQuorum           uint8  `json:"oracleQuorum"`
	MaxAttestationLifetime uint32 `json:"maxAttestationLifetime"`
}

type scenarioSpec struct {
	Name  string `json:"name"`
	Steps []step `json:"steps"`
}

// step is one of: include (a named step list), fund, send, advance, get.
type step struct {
	Include string `json:"include"`
	Op      string `json:"op"`
	Note    string `json:"note"`
	// fund / send
	To    string `json:"to"`
	Value string `json:"value"`
	// send
	From   string    `json:"from"`
	Bounce *bool     `json:"bounce"`
	Mode   uint8     `json:"mode"`
	Init   string    `json:"init"`
	Body   *bodySpec `json:"body"`
	// advance
	Seconds int64 `json:"seconds"`
	// get
	At     string    `json:"at"`
	Method string    `json:"method"`
	Args   []argSpec `json:"args"`
}

type argSpec struct {
	Int     *string `json:"int"`
	Address *string `json:"address"`
}

type claimSpec struct {
	MeasurementHash string `json:"measurementHash"`
	EvidenceDigest  string `json:"evidenceDigest"`
	TLSKeyHash      string `json:"tlsKeyHash"`
	ValidUntil      uint32 `json:"validUntil"`
}

// bodySpec is the union of every message body's fields; Type selects the message.
type bodySpec struct {
	Type                      string       `json:"type"`
	QueryID                   uint64       `json:"queryId"`
	Text                      string       `json:"text"`
	MeasurementHash           string       `json:"measurementHash"`
	Kind                      uint8        `json:"kind"`
	Wallet                    string       `json:"wallet"`
	PublicKey                 string       `json:"publicKey"`
	NewGovernance             string       `json:"newGovernance"`
	Params                    *paramsSpec  `json:"params"`
	StakeAmount               string       `json:"stakeAmount"`
	ProviderOwner             string       `json:"providerOwner"`
	Claim                     *claimSpec   `json:"claim"`
	Amount                    string       `json:"amount"`
	EvidenceDigest            string       `json:"evidenceDigest"`
	Until                     uint32       `json:"until"`
	Endpoint                  string       `json:"endpoint"`
	ModelID                   uint32       `json:"modelId"`
	PromptPricePerMillion     string       `json:"promptPricePerMillion"`
	CompletionPricePerMillion string       `json:"completionPricePerMillion"`
	WeightsHash               string       `json:"weightsHash"`
	Name                      string       `json:"name"`
	ClientKey                 string       `json:"clientKey"`
	Voucher                   *voucherSpec `json:"voucher"`
	Request                   *closeSpec   `json:"request"`
	Epoch                     uint32       `json:"epoch"`
	Root                      string       `json:"root"`
	ProviderCount             uint32       `json:"providerCount"`
}

// voucherSpec is a voucher signed by the actor Signer's key.
type voucherSpec struct {
	Signer           string `json:"signer"`
	Channel          string `json:"channel"`
	Amount           string `json:"amount"`
	PromptTokens     uint64 `json:"promptTokens"`
	CompletionTokens uint64 `json:"completionTokens"`
}

// closeSpec is a close request signed by the actor Signer's key.
type closeSpec struct {
	Signer     string `json:"signer"`
	Channel    string `json:"channel"`
	CloseNonce uint32 `json:"closeNonce"`
	RefundTo   string `json:"refundTo"`
}

const (
	scenariosPath = "testdata/scenarios.json"
	resultsPath   = "testdata/sandbox-results.json"
	// validFor is how long a signed external stays valid (the JS runner uses the same).
	validFor = 3600
)

func loadScenarios() (*scenarioDoc, error) {
	raw, err := os.ReadFile(scenariosPath)
	if err != nil {
		return nil, fmt.Errorf("failed to read scenarios: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var doc scenarioDoc
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", scenariosPath, err)
	}
	return &doc, nil
}

// expand replaces includes with their steps.
func (doc *scenarioDoc) expand(steps []step) ([]step, error) {
	var out []step
	for _, s := range steps {
		if s.Include == "" {
			out = append(out, s)
			continue
		}
		inc, ok := doc.Includes[s.Include]
		if !ok {
			return nil, fmt.Errorf("unknown include %q", s.Include)
		}
		more, err := doc.expand(inc)
		if err != nil {
			return nil, err
		}
		out = append(out, more...)
	}
	return out, nil
}

// stepName is the label both runners give a step (parity.test.js stepName).
func stepName(s step) string {
	switch s.Op {
	case "fund":
		return fmt.Sprintf("fund %s %s", s.To, s.Value)
	case "send":
		n := fmt.Sprintf("%s → %s %s", s.From, s.To, s.Value)
		if s.Body != nil {
			n += " " + s.Body.Type
		}
		if s.Init != "" {
			n += " (deploy)"
		}
		return n
	case "advance":
		return fmt.Sprintf("advance %ds", s.Seconds)
	case "get":
		return s.At + "." + s.Method
	}
	return "unknown op " + s.Op
}

// world resolves the scenario's names on one devnet.
type world struct {
	doc          *scenarioDoc
	d            *devnet.Devnet
	wallets      map[string]*wallet.Wallet
	registry     *address.Address
	registryInit *tlb.StateInit
}

func actorKey(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("parity/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func newWorld(doc *scenarioDoc, d *devnet.Devnet) (*world, error) {
	w := &world{doc: doc, d: d, wallets: map[string]*wallet.Wallet{}}
	for _, a := range doc.Actors {
		wl, err := wallet.New(actorKey(a), wallet.V5R1, doc.WalletGlobalID)
		if err != nil {
			return nil, err
		}
		w.wallets[a] = wl
	}
	gov, err := w.addr(doc.Registry.Governance)
	if err != nil {
		return nil, err
	}
	params, err := w.registryParams(doc.Registry.Params)
	if err != nil {
		return nil, err
	}
	st := contracts.NewRegistryStorage(gov, contracts.NetworkKind(doc.Registry.NetworkKind), *params, contracts.ProviderCode())
	if w.registryInit, w.registry, err = contracts.RegistryDeploy(st); err != nil {
		return nil, err
	}
	return w, nil
}

func (w *world) addr(name string) (*address.Address, error) {
	switch {
	case name == "registry":
		return w.registry, nil
	case strings.HasPrefix(name, "provider:"):
		owner, err := w.addr(strings.TrimPrefix(name, "provider:"))
		if err != nil {
			return nil, err
		}
		return contracts.ProviderAddress(contracts.ProviderCode(), w.registry, owner)
	case strings.HasPrefix(name, "channel:"):
		// channel:<client actor>:<provider owner>
		client, owner, ok := strings.Cut(strings.TrimPrefix(name, "channel:"), ":")
		wl := w.wallets[client]
		if !ok || wl == nil {
			return nil, fmt.Errorf("bad channel name %q: want channel:<client actor>:<provider owner>", name)
		}
		provider, err := w.addr("provider:" + owner)
		if err != nil {
			return nil, err
		}
		return contracts.ChannelAddress(contracts.ChannelCode(), w.registry, wl.PublicKey(), provider)
	case w.wallets[name] != nil:
		return w.wallets[name].Address(), nil
	case w.doc.Addresses[name] != "":
		return address.ParseRawAddr(w.doc.Addresses[name])
	case strings.Contains(name, ":"):
		return address.ParseRawAddr(name)
	}
	return nil, fmt.Errorf("unknown address name %q", name)
}

func nano(ton string) (*big.Int, error) {
	n, err := wallet.ParseTON(ton)
	if err != nil {
		return nil, fmt.Errorf("bad TON amount %q: %w", ton, err)
	}
	return n, nil
}

func coins(ton string) (tlb.Coins, error) {
	n, err := nano(ton)
	if err != nil {
		return tlb.Coins{}, err
	}
	return tlb.FromNanoTON(n), nil
}

// intValue parses what JS's BigInt() accepts here: 0x-hex or decimal, or "pubkey:<actor>".
func (w *world) intValue(s string) (*big.Int, error) {
	if actor, ok := strings.CutPrefix(s, "pubkey:"); ok {
		wl := w.wallets[actor]
		if wl == nil {
			return nil, fmt.Errorf("pubkey of unknown actor %q", actor)
		}
		return new(big.Int).SetBytes(wl.PublicKey()), nil
	}
	n, ok := new(big.Int), false
	if h, isHex := strings.CutPrefix(s, "0x"); isHex {
		_, ok = n.SetString(h, 16)
	} else {
		_, ok = n.SetString(s, 10)
	}
	if !ok {
		return nil, fmt.Errorf("bad integer %q", s)
	}
	return n, nil
}

// hash is a 256-bit intValue as 32 bytes.
func (w *world) hash(s string) ([]byte, error) {
	n, err := w.intValue(s)
	if err != nil {
		return nil, err
	}
	if n.Sign() < 0 || n.BitLen() > 256 {
		return nil, fmt.Errorf("%q does not fit 256 bits", s)
	}
	return n.FillBytes(make([]byte, 32)), nil
}

func (w *world) registryParams(p paramsSpec) (*contracts.RegistryParams, error) {
	minStake, err := coins(p.MinProviderStake)
	if err != nil {
		return nil, err
	}
	treasury, err := w.addr(p.Treasury)
	if err != nil {
		return nil, err
	}
	return &contracts.RegistryParams{
		MinProviderStake:       minStake,
		UnbondingPeriod:        p.UnbondingPeriod,
		ProtocolFeeBps:         p.ProtocolFeeBps,
		Treasury:               treasury,
		ChallengePeriod:        p.ChallengePeriod,
		OracleQuorum:           p.OracleQuorum,
		MaxAttestationLifetime: p.MaxAttestationLifetime,
	}, nil
}

// body encodes a message body with the contracts package (the sandbox side uses the JS builders
// of tolk/tests/lib, so the two encoders are checked against each other as a side effect).
func (w *world) body(b *bodySpec) (*cell.Cell, error) {
	if b == nil {
		return nil, nil
	}
	var firstErr error
	must := func(v any, err error) any {
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	}
	addr := func(s string) *address.Address { a, _ := must(w.addr(s)).(*address.Address); return a }
	hash := func(s string) []byte { h, _ := must(w.hash(s)).([]byte); return h }
	amount := func(s string) tlb.Coins { c, _ := must(coins(s)).(tlb.Coins); return c }
	var m contracts.Message
	switch b.Type {
	case "comment":
		c, err := wallet.Comment(b.Text)
		return c, err
	case "addMeasurement":
		m = contracts.AddMeasurement{QueryID: b.QueryID, MeasurementHash: hash(b.MeasurementHash), Kind: contracts.MeasurementKind(b.Kind)}
	case "addOracle":
		m = contracts.AddOracle{QueryID: b.QueryID, Wallet: addr(b.Wallet), PublicKey: hash(b.PublicKey)}
	case "proposeGovernance":
		m = contracts.ProposeGovernance{QueryID: b.QueryID, NewGovernance: addr(b.NewGovernance)}
	case "acceptGovernance":
		m = contracts.AcceptGovernance{QueryID: b.QueryID}
	case "updateParams":
		if b.Params == nil {
			return nil, errors.New("updateParams without params")
		}
		p, err := w.registryParams(*b.Params)
		if err != nil {
			return nil, err
		}
		m = contracts.UpdateParams{QueryID: b.QueryID, Params: p}
	case "withdrawRegistrySurplus":
		m = contracts.WithdrawRegistrySurplus{QueryID: b.QueryID}
	case "revokeMeasurement":
		m = contracts.RevokeMeasurement{QueryID: b.QueryID, MeasurementHash: hash(b.MeasurementHash)}
	case "addModel", "updateModel":
		name, err := contracts.TextCell(b.Name, 64)
		if err != nil {
			return nil, err
		}
		if b.Type == "addModel" {
			m = contracts.AddModel{QueryID: b.QueryID, ModelID: b.ModelID, WeightsHash: hash(b.WeightsHash), Name: name}
		} else {
			m = contracts.UpdateModel{QueryID: b.QueryID, ModelID: b.ModelID, WeightsHash: hash(b.WeightsHash), Name: name}
		}
	case "removeModel":
		m = contracts.RemoveModel{QueryID: b.QueryID, ModelID: b.ModelID}
	case "removeOracle":
		m = contracts.RemoveOracle{QueryID: b.QueryID, Wallet: addr(b.Wallet)}
	case "pauseProvider":
		m = contracts.PauseProvider{QueryID: b.QueryID}
	case "resumeProvider":
		m = contracts.ResumeProvider{QueryID: b.QueryID}
	case "removeModelPrice":
		m = contracts.RemoveModelPrice{QueryID: b.QueryID, ModelID: b.ModelID}
	case "registerProvider":
		m = contracts.RegisterProvider{QueryID: b.QueryID, StakeAmount: amount(b.StakeAmount)}
	case "submitOracleVote":
		if b.Claim == nil {
			return nil, errors.New("submitOracleVote without claim")
		}
		m = contracts.SubmitOracleVote{QueryID: b.QueryID, ProviderOwner: addr(b.ProviderOwner), Claim: &contracts.AttestationClaim{
			MeasurementHash: hash(b.Claim.MeasurementHash),
			EvidenceDigest:  hash(b.Claim.EvidenceDigest),
			TLSKeyHash:      hash(b.Claim.TLSKeyHash),
			ValidUntil:      b.Claim.ValidUntil,
		}}
	case "submitUptimeRoot":
		m = contracts.SubmitUptimeRoot{QueryID: b.QueryID, Epoch: b.Epoch, Root: hash(b.Root), ProviderCount: b.ProviderCount}
	case "slashProvider":
		m = contracts.SlashProvider{QueryID: b.QueryID, ProviderOwner: addr(b.ProviderOwner), Amount: amount(b.Amount), EvidenceDigest: hash(b.EvidenceDigest)}
	case "jailProvider":
		m = contracts.JailProvider{QueryID: b.QueryID, ProviderOwner: addr(b.ProviderOwner), Until: b.Until}
	case "unjailProvider":
		m = contracts.UnjailProvider{QueryID: b.QueryID, ProviderOwner: addr(b.ProviderOwner)}
	case "addStake":
		m = contracts.AddStake{QueryID: b.QueryID, Amount: amount(b.Amount)}
	case "requestUnstake":
		m = contracts.RequestUnstake{QueryID: b.QueryID, Amount: amount(b.Amount)}
	case "withdrawUnbonded":
		m = contracts.WithdrawUnbonded{QueryID: b.QueryID}
	case "exitProvider":
		m = contracts.ExitProvider{QueryID: b.QueryID}
	case "setEndpoint":
		c, err := contracts.TextCell(b.Endpoint, 127)
		if err != nil {
			return nil, err
		}
		m = contracts.SetEndpoint{QueryID: b.QueryID, Endpoint: c}
	case "setModelPrice":
		m = contracts.SetModelPrice{QueryID: b.QueryID, ModelID: b.ModelID,
			PromptPricePerMillion: amount(b.PromptPricePerMillion), CompletionPricePerMillion: amount(b.CompletionPricePerMillion)}
	case "setChannelCode":
		m = contracts.SetChannelCode{QueryID: b.QueryID, ChannelCode: contracts.ChannelCode()}
	case "openChannel":
		m = contracts.OpenChannel{QueryID: b.QueryID, ProviderOwner: addr(b.ProviderOwner), ClientKey: hash(b.ClientKey)}
	case "claim":
		v := b.Voucher
		if v == nil {
			return nil, errors.New("claim without voucher")
		}
		signer := w.wallets[v.Signer]
		if signer == nil {
			return nil, fmt.Errorf("voucher signer %q is not an actor", v.Signer)
		}
		amt, err := nano(v.Amount)
		if err != nil {
			return nil, err
		}
		signed, err := voucher.Voucher{Channel: addr(v.Channel), Amount: amt, PromptTokens: v.PromptTokens, CompletionTokens: v.CompletionTokens}.Sign(actorKey(v.Signer))
		if err != nil {
			return nil, err
		}
		mv, err := contracts.VoucherFrom(signed.Voucher)
		if err != nil {
			return nil, err
		}
		m = contracts.Claim{QueryID: b.QueryID, Voucher: mv, Signature: signed.Signature[:]}
	case "claimRemainder":
		m = contracts.ClaimRemainder{QueryID: b.QueryID}
	case "startClose":
		r := b.Request
		if r == nil {
			return nil, errors.New("startClose without request")
		}
		if w.wallets[r.Signer] == nil {
			return nil, fmt.Errorf("close request signer %q is not an actor", r.Signer)
		}
		req := &contracts.CloseRequest{Channel: addr(r.Channel), CloseNonce: r.CloseNonce, RefundTo: addr(r.RefundTo)}
		if firstErr != nil {
			return nil, firstErr
		}
		sig, err := req.Sign(actorKey(r.Signer))
		if err != nil {
			return nil, err
		}
		m = contracts.StartClose{QueryID: b.QueryID, Request: req, Signature: sig}
	case "finalizeClose":
		m = contracts.FinalizeClose{QueryID: b.QueryID}
	case "cooperativeClose":
		m = contracts.CooperativeClose{QueryID: b.QueryID}
	default:
		return nil, fmt.Errorf("unknown body type %q", b.Type)
	}
	if firstErr != nil {
		return nil, fmt.Errorf("body %s: %w", b.Type, firstErr)
	}
	return contracts.Encode(m)
}

func (w *world) deployed(a *address.Address) (bool, error) {
	acc, err := w.d.Account(a)
	if err != nil {
		return false, err
	}
	return acc.State == chain.StateActive, nil
}

// sendMessage is the signed external message of a send step, built from the devnet's state
// (deployed or not, seqno) exactly as the JS runner builds it from the sandbox's.
func (w *world) sendMessage(ctx context.Context, s step) (*cell.Cell, error) {
	wl := w.wallets[s.From]
	if wl == nil {
		return nil, fmt.Errorf("send from %q: not an actor", s.From)
	}
	deployed, err := w.deployed(wl.Address())
	if err != nil {
		return nil, err
	}
	var seqno uint32
	if deployed {
		st, err := wl.State(ctx, w.d.Client())
		if err != nil {
			return nil, err
		}
		seqno = st.Seqno
	}
	to, err := w.addr(s.To)
	if err != nil {
		return nil, err
	}
	value, err := nano(s.Value)
	if err != nil {
		return nil, err
	}
	body, err := w.body(s.Body)
	if err != nil {
		return nil, err
	}
	tr := wallet.Transfer{To: to, Amount: value, Bounce: s.Bounce == nil || *s.Bounce, Body: body, Mode: s.Mode}
	switch s.Init {
	case "":
	case "registry":
		tr.StateInit = w.registryInit
	default:
		return nil, fmt.Errorf("unknown init %q", s.Init)
	}
	validUntil := time.Unix(w.d.Now().Unix()+validFor, 0)
	signed, err := wl.Sign(seqno, validUntil, !deployed, tr)
	if err != nil {
		return nil, err
	}
	return signed.Message, nil
}

func (w *world) getArgs(args []argSpec) ([]any, error) {
	out := make([]any, 0, len(args))
	for _, a := range args {
		switch {
		case a.Int != nil:
			n, err := w.intValue(*a.Int)
			if err != nil {
				return nil, err
			}
			out = append(out, n)
		case a.Address != nil:
			ad, err := w.addr(*a.Address)
			if err != nil {
				return nil, err
			}
			out = append(out, ad)
		default:
			return nil, errors.New("getter argument is neither int nor address")
		}
	}
	return out, nil
}

// ---- records, in the JSON shape parity.test.js writes

var skipReasons = map[tlb.ComputeSkipReasonType]string{
	tlb.ComputeSkipReasonNoState:   "no_state",
	tlb.ComputeSkipReasonBadState:  "bad_state",
	tlb.ComputeSkipReasonNoGas:     "no_gas",
	tlb.ComputeSkipReasonSuspended: "suspended",
}

var endStatuses = map[tlb.AccountStatus]string{
	tlb.AccountStatusActive:   "active",
	tlb.AccountStatusUninit:   "uninitialized",
	tlb.AccountStatusFrozen:   "frozen",
	tlb.AccountStatusNonExist: "non-existing",
}

func messageRecord(m *tlb.Message) (map[string]any, error) {
	switch m.MsgType {
	case tlb.MsgTypeInternal:
		in := m.AsInternal()
		body, err := bodyRecord(in.Body)
		if err != nil {
			return nil, err
		}
		return map[string]any{"type": "internal", "src": in.SrcAddr.StringRaw(), "dst": in.DstAddr.StringRaw(),
			"value": in.Amount.Nano().String(), "bounce": in.Bounce, "bounced": in.Bounced, "body": body}, nil
	case tlb.MsgTypeExternalIn:
		return map[string]any{"type": "external-in", "dst": m.AsExternalIn().DstAddr.StringRaw()}, nil
	}
	return map[string]any{"type": "external-out"}, nil
}

// bodyRecord identifies a message body by its hash (an absent body is the empty cell, as
// @ton/core reads it). A rich bounce body (new_bounce_body#fffffffe, TVM 12) names the original
// message's created_lt, which each emulator numbers its own way, so it is recorded field by field
// without it (parity.test.js bodyRecord).
func bodyRecord(c *cell.Cell) (any, error) {
	if c == nil {
		c = cell.BeginCell().EndCell()
	}
	s, err := c.BeginParse()
	if err != nil {
		return nil, err
	}
	if s.BitsLeft() < 73 || s.RefsNum() != 2 || s.MustPreloadUInt(32) != 0xfffffffe {
		return hex.EncodeToString(c.Hash()), nil
	}
	s.MustLoadUInt(32)
	// The prefix check above guarantees the 73 bits and 2 refs read without the info cell.
	original := s.MustLoadRef()
	info := s.MustLoadRef()
	rb := map[string]any{
		"original": hex.EncodeToString(original.MustToCell().Hash()),
		"phase":    s.MustLoadUInt(8),
		"exitCode": s.MustLoadInt(32),
		"compute":  nil,
	}
	if s.MustLoadBoolBit() {
		rb["compute"] = map[string]any{"gasUsed": s.MustLoadUInt(32), "vmSteps": s.MustLoadUInt(32)}
	}
	value, err := info.LoadBigCoins()
	if err != nil {
		return nil, fmt.Errorf("bad rich bounce value: %w", err)
	}
	rb["value"] = value.String()
	if extra, err := info.LoadBoolBit(); err != nil || extra {
		return nil, fmt.Errorf("unexpected rich bounce info (extra currencies or truncated): %v", err)
	}
	if _, err := info.LoadUInt(64); err != nil { // created_lt
		return nil, fmt.Errorf("bad rich bounce info: %w", err)
	}
	if rb["createdAt"], err = info.LoadUInt(32); err != nil {
		return nil, fmt.Errorf("bad rich bounce info: %w", err)
	}
	return map[string]any{"richBounce": rb}, nil
}

func txRecord(tx *tlb.Transaction) (map[string]any, error) {
	d, ok := tx.Description.(tlb.TransactionDescriptionOrdinary)
	if !ok {
		return nil, fmt.Errorf("unexpected transaction description %T", tx.Description)
	}
	r := map[string]any{
		"account":    "0:" + hex.EncodeToString(tx.AccountAddr),
		"aborted":    d.Aborted,
		"totalFees":  tx.TotalFees.Coins.Nano().String(),
		"storageFee": "0",
		"endStatus":  endStatuses[tx.EndStatus],
		"action":     nil,
		"bounce":     nil,
	}
	if tx.IO.In != nil {
		in, err := messageRecord(tx.IO.In)
		if err != nil {
			return nil, err
		}
		r["in"] = in
	}
	switch c := d.ComputePhase.Phase.(type) {
	case tlb.ComputePhaseSkipped:
		r["compute"] = map[string]any{"skipped": skipReasons[c.Reason.Type]}
	case tlb.ComputePhaseVM:
		r["compute"] = map[string]any{"success": c.Success, "exitCode": c.Details.ExitCode,
			"gasUsed": c.Details.GasUsed.String(), "gasFees": c.GasFees.Nano().String()}
	default:
		return nil, fmt.Errorf("unexpected compute phase %T", d.ComputePhase.Phase)
	}
	if a := d.ActionPhase; a != nil {
		fwd := "0"
		if a.TotalFwdFees != nil {
			fwd = a.TotalFwdFees.Nano().String()
		}
		r["action"] = map[string]any{"success": a.Success, "resultCode": a.ResultCode, "totalActions": a.TotalActions, "fwdFees": fwd}
	}
	if b := d.BouncePhase; b != nil {
		switch b.Phase.(type) {
		case tlb.BouncePhaseOk:
			r["bounce"] = "ok"
		case tlb.BouncePhaseNoFunds:
			r["bounce"] = "no-funds"
		case tlb.BouncePhaseNegFunds:
			r["bounce"] = "negative-funds"
		}
	}
	if d.StoragePhase != nil {
		r["storageFee"] = d.StoragePhase.StorageFeesCollected.Nano().String()
	}
	outs := []any{}
	if tx.IO.Out != nil {
		msgs, err := tx.IO.Out.ToSlice()
		if err != nil {
			return nil, err
		}
		for i := range msgs {
			out, err := messageRecord(&msgs[i])
			if err != nil {
				return nil, err
			}
			outs = append(outs, out)
		}
	}
	r["out"] = outs
	return r, nil
}

func stackRecord(vals []any) ([]any, error) {
	out := make([]any, 0, len(vals))
	for _, v := range vals {
		switch x := v.(type) {
		case nil:
			out = append(out, nil)
		case *big.Int:
			out = append(out, x.String())
		case *cell.Cell:
			out = append(out, map[string]any{"cell": hex.EncodeToString(x.Hash())})
		case *cell.Slice:
			c, err := x.Copy().ToCell()
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{"slice": hex.EncodeToString(c.Hash())})
		case *cell.Builder:
			out = append(out, map[string]any{"builder": hex.EncodeToString(x.EndCell().Hash())})
		case []any:
			items, err := stackRecord(x)
			if err != nil {
				return nil, err
			}
			out = append(out, map[string]any{"tuple": items})
		default:
			return nil, fmt.Errorf("unexpected stack value %T", v)
		}
	}
	return out, nil
}

// runStep executes one step on the world's devnet and returns its record.
func (w *world) runStep(ctx context.Context, s step) (map[string]any, error) {
	r := map[string]any{"step": stepName(s)}
	var txs []*tlb.Transaction
	switch s.Op {
	case "advance":
		w.d.AdvanceTime(time.Duration(s.Seconds) * time.Second)
		return r, nil
	case "get":
		at, err := w.addr(s.At)
		if err != nil {
			return nil, err
		}
		active, err := w.deployed(at)
		if err != nil {
			return nil, err
		}
		if !active {
			r["notActive"] = true
			return r, nil
		}
		args, err := w.getArgs(s.Args)
		if err != nil {
			return nil, err
		}
		run, err := w.d.RunGetMethodID(ctx, at, int64(tlb.MethodNameHash(s.Method)), args)
		if err != nil {
			return nil, err
		}
		r["exitCode"] = run.ExitCode
		if r["stack"], err = stackRecord(run.Stack); err != nil {
			return nil, err
		}
		return r, nil
	case "fund":
		to, err := w.addr(s.To)
		if err != nil {
			return nil, err
		}
		v, err := nano(s.Value)
		if err != nil {
			return nil, err
		}
		if txs, err = w.d.FundTx(ctx, to, v); err != nil {
			return nil, err
		}
	case "send":
		msg, err := w.sendMessage(ctx, s)
		if err != nil {
			return nil, err
		}
		r["message"] = hex.EncodeToString(msg.Hash())
		res, err := w.d.Send(ctx, msg)
		if errors.Is(err, chain.ErrRejected) {
			r["rejected"] = true
			return r, nil
		}
		if err != nil {
			return nil, err
		}
		txs = res.Transactions
	default:
		return nil, fmt.Errorf("unknown op %q", s.Op)
	}
	recs := make([]any, 0, len(txs))
	involved := map[string]*address.Address{}
	for _, tx := range txs {
		rec, err := txRecord(tx)
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
		involved[rec["account"].(string)] = address.NewAddress(0, 0, tx.AccountAddr)
	}
	r["transactions"] = recs
	keys := make([]string, 0, len(involved))
	for k := range involved {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	bal := map[string]any{}
	for _, k := range keys {
		acc, err := w.d.Account(involved[k])
		if err != nil {
			return nil, err
		}
		bal[k] = acc.Balance.String()
	}
	r["balances"] = bal
	return r, nil
}

// runScenario runs one scenario on a fresh in-memory devnet whose clock starts at doc.Now.
func runScenario(ctx context.Context, doc *scenarioDoc, sc scenarioSpec) ([]map[string]any, error) {
	start := time.Unix(int64(doc.Now), 0)
	d, err := devnet.Open(devnet.Config{Now: func() time.Time { return start }, GlobalID: doc.WalletGlobalID})
	if err != nil {
		return nil, err
	}
	defer d.Close()
	w, err := newWorld(doc, d)
	if err != nil {
		return nil, err
	}
	steps, err := doc.expand(sc.Steps)
	if err != nil {
		return nil, err
	}
	out := make([]map[string]any, 0, len(steps))
	for i, s := range steps {
		r, err := w.runStep(ctx, s)
		if err != nil {
			return nil, fmt.Errorf("step %d (%s): %w", i, stepName(s), err)
		}
		// Round-trip through JSON so values compare like the decoded sandbox file.
		b, err := json.Marshal(r)
		if err != nil {
			return nil, err
		}
		var norm map[string]any
		if err := json.Unmarshal(b, &norm); err != nil {
			return nil, err
		}
		out = append(out, norm)
	}
	return out, nil
}

func walletCodeFromDoc(doc *scenarioDoc) (*cell.Cell, error) {
	raw, err := base64.StdEncoding.DecodeString(doc.WalletCode)
	if err != nil {
		return nil, fmt.Errorf("walletCode is not base64: %w", err)
	}
	return cell.FromBOC(raw)
}
