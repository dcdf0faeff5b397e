// simad/cuda/kernels/region_pool.hpp: the image regions' features pooled from a hidden map on the GPU
// (kernels/region_pool.cu), float, with the semantics and argument order of simad/ops/region_pool.hpp:
//   out[b, k, c] = max of map[b, c, window[b, k]] for c < C, 0 for C <= c < D; rows with window y0 < 0 untouched.
// A window outside the map or empty is skipped (a kernel cannot throw; the CPU op throws). Exact (maxima).
// Device pointers; bad sizes throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void region_max_pool(float* out,              // (B, K, D)
                     const float* map,        // (B, C, H, W)
                     const int32_t* windows,  // (B, K, 4): y0, y1, x0, x1
                     int64_t B, int64_t K, int64_t D, int64_t C, int64_t H, int64_t W, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
