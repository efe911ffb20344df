"""A minimal GGUF v3 writer (little-endian), written from the format description.

Layout: magic "GGUF", uint32 version=3, uint64 tensor_count, uint64 kv_count, the metadata key/values,
the tensor infos (name, n_dims, ne[0..n), type, offset), zero padding to the alignment, then the
tensor data, each tensor starting at a multiple of the alignment relative to the data section.
"""

import struct

import numpy as np

ALIGNMENT = 32

# Metadata value types.
T_UINT8, T_INT8, T_UINT16, T_INT16, T_UINT32, T_INT32, T_FLOAT32, T_BOOL, T_STRING, T_ARRAY, T_UINT64, T_INT64, T_FLOAT64 = range(13)

# Tensor types (ggml_type).
GGML_F32 = 0
GGML_F16 = 1


def _str(s):
    b = s.encode("utf-8")
    return struct.pack("<Q", len(b)) + b


_SCALAR = {
    T_UINT8: "<B", T_INT8: "<b", T_UINT16: "<H", T_INT16: "<h", T_UINT32: "<I", T_INT32: "<i",
    T_FLOAT32: "<f", T_BOOL: "<?", T_UINT64: "<Q", T_INT64: "<q", T_FLOAT64: "<d",
}


def _value(vtype, v):
    if vtype == T_STRING:
        return _str(v)
    return struct.pack(_SCALAR[vtype], v)


class Writer:
    def __init__(self):
        self.kvs = []  # (key, type, value[, elem type])
        self.tensors = []  # (name, array)

    def add(self, key, vtype, value):
        self.kvs.append((key, vtype, value, None))

    def add_array(self, key, elem_type, values):
        self.kvs.append((key, T_ARRAY, list(values), elem_type))

    def add_tensor(self, name, array):
        """array is C-ordered with shape (..., ne[1], ne[0]): ggml lists dims innermost first."""
        if array.dtype not in (np.float32, np.float16):
            raise ValueError(f"tensor {name}: unsupported dtype {array.dtype}")
        self.tensors.append((name, np.ascontiguousarray(array)))

    def write(self, path):
        out = bytearray()
        out += b"GGUF"
        out += struct.pack("<IQQ", 3, len(self.tensors), len(self.kvs))
        for key, vtype, value, elem in self.kvs:
            out += _str(key) + struct.pack("<I", vtype)
            if vtype == T_ARRAY:
                out += struct.pack("<IQ", elem, len(value))
                for v in value:
                    out += _value(elem, v)
            else:
                out += _value(vtype, value)
        offset = 0
        offsets = []
        for name, arr in self.tensors:
            offsets.append(offset)
            ttype = GGML_F32 if arr.dtype == np.float32 else GGML_F16
            ne = list(reversed(arr.shape))
            out += _str(name) + struct.pack("<I", len(ne))
            out += b"".join(struct.pack("<Q", n) for n in ne)
            out += struct.pack("<IQ", ttype, offset)
            offset += arr.nbytes
            offset += (-offset) % ALIGNMENT
        out += b"\0" * ((-len(out)) % ALIGNMENT)
        for (name, arr), off in zip(self.tensors, offsets):
            data = arr.astype(arr.dtype.newbyteorder("<"), copy=False).tobytes()
            out += data
            out += b"\0" * ((-len(out)) % ALIGNMENT)
        with open(path, "wb") as f:
            f.write(out)
