#!/usr/bin/python3
"""Writes tests/data/transformer_{relu,gelu}.safetensors: golden outputs of PyTorch's own
nn.TransformerEncoder (post-norm nn.TransformerEncoderLayer, batch_first, eval mode) for
tests/nn/test_transformer.cpp, so the test suite needs no PyTorch.

Each file holds the encoder's state_dict under PyTorch's names (layers.<l>.self_attn.in_proj_weight,
...; F32, as a float checkpoint), plus
  input     (B, N, d) F32  the encoder input
  mask      (B, N)    F32  1 = token, 0 = padding (src_key_padding_mask is its negation)
  expected  (B, N, d) F64  PyTorch's output, computed in float64 from the same float32 values
and metadata: the config (d_model, nhead, dim_feedforward, num_layers, activation, layer_norm_eps) and
"padded_rows_fast_path": what PyTorch's float32 eval fast path writes at padded positions.
Compare only the real (mask = 1) rows: PyTorch's fast path and reference path differ at padded rows.

Run with Debian's interpreter (python3-torch): /usr/bin/python3 tests/tools/make_transformer_fixture.py
The safetensors file is written with struct + json (Debian ships no python3-safetensors).
"""
import json
import os
import struct

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
DATA = os.path.join(HERE, "..", "data")

DTYPES = {torch.float32: ("F32", 4), torch.float64: ("F64", 8)}


def save_safetensors(path, tensors, metadata):
    """The safetensors layout: u64 header size, JSON header padded with spaces to 8, data."""
    header = {"__metadata__": metadata}
    blobs, offset = [], 0
    # Python's safetensors sorts by dtype alignment (descending), then by name.
    for name in sorted(tensors, key=lambda n: (-DTYPES[tensors[n].dtype][1], n)):
        t = tensors[name].contiguous()
        raw = t.numpy().tobytes()
        header[name] = {"dtype": DTYPES[t.dtype][0], "shape": list(t.shape), "data_offsets": [offset, offset + len(raw)]}
        blobs.append(raw)
        offset += len(raw)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def make(name, d_model, nhead, dim_feedforward, num_layers, activation, lengths, seed):
    torch.manual_seed(seed)
    layer = torch.nn.TransformerEncoderLayer(d_model, nhead, dim_feedforward, dropout=0.1, activation=activation,
                                             batch_first=True, norm_first=False)
    encoder = torch.nn.TransformerEncoder(layer, num_layers, enable_nested_tensor=True)
    # Non-trivial layer norms and attention biases (PyTorch initialises them to 1 / 0).
    with torch.no_grad():
        for key, p in encoder.state_dict().items():
            if key.endswith("norm1.weight") or key.endswith("norm2.weight"):
                p.copy_(1.0 + 0.2 * torch.randn_like(p))
            elif key.endswith("bias"):
                p.copy_(0.1 * torch.randn_like(p))
    encoder.eval()
    B, N = len(lengths), max(lengths)
    x = torch.randn(B, N, d_model)
    mask = torch.zeros(B, N)
    for b, n in enumerate(lengths):
        mask[b, :n] = 1.0
    padding = mask == 0  # True = padding, PyTorch's convention

    with torch.no_grad():
        fast = encoder(x, src_key_padding_mask=padding)  # float32, eval: may take the nested-tensor fast path
        reference = encoder.double()(x.double(), src_key_padding_mask=padding)
        encoder.float()
    real = mask.bool()
    assert torch.allclose(fast[real].double(), reference[real], atol=1e-4), "fast path and float64 path disagree"
    padded_rows = "zero" if bool((fast[~real] == 0).all()) else "computed"

    tensors = {k: v.detach().float().clone() for k, v in encoder.state_dict().items()}
    tensors["input"] = x
    tensors["mask"] = mask
    tensors["expected"] = reference.detach().clone()
    metadata = {
        "config": json.dumps({"d_model": d_model, "nhead": nhead, "dim_feedforward": dim_feedforward,
                              "num_layers": num_layers, "activation": activation, "layer_norm_eps": 1e-5}),
        "padded_rows_fast_path": padded_rows,
        "torch_version": torch.__version__,
    }
    path = os.path.join(DATA, name)
    save_safetensors(path, tensors, metadata)
    print(f"{path}: {os.path.getsize(path)} bytes, padded rows in the fast path: {padded_rows}")


if __name__ == "__main__":
    make("transformer_relu.safetensors", 16, 2, 32, 2, "relu", [7, 3, 1, 5], seed=1)
    make("transformer_gelu.safetensors", 32, 4, 48, 2, "gelu", [9, 9, 2, 6, 1], seed=2)
