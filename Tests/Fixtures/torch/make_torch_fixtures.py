#!/usr/bin/env python3
"""Writes the torch.save and .npz fixtures nabla's readers are tested on.

Run where PyTorch and NumPy are installed (the outputs are committed, so the tests do not
need either):

    python3 Tests/Fixtures/torch/make_torch_fixtures.py

Every tensor a test reads back has its expected values in expected/FILE__KEY.npy, written
by NumPy from the tensor PyTorch saved (as float32 or float64 C-order copies), with '/' in
keys written as '.'. Malformed and hostile files go under bad/.
"""
import io
import os
import pickle
import struct
import zipfile

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected")
BAD = os.path.join(HERE, "bad")


def expect(file, key, t):
    """Saves what nabla must read for `file:key`, as NumPy sees the tensor."""
    a = t.detach().to(torch.float64 if t.dtype == torch.float64 else torch.float32).contiguous().numpy()
    np.save(os.path.join(EXPECTED, f"{file}__{key or '_'}.npy"), a)


def values(shape, seed, dtype=torch.float32):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, generator=g).to(dtype)


def save(obj, name, **kwargs):
    torch.save(obj, os.path.join(HERE, name), **kwargs)


def main():
    os.makedirs(EXPECTED, exist_ok=True)
    os.makedirs(BAD, exist_ok=True)

    # A single tensor at the root.
    t = values((2, 3, 4), 1)
    save(t, "single.pt")
    expect("single.pt", None, t)

    # Nested dict / list / tuple, with plain values beside the tensors.
    a, b, c, d = values((3,), 2), values((2, 2), 3), values((4,), 4), values((1, 5), 5)
    nested = {"a": {"b": a, "list": [b, (c, d)]}, "step": 30, "name": "x", "none": None}
    save(nested, "nested.pt")
    for key, v in [("a.b", a), ("a.list.0", b), ("a.list.1.0", c), ("a.list.1.1", d)]:
        expect("nested.pt", key, v)

    # Every float storage type nabla reads.
    base = values((3, 5), 6, torch.float64)
    dtypes = {"f32": base.float(), "f16": base.half(), "bf16": base.bfloat16(), "f64": base}
    save(dtypes, "dtypes.pt")
    for key, v in dtypes.items():
        expect("dtypes.pt", key, v)

    # Views: non-contiguous strides, a bf16 view with a storage offset, and tensors that
    # share one storage.
    base = values((4, 6, 8), 7)
    views = {
        "transposed": base.transpose(0, 2),              # strides (1, 8, 48)
        "stepped": base[:, ::2, 1:7:3],                   # offset 1, strides (48, 16, 3)
        "bf16_offset": values((200,), 8, torch.bfloat16)[37:157].view(2, 3, 4, 5)[:, 1:],
        "expanded": values((1, 4), 9).expand(3, 4),       # stride 0
    }
    assert views["bf16_offset"].storage_offset() > 0
    save(views, "views.pt")
    for key, v in views.items():
        expect("views.pt", key, v)

    shared_base = values((4, 6), 10)
    shared = {"base": shared_base, "row": shared_base[2], "t": shared_base.t(), "again": shared_base}
    save(shared, "shared.pt")
    for key, v in shared.items():
        expect("shared.pt", key, v)

    # A state_dict (OrderedDict with _metadata, parameters).
    lin = torch.nn.Linear(3, 2)
    torch.manual_seed(0)
    torch.nn.init.normal_(lin.weight)
    save(lin.state_dict(), "state_dict.pt")
    expect("state_dict.pt", "weight", lin.weight)
    expect("state_dict.pt", "bias", lin.bias)
    save({"p": lin.weight}, "parameter.pt")
    expect("parameter.pt", "p", lin.weight)

    # A dict nesting q and k (and v) that nabla opens as Q/K: [heads, T, H, W, D].
    q, k, v = (values((2, 2, 8, 16, 16), s) for s in (11, 12, 13))
    save({"attn": {"q": q, "k": k, "v": v}}, "qk_nested.pt")
    save({"q": q.half(), "k": k.half()}, "qk.pt")
    for key, x in [("attn.q", q), ("attn.k", k)]:
        expect("qk_nested.pt", key, x)
    np.save(os.path.join(EXPECTED, "qk.pt__q.npy"), q.half().float().numpy())
    np.save(os.path.join(EXPECTED, "qk.pt__k.npy"), k.half().float().numpy())

    # A multi-pair dump: two "layers" x two "steps", PREFIX.q / PREFIX.k, the way a
    # forward hook collects them; q and k of a pair are views of one qkv projection.
    dump = {}
    for layer in (0, 1):
        for step in (10, 30):
            qkv = values((3, 2, 2, 8, 16, 16), 100 + 10 * layer + step)
            dump[f"blocks.{layer}.step{step}"] = {"q": qkv[0], "k": qkv[1]}
    save(dump, "model.pt")
    for prefix, pair in dump.items():
        expect("model.pt", prefix + ".q", pair["q"])
        expect("model.pt", prefix + ".k", pair["k"])

    # The legacy (pre-1.6) format.
    save(t, "legacy.pt", _use_new_zipfile_serialization=False)

    # NumPy archives, stored and deflated.
    arrays = {"q": q.numpy(), "k": k.numpy(), "f16": base.half().numpy(), "f64": base.double().numpy()[:2]}
    np.savez(os.path.join(HERE, "arrays.npz"), **arrays)
    np.savez_compressed(os.path.join(HERE, "arrays_compressed.npz"), **arrays)

    make_bad(t)


def rewrite_zip(src, dst, change):
    """Copies zip `src` to `dst` with `change(name, data) -> data or None` applied."""
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w", zipfile.ZIP_STORED) as zout:
        for info in zin.infolist():
            data = change(info.filename, zin.read(info.filename))
            if data is not None:
                zout.writestr(info, data)


class System:
    """Pickles as a call of os.system: what a hostile .pt does."""

    def __reduce__(self):
        return (os.system, ("echo nabla-was-here > /tmp/nabla-pwned",))


def make_bad(t):
    single = os.path.join(HERE, "single.pt")
    # A pickle that imports os.system, inside a torch.save archive and as a bare pickle.
    hostile = pickle.dumps({"q": System()}, protocol=2)
    rewrite_zip(single, os.path.join(BAD, "hostile_os_system.pt"),
                lambda n, d: hostile if n.endswith("data.pkl") else d)
    with open(os.path.join(BAD, "hostile_raw_pickle.pt"), "wb") as f:
        f.write(hostile)
    # A storage shorter than the tensor that views it.
    rewrite_zip(single, os.path.join(BAD, "short_storage.pt"),
                lambda n, d: d[:40] if n.endswith("data/0") else d)
    # A storage entry missing.
    rewrite_zip(single, os.path.join(BAD, "missing_storage.pt"),
                lambda n, d: None if n.endswith("data/0") else d)
    # Truncated archives: cut inside the data and inside the central directory.
    raw = open(single, "rb").read()
    open(os.path.join(BAD, "truncated_half.pt"), "wb").write(raw[: len(raw) // 2])
    open(os.path.join(BAD, "truncated_tail.pt"), "wb").write(raw[:-10])
    # A zip bomb: an .npz member that inflates to 64 MiB of zeros while its NPY header
    # asks for 40 bytes, and whose zip headers declare only what the header needs.
    header = io.BytesIO()
    np.save(header, np.zeros(10, dtype=np.float32))
    member = header.getvalue() + bytes(64 << 20)
    declared = len(header.getvalue())
    bomb = os.path.join(BAD, "bomb.npz")
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("x.npy", member)
    data = bytearray(open(bomb, "rb").read())
    # Patch the uncompressed size in the local header (offset 22) and the central
    # directory entry (offset 24 after its signature).
    struct.pack_into("<I", data, 22, declared)
    cd = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, cd + 24, declared)
    open(bomb, "wb").write(bytes(data))
    # A list that holds itself.
    loop = []
    loop.append(loop)
    rewrite_zip(single, os.path.join(BAD, "self_list.pt"),
                lambda n, d: pickle.dumps({"x": loop}, protocol=2) if n.endswith("data.pkl") else d)
    # A pickle with an opcode outside the allowed set (INST, protocol 0 instance creation).
    rewrite_zip(single, os.path.join(BAD, "bad_opcode.pt"),
                lambda n, d: b"\x80\x02(i__builtin__\nobject\n." if n.endswith("data.pkl") else d)


if __name__ == "__main__":
    main()
