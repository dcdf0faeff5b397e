// simad/cuda/kernels/upsample.hpp: Darknet's [upsample] on the GPU (kernels/upsample.cu), float, NCHW, with
// the semantics and argument order of simad/ops/upsample.hpp:
//   forward:  out[b, c, y, x] = scale * inp[b, c, y / S, x / S]           (OVERWRITES out)
//   backward: dinp[b, c, y, x] += scale * sum of dout over its S x S block  (ACCUMULATES)
// Device pointers; bad sizes throw simad::Error; asynchronous on `stream`. The forward is exact; the
// backward adds the block in the CPU op's order (rows, then columns, from 0), so it has the CPU's bits too.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void upsample_nearest_forward(float* out,        // (B, C, H * S, W * S)
                              const float* inp,  // (B, C, H, W)
                              int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, float scale = 1.0f,
                              cudaStream_t stream = nullptr);

void upsample_nearest_backward(float* dinp,        // (B, C, H, W)
                               const float* dout,  // (B, C, H * S, W * S)
                               int64_t B, int64_t C, int64_t H, int64_t W, int64_t S, float scale = 1.0f,
                               cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
