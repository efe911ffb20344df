// Package gguf reads and writes GGUF files (versions 2 and 3), the model format of llama.cpp.
//
// The reader never trusts a size from the file: every count, length, dimension and offset is checked
// against the bytes actually present before anything is allocated, so a truncated or hostile file gives
// an error, never a panic or a huge allocation.
package gguf

import (
	"errors"
	"fmt"
)

// Magic is the first four bytes of every GGUF file ("GGUF" read as a little-endian uint32).
const Magic = 0x46554747

// DefaultAlignment is the data alignment used when general.alignment is absent.
const DefaultAlignment = 32

// Limits that keep a hostile file from making us allocate or recurse without bound.
const (
	// MaxDims is GGML_MAX_DIMS: tensors have at most 4 dimensions.
	MaxDims = 4
	// maxArrayDepth bounds nesting of array values (llama.cpp itself allows none in practice).
	maxArrayDepth = 8
)

// Sentinel errors; every error from Read wraps one of them.
var (
	ErrMagic       = errors.New("not a GGUF file (bad magic)")
	ErrVersion     = errors.New("unsupported GGUF version")
	ErrTruncated   = errors.New("truncated GGUF file")
	ErrMalformed   = errors.New("malformed GGUF file")
	ErrUnsupported = errors.New("unsupported GGUF feature")
	ErrNotFound    = errors.New("not found in GGUF file")
)

// ValueType is the type tag of a metadata value.
type ValueType uint32

// Metadata value types, as numbered by the GGUF specification.
const (
	TypeUint8   ValueType = 0
	TypeInt8    ValueType = 1
	TypeUint16  ValueType = 2
	TypeInt16   ValueType = 3
	TypeUint32  ValueType = 4
	TypeInt32   ValueType = 5
	TypeFloat32 ValueType = 6
	TypeBool    ValueType = 7
	TypeString  ValueType = 8
	TypeArray   ValueType = 9
	TypeUint64  ValueType = 10
	TypeInt64   ValueType = 11
	TypeFloat64 ValueType = 12
)

var valueTypeNames = [...]string{"uint8", "int8", "uint16", "int16", "uint32", "int32", "float32", "bool",
	"string", "array", "uint64", "int64", "float64"}

func (t ValueType) String() string {
	if int(t) < len(valueTypeNames) {
		return valueTypeNames[t]
	}
	return fmt.Sprintf("ValueType(%d)", uint32(t))
}

// fixedSize is the encoded size of a scalar type, 0 for string/array/unknown.
func (t ValueType) fixedSize() int {
	switch t {
	case TypeUint8, TypeInt8, TypeBool:
		return 1
	case TypeUint16, TypeInt16:
		return 2
	case TypeUint32, TypeInt32, TypeFloat32:
		return 4
	case TypeUint64, TypeInt64, TypeFloat64:
		return 8
	}
	return 0
}

// minSize is the fewest bytes one value of this type can take in a file; used to bound counts.
func (t ValueType) minSize() int {
	switch t {
	case TypeString:
		return 8
	case TypeArray:
		return 12
	}
	return t.fixedSize()
}

// Array is an array metadata value. Values is a Go slice whose element type matches Elem:
// []uint8, []int8, []uint16, []int16, []uint32, []int32, []float32, []bool, []string, []uint64,
// []int64, []float64, or []Array for nested arrays.
type Array struct {
	Elem   ValueType
	Values any
}

// Len is the number of elements.
func (a Array) Len() int {
	switch v := a.Values.(type) {
	case []uint8:
		return len(v)
	case []int8:
		return len(v)
	case []uint16:
		return len(v)
	case []int16:
		return len(v)
	case []uint32:
		return len(v)
	case []int32:
		return len(v)
	case []float32:
		return len(v)
	case []bool:
		return len(v)
	case []string:
		return len(v)
	case []uint64:
		return len(v)
	case []int64:
		return len(v)
	case []float64:
		return len(v)
	case []Array:
		return len(v)
	}
	return 0
}

// KV is one metadata entry. Value holds the Go value matching Type: uint8, int8, uint16, int16, uint32,
// int32, float32, bool, string, uint64, int64, float64 or Array.
type KV struct {
	Key   string
	Type  ValueType
	Value any
}

// GGMLType is the element type of a tensor.
type GGMLType uint32

// Tensor types used here (numbering from ggml.h). Other known types are recognised for sizes only.
const (
	F32  GGMLType = 0
	F16  GGMLType = 1
	Q4_0 GGMLType = 2
	Q4_1 GGMLType = 3
	Q5_0 GGMLType = 6
	Q5_1 GGMLType = 7
	Q8_0 GGMLType = 8
	Q8_1 GGMLType = 9
	Q2_K GGMLType = 10
	Q3_K GGMLType = 11
	Q4_K GGMLType = 12
	Q5_K GGMLType = 13
	Q6_K GGMLType = 14
	Q8_K GGMLType = 15
	I8   GGMLType = 24
	I16  GGMLType = 25
	I32  GGMLType = 26
	I64  GGMLType = 27
	F64  GGMLType = 28
	BF16 GGMLType = 30
)

// typeTraits: elements per block and bytes per block.
type typeTraits struct {
	name      string
	blockSize uint64
	typeSize  uint64
}

var ggmlTypes = map[GGMLType]typeTraits{
	F32:  {"F32", 1, 4},
	F16:  {"F16", 1, 2},
	Q4_0: {"Q4_0", 32, 18},
	Q4_1: {"Q4_1", 32, 20},
	Q5_0: {"Q5_0", 32, 22},
	Q5_1: {"Q5_1", 32, 24},
	Q8_0: {"Q8_0", 32, 34},
	Q8_1: {"Q8_1", 32, 36},
	Q2_K: {"Q2_K", 256, 84},
	Q3_K: {"Q3_K", 256, 110},
	Q4_K: {"Q4_K", 256, 144},
	Q5_K: {"Q5_K", 256, 176},
	Q6_K: {"Q6_K", 256, 210},
	Q8_K: {"Q8_K", 256, 292},
	I8:   {"I8", 1, 1},
	I16:  {"I16", 1, 2},
	I32:  {"I32", 1, 4},
	I64:  {"I64", 1, 8},
	F64:  {"F64", 1, 8},
	BF16: {"BF16", 1, 2},
}

func (t GGMLType) String() string {
	if tr, ok := ggmlTypes[t]; ok {
		return tr.name
	}
	return fmt.Sprintf("GGMLType(%d)", uint32(t))
}

// BlockSize is the number of elements per quantization block (1 for plain types), 0 if unknown.
func (t GGMLType) BlockSize() uint64 { return ggmlTypes[t].blockSize }

// RowBytes is the byte size of n elements of this type, or an error when n does not fill whole blocks.
func (t GGMLType) RowBytes(n uint64) (uint64, error) {
	tr, ok := ggmlTypes[t]
	if !ok {
		return 0, fmt.Errorf("%w: tensor type %d", ErrUnsupported, uint32(t))
	}
	if n%tr.blockSize != 0 {
		return 0, fmt.Errorf("%w: %d elements of %s is not a whole number of %d-element blocks", ErrMalformed, n, tr.name, tr.blockSize)
	}
	return n / tr.blockSize * tr.typeSize, nil
}

// TensorInfo describes one tensor. Dims are ggml's ne: Dims[0] is the innermost (contiguous) dimension,
// so a matrix of ne=[n_in, n_out] is n_out rows of n_in elements.
type TensorInfo struct {
	Name string
	Dims []uint64
	Type GGMLType
	// Offset is relative to the start of the data section; a multiple of the file's alignment.
	Offset uint64
	// Data is the tensor's bytes inside the file's buffer (len == Size()); never copied.
	Data []byte
}

// Elements is the total number of elements (product of Dims; at least 1 for a scalar).
func (t *TensorInfo) Elements() uint64 {
	n := uint64(1)
	for _, d := range t.Dims {
		n *= d
	}
	return n
}

// File is a parsed GGUF file. Tensor data slices alias the buffer given to Read.
type File struct {
	Version   uint32
	Alignment uint64
	KVs       []KV
	Tensors   []TensorInfo
	// DataOffset is the file offset of the data section.
	DataOffset uint64

	kvIndex     map[string]int
	tensorIndex map[string]int
}
