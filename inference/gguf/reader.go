package gguf

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/bits"
	"os"
)

// maxFileSize bounds what Open reads into memory (the reader keeps the whole file).
const maxFileSize = 1 << 40

// Open reads a GGUF file from disk with a single read and parses it.
func Open(path string) (*File, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("failed to open GGUF file: %w", err)
	}
	if st.Size() > maxFileSize {
		return nil, fmt.Errorf("%w: %s is %d bytes", ErrUnsupported, path, st.Size())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read GGUF file: %w", err)
	}
	f, err := Read(b)
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s: %w", path, err)
	}
	return f, nil
}

// decoder reads little-endian values from b, tracking the position for error messages.
type decoder struct {
	b   []byte
	pos int
}

func (d *decoder) remaining() int { return len(d.b) - d.pos }

func (d *decoder) need(n int, what string) error {
	if n < 0 || n > d.remaining() {
		return fmt.Errorf("%w: %s needs %d bytes at offset %d, only %d left", ErrTruncated, what, n, d.pos, d.remaining())
	}
	return nil
}

func (d *decoder) u8(what string) (uint8, error) {
	if err := d.need(1, what); err != nil {
		return 0, err
	}
	v := d.b[d.pos]
	d.pos++
	return v, nil
}

func (d *decoder) u16(what string) (uint16, error) {
	if err := d.need(2, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint16(d.b[d.pos:])
	d.pos += 2
	return v, nil
}

func (d *decoder) u32(what string) (uint32, error) {
	if err := d.need(4, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(d.b[d.pos:])
	d.pos += 4
	return v, nil
}

func (d *decoder) u64(what string) (uint64, error) {
	if err := d.need(8, what); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint64(d.b[d.pos:])
	d.pos += 8
	return v, nil
}

// count reads a uint64 element count and checks that count elements of at least minSize bytes each
// fit in what is left of the file, so callers can allocate count elements safely.
func (d *decoder) count(minSize int, what string) (int, error) {
	at := d.pos
	n, err := d.u64(what)
	if err != nil {
		return 0, err
	}
	if minSize < 1 {
		minSize = 1
	}
	if n > uint64(d.remaining()/minSize) {
		return 0, fmt.Errorf("%w: %s %d at offset %d does not fit in the %d bytes left", ErrMalformed, what, n, at, d.remaining())
	}
	return int(n), nil
}

func (d *decoder) str(what string) (string, error) {
	n, err := d.count(1, what+" length")
	if err != nil {
		return "", err
	}
	s := string(d.b[d.pos : d.pos+n])
	d.pos += n
	return s, nil
}

// Read parses a GGUF file held entirely in b. Tensor data slices alias b.
func Read(b []byte) (*File, error) {
	d := &decoder{b: b}
	magic, err := d.u32("magic")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMagic, err)
	}
	if magic != Magic {
		return nil, fmt.Errorf("%w: got %#08x", ErrMagic, magic)
	}
	f := &File{Alignment: DefaultAlignment}
	if f.Version, err = d.u32("version"); err != nil {
		return nil, err
	}
	if f.Version != 2 && f.Version != 3 {
		return nil, fmt.Errorf("%w: %d (want 2 or 3)", ErrVersion, f.Version)
	}
	// A tensor info takes at least 8 (name len) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
	nTensors, err := d.count(24, "tensor count")
	if err != nil {
		return nil, err
	}
	// A KV takes at least 8 (key len) + 4 (type) + 1 (value) bytes.
	nKV, err := d.count(13, "metadata count")
	if err != nil {
		return nil, err
	}
	f.KVs = make([]KV, 0, nKV)
	f.kvIndex = make(map[string]int, nKV)
	for i := 0; i < nKV; i++ {
		key, err := d.str("metadata key")
		if err != nil {
			return nil, fmt.Errorf("failed to read metadata %d: %w", i, err)
		}
		t, err := d.u32("metadata type")
		if err != nil {
			return nil, fmt.Errorf("failed to read metadata %q: %w", key, err)
		}
		v, err := d.value(ValueType(t), 0)
		if err != nil {
			return nil, fmt.Errorf("failed to read metadata %q: %w", key, err)
		}
		if _, dup := f.kvIndex[key]; dup {
			return nil, fmt.Errorf("%w: duplicate metadata key %q", ErrMalformed, key)
		}
		f.kvIndex[key] = len(f.KVs)
		f.KVs = append(f.KVs, KV{Key: key, Type: ValueType(t), Value: v})
	}
	if kv, ok := f.Lookup("general.alignment"); ok {
		a, ok := asUint(kv.Value)
		if !ok || a == 0 || a&(a-1) != 0 || a > 1<<20 {
			return nil, fmt.Errorf("%w: general.alignment %v is not a power of two up to 1 MiB", ErrMalformed, kv.Value)
		}
		f.Alignment = a
	}

	f.Tensors = make([]TensorInfo, 0, nTensors)
	f.tensorIndex = make(map[string]int, nTensors)
	for i := 0; i < nTensors; i++ {
		ti, err := d.tensorInfo()
		if err != nil {
			return nil, fmt.Errorf("failed to read tensor info %d: %w", i, err)
		}
		if _, dup := f.tensorIndex[ti.Name]; dup {
			return nil, fmt.Errorf("%w: duplicate tensor %q", ErrMalformed, ti.Name)
		}
		f.tensorIndex[ti.Name] = len(f.Tensors)
		f.Tensors = append(f.Tensors, ti)
	}

	// The data section starts at the next multiple of the alignment (the padding may be absent when
	// there are no tensors and the file ends right here).
	dataOff := alignUp(uint64(d.pos), f.Alignment)
	if nTensors > 0 && dataOff > uint64(len(b)) {
		return nil, fmt.Errorf("%w: data section at offset %d is past the end of the %d-byte file", ErrTruncated, dataOff, len(b))
	}
	f.DataOffset = dataOff
	var dataLen uint64
	if dataOff <= uint64(len(b)) {
		dataLen = uint64(len(b)) - dataOff
	}
	for i := range f.Tensors {
		t := &f.Tensors[i]
		size, err := t.Type.RowBytes(t.Elements())
		if err != nil {
			return nil, fmt.Errorf("failed to size tensor %q: %w", t.Name, err)
		}
		// As ggml requires: blocks never straddle rows (ne[0] is a whole number of blocks).
		if bs := t.Type.BlockSize(); len(t.Dims) > 0 && t.Dims[0]%bs != 0 {
			return nil, fmt.Errorf("%w: tensor %q has rows of %d elements, not a whole number of %d-element %v blocks", ErrMalformed, t.Name, t.Dims[0], bs, t.Type)
		}
		if t.Offset%f.Alignment != 0 {
			return nil, fmt.Errorf("%w: tensor %q offset %d is not a multiple of the alignment %d", ErrMalformed, t.Name, t.Offset, f.Alignment)
		}
		if t.Offset > dataLen || size > dataLen-t.Offset {
			return nil, fmt.Errorf("%w: tensor %q (%d bytes at data offset %d) runs past the end of the data section (%d bytes)", ErrTruncated, t.Name, size, t.Offset, dataLen)
		}
		start := dataOff + t.Offset
		t.Data = b[start : start+size : start+size]
	}
	return f, nil
}

func (d *decoder) tensorInfo() (TensorInfo, error) {
	var t TensorInfo
	var err error
	if t.Name, err = d.str("tensor name"); err != nil {
		return t, err
	}
	nd, err := d.u32("tensor dimension count")
	if err != nil {
		return t, err
	}
	if nd > MaxDims {
		return t, fmt.Errorf("%w: tensor %q has %d dimensions (max %d)", ErrMalformed, t.Name, nd, MaxDims)
	}
	t.Dims = make([]uint64, nd)
	total := uint64(1)
	for j := range t.Dims {
		if t.Dims[j], err = d.u64("tensor dimension"); err != nil {
			return t, err
		}
		if t.Dims[j] == 0 {
			return t, fmt.Errorf("%w: tensor %q has a zero dimension", ErrMalformed, t.Name)
		}
		hi, lo := bits.Mul64(total, t.Dims[j])
		if hi != 0 || lo > math.MaxInt64 {
			return t, fmt.Errorf("%w: tensor %q dimensions %v overflow", ErrMalformed, t.Name, t.Dims[:j+1])
		}
		total = lo
	}
	typ, err := d.u32("tensor type")
	if err != nil {
		return t, err
	}
	t.Type = GGMLType(typ)
	if _, ok := ggmlTypes[t.Type]; !ok {
		return t, fmt.Errorf("%w: tensor %q has unknown type %d", ErrUnsupported, t.Name, typ)
	}
	if t.Offset, err = d.u64("tensor offset"); err != nil {
		return t, err
	}
	return t, nil
}

func alignUp(n, a uint64) uint64 { return (n + a - 1) / a * a }

// value reads one value of type t. depth counts array nesting.
func (d *decoder) value(t ValueType, depth int) (any, error) {
	switch t {
	case TypeUint8:
		return d.u8("uint8")
	case TypeInt8:
		v, err := d.u8("int8")
		return int8(v), err
	case TypeUint16:
		return d.u16("uint16")
	case TypeInt16:
		v, err := d.u16("int16")
		return int16(v), err
	case TypeUint32:
		return d.u32("uint32")
	case TypeInt32:
		v, err := d.u32("int32")
		return int32(v), err
	case TypeFloat32:
		v, err := d.u32("float32")
		return math.Float32frombits(v), err
	case TypeBool:
		v, err := d.u8("bool")
		if err == nil && v > 1 {
			return nil, fmt.Errorf("%w: bool value %d", ErrMalformed, v)
		}
		return v == 1, err
	case TypeString:
		return d.str("string")
	case TypeUint64:
		return d.u64("uint64")
	case TypeInt64:
		v, err := d.u64("int64")
		return int64(v), err
	case TypeFloat64:
		v, err := d.u64("float64")
		return math.Float64frombits(v), err
	case TypeArray:
		return d.array(depth)
	}
	return nil, fmt.Errorf("%w: unknown metadata value type %d", ErrMalformed, uint32(t))
}

func (d *decoder) array(depth int) (Array, error) {
	if depth >= maxArrayDepth {
		return Array{}, fmt.Errorf("%w: arrays nested deeper than %d", ErrMalformed, maxArrayDepth)
	}
	et, err := d.u32("array element type")
	if err != nil {
		return Array{}, err
	}
	elem := ValueType(et)
	if elem > TypeFloat64 {
		return Array{}, fmt.Errorf("%w: unknown array element type %d", ErrMalformed, et)
	}
	n, err := d.count(elem.minSize(), "array length")
	if err != nil {
		return Array{}, err
	}
	a := Array{Elem: elem}
	if sz := elem.fixedSize(); sz > 0 {
		raw := d.b[d.pos : d.pos+n*sz]
		d.pos += n * sz
		a.Values, err = decodeFixed(elem, raw, n)
		return a, err
	}
	switch elem {
	case TypeString:
		vs := make([]string, n)
		for i := range vs {
			if vs[i], err = d.str("array string"); err != nil {
				return a, err
			}
		}
		a.Values = vs
	case TypeArray:
		vs := make([]Array, n)
		for i := range vs {
			if vs[i], err = d.array(depth + 1); err != nil {
				return a, err
			}
		}
		a.Values = vs
	}
	return a, nil
}

func decodeFixed(t ValueType, raw []byte, n int) (any, error) {
	le := binary.LittleEndian
	switch t {
	case TypeUint8:
		return append([]uint8(nil), raw...), nil
	case TypeInt8:
		vs := make([]int8, n)
		for i := range vs {
			vs[i] = int8(raw[i])
		}
		return vs, nil
	case TypeBool:
		vs := make([]bool, n)
		for i := range vs {
			if raw[i] > 1 {
				return nil, fmt.Errorf("%w: bool value %d", ErrMalformed, raw[i])
			}
			vs[i] = raw[i] == 1
		}
		return vs, nil
	case TypeUint16:
		vs := make([]uint16, n)
		for i := range vs {
			vs[i] = le.Uint16(raw[2*i:])
		}
		return vs, nil
	case TypeInt16:
		vs := make([]int16, n)
		for i := range vs {
			vs[i] = int16(le.Uint16(raw[2*i:]))
		}
		return vs, nil
	case TypeUint32:
		vs := make([]uint32, n)
		for i := range vs {
			vs[i] = le.Uint32(raw[4*i:])
		}
		return vs, nil
	case TypeInt32:
		vs := make([]int32, n)
		for i := range vs {
			vs[i] = int32(le.Uint32(raw[4*i:]))
		}
		return vs, nil
	case TypeFloat32:
		vs := make([]float32, n)
		for i := range vs {
			vs[i] = math.Float32frombits(le.Uint32(raw[4*i:]))
		}
		return vs, nil
	case TypeUint64:
		vs := make([]uint64, n)
		for i := range vs {
			vs[i] = le.Uint64(raw[8*i:])
		}
		return vs, nil
	case TypeInt64:
		vs := make([]int64, n)
		for i := range vs {
			vs[i] = int64(le.Uint64(raw[8*i:]))
		}
		return vs, nil
	case TypeFloat64:
		vs := make([]float64, n)
		for i := range vs {
			vs[i] = math.Float64frombits(le.Uint64(raw[8*i:]))
		}
		return vs, nil
	}
	return nil, fmt.Errorf("%w: value type %v is not fixed-size", ErrMalformed, t)
}

// Lookup returns the metadata entry with this key.
func (f *File) Lookup(key string) (KV, bool) {
	i, ok := f.kvIndex[key]
	if !ok {
		return KV{}, false
	}
	return f.KVs[i], true
}

// Tensor returns the tensor with this name.
func (f *File) Tensor(name string) (*TensorInfo, bool) {
	i, ok := f.tensorIndex[name]
	if !ok {
		return nil, false
	}
	return &f.Tensors[i], true
}

// String returns a string value; ok is false when the key is absent, and err set when it has another type.
func (f *File) String(key string) (s string, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return "", false, nil
	}
	s, isStr := kv.Value.(string)
	if !isStr {
		return "", true, fmt.Errorf("%w: %s is %v, want string", ErrMalformed, key, kv.Type)
	}
	return s, true, nil
}

// Uint returns an integer value of any integer type that is non-negative.
func (f *File) Uint(key string) (v uint64, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	v, isUint := asUint(kv.Value)
	if !isUint {
		return 0, true, fmt.Errorf("%w: %s is %v %v, want a non-negative integer", ErrMalformed, key, kv.Type, kv.Value)
	}
	return v, true, nil
}

// Float returns a float or integer value as float64.
func (f *File) Float(key string) (v float64, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return 0, false, nil
	}
	switch x := kv.Value.(type) {
	case float32:
		return float64(x), true, nil
	case float64:
		return x, true, nil
	}
	if u, isUint := asUint(kv.Value); isUint {
		return float64(u), true, nil
	}
	return 0, true, fmt.Errorf("%w: %s is %v, want a number", ErrMalformed, key, kv.Type)
}

// Bool returns a bool value.
func (f *File) Bool(key string) (v bool, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return false, false, nil
	}
	b, isBool := kv.Value.(bool)
	if !isBool {
		return false, true, fmt.Errorf("%w: %s is %v, want bool", ErrMalformed, key, kv.Type)
	}
	return b, true, nil
}

// Array returns an array value.
func (f *File) Array(key string) (a Array, ok bool, err error) {
	kv, ok := f.Lookup(key)
	if !ok {
		return Array{}, false, nil
	}
	a, isArr := kv.Value.(Array)
	if !isArr {
		return Array{}, true, fmt.Errorf("%w: %s is %v, want array", ErrMalformed, key, kv.Type)
	}
	return a, true, nil
}

func asUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	}
	return 0, false
}
