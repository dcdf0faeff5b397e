// simad/cuda/kernels/linear.hpp: the bias parts of a linear layer on the GPU (kernels/linear.cu); the
// products go through the GEMM (cuda/kernels/gemm.hpp). simad/ops/dispatch/linear.hpp composes them
// into ops::linear_forward / linear_backward of simad/ops/linear.hpp.
//   linear_bias_forward:  out (N, OC) row n += bias (OC)                     (after out = inp W^T)
//   linear_bias_backward: dbias (OC) += sum over the N rows of dout (N, OC)   ACCUMULATES
// Pointers are device pointers; bad arguments throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void linear_bias_forward(float* out, const float* bias, int64_t N, int64_t OC, cudaStream_t stream = nullptr);
void linear_bias_backward(float* dbias, const float* dout, int64_t N, int64_t OC, cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
