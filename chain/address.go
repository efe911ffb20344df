package chain

import (
	"fmt"
	"strings"

	"github.com/xssnick/tonutils-go/address"
)

// ParseAddress reads a standard account address in either form TON tools print: raw
// ("0:<64 hex>") or user-friendly base64 (EQ…/UQ…, bounceable or not). Anything else, including
// var and external addresses, is an error that quotes the input.
func ParseAddress(s string) (*address.Address, error) {
	var a *address.Address
	var err error
	if strings.Contains(s, ":") {
		a, err = address.ParseRawAddr(s)
	} else {
		a, err = address.ParseAddr(s)
	}
	if err != nil {
		return nil, fmt.Errorf("bad address %q: %v", s, err)
	}
	if a.Type() != address.StdAddress {
		return nil, fmt.Errorf("bad address %q: not a standard account address", s)
	}
	return a, nil
}

// Friendly renders an address the way wallets show it: user-friendly base64 with the bounce flag
// given and the testnet-only flag when the network is a testnet.
func Friendly(a *address.Address, bounceable, testnet bool) string {
	c := a.Copy()
	c.SetBounce(bounceable)
	c.SetTestnetOnly(testnet)
	return c.String()
}
