package payment

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/xssnick/tonutils-go/address"
)

// Request authorization (docs/PROTOCOL.md, "Request authorization"): every paid request and every
// read of a channel's state carries
//
//	X-Cocoon-Auth: v1.<unix seconds>.<base64url 16-byte nonce>.<base64url 64-byte signature>
//
// where the signature is ed25519 by the channel's client key over AuthMessage. It binds the
// request (method, target, body) to the channel and a moment, so a voucher copied from the chain
// (every Claim publishes one) cannot buy service on someone else's channel, and a captured request
// cannot be replayed.

// AuthWindow is how far a request's time may be from the provider's clock, either way.
const AuthWindow = 2 * time.Minute

// NonceSize is the size of a request nonce in bytes.
const NonceSize = 16

const authVersion = "v1"

// ErrBadAuth is an authorization that is missing, malformed, outside the window, replayed or not
// signed by the channel's key.
var ErrBadAuth = errors.New("bad request authorization")

var b64 = base64.RawURLEncoding.Strict()

// Auth is a parsed X-Cocoon-Auth value.
type Auth struct {
	Unix      int64
	Nonce     [NonceSize]byte
	Signature [ed25519.SignatureSize]byte
}

// AuthMessage is the byte string a client signs: newline-separated "cocoon-request-v1", the
// channel's raw address, the HTTP method, the request target (path and query, as sent), the unix
// time, the nonce in hex and the hex SHA-256 of the body.
func AuthMessage(channel *address.Address, method, target string, body []byte, unix int64, nonce [NonceSize]byte) []byte {
	return appendAuthMessage(nil, channel, method, target, sha256.Sum256(body), unix, nonce)
}

// appendAuthMessage appends AuthMessage, given the body's SHA-256, to b.
func appendAuthMessage(b []byte, channel *address.Address, method, target string, bodyHash [32]byte, unix int64, nonce [NonceSize]byte) []byte {
	b = append(b, "cocoon-request-v1\n"...)
	b = append(b, channel.StringRaw()...)
	b = append(append(b, '\n'), method...)
	b = append(append(b, '\n'), target...)
	b = strconv.AppendInt(append(b, '\n'), unix, 10)
	b = hex.AppendEncode(append(b, '\n'), nonce[:])
	return hex.AppendEncode(append(b, '\n'), bodyHash[:])
}

// SignRequest authorizes one request with the channel's client key at time now (a fresh random
// nonce) and returns the X-Cocoon-Auth value.
func SignRequest(key ed25519.PrivateKey, channel *address.Address, method, target string, body []byte, now time.Time) (string, error) {
	var a Auth
	if _, err := rand.Read(a.Nonce[:]); err != nil {
		return "", fmt.Errorf("failed to draw a request nonce: %w", err)
	}
	a.Unix = now.Unix()
	copy(a.Signature[:], ed25519.Sign(key, AuthMessage(channel, method, target, body, a.Unix, a.Nonce)))
	return a.String(), nil
}

// String renders the X-Cocoon-Auth value.
func (a Auth) String() string {
	return authVersion + "." + strconv.FormatInt(a.Unix, 10) + "." + b64.EncodeToString(a.Nonce[:]) + "." + b64.EncodeToString(a.Signature[:])
}

// ParseAuth parses an X-Cocoon-Auth value strictly (it does not verify it).
func ParseAuth(value string) (Auth, error) {
	var a Auth
	if value == "" {
		return a, fmt.Errorf("%w: no %s header", ErrBadAuth, HeaderAuth)
	}
	if len(value) > 200 {
		return a, fmt.Errorf("%w: %d characters, at most 200", ErrBadAuth, len(value))
	}
	parts := strings.Split(value, ".")
	if len(parts) != 4 || parts[0] != authVersion {
		return a, fmt.Errorf("%w: want v1.<unix>.<nonce>.<signature>", ErrBadAuth)
	}
	unix, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil || unix <= 0 || strconv.FormatInt(unix, 10) != parts[1] {
		return a, fmt.Errorf("%w: time %q is not a positive decimal unix time", ErrBadAuth, parts[1])
	}
	a.Unix = unix
	nonce, err := b64.DecodeString(parts[2])
	if err != nil || len(nonce) != NonceSize {
		return a, fmt.Errorf("%w: nonce is not %d bytes of unpadded base64url", ErrBadAuth, NonceSize)
	}
	copy(a.Nonce[:], nonce)
	sig, err := b64.DecodeString(parts[3])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return a, fmt.Errorf("%w: signature is not %d bytes of unpadded base64url", ErrBadAuth, ed25519.SignatureSize)
	}
	copy(a.Signature[:], sig)
	return a, nil
}

// Verify checks that a was signed by pub for this request and that its time is within AuthWindow
// of now. Replays inside the window are caught by a ReplayGuard. A verifier of many requests
// under one key uses VerifyKey.
func (a Auth) Verify(pub ed25519.PublicKey, channel *address.Address, method, target string, body []byte, now time.Time) error {
	return a.verify(pub, channel, method, target, sha256.Sum256(body), now, func(msg []byte) bool {
		return voi.VerifyWithOptions(voi.PublicKey(pub), msg, a.Signature[:], authVerifyOptions)
	})
}

// AuthKey is a channel's client key prepared for verifying its authorizations: the point
// decompressed and its multiples tabulated once, which saves ~20% of each verification. It is
// safe for concurrent use.
type AuthKey struct {
	pub ed25519.PublicKey
	// x is nil for a key that is not a point on the curve: nothing verifies under it.
	x *voi.ExpandedPublicKey
}

// NewAuthKey prepares pub. Nothing verifies under a key that is not ed25519.PublicKeySize bytes
// or not a point on the curve.
func NewAuthKey(pub ed25519.PublicKey) *AuthKey {
	k := &AuthKey{pub: pub}
	if len(pub) == ed25519.PublicKeySize {
		k.x, _ = voi.NewExpandedPublicKey(voi.PublicKey(pub))
	}
	return k
}

// VerifyKey is Verify under a prepared key, given the SHA-256 of the request body. Its verdicts
// are Verify's.
func (a Auth) VerifyKey(key *AuthKey, channel *address.Address, method, target string, bodyHash [32]byte, now time.Time) error {
	return a.verify(key.pub, channel, method, target, bodyHash, now, func(msg []byte) bool {
		return key.x != nil && voi.VerifyExpandedWithOptions(key.x, msg, a.Signature[:], authVerifyOptions)
	})
}

func (a Auth) verify(pub ed25519.PublicKey, channel *address.Address, method, target string, bodyHash [32]byte, now time.Time, valid func(msg []byte) bool) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: channel key has %d bytes", ErrBadAuth, len(pub))
	}
	if d := now.Sub(time.Unix(a.Unix, 0)); d > AuthWindow || d < -AuthWindow {
		return fmt.Errorf("%w: signed at %s, %s away from the provider's clock (at most %s)", ErrBadAuth,
			time.Unix(a.Unix, 0).UTC().Format(time.RFC3339), d.Round(time.Second), AuthWindow)
	}
	// voi with the standard library's rule: the same verdicts as crypto/ed25519, ~40% faster
	// (docs/BENCHMARKS.md, voucher signatures); this check runs on every paid request.
	var buf [256]byte
	if !valid(appendAuthMessage(buf[:0], channel, method, target, bodyHash, a.Unix, a.Nonce)) {
		return fmt.Errorf("%w: not signed by the channel's client key for this request", ErrBadAuth)
	}
	return nil
}

var authVerifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// ReplayGuard remembers the nonces of accepted authorizations while they are inside the window,
// so each can be used once. It is safe for concurrent use; memory is bounded by the requests
// accepted in two windows.
type ReplayGuard struct {
	mu sync.Mutex
	// seen maps channel raw address + nonce to the authorization's time. REQUIRES mu.
	seen map[string]int64
	// sweptAt is when expired entries were last dropped. REQUIRES mu.
	sweptAt int64
}

// Use records a's nonce for channel and reports ErrBadAuth if it was already used. Call it after
// Verify succeeded, so that forged requests cannot burn nonces.
func (g *ReplayGuard) Use(channel *address.Address, a Auth, now time.Time) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.seen == nil {
		g.seen = map[string]int64{}
	}
	if n := now.Unix(); n-g.sweptAt > int64(AuthWindow/time.Second) {
		for k, t := range g.seen {
			if n-t > int64(AuthWindow/time.Second) {
				delete(g.seen, k)
			}
		}
		g.sweptAt = n
	}
	key := channel.StringRaw() + string(a.Nonce[:])
	if _, ok := g.seen[key]; ok {
		return fmt.Errorf("%w: this authorization was already used (replayed request)", ErrBadAuth)
	}
	g.seen[key] = a.Unix
	return nil
}
