package provider

import "github.com/xssnick/tonutils-go/address"

// VerifyFirst reports whether the channel at addr has its requests' authorizations verified before
// serving because a check made alongside failed.
func VerifyFirst(p *Provider, addr *address.Address) bool {
	ch := p.channels.lookup(addr)
	return ch != nil && ch.verifyFirst.Load()
}
