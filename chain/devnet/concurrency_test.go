package devnet

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/ton/wallet"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/contracts"
)

// Get-methods run while transactions execute, from many goroutines, as every daemon on a served
// devnet does. tonutils-go's VM charges cell loads through a trace it attaches to the cells it
// loads, and an account's cells are shared between runs: unless runs are serialised, one run is
// charged another's gas (and `go test -race` reports it). Every run must cost what it costs alone.
func TestConcurrentGetMethodsCostWhatTheyCostAlone(t *testing.T) {
	d := openMem(t)
	ctx := context.Background()
	gov := newTestWallet(t, d, wallet.V4R2, "concurrent getters")
	if err := d.Fund(ctx, gov.addr, ton(100)); err != nil {
		t.Fatal(err)
	}
	params := contracts.RegistryParams{MinProviderStake: tlb.MustFromTON("1"), UnbondingPeriod: 60, Treasury: gov.addr,
		ChallengePeriod: 60, OracleQuorum: 1, MaxAttestationLifetime: 3600}
	init, registry, err := contracts.RegistryDeploy(contracts.NewRegistryStorage(gov.addr, contracts.NetworkDevnet, params, contracts.ProviderCode()))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := d.Deploy(ctx, init, ton(1), nil); err != nil {
		t.Fatal(err)
	}
	for i := uint32(1); i <= 8; i++ {
		name, err := contracts.TextCell(fmt.Sprintf("model-%d", i), contracts.MaxModelNameBytes)
		if err != nil {
			t.Fatal(err)
		}
		body, err := contracts.Encode(contracts.AddModel{QueryID: uint64(i), ModelID: i, WeightsHash: make([]byte, 32), Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := d.Send(ctx, gov.transfer(t, registry, uint64(ton(0.1).Int64()), true, body)); err != nil {
			t.Fatal(err)
		}
	}
	// Getters that walk refs (params cell, catalog) and dictionaries.
	methods := []string{"get_registry_params", "get_registry_data", "get_codes", "get_models"}
	alone := map[string]int64{}
	for _, m := range methods {
		r, err := d.RunGetMethod(ctx, registry, m)
		if err != nil {
			t.Fatal(err)
		}
		alone[m] = r.GasUsed
	}
	dst := address.MustParseRawAddr("0:1111111111111111111111111111111111111111111111111111111111111111")

	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 100; i++ {
				m := methods[(g+i)%len(methods)]
				r, err := d.RunGetMethod(ctx, registry, m)
				if err != nil {
					t.Error(err)
					return
				}
				if r.GasUsed != alone[m] {
					t.Errorf("%s used %d gas beside other runs, %d alone", m, r.GasUsed, alone[m])
					return
				}
				// Callers parse what a getter returned while the next run goes on.
				for _, v := range r.Stack {
					if c, ok := v.(*cell.Cell); ok && c != nil {
						walk(t, c)
					}
				}
			}
		}(g)
	}
	for i := 0; i < 20; i++ {
		if _, err := d.Send(ctx, gov.transfer(t, dst, 1, false, nil)); err != nil {
			t.Fatal(err)
		}
		// The registry's own transactions share its code and data cells with the getters.
		if _, err := d.FundTx(ctx, registry, ton(0.01)); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
}

// walk parses every cell below c, as a decoder reading a returned dictionary or code would.
func walk(t *testing.T, c *cell.Cell) {
	s, err := c.BeginParse()
	if err != nil {
		t.Error(err)
		return
	}
	for s.RefsNum() > 0 {
		ref, err := s.LoadRefCell()
		if err != nil {
			t.Error(err)
			return
		}
		walk(t, ref)
	}
}
