#!/usr/bin/env python3
"""Writes the tensor-file fixtures for Tests/NablaCoreTests/IO.

Run from anywhere: `python3 Tests/Fixtures/io/make_fixtures.py` (needs numpy and
safetensors). Output is deterministic; the files are committed.

  npy/   valid .npy files written by numpy (plus a few hand-made valid oddities)
  st/    valid .safetensors files written by the safetensors package
  bad/   malformed files of both formats, hand-crafted with struct

Values follow formulas the Swift tests recompute (see the comment on each file), so the
tests never compare against a second stored copy.
"""
import os
import struct
import warnings

import numpy as np
import safetensors
import safetensors.numpy

HERE = os.path.dirname(os.path.abspath(__file__))


def out(*parts):
    path = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    return path


def npy_save(name, array, version=None, big=False):
    assert (array.dtype.byteorder == ">") == big, name
    path = out("npy", name)
    with open(path, "wb") as f:
        if version is None:
            np.save(f, array)
        else:
            np.lib.format.write_array(f, array, version=version)
    back = np.load(path)
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")


def npy_raw(header, data=b"", version=1, pad=True, length=None):
    """A .npy byte string with `header` (a str) as the header text, unvalidated."""
    text = header.encode("latin1" if version < 3 else "utf8")
    prefix = 10 if version == 1 else 12
    if pad:
        text += b" " * ((64 - (prefix + len(text) + 1) % 64) % 64) + b"\n"
    n = len(text) if length is None else length
    size = struct.pack("<H", n) if version == 1 else struct.pack("<I", n)
    return b"\x93NUMPY" + bytes([version, 0]) + size + text + data


def write(parts, data):
    with open(out(*parts), "wb") as f:
        f.write(data)


def st_raw(header, data=b"", length=None):
    """A .safetensors byte string with `header` (bytes or str) as the JSON header."""
    if isinstance(header, str):
        header = header.encode("utf8")
    n = len(header) if length is None else length
    return struct.pack("<Q", n) + header + data


def bf16_bits(values):
    """Bits of float32 values that bfloat16 holds exactly."""
    f = np.asarray(values, dtype=np.float32)
    bits = f.view(np.uint32)
    assert np.all(bits & 0xFFFF == 0), "values must be exact in bfloat16"
    return (bits >> 16).astype(np.uint16)


def valid_npy():
    # value[i] = i * 0.5 - 3 (C-order flat index i), shape (2, 3, 4)
    npy_save("f32_c.npy", (np.arange(24, dtype=np.float32) * 0.5 - 3).reshape(2, 3, 4))
    # C-order value[i] = i + 1, shape (3, 4), stored column-major
    npy_save("f32_fortran.npy", np.asfortranarray((np.arange(12, dtype=np.float32) + 1).reshape(3, 4)))
    # C-order value[i] = i * 0.25, shape (2, 3, 4), stored column-major
    npy_save("f64_fortran3.npy", np.asfortranarray((np.arange(24, dtype=np.float64) * 0.25).reshape(2, 3, 4)))
    # value[i] = (i - 8) / 4, shape (4, 4)
    npy_save("f16.npy", ((np.arange(16, dtype=np.float16) - 8) / 4).reshape(4, 4))
    # smallest subnormal, 3 * smallest subnormal, smallest normal, max, inf, -inf, -0, nan
    npy_save("f16_special.npy", np.array(
        [2.0**-24, 3 * 2.0**-24, 2.0**-14, 65504, np.inf, -np.inf, -0.0, np.nan], dtype=np.float16))
    # value[i] = i * 1.25, shape (2, 3), big-endian
    npy_save("f32_be.npy", (np.arange(6) * 1.25).astype(">f4").reshape(2, 3), big=True)
    # value[i] = i / 8 - 1, shape (5,), big-endian
    npy_save("f64_be.npy", (np.arange(5) / 8 - 1).astype(">f8"), big=True)
    # value[i] = i * 3, shape (2, 5), format version 2.0
    npy_save("f32_v2.npy", (np.arange(10, dtype=np.float32) * 3).reshape(2, 5), version=(2, 0))
    # value[i] = i - 2.5, shape (6,), format version 3.0
    npy_save("f32_v3.npy", np.arange(6, dtype=np.float32) - 2.5, version=(3, 0))
    # value[i] = (i - 5) * 1000, shape (10,)
    npy_save("i4.npy", (np.arange(10, dtype=np.int32) - 5) * 1000)
    # value[i] = i * 2**40 - 3, shape (2, 3)
    npy_save("i8.npy", (np.arange(6, dtype=np.int64) * 2**40 - 3).reshape(2, 3))
    # value[i] = 255 - i, shape (16, 16)
    npy_save("u1.npy", (255 - np.arange(256)).astype(np.uint8).reshape(16, 16))
    # value[i] = i % 3 == 0, shape (10,)
    npy_save("b1.npy", np.arange(10) % 3 == 0)
    # value[i] = i - 4, shape (8,)
    npy_save("i1.npy", np.arange(8, dtype=np.int8) - 4)
    # value[i] = (i - 3) * 300, shape (6,), big-endian
    npy_save("i2_be.npy", ((np.arange(6) - 3) * 300).astype(">i2"), big=True)
    # value[i] = i * 1000, shape (4,)
    npy_save("u2.npy", (np.arange(4) * 1000).astype(np.uint16))
    # value[i] = i * 2**33, shape (4,), big-endian
    npy_save("u8_be.npy", (np.arange(4) * 2**33).astype(">u8"), big=True)
    # 0-d: 3.5
    npy_save("scalar.npy", np.array(3.5, dtype=np.float32))
    # value[i] = i / 4, shape (7,)
    npy_save("f64_1d.npy", np.arange(7, dtype=np.float64) / 4)
    # no elements, shape (0, 3)
    npy_save("empty.npy", np.zeros((0, 3), dtype=np.float32))

    # Hand-made but valid headers (numpy.load reads each; checked below).
    data = struct.pack("<3f", 1.0, 2.0, 3.0)
    write(["npy", "odd_native.npy"], npy_raw("{'descr': '=f4', 'fortran_order': False, 'shape': (3,), }", data))
    write(["npy", "odd_quotes.npy"], npy_raw('{ "shape" : ( 3 , ) ,"descr":"<f4",\n"fortran_order":False}', data))
    write(["npy", "odd_nopad.npy"], npy_raw("{'descr':'<f4','fortran_order':False,'shape':(3,)}", data, pad=False))
    write(["npy", "odd_bool_q.npy"], npy_raw("{'descr': '?', 'fortran_order': True, 'shape': (2L, 1L), }", b"\x01\x00"))
    for name in ["odd_native.npy", "odd_quotes.npy", "odd_nopad.npy"]:
        assert np.load(out("npy", name)).tolist() == [1.0, 2.0, 3.0], name
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # numpy notes the Python 2 style 'L' suffixes
        assert np.load(out("npy", "odd_bool_q.npy")).tolist() == [[True], [False]]


def valid_safetensors():
    # x[i] = i * 0.25, shape (2, 3)
    safetensors.numpy.save_file({"x": (np.arange(6, dtype=np.float32) * 0.25).reshape(2, 3)},
                                out("st", "f32.safetensors"))

    # q F32 (2, 4): i * 0.5 - 1;  k F16 (2, 4): i / 8 - 0.5;  b BF16 (3, 2): listed;
    # m U8 (5,): [0, 1, 2, 3, 255];  i I32 (3,): [-7, 0, 123456]
    q = (np.arange(8, dtype=np.float32) * 0.5 - 1).reshape(2, 4)
    k = (np.arange(8, dtype=np.float16) / 8 - 0.5).reshape(2, 4)
    b = bf16_bits([1.0, -2.5, 0.15625, 384.0, -0.0078125, 3.0]).reshape(3, 2)
    m = np.array([0, 1, 2, 3, 255], dtype=np.uint8)
    i = np.array([-7, 0, 123456], dtype=np.int32)
    specs = {}
    for key, arr, dtype in [("q", q, "float32"), ("k", k, "float16"), ("b", b, "bfloat16"),
                            ("m", m, "uint8"), ("i", i, "int32")]:
        specs[key] = safetensors.TensorSpec(dtype=dtype, shape=list(arr.shape),
                                            data_ptr=arr.ctypes.data, data_len=arr.nbytes)
    blob = safetensors.serialize(specs, metadata={"format": "np", "note": "nabla fixture"})
    write(["st", "multi.safetensors"], bytes(blob))

    # one tensor of each remaining dtype
    safetensors.numpy.save_file({
        "f64": np.arange(3, dtype=np.float64) / 2,                          # i / 2
        "i64": np.array([-(2**40), 5], dtype=np.int64),
        "bool": np.array([True, False, True]),
        "i8": np.array([-128, 127], dtype=np.int8),
        "i16": np.array([-300, 300], dtype=np.int16),
        "u16": np.array([65535], dtype=np.uint16),
        "u32": np.array([4000000000], dtype=np.uint32),
        "u64": np.array([2**40 + 1], dtype=np.uint64),
    }, out("st", "dtypes.safetensors"))

    # a tensor with no elements next to a normal one
    safetensors.numpy.save_file({"none": np.zeros((0, 4), dtype=np.float32),
                                 "one": np.ones((2,), dtype=np.float32)}, out("st", "zero_size.safetensors"))

    # no tensors at all
    safetensors.numpy.save_file({}, out("st", "no_tensors.safetensors"))


def bad_npy():
    f4x2 = struct.pack("<2f", 1.0, 2.0)
    good = "{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }"
    cases = {
        "npy_empty.npy": b"",
        "npy_bad_magic.npy": npy_raw(good, f4x2).replace(b"NUMPY", b"NUMPX", 1),
        "npy_truncated_magic.npy": b"\x93NUM",
        "npy_no_length.npy": b"\x93NUMPY\x01\x00\x10",
        "npy_version4.npy": b"\x93NUMPY\x04\x00" + npy_raw(good, f4x2)[8:],
        "npy_header_past_eof.npy": npy_raw(good, f4x2, length=1000),
        "npy_header_too_long.npy": npy_raw(good, f4x2, version=2, length=0x7FFFFFFF),
        "npy_not_dict.npy": npy_raw("['descr', '<f4']", f4x2),
        "npy_unterminated_string.npy": npy_raw("{'descr': '<f4", f4x2),
        "npy_junk_after_dict.npy": npy_raw(good + " xyz", f4x2),
        "npy_deep_nesting.npy": npy_raw("{'descr': " + "(" * 200 + ")" * 200 + "}", f4x2),
        "npy_descr_complex.npy": npy_raw("{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }", f4x2),
        "npy_descr_structured.npy": npy_raw(
            "{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (1,), }", f4x2),
        "npy_descr_not_string.npy": npy_raw("{'descr': 4, 'fortran_order': False, 'shape': (2,), }", f4x2),
        "npy_negative_dim.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2, -3), }", f4x2),
        "npy_missing_shape.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, }", f4x2),
        "npy_unknown_key.npy": npy_raw(good[:-1] + "'extra': None, }", f4x2),
        "npy_duplicate_key.npy": npy_raw(good[:-1] + "'shape': (2,), }", f4x2),
        "npy_fortran_not_bool.npy": npy_raw("{'descr': '<f4', 'fortran_order': 0, 'shape': (2,), }", f4x2),
        "npy_shape_list.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': [2], }", f4x2),
        "npy_shape_float.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2.0,), }", f4x2),
        "npy_dim_too_large.npy": npy_raw(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (123456789012345678901234567890,), }", f4x2),
        "npy_data_truncated.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }",
                                          struct.pack("<3f", 1, 2, 3)),
        "npy_trailing_bytes.npy": npy_raw(good, struct.pack("<3f", 1, 2, 3)),
        "npy_count_overflow.npy": npy_raw(
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1099511627776), }", f4x2),
        "npy_bytes_overflow.npy": npy_raw(
            "{'descr': '<f8', 'fortran_order': False, 'shape': (4611686018427387904,), }", f4x2),
        "npy_v3_bad_utf8.npy": npy_raw("{'descr': '<f4', 'fortran_order': False, 'shape': (2,), }", f4x2,
                                       version=3).replace(b"descr", b"d\xffscr", 1),
    }
    for name, data in cases.items():
        write(["bad", name], data)
    # numpy agrees these are broken, except two valid dtypes nabla does not read, a
    # duplicate key (Python keeps the last; nabla refuses the ambiguity) and trailing
    # bytes (numpy ignores them; nabla takes them as a sign of a wrong shape).
    lenient = ("npy_descr_complex.npy", "npy_descr_structured.npy", "npy_duplicate_key.npy",
               "npy_trailing_bytes.npy")
    for name in cases:
        if name in lenient:
            continue
        try:
            np.load(out("bad", name))
        except Exception:
            continue
        raise AssertionError(f"numpy accepted {name}")


def bad_safetensors():
    def entry(dtype="F32", shape=(2,), offsets=(0, 8)):
        return '{"dtype": "%s", "shape": %s, "data_offsets": %s}' % (dtype, list(shape), list(offsets))

    z = lambda n: bytes(n)
    cases = {
        "st_empty.safetensors": b"",
        "st_short.safetensors": b"\x10\x00\x00\x00\x00",
        "st_header_past_eof.safetensors": st_raw('{"a": %s}' % entry(), z(8), length=1000),
        "st_header_too_long.safetensors": st_raw('{}', length=2**62),
        "st_not_json.safetensors": st_raw("hello world", z(8)),
        "st_not_object.safetensors": st_raw("[1, 2, 3]", z(8)),
        "st_truncated_json.safetensors": st_raw('{"a": {"dtype": "F32", "shape": [2], "data_offsets": [0,', z(8)),
        "st_bad_utf8.safetensors": st_raw(b'{"a\xff": ' + entry().encode() + b"}", z(8)),
        "st_duplicate_key.safetensors": st_raw('{"a": %s, "a": %s}' % (entry(), entry()), z(8)),
        "st_entry_not_object.safetensors": st_raw('{"a": [1, 2]}', z(8)),
        "st_missing_offsets.safetensors": st_raw('{"a": {"dtype": "F32", "shape": [2]}}', z(8)),
        "st_dtype_not_string.safetensors": st_raw('{"a": %s}' % entry().replace('"F32"', "32"), z(8)),
        "st_unknown_dtype.safetensors": st_raw('{"a": %s}' % entry(dtype="F8_E4M3", offsets=(0, 2)), z(2)),
        "st_negative_dim.safetensors": st_raw('{"a": %s}' % entry(shape=(-1, 2)), z(8)),
        "st_shape_overflow.safetensors": st_raw('{"a": %s}' % entry(shape=(2**40, 2**40)), z(8)),
        "st_offsets_float.safetensors": st_raw('{"a": %s}' % entry().replace("[0, 8]", "[0, 8.0]"), z(8)),
        "st_offsets_three.safetensors": st_raw('{"a": %s}' % entry(offsets=(0, 8, 16)), z(8)),
        "st_length_mismatch.safetensors": st_raw('{"a": %s}' % entry(shape=(2, 3), offsets=(0, 20)), z(20)),
        "st_past_eof.safetensors": st_raw('{"a": %s}' % entry(shape=(6,), offsets=(0, 24)), z(16)),
        "st_offsets_not_zero.safetensors": st_raw('{"a": %s}' % entry(shape=(6,), offsets=(8, 32)), z(32)),
        "st_gap.safetensors": st_raw('{"a": %s, "b": %s}' % (entry(), entry(offsets=(12, 20))), z(20)),
        "st_overlap.safetensors": st_raw('{"a": %s, "b": %s}' % (entry(shape=(4,), offsets=(0, 16)),
                                                                 entry(shape=(4,), offsets=(8, 24))), z(24)),
        "st_end_short.safetensors": st_raw('{"a": %s}' % entry(), z(12)),
        "st_metadata_not_string.safetensors": st_raw('{"__metadata__": {"a": 1}, "t": %s}' % entry(), z(8)),
        "st_metadata_not_object.safetensors": st_raw('{"__metadata__": "x", "t": %s}' % entry(), z(8)),
        "st_deep_nesting.safetensors": st_raw('{"a": ' + "[" * 500 + "]" * 500 + "}", z(8)),
    }
    for name, data in cases.items():
        write(["bad", name], data)
    # The safetensors package agrees these are broken, except a duplicate key (its JSON
    # parser keeps one; nabla refuses the ambiguity).
    for name in cases:
        if name == "st_duplicate_key.safetensors":
            continue
        try:
            safetensors.numpy.load_file(out("bad", name))
        except Exception:
            continue
        raise AssertionError(f"safetensors accepted {name}")


if __name__ == "__main__":
    valid_npy()
    valid_safetensors()
    bad_npy()
    bad_safetensors()
