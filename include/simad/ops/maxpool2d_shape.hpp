// simad/ops/maxpool2d_shape.hpp: the output size of Darknet's max pooling (src/maxpool_layer.c), shared by the
// CPU op (ops/maxpool2d.hpp) and the CUDA kernel (kernels/maxpool2d.cu), which must agree on it.
#pragma once

#include <cstdint>

namespace simad::ops {

// Ho = (H + padding - size) / stride + 1 (integer division; the window origin is y * stride - padding / 2).
inline int64_t maxpool2d_out_size(int64_t in, int64_t size, int64_t stride, int64_t padding) {
  return (in + padding - size) / stride + 1;
}

}  // namespace simad::ops
