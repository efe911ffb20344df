package gguf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
)

// Writer builds a GGUF v3 file. It is used by tests and benchmarks to make models, and by tools that
// export weights. Entries are written in the order they were added.
type Writer struct {
	// Alignment of the data section and every tensor; DefaultAlignment when 0. A general.alignment
	// entry is written when it differs from the default.
	Alignment uint64

	kvs     []KV
	tensors []TensorInfo
	err     error
}

// NewWriter returns an empty writer.
func NewWriter() *Writer { return &Writer{} }

// AddKV adds a metadata entry. v must be one of the Go types listed on KV.Value, or a slice of them
// ([]string, []float32, []int32, ...), which is written as an array.
func (w *Writer) AddKV(key string, v any) {
	t, val, err := typeOf(v)
	if err != nil && w.err == nil {
		w.err = fmt.Errorf("failed to add metadata %q: %w", key, err)
	}
	w.kvs = append(w.kvs, KV{Key: key, Type: t, Value: val})
}

func typeOf(v any) (ValueType, any, error) {
	switch x := v.(type) {
	case uint8:
		return TypeUint8, x, nil
	case int8:
		return TypeInt8, x, nil
	case uint16:
		return TypeUint16, x, nil
	case int16:
		return TypeInt16, x, nil
	case uint32:
		return TypeUint32, x, nil
	case int32:
		return TypeInt32, x, nil
	case float32:
		return TypeFloat32, x, nil
	case bool:
		return TypeBool, x, nil
	case string:
		return TypeString, x, nil
	case uint64:
		return TypeUint64, x, nil
	case int64:
		return TypeInt64, x, nil
	case float64:
		return TypeFloat64, x, nil
	case Array:
		return TypeArray, x, nil
	case []uint8:
		return TypeArray, Array{TypeUint8, x}, nil
	case []int8:
		return TypeArray, Array{TypeInt8, x}, nil
	case []uint16:
		return TypeArray, Array{TypeUint16, x}, nil
	case []int16:
		return TypeArray, Array{TypeInt16, x}, nil
	case []uint32:
		return TypeArray, Array{TypeUint32, x}, nil
	case []int32:
		return TypeArray, Array{TypeInt32, x}, nil
	case []float32:
		return TypeArray, Array{TypeFloat32, x}, nil
	case []bool:
		return TypeArray, Array{TypeBool, x}, nil
	case []string:
		return TypeArray, Array{TypeString, x}, nil
	case []uint64:
		return TypeArray, Array{TypeUint64, x}, nil
	case []int64:
		return TypeArray, Array{TypeInt64, x}, nil
	case []float64:
		return TypeArray, Array{TypeFloat64, x}, nil
	case []Array:
		return TypeArray, Array{TypeArray, x}, nil
	}
	return 0, nil, fmt.Errorf("%w: Go type %T", ErrUnsupported, v)
}

// AddTensor adds a tensor with raw data already encoded in typ. dims are ggml's ne (innermost first).
func (w *Writer) AddTensor(name string, typ GGMLType, dims []uint64, data []byte) {
	t := TensorInfo{Name: name, Type: typ, Dims: append([]uint64(nil), dims...), Data: data}
	if w.err == nil {
		size, err := typ.RowBytes(t.Elements())
		switch {
		case err != nil:
			w.err = fmt.Errorf("failed to add tensor %q: %w", name, err)
		case len(dims) > 0 && dims[0]%typ.BlockSize() != 0:
			w.err = fmt.Errorf("failed to add tensor %q: %w: rows of %d elements are not a whole number of %d-element %v blocks", name, ErrMalformed, dims[0], typ.BlockSize(), typ)
		case size != uint64(len(data)):
			w.err = fmt.Errorf("failed to add tensor %q: %d bytes of data, %v%v needs %d", name, len(data), typ, dims, size)
		}
	}
	w.tensors = append(w.tensors, t)
}

// AddF32 adds a float32 tensor.
func (w *Writer) AddF32(name string, dims []uint64, v []float32) {
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	w.AddTensor(name, F32, dims, b)
}

// AddF16 adds a tensor rounded to float16.
func (w *Writer) AddF16(name string, dims []uint64, v []float32) {
	b := make([]byte, 2*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint16(b[2*i:], F32ToF16(x))
	}
	w.AddTensor(name, F16, dims, b)
}

// AddQ8_0 adds a tensor quantized to Q8_0 (len(v) must be a multiple of 32).
func (w *Writer) AddQ8_0(name string, dims []uint64, v []float32) {
	w.AddTensor(name, Q8_0, dims, QuantizeQ8_0(v))
}

// AddQuantized adds a tensor quantized to typ with Quantize (ggml's reference quantizers).
func (w *Writer) AddQuantized(name string, typ GGMLType, dims []uint64, v []float32) {
	data, err := Quantize(typ, v)
	if err != nil {
		if w.err == nil {
			w.err = fmt.Errorf("failed to add tensor %q: %w", name, err)
		}
		return
	}
	w.AddTensor(name, typ, dims, data)
}

// Bytes returns the encoded file.
func (w *Writer) Bytes() ([]byte, error) {
	var buf bytes.Buffer
	if _, err := w.WriteTo(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// WriteTo encodes the file to out.
func (w *Writer) WriteTo(out io.Writer) (int64, error) {
	if w.err != nil {
		return 0, w.err
	}
	align := w.Alignment
	if align == 0 {
		align = DefaultAlignment
	}
	if align&(align-1) != 0 {
		return 0, fmt.Errorf("%w: alignment %d is not a power of two", ErrUnsupported, align)
	}
	kvs := w.kvs
	if align != DefaultAlignment {
		kvs = append([]KV{{Key: "general.alignment", Type: TypeUint32, Value: uint32(align)}}, kvs...)
	}
	e := &encoder{}
	e.u32(Magic)
	e.u32(3)
	e.u64(uint64(len(w.tensors)))
	e.u64(uint64(len(kvs)))
	for _, kv := range kvs {
		e.str(kv.Key)
		e.u32(uint32(kv.Type))
		if err := e.value(kv.Type, kv.Value); err != nil {
			return 0, fmt.Errorf("failed to encode metadata %q: %w", kv.Key, err)
		}
	}
	var off uint64
	offsets := make([]uint64, len(w.tensors))
	for i, t := range w.tensors {
		offsets[i] = off
		e.str(t.Name)
		e.u32(uint32(len(t.Dims)))
		for _, d := range t.Dims {
			e.u64(d)
		}
		e.u32(uint32(t.Type))
		e.u64(off)
		off = alignUp(off+uint64(len(t.Data)), align)
	}
	e.pad(align)
	for i, t := range w.tensors {
		e.b = append(e.b, t.Data...)
		if i < len(w.tensors)-1 {
			e.pad(align)
		}
	}
	n, err := out.Write(e.b)
	return int64(n), err
}

type encoder struct{ b []byte }

func (e *encoder) u32(v uint32) { e.b = binary.LittleEndian.AppendUint32(e.b, v) }
func (e *encoder) u64(v uint64) { e.b = binary.LittleEndian.AppendUint64(e.b, v) }
func (e *encoder) str(s string) { e.u64(uint64(len(s))); e.b = append(e.b, s...) }
func (e *encoder) pad(align uint64) {
	for uint64(len(e.b))%align != 0 {
		e.b = append(e.b, 0)
	}
}

func (e *encoder) value(t ValueType, v any) error {
	le := binary.LittleEndian
	switch x := v.(type) {
	case uint8:
		e.b = append(e.b, x)
	case int8:
		e.b = append(e.b, byte(x))
	case uint16:
		e.b = le.AppendUint16(e.b, x)
	case int16:
		e.b = le.AppendUint16(e.b, uint16(x))
	case uint32:
		e.u32(x)
	case int32:
		e.u32(uint32(x))
	case float32:
		e.u32(math.Float32bits(x))
	case bool:
		if x {
			e.b = append(e.b, 1)
		} else {
			e.b = append(e.b, 0)
		}
	case string:
		e.str(x)
	case uint64:
		e.u64(x)
	case int64:
		e.u64(uint64(x))
	case float64:
		e.u64(math.Float64bits(x))
	case Array:
		return e.array(x)
	default:
		return fmt.Errorf("%w: Go type %T for %v", ErrUnsupported, v, t)
	}
	return nil
}

func (e *encoder) array(a Array) error {
	e.u32(uint32(a.Elem))
	e.u64(uint64(a.Len()))
	var err error
	each := func(n int, f func(i int) any) {
		for i := 0; i < n && err == nil; i++ {
			err = e.value(a.Elem, f(i))
		}
	}
	switch vs := a.Values.(type) {
	case []uint8:
		e.b = append(e.b, vs...)
	case []int8:
		each(len(vs), func(i int) any { return vs[i] })
	case []uint16:
		each(len(vs), func(i int) any { return vs[i] })
	case []int16:
		each(len(vs), func(i int) any { return vs[i] })
	case []uint32:
		each(len(vs), func(i int) any { return vs[i] })
	case []int32:
		each(len(vs), func(i int) any { return vs[i] })
	case []float32:
		each(len(vs), func(i int) any { return vs[i] })
	case []bool:
		each(len(vs), func(i int) any { return vs[i] })
	case []string:
		each(len(vs), func(i int) any { return vs[i] })
	case []uint64:
		each(len(vs), func(i int) any { return vs[i] })
	case []int64:
		each(len(vs), func(i int) any { return vs[i] })
	case []float64:
		each(len(vs), func(i int) any { return vs[i] })
	case []Array:
		each(len(vs), func(i int) any { return vs[i] })
	default:
		return fmt.Errorf("%w: array of %T", ErrUnsupported, a.Values)
	}
	return err
}
