// simad/cuda/kernels/masked_max.hpp: max pooling over a padded set on the GPU (kernels/masked_max.cu),
// the op of simad/ops/masked_max.hpp with its semantics: out_bj = max over real s of inp_bsj, argmax =
// the FIRST such s; an all-padded set gives 0 and argmax -1. Backward ACCUMULATES
// dinp[b, argmax_bj, j] += dout_bj (dinp nullptr: skipped; argmax entries outside [0, S) add nothing:
// the kernel cannot throw, so a corrupt argmax is ignored rather than written through).
// inp (B, S, C), mask (B, S) 1 = real or nullptr (all real), out / argmax (B, C). Device pointers;
// bad sizes throw simad::Error; asynchronous on `stream`.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace simad::cuda::kernels {

void masked_max_forward(float* out, int32_t* argmax, const float* inp, const uint8_t* mask, int64_t B, int64_t S,
                        int64_t C, cudaStream_t stream = nullptr);
void masked_max_backward(float* dinp, const float* dout, const int32_t* argmax, int64_t B, int64_t S, int64_t C,
                         cudaStream_t stream = nullptr);

}  // namespace simad::cuda::kernels
