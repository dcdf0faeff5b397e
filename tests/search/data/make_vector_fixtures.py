#!/usr/bin/python3
# Writes the fixtures of tests/search/test_index_io.cpp with NumPy (the format's reference writer) and
# Python's struct (TEXMEX rows: int32 d, then d values). Values: element (i, j) = (i * cols + j) * 0.5 - 3
# (ints for .ivecs: i * cols + j - 3), which the test recomputes. Run from this directory:
#   /usr/bin/python3 make_vector_fixtures.py
import struct

import numpy as np

rows, cols = 3, 5
m = (np.arange(rows * cols).reshape(rows, cols) * 0.5 - 3)
np.save("fixture_f4.npy", m.astype(np.float32))
np.save("fixture_f8.npy", m.astype(np.float64))
with open("fixture.fvecs", "wb") as f:
    for r in m.astype(np.float32):
        f.write(struct.pack("<i", cols) + r.tobytes())
with open("fixture.ivecs", "wb") as f:
    for i in range(rows):
        f.write(struct.pack("<i", cols) + struct.pack("<%di" % cols, *[i * cols + j - 3 for j in range(cols)]))

# For the CLI's bad-input tests: another dimension, a truncated file, a NaN.
with open("dim3.fvecs", "wb") as f:
    for r in range(2):
        f.write(struct.pack("<i3f", 3, 1.0, 2.0, float(r)))
with open("truncated.fvecs", "wb") as f:
    f.write(struct.pack("<i3f", 3, 1.0, 2.0, 3.0) + struct.pack("<i2f", 3, 1.0, 2.0))
with open("nan.fvecs", "wb") as f:
    f.write(struct.pack("<i3f", 3, 1.0, 2.0, 3.0) + struct.pack("<i3f", 3, 1.0, float("nan"), 3.0))
