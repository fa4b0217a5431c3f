#!/usr/bin/env python3
"""Writes the seed corpus of nabla's fuzz targets (docs/fuzzing.md) under Fuzz/Corpus/:

    python3 Fuzz/make_seeds.py

Needs NumPy, safetensors and PyTorch (CPU is enough). Seeds are real files written by
those libraries, kept tiny; FuzzCorpusTests reads each seed listed in EXPECTED below
and checks the shapes it holds. Files named crash-* are reproducers of faults the
fuzzers (or reviews) found, bad-* files that must be refused without having crashed
anything; this script writes the hand-made ones and never deletes files it did not
write, so crashes saved by run.sh stay.
"""
import io
import json
import os
import struct
import zipfile

import numpy as np
import safetensors.numpy
import safetensors.torch
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "Corpus")

# What each seed holds, for the replay test: file -> {key: shape} (key "" for the one
# tensor of a .npy file or of a tensor saved alone). Written to Corpus/expected.json.
EXPECTED = {}


def path(target, name):
    os.makedirs(os.path.join(CORPUS, target), exist_ok=True)
    return os.path.join(CORPUS, target, name)


def expect(target, name, shapes):
    EXPECTED[f"{target}/{name}"] = {k: list(v) for k, v in shapes.items()}


def values(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def npy_seeds():
    rng = np.random.default_rng(1)
    arrays = {
        "f32_2d.npy": rng.standard_normal((3, 4)).astype("<f4"),
        "f16_qk.npy": rng.standard_normal((1, 2, 4, 8)).astype("<f2"),
        "f64_be.npy": rng.standard_normal((2, 3)).astype(">f8"),
        "f32_fortran.npy": np.asfortranarray(rng.standard_normal((3, 5)).astype("<f4")),
        "i8.npy": np.arange(-6, 6, dtype=np.int8).reshape(3, 4),
        "u2.npy": np.arange(10, dtype="<u2"),
        "bool.npy": np.array([True, False, True]),
        "scalar.npy": np.array(1.5, dtype="<f4"),
        "empty.npy": np.zeros((0, 3), dtype="<f4"),
    }
    for name, a in arrays.items():
        np.save(path("npy", name), a)
        expect("npy", name, {"": a.shape})
    # Header version 2.0 (a 4-byte header length).
    a = rng.standard_normal((2, 2)).astype("<f4")
    with open(path("npy", "f32_v2.npy"), "wb") as f:
        np.lib.format.write_array(f, a, version=(2, 0))
    expect("npy", "f32_v2.npy", {"": a.shape})


def safetensors_seeds():
    rng = np.random.default_rng(2)
    q = rng.standard_normal((1, 2, 4, 8)).astype(np.float16)
    k = rng.standard_normal((1, 2, 4, 8)).astype(np.float16)
    safetensors.numpy.save_file({"q": q, "k": k}, path("safetensors", "qk_f16.safetensors"),
                                metadata={"layout": "b h t d"})
    expect("safetensors", "qk_f16.safetensors", {"q": q.shape, "k": k.shape})
    mixed = {
        "a.f32": rng.standard_normal((3, 4)).astype(np.float32),
        "b.f64": rng.standard_normal((2,)).astype(np.float64),
        "c.i64": np.arange(4, dtype=np.int64),
        "d.u8": np.arange(5, dtype=np.uint8),
        "e.bool": np.array([True, False]),
        "f.scalar": np.array(2.0, dtype=np.float32),
        "g.empty": np.zeros((0, 2), dtype=np.float32),
    }
    safetensors.numpy.save_file(mixed, path("safetensors", "mixed.safetensors"))
    expect("safetensors", "mixed.safetensors", {k: v.shape for k, v in mixed.items()})
    bf = {"blocks.0.q": values((2, 3), 3, torch.bfloat16), "blocks.0.k": values((2, 3), 4, torch.bfloat16)}
    safetensors.torch.save_file(bf, path("safetensors", "bf16.safetensors"))
    expect("safetensors", "bf16.safetensors", {k: v.shape for k, v in bf.items()})
    safetensors.numpy.save_file({}, path("safetensors", "none.safetensors"))
    expect("safetensors", "none.safetensors", {})


def torch_seeds():
    """torch.save files for the zip target, and their data.pkl for the pickle target."""
    base = values((4, 6), 5)
    objects = {
        "single.pt": (values((2, 3, 4), 1), {"": (2, 3, 4)}),
        "state_dict.pt": ({"blocks.0.q": values((1, 2, 4, 8), 2, torch.float16),
                           "blocks.0.k": values((1, 2, 4, 8), 3, torch.float16)},
                          {"blocks.0.q": (1, 2, 4, 8), "blocks.0.k": (1, 2, 4, 8)}),
        "nested.pt": ({"a": {"b": values((3,), 4), "list": [values((2, 2), 5), (values((4,), 6),)]},
                       "step": 30, "name": "x", "none": None, "f": 0.5, "flag": True},
                      {"a.b": (3,), "a.list.0": (2, 2), "a.list.1.0": (4,)}),
        "views.pt": ({"transposed": base.t(), "stepped": base[:, ::2], "offset": base[1:3],
                      "expanded": values((1, 4), 7).expand(3, 4), "again": base},
                     {"transposed": (6, 4), "stepped": (4, 3), "offset": (2, 6), "expanded": (3, 4),
                      "again": (4, 6)}),
        "dtypes.pt": ({"f64": values((2,), 8, torch.float64), "bf16": values((2,), 9, torch.bfloat16),
                       "i64": torch.arange(3), "i32": torch.arange(3, dtype=torch.int32),
                       "u8": torch.arange(3, dtype=torch.uint8), "b": torch.tensor([True, False])},
                      {"f64": (2,), "bf16": (2,), "i64": (3,), "i32": (3,), "u8": (3,), "b": (2,)}),
        "list.pt": ([values((2,), 10), values((3,), 11)], {"0": (2,), "1": (3,)}),
    }
    for name, (obj, shapes) in objects.items():
        torch.save(obj, path("zip", name))
        expect("zip", name, shapes)
        with zipfile.ZipFile(path("zip", name)) as z:
            pkl = [n for n in z.namelist() if n.endswith("/data.pkl")][0]
            with open(path("pickle", name.replace(".pt", ".pkl")), "wb") as f:
                f.write(z.read(pkl))
        expect("pickle", name.replace(".pt", ".pkl"), shapes)


def npz_seeds():
    rng = np.random.default_rng(3)
    q = rng.standard_normal((1, 2, 4, 8)).astype(np.float32)
    k = rng.standard_normal((1, 2, 4, 8)).astype(np.float32)
    np.savez(path("zip", "qk.npz"), q=q, k=k)
    expect("zip", "qk.npz", {"q": q.shape, "k": k.shape})
    np.savez_compressed(path("zip", "qk_compressed.npz"), q=q, k=k)
    expect("zip", "qk_compressed.npz", {"q": q.shape, "k": k.shape})
    arrays = {"blocks.0.q": q[0, 0], "blocks.0.k": k[0, 0].astype(np.float16)}
    np.savez(path("zip", "blocks.npz"), **arrays)
    expect("zip", "blocks.npz", {k: v.shape for k, v in arrays.items()})


def dumpnames_seeds():
    """Folder listings: one file name per line, then the file's keys after tabs."""
    listings = {
        "npy_pairs.txt": "blocks.0.q.npy\nblocks.0.k.npy\nblocks.0.v.npy\nblocks.10.q.npy\nblocks.10.k.npy\n"
                         "blocks.2.q.npy\nblocks.2.k.npy\nlone.q.npy\n",
        "archives.txt": "blocks.3.pt\tq\tk\tv\nstep1.safetensors\tblocks.0.q\tblocks.0.k\n"
                        "all.npz\ta/b.q\ta/b.k\ta_b.q\ta_b.k\n",
        "bare.txt": "q.npy\nk.npy\nnotes.txt\n",
        "escapes.txt": "..q.npy\n..k.npy\n_.q.npy\n_.k.npy\nmodel.json.q.npy\nmodel.json.k.npy\n"
                       "x.pt\t..q\t..k\t_..q\t_..k\t%41.q\t%41.k\nq.safetensors\t\tq\tk\n",
        "clash.txt": "blocks.3.pt\tq\tk\nblocks.3.q.npy\n",
    }
    for name, text in listings.items():
        with open(path("dumpnames", name), "w") as f:
            f.write(text)


def zip_crashes():
    """Hand-made reproducers of ZIPFoundation 0.9.20 trapping ("Not enough bits to
    represent the passed value", off_t of an offset >= 2**63) on directory values that
    point outside the file; nabla must refuse them before ZIPFoundation reads them."""
    member = io.BytesIO()
    np.save(member, np.arange(4, dtype="<f4"))
    data = member.getvalue()
    name = b"q.npy"
    crc = zipfile.crc32(data) & 0xFFFFFFFF

    def archive(cd_offset64=None, local_offset64=None, count64=None, cd_size64=None):
        local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0x21, crc, len(data), len(data), len(name), 0)
        body = local + name + data
        extra = b""
        local_offset = 0
        version = 20
        if local_offset64 is not None:
            extra = struct.pack("<HHQ", 1, 8, local_offset64)
            local_offset = 0xFFFFFFFF
            version = 45
        cd = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, version, version, 0, 0, 0, 0x21, crc, len(data), len(data),
                         len(name), len(extra), 0, 0, 0, 0, local_offset) + name + extra
        cd_offset = len(body)
        out = body + cd
        zip64 = cd_offset64 is not None or count64 is not None or cd_size64 is not None
        if zip64:
            record_offset = len(out)
            out += struct.pack("<IQHHIIQQQQ", 0x06064B50, 44, 45, 45, 0, 0,
                               count64 if count64 is not None else 1, count64 if count64 is not None else 1,
                               cd_size64 if cd_size64 is not None else len(cd),
                               cd_offset64 if cd_offset64 is not None else cd_offset)
            out += struct.pack("<IIQI", 0x07064B50, 0, record_offset, 1)
        out += struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 0xFFFF if zip64 else 1, 0xFFFF if zip64 else 1,
                           0xFFFFFFFF if zip64 else len(cd), 0xFFFFFFFF if zip64 else cd_offset, 0)
        return out

    # ZIPFoundation lists one member; before nabla checked the count against the
    # directory's size, a count beyond Int.max hid that the others were missing.
    crashes = {
        "crash-zip64-directory-offset.npz": archive(cd_offset64=1 << 63),
        "crash-zip64-local-header-offset.npz": archive(local_offset64=(1 << 63) + 5),
        "bad-zip64-directory-count.npz": archive(count64=(1 << 64) - 1),
    }
    for file, content in crashes.items():
        with open(path("zip", file), "wb") as f:
            f.write(content)
    # The same archive with sane values, so the generator itself is checked.
    with open(path("zip", "zip64_records.npz"), "wb") as f:
        f.write(archive(cd_offset64=30 + len(name) + len(data)))
    expect("zip", "zip64_records.npz", {"q": (4,)})


def main():
    torch.manual_seed(0)
    npy_seeds()
    safetensors_seeds()
    torch_seeds()
    npz_seeds()
    dumpnames_seeds()
    zip_crashes()
    with open(os.path.join(CORPUS, "expected.json"), "w") as f:
        json.dump(EXPECTED, f, indent=1, sort_keys=True)
        f.write("\n")


if __name__ == "__main__":
    main()
