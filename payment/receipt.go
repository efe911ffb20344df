package payment

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	voi "github.com/oasisprotocol/curve25519-voi/primitives/ed25519"
	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Receipt is what the provider's attested key signs over each answer (docs/PROTOCOL.md,
// "Receipts"). Two cells:
//
//	root: magic:uint32 = 0x72637074 ("rcpt") channel:MsgAddressInt requestHash:bits256
//	      responseHash:bits256 issuedAt:uint32 ^money
//	money: modelId:uint32 promptTokens:uint64 completionTokens:uint64 promptPrice:Coins
//	       completionPrice:Coins cost:Coins owed:Coins
//
// The signature is by the key of the provider's RA-TLS certificate over the root cell's
// representation hash: Ed25519 (64 bytes, the 32-byte hash is the message) for the key
// attest.Issuer generates, or ASN.1 DER ECDSA P-256 with the hash taken as a SHA-256 digest for an
// ECDSA attested key (older providers). A client verifies it with the public key of the certificate
// it attested, so a receipt proves that the attested VM produced the answer and metered it.
//
// INVARIANT (for a valid receipt): Cost == Prices.Cost(PromptTokens, CompletionTokens); Owed >= Cost.
type Receipt struct {
	Channel *address.Address
	// RequestHash is the SHA-256 of the HTTP request body as received.
	RequestHash [32]byte
	// ResponseHash is ContentHash of the answer as delivered.
	ResponseHash [32]byte
	IssuedAt     time.Time
	ModelID      uint32
	// PromptTokens and CompletionTokens are what was billed (completion: delivered tokens only).
	PromptTokens, CompletionTokens uint64
	Prices                         Prices
	Cost                           *big.Int // nanoTON for this answer
	Owed                           *big.Int // nanoTON the channel owes in total after this answer
}

// ReceiptMagic is the receipt root cell's prefix ("rcpt").
const ReceiptMagic uint32 = 0x72637074

// MaxReceiptLen bounds an encoded receipt (header value or JSON string).
const MaxReceiptLen = 1024

var (
	// ErrBadReceipt is a receipt that is malformed or inconsistent.
	ErrBadReceipt = errors.New("bad receipt")
	// ErrReceiptSignature is a receipt not signed by the given key.
	ErrReceiptSignature = errors.New("receipt signature does not verify")
)

// Check reports why r is not a consistent receipt.
func (r Receipt) Check() error {
	if r.Channel == nil || r.Channel.Type() != address.StdAddress || len(r.Channel.Data()) != 32 {
		return fmt.Errorf("%w: no standard channel address", ErrBadReceipt)
	}
	if err := r.Prices.Check(); err != nil {
		return fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	if r.Cost == nil || r.Owed == nil || r.Cost.Sign() < 0 || r.Owed.BitLen() > maxCoinsBitLen {
		return fmt.Errorf("%w: cost and owed must be set, non-negative and fit in coins", ErrBadReceipt)
	}
	if want := r.Prices.Cost(r.PromptTokens, r.CompletionTokens); want.Cmp(r.Cost) != 0 {
		return fmt.Errorf("%w: cost %s nanoTON is not %d prompt + %d completion tokens at %s/%s per 1M (%s)",
			ErrBadReceipt, r.Cost, r.PromptTokens, r.CompletionTokens, r.Prices.Prompt, r.Prices.Completion, want)
	}
	if r.Owed.Cmp(r.Cost) < 0 {
		return fmt.Errorf("%w: total owed %s is below this answer's cost %s", ErrBadReceipt, r.Owed, r.Cost)
	}
	if u := r.IssuedAt.Unix(); u <= 0 || u > 1<<32-1 {
		return fmt.Errorf("%w: time %v does not fit 32 bits", ErrBadReceipt, r.IssuedAt)
	}
	return nil
}

// Cell builds the receipt's root cell.
func (r Receipt) Cell() (*cell.Cell, error) {
	if err := r.Check(); err != nil {
		return nil, err
	}
	money := cell.BeginCell().
		MustStoreUInt(uint64(r.ModelID), 32).
		MustStoreUInt(r.PromptTokens, 64).
		MustStoreUInt(r.CompletionTokens, 64).
		MustStoreBigCoins(r.Prices.Prompt).
		MustStoreBigCoins(r.Prices.Completion).
		MustStoreBigCoins(r.Cost).
		MustStoreBigCoins(r.Owed).
		EndCell()
	return cell.BeginCell().
		MustStoreUInt(uint64(ReceiptMagic), 32).
		MustStoreAddr(r.Channel).
		MustStoreSlice(r.RequestHash[:], 256).
		MustStoreSlice(r.ResponseHash[:], 256).
		MustStoreUInt(uint64(r.IssuedAt.Unix()), 32).
		MustStoreRef(money).
		EndCell(), nil
}

// ParseReceiptCell reads a receipt root cell strictly (exact layout, nothing left over) and
// checks its consistency.
func ParseReceiptCell(c *cell.Cell) (Receipt, error) {
	var r Receipt
	bad := func(what string, err error) (Receipt, error) {
		return Receipt{}, fmt.Errorf("%w: %s: %v", ErrBadReceipt, what, err)
	}
	s, err := c.BeginParse()
	if err != nil {
		return bad("root", err)
	}
	magic, err := s.LoadUInt(32)
	if err != nil || uint32(magic) != ReceiptMagic {
		return bad("magic", fmt.Errorf("want 0x%08x", ReceiptMagic))
	}
	if r.Channel, err = s.LoadAddr(); err != nil {
		return bad("channel", err)
	}
	for _, h := range []*[32]byte{&r.RequestHash, &r.ResponseHash} {
		b, err := s.LoadSlice(256)
		if err != nil {
			return bad("hashes", err)
		}
		copy(h[:], b)
	}
	at, err := s.LoadUInt(32)
	if err != nil {
		return bad("time", err)
	}
	r.IssuedAt = time.Unix(int64(at), 0)
	moneyCell, err := s.LoadRef()
	if err != nil {
		return bad("money ref", err)
	}
	if s.BitsLeft() != 0 || s.RefsNum() != 0 {
		return bad("root", errors.New("data after the money ref"))
	}
	id, err := moneyCell.LoadUInt(32)
	if err != nil {
		return bad("model id", err)
	}
	r.ModelID = uint32(id)
	if r.PromptTokens, err = moneyCell.LoadUInt(64); err != nil {
		return bad("prompt tokens", err)
	}
	if r.CompletionTokens, err = moneyCell.LoadUInt(64); err != nil {
		return bad("completion tokens", err)
	}
	for _, x := range []**big.Int{&r.Prices.Prompt, &r.Prices.Completion, &r.Cost, &r.Owed} {
		if *x, err = moneyCell.LoadBigCoins(); err != nil {
			return bad("amounts", err)
		}
	}
	if moneyCell.BitsLeft() != 0 || moneyCell.RefsNum() != 0 {
		return bad("money", errors.New("data after owed"))
	}
	// Re-encoding must give the same cell: no non-canonical coins or address forms signed twice.
	again, err := r.Cell()
	if err != nil {
		return Receipt{}, err
	}
	if string(again.Hash()) != string(c.Hash()) {
		return bad("encoding", errors.New("not in canonical form"))
	}
	return r, nil
}

// SignedReceipt is a receipt with the attested key's signature.
type SignedReceipt struct {
	Receipt
	// Signature is 64-byte Ed25519, or ASN.1 DER ECDSA P-256 for an ECDSA attested key.
	Signature []byte
}

// Sign signs r with the provider's attested key (attest.Issuer.Signer(): Ed25519).
func (r Receipt) Sign(key crypto.Signer) (SignedReceipt, error) {
	c, err := r.Cell()
	if err != nil {
		return SignedReceipt{}, err
	}
	sig, err := signReceipt(key, c.Hash())
	if err != nil {
		return SignedReceipt{}, err
	}
	return SignedReceipt{Receipt: r, Signature: sig}, nil
}

// Issue signs r with key (as Sign) and returns it encoded (as Encode), its cells written directly
// (receiptcell.go): what a provider sends with each answer.
func (r Receipt) Issue(key crypto.Signer) (string, error) {
	if err := r.Check(); err != nil {
		return "", err
	}
	hash, boc := r.receiptCells()
	sig, err := signReceipt(key, hash[:])
	if err != nil {
		return "", err
	}
	return encodeReceipt(boc, sig), nil
}

// signReceipt signs a receipt cell's hash: Ed25519 over the 32 bytes as the message, or, for any
// other key (ECDSA), over them as a SHA-256 digest.
func signReceipt(key crypto.Signer, hash []byte) ([]byte, error) {
	if k, ok := key.(ed25519.PrivateKey); ok && len(k) == ed25519.PrivateKeySize {
		// voi signs in half the time of crypto/ed25519, the same RFC 8032 bytes (tested); one
		// signature per paid answer, on the answer's path.
		return voi.Sign(voi.PrivateKey(k), hash), nil
	}
	var opts crypto.SignerOpts = crypto.SHA256
	if _, ok := key.Public().(ed25519.PublicKey); ok {
		opts = crypto.Hash(0) // pure Ed25519: crypto/ed25519 refuses a digest's options
	}
	sig, err := key.Sign(rand.Reader, hash, opts)
	if err != nil {
		return nil, fmt.Errorf("failed to sign receipt: %w", err)
	}
	return sig, nil
}

// Verify checks the signature under pub, the public key of the provider's attested certificate:
// ed25519.PublicKey (what providers generate) or *ecdsa.PublicKey (older providers). A verifier of
// many receipts under one key uses VerifyKey.
func (s SignedReceipt) Verify(pub crypto.PublicKey) error {
	return s.verify(pub, func(k ed25519.PublicKey, msg []byte) bool {
		return voi.VerifyWithOptions(voi.PublicKey(k), msg, s.Signature, receiptVerifyOptions)
	})
}

// ReceiptKey is an attested key prepared for verifying its receipts: for Ed25519 the point
// decompressed and its multiples tabulated once, which saves ~30% of each verification (a client
// checks one receipt per answer, under the same key while the provider runs). It is safe for
// concurrent use.
type ReceiptKey struct {
	pub crypto.PublicKey
	// x is nil unless pub is an Ed25519 key that is a point on the curve (nothing verifies
	// under an Ed25519 key that is not).
	x *voi.ExpandedPublicKey
}

// NewReceiptKey prepares pub (any type: VerifyKey refuses the ones Verify refuses).
func NewReceiptKey(pub crypto.PublicKey) *ReceiptKey {
	k := &ReceiptKey{pub: pub}
	if e, ok := pub.(ed25519.PublicKey); ok && len(e) == ed25519.PublicKeySize {
		k.x, _ = voi.NewExpandedPublicKey(voi.PublicKey(e))
	}
	return k
}

// Is reports whether k was prepared from pub.
func (k *ReceiptKey) Is(pub crypto.PublicKey) bool {
	e, ok := k.pub.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(pub)
}

// VerifyKey is Verify under a prepared key. Its verdicts are Verify's.
func (s SignedReceipt) VerifyKey(key *ReceiptKey) error {
	return s.verify(key.pub, func(_ ed25519.PublicKey, msg []byte) bool {
		return key.x != nil && voi.VerifyExpandedWithOptions(key.x, msg, s.Signature, receiptVerifyOptions)
	})
}

// verify checks the signature under pub, with validEd25519 for an Ed25519 key of the right size
// and a signature of the right size.
func (s SignedReceipt) verify(pub crypto.PublicKey, validEd25519 func(k ed25519.PublicKey, msg []byte) bool) error {
	c, err := s.Cell()
	if err != nil {
		return err
	}
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return fmt.Errorf("%w: attested Ed25519 key has %d bytes", ErrReceiptSignature, len(k))
		}
		if len(s.Signature) != ed25519.SignatureSize || !validEd25519(k, c.Hash()) {
			return ErrReceiptSignature
		}
	case *ecdsa.PublicKey:
		if !ecdsa.VerifyASN1(k, c.Hash(), s.Signature) {
			return ErrReceiptSignature
		}
	default:
		return fmt.Errorf("%w: attested key is %T, want Ed25519 or ECDSA", ErrReceiptSignature, pub)
	}
	return nil
}

// receiptVerifyOptions is crypto/ed25519's rule (cofactorless, S canonical, any decodable A), as
// for request authorizations (auth.go). Receipts are never checked on-chain, so no contract fixes
// the rule; one Ed25519 rule across the protocol keeps verdicts the same in every verifier that
// uses the standard library, and voi applies it ~40% faster.
var receiptVerifyOptions = &voi.Options{Verify: voi.VerifyOptionsStdLib}

// Encode renders s as "<base64url BOC of the root>.<base64url signature>" (unpadded).
func (s SignedReceipt) Encode() (string, error) {
	c, err := s.Cell()
	if err != nil {
		return "", err
	}
	return encodeReceipt(c.ToBOC(), s.Signature), nil
}

func encodeReceipt(boc, sig []byte) string {
	return b64.EncodeToString(boc) + "." + b64.EncodeToString(sig)
}

// DecodeReceipt parses an encoded receipt strictly (it does not verify the signature).
func DecodeReceipt(value string) (SignedReceipt, error) {
	if len(value) > MaxReceiptLen {
		return SignedReceipt{}, fmt.Errorf("%w: %d characters, at most %d", ErrBadReceipt, len(value), MaxReceiptLen)
	}
	bocPart, sigPart, ok := strings.Cut(value, ".")
	if !ok || strings.Contains(sigPart, ".") {
		return SignedReceipt{}, fmt.Errorf("%w: want <BOC>.<signature>", ErrBadReceipt)
	}
	boc, err := b64.DecodeString(bocPart)
	if err != nil {
		return SignedReceipt{}, fmt.Errorf("%w: BOC is not unpadded base64url", ErrBadReceipt)
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil || len(sig) == 0 || len(sig) > 72 {
		return SignedReceipt{}, fmt.Errorf("%w: signature is not 1..72 bytes of unpadded base64url", ErrBadReceipt)
	}
	c, err := cell.FromBOC(boc)
	if err != nil {
		return SignedReceipt{}, fmt.Errorf("%w: %v", ErrBadReceipt, err)
	}
	r, err := ParseReceiptCell(c)
	if err != nil {
		return SignedReceipt{}, err
	}
	return SignedReceipt{Receipt: r, Signature: sig}, nil
}
