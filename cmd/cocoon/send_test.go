package main

import (
	"context"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/txmgr"
	"github.com/cocoon-go/cocoon/chain/wallet"
)

// testBlockInterval is the block time of the devnets the end-to-end tests run the verbs on: block
// mode, so every verb meets what it meets on TON (a message not yet included when sendBoc answers,
// each hop of its cascade a block later), with blocks short enough to keep the tests fast.
const testBlockInterval = 10 * time.Millisecond

// testSend sends one transfer from w on d through a transaction manager, as test setup that no
// verb covers, and waits for its whole cascade.
func testSend(t *testing.T, d *devnet.Devnet, w *wallet.Wallet, tr wallet.Transfer) {
	t.Helper()
	m, err := txmgr.New(txmgr.Config{Chain: d.Client(), Signer: w, PollInterval: 10 * time.Millisecond,
		Clock: txmgr.DevnetClock(d.Client().(txmgr.DevnetClocked))})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Send(context.Background(), txmgr.Request{Transfers: []wallet.Transfer{tr}, Follow: txmgr.FollowAll()}); err != nil {
		t.Fatal(err)
	}
}
