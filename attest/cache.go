package attest

import (
	"sync"
	"time"
)

// certCacheMax bounds the verified-certificate cache; when full it is emptied (cheap, and a
// verification is only ~1 ms).
const certCacheMax = 1024

// certCache remembers verified RA-TLS certificates so a client reconnecting to the same provider
// pays for verification once per certificate, not per handshake.
type certCache struct {
	mu sync.Mutex
	// m maps SHA-256 of the certificate DER to its claims. Guarded by mu.
	m map[[32]byte]certCacheEntry
}

type certCacheEntry struct {
	claims *Claims
	gen    uint64
	// until is when the entry stops being trusted: min(certificate NotAfter, verified + TTL).
	until time.Time
}

func (c *certCache) get(k [32]byte, gen uint64, now time.Time) *Claims {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[k]
	if !ok || e.gen != gen || !now.Before(e.until) {
		return nil
	}
	return e.claims
}

func (c *certCache) put(k [32]byte, gen uint64, until time.Time, cl *Claims) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= certCacheMax {
		c.m = map[[32]byte]certCacheEntry{}
	}
	c.m[k] = certCacheEntry{claims: cl, gen: gen, until: until}
}
