package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
)

// F16ToF32 converts an IEEE 754 half-precision value to float32 (exactly).
func F16ToF32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // inf / nan
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case exp == 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal half: value = mant * 2^-24.
		f := float32(mant) * (1.0 / (1 << 24))
		if sign != 0 {
			f = -f
		}
		return f
	}
	return math.Float32frombits(sign | (exp+112)<<23 | mant<<13)
}

// F32ToF16 rounds a float32 to the nearest half-precision value (ties to even), as ggml does.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant != 0 {
			return sign | 0x7e00 // nan
		}
		return sign | 0x7c00
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00 // overflow to inf
	}
	if e <= 0 {
		if e < -10 {
			return sign // underflow to zero
		}
		// Subnormal: shift the mantissa (with its implicit 1) right and round to nearest even.
		m := mant | 0x800000
		shift := uint32(14 - e)
		half := uint32(1) << (shift - 1)
		r := m >> shift
		rem := m & (1<<shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // may carry into the exponent, which correctly rounds up to the next binade or inf
	}
	return sign | uint16(r)
}

// QuantizeQ8_0 encodes v (len a multiple of 32) in ggml's Q8_0 format: per 32 values a float16 scale
// d = max|x|/127 followed by 32 int8 values round(x/d), halves away from zero like roundf.
func QuantizeQ8_0(v []float32) []byte {
	nb := len(v) / 32
	out := make([]byte, 0, nb*34)
	for b := 0; b < nb; b++ {
		blk := v[b*32 : b*32+32]
		var amax float32
		for _, x := range blk {
			if a := float32(math.Abs(float64(x))); a > amax {
				amax = a
			}
		}
		d := amax / 127
		var id float32
		if d != 0 {
			id = 1 / d
		}
		out = binary.LittleEndian.AppendUint16(out, F32ToF16(d))
		for _, x := range blk {
			out = append(out, byte(int8(math.Round(float64(x*id)))))
		}
	}
	return out
}

// Float32s decodes the tensor's elements to float32 (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1,
// Q4_K, Q5_K and Q6_K).
func (t *TensorInfo) Float32s() ([]float32, error) {
	n := t.Elements()
	size, err := t.Type.RowBytes(n)
	if err != nil {
		return nil, err
	}
	if uint64(len(t.Data)) != size {
		return nil, fmt.Errorf("%w: tensor %q has %d bytes, want %d", ErrMalformed, t.Name, len(t.Data), size)
	}
	out := make([]float32, n)
	if err := DecodeInto(out, t.Type, t.Data); err != nil {
		return nil, fmt.Errorf("failed to decode tensor %q: %w", t.Name, err)
	}
	return out, nil
}

// DecodeInto decodes len(out) elements of type typ from data into out.
func DecodeInto(out []float32, typ GGMLType, data []byte) error {
	le := binary.LittleEndian
	need, err := typ.RowBytes(uint64(len(out)))
	if err != nil {
		return err
	}
	if uint64(len(data)) < need {
		return fmt.Errorf("%w: %d bytes for %d %v elements, want %d", ErrTruncated, len(data), len(out), typ, need)
	}
	switch typ {
	case F32:
		for i := range out {
			out[i] = math.Float32frombits(le.Uint32(data[4*i:]))
		}
	case F16:
		for i := range out {
			out[i] = F16ToF32(le.Uint16(data[2*i:]))
		}
	case BF16:
		for i := range out {
			out[i] = math.Float32frombits(uint32(le.Uint16(data[2*i:])) << 16)
		}
	case Q8_0:
		for b := 0; b < len(out)/32; b++ {
			blk := data[b*34 : b*34+34]
			d := F16ToF32(le.Uint16(blk))
			for j := 0; j < 32; j++ {
				out[b*32+j] = d * float32(int8(blk[2+j]))
			}
		}
	case Q4_0:
		decodeQ4_0(out, data)
	case Q4_1:
		decodeQ4_1(out, data)
	case Q5_0:
		decodeQ5_0(out, data)
	case Q5_1:
		decodeQ5_1(out, data)
	case Q4_K:
		decodeQ4_K(out, data)
	case Q5_K:
		decodeQ5_K(out, data)
	case Q6_K:
		decodeQ6_K(out, data)
	default:
		return fmt.Errorf("%w: decoding %v tensors", ErrUnsupported, typ)
	}
	return nil
}
