package liteserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tl"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/cocoon-go/cocoon/chain/chaintest"
	"github.com/cocoon-go/cocoon/chain/devnet"
)

// These tests put the devnet behind the API interface directly, in-process, the way tonutils-go's
// ton.APIClient presents a liteserver: accounts go through the AccountState cell and tlb parsing,
// get-method arguments and results through TVM stack cells, transactions come oldest first with
// ton.ErrNoTransactionsWereFound for none, send answers are TL objects and liteServer.error
// values. ADNL and the TL wire encoding are covered by adnl_test.go, which runs a real ADNL
// liteserver (tonutils-go's liteclient.Server answering from the devnet) and the same suite over
// it (outside -race builds). Proof checking is covered by neither: the devnet has no blocks to
// prove against.
type devnetAPI struct {
	d *devnet.Devnet
	c chain.Client
}

func (a devnetAPI) Client() ton.LiteClient { return devnetLite(a) }

func (a devnetAPI) CurrentMasterchainInfo(ctx context.Context) (*ton.BlockIDExt, error) {
	return &ton.BlockIDExt{Workchain: -1, Shard: -1 << 63, SeqNo: a.d.Seqno(), RootHash: make([]byte, 32), FileHash: make([]byte, 32)}, nil
}

func (a devnetAPI) GetAccount(ctx context.Context, _ *ton.BlockIDExt, addr *address.Address) (*tlb.Account, error) {
	acc, err := a.c.GetAccount(ctx, addr)
	if err != nil {
		return nil, err
	}
	if acc.State == chain.StateNonexist {
		return &tlb.Account{IsActive: false}, nil
	}
	st := tlb.AccountState{
		IsValid: true,
		Address: addr,
		StorageInfo: tlb.StorageInfo{
			StorageUsed:  tlb.StorageUsed{CellsUsed: big.NewInt(1), BitsUsed: big.NewInt(1)},
			StorageExtra: tlb.StorageExtraNone{},
			LastPaid:     uint32(time.Now().Unix()),
		},
		AccountStorage: tlb.AccountStorage{LastTransactionLT: acc.LastTxLT, Balance: tlb.FromNanoTON(acc.Balance)},
	}
	switch acc.State {
	case chain.StateActive:
		st.Status = tlb.AccountStatusActive
		st.StateInit = &tlb.StateInit{Code: acc.Code, Data: acc.Data}
	case chain.StateUninit:
		st.Status = tlb.AccountStatusUninit
	case chain.StateFrozen:
		st.Status = tlb.AccountStatusFrozen
		st.StateHash = make([]byte, 32)
	}
	// Serialize and parse like a liteserver answer is parsed.
	c, err := st.ToCell()
	if err != nil {
		return nil, err
	}
	var parsed tlb.AccountState
	if err := tlb.Parse(&parsed, c); err != nil {
		return nil, err
	}
	out := &tlb.Account{IsActive: true, State: &parsed, LastTxLT: acc.LastTxLT, LastTxHash: acc.LastTxHash}
	if parsed.Status == tlb.AccountStatusActive {
		out.Code, out.Data = parsed.StateInit.Code, parsed.StateInit.Data
	}
	return out, nil
}

// roundTripStack serializes values into a TVM stack cell and parses them back, as the request
// and the response of liteServer.runSmcMethod do.
func roundTripStack(vals []any) ([]any, error) {
	var st tlb.Stack
	for i := len(vals) - 1; i >= 0; i-- {
		st.Push(vals[i])
	}
	c, err := st.ToCell()
	if err != nil {
		return nil, err
	}
	var back tlb.Stack
	if err := tlb.Parse(&back, c); err != nil {
		return nil, err
	}
	var out []any
	for back.Depth() > 0 {
		v, err := back.Pop()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

func (a devnetAPI) RunGetMethod(ctx context.Context, _ *ton.BlockIDExt, addr *address.Address, method string, params ...any) (*ton.ExecutionResult, error) {
	args, err := roundTripStack(params)
	if err != nil {
		return nil, fmt.Errorf("build stack err: %w", err)
	}
	acc, err := a.c.GetAccount(ctx, addr)
	if err != nil {
		return nil, err
	}
	if acc.State != chain.StateActive {
		return nil, ton.ContractExecError{Code: ton.ErrCodeContractNotInitialized}
	}
	res, err := a.c.RunGetMethod(ctx, addr, method, args...)
	var gm *chain.GetMethodError
	if errors.As(err, &gm) {
		return nil, ton.ContractExecError{Code: int32(gm.ExitCode)}
	}
	if err != nil {
		return nil, err
	}
	out, err := roundTripStack(res.Stack)
	if err != nil {
		return nil, err
	}
	return ton.NewExecutionResult(out), nil
}

func (a devnetAPI) ListTransactions(ctx context.Context, addr *address.Address, num uint32, lt uint64, txHash []byte) ([]*tlb.Transaction, error) {
	txs, err := a.c.GetTransactions(ctx, addr, int(num), lt, txHash)
	if errors.Is(err, chain.ErrNotFound) {
		return nil, ton.LSError{Code: 651, Text: "transaction not found"}
	}
	if err != nil {
		return nil, err
	}
	if len(txs) == 0 {
		return nil, ton.ErrNoTransactionsWereFound
	}
	out := make([]*tlb.Transaction, len(txs))
	for i, tx := range txs {
		out[len(txs)-1-i] = tx
	}
	return out, nil
}

// devnetLite answers liteServer.sendMessage the way a liteserver does.
type devnetLite devnetAPI

func (l devnetLite) QueryLiteserver(ctx context.Context, payload tl.Serializable, result tl.Serializable) error {
	req, ok := payload.(ton.SendMessage)
	if !ok {
		return fmt.Errorf("unexpected query %T", payload)
	}
	out := result.(*tl.Serializable)
	c, err := cell.FromBOC(req.Body)
	if err != nil {
		*out = ton.LSError{Code: 0, Text: "cannot apply external message to current state : failed to parse external message external message is not a valid bag of cells"}
		return nil
	}
	if _, err := l.c.SendExternal(ctx, c); err != nil {
		if errors.Is(err, chain.ErrRejected) {
			*out = ton.LSError{Code: 0, Text: "cannot apply external message to current state : External message was not accepted\n" + err.Error()}
			return nil
		}
		return err
	}
	*out = ton.SendMessageStatus{Status: 1}
	return nil
}

func (devnetLite) StickyContext(ctx context.Context) context.Context { return ctx }
func (devnetLite) StickyContextNextNode(ctx context.Context) (context.Context, error) {
	return ctx, nil
}
func (devnetLite) StickyContextNextNodeBalanced(ctx context.Context) (context.Context, error) {
	return ctx, nil
}
func (devnetLite) StickyNodeID(context.Context) uint32 { return 0 }

type liteEnv struct {
	*devnet.Devnet
	c *Client
}

func (e liteEnv) Client() chain.Client { return e.c }

func newLiteEnv(t *testing.T) chaintest.Env {
	d, err := devnet.Open(devnet.Config{GlobalID: -239})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return liteEnv{Devnet: d, c: New(devnetAPI{d: d, c: d.Client()})}
}

// TestSuiteThroughConversionLayer runs the shared suite through this package's conversions.
func TestSuiteThroughConversionLayer(t *testing.T) {
	chaintest.RunSuite(t, newLiteEnv)
}

func TestConvertAccount(t *testing.T) {
	addr := address.MustParseRawAddr("0:" + strings.Repeat("12", 32))
	acc, err := ConvertAccount(addr, &tlb.Account{IsActive: false})
	if err != nil || acc.State != chain.StateNonexist || acc.Balance.Sign() != 0 {
		t.Fatalf("inactive: %+v %v", acc, err)
	}
	frozen := &tlb.Account{IsActive: true, LastTxLT: 9, LastTxHash: make([]byte, 32), State: &tlb.AccountState{IsValid: true,
		AccountStorage: tlb.AccountStorage{Status: tlb.AccountStatusFrozen, Balance: tlb.FromNanoTONU(5)}}}
	acc, err = ConvertAccount(addr, frozen)
	if err != nil || acc.State != chain.StateFrozen || acc.Balance.Int64() != 5 || acc.LastTxLT != 9 || acc.Code != nil {
		t.Fatalf("frozen: %+v %v", acc, err)
	}
	broken := &tlb.Account{IsActive: true, State: &tlb.AccountState{IsValid: true, AccountStorage: tlb.AccountStorage{Status: tlb.AccountStatusActive}}}
	if _, err := ConvertAccount(addr, broken); err == nil {
		t.Fatal("active account without code accepted")
	}
}

func TestErrorMapping(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{ton.LSError{Code: 0, Text: "cannot apply external message to current state : External message was not accepted"}, chain.ErrRejected},
		{ton.LSError{Code: 0, Text: "cannot apply external message to current state : failed to parse external message external message is not a valid bag of cells"}, chain.ErrMalformed},
		{ton.LSError{Code: 651, Text: "block is not found"}, chain.ErrNotFound},
		{ton.LSError{Code: 651, Text: "lt not in db"}, chain.ErrNotFound},
	} {
		if got := mapErr(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("%v mapped to %v, want %v", tc.err, got, tc.want)
		}
		var ls ton.LSError
		if !errors.As(mapErr(tc.err), &ls) {
			t.Errorf("%v: original error lost", tc.err)
		}
	}
	other := errors.New("timeout")
	if mapErr(other) != other {
		t.Error("unrelated error changed")
	}
}

func TestDialConfigErrors(t *testing.T) {
	if _, err := Dial(context.Background(), Config{}); err == nil {
		t.Fatal("empty config accepted")
	}
	if _, err := Dial(context.Background(), Config{GlobalConfig: t.TempDir() + "/missing.json"}); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Fatalf("missing file: %v", err)
	}
}
