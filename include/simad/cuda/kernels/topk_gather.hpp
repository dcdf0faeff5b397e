// simad/cuda/kernels/topk_gather.hpp: gather of the kept members on the GPU (kernels/topk_gather.cu),
// the op of simad/ops/topk_gather.hpp: out[b, t] = weight[b, t] * inp[b, idx[b, t]] (0 for idx -1;
// weight nullptr = 1). Backward ACCUMULATES dinp[b, idx] += weight * dout[b, t] and dweight[b, t] +=
// dout[b, t] . inp[b, idx] (either nullptr: skipped). The indices of one set must be distinct (as
// topk_select makes them); indices outside [0, S) count as empty slots (the kernel cannot throw).
// The selection (topk_select) stays on the host. Device pointers; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void topk_gather_forward(float* out, const float* inp, const float* weight, const int32_t* idx, int64_t B, int64_t S,
                         int64_t k, int64_t C, cudaStream_t stream = nullptr);
void topk_gather_backward(float* dinp, float* dweight, const float* dout, const float* inp, const float* weight,
                          const int32_t* idx, int64_t B, int64_t S, int64_t k, int64_t C,
                          cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
