// simad/cuda/kernels/broadcast_add.hpp: out[b, s, c] = a[b, s, c] + v[b, c] on the GPU
// (kernels/broadcast_add.cu), the op of simad/ops/broadcast_add.hpp (out may be a). Backward
// ACCUMULATES da += dout and dv[b, c] += sum_s dout[b, s, c] in member order (either nullptr:
// skipped). Device pointers; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void broadcast_add_forward(float* out, const float* a, const float* v, int64_t B, int64_t S, int64_t C,
                           cudaStream_t stream = nullptr);
void broadcast_add_backward(float* da, float* dv, const float* dout, int64_t B, int64_t S, int64_t C,
                            cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
