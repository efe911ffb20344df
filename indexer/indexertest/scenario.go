package indexertest

import (
	"bytes"
	"math/big"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
	"github.com/cocoon-go/cocoon/contracts/ops"
	"github.com/cocoon-go/cocoon/uptime"
	"github.com/cocoon-go/cocoon/voucher"
)

func voucherOf(ch *address.Address, amount *big.Int, prompt, completion uint64) voucher.Voucher {
	return voucher.Voucher{Channel: ch, Amount: amount, PromptTokens: prompt, CompletionTokens: completion}
}

// Measurement is the simulated TEE measurement the scenario allows.
var Measurement = bytes.Repeat([]byte{0x5e}, 32)

// UnknownOp is the opcode of the bodies no contract knows that the scenario sends.
const UnknownOp = 0x0badc0de

// World is what Scenario built.
type World struct {
	Registry *address.Address
	// Alice runs an attested, active provider with two models; Bob was slashed, jailed, unjailed
	// and exited; Carol never registered (messages to her provider bounce).
	Alice, Bob, Carol *Actor
	Oracles           []*Actor
	// Client has a channel with Alice that was claimed, topped up, claimed again, closed and
	// finalized (Channel), and a second one closed cooperatively (Coop); Stray has a channel with
	// Carol, whose usage report bounced.
	Client               *Client
	Channel, Coop, Stray *address.Address
	// UnknownBodies counts the bodies no Cocoon message matches that the scenario sent.
	UnknownBodies int
	// UptimeCommits counts the uptime roots the registry accepted (the fourth oracle's is gone
	// from its storage with the oracle, not from the history).
	UptimeCommits int
}

// Scenario runs every operation of the three contracts on n, bounces and failures included:
// governance (measurements, models, oracles, params, channel code, handover), provider lifecycle
// (register, top up, endpoint, prices, stake, unstake, withdraw, pause, resume, exit), oracle votes
// to quorum and an extension, slash, jail, unjail, channels (open, top up, claim, claim beyond the
// deposit, claim remainder, start close, claim while closing, finalize, cooperative close), a usage
// report that bounces, forwards that bounce, owner ops refused with exit codes, and unknown bodies.
func Scenario(n *Net) *World {
	t := n.T
	t.Helper()
	w := &World{Registry: n.DeployRegistry()}
	reg := w.Registry

	// Governance: catalog, oracles, params, channels, a handover to a new key and back.
	n.Succeeded(n.Gover(contracts.AddMeasurement{QueryID: n.QueryID(), MeasurementHash: Measurement, Kind: contracts.MeasurementSim}))
	other := bytes.Repeat([]byte{0x77}, 32)
	n.Succeeded(n.Gover(contracts.AddMeasurement{QueryID: n.QueryID(), MeasurementHash: other, Kind: contracts.MeasurementSim}))
	n.Succeeded(n.Gover(contracts.RevokeMeasurement{QueryID: n.QueryID(), MeasurementHash: other}))
	for i, name := range []string{"cocoon-kjv-demo-1m", "llama-3.1-8b", "to-be-removed"} {
		txt, err := contracts.TextCell(name, contracts.MaxModelNameBytes)
		if err != nil {
			t.Fatal(err)
		}
		n.Succeeded(n.Gover(contracts.AddModel{QueryID: n.QueryID(), ModelID: uint32(i + 1), WeightsHash: bytes.Repeat([]byte{byte(i + 1)}, 32), Name: txt}))
	}
	renamed, _ := contracts.TextCell("llama-3.1-8b-instruct", contracts.MaxModelNameBytes)
	n.Succeeded(n.Gover(contracts.UpdateModel{QueryID: n.QueryID(), ModelID: 2, WeightsHash: bytes.Repeat([]byte{2}, 32), Name: renamed}))
	n.Succeeded(n.Gover(contracts.RemoveModel{QueryID: n.QueryID(), ModelID: 3}))
	for i := range 4 {
		o := n.Actor("oracle-"+string(rune('a'+i)), "50")
		w.Oracles = append(w.Oracles, o)
		n.Succeeded(n.Gover(contracts.AddOracle{QueryID: n.QueryID(), Wallet: o.Address(), PublicKey: bytes.Repeat([]byte{byte(0x10 + i)}, 32)}))
	}
	// Uptime commitments (contracts/ops PlanUptimeRoot, SendUptimeRoot): the first oracle commits
	// two epochs, the second one, the fourth one before it leaves (RemoveOracle deletes it).
	epoch := uptime.Epoch(n.D.Now(), time.Hour)
	n.CommitUptime(w.Oracles[0], UptimeTable(epoch-2, 3))
	stale, err := n.PlanUptime(w.Oracles[0], UptimeTable(epoch-1, 3))
	if err != nil {
		t.Fatal(err)
	}
	n.CommitUptime(w.Oracles[0], UptimeTable(epoch, 5))
	n.CommitUptime(w.Oracles[1], UptimeTable(epoch, 1))
	n.CommitUptime(w.Oracles[3], UptimeTable(epoch, 2))
	w.UptimeCommits = 4
	// Refused, before sending and by the registry: a plan that went stale (an epoch not above the
	// last committed one, 123), and a stranger's commitment (114).
	if _, err := n.PlanUptime(w.Oracles[0], UptimeTable(epoch-1, 3)); !ops.IsRefusal(err, contracts.ExitUptimeEpochNotNewer) {
		t.Fatalf("PlanUptimeRoot of an old epoch: %v", err)
	}
	if _, err := n.Ops(w.Oracles[0]).SendUptimeRoot(n.Ctx, stale); !isExit(err, contracts.ExitUptimeEpochNotNewer) {
		t.Fatalf("a stale commitment: %v", err)
	}
	outsider := n.Actor("uptime-outsider", "5")
	if _, err := n.PlanUptime(outsider, UptimeTable(epoch, 1)); !ops.IsRefusal(err, contracts.ExitNotOracle) {
		t.Fatalf("PlanUptimeRoot by a stranger: %v", err)
	}
	root := UptimeTable(epoch+1, 1).Root()
	forged, err := n.Ops(w.Oracles[1]).PlanUptimeRoot(n.Ctx, ops.UptimeRootInput{Oracle: w.Oracles[1].Address(), Epoch: epoch + 1, Root: root[:], ProviderCount: 1})
	if err != nil {
		t.Fatal(err)
	}
	if code := ExitCodeAt(n.Send(outsider, forged.To, forged.Value, forged.Body, nil), reg); code != int(contracts.ExitNotOracle) {
		t.Fatalf("SubmitUptimeRoot by a stranger: exit code %d", code)
	}
	// The fourth oracle leaves again (oracle epoch 1): its slot is free.
	n.Succeeded(n.Gover(contracts.RemoveOracle{QueryID: n.QueryID(), Wallet: w.Oracles[3].Address()}))
	params := n.Params()
	params.ProtocolFeeBps = 300
	n.Succeeded(n.Gover(contracts.UpdateParams{QueryID: n.QueryID(), Params: &params}))
	n.Succeeded(n.Gover(contracts.SetChannelCode{QueryID: n.QueryID(), ChannelCode: contracts.ChannelCode()}))
	gov2 := n.Actor("governance-2", "10")
	n.Succeeded(n.Gover(contracts.ProposeGovernance{QueryID: n.QueryID(), NewGovernance: gov2.Address()}))
	n.Succeeded(n.Msg(gov2, reg, "0.1", contracts.AcceptGovernance{QueryID: n.QueryID()}))
	n.Succeeded(n.Msg(gov2, reg, "0.1", contracts.ProposeGovernance{QueryID: n.QueryID(), NewGovernance: n.Gov.Address()}))
	n.Succeeded(n.Gover(contracts.AcceptGovernance{QueryID: n.QueryID()}))
	n.Succeeded(n.Gover(contracts.WithdrawRegistrySurplus{QueryID: n.QueryID()}))
	// Refused: not governance (100), and an unknown body (0xFFFF).
	if code := ExitCodeAt(n.Msg(gov2, reg, "0.1", contracts.RemoveModel{QueryID: n.QueryID(), ModelID: 1}), reg); code != int(contracts.ExitNotGovernance) {
		t.Fatalf("RemoveModel from a stranger: exit code %d", code)
	}
	unknown := cell.BeginCell().MustStoreUInt(UnknownOp, 32).MustStoreUInt(7, 64).EndCell()
	n.Send(gov2, reg, TON("0.1"), unknown, nil)
	w.UnknownBodies++

	// Alice: registered, published, staked more, unstaked and withdrew, paused and resumed.
	w.Alice = n.Actor("alice", "200")
	n.Succeeded(n.Register(w.Alice, "20"))
	alice := n.ProviderOf(w.Alice)
	endpoint, _ := contracts.TextCell("https://alice.example:8443", contracts.MaxEndpointBytes)
	n.Succeeded(n.Owner(w.Alice, contracts.SetEndpoint{QueryID: n.QueryID(), Endpoint: endpoint}))
	n.Succeeded(n.Owner(w.Alice, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: 1, PromptPricePerMillion: tlb.MustFromTON("0.1"), CompletionPricePerMillion: tlb.MustFromTON("0.3")}))
	n.Succeeded(n.Owner(w.Alice, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: 2, PromptPricePerMillion: tlb.MustFromTON("0.5"), CompletionPricePerMillion: tlb.MustFromTON("1.5")}))
	n.Succeeded(n.Owner(w.Alice, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: 1, PromptPricePerMillion: tlb.MustFromTON("0.08"), CompletionPricePerMillion: tlb.MustFromTON("0.25")}))
	n.Succeeded(n.Owner(w.Alice, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: 3, PromptPricePerMillion: tlb.MustFromTON("1"), CompletionPricePerMillion: tlb.MustFromTON("1")}))
	n.Succeeded(n.Owner(w.Alice, contracts.RemoveModelPrice{QueryID: n.QueryID(), ModelID: 3}))
	n.Succeeded(n.Msg(w.Alice, alice, "5.1", contracts.AddStake{QueryID: n.QueryID(), Amount: tlb.MustFromTON("5")}))
	n.Succeeded(n.Register(w.Alice, "10")) // a registration top-up
	n.Succeeded(n.Owner(w.Alice, contracts.RequestUnstake{QueryID: n.QueryID(), Amount: tlb.MustFromTON("3")}))
	if code := ExitCodeAt(n.Owner(w.Alice, contracts.WithdrawUnbonded{QueryID: n.QueryID()}), alice); code != int(contracts.ExitUnbondingLocked) {
		t.Fatalf("early withdrawal: exit code %d", code)
	}
	n.D.AdvanceTime(130 * time.Second)
	n.Succeeded(n.Owner(w.Alice, contracts.WithdrawUnbonded{QueryID: n.QueryID()}))
	n.Succeeded(n.Owner(w.Alice, contracts.PauseProvider{QueryID: n.QueryID()}))
	n.Succeeded(n.Owner(w.Alice, contracts.ResumeProvider{QueryID: n.QueryID()}))
	// Refused: an owner op from someone else (130) and an unknown body to a provider.
	if code := ExitCodeAt(n.Stranger(gov2, alice, contracts.PauseProvider{QueryID: n.QueryID()}), alice); code != int(contracts.ExitNotOwner) {
		t.Fatalf("pause by a stranger: exit code %d", code)
	}
	n.Send(gov2, alice, TON("0.1"), unknown, nil)
	w.UnknownBodies++

	// Oracle votes: two of three reach the quorum, the third extends, one re-votes a new claim.
	now := uint32(n.D.Now().Unix())
	digest, tlsKey := bytes.Repeat([]byte{0xd1}, 32), bytes.Repeat([]byte{0xe1}, 32)
	n.Succeeded(n.Vote(w.Oracles[0], w.Alice, Measurement, digest, tlsKey, now+3600))
	n.Succeeded(n.Vote(w.Oracles[1], w.Alice, Measurement, digest, tlsKey, now+7200))
	n.Succeeded(n.Vote(w.Oracles[2], w.Alice, Measurement, digest, tlsKey, now+10800))
	n.Succeeded(n.Vote(w.Oracles[0], w.Alice, Measurement, bytes.Repeat([]byte{0xd2}, 32), tlsKey, now+3600))
	// Refused at the registry: a stranger's vote (114), a revoked measurement (115).
	if code := ExitCodeAt(n.Vote(gov2, w.Alice, Measurement, digest, tlsKey, now+3600), reg); code != int(contracts.ExitNotOracle) {
		t.Fatalf("vote by a stranger: exit code %d", code)
	}
	if code := ExitCodeAt(n.Vote(w.Oracles[1], w.Alice, other, digest, tlsKey, now+3600), reg); code != int(contracts.ExitMeasurementNotAllowed) {
		t.Fatalf("vote for a revoked measurement: exit code %d", code)
	}

	// Bob: registered, attested, slashed below the minimum, jailed, unjailed, topped up, exited.
	w.Bob = n.Actor("bob", "200")
	n.Succeeded(n.Register(w.Bob, "12"))
	bob := n.ProviderOf(w.Bob)
	n.Succeeded(n.Owner(w.Bob, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: 1, PromptPricePerMillion: tlb.MustFromTON("0.05"), CompletionPricePerMillion: tlb.MustFromTON("0.2")}))
	now = uint32(n.D.Now().Unix())
	n.Succeeded(n.Vote(w.Oracles[1], w.Bob, Measurement, bytes.Repeat([]byte{0xb0}, 32), tlsKey, now+1800))
	n.Succeeded(n.Vote(w.Oracles[2], w.Bob, Measurement, bytes.Repeat([]byte{0xb0}, 32), tlsKey, now+1800))
	n.Succeeded(n.Gover(contracts.SlashProvider{QueryID: n.QueryID(), ProviderOwner: w.Bob.Address(), Amount: tlb.MustFromTON("4"), EvidenceDigest: bytes.Repeat([]byte{0xee}, 32)}))
	n.Succeeded(n.Gover(contracts.JailProvider{QueryID: n.QueryID(), ProviderOwner: w.Bob.Address(), Until: uint32(n.D.Now().Unix()) + 3600}))
	if code := ExitCodeAt(n.Owner(w.Bob, contracts.ExitProvider{QueryID: n.QueryID()}), bob); code != int(contracts.ExitProviderJailed) {
		t.Fatalf("exit while jailed: exit code %d", code)
	}
	n.Succeeded(n.Msg(w.Bob, bob, "3.1", contracts.AddStake{QueryID: n.QueryID(), Amount: tlb.MustFromTON("3")}))
	n.Succeeded(n.Gover(contracts.UnjailProvider{QueryID: n.QueryID(), ProviderOwner: w.Bob.Address()}))
	n.Succeeded(n.Owner(w.Bob, contracts.ResumeProvider{QueryID: n.QueryID()}))
	n.Succeeded(n.Owner(w.Bob, contracts.ExitProvider{QueryID: n.QueryID()}))

	// Carol never registers: forwards to her provider bounce back to the registry, which refunds.
	w.Carol = n.Actor("carol", "50")
	n.Gover(contracts.JailProvider{QueryID: n.QueryID(), ProviderOwner: w.Carol.Address(), Until: uint32(n.D.Now().Unix()) + 600})
	n.Vote(w.Oracles[0], w.Carol, Measurement, digest, tlsKey, uint32(n.D.Now().Unix())+600)

	// Channels with Alice: open, top up, claim, claim beyond the deposit, top up, remainder, close.
	w.Client = n.NewClient("client", "100")
	n.Succeeded(n.Open(w.Client, w.Alice.Address(), "2"))
	w.Channel = n.ChannelOf(w.Client, w.Alice.Address())
	n.Succeeded(n.Send(w.Client.Actor, w.Channel, TON("1"), nil, nil)) // a plain top-up
	n.Succeeded(n.Msg(w.Alice, w.Channel, "0.1", n.ClaimMsg(w.Client, w.Channel, "0.4", 1500, 700)))
	relayer := n.Actor("relayer", "10")
	n.Succeeded(n.Msg(relayer, w.Channel, "0.1", n.ClaimMsg(w.Client, w.Channel, "0.9", 4000, 2100)))
	if code := ExitCodeAt(n.Msg(relayer, w.Channel, "0.1", n.ClaimMsg(w.Client, w.Channel, "0.5", 9000, 9000)), w.Channel); code != int(contracts.ExitVoucherNotNewer) {
		t.Fatalf("older voucher: exit code %d", code)
	}
	n.Succeeded(n.Msg(w.Alice, w.Channel, "0.1", n.ClaimMsg(w.Client, w.Channel, "5", 20000, 9000))) // beyond the deposit: owed
	n.Succeeded(n.Open(w.Client, w.Alice.Address(), "3"))                                            // a re-open only tops up
	n.Succeeded(n.Msg(relayer, w.Channel, "0.1", contracts.ClaimRemainder{QueryID: n.QueryID()}))
	n.Succeeded(n.Msg(w.Client.Actor, w.Channel, "0.1", n.StartCloseMsg(w.Client, w.Channel, 0)))
	n.Succeeded(n.Msg(w.Alice, w.Channel, "0.1", n.ClaimMsg(w.Client, w.Channel, "5.2", 21000, 9500))) // still claimable while closing
	if code := ExitCodeAt(n.Msg(w.Client.Actor, w.Channel, "0.1", contracts.FinalizeClose{QueryID: n.QueryID()}), w.Channel); code != int(contracts.ExitChallengeNotOver) {
		t.Fatalf("early finalize: exit code %d", code)
	}
	n.D.AdvanceTime(310 * time.Second)
	n.Succeeded(n.Msg(w.Client.Actor, w.Channel, "0.1", contracts.FinalizeClose{QueryID: n.QueryID()}))
	n.Send(w.Client.Actor, w.Channel, TON("0.1"), unknown, nil)
	w.UnknownBodies++

	// A second client key: claimed, then closed at once by Alice (cooperative close).
	coop := n.NewClient("client-coop", "50")
	n.Succeeded(n.Open(coop, w.Alice.Address(), "1"))
	w.Coop = n.ChannelOf(coop, w.Alice.Address())
	n.Succeeded(n.Msg(coop.Actor, w.Coop, "0.1", n.ClaimMsg(coop, w.Coop, "0.25", 800, 1200)))
	n.Succeeded(n.Msg(coop.Actor, w.Coop, "0.1", n.StartCloseMsg(coop, w.Coop, 0)))
	if code := ExitCodeAt(n.Msg(relayer, w.Coop, "0.1", contracts.CooperativeClose{QueryID: n.QueryID()}), w.Coop); code != int(contracts.ExitNotPayee) {
		t.Fatalf("cooperative close by a stranger: exit code %d", code)
	}
	n.Succeeded(n.Msg(w.Alice, w.Coop, "0.1", contracts.CooperativeClose{QueryID: n.QueryID()}))

	// A channel with Carol, who has no Provider contract: the usage report bounces and the
	// channel pays itself.
	stray := n.NewClient("client-stray", "50")
	n.Succeeded(n.Open(stray, w.Carol.Address(), "1"))
	w.Stray = n.ChannelOf(stray, w.Carol.Address())
	n.Msg(stray.Actor, w.Stray, "0.1", n.ClaimMsg(stray, w.Stray, "0.3", 100, 200))

	// Everything Alice's votes did not already renew: a fresh vote round by the remaining oracles.
	now = uint32(n.D.Now().Unix())
	n.Succeeded(n.Vote(w.Oracles[1], w.Alice, Measurement, digest, tlsKey, now+20000))
	n.Succeeded(n.Vote(w.Oracles[2], w.Alice, Measurement, digest, tlsKey, now+20000))
	// Bob ends jailed again: his effective status is jailed until then.
	n.Succeeded(n.Gover(contracts.JailProvider{QueryID: n.QueryID(), ProviderOwner: w.Bob.Address(), Until: now + 3600}))
	return w
}

func isExit(err error, want contracts.ExitCode) bool {
	code, ok := contracts.AsExitCode(err)
	return ok && code == want
}

// Stranger sends an owner operation to a provider from any actor (a stranger's attempt).
func (n *Net) Stranger(a *Actor, provider *address.Address, m contracts.Message) *txmgr.Outcome {
	n.T.Helper()
	return n.Msg(a, provider, "0.1", m)
}

// ManyClaims prepares a history of claims fast: channels channels of distinct clients with the
// provider of owner, each receiving perChannel claims, sent in wallet messages of up to 200
// transfers (one relayer). It returns the channels.
func (n *Net) ManyClaims(owner *Actor, channels, perChannel int) []*address.Address {
	n.T.Helper()
	var clients []*Client
	var addrs []*address.Address
	for i := range channels {
		c := n.NewClient("bulk-client-"+itoa(i), "20")
		n.Succeeded(n.Open(c, owner.Address(), "10"))
		clients = append(clients, c)
		addrs = append(addrs, n.ChannelOf(c, owner.Address()))
	}
	relayer := n.Actor("bulk-relayer", "100000")
	var batch []wallet.Transfer
	flush := func() {
		if len(batch) > 0 {
			n.SendMany(relayer, batch...)
			batch = batch[:0]
		}
	}
	for k := 1; k <= perChannel; k++ {
		for i, c := range clients {
			amount := new(big.Int).Mul(big.NewInt(int64(k)), big.NewInt(1_000_000)) // 0.001 TON a claim
			m := n.ClaimNano(c, addrs[i], amount, uint64(k*100), uint64(k*50))
			batch = append(batch, wallet.Transfer{To: addrs[i], Amount: TON("0.05"), Bounce: true, Body: n.Encode(m)})
			if len(batch) == 200 {
				flush()
			}
		}
		flush() // claims of one round go out before the next round's (one voucher per channel per message)
	}
	return addrs
}

func itoa(i int) string { return big.NewInt(int64(i)).String() }

// Demo adds to Scenario's world a network worth looking at (the README's screenshot): three more
// providers with their own models and prices, attested by the oracles, and clients whose claims
// come every hour for hours hours, so every chart has something to show.
func (n *Net) Demo(w *World, hours int) {
	n.T.Helper()
	type prov struct {
		owner            *Actor
		prompt, complete string
	}
	provs := []prov{{w.Alice, "", ""}}
	for i, p := range []struct{ name, prompt, complete, endpoint string }{
		{"erin", "0.06", "0.2", "https://erin.example:8443"},
		{"frank", "0.12", "0.4", "https://gpu.frank.example"},
		{"grace", "0.09", "0.3", "https://grace.example:9443"},
	} {
		o := n.Actor(p.name, "500")
		n.Succeeded(n.Register(o, itoa(15+5*i)))
		ep, _ := contracts.TextCell(p.endpoint, contracts.MaxEndpointBytes)
		n.Succeeded(n.Owner(o, contracts.SetEndpoint{QueryID: n.QueryID(), Endpoint: ep}))
		for model := uint32(1); model <= 2; model++ {
			scale := int64(model*model) * 1_000_000
			n.Succeeded(n.Owner(o, contracts.SetModelPrice{QueryID: n.QueryID(), ModelID: model,
				PromptPricePerMillion:     tlb.FromNanoTON(new(big.Int).Mul(TON(p.prompt), big.NewInt(scale/1_000_000))),
				CompletionPricePerMillion: tlb.FromNanoTON(new(big.Int).Mul(TON(p.complete), big.NewInt(scale/1_000_000)))}))
		}
		provs = append(provs, prov{o, p.prompt, p.complete})
	}
	var clients []*Client
	var chans []*address.Address
	for i, p := range provs {
		c := n.NewClient("demo-client-"+itoa(i), "500")
		n.Succeeded(n.Open(c, p.owner.Address(), "200"))
		clients = append(clients, c)
		chans = append(chans, n.ChannelOf(c, p.owner.Address()))
	}
	vote := func() {
		now := uint32(n.D.Now().Unix())
		for i, p := range provs {
			digest := bytes.Repeat([]byte{byte(0xa0 + i)}, 32)
			for _, o := range w.Oracles[1:3] {
				n.Succeeded(n.Vote(o, p.owner, Measurement, digest, bytes.Repeat([]byte{0xe1}, 32), now+6*3600))
			}
		}
	}
	vote()
	totals := make([]*big.Int, len(provs))
	tokens := make([]uint64, len(provs))
	for i := range totals {
		totals[i] = new(big.Int)
	}
	relayer := n.Actor("demo-relayer", "1000")
	for h := range hours {
		var batch []wallet.Transfer
		for i, c := range clients {
			k := uint64((h*7+i*13)%11 + 3) // a few claims an hour, varying
			for range k % 4 {
				tokens[i] += 40_000 + 900*k
				totals[i].Add(totals[i], big.NewInt(int64(20_000_000+3_000_000*k)))
				m := n.ClaimNano(c, chans[i], new(big.Int).Set(totals[i]), tokens[i]*2/3, tokens[i]/3)
				batch = append(batch, wallet.Transfer{To: chans[i], Amount: TON("0.05"), Bounce: true, Body: n.Encode(m)})
			}
		}
		if len(batch) > 0 {
			n.SendMany(relayer, batch...)
		}
		n.D.AdvanceTime(time.Hour)
		if h%5 == 4 {
			vote()
		}
	}
	vote()
}
