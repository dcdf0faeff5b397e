// simad/cuda/kernels/l2norm.hpp: L2-normalised rows on the GPU (kernels/l2norm.cu), the op of
// simad/ops/l2norm.hpp with its semantics: y = x / max(||x||, eps), the unclamped norms saved (norm may
// be nullptr); backward ACCUMULATES dx += (g - y (y . g)) / n, or g / eps where n < eps (dinp nullptr:
// skipped). Sums in double in the CPU's order (a GPU build may fuse multiply-adds: equal to rounding). Device pointers; bad
// arguments throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void l2norm_forward(float* out, float* norm, const float* inp, int64_t N, int64_t C, float eps = 1e-12f,
                    cudaStream_t stream = nullptr);
void l2norm_backward(float* dinp, const float* dout, const float* out, const float* norm, int64_t N, int64_t C,
                     float eps = 1e-12f, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
