package dial

import (
	"context"
	"errors"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/cocoon-go/cocoon/chain/devnet"
	"github.com/cocoon-go/cocoon/chain/toncenter"
)

func TestConfigCheck(t *testing.T) {
	for _, c := range []Config{
		{Network: "moon"},
		{RPC: "http://x", LiteserverConfig: "y"},
		{Network: "devnet", LiteserverConfig: "y"},
	} {
		if err := c.Check(); !errors.Is(err, ErrConfig) {
			t.Errorf("%+v: %v, want ErrConfig", c, err)
		}
	}
	for _, c := range []Config{{}, {Network: "testnet", LiteserverConfig: "testnet"}, {Network: "mainnet", RPC: "https://x.example"}} {
		if err := c.Check(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	if _, _, err := Dial(context.Background(), Config{RPC: "ftp://x"}); !errors.Is(err, ErrConfig) {
		t.Fatalf("a bad URL: %v", err)
	}
	if n, _ := (Config{Network: "testnet"}).Net(); !n.Testnet || n.GlobalID != -3 {
		t.Fatalf("testnet: %+v", n)
	}
}

// Dial reaches a devnet over its toncenter API, and Clock follows the devnet's clock there.
func TestDialDevnetClock(t *testing.T) {
	d, err := devnet.Open(devnet.Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	srv := httptest.NewServer(d.Handler())
	defer srv.Close()
	d.AdvanceTime(time.Hour)
	ctx := context.Background()
	c, release, err := Dial(ctx, Config{RPC: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer release()
	if _, ok := c.(*toncenter.Client); !ok {
		t.Fatalf("devnet client %T", c)
	}
	if ahead := Clock(ctx, "devnet", c)().Sub(time.Now()); ahead < 59*time.Minute {
		t.Fatalf("the devnet clock is %v ahead, want about an hour", ahead)
	}
	if ahead := Clock(ctx, "mainnet", c)().Sub(time.Now()); ahead > time.Minute {
		t.Fatalf("off the devnet the wall clock counts: %v ahead", ahead)
	}
	if PollInterval("devnet") >= PollInterval("mainnet") {
		t.Fatal("the devnet is polled less often than a public network")
	}
}
