// Package voucher implements the payment-channel voucher that clients and providers exchange
// off-chain: a client signs cumulative totals (nanoTON owed, prompt and completion tokens) for
// one channel, the provider verifies and keeps the newest, and claims it on-chain when it
// chooses (docs/PROTOCOL.md, "Channel contract" → "Vouchers").
//
// The signed structure is one cell with no refs:
//
//	magic:uint32 = 0x766f7563 ("vouc")
//	channel:MsgAddressInt (addr_std, no anycast: 267 bits)
//	amount:Coins            (VarUInteger 16)
//	promptTokens:uint64
//	completionTokens:uint64
//
// and the signature is ed25519 by the channel's client key over that cell's representation hash,
// exactly what the channel contract checks with CHKSIGNU.
package voucher

import (
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/big"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Magic is the voucher cell's 32-bit prefix ("vouc").
const Magic uint32 = 0x766f7563

// SignatureSize is the size of a voucher signature in bytes.
const SignatureSize = ed25519.SignatureSize

// maxCoinsBits bounds amount: Coins is VarUInteger 16, at most 15 bytes of value.
const maxCoinsBits = 120

var (
	// ErrMalformed is a voucher cell (or its BOC) that is not exactly the voucher layout.
	ErrMalformed = errors.New("malformed voucher")
	// ErrInvalid is a voucher value that cannot be encoded (missing or non-standard address,
	// negative or oversized amount).
	ErrInvalid = errors.New("invalid voucher")
	// ErrBadSignature is a signature that does not verify under the given key.
	ErrBadSignature = errors.New("voucher signature does not verify")
	// ErrBadPublicKey is a public key that is not 32 bytes.
	ErrBadPublicKey = errors.New("bad ed25519 public key")
	// ErrChannelMismatch is a comparison of vouchers for two different channels.
	ErrChannelMismatch = errors.New("vouchers are for different channels")
	// ErrNotNewer is a voucher with the previous amount and no token total above the previous
	// ones: it adds nothing (a replay, or lower token reports).
	ErrNotNewer = errors.New("voucher is not newer than the previous one")
	// ErrWentBackwards is a voucher whose amount is below the previous one's.
	ErrWentBackwards = errors.New("voucher went backwards")
)

// Voucher is the cumulative state a client acknowledges for one channel.
//
// INVARIANT (for a valid voucher): Channel is a standard internal address without anycast;
// 0 <= Amount < 2^120. An honest client's totals only grow between its successive vouchers; the
// channel orders vouchers by Amount (see Ordering), whatever the client signs.
type Voucher struct {
	// Channel is the channel contract's address; it binds the voucher to that channel (and,
	// through the address, to its registry and network).
	Channel *address.Address
	// Amount is the cumulative nanoTON the client owes in total over the channel's life.
	Amount *big.Int
	// PromptTokens and CompletionTokens are cumulative token counts.
	PromptTokens     uint64
	CompletionTokens uint64
}

// Signed is a voucher with the client's signature over Voucher.Hash().
type Signed struct {
	Voucher
	Signature [SignatureSize]byte
}

// Check reports why v cannot be encoded, or nil.
func (v Voucher) Check() error {
	if v.Channel == nil || v.Channel.IsAddrNone() {
		return fmt.Errorf("%w: no channel address", ErrInvalid)
	}
	if v.Channel.Type() != address.StdAddress {
		return fmt.Errorf("%w: channel address %s is not a standard internal address", ErrInvalid, v.Channel)
	}
	if v.Channel.Anycast() != nil {
		return fmt.Errorf("%w: channel address has anycast", ErrInvalid)
	}
	if len(v.Channel.Data()) != 32 {
		return fmt.Errorf("%w: channel address has %d bytes, want 32", ErrInvalid, len(v.Channel.Data()))
	}
	if v.Amount == nil {
		return fmt.Errorf("%w: no amount", ErrInvalid)
	}
	if v.Amount.Sign() < 0 {
		return fmt.Errorf("%w: negative amount %s", ErrInvalid, v.Amount)
	}
	if v.Amount.BitLen() > maxCoinsBits {
		return fmt.Errorf("%w: amount %s does not fit in coins (2^120)", ErrInvalid, v.Amount)
	}
	return nil
}

// Cell builds the voucher cell, bit for bit what the contract and @ton/core build.
func (v Voucher) Cell() (*cell.Cell, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	b := cell.BeginCell()
	// Builder errors are impossible here: Check bounded every field and the total is 551 bits
	// at most (32 + 267 + 4 + 120 + 64 + 64).
	b.MustStoreUInt(uint64(Magic), 32)
	b.MustStoreUInt(0b100, 3) // addr_std$10, anycast:(Maybe Anycast) = nothing
	b.MustStoreInt(int64(v.Channel.Workchain()), 8)
	if err := b.StoreSlice(v.Channel.Data(), 256); err != nil {
		return nil, fmt.Errorf("failed to store channel address: %w", err)
	}
	if err := b.StoreBigCoins(v.Amount); err != nil {
		return nil, fmt.Errorf("failed to store amount: %w", err)
	}
	b.MustStoreUInt(v.PromptTokens, 64)
	b.MustStoreUInt(v.CompletionTokens, 64)
	return b.EndCell(), nil
}

// Hash is the representation hash of the voucher cell: the message the client signs.
//
// It is computed directly rather than through Cell: an ordinary cell without refs hashes as
// sha256(d1, d2, data padded with a 1 bit then 0s), d1 = 0 (no refs, level 0) and
// d2 = floor(bits/8) + ceil(bits/8). This saves the cell builder's allocations on the
// verification hot path; tests compare it with Cell().Hash() on every shape of voucher.
func (v Voucher) Hash() ([]byte, error) {
	if err := v.Check(); err != nil {
		return nil, err
	}
	var w bitWriter
	w.put(uint64(Magic), 32)
	w.put(0b100, 3)
	w.put(uint64(uint8(int8(v.Channel.Workchain()))), 8)
	for _, b := range v.Channel.Data() {
		w.put(uint64(b), 8)
	}
	amount := v.Amount.Bytes()
	w.put(uint64(len(amount)), 4)
	for _, b := range amount {
		w.put(uint64(b), 8)
	}
	w.put(v.PromptTokens, 64)
	w.put(v.CompletionTokens, 64)

	bits := w.n
	full, withTail := bits/8, (bits+7)/8
	if bits%8 != 0 {
		w.buf[full] |= 0x80 >> (bits % 8) // completion tag
	}
	h := sha256.New()
	h.Write([]byte{0, byte(full + withTail)})
	h.Write(w.buf[:withTail])
	return h.Sum(nil), nil
}

// bitWriter packs big-endian bit fields; 80 bytes hold the longest voucher (551 bits).
type bitWriter struct {
	buf [80]byte
	n   int // bits written
}

func (w *bitWriter) put(v uint64, bits int) {
	for i := bits - 1; i >= 0; i-- {
		if v>>uint(i)&1 == 1 {
			w.buf[w.n/8] |= 0x80 >> (w.n % 8)
		}
		w.n++
	}
}

// Sign signs the voucher with the channel's client key. ed25519 is deterministic: the same key
// and voucher always give the same signature (the one @ton/crypto's sign gives too).
func (v Voucher) Sign(priv ed25519.PrivateKey) (Signed, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Signed{}, fmt.Errorf("%w: private key has %d bytes, want %d", ErrInvalid, len(priv), ed25519.PrivateKeySize)
	}
	h, err := v.Hash()
	if err != nil {
		return Signed{}, err
	}
	s := Signed{Voucher: v.Copy()}
	// voi signs twice as fast as crypto/ed25519 here; both are RFC 8032 (same bytes, tested).
	copy(s.Signature[:], voi.Sign(voi.PrivateKey(priv), h))
	return s, nil
}

// Copy returns a deep copy (the address and amount are not shared).
func (v Voucher) Copy() Voucher {
	out := v
	if v.Channel != nil {
		out.Channel = v.Channel.Copy()
	}
	if v.Amount != nil {
		out.Amount = new(big.Int).Set(v.Amount)
	}
	return out
}

// Verify checks the signature under the client's public key with the rule TON's CHKSIGNU
// applies (see verify.go).
func (s *Signed) Verify(pub ed25519.PublicKey) error {
	if len(pub) != ed25519.PublicKeySize {
		return fmt.Errorf("%w: %d bytes, want %d", ErrBadPublicKey, len(pub), ed25519.PublicKeySize)
	}
	h, err := s.Hash()
	if err != nil {
		return err
	}
	if !verifyConsensus(pub, h, s.Signature[:]) {
		return ErrBadSignature
	}
	return nil
}

// String renders the voucher for logs.
func (v Voucher) String() string {
	ch := "<none>"
	if v.Channel != nil {
		ch = v.Channel.StringRaw()
	}
	return fmt.Sprintf("voucher{channel %s, amount %v nanoTON, prompt %d, completion %d}", ch, v.Amount, v.PromptTokens, v.CompletionTokens)
}

// ---------------------------------------------------------------- parsing

// Parse reads a voucher cell strictly: an ordinary cell of level 0, the magic, a standard address
// without anycast, coins in their shortest encoding, both counters, and nothing else (no bits, no
// refs). So Parse(c).Cell() is c again and the hash a signature covers is the hash of the cell
// given. (A BOC may declare a non-zero level mask on an ordinary cell without refs: the same bits,
// another hash; such a cell is refused, so one voucher has one encoding.)
func Parse(c *cell.Cell) (Voucher, error) {
	if c == nil {
		return Voucher{}, fmt.Errorf("%w: no cell", ErrMalformed)
	}
	if c.GetType() != cell.OrdinaryCellType {
		return Voucher{}, fmt.Errorf("%w: exotic cell (type %d)", ErrMalformed, c.GetType())
	}
	if c.Level() != 0 {
		return Voucher{}, fmt.Errorf("%w: cell of level %d, want 0 (an ordinary cell without refs has level 0)", ErrMalformed, c.Level())
	}
	if c.RefsNum() != 0 {
		return Voucher{}, fmt.Errorf("%w: %d refs, want none", ErrMalformed, c.RefsNum())
	}
	s, err := c.BeginParse()
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	magic, err := s.LoadUInt(32)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: %d bits, too short for the magic", ErrMalformed, c.BitsSize())
	}
	if uint32(magic) != Magic {
		return Voucher{}, fmt.Errorf("%w: magic %#08x, want %#08x", ErrMalformed, magic, Magic)
	}
	tag, err := s.LoadUInt(2)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated channel address", ErrMalformed)
	}
	if tag != 0b10 {
		return Voucher{}, fmt.Errorf("%w: channel address is %s, want addr_std", ErrMalformed, [4]string{"addr_none", "addr_extern", "addr_std", "addr_var"}[tag])
	}
	anycast, err := s.LoadUInt(1)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated channel address", ErrMalformed)
	}
	if anycast != 0 {
		return Voucher{}, fmt.Errorf("%w: channel address has anycast", ErrMalformed)
	}
	wc, err := s.LoadInt(8)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated channel address", ErrMalformed)
	}
	data, err := s.LoadSlice(256)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated channel address", ErrMalformed)
	}
	lenBytes, err := s.LoadUInt(4)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated amount", ErrMalformed)
	}
	amountBytes, err := s.LoadSlice(uint(lenBytes) * 8)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: amount claims %d bytes, fewer left", ErrMalformed, lenBytes)
	}
	if lenBytes > 0 && amountBytes[0] == 0 {
		return Voucher{}, fmt.Errorf("%w: amount not in its shortest encoding (leading zero byte)", ErrMalformed)
	}
	prompt, err := s.LoadUInt(64)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated prompt tokens", ErrMalformed)
	}
	completion, err := s.LoadUInt(64)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: truncated completion tokens", ErrMalformed)
	}
	if s.BitsLeft() != 0 {
		return Voucher{}, fmt.Errorf("%w: %d bits after the last field", ErrMalformed, s.BitsLeft())
	}
	return Voucher{
		Channel:          address.NewAddress(0, byte(wc), data),
		Amount:           new(big.Int).SetBytes(amountBytes),
		PromptTokens:     prompt,
		CompletionTokens: completion,
	}, nil
}

// ParseBOC reads a voucher from a BOC holding exactly that one cell.
func ParseBOC(boc []byte) (Voucher, error) {
	if len(boc) > maxBOCLen {
		return Voucher{}, fmt.Errorf("%w: BOC of %d bytes, at most %d", ErrMalformed, len(boc), maxBOCLen)
	}
	c, err := cell.FromBOC(boc)
	if err != nil {
		return Voucher{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	return Parse(c)
}

// maxBOCLen bounds a voucher BOC: one cell of at most 551 bits is ~90 bytes in any BOC form
// (with index and CRC); anything longer is not a voucher.
const maxBOCLen = 160

// ---------------------------------------------------------------- ordering

// Ordering is how two vouchers of one channel relate under the channel's rule (docs/PROTOCOL.md,
// "Vouchers"): money orders vouchers; the token totals are reports that decide only between
// vouchers of the same amount.
//
// A channel accepts a Claim of next after prev (the accepted state) iff next.Amount > prev.Amount,
// or next.Amount == prev.Amount and some token total of next is above prev's (a report-only
// update). It then stores next.Amount and, per token total, the larger of the two (Accept), so the
// stored totals only grow and a lower token total never makes a larger amount fail. Whatever else
// the client signs, the largest amount it ever signed stays claimable.
type Ordering int

const (
	// Same: all three totals are equal.
	Same Ordering = iota
	// Newer: the channel accepts next after prev, and not prev after next: the amount is higher, or
	// it is equal and the token totals are >= with at least one higher.
	Newer
	// Older: the reverse of Newer.
	Older
	// Conflicting: the same amount, one token total higher and the other lower. The channel accepts
	// either after the other (a report-only update) and keeps the larger of each total.
	Conflicting
)

func (o Ordering) String() string {
	switch o {
	case Same:
		return "same"
	case Newer:
		return "newer"
	case Older:
		return "older"
	case Conflicting:
		return "conflicting"
	}
	return fmt.Sprintf("Ordering(%d)", int(o))
}

// Compare says how next relates to prev. Vouchers for different channels, or with a nil amount,
// do not compare: that is an error.
func Compare(prev, next *Voucher) (Ordering, error) {
	if err := comparable(prev, next); err != nil {
		return 0, err
	}
	switch next.Amount.Cmp(prev.Amount) {
	case 1:
		return Newer, nil
	case -1:
		return Older, nil
	}
	p, c := cmpUint(next.PromptTokens, prev.PromptTokens), cmpUint(next.CompletionTokens, prev.CompletionTokens)
	up, down := p > 0 || c > 0, p < 0 || c < 0
	switch {
	case up && down:
		return Conflicting, nil
	case up:
		return Newer, nil
	case down:
		return Older, nil
	}
	return Same, nil
}

// CheckNewer returns nil when the channel accepts a Claim of next after prev (prev being the
// channel's accepted state, or the previous voucher): next.Amount > prev.Amount, or equal with a
// token total above prev's. Otherwise ErrWentBackwards when the amount is lower (whatever the
// tokens), or ErrNotNewer when the amount is equal and no token total is higher.
func CheckNewer(prev, next *Voucher) error {
	if err := comparable(prev, next); err != nil {
		return err
	}
	switch {
	case isNewer(prev, next):
		return nil
	case next.Amount.Cmp(prev.Amount) < 0:
		return fmt.Errorf("%w: amount %s < previous %s", ErrWentBackwards, next.Amount, prev.Amount)
	}
	return fmt.Errorf("%w: amount %s equals the previous one and no token total is higher (prompt %d <= %d, completion %d <= %d)",
		ErrNotNewer, next.Amount, next.PromptTokens, prev.PromptTokens, next.CompletionTokens, prev.CompletionTokens)
}

// IsNewer reports whether next may follow prev: CheckNewer's verdict without formatting its error
// (a provider asks on every paid request, and mostly hears no).
func IsNewer(prev, next *Voucher) bool {
	if prev == nil || next == nil || prev.Amount == nil || next.Amount == nil ||
		prev.Channel == nil || next.Channel == nil || !prev.Channel.Equals(next.Channel) {
		return false // comparable's refusals
	}
	return isNewer(prev, next)
}

// isNewer is the rule of CheckNewer for two comparable vouchers: a higher amount, or the same
// amount with a higher token total.
func isNewer(prev, next *Voucher) bool {
	switch next.Amount.Cmp(prev.Amount) {
	case 1:
		return true
	case -1:
		return false
	}
	return next.PromptTokens > prev.PromptTokens || next.CompletionTokens > prev.CompletionTokens
}

// Accept returns the channel's accepted state after a Claim of next on accepted (the rule of
// CheckNewer): next's amount and the larger of each token total. A nil accepted is a new
// channel (all zero).
func Accept(accepted, next *Voucher) (Voucher, error) {
	if next == nil {
		return Voucher{}, fmt.Errorf("%w: no voucher", ErrInvalid)
	}
	if accepted == nil {
		accepted = zeroOf(next)
	}
	if err := CheckNewer(accepted, next); err != nil {
		return Voucher{}, err
	}
	out := next.Copy()
	out.PromptTokens = max(next.PromptTokens, accepted.PromptTokens)
	out.CompletionTokens = max(next.CompletionTokens, accepted.CompletionTokens)
	return out, nil
}

// Delta is what one voucher adds over the previous one.
type Delta struct {
	Amount           *big.Int
	PromptTokens     uint64
	CompletionTokens uint64
}

// Owed returns what a Claim of next adds to prev (after CheckNewer): the amount difference and,
// per token total, how much it grew (0 when next's is not higher), the deltas the channel reports
// to the Provider contract. A nil prev is the channel's starting point (all zero), so Owed(nil, v)
// is v's totals.
func Owed(prev, next *Voucher) (Delta, error) {
	if prev == nil && next != nil {
		prev = zeroOf(next)
	}
	after, err := Accept(prev, next)
	if err != nil {
		return Delta{}, err
	}
	return Delta{
		Amount:           new(big.Int).Sub(after.Amount, prev.Amount),
		PromptTokens:     after.PromptTokens - prev.PromptTokens,
		CompletionTokens: after.CompletionTokens - prev.CompletionTokens,
	}, nil
}

// zeroOf is a new channel's accepted state on v's channel.
func zeroOf(v *Voucher) *Voucher {
	return &Voucher{Channel: v.Channel, Amount: new(big.Int)}
}

func comparable(prev, next *Voucher) error {
	if prev == nil || next == nil || prev.Amount == nil || next.Amount == nil {
		return fmt.Errorf("%w: missing voucher or amount", ErrInvalid)
	}
	if prev.Channel == nil || next.Channel == nil || !prev.Channel.Equals(next.Channel) {
		return fmt.Errorf("%w: %v and %v", ErrChannelMismatch, addrString(prev.Channel), addrString(next.Channel))
	}
	return nil
}

func addrString(a *address.Address) string {
	if a == nil {
		return "<none>"
	}
	return a.StringRaw()
}

func cmpUint(a, b uint64) int {
	switch {
	case a > b:
		return 1
	case a < b:
		return -1
	}
	return 0
}
