package voucher

import (
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// HTTP encoding of a signed voucher (docs/PROTOCOL.md, "Voucher HTTP encoding"):
//
//	X-Cocoon-Voucher: <base64url(BOC of the voucher cell)>.<base64url(64-byte signature)>
//
// base64url is RFC 4648 §5 without padding. The BOC may use any standard form (with or
// without CRC or index); EncodeHeader writes tonutils-go's default one.
const (
	// HeaderVoucher carries the client's newest signed voucher on an inference request.
	HeaderVoucher = "X-Cocoon-Voucher"
	// MaxHeaderLen bounds the header value: a voucher BOC is at most maxBOCLen bytes and the
	// signature 64, so 214 + 86 + 1 characters; anything longer is refused before decoding.
	MaxHeaderLen = (maxBOCLen*4+2)/3 + (SignatureSize*4+2)/3 + 1
)

// ErrBadHeader is a header value that is not a well-formed signed voucher.
var ErrBadHeader = errors.New("bad voucher header")

var b64 = base64.RawURLEncoding.Strict()

// EncodeHeader renders a signed voucher as the HeaderVoucher value.
func EncodeHeader(s *Signed) (string, error) {
	c, err := s.Cell()
	if err != nil {
		return "", fmt.Errorf("failed to encode voucher header: %w", err)
	}
	return b64.EncodeToString(c.ToBOC()) + "." + b64.EncodeToString(s.Signature[:]), nil
}

// DecodeHeader parses a HeaderVoucher value strictly: bounded length, exactly two unpadded
// base64url parts, a voucher cell that Parse accepts, a 64-byte signature. It does not verify
// the signature (that needs the channel's client key: call Verify).
func DecodeHeader(value string) (Signed, error) {
	if len(value) > MaxHeaderLen {
		return Signed{}, fmt.Errorf("%w: %d characters, at most %d", ErrBadHeader, len(value), MaxHeaderLen)
	}
	bocPart, sigPart, ok := strings.Cut(value, ".")
	if !ok {
		return Signed{}, fmt.Errorf("%w: want <voucher BOC>.<signature>, no '.' found", ErrBadHeader)
	}
	if strings.Contains(sigPart, ".") {
		return Signed{}, fmt.Errorf("%w: more than two '.'-separated parts", ErrBadHeader)
	}
	boc, err := b64.DecodeString(bocPart)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: voucher BOC is not unpadded base64url: %v", ErrBadHeader, err)
	}
	sig, err := b64.DecodeString(sigPart)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: signature is not unpadded base64url: %v", ErrBadHeader, err)
	}
	if len(sig) != SignatureSize {
		return Signed{}, fmt.Errorf("%w: signature has %d bytes, want %d", ErrBadHeader, len(sig), SignatureSize)
	}
	v, err := ParseBOC(boc)
	if err != nil {
		return Signed{}, fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	s := Signed{Voucher: v}
	copy(s.Signature[:], sig)
	return s, nil
}
