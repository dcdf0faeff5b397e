#!/usr/bin/env python3
"""Writes tests/data/safetensors_fixture.safetensors with Hugging Face's `safetensors` package.

tests/io/test_safetensors.cpp recomputes every value below and checks that simad reads them and
that simad's writer produces the same bytes. Not needed to build or test simad: the fixture is
committed. Regenerate with:

    pip install safetensors numpy        # written with safetensors 0.8.0, numpy 2.4
    python3 tests/data/make_safetensors_fixture.py
    python3 tests/data/make_safetensors_fixture.py --corpus tests/fuzz/corpus/safetensors

Values (i = 0, 1, ... in row-major order; float32 arithmetic where marked, each op rounded):
  dense.weight  F32  (3, 4)  (i - 5) * 0.25
  dense.bias    F64  (4,)    (i + 1) / 3.0                          (float64)
  embed.bf16    BF16 (2, 3)  bf16(float32(i) / float32(7) - 0.5)    (round to nearest even)
  embed.f16     F16  (5,)    f16((float32(i) - 2) / float32(3))     (numpy astype, nearest even)
  scale         F64  ()      pi
  empty         F32  (0, 3)  no data
Metadata: one key (the package writes metadata keys in random HashMap order, so only a single key
gives reproducible bytes), with a value that exercises JSON escaping.
"""

import argparse
import math
import os

import numpy as np
import safetensors

METADATA = {"note": 'simad fixture "v1" \\ caf\u00e9\n\t\u0001 / \u00ff'}


def bf16_bits(x: np.ndarray) -> np.ndarray:
    """float32 -> bfloat16 bits, round to nearest even (no NaNs here)."""
    u = x.astype(np.float32).view(np.uint32).astype(np.uint64)
    return ((u + 0x7FFF + ((u >> 16) & 1)) >> 16).astype(np.uint16)


def fixture_tensors():
    i12 = np.arange(12, dtype=np.float32)
    dense_weight = ((i12 - np.float32(5)) * np.float32(0.25)).reshape(3, 4)
    dense_bias = (np.arange(4, dtype=np.float64) + 1) / 3.0
    i6 = np.arange(6, dtype=np.float32)
    embed_bf16 = bf16_bits(i6 / np.float32(7) - np.float32(0.5)).reshape(2, 3)
    i5 = np.arange(5, dtype=np.float32)
    embed_f16 = ((i5 - np.float32(2)) / np.float32(3)).astype(np.float16)
    scale = np.array(math.pi, dtype=np.float64)
    empty = np.zeros((0, 3), dtype=np.float32)
    # name -> (safetensors dtype string for the Python API, array with the raw little-endian data)
    return {
        "dense.weight": ("float32", dense_weight),
        "dense.bias": ("float64", dense_bias),
        "embed.bf16": ("bfloat16", embed_bf16),
        "embed.f16": ("float16", embed_f16),
        "scale": ("float64", scale),
        "empty": ("float32", empty),
    }


def write(path, tensors, metadata):
    """safetensors.serialize_file on raw buffers (numpy has no bfloat16)."""
    arrays = {name: a.copy(order="C") for name, (_, a) in tensors.items()}  # keeps 0-d arrays 0-d
    if hasattr(safetensors, "TensorSpec"):  # safetensors >= 0.8
        specs = {
            name: safetensors.TensorSpec(
                dtype=dtype, shape=arrays[name].shape, data_ptr=arrays[name].ctypes.data, data_len=arrays[name].nbytes
            )
            for name, (dtype, _) in tensors.items()
        }
    else:  # older releases take the bytes
        specs = {
            name: {"dtype": dtype, "shape": list(arrays[name].shape), "data": arrays[name].tobytes()}
            for name, (dtype, _) in tensors.items()
        }
    tmp = str(path) + ".tmp"
    safetensors.serialize_file(specs, tmp, metadata=metadata)
    os.replace(tmp, path)


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.path.join(here, "safetensors_fixture.safetensors"))
    parser.add_argument("--corpus", help="also write small seed files for the fuzzer into this directory")
    args = parser.parse_args()

    write(args.out, fixture_tensors(), METADATA)
    print(f"wrote {args.out} ({os.path.getsize(args.out)} bytes, safetensors {safetensors.__version__})")

    if args.corpus:
        os.makedirs(args.corpus, exist_ok=True)
        seeds = {
            "fixture.safetensors": (fixture_tensors(), METADATA),
            "empty.safetensors": ({}, None),
            "metadata_only.safetensors": ({}, {"format": "pt"}),
            "scalar_f32.safetensors": ({"x": ("float32", np.array(1.5, dtype=np.float32))}, None),
            "two_f16.safetensors": (
                {
                    "a": ("float16", np.array([1, -2], dtype=np.float16)),
                    "b": ("bfloat16", np.array([0x3F80, 0xC000], dtype=np.uint16)),
                },
                {"k": "v"},
            ),
            "zero_size.safetensors": (
                {"z": ("float64", np.zeros((2, 0), dtype=np.float64)), "w": ("float32", np.ones(2, dtype=np.float32))},
                None,
            ),
        }
        for name, (tensors, metadata) in seeds.items():
            write(os.path.join(args.corpus, name), tensors, metadata)
        print(f"wrote {len(seeds)} seeds to {args.corpus}")


if __name__ == "__main__":
    main()
