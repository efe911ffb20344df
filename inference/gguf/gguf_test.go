package gguf

import (
	"encoding/binary"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func sampleWriter() *Writer {
	w := NewWriter()
	w.AddKV("general.architecture", "llama")
	w.AddKV("u8", uint8(200))
	w.AddKV("i8", int8(-100))
	w.AddKV("u16", uint16(60000))
	w.AddKV("i16", int16(-30000))
	w.AddKV("u32", uint32(4000000000))
	w.AddKV("i32", int32(-2000000000))
	w.AddKV("f32", float32(1.5))
	w.AddKV("bool", true)
	w.AddKV("u64", uint64(1<<60))
	w.AddKV("i64", int64(-1<<60))
	w.AddKV("f64", 2.25)
	w.AddKV("strs", []string{"a", "", "▁x"})
	w.AddKV("f32s", []float32{1, -2, 3.5})
	w.AddKV("i32s", []int32{1, -2})
	w.AddKV("bools", []bool{true, false})
	w.AddKV("u8s", []uint8{1, 2, 3})
	w.AddKV("nested", []Array{{Elem: TypeUint16, Values: []uint16{7, 8}}, {Elem: TypeString, Values: []string{"q"}}})
	w.AddF32("a", []uint64{3, 2}, []float32{1, 2, 3, 4, 5, 6})
	w.AddF16("b", []uint64{5}, []float32{0.5, -1, 65504, 1e-7, 0})
	q := make([]float32, 64)
	for i := range q {
		q[i] = float32(i-30) / 7
	}
	w.AddQ8_0("c", []uint64{32, 2}, q)
	return w
}

func TestRoundTrip(t *testing.T) {
	for _, align := range []uint64{0, 64} {
		w := sampleWriter()
		w.Alignment = align
		b, err := w.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		f, err := Read(b)
		if err != nil {
			t.Fatal(err)
		}
		wantAlign := align
		if align == 0 {
			wantAlign = DefaultAlignment
		}
		if f.Version != 3 || f.Alignment != wantAlign || f.DataOffset%wantAlign != 0 {
			t.Fatalf("version %d alignment %d data offset %d", f.Version, f.Alignment, f.DataOffset)
		}
		for _, kv := range w.kvs {
			got, ok := f.Lookup(kv.Key)
			if !ok || got.Type != kv.Type || !reflect.DeepEqual(got.Value, kv.Value) {
				t.Errorf("%s: got %v %#v, want %v %#v", kv.Key, got.Type, got.Value, kv.Type, kv.Value)
			}
		}
		if s, ok, err := f.String("general.architecture"); !ok || err != nil || s != "llama" {
			t.Errorf("String: %q %v %v", s, ok, err)
		}
		if v, _, err := f.Uint("u32"); err != nil || v != 4000000000 {
			t.Errorf("Uint: %d %v", v, err)
		}
		if _, _, err := f.Uint("i8"); !errors.Is(err, ErrMalformed) {
			t.Errorf("Uint of negative: %v", err)
		}
		if _, _, err := f.String("u8"); !errors.Is(err, ErrMalformed) {
			t.Errorf("String of uint8: %v", err)
		}
		a, _ := f.Tensor("a")
		if v, err := a.Float32s(); err != nil || !reflect.DeepEqual(v, []float32{1, 2, 3, 4, 5, 6}) || a.Offset%wantAlign != 0 {
			t.Errorf("a: %v %v", v, err)
		}
		bt, _ := f.Tensor("b")
		if v, err := bt.Float32s(); err != nil || v[0] != 0.5 || v[1] != -1 || v[2] != 65504 || math.Abs(float64(v[3])-1e-7) > 6e-8 || v[4] != 0 {
			t.Errorf("b: %v %v", v, err)
		}
		ct, _ := f.Tensor("c")
		v, err := ct.Float32s()
		if err != nil || len(v) != 64 {
			t.Fatalf("c: %v", err)
		}
		for i, x := range v {
			if want := float32(i-30) / 7; math.Abs(float64(x-want)) > 0.02 {
				t.Errorf("c[%d] = %v want %v", i, x, want)
			}
		}
	}
}

func TestF16Exhaustive(t *testing.T) {
	for h := 0; h < 1<<16; h++ {
		f := F16ToF32(uint16(h))
		if math.IsNaN(float64(f)) {
			if F32ToF16(f)&0x7c00 != 0x7c00 {
				t.Fatalf("nan %#x", h)
			}
			continue
		}
		if got := F32ToF16(f); got != uint16(h) {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)=%v) = %#04x", h, f, got)
		}
	}
	// Rounding: halfway between 1 and the next half (1+2^-10) goes to even (1).
	if got := F32ToF16(1 + 1.0/2048); got != 0x3c00 {
		t.Fatalf("tie rounding %#x", got)
	}
	if got := F32ToF16(1 + 3.0/2048); got != 0x3c02 {
		t.Fatalf("tie rounding up %#x", got)
	}
	if got := F32ToF16(1e6); got != 0x7c00 {
		t.Fatalf("overflow %#x", got)
	}
}

func TestMalformed(t *testing.T) {
	good, err := sampleWriter().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	mutate := func(f func(b []byte) []byte) []byte {
		return f(append([]byte(nil), good...))
	}
	// Offset of the first metadata key length: after magic, version, tensor count, kv count.
	const kv0 = 24
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, ErrMagic},
		{"magic", mutate(func(b []byte) []byte { b[0] = 'X'; return b }), ErrMagic},
		{"version1", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 1); return b }), ErrVersion},
		{"version9", mutate(func(b []byte) []byte { le.PutUint32(b[4:], 9); return b }), ErrVersion},
		{"huge tensor count", mutate(func(b []byte) []byte { le.PutUint64(b[8:], 1<<62); return b }), ErrMalformed},
		{"huge kv count", mutate(func(b []byte) []byte { le.PutUint64(b[16:], 1<<62); return b }), ErrMalformed},
		{"huge key length", mutate(func(b []byte) []byte { le.PutUint64(b[kv0:], 1<<62); return b }), ErrMalformed},
		{"bad value type", mutate(func(b []byte) []byte {
			le.PutUint32(b[kv0+8+len("general.architecture"):], 77)
			return b
		}), ErrMalformed},
		{"truncated header", good[:14], ErrTruncated},
		{"truncated data", good[:len(good)-1], ErrTruncated},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(c.b)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
	// Every prefix of a valid file is rejected cleanly.
	for n := 0; n < len(good); n++ {
		if _, err := Read(good[:n]); err == nil {
			t.Fatalf("prefix of %d bytes accepted", n)
		}
	}
}

// tensorFile builds a file with one tensor whose info fields are given directly.
func tensorFile(dims []uint64, typ GGMLType, offset uint64, data int) []byte {
	e := &encoder{}
	e.u32(Magic)
	e.u32(3)
	e.u64(1)
	e.u64(0)
	e.str("t")
	e.u32(uint32(len(dims)))
	for _, d := range dims {
		e.u64(d)
	}
	e.u32(uint32(typ))
	e.u64(offset)
	e.pad(32)
	e.b = append(e.b, make([]byte, data)...)
	return e.b
}

func TestMalformedTensors(t *testing.T) {
	cases := []struct {
		name string
		b    []byte
		want error
	}{
		{"ok", tensorFile([]uint64{4}, F32, 0, 16), nil},
		{"absurd size", tensorFile([]uint64{1 << 40, 1 << 20}, F32, 0, 16), ErrTruncated},
		{"overflow", tensorFile([]uint64{1 << 40, 1 << 30}, F32, 0, 16), ErrMalformed},
		{"zero dim", tensorFile([]uint64{0}, F32, 0, 16), ErrMalformed},
		{"five dims", tensorFile([]uint64{1, 1, 1, 1, 1}, F32, 0, 16), ErrMalformed},
		{"offset past end", tensorFile([]uint64{4}, F32, 1<<50, 16), ErrTruncated},
		{"offset unaligned", tensorFile([]uint64{4}, F32, 4, 32), ErrMalformed},
		{"unknown type", tensorFile([]uint64{4}, GGMLType(99), 0, 16), ErrUnsupported},
		{"partial block", tensorFile([]uint64{33}, Q8_0, 0, 64), ErrMalformed},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Read(c.b)
			if c.want == nil && err != nil || c.want != nil && !errors.Is(err, c.want) {
				t.Fatalf("got %v, want %v", err, c.want)
			}
		})
	}
}

func TestOpen(t *testing.T) {
	b, err := sampleWriter().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "m.gguf")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Open(p)
	if err != nil || len(f.Tensors) != 3 {
		t.Fatalf("Open: %v", err)
	}
	if _, err := Open(p + ".missing"); err == nil || !strings.Contains(err.Error(), "failed to open") {
		t.Fatalf("missing file: %v", err)
	}
}

func TestWriterErrors(t *testing.T) {
	w := NewWriter()
	w.AddF32("x", []uint64{3}, []float32{1, 2})
	if _, err := w.Bytes(); err == nil {
		t.Fatal("size mismatch accepted")
	}
	w = NewWriter()
	w.AddKV("x", struct{}{})
	if _, err := w.Bytes(); !errors.Is(err, ErrUnsupported) {
		t.Fatalf("bad kv: %v", err)
	}
}

func FuzzRead(f *testing.F) {
	good, err := sampleWriter().Bytes()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:100])
	f.Add(tensorFile([]uint64{4}, F32, 0, 16))
	f.Add(tensorFile([]uint64{1 << 40, 1 << 20}, F32, 0, 16))
	f.Add([]byte("GGUF"))
	f.Fuzz(func(t *testing.T, b []byte) {
		file, err := Read(b)
		if err != nil {
			return
		}
		for i := range file.Tensors {
			ti := &file.Tensors[i]
			// Decoding a small accepted tensor must not panic either.
			if ti.Elements() <= 1<<16 {
				_, _ = ti.Float32s()
			}
		}
	})
}

// Version 2 has the same layout as version 3 (v3 only added big-endian files, which we do not read).
func TestVersion2(t *testing.T) {
	b, err := sampleWriter().Bytes()
	if err != nil {
		t.Fatal(err)
	}
	binary.LittleEndian.PutUint32(b[4:], 2)
	f, err := Read(b)
	if err != nil || f.Version != 2 || len(f.Tensors) != 3 {
		t.Fatalf("v2: %v", err)
	}
}
