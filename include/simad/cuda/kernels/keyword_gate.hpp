// simad/cuda/kernels/keyword_gate.hpp: ION's keyword weights on the GPU (kernels/keyword_gate.cu), the
// op of simad/ops/keyword_gate.hpp: lambda_i = mask_i ([p_i1 > 0.5] hard, or p_i1 soft) from the
// keyword probabilities (N, 2); backward (soft) ACCUMULATES dlogits_i1 += g, dlogits_i0 -= g with
// g = dlambda_i p_i1 (1 - p_i1) at real positions. Device pointers; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void keyword_gate_forward(float* lambda, const float* probs, const uint8_t* mask, int64_t N, bool hard,
                          cudaStream_t stream = nullptr);
void keyword_gate_backward(float* dlogits, const float* dlambda, const float* probs, const uint8_t* mask, int64_t N,
                           cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
