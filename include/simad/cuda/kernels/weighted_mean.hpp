// simad/cuda/kernels/weighted_mean.hpp: the weighted mean of each set's members on the GPU
// (kernels/weighted_mean.cu), the op of simad/ops/weighted_mean.hpp with its arithmetic (sums in
// member order; a GPU build may fuse multiply-adds, so equal to rounding): out (B, C) = sum_s w x / max(1, sum_s w), den (B) saved;
// backward ACCUMULATES dx and dw (either nullptr: skipped). Device pointers; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void weighted_mean_forward(float* out, float* den, const float* x, const float* w, int64_t B, int64_t S, int64_t C,
                           cudaStream_t stream = nullptr);
void weighted_mean_backward(float* dx, float* dw, const float* dout, const float* x, const float* w, const float* out,
                            const float* den, int64_t B, int64_t S, int64_t C, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
