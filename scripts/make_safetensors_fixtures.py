#!/usr/bin/python3
"""Writes the safetensors fixtures of tests/test_safetensors.c into tests/fixtures/safetensors/.

The files are built byte by byte from the format's definition
(https://huggingface.co/docs/safetensors): an 8-byte little-endian header
length, a JSON header padded with spaces to a multiple of 8, then the data.
No safetensors library is used, so the C reader and writer are checked against
the format itself rather than against one implementation of it.

  dtypes.safetensors     one tensor per dtype (F32, F16, BF16, I64, I32, BOOL), a 0-d
                         and an empty tensor, a __metadata__ map; data deliberately in
                         a different order from the header's keys
  hf_layout.safetensors  the exact bytes the Hugging Face writer produces for its
                         tensors (sorted by dtype rank, then name; __metadata__ first;
                         compact JSON), for a byte-for-byte test of our writer
  torch_cast.safetensors (only when torch is installed) f32 values cast by torch to
                         bf16 and f16, next to torch's own widening back to f32, so
                         the C conversions are checked against PyTorch's

Run with Debian's python: /usr/bin/python3 scripts/make_safetensors_fixtures.py
"""
import json
import os
import struct

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "fixtures", "safetensors")


def build(entries, metadata=None, data_order=None):
    """entries: list of (name, dtype, shape, raw bytes). Returns the file's bytes.

    The header lists tensors in `entries` order; the data region stores them in
    `data_order` (default: the same), which the format allows."""
    data_order = data_order or [e[0] for e in entries]
    raw = {e[0]: e[3] for e in entries}
    offsets, at = {}, 0
    for name in data_order:
        offsets[name] = (at, at + len(raw[name]))
        at += len(raw[name])
    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    for name, dtype, shape, _ in entries:
        header[name] = {"dtype": dtype, "shape": list(shape), "data_offsets": list(offsets[name])}
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text + b"".join(raw[n] for n in data_order)


def pack(fmt, values):
    return struct.pack("<%d%s" % (len(values), fmt), *values)


def dtypes_file():
    entries = [
        ("f32", "F32", [2, 3], pack("f", [0.0, 1.0, -2.5, 3.25, 1.5e-30, 65504.0])),
        # 1, -2, the smallest subnormal 2^-24, the largest normal 65504, +inf, -0, 0.333251953125
        ("f16", "F16", [7], pack("H", [0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0x8000, 0x3555])),
        # 1, -3, 0.15625, +inf
        ("bf16", "BF16", [2, 2], pack("H", [0x3F80, 0xC040, 0x3E20, 0x7F80])),
        ("i64", "I64", [3], pack("q", [-1, 2**40, 7])),
        ("i32", "I32", [2], pack("i", [-2**31, 123456])),
        ("mask", "BOOL", [4], bytes([1, 0, 0, 1])),
        ("scalar", "F32", [], pack("f", [42.0])),
        ("empty", "F32", [0, 3], b""),
    ]
    order = ["mask", "i64", "empty", "f16", "scalar", "f32", "bf16", "i32"]
    return build(entries, {"format": "pt", "source": "hand-built"}, order)


# The Hugging Face writer orders tensors by its Dtype enum, descending, then by name.
HF_RANK = {"BOOL": 0, "F16": 1, "BF16": 2, "I32": 3, "F32": 4, "I64": 5}


def hf_layout_file():
    tensors = [
        ("b.weight", "F32", [2, 2], pack("f", [1.0, 2.0, 3.0, 4.0])),
        ("a.bias", "F32", [2], pack("f", [-0.5, 0.25])),
        ("ids", "I64", [3], pack("q", [3, 1, 2])),
        ("half", "BF16", [3], pack("H", [0x3F80, 0x4000, 0xBF80])),
        ("idx", "I32", [2], pack("i", [7, -7])),
    ]
    tensors.sort(key=lambda t: (-HF_RANK[t[1]], t[0]))
    return build(tensors, {"format": "pt"})


def torch_cast_file():
    try:
        import torch
    except ImportError:
        print("torch not installed: torch_cast.safetensors not (re)written")
        return None
    g = torch.Generator().manual_seed(0)
    src = torch.cat([
        torch.randn(40, generator=g) * 3,
        # round-to-nearest-even ties and edge cases for both half types
        torch.tensor([1.00390625, 1.01171875, 1.0 + 2**-11, 1.0 + 3 * 2**-11, 6e-8, 1e-40, -0.0,
                      65519.0, 65520.0, 3.0e38, float("inf"), -float("inf")]),
    ]).float()
    bf16 = src.to(torch.bfloat16)
    f16 = src.to(torch.float16)
    raw = lambda t: t.contiguous().view(torch.int16).numpy().tobytes() if t.element_size() == 2 \
        else t.contiguous().numpy().tobytes()
    n = src.numel()
    entries = [
        ("src", "F32", [n], raw(src)),
        ("bf16", "BF16", [n], raw(bf16)),
        ("bf16_as_f32", "F32", [n], raw(bf16.float())),
        ("f16", "F16", [n], raw(f16)),
        ("f16_as_f32", "F32", [n], raw(f16.float())),
    ]
    return build(entries, {"torch": torch.__version__})


def main():
    os.makedirs(OUT, exist_ok=True)
    files = {
        "dtypes.safetensors": dtypes_file(),
        "hf_layout.safetensors": hf_layout_file(),
        "torch_cast.safetensors": torch_cast_file(),
    }
    for name, data in files.items():
        if data is None:
            continue
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)
        print("wrote %s (%d bytes)" % (name, len(data)))


if __name__ == "__main__":
    main()
