package devnet

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/big"

	"github.com/cocoon-go/cocoon/chain"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"
	"github.com/xssnick/tonutils-go/tvm/tuple"
	"github.com/xssnick/tonutils-go/tvm/vm"
)

// getMethodGas bounds one get-method run, like a liteserver's limit.
const getMethodGas = 10_000_000

// ExitCodeNotActive is the exit code reported for a get-method on an account without code
// (toncenter reports the same for uninitialized accounts).
const ExitCodeNotActive = -13

// GetMethodRun is a finished get-method with what toncenter reports besides the stack.
type GetMethodRun struct {
	chain.GetMethodResult
	LastTxLT   uint64
	LastTxHash []byte
	Seqno      uint32
}

// RunGetMethod runs a named get-method on the account's current state. Arguments may be
// *big.Int, int, int64, uint64, *cell.Cell, *cell.Slice, *cell.Builder, *address.Address
// (as a slice), []any (a tuple) or nil. Exit codes other than 0 and 1 give *chain.GetMethodError.
func (d *Devnet) RunGetMethod(ctx context.Context, addr *address.Address, method string, args ...any) (*chain.GetMethodResult, error) {
	if method == "" {
		return nil, fmt.Errorf("%w: empty method name", chain.ErrMalformed)
	}
	run, err := d.RunGetMethodID(ctx, addr, int64(tlb.MethodNameHash(method)), args)
	if err != nil {
		return nil, err
	}
	if run.ExitCode != 0 && run.ExitCode != 1 {
		return nil, &chain.GetMethodError{Method: method, ExitCode: run.ExitCode}
	}
	return &run.GetMethodResult, nil
}

// RunGetMethodID runs a get-method by numeric id and reports any exit code in the result.
func (d *Devnet) RunGetMethodID(ctx context.Context, addr *address.Address, methodID int64, args []any) (*GetMethodRun, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	k, err := keyOf(addr)
	if err != nil {
		return nil, err
	}
	stack := vm.NewStack()
	for i, a := range args {
		v, err := toVMValue(a)
		if err != nil {
			return nil, fmt.Errorf("%w: argument %d: %v", chain.ErrMalformed, i, err)
		}
		if err := stack.PushAny(v); err != nil {
			return nil, fmt.Errorf("%w: argument %d: %v", chain.ErrMalformed, i, err)
		}
	}
	if err := stack.PushInt(big.NewInt(methodID)); err != nil {
		return nil, err
	}

	sa, st, seqno, err := d.accountState(k)
	if err != nil {
		return nil, err
	}
	now := uint32(d.Now().Unix())
	out := &GetMethodRun{Seqno: seqno}
	if sa.LastTransLT != 0 {
		out.LastTxLT, out.LastTxHash = sa.LastTransLT, sa.LastTransHash
	}
	if !st.IsValid || st.Status != tlb.AccountStatusActive || st.StateInit == nil || st.StateInit.Code == nil {
		out.ExitCode = ExitCodeNotActive
		return out, nil
	}
	code, data := st.StateInit.Code, st.StateInit.Data
	if data == nil {
		data = cell.BeginCell().EndCell()
	}
	c7 := d.getMethodC7(k, code, st.Balance.Nano(), now, sa.LastTransLT)
	var libs []*cell.Cell
	if st.StateInit.Lib != nil && !st.StateInit.Lib.IsEmpty() {
		libs = append(libs, st.StateInit.Lib.AsCell())
	}
	d.vmMu.Lock()
	res, err := d.vm.ExecuteDetailedWithLibraries(code, data, c7, vm.NewGas(vm.GasConfig{Max: getMethodGas, Limit: getMethodGas}), stack, libs...)
	d.vmMu.Unlock()
	if err != nil {
		return nil, fmt.Errorf("failed to run get-method %d on %s: %w", methodID, addr, err)
	}
	out.ExitCode = int(res.ExitCode)
	out.GasUsed = res.GasUsed
	if res.Stack != nil {
		vals := make([]any, 0, res.Stack.Len())
		for res.Stack.Len() > 0 {
			v, err := res.Stack.PopAny()
			if err != nil {
				return nil, fmt.Errorf("failed to read result stack: %w", err)
			}
			g, err := fromVMValue(v)
			if err != nil {
				return nil, fmt.Errorf("failed to read result stack: %w", err)
			}
			vals = append(vals, g)
		}
		for i, j := 0, len(vals)-1; i < j; i, j = i+1, j-1 {
			vals[i], vals[j] = vals[j], vals[i]
		}
		out.Stack = vals
	}
	return out, nil
}

// getMethodC7 builds the SmartContractInfo tuple a get-method sees, laid out as the C++
// emulator's prepare_vm_c7 does for global version 11+ (fields after 9 only read by newer code).
func (d *Devnet) getMethodC7(k addrKey, code *cell.Cell, balance *big.Int, now uint32, lastLT uint64) tuple.Tuple {
	var seedIn [40]byte
	copy(seedIn[:32], k.id[:])
	binary.BigEndian.PutUint64(seedIn[32:], lastLT)
	seed := sha256.Sum256(seedIn[:])
	lt := lastLT + 1
	cfg := tlb.BlockchainConfig{Root: d.configRoot}
	paramSlice := func(id uint32) any {
		c, err := cfg.GetParam(id)
		if err != nil {
			return nil
		}
		return c.MustBeginParse()
	}
	globalID := cell.BeginCell().MustStoreUInt(uint64(uint32(d.cfg.GlobalID)), 32).ToSlice()
	unpacked := tuple.NewTupleValue(
		nil, // storage prices: opcodes read them from the config root
		globalID,
		paramSlice(20), paramSlice(21), paramSlice(24), paramSlice(25), paramSlice(43),
	)
	inMsgParams := tuple.NewTupleValue(
		big.NewInt(0), big.NewInt(0), cell.BeginCell().MustStoreUInt(0, 2).ToSlice(),
		big.NewInt(0), big.NewInt(0), big.NewInt(0), big.NewInt(0), big.NewInt(0), nil, nil,
	)
	inner := tuple.NewTupleValue(
		big.NewInt(0x076ef1ea),
		big.NewInt(0), // actions
		big.NewInt(0), // msgs sent
		new(big.Int).SetUint64(uint64(now)),
		new(big.Int).SetUint64(lt-lt%1_000_000), // block LT
		new(big.Int).SetUint64(lt),
		new(big.Int).SetBytes(seed[:]),
		tuple.NewTupleValue(new(big.Int).Set(balance), nil),
		cell.BeginCell().MustStoreAddr(k.address()).ToSlice(),
		d.configRoot,
		code,
		tuple.NewTupleValue(big.NewInt(0), nil), // incoming value
		big.NewInt(0),                           // storage fees
		nil,                                     // previous blocks
		unpacked,
		big.NewInt(0), // due payment
		nil,           // precompiled gas usage
		inMsgParams,
	)
	return tuple.NewTupleValue(inner)
}

func toVMValue(a any) (any, error) {
	switch v := a.(type) {
	case nil:
		return nil, nil
	case *big.Int:
		if v == nil {
			return nil, fmt.Errorf("nil *big.Int")
		}
		if v.BitLen() > 256 {
			return nil, fmt.Errorf("integer does not fit 257 bits")
		}
		return new(big.Int).Set(v), nil
	case int:
		return big.NewInt(int64(v)), nil
	case int64:
		return big.NewInt(v), nil
	case int32:
		return big.NewInt(int64(v)), nil
	case uint32:
		return new(big.Int).SetUint64(uint64(v)), nil
	case uint64:
		return new(big.Int).SetUint64(v), nil
	case bool:
		if v {
			return big.NewInt(-1), nil
		}
		return big.NewInt(0), nil
	case *cell.Cell:
		if v == nil {
			return nil, fmt.Errorf("nil *cell.Cell")
		}
		return v, nil
	case *cell.Slice:
		if v == nil {
			return nil, fmt.Errorf("nil *cell.Slice")
		}
		return v.Copy(), nil
	case *cell.Builder:
		if v == nil {
			return nil, fmt.Errorf("nil *cell.Builder")
		}
		return v.Copy(), nil
	case *address.Address:
		if v == nil {
			return nil, fmt.Errorf("nil *address.Address")
		}
		return cell.BeginCell().MustStoreAddr(v).ToSlice(), nil
	case []any:
		items := make([]any, len(v))
		for i, x := range v {
			y, err := toVMValue(x)
			if err != nil {
				return nil, fmt.Errorf("tuple item %d: %w", i, err)
			}
			items[i] = y
		}
		return tuple.NewTupleOwned(items), nil
	default:
		return nil, fmt.Errorf("unsupported stack value of type %T", a)
	}
}

// fromVMValue converts a result value. Cells, slices and builders are returned without the VM's
// gas trace: the run is over, and reading them later must not charge its gas (a builder's EndCell
// panics once that gas is exhausted).
func fromVMValue(v any) (any, error) {
	switch x := v.(type) {
	case nil, *big.Int:
		return x, nil
	case *cell.Cell:
		if x == nil {
			return nil, nil
		}
		return detach(x)
	case *cell.Slice:
		if x == nil {
			return nil, nil
		}
		c, err := x.WithoutTrace().ToCell()
		if err != nil {
			return nil, err
		}
		if c, err = detach(c); err != nil {
			return nil, err
		}
		return c.BeginParse()
	case *cell.Builder:
		if x == nil {
			return nil, nil
		}
		c, err := detach(x.WithoutTrace().EndCell())
		if err != nil {
			return nil, err
		}
		return c.ToBuilder(), nil
	case tuple.Tuple:
		items := make([]any, x.Len())
		for i := range items {
			raw, err := x.Index(i)
			if err != nil {
				return nil, err
			}
			if items[i], err = fromVMValue(raw); err != nil {
				return nil, err
			}
		}
		return items, nil
	case *tuple.Tuple:
		if x == nil {
			return nil, nil
		}
		return fromVMValue(*x)
	default:
		return nil, fmt.Errorf("unsupported result value of type %T", v)
	}
}

// detach copies a result cell and everything below it into fresh cells. The VM attaches its gas
// trace to the cells it loads, refs included, and a finished run's trace stays on them: a caller
// parsing the result would charge that run's gas counter, racing with whatever else touches it.
func detach(c *cell.Cell) (*cell.Cell, error) {
	fresh, err := cell.FromBOC(c.WithoutTrace().ToBOC())
	if err != nil {
		return nil, fmt.Errorf("failed to copy result cell: %w", err)
	}
	return fresh, nil
}

// walletKind names a wallet contract as toncenter's getWalletInformation does.
type walletKind string

// knownWallets maps the code hashes of the wallets toncenter recognises to their names.
func knownWallets() (map[string]walletKind, error) {
	pub := ed25519.NewKeyFromSeed(make([]byte, 32)).Public().(ed25519.PublicKey)
	out := map[string]walletKind{}
	for _, w := range []struct {
		ver  wallet.VersionConfig
		name walletKind
	}{
		{wallet.V3R1, "wallet v3 r1"},
		{wallet.V3R2, "wallet v3 r2"},
		{wallet.V4R1, "wallet v4 r1"},
		{wallet.V4R2, "wallet v4 r2"},
		{wallet.ConfigV5R1Final{NetworkGlobalID: DefaultGlobalID}, "wallet v5 r1"},
	} {
		si, err := wallet.GetStateInit(pub, w.ver, 0)
		if err != nil {
			return nil, fmt.Errorf("failed to build %s code: %w", w.name, err)
		}
		out[string(si.Code.Hash())] = w.name
	}
	return out, nil
}
