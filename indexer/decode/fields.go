package decode

import (
	"encoding/hex"
	"math/big"
	"reflect"
	"strconv"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"

	"github.com/cocoon-go/cocoon/chain/wallet"
	"github.com/cocoon-go/cocoon/contracts"
)

// Addr is an address in both forms the API gives: raw ("0:<hex>") and user-friendly (bounceable,
// base64url, as contracts are shown).
type Addr struct {
	Raw      string `json:"raw"`
	Friendly string `json:"friendly"`
}

// AddrOf renders a (nil: nil).
func AddrOf(a *address.Address) *Addr {
	if a == nil || a.Type() != address.StdAddress {
		return nil
	}
	return &Addr{Raw: a.StringRaw(), Friendly: a.Bounce(true).Testnet(false).String()}
}

// AddrFromRaw renders a raw address string ("" or unparsable: nil).
func AddrFromRaw(s string) *Addr {
	if s == "" {
		return nil
	}
	a, err := address.ParseRawAddr(s)
	if err != nil {
		return nil
	}
	return AddrOf(a)
}

// Amount is an amount of nanoTON in both forms the API gives: the exact decimal nanoTON string and
// the TON string ("1.5").
type Amount struct {
	Nano string `json:"nano"`
	TON  string `json:"ton"`
}

// AmountOf renders n (nil: zero).
func AmountOf(n *big.Int) Amount {
	if n == nil {
		return Amount{Nano: "0", TON: "0"}
	}
	return Amount{Nano: n.String(), TON: wallet.FormatTON(n)}
}

// AmountFrom renders a decimal nanoTON string of a record.
func AmountFrom(s string) Amount { return AmountOf(Nano(s)) }

// Fields renders a decoded message as a JSON object: its struct fields by their json names,
// addresses as Addr, amounts as Amount, hashes and keys as hex, 64-bit integers as decimal
// strings, text cells as {"text"} and other cells as {"boc"}. A ChannelUsage also gets "claimed",
// what the claim moved (contracts.ChannelUsage.Claimed).
func Fields(m contracts.Message) map[string]any {
	out, _ := value(reflect.ValueOf(m)).(map[string]any)
	if u, ok := m.(contracts.ChannelUsage); ok && out != nil {
		if c, err := u.Claimed(); err == nil {
			out["claimed"] = map[string]any{
				"client_key":        hex.EncodeToString(c.ClientKey),
				"prompt_tokens":     strconv.FormatUint(c.PromptTokens, 10),
				"completion_tokens": strconv.FormatUint(c.CompletionTokens, 10),
				"amount":            AmountOf(c.Amount),
				"earned":            AmountOf(c.Earned),
				"fee":               AmountOf(c.Fee),
			}
		}
	}
	return out
}

var (
	addrType  = reflect.TypeOf(&address.Address{})
	coinsType = reflect.TypeOf(tlb.Coins{})
	cellType  = reflect.TypeOf(&cell.Cell{})
	dictType  = reflect.TypeOf(&cell.Dictionary{})
	magicType = reflect.TypeOf(tlb.Magic{})
)

func value(v reflect.Value) any {
	switch v.Type() {
	case addrType:
		a, _ := v.Interface().(*address.Address)
		if a == nil || a.IsAddrNone() {
			return nil
		}
		return AddrOf(a)
	case coinsType:
		return AmountOf(v.Interface().(tlb.Coins).Nano())
	case cellType:
		c, _ := v.Interface().(*cell.Cell)
		return cellValue(c)
	case dictType:
		d, _ := v.Interface().(*cell.Dictionary)
		if d == nil || d.IsEmpty() {
			return nil
		}
		c := d.AsCell()
		return cellValue(c)
	}
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			return nil
		}
		return value(v.Elem())
	case reflect.Struct:
		obj := map[string]any{}
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			if f.Type == magicType || !f.IsExported() {
				continue
			}
			name := f.Tag.Get("json")
			if name == "" || name == "-" {
				name = f.Name
			}
			obj[name] = value(v.Field(i))
		}
		return obj
	case reflect.Slice:
		if v.Type().Elem().Kind() == reflect.Uint8 {
			return hex.EncodeToString(v.Bytes())
		}
	case reflect.Uint64:
		return strconv.FormatUint(v.Uint(), 10)
	case reflect.Uint8, reflect.Uint16, reflect.Uint32:
		return v.Uint()
	case reflect.Bool:
		return v.Bool()
	}
	return v.Interface()
}

// cellValue is a text cell's text, or any other cell as a BOC.
func cellValue(c *cell.Cell) any {
	if c == nil {
		return nil
	}
	if c.RefsNum() == 0 && c.BitsSize()%8 == 0 {
		if t, err := contracts.CellText(c); err == nil && utf8.ValidString(t) && printable(t) {
			return map[string]any{"text": t}
		}
	}
	return map[string]any{"boc": bocString(c)}
}

func printable(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return false
		}
	}
	return true
}
