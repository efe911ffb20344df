package wallet

import (
	"errors"
	"fmt"
	"math/big"
	"strings"
)

// ErrAmount is a TON amount that is not a plain non-negative decimal with at most 9 fraction digits.
var ErrAmount = errors.New("invalid TON amount")

// nanoPerTON is 10^9: TON has 9 decimals.
var nanoPerTON = big.NewInt(1_000_000_000)

// maxNano is the largest amount a message can carry: Grams is VarUInteger 16, i.e. < 2^120.
var maxNano = new(big.Int).Lsh(big.NewInt(1), 120)

// ParseTON parses a decimal TON amount ("1", "0.5", "12.000000001") into nanoTON exactly.
// It rejects signs, exponents, separators and more than 9 fraction digits rather than round.
func ParseTON(s string) (*big.Int, error) {
	whole, frac, hasDot := strings.Cut(s, ".")
	if whole == "" && frac == "" {
		return nil, fmt.Errorf("%w %q: empty", ErrAmount, s)
	}
	if hasDot && frac == "" {
		return nil, fmt.Errorf("%w %q: nothing after the decimal point", ErrAmount, s)
	}
	if !digitsOnly(whole) || !digitsOnly(frac) {
		return nil, fmt.Errorf("%w %q: only digits and one decimal point are allowed", ErrAmount, s)
	}
	if len(frac) > 9 {
		return nil, fmt.Errorf("%w %q: more than 9 decimals (1 nanoTON = 0.000000001 TON)", ErrAmount, s)
	}
	if whole == "" {
		whole = "0"
	}
	n, ok := new(big.Int).SetString(whole+frac+strings.Repeat("0", 9-len(frac)), 10)
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrAmount, s)
	}
	if n.Cmp(maxNano) >= 0 {
		return nil, fmt.Errorf("%w %q: too large", ErrAmount, s)
	}
	return n, nil
}

func digitsOnly(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// FormatTON renders nanoTON as a decimal TON amount without trailing zeros ("1.5", "0.000000001", "-2").
func FormatTON(nano *big.Int) string {
	if nano == nil {
		return "0"
	}
	sign := ""
	abs := new(big.Int).Set(nano)
	if abs.Sign() < 0 {
		sign = "-"
		abs.Neg(abs)
	}
	q, r := new(big.Int).QuoRem(abs, nanoPerTON, new(big.Int))
	if r.Sign() == 0 {
		return sign + q.String()
	}
	frac := strings.TrimRight(fmt.Sprintf("%09s", r.String()), "0")
	return sign + q.String() + "." + frac
}
