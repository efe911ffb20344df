package contracts

import (
	"cmp"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/xssnick/tonutils-go/address"
	"github.com/xssnick/tonutils-go/tlb"
	"github.com/xssnick/tonutils-go/tvm/cell"
)

// Message is the body of a message a Cocoon contract accepts or sends. Each implementation mirrors a
// struct of tolk/src/messages.tolk field by field, in order; its first field is a tlb.Magic carrying
// the same 32-bit opcode that Opcode returns.
type Message interface {
	// Opcode is the 32-bit prefix of the body.
	Opcode() uint32
	// MessageName is the struct's name in messages.tolk.
	MessageName() string
}

var (
	// ErrUnknownOpcode is a body whose opcode no Cocoon message has.
	ErrUnknownOpcode = errors.New("unknown opcode")
	// ErrMalformedBody is a body that does not parse as the layout its opcode names, or that has
	// bits or refs left over after the last field.
	ErrMalformedBody = errors.New("malformed message body")
)

// messageTypes lists every message of every contract: Decode dispatches on it and tests walk it.
// Filled by the per-contract files' init; INVARIANT: opcodes are unique (registerMessages panics).
var messageTypes = map[uint32]reflect.Type{}

func registerMessages(msgs ...Message) {
	for _, m := range msgs {
		if prev, ok := messageTypes[m.Opcode()]; ok {
			panic(fmt.Sprintf("contracts: opcode %#08x used by %s and %s", m.Opcode(), prev.Name(), m.MessageName()))
		}
		messageTypes[m.Opcode()] = reflect.TypeOf(m)
	}
}

// Messages returns a zero value of every message type, ordered by opcode.
func Messages() []Message {
	out := make([]Message, 0, len(messageTypes))
	for _, t := range messageTypes {
		out = append(out, reflect.Zero(t).Interface().(Message))
	}
	slices.SortFunc(out, func(a, b Message) int { return cmp.Compare(a.Opcode(), b.Opcode()) })
	return out
}

// Encode serializes a message body exactly as the Tolk contract's `toCell()` does. It refuses
// values the contract would reject while parsing (such as a missing or non-standard address)
// so that a bad message fails here and not on-chain.
func Encode(m Message) (*cell.Cell, error) {
	if m == nil {
		return nil, errors.New("failed to encode message: nil")
	}
	if err := validateFields(reflect.ValueOf(m), m.MessageName()); err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", m.MessageName(), err)
	}
	c, err := tlb.ToCell(m)
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s: %w", m.MessageName(), err)
	}
	return c, nil
}

// Decode parses the body of any message a Cocoon contract accepts or sends (messages.tolk and
// channel-messages.tolk: Registry, Provider and Channel) into its typed struct (a value, e.g.
// RegisterProvider or Claim), chosen by the opcode. The whole body must be consumed: trailing
// bits or refs are ErrMalformedBody.
func Decode(body *cell.Cell) (Message, error) {
	if body == nil {
		return nil, fmt.Errorf("%w: empty body", ErrMalformedBody)
	}
	s, err := body.BeginParse()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	op, err := s.PreloadUInt(32)
	if err != nil {
		return nil, fmt.Errorf("%w: body has %d bits, no 32-bit opcode", ErrMalformedBody, body.BitsSize())
	}
	t, ok := messageTypes[uint32(op)]
	if !ok {
		return nil, fmt.Errorf("%w: %#08x", ErrUnknownOpcode, op)
	}
	v := reflect.New(t)
	if err := decodeExact(v.Interface(), body); err != nil {
		return nil, fmt.Errorf("failed to decode %s: %w", t.Name(), err)
	}
	return v.Elem().Interface().(Message), nil
}

// DecodeAs parses a body that must be the message type T.
func DecodeAs[T Message](body *cell.Cell) (T, error) {
	var zero T
	m, err := Decode(body)
	if err != nil {
		return zero, err
	}
	t, ok := m.(T)
	if !ok {
		return zero, fmt.Errorf("%w: want %s, got %s", ErrMalformedBody, zero.MessageName(), m.MessageName())
	}
	return t, nil
}

// decodeExact parses c into v (a pointer to a tlb-tagged struct) and requires that nothing is
// left over (channel.go uses it too): tonutils-go's tlb stops at the last field, Tolk's fromCell does not accept extra data.
func decodeExact(v any, c *cell.Cell) error {
	s, err := c.BeginParse()
	if err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	if err := tlb.LoadFromCell(v, s); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	if s.BitsLeft() != 0 || s.RefsNum() != 0 {
		return fmt.Errorf("%w: %d bits and %d refs left after the last field", ErrMalformedBody, s.BitsLeft(), s.RefsNum())
	}
	if err := validateFields(reflect.ValueOf(v), reflect.TypeOf(v).Elem().Name()); err != nil {
		return fmt.Errorf("%w: %v", ErrMalformedBody, err)
	}
	return nil
}

var addressType = reflect.TypeOf(&address.Address{})

// validateFields walks a tlb struct (and the structs it holds inline or by reference) and checks
// what tonutils-go's tlb does not: every `addr` field is a standard internal address — or, for an
// optional one (`addr std` without `required`), null — as Tolk's `address` / `address?` accept,
// every `bits N` field holds exactly N/8 bytes (tlb would silently truncate a longer one), and
// every coins amount fits VarUInteger 16.
func validateFields(v reflect.Value, path string) error {
	for v.Kind() == reflect.Pointer || v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return nil
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("tlb")
		fv := v.Field(i)
		switch {
		case f.Type == addressType:
			a, _ := fv.Interface().(*address.Address)
			optional := tag == "addr std"
			if optional && (a == nil || a.IsAddrNone()) {
				continue
			}
			if a == nil || a.Type() != address.StdAddress || a.Anycast() != nil {
				what := "missing"
				if a != nil {
					what = a.StringRaw()
				}
				return fmt.Errorf("%w: %s.%s must be a standard internal address, got %s", ErrBadAddress, path, f.Name, what)
			}
		case strings.HasPrefix(tag, "bits "):
			n, err := strconv.Atoi(strings.TrimPrefix(tag, "bits "))
			if err != nil || n%8 != 0 {
				panic("contracts: bad bits tag on " + path + "." + f.Name)
			}
			if fv.Len() != n/8 {
				return fmt.Errorf("%s.%s must be %d bytes, got %d", path, f.Name, n/8, fv.Len())
			}
		case f.Type == coinsType:
			// tonutils-go panics on these while storing; Tolk's coins is VarUInteger 16.
			n := fv.Interface().(tlb.Coins).Nano()
			if n.Sign() < 0 || n.BitLen() > 120 {
				return fmt.Errorf("%s.%s must be 0..2^120-1 nanoTON, got %s", path, f.Name, n)
			}
		case f.Type.Kind() == reflect.Pointer && f.Type.Elem().Kind() == reflect.Struct && f.Type != cellType && f.Type != dictType:
			if err := validateFields(fv, path+"."+f.Name); err != nil {
				return err
			}
		case f.Type.Kind() == reflect.Struct && f.Type != coinsType && f.Type != magicType:
			if err := validateFields(fv, path+"."+f.Name); err != nil {
				return err
			}
		}
	}
	return nil
}

var (
	cellType  = reflect.TypeOf(&cell.Cell{})
	dictType  = reflect.TypeOf(&cell.Dictionary{})
	coinsType = reflect.TypeOf(tlb.Coins{})
	magicType = reflect.TypeOf(tlb.Magic{})
)

func reflectValue(v any) reflect.Value { return reflect.ValueOf(v) }

// forEachEntry calls fn with the key and value slices of every entry of a dictionary with
// keyBits-bit keys, in key order. A nil or empty dictionary has no entries.
func forEachEntry(d *cell.Dictionary, keyBits uint, what string, fn func(key, value *cell.Slice) error) error {
	if d == nil || d.IsEmpty() {
		return nil
	}
	if d.GetKeySize() != keyBits {
		return fmt.Errorf("%w: %s dictionary has %d-bit keys, want %d", ErrMalformedBody, what, d.GetKeySize(), keyBits)
	}
	kvs, err := d.LoadAll()
	if err != nil {
		return fmt.Errorf("%w: failed to read %s: %v", ErrMalformedBody, what, err)
	}
	for _, kv := range kvs {
		if err := fn(kv.Key, kv.Value); err != nil {
			return fmt.Errorf("%w: bad %s entry: %v", ErrMalformedBody, what, err)
		}
	}
	return nil
}

// ErrBadText is a text cell (model name, endpoint) a contract would refuse.
var ErrBadText = errors.New("bad text cell")

// TextCell builds the cell a contract expects for a short text (model name, endpoint): the UTF-8
// bytes inline, no refs. maxBytes is the contract's limit (MaxModelNameBytes, MaxEndpointBytes).
func TextCell(text string, maxBytes int) (*cell.Cell, error) {
	if len(text) == 0 || len(text) > maxBytes {
		return nil, fmt.Errorf("%w: %d bytes, want 1..%d", ErrBadText, len(text), maxBytes)
	}
	if !utf8.ValidString(text) {
		return nil, fmt.Errorf("%w: not UTF-8", ErrBadText)
	}
	return cell.BeginCell().MustStoreSlice([]byte(text), uint(len(text))*8).EndCell(), nil
}

// CellText reads a text cell: whole bytes, no refs. An empty cell is the empty string.
func CellText(c *cell.Cell) (string, error) {
	if c == nil {
		return "", fmt.Errorf("%w: missing", ErrBadText)
	}
	if c.RefsNum() != 0 || c.BitsSize()%8 != 0 {
		return "", fmt.Errorf("%w: %d bits and %d refs, want whole bytes and no refs", ErrBadText, c.BitsSize(), c.RefsNum())
	}
	s, err := c.BeginParse()
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadText, err)
	}
	b, err := s.LoadSlice(c.BitsSize())
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrBadText, err)
	}
	return string(b), nil
}
